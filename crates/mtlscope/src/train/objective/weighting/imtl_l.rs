//! IMTL-L (Liu et al. 2021, "Towards Impartial Multi-task Learning", §3.1): learned scales
//! s_k, objective Σ_k (e^{s_k} L_k − s_k); for fixed L_k the optimum is e^{s_k} L_k = 1, so
//! every scaled loss is driven to the same value.

use anyhow::Result;
use std::collections::HashMap;
use tch::{Kind, Tensor};

use super::{learnable, restore, values, Ctx, LossWeighting, VecAdam};

/// IMTL-L.
pub struct ImtlL {
    s: Tensor,
    opt: VecAdam,
}

impl ImtlL {
    /// Scales start at 0 (weight 1).
    pub fn new(k: usize, lr: f64) -> Self {
        Self {
            s: learnable(k, 0.0),
            opt: VecAdam::new(k, lr, 0.0),
        }
    }
}

impl LossWeighting for ImtlL {
    fn combine(&mut self, losses: &[Tensor], _ctx: &Ctx) -> Result<(Tensor, Vec<f64>)> {
        let l = Tensor::stack(losses, 0);
        let s = self.s.to_kind(l.kind()).to_device(l.device());
        let total = (s.exp() * &l - &s).sum(Kind::Float);
        Ok((total, values(&self.s).iter().map(|s| s.exp()).collect()))
    }

    fn learnable(&self) -> Vec<Tensor> {
        vec![self.s.shallow_clone()]
    }

    fn update(&mut self, grads: &[Tensor]) {
        self.opt.step(&self.s, &grads[0]);
    }

    fn state(&self) -> Vec<(String, Tensor)> {
        let mut v = vec![("imtl_l.s".to_string(), self.s.detach())];
        v.extend(self.opt.state("imtl_l.adam"));
        v
    }

    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        restore(&self.s, state, "imtl_l.s")?;
        self.opt.load_state(state, "imtl_l.adam")
    }
}
