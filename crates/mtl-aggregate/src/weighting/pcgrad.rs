//! `pcgrad`: projecting conflicting gradients.
//!
//! T. Yu et al., "Gradient Surgery for Multi-Task Learning", NeurIPS 2020, Alg. 1: for each
//! task i, g_i' starts at g_i; over the other tasks j in a random order, if ⟨g_i', g_j⟩ < 0 then
//! g_i' ← g_i' − (⟨g_i', g_j⟩ / ‖g_j‖²) g_j; d = Σ_i g_i'.
//!
//! Every g_i' stays in the row space, g_i' = Jᵀc_i, and ⟨g_i', g_j⟩ = (G c_i)_j, ‖g_j‖² = G_jj,
//! so the method is an exact Gramian weighting: w = Σ_i c_i (as in TorchJD's PCGrad).
//!
//! Guarantees: with two tasks the result does not depend on the order and equals the closed
//! form g_1 + g_2 − (⟨g_1,g_2⟩/‖g_2‖²) g_2 − (⟨g_1,g_2⟩/‖g_1‖²) g_1 when ⟨g_1,g_2⟩ < 0 (and
//! g_1 + g_2 otherwise); after its step against task j, ⟨g_i', g_j⟩ = 0; d(sJ) = s d(J).
//!
//! Randomness: the order for each task is a Fisher–Yates shuffle from the counter-based
//! stream seeded by `seed` ([`crate::solve::rng`]); `state()` saves (seed, counter), so a
//! resumed run draws the same orders. Zero rows (‖g_j‖ = 0) are never projected on.
//! Departure: the authors' code (and LibMTL's) also tests g_i' against g_i itself; following
//! docs/formulas.md ("Multi-task update") and the paper's Alg. 1 (the other tasks only) we
//! skip j = i.

use crate::solve::rng::Stream;
use crate::{Error, Gramian, Weighting};

/// PCGrad with a seeded, restorable random order.
#[derive(Debug, Clone)]
pub struct PcGrad {
    seed: u64,
    rng: Stream,
}

impl PcGrad {
    /// A fresh PCGrad drawing its orders from `seed`.
    pub fn new(seed: u64) -> PcGrad {
        PcGrad {
            seed,
            rng: Stream::new(seed),
        }
    }
}

impl Weighting for PcGrad {
    fn name(&self) -> &'static str {
        "pcgrad"
    }
    fn weights(&mut self, g: &Gramian) -> Result<Vec<f64>, Error> {
        let m = g.m();
        let mut w = vec![0.0; m];
        let mut order: Vec<usize> = Vec::with_capacity(m);
        for i in 0..m {
            order.clear();
            order.extend((0..m).filter(|&j| j != i));
            self.rng.shuffle(&mut order);
            // c: coefficients of g_i' in the rows; gc = G c, kept up to date (O(m) per step).
            let mut c = vec![0.0; m];
            c[i] = 1.0;
            let mut gc: Vec<f64> = (0..m).map(|k| g.get(k, i)).collect();
            for &j in &order {
                let (dot, nj) = (gc[j], g.get(j, j));
                if dot < 0.0 && nj > 0.0 {
                    let coef = dot / nj;
                    c[j] -= coef;
                    for (k, v) in gc.iter_mut().enumerate() {
                        *v -= coef * g.get(k, j);
                    }
                }
            }
            for (a, b) in w.iter_mut().zip(&c) {
                *a += b;
            }
        }
        Ok(w)
    }
    fn state(&self) -> Vec<f64> {
        self.rng.state().to_vec()
    }
    fn load_state(&mut self, s: &[f64]) -> Result<(), Error> {
        self.rng.load_state("pcgrad", s)
    }
    fn reset(&mut self) {
        self.rng = Stream::new(self.seed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_tasks_closed_form() {
        // g1 = (1, 0), g2 = (-1, 2): ⟨g1, g2⟩ = -1, ‖g1‖² = 1, ‖g2‖² = 5.
        // g1' = g1 + g2/5, g2' = g2 + g1: w = (1 + 1, 1 + 1/5).
        let g = Gramian::from_row_major(2, vec![1.0, -1.0, -1.0, 5.0]).unwrap();
        let w = PcGrad::new(3).weights(&g).unwrap();
        assert!(
            (w[0] - 2.0).abs() < 1e-15 && (w[1] - 1.2).abs() < 1e-15,
            "{w:?}"
        );
    }

    #[test]
    fn state_restores_the_order_stream() {
        let data: Vec<f64> = (0..25).map(|k| ((k * 13) % 7) as f64 - 3.0).collect();
        let g = Gramian::from_row_major(5, {
            let mut x = vec![0.0; 25];
            for i in 0..5 {
                for j in 0..5 {
                    x[i * 5 + j] = (0..5).map(|c| data[i * 5 + c] * data[j * 5 + c]).sum();
                }
            }
            x
        })
        .unwrap();
        let mut a = PcGrad::new(11);
        a.weights(&g).unwrap();
        let saved = a.state();
        let next: Vec<Vec<f64>> = (0..3).map(|_| a.weights(&g).unwrap()).collect();
        let mut b = PcGrad::new(0);
        b.load_state(&saved).unwrap();
        let again: Vec<Vec<f64>> = (0..3).map(|_| b.weights(&g).unwrap()).collect();
        assert_eq!(next, again);
        a.reset();
        let mut fresh = PcGrad::new(11);
        assert_eq!(a.weights(&g).unwrap(), fresh.weights(&g).unwrap());
    }
}
