//! SGD with optional momentum and Nesterov momentum, in PyTorch's convention
//! (`torch.optim.SGD`, dampening 0): b ← μ b + g (b = g at the first step);
//! update g + μ b (Nesterov) or b; weight decay adds λ p to g.

use anyhow::Result;
use std::collections::HashMap;
use tch::Tensor;

use super::{named_list, take_list, Optimizer};
use crate::config::OptimConfig;

/// SGD (+ momentum).
pub struct Sgd {
    lr: f64,
    momentum: f64,
    nesterov: bool,
    weight_decay: f64,
    buffers: Vec<Tensor>,
}

impl Sgd {
    /// From `[optim]`.
    pub fn new(cfg: &OptimConfig) -> Self {
        Self {
            lr: cfg.lr,
            momentum: cfg.momentum,
            nesterov: cfg.nesterov,
            weight_decay: cfg.weight_decay,
            buffers: Vec::new(),
        }
    }
}

impl Optimizer for Sgd {
    fn step(&mut self, params: &[Tensor], grads: &[Tensor]) {
        tch::no_grad(|| {
            let first = self.buffers.is_empty() && self.momentum > 0.0;
            for (i, (p, g)) in params.iter().zip(grads).enumerate() {
                let mut g = if self.weight_decay > 0.0 {
                    g + p * self.weight_decay
                } else {
                    g.shallow_clone()
                };
                if self.momentum > 0.0 {
                    if first {
                        self.buffers.push(g.copy());
                    } else {
                        let b = &mut self.buffers[i];
                        let _ = b.g_mul_scalar_(self.momentum).g_add_(&g);
                    }
                    let b = &self.buffers[i];
                    g = if self.nesterov {
                        g + b * self.momentum
                    } else {
                        b.shallow_clone()
                    };
                }
                let mut p = p.shallow_clone();
                let _ = p.g_add_(&(g * -self.lr));
            }
        });
    }

    fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }

    fn state(&self) -> Vec<(String, Tensor)> {
        named_list("sgd.momentum", &self.buffers)
    }

    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        self.buffers = take_list(state, "sgd.momentum")?;
        Ok(())
    }
}
