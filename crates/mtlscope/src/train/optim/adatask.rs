//! AdaTask with Adam (Yang, Pan, Wang, Zhang, Zhang, Gu & Guo 2023, "AdaTask: A Task-Aware
//! Adaptive Learning Rate Approach to Multi-Task Learning", AAAI, arXiv:2211.15055; the
//! authors' `Adam_with_AdaTask`).
//!
//! Shared parameters θ keep one Adam moment pair per task, fed by that task's gradient
//! g_k = ∇_θ (c L_k) of its UMTG term: m_k ← β1 m_k + (1−β1) g_k, v_k ← β2 v_k + (1−β2) g_k²,
//! and θ ← θ − lr Σ_k m̂_k / (√v̂_k + ε), so each task's step is normalised by its own
//! accumulated gradients and no task's scale dominates the others'. Task-specific (head)
//! parameters get ordinary Adam. With one task it is Adam, bit for bit (same arithmetic,
//! [`super::adam::AdamStep`]).
//!
//! Departures from the reference code: ε is added to √(v / (1−β2ᵗ)) rather than to
//! √v / √(1−β2ᵗ) (PyTorch's and our Adam's order, so K = 1 equals our Adam exactly); no
//! weight decay (the reference accepts `weight_decay` and never applies it, so
//! [`crate::config::OptimConfig`] refuses it); task weights are the UMTG's uniform c, so
//! `resolve::check_run` requires `objective.kind = "umtg"`.

use anyhow::Result;
use std::collections::HashMap;
use tch::{Kind, Tensor};

use super::adam::AdamStep;
use super::{take, take_list, Optimizer};
use crate::config::OptimConfig;

/// AdaTask (Adam).
pub struct AdaTask {
    lr: f64,
    b1: f64,
    b2: f64,
    eps: f64,
    t: i64,
    /// `m[k][i]`, `v[k][i]`: task k's moments of shared tensor i.
    m: Vec<Vec<Tensor>>,
    v: Vec<Vec<Tensor>>,
    /// Adam's moments of the head tensors.
    head_m: Vec<Tensor>,
    head_v: Vec<Tensor>,
}

impl AdaTask {
    /// From `[optim]` (`lr`, `betas`, `eps`).
    pub fn new(cfg: &OptimConfig) -> Self {
        Self {
            lr: cfg.lr,
            b1: cfg.betas[0],
            b2: cfg.betas[1],
            eps: cfg.eps,
            t: 0,
            m: Vec::new(),
            v: Vec::new(),
            head_m: Vec::new(),
            head_v: Vec::new(),
        }
    }
}

impl Optimizer for AdaTask {
    /// Without a per-task split every parameter is one task's shared parameter: Adam.
    fn step(&mut self, params: &[Tensor], grads: &[Tensor]) {
        let one: Vec<Tensor> = grads.iter().map(|g| g.shallow_clone()).collect();
        self.step_tasks(params, grads, &[one]);
    }

    fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }

    fn wants_task_grads(&self) -> bool {
        true
    }

    fn step_tasks(&mut self, params: &[Tensor], grads: &[Tensor], task_grads: &[Vec<Tensor>]) {
        let n_shared = task_grads.first().map_or(0, Vec::len);
        let (shared, heads) = params.split_at(n_shared);
        tch::no_grad(|| {
            if self.m.is_empty() && self.head_m.is_empty() {
                let zeros = |ps: &[Tensor]| ps.iter().map(|p| p.zeros_like()).collect::<Vec<_>>();
                self.m = task_grads.iter().map(|_| zeros(shared)).collect();
                self.v = task_grads.iter().map(|_| zeros(shared)).collect();
                self.head_m = zeros(heads);
                self.head_v = zeros(heads);
            }
            assert_eq!(
                (self.m.len(), self.head_m.len()),
                (task_grads.len(), heads.len()),
                "AdaTask: (tasks, head tensors) changed since its state was made"
            );
            self.t += 1;
            let k = AdamStep::new(self.lr, self.b1, self.b2, self.eps, self.t);
            for (i, p) in shared.iter().enumerate() {
                let mut p = p.shallow_clone();
                // One Adam-normalised step per task, added in turn (the reference's order).
                for (task, g) in task_grads.iter().enumerate() {
                    k.apply(&mut p, &g[i], &mut self.m[task][i], &mut self.v[task][i]);
                }
            }
            for (j, (p, g)) in heads.iter().zip(&grads[n_shared..]).enumerate() {
                let mut p = p.shallow_clone();
                k.apply(&mut p, g, &mut self.head_m[j], &mut self.head_v[j]);
            }
        });
    }

    fn state(&self) -> Vec<(String, Tensor)> {
        let mut out = vec![("adatask.t".to_string(), Tensor::from_slice(&[self.t]))];
        for (k, (m, v)) in self.m.iter().zip(&self.v).enumerate() {
            for (i, (m, v)) in m.iter().zip(v).enumerate() {
                out.push((format!("adatask.m.{k}.{i}"), m.shallow_clone()));
                out.push((format!("adatask.v.{k}.{i}"), v.shallow_clone()));
            }
        }
        for (j, (m, v)) in self.head_m.iter().zip(&self.head_v).enumerate() {
            out.push((format!("adatask.head_m.{j}"), m.shallow_clone()));
            out.push((format!("adatask.head_v.{j}"), v.shallow_clone()));
        }
        out
    }

    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        self.t = take(state, "adatask.t")?
            .to_kind(Kind::Int64)
            .int64_value(&[0]);
        let n_tasks = (0..)
            .take_while(|k| state.contains_key(&format!("adatask.m.{k}.0")))
            .count();
        self.m = (0..n_tasks)
            .map(|k| take_list(state, &format!("adatask.m.{k}")))
            .collect::<Result<_>>()?;
        self.v = (0..n_tasks)
            .map(|k| take_list(state, &format!("adatask.v.{k}")))
            .collect::<Result<_>>()?;
        self.head_m = take_list(state, "adatask.head_m")?;
        self.head_v = take_list(state, "adatask.head_v")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::OptimName;
    use crate::train::optim::build;

    fn cfg() -> OptimConfig {
        OptimConfig {
            name: OptimName::Adatask,
            lr: 0.1,
            ..Default::default()
        }
    }

    fn scalars(xs: &[f64]) -> Vec<Tensor> {
        xs.iter().map(|x| Tensor::from_slice(&[*x])).collect()
    }

    /// One task: AdaTask (shared + head split) and Adam (no split) agree bit for bit.
    #[test]
    fn one_task_is_adam_exactly() {
        let adam_cfg = OptimConfig {
            lr: 0.1,
            ..Default::default()
        };
        let (mut ada, mut adam) = (build(&cfg()), build(&adam_cfg));
        let init = || {
            vec![
                Tensor::from_slice(&[0.5f32, -1.0, 2.0]),
                Tensor::from_slice(&[0.25f32, 3.0]),
            ]
        };
        let (pa, pb) = (init(), init());
        for t in 0..4 {
            // g = p² − t, so later gradients depend on earlier steps.
            let grads: Vec<Tensor> = pa.iter().map(|p| p * p - t as f64).collect();
            let shared = vec![grads[0].shallow_clone()];
            ada.step_tasks(&pa, &grads, &[shared]);
            adam.step(&pb, &grads);
            for (a, b) in pa.iter().zip(&pb) {
                assert!(a.equal(b), "step {t}: {a:?} vs {b:?}");
            }
        }
    }

    /// Two tasks on a shared scalar θ and a head scalar φ, two steps, by hand. Step 1: each
    /// task's bias-corrected step is g_k / (|g_k| + ε) ≈ sign(g_k), so opposite task
    /// gradients 2 and −0.5 cancel (θ stays within 1e-8 of 1, where Adam on their sum 1.5
    /// would move it to 0.9); the head moves by −lr · sign(h) like Adam.
    #[test]
    fn two_tasks_match_hand_computation() {
        let (b1, b2, eps, lr) = (0.9f64, 0.999f64, 1e-8f64, 0.1f64);
        let mut opt = build(&cfg());
        let params = scalars(&[1.0, -1.0]);
        // (task 1's and task 2's gradient of θ, the head's gradient) per step.
        let steps = [(2.0, -0.5, 1.0), (1.0, -3.0, -2.0)];
        let (mut theta, mut phi) = (1.0f64, -1.0f64);
        let (mut m, mut v) = ([0.0f64; 3], [0.0f64; 3]);
        for (t, &(g1, g2, h)) in steps.iter().enumerate() {
            let t = t as i32 + 1;
            let grads = scalars(&[g1 + g2, h]);
            opt.step_tasks(&params, &grads, &[scalars(&[g1]), scalars(&[g2])]);
            let (bc1, bc2) = (1.0 - b1.powi(t), 1.0 - b2.powi(t));
            let mut step = [0.0f64; 3];
            for (i, g) in [g1, g2, h].into_iter().enumerate() {
                m[i] = b1 * m[i] + (1.0 - b1) * g;
                v[i] = b2 * v[i] + (1.0 - b2) * g * g;
                step[i] = lr * (m[i] / bc1) / ((v[i] / bc2).sqrt() + eps);
            }
            theta -= step[0] + step[1];
            phi -= step[2];
            if t == 1 {
                assert!((theta - 1.0).abs() < 1e-8, "{theta}");
                assert!((phi - (-1.1)).abs() < 1e-8, "{phi}");
            }
            assert!(
                (params[0].double_value(&[0]) - theta).abs() < 1e-12,
                "θ, step {t}"
            );
            assert!(
                (params[1].double_value(&[0]) - phi).abs() < 1e-12,
                "φ, step {t}"
            );
        }
    }

    #[test]
    fn state_round_trip_continues_identically() {
        let (mut a, mut b) = (build(&cfg()), build(&cfg()));
        let pa = scalars(&[1.0, -2.0, 0.5]);
        let pb: Vec<Tensor> = pa.iter().map(Tensor::copy).collect();
        // Shared: the first two tensors; head: the last.
        let task_grads = |p: &[Tensor]| {
            vec![
                vec![p[0].copy(), p[1].copy()],
                vec![-&p[0] * 3.0, p[1].copy()],
            ]
        };
        let grads = |p: &[Tensor]| vec![&p[0] * -2.0, &p[1] * 2.0, p[2].copy()];
        a.step_tasks(&pa, &grads(&pa), &task_grads(&pa));
        b.step_tasks(&pb, &grads(&pb), &task_grads(&pb));
        let saved: HashMap<String, Tensor> =
            a.state().into_iter().map(|(k, t)| (k, t.copy())).collect();
        assert_eq!(saved.len(), 1 + 2 * 2 * 2 + 2);
        let mut c = build(&cfg());
        c.load_state(&saved).unwrap();
        let pc: Vec<Tensor> = pb.iter().map(Tensor::copy).collect();
        c.step_tasks(&pc, &grads(&pc), &task_grads(&pc));
        b.step_tasks(&pb, &grads(&pb), &task_grads(&pb));
        for (x, y) in pb.iter().zip(&pc) {
            assert!(x.equal(y));
        }
    }
}
