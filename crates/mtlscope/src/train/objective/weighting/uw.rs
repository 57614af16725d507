//! Uncertainty weighting (Kendall, Gal & Cipolla 2018, Eq. 10 for classification, in the
//! log-variance form of their §3.2): with s_k = log σ_k², minimise
//! Σ_k (e^{-s_k} L_k + s_k) / 2. For fixed L_k the stationary point is e^{s_k} = L_k, i.e.
//! weight e^{-s_k}/2 = 1/(2 L_k) — the value UW-O sets directly.

use anyhow::Result;
use std::collections::HashMap;
use tch::{Kind, Tensor};

use super::{learnable, restore, values, Ctx, LossWeighting, VecAdam};

/// UW.
pub struct Uw {
    s: Tensor,
    opt: VecAdam,
}

impl Uw {
    /// Log-variances start at 0 (σ² = 1).
    pub fn new(k: usize, lr: f64) -> Self {
        Self {
            s: learnable(k, 0.0),
            opt: VecAdam::new(k, lr, 0.0),
        }
    }
}

impl LossWeighting for Uw {
    fn combine(&mut self, losses: &[Tensor], _ctx: &Ctx) -> Result<(Tensor, Vec<f64>)> {
        let l = Tensor::stack(losses, 0);
        let s = self.s.to_kind(l.kind()).to_device(l.device());
        let total = ((-&s).exp() * &l + &s).sum(Kind::Float) * 0.5;
        let w = values(&self.s).iter().map(|s| (-s).exp() / 2.0).collect();
        Ok((total, w))
    }

    fn learnable(&self) -> Vec<Tensor> {
        vec![self.s.shallow_clone()]
    }

    fn update(&mut self, grads: &[Tensor]) {
        self.opt.step(&self.s, &grads[0]);
    }

    fn state(&self) -> Vec<(String, Tensor)> {
        let mut v = vec![("uw.s".to_string(), self.s.detach())];
        v.extend(self.opt.state("uw.adam"));
        v
    }

    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        restore(&self.s, state, "uw.s")?;
        self.opt.load_state(state, "uw.adam")
    }
}
