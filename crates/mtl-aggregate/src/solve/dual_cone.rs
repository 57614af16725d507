//! Projection onto the dual cone of the rows of J, {x : Jx ≥ 0}, through its dual.
//!
//! For v = Jᵀu, π(v) = argmin_{Jx ≥ 0} ‖x − v‖² = Jᵀ(u + λ) with
//! λ = argmin_{λ ≥ 0} ½ λᵀGλ + (Gu)ᵀλ (Quinton & Rey 2024, "Jacobian Descent for Multi-Objective
//! Optimization", Prop. 1 / App. A; the Lagrangian dual of the projection). The QP is solved
//! exactly by [`super::nnls`] in the variables x_i = ‖g_i‖ λ_i (equilibrated Gramian), with
//! [`super::conic`] as fallback. Zero rows impose no constraint and get λ_i = 0.

use super::{conic, nnls, Equilibrated};
use crate::Gramian;

/// Relative tolerance of the KKT test ĝ_jᵀπ ≥ 0 (in units of ‖v‖).
const TOL: f64 = 1e-12;

/// u + λ, the weights of π(Jᵀu). `None` if both solvers fail.
pub fn project_weights(g: &Gramian, eq: &Equilibrated, u: &[f64]) -> Option<Vec<f64>> {
    let gu = g.mul_vec(u);
    let vnorm = u
        .iter()
        .zip(&gu)
        .map(|(a, b)| a * b)
        .sum::<f64>()
        .max(0.0)
        .sqrt();
    let c: Vec<f64> = eq
        .kept
        .iter()
        .zip(&eq.norms)
        .map(|(&i, s)| -gu[i] / s)
        .collect();
    let x = nnls::nnls(&eq.g, &c, TOL * vnorm).or_else(|| conic::nonneg_qp(&eq.g, &c))?;
    let mut w = u.to_vec();
    for ((&i, s), xi) in eq.kept.iter().zip(&eq.norms).zip(&x) {
        w[i] += xi / s;
    }
    Some(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projects_a_conflicting_pair_by_hand() {
        // g1 = (1, 0), g2 = (-1, 1). π(g1) must satisfy ⟨x, g2⟩ ≥ 0: the projection of (1, 0)
        // onto the half-plane -x + y ≥ 0 is (1/2, 1/2) = g1 + (1/2) g2.
        let g = Gramian::from_row_major(2, vec![1.0, -1.0, -1.0, 2.0]).unwrap();
        let w = project_weights(&g, &Equilibrated::new(&g), &[1.0, 0.0]).unwrap();
        assert!((w[0] - 1.0).abs() < 1e-15 && (w[1] - 0.5).abs() < 1e-15);
        // π(g2) = g2 + λ g1 with ⟨g2 + λ g1, g1⟩ = -1 + λ = 0: λ = 1, π(g2) = (0, 1).
        let w = project_weights(&g, &Equilibrated::new(&g), &[0.0, 1.0]).unwrap();
        assert_eq!(w, vec![1.0, 1.0]);
        // Without conflict the vector is already in the cone: λ = 0.
        let g = Gramian::from_row_major(2, vec![1.0, 0.5, 0.5, 2.0]).unwrap();
        let w = project_weights(&g, &Equilibrated::new(&g), &[0.0, 1.0]).unwrap();
        assert_eq!(w, vec![0.0, 1.0]);
    }
}
