//! Per-task gradients of the shared parameters, stacked as the rows of the task Jacobian
//! J ∈ ℝ^{K×n} (docs/formulas.md, "Notation"), with each head's gradient of its own loss.
//!
//! Disjoint inputs: each task's batch goes through the encoder in its own forward pass, so
//! the K graphs are disjoint and K backward passes cost what one backward of the concatenated
//! batch costs. Shared inputs ([`crate::data::same_inputs`]: every task labels the same
//! examples): one encoder forward and K backward passes through the shared graph
//! (`retain_graph` for all but the last), never K forwards.

use tch::Tensor;

use crate::data::Batch;
use crate::model::MultiTaskNet;

/// Per-task losses, the Jacobian of the shared parameters and the heads' gradients.
pub struct TaskGradients {
    /// Per-task mean losses, `[K]`, detached.
    pub losses: Tensor,
    /// `[K, n]`, row k = ∇_θ L_k flattened in `MultiTaskNet::shared_params` order.
    pub jacobian: Tensor,
    /// Per task, ∇_{φ_k} L_k in `MultiTaskNet::head_params(k)` order.
    pub heads: Vec<Vec<Tensor>>,
}

/// Losses, Jacobian and head gradients of one step.
pub fn task_gradients(net: &MultiTaskNet, batches: &[Batch]) -> TaskGradients {
    let shared = net.shared_params();
    let mut rows = Vec::with_capacity(batches.len());
    let mut heads = Vec::with_capacity(batches.len());
    let mut losses = Vec::with_capacity(batches.len());
    let shared_z = crate::data::same_inputs(batches).then(|| net.features(&batches[0].x, true));
    let last = batches.len() - 1;
    for (k, b) in batches.iter().enumerate() {
        let out = match &shared_z {
            Some(z) => net.head(k, z, true),
            None => net.forward(k, &b.x, true),
        };
        let loss = net.loss(k, &out, &b.y);
        let head = net.head_params(k);
        let inputs: Vec<&Tensor> = shared.iter().chain(head.iter()).collect();
        let keep = shared_z.is_some() && k < last;
        let mut grads = Tensor::run_backward(&[&loss], &inputs, keep, false);
        let head_grads = grads.split_off(shared.len());
        rows.push(flatten(&grads));
        heads.push(head_grads);
        losses.push(loss.detach());
    }
    TaskGradients {
        losses: Tensor::stack(&losses, 0),
        jacobian: Tensor::stack(&rows, 0),
        heads,
    }
}

/// Concatenation of the flattened tensors.
pub fn flatten(ts: &[Tensor]) -> Tensor {
    let flat: Vec<Tensor> = ts.iter().map(|t| t.reshape([-1])).collect();
    Tensor::cat(&flat, 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ModelConfig;
    use crate::train::objective::forward_losses;
    use tch::{Device, Kind};

    /// Rows of J equal separate autograd gradients; their sum equals the UMTG gradient
    /// of the concatenated forward pass.
    #[test]
    fn jacobian_rows_match_summed_gradient() {
        tch::manual_seed(3);
        let tasks = crate::task::multiclass::heads(&["a", "b"], 10);
        let cfg = ModelConfig {
            encoder: "mlp".into(),
            hidden: vec![16],
            ..Default::default()
        };
        let net = MultiTaskNet::seeded(0, &cfg, &tasks, [1, 6, 6], Device::Cpu).unwrap();
        let batches: Vec<Batch> = (0..2)
            .map(|_| Batch {
                x: Tensor::randn([8, 1, 6, 6], (Kind::Float, Device::Cpu)),
                y: Tensor::randint(10, [8], (Kind::Int64, Device::Cpu)),
            })
            .collect();
        let tg = task_gradients(&net, &batches);
        assert_eq!(tg.jacobian.size(), vec![2, net.n_shared()]);
        let total = Tensor::stack(&forward_losses(&net, &batches), 0).sum(Kind::Float);
        let g = Tensor::run_backward(&[total], &net.shared_params(), false, false);
        let diff = (flatten(&g)
            - tg.jacobian
                .sum_dim_intlist([0i64].as_slice(), false, Kind::Float))
        .abs()
        .max();
        assert!(diff.double_value(&[]) < 1e-5, "{diff:?}");
    }

    /// Shared inputs (one encoder forward, K backwards through the shared graph) give the
    /// per-task gradients and losses of K separate forwards, on a batch-norm encoder with
    /// spatial features and one task of every kind; the Gramian is JJᵀ either way.
    #[test]
    fn shared_inputs_match_separate_forwards() {
        let (tasks, net) = crate::data::synthetic_scenes::tasks_and_net(
            &["shape", "large", "area", "segment", "depth", "normal"],
            &[4, 8],
            2,
        );
        let idx = Tensor::arange(6, (Kind::Int64, Device::Cpu));
        let x = tasks[0]
            .inputs
            .prepare(&tasks[0].train.x.index_select(0, &idx));
        let shared: Vec<Batch> = tasks
            .iter()
            .map(|t| Batch {
                x: x.shallow_clone(),
                y: t.train.y.index_select(0, &idx),
            })
            .collect();
        let separate: Vec<Batch> = shared
            .iter()
            .map(|b| Batch {
                x: b.x.copy(),
                y: b.y.shallow_clone(),
            })
            .collect();
        assert!(crate::data::same_inputs(&shared) && !crate::data::same_inputs(&separate));
        let a = task_gradients(&net, &shared);
        let b = task_gradients(&net, &separate);
        assert!(a.losses.allclose(&b.losses, 1e-6, 1e-7, false));
        assert!(a.jacobian.allclose(&b.jacobian, 1e-5, 1e-7, false));
        for (ha, hb) in a.heads.iter().zip(&b.heads) {
            for (x, y) in ha.iter().zip(hb) {
                assert!(x.allclose(y, 1e-5, 1e-7, false));
            }
        }
        let j = a.jacobian.to_kind(Kind::Double);
        let gram = j.matmul(&j.tr());
        let by_rows = Tensor::stack(
            &(0..6)
                .map(|k| {
                    Tensor::stack(
                        &(0..6).map(|l| j.get(k).dot(&j.get(l))).collect::<Vec<_>>(),
                        0,
                    )
                })
                .collect::<Vec<_>>(),
            0,
        );
        assert!(gram.allclose(&by_rows, 1e-10, 1e-12, false));
    }
}
