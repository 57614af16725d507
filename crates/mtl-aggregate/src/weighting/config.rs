//! `config`: conflict-free inverse gradients.
//!
//! Q. Liu, M. Chu and N. Thuerey, "ConFIG: Towards Conflict-free Training of Physics Informed
//! Neural Networks", ICLR 2025 (arXiv 2024), Eq. 2: with unit gradients û_i = g_i/‖g_i‖ (rows
//! of Û), u = normalize(pinv(Û) 1) and d = (Σ_i ⟨g_i, u⟩) u.
//!
//! pinv(Û) 1 = Ûᵀ(ÛÛᵀ)⁺ 1 lies in the row space, so u = Jᵀv/‖Jᵀv‖ with
//! v = D⁻¹ Ĝ⁺ 1 ([`crate::solve::eigen::equal_angle`]) and
//! d = Jᵀw, w = (1ᵀGv / vᵀGv) v: an exact Gramian weighting.
//!
//! Guarantees: when the gradients are linearly independent, d makes the same angle with every
//! g_i and ⟨d, g_i⟩ > 0 for all i (conflict-free); ‖d‖ = Σ_i ⟨g_i, u⟩; d(sJ) = s d(J).
//! Zero rows are ignored (TorchJD sets their unit vector to 0, which gives the same pinv);
//! dependent rows use the pseudo-inverse; if pinv(Û) 1 = 0 then d = 0.

use crate::solve::eigen::equal_angle;
use crate::{Error, Gramian, Weighting};

/// ConFIG with the all-ones target.
#[derive(Debug, Clone, Default)]
pub struct Config;

impl Weighting for Config {
    fn name(&self) -> &'static str {
        "config"
    }
    fn weights(&mut self, g: &Gramian) -> Result<Vec<f64>, Error> {
        let mut v = equal_angle(g);
        let gv = g.mul_vec(&v);
        let norm_sq: f64 = v.iter().zip(&gv).map(|(a, b)| a * b).sum();
        if norm_sq <= 0.0 {
            return Ok(vec![0.0; g.m()]);
        }
        let length: f64 = gv.iter().sum();
        v.iter_mut().for_each(|x| *x *= length / norm_sq);
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_orthogonal_gradients_by_hand() {
        // g1 = (2, 0), g2 = (0, 1): u = (1, 1)/√2, length = 2/√2 + 1/√2 = 3/√2,
        // d = (3/2, 3/2) = 0.75 g1 + 1.5 g2.
        let g = Gramian::from_row_major(2, vec![4.0, 0.0, 0.0, 1.0]).unwrap();
        let w = Config.weights(&g).unwrap();
        assert!(
            (w[0] - 0.75).abs() < 1e-15 && (w[1] - 1.5).abs() < 1e-15,
            "{w:?}"
        );
    }
}
