//! Plain-f64 optimizers for the toys: GD / SGD with heavy-ball momentum and Adam, over a flat
//! parameter slice, in PyTorch's formulation (the toys' reference code uses `torch.optim`).
//!
//! - SGD (`torch.optim.SGD`, dampening 0, no Nesterov): b₁ = g₁, b_i = μ b_{i−1} + g_i,
//!   θ_i = θ_{i−1} − γ b_i. μ = 0 is plain gradient descent.
//! - Adam (Kingma & Ba 2015, Alg. 1, as `torch.optim.Adam` computes it):
//!   m_i = β₁ m_{i−1} + (1 − β₁) g_i, v_i = β₂ v_{i−1} + (1 − β₂) g_i²,
//!   θ_i = θ_{i−1} − γ m̂_i / (√v̂_i + ε), with m̂ = m / (1 − β₁ⁱ), v̂ = v / (1 − β₂ⁱ).
//!   PyTorch adds ε to √v / √(1 − β₂ⁱ), i.e. to √v̂, as here.
//!
//! Each optimizer writes the step Δ (θ_i = θ_{i−1} − Δ) through [`Optimizer::delta`], so that a
//! caller can sum several optimizers' steps (per-task Adam) or measure ‖Δ‖.

/// Which optimizer, with its hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OptimizerKind {
    /// SGD with heavy-ball momentum μ (μ = 0: plain gradient descent).
    Sgd {
        /// Momentum μ ∈ [0, 1).
        momentum: f64,
    },
    /// Adam.
    Adam {
        /// β₁ ∈ [0, 1).
        beta1: f64,
        /// β₂ ∈ [0, 1).
        beta2: f64,
        /// ε ≥ 0, added to √v̂.
        eps: f64,
    },
}

impl OptimizerKind {
    /// Plain gradient descent.
    pub const GD: OptimizerKind = OptimizerKind::Sgd { momentum: 0.0 };
    /// Adam at PyTorch's defaults (β = (0.9, 0.999), ε = 1e-8).
    pub const ADAM: OptimizerKind = OptimizerKind::Adam {
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
    };

    /// A fresh optimizer for `n` parameters at learning rate `lr`.
    pub fn build(self, lr: f64, n: usize) -> Optimizer {
        Optimizer {
            kind: self,
            lr,
            t: 0,
            m: vec![0.0; n],
            v: match self {
                OptimizerKind::Adam { .. } => vec![0.0; n],
                OptimizerKind::Sgd { .. } => Vec::new(),
            },
        }
    }
}

/// An optimizer's state for one parameter vector.
#[derive(Debug, Clone)]
pub struct Optimizer {
    kind: OptimizerKind,
    lr: f64,
    /// Steps taken.
    t: u64,
    /// SGD: the momentum buffer b; Adam: the first moment m.
    m: Vec<f64>,
    /// Adam: the second moment v.
    v: Vec<f64>,
}

impl Optimizer {
    /// Advances the state with gradient `g` and writes the step Δ into `out`
    /// (the caller applies θ ← θ − Δ).
    pub fn delta(&mut self, g: &[f64], out: &mut [f64]) {
        debug_assert_eq!(g.len(), self.m.len());
        debug_assert_eq!(out.len(), self.m.len());
        self.t += 1;
        match self.kind {
            OptimizerKind::Sgd { momentum } => {
                for ((b, &gi), o) in self.m.iter_mut().zip(g).zip(out.iter_mut()) {
                    *b = if self.t == 1 { gi } else { momentum * *b + gi };
                    *o = self.lr * *b;
                }
            }
            OptimizerKind::Adam { beta1, beta2, eps } => {
                let t = self.t as i32;
                let bc1 = 1.0 - beta1.powi(t);
                let bc2_sqrt = (1.0 - beta2.powi(t)).sqrt();
                let step = self.lr / bc1;
                for (((m, v), &gi), o) in self
                    .m
                    .iter_mut()
                    .zip(self.v.iter_mut())
                    .zip(g)
                    .zip(out.iter_mut())
                {
                    *m = beta1 * *m + (1.0 - beta1) * gi;
                    *v = beta2 * *v + (1.0 - beta2) * gi * gi;
                    *o = step * *m / (v.sqrt() / bc2_sqrt + eps);
                }
            }
        }
    }

    /// One step θ ← θ − Δ; returns nothing, `scratch` receives Δ.
    pub fn step(&mut self, theta: &mut [f64], g: &[f64], scratch: &mut [f64]) {
        self.delta(g, scratch);
        for (p, d) in theta.iter_mut().zip(scratch.iter()) {
            *p -= d;
        }
    }

    /// The bias-corrected moments (m̂, √v̂) of coordinate `k` after the last step (Adam only;
    /// used by the tests of the ε bound).
    pub fn adam_moments(&self, k: usize) -> Option<(f64, f64)> {
        match self.kind {
            OptimizerKind::Adam { beta1, beta2, .. } if self.t > 0 => {
                let t = self.t as i32;
                Some((
                    self.m[k] / (1.0 - beta1.powi(t)),
                    (self.v[k] / (1.0 - beta2.powi(t))).sqrt(),
                ))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gd_is_lr_times_gradient_and_momentum_accumulates() {
        let mut o = OptimizerKind::Sgd { momentum: 0.5 }.build(0.1, 2);
        let mut d = [0.0; 2];
        o.delta(&[1.0, -2.0], &mut d);
        assert_eq!(d, [0.1, -0.2]);
        o.delta(&[1.0, 0.0], &mut d);
        // b = 0.5 (1, -2) + (1, 0) = (1.5, -1).
        assert!((d[0] - 0.15).abs() < 1e-15 && (d[1] + 0.1).abs() < 1e-15);
    }

    #[test]
    fn adam_first_step_is_lr_times_sign_and_second_by_hand() {
        let mut o = OptimizerKind::Adam {
            beta1: 0.9,
            beta2: 0.999,
            eps: 0.0,
        }
        .build(0.01, 2);
        let mut d = [0.0; 2];
        o.delta(&[3.0, -0.5], &mut d);
        assert!((d[0] - 0.01).abs() < 1e-17 && (d[1] + 0.01).abs() < 1e-17);
        o.delta(&[1.0, -0.5], &mut d);
        // m = 0.9·0.3 + 0.1·1 = 0.37, v = 0.999·0.009 + 0.001·1 = 0.009991;
        // m̂ = 0.37/0.19, v̂ = 0.009991/(1 − 0.999²).
        let mh = 0.37 / (1.0 - 0.81);
        let vh: f64 = 0.009991 / (1.0 - 0.998001);
        assert!((d[0] - 0.01 * mh / vh.sqrt()).abs() < 1e-15, "{d:?}");
        // A constant gradient keeps the step at exactly lr (m̂ = g, v̂ = g²).
        assert!((d[1] + 0.01).abs() < 1e-15);
    }
}
