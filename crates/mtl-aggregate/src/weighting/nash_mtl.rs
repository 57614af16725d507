//! `nash_mtl`: the Nash bargaining solution, α > 0 with G α = 1/α (elementwise), d = Jᵀα.
//!
//! A. Navon et al., "Multi-Task Learning as a Bargaining Game", ICML 2022, Eq. 3 / Thm. 5.1
//! (the solution satisfies ⟨g_i, d⟩ = 1/α_i). It is the unique minimiser of the strictly convex
//! f(α) = ½ αᵀGα − Σ_i log α_i, found here by damped Newton (f is self-concordant: Nesterov &
//! Nemirovskii; Boyd & Vandenberghe, "Convex Optimization", §9.6, Alg. 9.5: step 1/(1 + λ)
//! while the Newton decrement λ > 1/4, full steps after), on the equilibrated system
//! Ĝβ = 1/β with α_i = β_i/‖g_i‖ (the substitution preserves the equation exactly).
//!
//! Guarantees: when the origin is not in the convex hull of the nonzero task gradients, α > 0
//! solves Gα = 1/α to rounding (|α_i (Gα)_i − 1| ≤ 1e-12 + 1e3 ε α_i (|G| α)_i), so ⟨g_i, d⟩ = 1/α_i > 0 for
//! every task; d is invariant to scaling J (d(sJ) = d(J)), since α(sJ) = α(J)/s.
//!
//! Degenerate input (documented departure): a zero row gets α_i = 0 and is left out (its
//! equation has no solution and it contributes nothing to d). If the origin lies in the hull
//! of the remaining rows, f is unbounded below and no positive solution exists (e.g. g_2 = −g_1).
//! We detect it first (the min-norm point of the unit gradients' hull has squared norm below
//! 100 m ε, the resolution of the equilibrated Gramian, by
//! [`crate::solve::simplex`]) and then solve the regularised (Ĝ + 1e-8 I)β = 1/β instead, which
//! is unique and gives d ≈ 0 along the conflicting directions.
//!
//! Departure from the reference code: Navon et al. (and LibMTL) normalise G by its norm and
//! run 20 convex-concave iterations of a cvxpy program; we solve the equation exactly.
//! Their `update_weights_every` and gradient-norm clipping (`max_norm`) belong to the
//! training loop, not to the weighting. The previous α is kept as a warm start (the
//! solution is unique, so it only saves iterations); `state()` saves it.

use crate::solve::{simplex, Equilibrated};
use crate::weighting::solver_error;
use crate::{Error, Gramian, Weighting};
use nalgebra::{DMatrix, DVector};

/// Regularisation used when no positive solution exists (relative to the unit diagonal).
const REGULARISATION: f64 = 1e-8;

/// The origin counts as inside the hull of the unit gradients when the squared norm of their
/// min-norm point is below this many ε per task: the equilibrated Gramian is known to ~ε, so
/// smaller hull distances cannot be told from 0.
const HULL_TOL: f64 = 100.0;

/// Nash-MTL with a warm start.
#[derive(Debug, Clone, Default)]
pub struct NashMtl {
    alpha: Vec<f64>,
    regularised: bool,
}

impl NashMtl {
    /// A fresh Nash-MTL (no warm start).
    pub fn new() -> NashMtl {
        NashMtl::default()
    }

    /// Whether the last call had to regularise (no positive solution of Gα = 1/α).
    pub fn last_was_regularised(&self) -> bool {
        self.regularised
    }
}

impl Weighting for NashMtl {
    fn name(&self) -> &'static str {
        "nash_mtl"
    }
    fn weights(&mut self, g: &Gramian) -> Result<Vec<f64>, Error> {
        let m = g.m();
        let eq = Equilibrated::new(g);
        let mut alpha = vec![0.0; m];
        if eq.kept.is_empty() {
            self.alpha = alpha.clone();
            return Ok(alpha);
        }
        // Warm start from the previous α where it is positive on the kept rows.
        let start: Option<Vec<f64>> =
            (self.alpha.len() == m && eq.kept.iter().all(|&i| self.alpha[i] > 0.0)).then(|| {
                eq.kept
                    .iter()
                    .zip(&eq.norms)
                    .map(|(&i, s)| self.alpha[i] * s)
                    .collect()
            });
        // A positive solution exists iff the origin is not in the hull of the unit gradients
        // (their min-norm point is 0 up to rounding); otherwise regularise.
        let k = eq.kept.len();
        let unit_hull = simplex::min_norm_point(&eq.g, &vec![1.0; k]).map(|v| {
            v.iter()
                .zip((&eq.g * DVector::from_column_slice(&v)).iter())
                .map(|(a, b)| a * b)
                .sum::<f64>()
        });
        self.regularised = unit_hull.is_some_and(|n2| n2 <= HULL_TOL * k as f64 * f64::EPSILON);
        let plain = if self.regularised {
            None
        } else {
            newton(&eq.g, start.as_deref())
        };
        let beta = match plain {
            Some(b) => b,
            None => {
                self.regularised = true;
                let reg = &eq.g + DMatrix::identity(k, k) * REGULARISATION;
                newton(&reg, None).ok_or_else(|| solver_error("nash_mtl", g, "Newton"))?
            }
        };
        for ((&i, s), b) in eq.kept.iter().zip(&eq.norms).zip(&beta) {
            alpha[i] = b / s;
        }
        self.alpha = alpha.clone();
        Ok(alpha)
    }
    fn state(&self) -> Vec<f64> {
        self.alpha.clone()
    }
    fn load_state(&mut self, s: &[f64]) -> Result<(), Error> {
        if s.iter().any(|x| !(x.is_finite() && *x >= 0.0)) {
            return Err(Error::BadState {
                method: "nash_mtl".into(),
                detail: format!("the warm start must be finite and >= 0, got {s:?}"),
            });
        }
        self.alpha = s.to_vec();
        Ok(())
    }
    fn reset(&mut self) {
        self.alpha.clear();
        self.regularised = false;
    }
}

