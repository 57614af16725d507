//! UW-O (Elich et al. 2024, §4): uncertainty weighting with each σ_k² at its analytic optimum
//! σ_k² = L_k, i.e. weights w_k = 1/(2 L_k) under a stop-gradient (Kendall's convention,
//! docs/formulas.md, "Multi-task update"). Stateless.

use anyhow::Result;
use std::collections::HashMap;
use tch::Tensor;

use super::{values, weighted_sum, Ctx, LossWeighting};

/// UW-O.
pub struct UwO;

/// w_k = 1/(2 L_k); a zero loss gets weight 1/(2 ε) with ε = 1e-12 rather than infinity.
pub fn weights(losses: &[f64]) -> Vec<f64> {
    losses.iter().map(|l| 1.0 / (2.0 * l.max(1e-12))).collect()
}

impl LossWeighting for UwO {
    fn combine(&mut self, losses: &[Tensor], _ctx: &Ctx) -> Result<(Tensor, Vec<f64>)> {
        let l = values(&Tensor::stack(losses, 0));
        let w = weights(&l);
        Ok((weighted_sum(losses, &w), w))
    }

    fn state(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }

    fn load_state(&mut self, _state: &HashMap<String, Tensor>) -> Result<()> {
        Ok(())
    }
}
