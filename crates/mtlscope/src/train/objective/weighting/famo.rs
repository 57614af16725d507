//! FAMO (Liu et al. 2023, "FAMO: Fast Adaptive Multitask Optimization", Alg. 1).
//! Task logits ξ, z = softmax(ξ). The model follows the gradient of
//! Σ_k z_k log L_k / c with c = Σ_k z_k / L_k (z and c held constant), i.e. the direction
//! Σ_k (z_k / (c L_k)) ∇L_k. After the model step the losses are measured again on the same
//! batches; with δ_k = log L_k(before) − log L_k(after), ξ takes an Adam step (weight decay
//! γ) along the gradient Jᵀ_softmax δ = z ⊙ (δ − zᵀδ), which raises the weight of tasks
//! whose loss fell least. ε = 1e-8 guards the logarithms, as the authors' code.

use anyhow::Result;
use std::collections::HashMap;
use tch::{Kind, Tensor};

use super::{learnable, restore, values, weighted_sum, Ctx, LossWeighting, VecAdam};
use crate::model::MultiTaskNet;
use crate::train::objective::{forward_losses, Batch};

const EPS: f64 = 1e-8;

/// FAMO.
pub struct Famo {
    xi: Tensor,
    opt: VecAdam,
}

impl Famo {
    /// Logits start at 0 (uniform z).
    pub fn new(k: usize, lr: f64, gamma: f64) -> Self {
        Self {
            xi: learnable(k, 0.0),
            opt: VecAdam::new(k, lr, gamma),
        }
    }

    fn z(&self) -> Vec<f64> {
        let x = values(&self.xi);
        let m = x.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = x.iter().map(|v| (v - m).exp()).collect();
        let s: f64 = e.iter().sum();
        e.iter().map(|v| v / s).collect()
    }
}

/// The gradient of ξ: z ⊙ (δ − zᵀδ) (the softmax Jacobian applied to δ).
pub fn logit_gradient(z: &[f64], delta: &[f64]) -> Vec<f64> {
    let zd: f64 = z.iter().zip(delta).map(|(a, b)| a * b).sum();
    z.iter().zip(delta).map(|(zk, dk)| zk * (dk - zd)).collect()
}

impl LossWeighting for Famo {
    fn combine(&mut self, losses: &[Tensor], _ctx: &Ctx) -> Result<(Tensor, Vec<f64>)> {
        let z = self.z();
        let l = values(&Tensor::stack(losses, 0));
        let c: f64 = z.iter().zip(&l).map(|(zk, lk)| zk / (lk + EPS)).sum();
        // d/dθ [z_k log(L_k+ε) / c] = z_k / (c (L_k+ε)) ∇L_k: the effective weights.
        let w: Vec<f64> = z
            .iter()
            .zip(&l)
            .map(|(zk, lk)| zk / (c * (lk + EPS)))
            .collect();
        Ok((weighted_sum(losses, &w), w))
    }

    fn after_step(&mut self, net: &MultiTaskNet, batches: &[Batch], before: &Tensor) -> Result<()> {
        let after = tch::no_grad(|| Tensor::stack(&forward_losses(net, batches), 0));
        let delta: Vec<f64> = values(before)
            .iter()
            .zip(values(&after))
            .map(|(b, a)| (b + EPS).ln() - (a + EPS).ln())
            .collect();
        let g = logit_gradient(&self.z(), &delta);
        self.opt
            .step(&self.xi, &Tensor::from_slice(&g).to_kind(Kind::Double));
        Ok(())
    }

    fn state(&self) -> Vec<(String, Tensor)> {
        let mut v = vec![("famo.xi".to_string(), self.xi.detach())];
        v.extend(self.opt.state("famo.adam"));
        v
    }

    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        restore(&self.xi, state, "famo.xi")?;
        self.opt.load_state(state, "famo.adam")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The softmax-Jacobian product against finite differences of zᵀδ.
    #[test]
    fn logit_gradient_matches_finite_differences() {
        let xi = [0.3, -0.2, 0.5];
        let delta = [0.1, 0.7, -0.4];
        let soft = |x: &[f64]| {
            let e: Vec<f64> = x.iter().map(|v| v.exp()).collect();
            let s: f64 = e.iter().sum();
            e.into_iter().map(|v| v / s).collect::<Vec<_>>()
        };
        let f = |x: &[f64]| soft(x).iter().zip(&delta).map(|(a, b)| a * b).sum::<f64>();
        let g = logit_gradient(&soft(&xi), &delta);
        for i in 0..3 {
            let mut p = xi;
            p[i] += 1e-6;
            let mut m = xi;
            m[i] -= 1e-6;
            let fd = (f(&p) - f(&m)) / 2e-6;
            assert!((fd - g[i]).abs() < 1e-8, "{i}: {fd} vs {}", g[i]);
        }
    }
}
