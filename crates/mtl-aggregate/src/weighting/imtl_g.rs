//! `imtl_g`: impartial multi-task learning, gradient part.
//!
//! L. Liu et al., "Towards Impartial Multi-task Learning", ICLR 2021, §3.2 (Eq. 7–9): the
//! direction d = Σ α_i g_i with Σ α_i = 1 whose projections onto every unit gradient
//! u_i = g_i/‖g_i‖ are equal, ⟨d, u_i⟩ = ⟨d, u_1⟩. Their closed form is
//! α_{2:K} = g_1 Uᵀ (D Uᵀ)⁻¹, D = [g_1 − g_i], U = [u_1 − u_i]. Equivalently (and how we
//! compute it, from G alone, as TorchJD does): Gα ∝ diag(G)^{1/2}, i.e.
//! α ∝ D⁻¹ Ĝ⁻¹ 1 ([`crate::solve::eigen::equal_angle`]), normalised to Σ α = 1.
//!
//! Guarantees: Σ α = 1 and equal projections ⟨d, u_i⟩ for all i when the gradients are linearly
//! independent; d(sJ) = s d(J); permutation invariant.
//!
//! Degenerate input (documented choice): for dependent gradients the inverse is replaced by the
//! pseudo-inverse of the equilibrated Gramian; zero rows get α_i = 0; when Σ_i v_i = 0 no
//! normalisation exists and the weights are 0 (d = 0), as in TorchJD.

use crate::solve::eigen::equal_angle;
use crate::{Error, Gramian, Weighting};

/// IMTL-G.
#[derive(Debug, Clone, Default)]
pub struct ImtlG;

impl Weighting for ImtlG {
    fn name(&self) -> &'static str {
        "imtl_g"
    }
    fn weights(&mut self, g: &Gramian) -> Result<Vec<f64>, Error> {
        let mut v = equal_angle(g);
        let total: f64 = v.iter().sum();
        let scale: f64 = v.iter().map(|x| x.abs()).sum();
        if total.abs() <= 1e-12 * scale {
            return Ok(vec![0.0; g.m()]);
        }
        v.iter_mut().for_each(|x| *x /= total);
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::{DMatrix, DVector};

    #[test]
    fn matches_the_papers_closed_form() {
        // Three independent gradients in R^4; α from Liu et al. Eq. 9 computed with J itself.
        let j = DMatrix::from_row_slice(
            3,
            4,
            &[
                1.0, 2.0, 0.0, -1.0, 0.5, -1.0, 3.0, 0.0, -2.0, 0.3, 0.4, 1.0,
            ],
        );
        let u = DMatrix::from_fn(3, 4, |i, k| j[(i, k)] / j.row(i).norm());
        let d = DMatrix::from_fn(2, 4, |r, k| j[(0, k)] - j[(r + 1, k)]);
        let uu = DMatrix::from_fn(2, 4, |r, k| u[(0, k)] - u[(r + 1, k)]);
        let a23 = j.row(0) * uu.transpose() * (&d * uu.transpose()).try_inverse().unwrap();
        let want = [1.0 - a23[0] - a23[1], a23[0], a23[1]];
        let g = Gramian::from_row_major(3, (&j * j.transpose()).transpose().as_slice().to_vec())
            .unwrap();
        let w = ImtlG.weights(&g).unwrap();
        for k in 0..3 {
            assert!((w[k] - want[k]).abs() < 1e-12, "{w:?} vs {want:?}");
        }
        // Equal projections onto the unit gradients.
        let dir = j.transpose() * DVector::from_column_slice(&w);
        let p: Vec<f64> = (0..3).map(|i| u.row(i).dot(&dir.transpose())).collect();
        assert!((p[0] - p[1]).abs() < 1e-12 && (p[0] - p[2]).abs() < 1e-12);
    }
}
