//! `mgda` and `mgda_ub`: the minimum-norm point of the convex hull of the task gradients,
//! w = argmin_{w ∈ Δ} wᵀGw, d = Jᵀw.
//!
//! O. Sener and V. Koltun, "Multi-Task Learning as Multi-Objective Optimization", NeurIPS 2018,
//! Eq. 3 (the dual of the steepest common descent direction, Désidéri's MGDA) and §3.2 (two
//! tasks in closed form, their Alg. 1). `mgda_ub` (their §3.3, "MGDA-UB") runs the same solve
//! on the gradients with respect to the shared representation z instead of the shared
//! parameters: same math, different input, so the trainer feeds it ∂L_k/∂z (the registry marks
//! its input as `representation`).
//!
//! Guarantees: w ∈ Δ; d = Jᵀw is the exact minimiser of ‖d‖ over the hull, characterised by the
//! KKT conditions ⟨g_j, d⟩ ≥ ‖d‖² for every j, with equality where w_j > 0; hence
//! ⟨g_j, d⟩ ≥ ‖d‖² ≥ 0 for every task (non-conflicting), and d = 0 iff the origin lies in the
//! hull (Pareto stationarity). d(sJ) = s d(J).
//!
//! Departure from the reference code: Sener & Koltun (and LibMTL) run 250 Frank–Wolfe
//! iterations, which only approximate the minimiser; we solve it exactly with Wolfe's
//! active-set algorithm ([`crate::solve::simplex`]) on the equilibrated Gramian, with the
//! closed form for m = 2. Their optional gradient normalisations ("l2", "loss") are not offered.

use crate::solve::{conic, simplex, Equilibrated};
use crate::weighting::solver_error;
use crate::{Error, Gramian, Weighting};

/// MGDA (or MGDA-UB, same math on representation gradients).
#[derive(Debug, Clone)]
pub struct Mgda {
    name: &'static str,
}

impl Mgda {
    /// `mgda` on parameter gradients.
    pub fn new() -> Mgda {
        Mgda { name: "mgda" }
    }

    /// `mgda_ub`: the same solve, fed with gradients w.r.t. the shared representation.
    pub fn upper_bound() -> Mgda {
        Mgda { name: "mgda_ub" }
    }
}

impl Default for Mgda {
    fn default() -> Self {
        Mgda::new()
    }
}

impl Weighting for Mgda {
    fn name(&self) -> &'static str {
        self.name
    }
    fn weights(&mut self, g: &Gramian) -> Result<Vec<f64>, Error> {
        min_norm_weights(g).ok_or_else(|| solver_error(self.name, g, "min-norm point"))
    }
}

/// argmin_{w ∈ Δ} wᵀGw (exact; `None` only if both Wolfe and clarabel fail).
pub fn min_norm_weights(g: &Gramian) -> Option<Vec<f64>> {
    let m = g.m();
    let mut w = vec![0.0; m];
    if m == 1 {
        return Some(vec![1.0]);
    }
    let eq = Equilibrated::new(g);
    if let Some(&z) = eq.zero_rows(m).first() {
        // A zero gradient is in the hull: d = 0.
        w[z] = 1.0;
        return Some(w);
    }
    if m == 2 {
        return Some(two_tasks(g));
    }
    let a: Vec<f64> = eq.norms.iter().map(|s| 1.0 / s).collect();
    let v = simplex::min_norm_point(&eq.g, &a).or_else(|| conic::simplex_qp(&eq.g, &a))?;
    for ((wi, vi), s) in w.iter_mut().zip(&v).zip(&eq.norms) {
        *wi = vi / s;
    }
    let total: f64 = w.iter().sum();
    w.iter_mut().for_each(|x| *x /= total);
    Some(w)
}

