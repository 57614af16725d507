//! The UMTG step taken apart by task, for optimizers that adapt per task
//! ([`super::Optimizer::wants_task_grads`], AdaTask): each task's gradient of the shared
//! parameters of its term c · L_k (c as in `objective/umtg.rs`), besides the usual output
//! whose shared part is their sum.
//!
//! One backward pass per task costs what the UMTG's single one does: each task's batch has
//! its own encoder pass ([`forward_losses`]), so the K graphs are disjoint (as in
//! `aggregate/jacobian.rs`). With shared inputs the encoder ran once and every pass but the
//! last keeps the shared graph.

use tch::Tensor;

use crate::config::{ObjectiveConfig, Reduction};
use crate::data::Batch;
use crate::model::MultiTaskNet;
use crate::train::objective::{forward_losses, StepOutput};

/// A UMTG step with its per-task shared gradients.
pub struct TaskStep {
    /// As the UMTG objective's: losses, and grads in `MultiTaskNet::params` order (the
    /// shared ones summed over tasks, each head's from its own task).
    pub out: StepOutput,
    /// `shared[k][i]`: task k's gradient of shared tensor i (`MultiTaskNet::shared_params`).
    pub shared: Vec<Vec<Tensor>>,
}

/// Forward and K backward passes of the UMTG of `cfg` (`reduction`, `scale`).
pub fn umtg(net: &MultiTaskNet, batches: &[Batch], cfg: &ObjectiveConfig) -> TaskStep {
    let c = match cfg.reduction {
        Reduction::Sum => cfg.scale,
        Reduction::Mean => cfg.scale / batches.len() as f64,
    };
    let losses = forward_losses(net, batches);
    let theta = net.shared_params();
    let mut shared = Vec::with_capacity(losses.len());
    let mut heads = Vec::new();
    let keep_shared = crate::data::same_inputs(batches);
    for (k, loss) in losses.iter().enumerate() {
        let head = net.head_params(k);
        let inputs: Vec<&Tensor> = theta.iter().chain(head.iter()).collect();
        let keep = keep_shared && k + 1 < losses.len();
        let mut g = Tensor::run_backward(&[loss * c], &inputs, keep, false);
        heads.extend(g.split_off(theta.len()));
        shared.push(g);
    }
    let summed: Vec<Tensor> = (0..theta.len())
        .map(|i| {
            shared[1..]
                .iter()
                .fold(shared[0][i].shallow_clone(), |acc, g| acc + &g[i])
        })
        .collect();
    let losses: Vec<Tensor> = losses.iter().map(Tensor::detach).collect();
    TaskStep {
        out: StepOutput {
            losses: Tensor::stack(&losses, 0),
            grads: summed.into_iter().chain(heads).collect(),
            quantities: Vec::new(),
        },
        shared,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ModelConfig;
    use crate::train::objective::{umtg::Umtg, Objective};
    use tch::{Device, Kind};

    /// The per-task gradients add up to the UMTG objective's, heads included, for `mean`
    /// with C = 3 (so c = 1.5 multiplies each task's term).
    #[test]
    fn task_gradients_sum_to_the_umtg_gradient() {
        tch::manual_seed(5);
        let tasks = crate::task::multiclass::heads(&["a", "b"], 4);
        let model = ModelConfig {
            encoder: "mlp".into(),
            hidden: vec![8],
            ..Default::default()
        };
        let net = MultiTaskNet::seeded(0, &model, &tasks, [1, 3, 3], Device::Cpu).unwrap();
        let batches: Vec<Batch> = (0..2)
            .map(|_| Batch {
                x: Tensor::randn([5, 1, 3, 3], (Kind::Float, Device::Cpu)),
                y: Tensor::randint(4, [5], (Kind::Int64, Device::Cpu)),
            })
            .collect();
        let cfg = ObjectiveConfig {
            reduction: Reduction::Mean,
            scale: 3.0,
            ..Default::default()
        };
        let ts = umtg(&net, &batches, &cfg);
        let want = Umtg::new(Reduction::Mean, 3.0)
            .step(&net, &batches, 0)
            .unwrap();
        assert!(ts.out.losses.allclose(&want.losses, 0.0, 0.0, false));
        assert_eq!(ts.out.grads.len(), net.params().len());
        for (a, b) in ts.out.grads.iter().zip(&want.grads) {
            assert!(a.allclose(b, 1e-5, 1e-7, false));
        }
        assert_eq!(ts.shared.len(), 2);
        // Task b's shared gradient on its own: the gradient of 1.5 · L_b alone.
        let l_b = forward_losses(&net, &batches).swap_remove(1) * 1.5;
        let g_b = Tensor::run_backward(&[l_b], &net.shared_params(), false, false);
        for (a, b) in ts.shared[1].iter().zip(&g_b) {
            assert!(a.allclose(b, 1e-6, 1e-8, false));
        }
    }
}
