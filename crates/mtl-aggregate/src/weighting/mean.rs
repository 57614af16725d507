//! `mean`: d = (1/m) Σ_i g_i, w = 1/m (UMTG with C = 1/K; Mueller et al. 2025, Eq. 2).
//!
//! Guarantees: d is linear in J (d(sJ) = s d(J)) and permutation invariant.

use crate::{Error, Gramian, Weighting};

/// w_i = 1/m.
#[derive(Debug, Clone, Default)]
pub struct Mean;

impl Weighting for Mean {
    fn name(&self) -> &'static str {
        "mean"
    }
    fn weights(&mut self, g: &Gramian) -> Result<Vec<f64>, Error> {
        Ok(vec![1.0 / g.m() as f64; g.m()])
    }
}