/// Damped Newton on f(β) = ½βᵀQβ − Σ log β until β ⊙ Qβ = 1 to rounding. `None` if it
/// does not get there in 200 iterations.
fn newton(q: &DMatrix<f64>, start: Option<&[f64]>) -> Option<Vec<f64>> {
    let k = q.nrows();
    let mut beta = DVector::from_element(k, 1.0);
    if let Some(s) = start {
        beta.copy_from_slice(s);
    }
    // Best multiple of the start along its ray: t² βᵀQβ = k.
    let quad = beta.dot(&(q * &beta));
    if quad > 0.0 {
        beta *= (k as f64 / quad).sqrt();
    }
    for _ in 0..200 {
        let qb = q * &beta;
        let grad = DVector::from_fn(k, |i, _| qb[i] - 1.0 / beta[i]);
        // β_i (Qβ)_i − 1 cannot be computed more accurately than the rounding of its terms,
        // ε β_i (|Q| β)_i, which dominates when the rows nearly cancel.
        let abs_qb = q.abs() * &beta;
        let converged = (0..k).all(|i| {
            (beta[i] * qb[i] - 1.0).abs() <= 1e-12 + 1e3 * f64::EPSILON * beta[i] * abs_qb[i]
        });
        if converged {
            return Some(beta.iter().cloned().collect());
        }
        let mut hess = q.clone();
        for i in 0..k {
            hess[(i, i)] += 1.0 / (beta[i] * beta[i]);
        }
        let step = -hess.cholesky()?.solve(&grad);
        let decrement = (-grad.dot(&step)).max(0.0).sqrt();
        let t = if decrement > 0.25 {
            1.0 / (1.0 + decrement)
        } else {
            1.0
        };
        beta += step * t;
        if beta.iter().any(|&b| !(b > 0.0 && b.is_finite())) {
            return None;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orthogonal_gradients_by_hand() {
        // G = diag(1, 4): α_i² G_ii = 1, α = (1, 1/2).
        let g = Gramian::from_row_major(2, vec![1.0, 0.0, 0.0, 4.0]).unwrap();
        let a = NashMtl::new().weights(&g).unwrap();
        assert!(
            (a[0] - 1.0).abs() < 1e-12 && (a[1] - 0.5).abs() < 1e-12,
            "{a:?}"
        );
    }

    #[test]
    fn solves_the_equation_and_warm_start_agrees() {
        let g = Gramian::from_row_major(3, vec![2.0, 0.5, -0.3, 0.5, 1.0, 0.2, -0.3, 0.2, 3.0])
            .unwrap();
        let mut n = NashMtl::new();
        let a = n.weights(&g).unwrap();
        let ga = g.mul_vec(&a);
        for i in 0..3 {
            assert!((a[i] * ga[i] - 1.0).abs() < 1e-12);
        }
        assert!(!n.last_was_regularised());
        let again = n.weights(&g).unwrap();
        for i in 0..3 {
            assert!((a[i] - again[i]).abs() < 1e-12 * a[i]);
        }
    }

    #[test]
    fn opposite_gradients_fall_back_to_the_regularised_solution() {
        let g = Gramian::from_row_major(2, vec![1.0, -1.0, -1.0, 1.0]).unwrap();
        let mut n = NashMtl::new();
        let a = n.weights(&g).unwrap();
        assert!(n.last_was_regularised());
        // (Ĝ + εI) β = 1/β with β = (b, b): ε b = 1/b.
        let b = 1.0 / REGULARISATION.sqrt();
        assert!((a[0] - b).abs() < 1e-6 * b && (a[1] - b).abs() < 1e-6 * b);
    }
}
