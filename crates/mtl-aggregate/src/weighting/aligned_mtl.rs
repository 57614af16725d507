//! `aligned_mtl`: aligning the task gradients by their principal components.
//!
//! D. Senushkin et al., "Independent Component Alignment for Multi-Task Learning", CVPR 2023,
//! §4 (Eq. 9–11, Alg. 1): from G = V Λ Vᵀ restricted to its rank r, the balance matrix
//! B = √λ_min V Λ^{-1/2} Vᵀ (λ_min the smallest nonzero eigenvalue) makes the aligned Jacobian
//! BJ have orthogonal rows of equal norm √λ_min (condition number 1); w = B (1/m), d = Jᵀw.
//!
//! Guarantees: B G B = λ_min P_r (P_r the projector on the nonzero eigenvectors), so the
//! aligned gradients are orthogonal with equal norms; B, hence w, is invariant to scaling J,
//! so d(sJ) = s d(J); permutation invariant.
//!
//! Rank tolerance: eigenvalues ≤ max(λ) · m · ε count as zero (as TorchJD does). With task
//! gradient norms apart by more than ~1e7, the small task's eigenvalue falls under it and that
//! task is treated as absent from the alignment: the definition cannot be evaluated more
//! precisely from G in f64. The preference vector is the mean (docs/formulas.md, "Multi-task
//! update"); LibMTL sums (w = B 1), which only scales d by m.

use crate::solve::eigen::PsdEigen;
use crate::{Error, Gramian, Weighting};

/// Aligned-MTL with the mean preference vector.
#[derive(Debug, Clone, Default)]
pub struct AlignedMtl;

impl Weighting for AlignedMtl {
    fn name(&self) -> &'static str {
        "aligned_mtl"
    }
    fn weights(&mut self, g: &Gramian) -> Result<Vec<f64>, Error> {
        let m = g.m();
        let scale = g.max_diagonal();
        if scale <= 0.0 {
            return Ok(vec![0.0; m]);
        }
        let e = PsdEigen::new(g.to_matrix() / scale);
        let nz = e.nonzero();
        let lmin = nz
            .iter()
            .map(|&k| e.values[k])
            .fold(f64::INFINITY, f64::min);
        // w = √λ_min Σ_k v_k (v_kᵀ 1/m) / √λ_k.
        let mut w = vec![0.0; m];
        for &k in &nz {
            let v = e.vectors.column(k);
            let coef = (lmin / e.values[k]).sqrt() * v.sum() / m as f64;
            for (a, b) in w.iter_mut().zip(v.iter()) {
                *a += coef * b;
            }
        }
        Ok(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orthogonal_gradients_are_scaled_to_the_smallest_norm() {
        // G = diag(4, 1): λ_min = 1, B = diag(1/2, 1), w = (1/4, 1/2): both aligned gradients
        // have norm 1, and d = (1/2)(g1/2 + g2).
        let g = Gramian::from_row_major(2, vec![4.0, 0.0, 0.0, 1.0]).unwrap();
        let w = AlignedMtl.weights(&g).unwrap();
        assert!(
            (w[0] - 0.25).abs() < 1e-15 && (w[1] - 0.5).abs() < 1e-15,
            "{w:?}"
        );
    }
}
