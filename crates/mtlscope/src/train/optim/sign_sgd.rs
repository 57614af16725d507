//! signSGD and Signum (Bernstein, Wang, Azizzadenesheli & Anandkumar 2018, "signSGD:
//! Compressed Optimisation for Non-Convex Problems", ICML, arXiv:1802.04434).
//!
//! - `momentum = 0`, signSGD: p ← p − lr · sign(g).
//! - `momentum = β > 0`, Signum: m ← β m + (1−β) g (m₀ = 0), p ← p − lr · sign(m).
//!
//! Weight decay is decoupled: p ← p (1 − lr λ) before the sign step, as MXNet's
//! `signum_update` does with `wd_lh` (the authors' experiments ran on MXNet). Coupled L2
//! would pass λ p through sign(·) and lose its size: the decay would be all or nothing,
//! depending on whether λ p outweighs the gradient. sign(0) = 0, as in `torch.sign`: a
//! coordinate with zero gradient (or momentum) does not move.

use anyhow::Result;
use std::collections::HashMap;
use tch::Tensor;

use super::{named_list, take_list, Optimizer};
use crate::config::OptimConfig;

/// signSGD / Signum.
pub struct SignSgd {
    lr: f64,
    momentum: f64,
    weight_decay: f64,
    buffers: Vec<Tensor>,
}

impl SignSgd {
    /// From `[optim]`: `momentum` is Signum's β.
    pub fn new(cfg: &OptimConfig) -> Self {
        Self {
            lr: cfg.lr,
            momentum: cfg.momentum,
            weight_decay: cfg.weight_decay,
            buffers: Vec::new(),
        }
    }
}

impl Optimizer for SignSgd {
    fn step(&mut self, params: &[Tensor], grads: &[Tensor]) {
        tch::no_grad(|| {
            if self.momentum > 0.0 && self.buffers.is_empty() {
                self.buffers = params.iter().map(|p| p.zeros_like()).collect();
            }
            for (i, (p, g)) in params.iter().zip(grads).enumerate() {
                let direction = if self.momentum > 0.0 {
                    let m = &mut self.buffers[i];
                    let _ = m
                        .g_mul_scalar_(self.momentum)
                        .g_add_(&(g * (1.0 - self.momentum)));
                    m.sign()
                } else {
                    g.sign()
                };
                let mut p = p.shallow_clone();
                if self.weight_decay > 0.0 {
                    let _ = p.g_mul_scalar_(1.0 - self.lr * self.weight_decay);
                }
                let _ = p.g_add_(&(direction * -self.lr));
            }
        });
    }

    fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }

    fn state(&self) -> Vec<(String, Tensor)> {
        named_list("signsgd.momentum", &self.buffers)
    }

    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        self.buffers = take_list(state, "signsgd.momentum")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::OptimName;
    use crate::train::optim::build;

    fn cfg(lr: f64, momentum: f64, weight_decay: f64) -> OptimConfig {
        OptimConfig {
            name: OptimName::Signsgd,
            lr,
            momentum,
            weight_decay,
            ..Default::default()
        }
    }

    /// One step of signSGD: only the signs of g move p, a zero gradient leaves p alone.
    #[test]
    fn sign_sgd_moves_each_coordinate_by_lr() {
        let mut opt = build(&cfg(0.5, 0.0, 0.0));
        let p = Tensor::from_slice(&[1.0f64, 1.0, 1.0]);
        let g = Tensor::from_slice(&[3.0f64, -1e-6, 0.0]);
        opt.step(&[p.shallow_clone()], &[g]);
        assert_eq!(Vec::<f64>::try_from(&p).unwrap(), vec![0.5, 1.5, 1.0]);
        assert!(opt.state().is_empty());
    }

    /// Signum, β = 0.9, gradients 1 then −0.05 then −1, by hand: m = 0.1, 0.085, −0.0235,
    /// so p = 0 → −0.1 → −0.2 → −0.1 (the small opposite gradient does not flip the sign).
    #[test]
    fn signum_follows_the_sign_of_the_momentum() {
        let mut opt = build(&cfg(0.1, 0.9, 0.0));
        let p = Tensor::from_slice(&[0.0f64]);
        let (mut m, mut x) = (0.0f64, 0.0f64);
        for (g, want) in [(1.0, -0.1), (-0.05, -0.2), (-1.0, -0.1)] {
            opt.step(&[p.shallow_clone()], &[Tensor::from_slice(&[g])]);
            m = 0.9 * m + 0.1 * g;
            x -= 0.1 * m.signum();
            assert!((x - want).abs() < 1e-15);
            assert!((p.double_value(&[0]) - x).abs() < 1e-15, "g = {g}");
        }
    }

    /// Decoupled decay, p = 2, g = −0.1, λ = 0.2, lr = 0.1: p (1 − lr λ) − lr sign(g) =
    /// 1.96 + 0.1 = 2.06. Coupled L2 would step along sign(g + λ p) = sign(0.3) to 1.9.
    #[test]
    fn weight_decay_is_decoupled() {
        let mut opt = build(&cfg(0.1, 0.0, 0.2));
        let p = Tensor::from_slice(&[2.0f64]);
        opt.step(&[p.shallow_clone()], &[Tensor::from_slice(&[-0.1f64])]);
        assert!((p.double_value(&[0]) - 2.06).abs() < 1e-15);
    }

    #[test]
    fn state_round_trip_continues_identically() {
        let c = cfg(0.01, 0.9, 0.0);
        let (mut a, mut b) = (build(&c), build(&c));
        let pa = Tensor::from_slice(&[1.0f32, -2.0, 0.5]);
        let pb = pa.copy();
        let g1 = Tensor::from_slice(&[0.3f32, -0.1, 0.2]);
        let g2 = Tensor::from_slice(&[-0.5f32, 0.05, -0.1]);
        a.step(&[pa.shallow_clone()], std::slice::from_ref(&g1));
        b.step(&[pb.shallow_clone()], std::slice::from_ref(&g1));
        let saved: HashMap<String, Tensor> =
            a.state().into_iter().map(|(k, t)| (k, t.copy())).collect();
        assert_eq!(saved.len(), 1);
        let mut c = build(&c);
        c.load_state(&saved).unwrap();
        let before = pb.copy();
        let pc = pb.copy();
        c.step(&[pc.shallow_clone()], std::slice::from_ref(&g2));
        b.step(&[pb.shallow_clone()], std::slice::from_ref(&g2));
        assert!(pb.equal(&pc));
        // The buffer mattered: m = 0.9 · 0.1 g1 + 0.1 g2 = (−0.023, −0.004, 0.008) has other
        // signs than g2 in the last two coordinates, so a fresh Signum would step elsewhere;
        // p moves by −lr sign(m).
        let moved = Vec::<f32>::try_from(&pc - &before).unwrap();
        for (m, w) in moved.iter().zip([0.01f32, 0.01, -0.01]) {
            assert!((m - w).abs() < 1e-6, "{moved:?}");
        }
        let mut fresh = build(&cfg(0.01, 0.9, 0.0));
        let pf = before.copy();
        fresh.step(&[pf.shallow_clone()], std::slice::from_ref(&g2));
        assert!(!pf.equal(&pc));
    }
}
