//! Eigendecompositions of (positive semi-definite) Gramians with a rank tolerance.

use nalgebra::{DMatrix, DVector, SymmetricEigen};

/// G = V Λ Vᵀ with the eigenvalues at or below the rank tolerance treated as zero.
#[derive(Debug, Clone)]
pub struct PsdEigen {
    /// Eigenvalues (unsorted, as nalgebra returns them); negatives from rounding are kept as is.
    pub values: DVector<f64>,
    /// Orthonormal eigenvectors, one per column.
    pub vectors: DMatrix<f64>,
    /// Eigenvalues above this are "nonzero": `max(λ) · m · ε`, the rule of NumPy's
    /// `matrix_rank` (also used by TorchJD's Aligned-MTL).
    pub tol: f64,
}

impl PsdEigen {
    /// Decomposes the symmetric matrix `g`.
    pub fn new(g: DMatrix<f64>) -> PsdEigen {
        let m = g.nrows();
        let e = SymmetricEigen::new(g);
        let max = e.eigenvalues.iter().cloned().fold(0.0, f64::max);
        PsdEigen {
            tol: max * m as f64 * f64::EPSILON,
            values: e.eigenvalues,
            vectors: e.eigenvectors,
        }
    }

    /// Indices of the eigenvalues above the tolerance.
    pub fn nonzero(&self) -> Vec<usize> {
        (0..self.values.len())
            .filter(|&k| self.values[k] > self.tol)
            .collect()
    }

    /// Number of eigenvalues above the tolerance.
    pub fn rank(&self) -> usize {
        self.nonzero().len()
    }
}

/// v = D⁻¹ Ĝ⁺ 1 with Ĝ the equilibrated Gramian and D = diag(‖g_i‖) (zero rows get v_i = 0).
///
/// Jᵀv = Ûᵀ Ĝ⁺ 1 = pinv(Û) 1 for the matrix Û of unit gradients (A⁺ = Aᵀ(AAᵀ)⁺), so when Ĝ
/// is invertible ⟨û_i, Jᵀv⟩ = 1 for every i: the direction making equal angles with every
/// task gradient, shared by IMTL-G and ConFIG.
pub fn equal_angle(g: &crate::Gramian) -> Vec<f64> {
    let eq = super::Equilibrated::new(g);
    let mut v = vec![0.0; g.m()];
    if eq.kept.is_empty() {
        return v;
    }
    let k = eq.kept.len();
    let e = PsdEigen::new(eq.g.clone());
    // Components of 1 along an eigenvector below the rounding of the eigenvectors themselves
    // are noise (e.g. 1 ⊥ the only nonzero eigenvector for two opposite gradients); dividing
    // them by their eigenvalue would turn noise into a direction.
    let noise = 64.0 * k as f64 * f64::EPSILON * (k as f64).sqrt();
    let mut x = vec![0.0; k];
    for j in e.nonzero() {
        let vj = e.vectors.column(j);
        let along = vj.sum();
        if along.abs() > noise {
            for (o, b) in x.iter_mut().zip(vj.iter()) {
                *o += along / e.values[j] * b;
            }
        }
    }
    for ((&i, s), xi) in eq.kept.iter().zip(&eq.norms).zip(&x) {
        v[i] = xi / s;
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Gramian;

    #[test]
    fn rank_of_a_rank_one_matrix() {
        let e = PsdEigen::new(DMatrix::from_row_slice(2, 2, &[1.0, 2.0, 2.0, 4.0]));
        assert_eq!(e.rank(), 1);
    }

    #[test]
    fn equal_angle_by_hand() {
        // Orthogonal g1, g2 with norms 2 and 1: Ĝ = I, x = 1, v = (1/2, 1).
        let g = Gramian::from_row_major(2, vec![4.0, 0.0, 0.0, 1.0]).unwrap();
        assert_eq!(equal_angle(&g), vec![0.5, 1.0]);
        // Opposite gradients: 1 is orthogonal to the only nonzero eigenvector, v = 0.
        let g = Gramian::from_row_major(2, vec![9.0, -6.0, -6.0, 4.0]).unwrap();
        assert_eq!(equal_angle(&g), vec![0.0, 0.0]);
    }
}