/// Sener & Koltun §3.2: w_1 = clip(⟨g_2 − g_1, g_2⟩ / ‖g_1 − g_2‖², 0, 1).
/// The vertex cases are decided first from the signs of b − a and c − b, which G resolves
/// even when ‖g_1 − g_2‖² is below its rounding; both weights are formed directly (not as
/// 1 − w_1) so the small one keeps its relative precision when the norms differ widely.
fn two_tasks(g: &Gramian) -> Vec<f64> {
    let (a, b, c) = (g.get(0, 0), g.get(0, 1), g.get(1, 1));
    // ⟨g_1, g_2 − g_1⟩ = b − a ≥ 0: g_1 is the nearest point; likewise for g_2.
    match (b >= a, b >= c) {
        (true, true) if a <= c => vec![1.0, 0.0],
        (true, true) => vec![0.0, 1.0],
        (true, false) => vec![1.0, 0.0],
        (false, true) => vec![0.0, 1.0],
        (false, false) => {
            // Both differences are positive, so ‖g_1 − g_2‖² = (a − b) + (c − b) > 0.
            let denom = (a - b) + (c - b);
            vec![(c - b) / denom, (a - b) / denom]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::DMatrix;

    fn gram(rows: &[&[f64]]) -> Gramian {
        let m = rows.len();
        let data = (0..m * m)
            .map(|k| {
                rows[k / m]
                    .iter()
                    .zip(rows[k % m])
                    .map(|(a, b)| a * b)
                    .sum()
            })
            .collect();
        Gramian::from_row_major(m, data).unwrap()
    }

    #[test]
    fn two_tasks_by_hand() {
        // g1 = (1, 0), g2 = (0, 2): min over t of ‖(t, 2(1 − t))‖² gives t = 4/5.
        let w = min_norm_weights(&gram(&[&[1.0, 0.0], &[0.0, 2.0]])).unwrap();
        assert!((w[0] - 0.8).abs() < 1e-15 && (w[1] - 0.2).abs() < 1e-15);
        // g2 = 2 g1: the hull's nearest point is g1.
        assert_eq!(
            min_norm_weights(&gram(&[&[1.0, 1.0], &[2.0, 2.0]])).unwrap(),
            vec![1.0, 0.0]
        );
    }

    #[test]
    fn closed_form_agrees_with_wolfe() {
        for rows in [
            [[1.0, 0.3, -2.0], [0.5, -1.0, 1.0]],
            [[1e-4, 2e-4, 0.0], [1e4, -3e4, 5e3]],
            [[3.0, 1.0, 1.0], [-3.0, -1.0, -1.0]],
        ] {
            let g = gram(&[&rows[0], &rows[1]]);
            let cf = two_tasks(&g);
            let eq = Equilibrated::new(&g);
            let a: Vec<f64> = eq.norms.iter().map(|s| 1.0 / s).collect();
            let v = simplex::min_norm_point(&eq.g, &a).unwrap();
            for k in 0..2 {
                let w = v[k] / eq.norms[k];
                assert!(
                    (w - cf[k]).abs() <= 1e-12 * cf[k].max(1e-300),
                    "{w} vs {cf:?}"
                );
            }
        }
    }

    #[test]
    fn agrees_with_clarabel_on_a_fixed_instance() {
        let rows: Vec<Vec<f64>> = (0..6)
            .map(|i| {
                (0..4)
                    .map(|k| ((i * 7 + k * 3) % 11) as f64 - 5.0)
                    .collect()
            })
            .collect();
        let refs: Vec<&[f64]> = rows.iter().map(|r| r.as_slice()).collect();
        let g = gram(&refs);
        let w = min_norm_weights(&g).unwrap();
        let q = DMatrix::from_row_slice(6, 6, g.as_slice());
        let wc = conic::simplex_qp(&q, &[1.0; 6]).unwrap();
        let (f, fc) = (g.quad(&w, &w), g.quad(&wc, &wc));
        assert!(f <= fc + 1e-9 * g.max_diagonal(), "{f} vs clarabel {fc}");
    }
}
