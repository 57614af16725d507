//! Shared solvers for the small m x m problems behind the methods.
//!
//! - [`simplex`]: the minimum-norm point of a convex hull (MGDA), Wolfe's active-set algorithm.
//! - [`nnls`]: non-negative least squares on a Gramian (the dual-cone projection of UPGrad and
//!   DualProj), the Lawson–Hanson active set in its Gramian form (Bro & de Jong's FNNLS).
//! - [`dual_cone`]: the projection onto {x : Jx ≥ 0} in weight space (UPGrad, DualProj).
//! - [`conic`]: the same problems (and CAGrad's second-order-cone program) through `clarabel`,
//!   used as the fallback of the active-set solvers and as their independent check in tests.
//! - [`eigen`]: eigendecompositions of a Gramian with a rank tolerance, pseudo-inverses.
//! - [`rng`]: the counter-based random stream behind every stochastic method.
//!
//! Why active sets rather than an interior-point solver for every QP: they terminate in finitely
//! many steps at a point that satisfies the KKT conditions to rounding (exact to the definition),
//! and they cost a few small Cholesky or LU factorisations, far below the Gramian's m²n flops.
//! Both work on a diagonally equilibrated Gramian Ĝ_ij = G_ij / (‖g_i‖‖g_j‖), so that task
//! gradients whose norms differ by 1e8 (Gramian entries by 1e16) lose no precision.

pub mod conic;
pub mod dual_cone;
pub mod eigen;
pub mod nnls;
pub mod rng;
pub mod simplex;

use crate::Gramian;

/// A Gramian equilibrated to unit diagonal, Ĝ = D G D with D = diag(1/‖g_i‖) over the nonzero
/// rows; rows with ‖g_i‖ = 0 (numerically: ‖g_i‖² ≤ 1e-200 max_k ‖g_k‖²) are left out.
#[derive(Debug, Clone)]
pub struct Equilibrated {
    /// Indices (into the original tasks) of the rows kept.
    pub kept: Vec<usize>,
    /// ‖g_i‖ for each kept row.
    pub norms: Vec<f64>,
    /// Ĝ restricted to the kept rows (k x k, unit diagonal).
    pub g: nalgebra::DMatrix<f64>,
}

impl Equilibrated {
    /// Equilibrates `g`.
    pub fn new(g: &Gramian) -> Equilibrated {
        let max = g.max_diagonal();
        let kept: Vec<usize> = (0..g.m())
            .filter(|&i| g.get(i, i) > 0.0 && g.get(i, i) > 1e-200 * max)
            .collect();
        let norms: Vec<f64> = kept.iter().map(|&i| g.get(i, i).sqrt()).collect();
        let k = kept.len();
        let mut e = nalgebra::DMatrix::zeros(k, k);
        for (a, &i) in kept.iter().enumerate() {
            for (b, &j) in kept.iter().enumerate() {
                e[(a, b)] = if a == b {
                    1.0
                } else {
                    g.get(i, j) / norms[a] / norms[b]
                };
            }
        }
        Equilibrated { kept, norms, g: e }
    }

    /// Indices of the rows left out as zero.
    pub fn zero_rows(&self, m: usize) -> Vec<usize> {
        (0..m).filter(|i| !self.kept.contains(i)).collect()
    }
}
