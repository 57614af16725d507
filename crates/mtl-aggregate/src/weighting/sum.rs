//! `sum`: d = Σ_i g_i, w = 1 (UMTG with C = 1; Mueller et al. 2025, Eq. 2).
//!
//! Guarantees: d is linear in J (d(sJ) = s d(J)) and permutation invariant.

use crate::{Error, Gramian, Weighting};

/// w_i = 1.
#[derive(Debug, Clone, Default)]
pub struct Sum;

impl Weighting for Sum {
    fn name(&self) -> &'static str {
        "sum"
    }
    fn weights(&mut self, g: &Gramian) -> Result<Vec<f64>, Error> {
        Ok(vec![1.0; g.m()])
    }
}
