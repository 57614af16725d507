//! DB-MTL (Lin et al. 2023, "Dual-Balancing for Multi-Task Learning", §3, Alg. 1).
//! Loss-scale balancing: every task is trained on log(L_k + ε), whose gradient is
//! ∇L_k / (L_k + ε). Gradient-magnitude balancing: an exponential moving average
//! ĝ_k ← g_k + (β / t^σ)(ĝ_k − g_k) of each task's log-loss gradient on the shared
//! parameters, then d = Σ_k (max_i ‖ĝ_i‖ / ‖ĝ_k‖) ĝ_k, so every task contributes with the
//! largest task's gradient magnitude. Heads get ∇ log(L_k + ε) of their own task.
//!
//! Unlike the other loss weightings it needs the per-task Jacobian (K backward passes), so
//! it implements [`Objective`] itself; ε = 1e-8 as the authors' code.

use anyhow::{anyhow, Result};
use std::collections::HashMap;
use tch::{Kind, Tensor};

use super::values;
use crate::aggregate::apply::unflatten;
use crate::aggregate::jacobian::task_gradients;
use crate::model::MultiTaskNet;
use crate::train::objective::{Batch, Objective, Quantity, StepOutput};

const EPS: f64 = 1e-8;

/// DB-MTL.
pub struct DbMtl {
    beta: f64,
    sigma: f64,
    t: i64,
    buffer: Option<Tensor>,
    log_every: usize,
}

impl DbMtl {
    /// EMA factor `beta` decayed as β / t^σ.
    pub fn new(beta: f64, sigma: f64, log_every: usize) -> Self {
        Self {
            beta,
            sigma,
            t: 0,
            buffer: None,
            log_every,
        }
    }
}

/// Magnitude-balancing factors α_k = max_i ‖ĝ_i‖ / ‖ĝ_k‖ (a zero row gets 0, not ∞).
pub fn balance(norms: &[f64]) -> Vec<f64> {
    let max = norms.iter().cloned().fold(0.0, f64::max);
    norms
        .iter()
        .map(|n| if *n > 0.0 { max / n } else { 0.0 })
        .collect()
}

impl Objective for DbMtl {
    fn step(&mut self, net: &MultiTaskNet, batches: &[Batch], step: usize) -> Result<StepOutput> {
        let tg = task_gradients(net, batches);
        let l = values(&tg.losses);
        let scale: Vec<f64> = l.iter().map(|v| 1.0 / (v + EPS)).collect();
        let s = Tensor::from_slice(&scale)
            .to_kind(tg.jacobian.kind())
            .to_device(tg.jacobian.device());
        let g = &tg.jacobian * s.unsqueeze(1);
        self.t += 1;
        let decay = self.beta / (self.t as f64).powf(self.sigma);
        let buf = match &self.buffer {
            None => g.shallow_clone(),
            Some(b) => &g + (b - &g) * decay,
        };
        let norms: Vec<f64> = values(&buf.norm_scalaropt_dim(2, [1i64].as_slice(), false));
        let alpha = balance(&norms);
        let a = Tensor::from_slice(&alpha)
            .to_kind(buf.kind())
            .to_device(buf.device());
        let d = a.unsqueeze(0).matmul(&buf).squeeze_dim(0);
        let mut grads = unflatten(&d, &net.shared_params());
        for (k, head) in tg.heads.into_iter().enumerate() {
            grads.extend(head.into_iter().map(|h| h * scale[k]));
        }
        self.buffer = Some(buf);
        let log = self.log_every > 0 && (step + 1).is_multiple_of(self.log_every);
        let quantities = if log {
            alpha
                .iter()
                .enumerate()
                .map(|(k, v)| Quantity {
                    name: "weight",
                    task: Some(k),
                    value: *v,
                })
                .collect()
        } else {
            Vec::new()
        };
        Ok(StepOutput {
            losses: tg.losses,
            grads,
            quantities,
        })
    }

    fn state(&self) -> Vec<(String, Tensor)> {
        let mut v = vec![("db_mtl.t".to_string(), Tensor::from_slice(&[self.t]))];
        if let Some(b) = &self.buffer {
            v.push(("db_mtl.buffer".into(), b.shallow_clone()));
        }
        v
    }

    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        let t = state
            .get("db_mtl.t")
            .ok_or_else(|| anyhow!("checkpoint lacks db_mtl.t"))?;
        self.t = t.to_kind(Kind::Int64).int64_value(&[0]);
        self.buffer = state.get("db_mtl.buffer").map(|b| b.copy());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balance_scales_to_the_largest_norm() {
        assert_eq!(balance(&[1.0, 4.0, 2.0]), vec![4.0, 1.0, 2.0]);
        assert_eq!(balance(&[0.0, 3.0]), vec![0.0, 1.0]);
    }
}
