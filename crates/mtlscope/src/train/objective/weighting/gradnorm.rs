//! GradNorm (Chen et al. 2018, Eq. 1–2 and §3.2). Learnable weights w_k (start at 1); the model
//! follows ∇ Σ_k w_k L_k. With W the last shared layer's weight, G_k = w_k ‖∇_W L_k‖,
//! Ḡ = mean_k G_k, r_k = L̃_k / mean_i L̃_i where L̃_k = L_k(t)/L_k(0), the weights descend
//! L_grad = Σ_k |G_k − Ḡ r_k^α| with the target Ḡ r_k^α held constant (as the paper says),
//! and are then renormalised to sum to K. Because G_k is linear in w_k, ∂L_grad/∂w_k =
//! sign(G_k − target_k) ‖∇_W L_k‖ exactly: no second-order backward is needed — only the K
//! gradient norms at W, which is the one extra backward GradNorm inherently costs.

use anyhow::{anyhow, Result};
use std::collections::HashMap;
use tch::{Kind, Tensor};

use super::{restore, values, weighted_sum, Ctx, LossWeighting, VecAdam};

/// GradNorm.
pub struct GradNorm {
    alpha: f64,
    w: Tensor,
    opt: VecAdam,
    initial: Option<Vec<f64>>,
}

impl GradNorm {
    /// Asymmetry `alpha`, weight learning rate `lr`.
    pub fn new(k: usize, alpha: f64, lr: f64) -> Self {
        let w = Tensor::ones([k as i64], (Kind::Double, tch::Device::Cpu));
        Self {
            alpha,
            w,
            opt: VecAdam::new(k, lr, 0.0),
            initial: None,
        }
    }
}

/// ∂L_grad/∂w for weights `w`, gradient norms `norms` = ‖∇_W L_k‖, loss ratios `ratio` = L̃_k.
pub fn weight_gradient(w: &[f64], norms: &[f64], ratio: &[f64], alpha: f64) -> Vec<f64> {
    let k = w.len() as f64;
    let g: Vec<f64> = w.iter().zip(norms).map(|(a, b)| a * b).collect();
    let gbar = g.iter().sum::<f64>() / k;
    let rbar = ratio.iter().sum::<f64>() / k;
    g.iter()
        .zip(ratio)
        .zip(norms)
        .map(|((gk, rk), nk)| {
            let target = gbar * (rk / rbar).powf(alpha);
            (gk - target).signum() * nk
        })
        .collect()
}

impl LossWeighting for GradNorm {
    fn combine(&mut self, losses: &[Tensor], ctx: &Ctx) -> Result<(Tensor, Vec<f64>)> {
        let w = values(&self.w);
        let l = values(&Tensor::stack(losses, 0));
        let initial = self.initial.get_or_insert_with(|| l.clone()).clone();
        let last = ctx.net.last_shared_weight();
        let norms: Vec<f64> = losses
            .iter()
            .map(|lk| {
                Tensor::run_backward(&[lk], &[&last], true, false)[0]
                    .norm()
                    .double_value(&[])
            })
            .collect();
        let ratio: Vec<f64> = l
            .iter()
            .zip(&initial)
            .map(|(a, b)| a / b.max(1e-12))
            .collect();
        let g = weight_gradient(&w, &norms, &ratio, self.alpha);
        let total = weighted_sum(losses, &w);
        self.opt.step(&self.w, &Tensor::from_slice(&g));
        // Renormalise to Σ w = K, keeping weights positive.
        let k = w.len() as f64;
        let nw: Vec<f64> = values(&self.w).iter().map(|v| v.max(1e-6)).collect();
        let s: f64 = nw.iter().sum();
        let nw: Vec<f64> = nw.iter().map(|v| v * k / s).collect();
        tch::no_grad(|| self.w.copy_(&Tensor::from_slice(&nw)));
        Ok((total, w))
    }

    fn state(&self) -> Vec<(String, Tensor)> {
        let mut v = vec![("gradnorm.w".to_string(), self.w.copy())];
        if let Some(i) = &self.initial {
            v.push(("gradnorm.initial".into(), Tensor::from_slice(i)));
        }
        v.extend(self.opt.state("gradnorm.adam"));
        v
    }

    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        restore(&self.w, state, "gradnorm.w")?;
        self.initial = state.get("gradnorm.initial").map(values);
        self.opt
            .load_state(state, "gradnorm.adam")
            .map_err(|e| anyhow!("{e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The analytic gradient against finite differences of L_grad with fixed targets.
    #[test]
    fn weight_gradient_matches_finite_differences() {
        let (w, n, r, a) = ([1.2, 0.8, 1.0], [2.0, 0.5, 1.5], [0.9, 0.6, 0.8], 1.5);
        let g = weight_gradient(&w, &n, &r, a);
        let gbar = w.iter().zip(&n).map(|(x, y)| x * y).sum::<f64>() / 3.0;
        let rbar = r.iter().sum::<f64>() / 3.0;
        let target: Vec<f64> = r.iter().map(|rk| gbar * (rk / rbar).powf(a)).collect();
        let lgrad = |w: &[f64]| (0..3).map(|k| (w[k] * n[k] - target[k]).abs()).sum::<f64>();
        for i in 0..3 {
            let (mut p, mut m) = (w, w);
            p[i] += 1e-7;
            m[i] -= 1e-7;
            let fd = (lgrad(&p) - lgrad(&m)) / 2e-7;
            assert!((fd - g[i]).abs() < 1e-6, "{i}: {fd} vs {}", g[i]);
        }
    }
}
