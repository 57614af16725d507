//! `random`: random loss weighting applied to gradients (RLW).
//!
//! B. Lin et al., "Reasonable Effectiveness of Random Weighting: A Litmus Test for Multi-Task
//! Learning", TMLR 2022, §3 (Eq. 3, the normal-softmax variant, their default): at every step
//! w = softmax(z), z_i ~ N(0, 1) independent; d = Jᵀw.
//!
//! Guarantees: w ∈ Δ with every w_i > 0; G is ignored, so d(sJ) = s d(J) at equal state.
//! Randomness: a counter-based stream seeded by `seed` (two draws per task, Box–Muller);
//! `state()` saves (seed, counter), so a resumed run draws the same weights.
//! Applied to gradients rather than losses: for a linear combination the two are the same.

use crate::solve::rng::Stream;
use crate::{Error, Gramian, Weighting};

/// RLW with normal logits.
#[derive(Debug, Clone)]
pub struct Random {
    seed: u64,
    rng: Stream,
}

impl Random {
    /// A fresh stream from `seed`.
    pub fn new(seed: u64) -> Random {
        Random {
            seed,
            rng: Stream::new(seed),
        }
    }
}

impl Weighting for Random {
    fn name(&self) -> &'static str {
        "random"
    }
    fn weights(&mut self, g: &Gramian) -> Result<Vec<f64>, Error> {
        let z: Vec<f64> = (0..g.m()).map(|_| self.rng.normal()).collect();
        let max = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = z.iter().map(|x| (x - max).exp()).collect();
        let total: f64 = e.iter().sum();
        Ok(e.iter().map(|x| x / total).collect())
    }
    fn state(&self) -> Vec<f64> {
        self.rng.state().to_vec()
    }
    fn load_state(&mut self, s: &[f64]) -> Result<(), Error> {
        self.rng.load_state("random", s)
    }
    fn reset(&mut self) {
        self.rng = Stream::new(self.seed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_of_the_streams_normals() {
        let g =
            Gramian::from_row_major(3, vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]).unwrap();
        let w = Random::new(5).weights(&g).unwrap();
        let mut s = Stream::new(5);
        let z: Vec<f64> = (0..3).map(|_| s.normal()).collect();
        let total: f64 = z.iter().map(|x| x.exp()).sum();
        for k in 0..3 {
            assert!((w[k] - z[k].exp() / total).abs() < 1e-15);
        }
    }
}
