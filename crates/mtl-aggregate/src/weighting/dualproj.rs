//! `dualproj`: d = π(mean of the rows), π the projection onto the dual cone {x : Jx ≥ 0}.
//!
//! P. Quinton and V. Rey, "Jacobian Descent for Multi-Objective Optimization", 2024, §5
//! (DualProj, the projection of the averaged gradient; the "A_DualProj" of their Table 1).
//! Solved in weight space through the dual ([`crate::solve::dual_cone`]): w = 1/m + λ.
//!
//! Guarantees: ⟨d, g_k⟩ ≥ 0 for every k; d = mean when the mean conflicts with no task;
//! d is the closest non-conflicting vector to the mean; d(sJ) = s d(J).
//!
//! Departure from the reference code: as for `upgrad`, no Gramian normalisation or 1e-4
//! regularisation; the QP is solved exactly.

use crate::solve::{dual_cone, Equilibrated};
use crate::weighting::solver_error;
use crate::{Error, Gramian, Weighting};

/// DualProj with the mean preference vector.
#[derive(Debug, Clone, Default)]
pub struct DualProj;

impl Weighting for DualProj {
    fn name(&self) -> &'static str {
        "dualproj"
    }
    fn weights(&mut self, g: &Gramian) -> Result<Vec<f64>, Error> {
        let m = g.m();
        let u = vec![1.0 / m as f64; m];
        dual_cone::project_weights(g, &Equilibrated::new(g), &u)
            .ok_or_else(|| solver_error("dualproj", g, "dual-cone projection"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflicting_pair_by_hand() {
        // g1 = (1, 0), g2 = (-3, 1): mean = (-1, 1/2) has ⟨mean, g1⟩ = -1 < 0 and
        // ⟨mean, g2⟩ = 3.5 > 0. Projecting onto x_1 ≥ 0 gives (0, 1/2) = mean + 1 · g1,
        // which keeps ⟨·, g2⟩ = 1/2 ≥ 0. So w = (1/2 + 1, 1/2).
        let g = Gramian::from_row_major(2, vec![1.0, -3.0, -3.0, 10.0]).unwrap();
        let w = DualProj.weights(&g).unwrap();
        assert!(
            (w[0] - 1.5).abs() < 1e-15 && (w[1] - 0.5).abs() < 1e-15,
            "{w:?}"
        );
    }
}
