//! `cagrad`: conflict-averse gradient descent.
//!
//! B. Liu, X. Liu, X. Jin, P. Stone and Q. Liu, "Conflict-Averse Gradient Descent for
//! Multi-task Learning", NeurIPS 2021, Eq. 3 (primal: max_d min_i ⟨g_i, d⟩ s.t.
//! ‖d − g0‖ ≤ c‖g0‖) and its dual, Eq. 5 / Alg. 1:
//! w* = argmin_{w ∈ Δ} g_wᵀg0 + c‖g0‖‖g_w‖ with g0 = mean of the rows and g_w = Jᵀw;
//! d = g0 + (c‖g0‖ / ‖g_w*‖) g_w*, divided by 1 (`rescale=0`), 1 + c² (`rescale=1`, the
//! paper's default) or 1 + c (`rescale=2`).
//!
//! Parameters: `c ≥ 0` (default 0.4), `rescale ∈ {0, 1, 2}` (default 1).
//!
//! Guarantees: before rescaling, d solves the primal, so ‖d − g0‖ = c‖g0‖ when g_w* ≠ 0 and no
//! vector in that ball has a larger worst-case inner product min_i ⟨g_i, d⟩; c = 0 gives the
//! mean; d(sJ) = s d(J). When the primal optimum is 0 (the origin minimises the dual, e.g. two
//! opposite gradients) every non-conflicting point of the ball is optimal and we return the
//! one closest to g0, the projection of g0 onto {x : Jx ≥ 0} (so `cagrad` then agrees with
//! `dualproj`); more generally that projection is used whenever it lies in the ball and is
//! at least as good in the worst task (a tie-break among primal optima).
//!
//! The dual is a second-order-cone program: min_{w, t} g0ᵀ g_w + c‖g0‖ t with w ∈ Δ and
//! ‖Fᵀw‖ ≤ t, F Fᵀ = G, posed in the equilibrated variables ‖g_i‖ w_i (so that gradient
//! norms far apart do not cost precision) and on G/max_i G_ii. It is solved by `clarabel`
//! ([`crate::solve::conic::cagrad_socp`]) to a relative gap of 1e-12. The direction is read
//! from the multiplier ζ of the cone constraint, which is the primal solution itself
//! (d = g0 − ζ in the coordinates of F), rather than formed as g0 + (c‖g0‖/‖g_w*‖) g_w*: the
//! two agree at the optimum, but the latter divides by ‖g_w*‖, which is ill-determined when
//! it is small (an interior-point w* is accurate to ~1e-8).
//!
//! Departure from the reference code: Liu et al. (and LibMTL) solve the dual with SciPy's SLSQP
//! from the uniform start, add 1e-8 under the square root and 1e-4 to ‖g_w‖; we solve the SOCP
//! to interior-point precision, read d from its multiplier and break ties among primal optima
//! as above.

use crate::solve::{conic, dual_cone, eigen::PsdEigen, Equilibrated};
use crate::weighting::solver_error;
use crate::{Error, Gramian, Weighting};

/// CAGrad with radius factor `c` and a rescaling mode.
#[derive(Debug, Clone)]
pub struct CaGrad {
    c: f64,
    rescale: u8,
}

impl CaGrad {
    /// `c ≥ 0`, `rescale ∈ {0, 1, 2}` (checked by the registry).
    pub fn new(c: f64, rescale: u8) -> CaGrad {
        CaGrad { c, rescale }
    }

    fn divisor(&self) -> f64 {
        match self.rescale {
            0 => 1.0,
            1 => 1.0 + self.c * self.c,
            _ => 1.0 + self.c,
        }
    }
}

impl Weighting for CaGrad {
    fn name(&self) -> &'static str {
        "cagrad"
    }
    fn weights(&mut self, g: &Gramian) -> Result<Vec<f64>, Error> {
        let m = g.m();
        let mean = 1.0 / m as f64;
        let mut w = vec![mean; m];
        let scale = g.max_diagonal();
        let g0_sq = g.quad(&w, &w);
        if self.c == 0.0 || scale <= 0.0 || g0_sq <= 0.0 {
            // The ball has radius 0: d = g0.
            w.iter_mut().for_each(|x| *x /= self.divisor());
            return Ok(w);
        }
        // Work on the equilibrated Gramian Ĝ = F̂ F̂ᵀ (F̂ = V Λ^{1/2} over its nonzero
        // eigenvalues) in the variables v_i = ‖g_i‖ w_i, with norms relative to the largest:
        // the dual becomes min l̂ᵀv + r‖F̂ᵀv‖, v ≥ 0, Σ v_i/s_i = 1, l̂ = S⁻¹ G 1/m.
        // Zero rows are left out of the cone program (the tie-break below covers them).
        let eq = Equilibrated::new(g);
        let s: Vec<f64> = eq.norms.iter().map(|x| x / scale.sqrt()).collect();
        let e = PsdEigen::new(eq.g.clone());
        let nz = e.nonzero();
        let k = eq.kept.len();
        let f = nalgebra::DMatrix::from_fn(k, nz.len(), |i, c| {
            e.vectors[(i, nz[c])] * e.values[nz[c]].sqrt()
        });
        let g1 = g.mul_vec(&w); // G 1/m
        let l: Vec<f64> = (0..k).map(|a| g1[eq.kept[a]] / scale / s[a]).collect();
        let a: Vec<f64> = s.iter().map(|x| 1.0 / x).collect();
        let r = self.c * (g0_sq / scale).sqrt();
        let sol = conic::cagrad_socp(&f, &l, &a, r)
            .ok_or_else(|| solver_error("cagrad", g, "second-order-cone program"))?;
        // The multiplier ζ is the primal step y − f̄ = −ζ in the coordinates of F = S F̂; back
        // to weights through F̂ᵀ S u = ζ: u = 1/m − S⁻¹ V Λ^{-1/2} ζ. (Its error in d is
        // ‖δζ‖, never amplified.)
        for (c, &j) in nz.iter().enumerate() {
            let coef = sol.zeta[c] / e.values[j].sqrt();
            for (b, vi) in e.vectors.column(j).iter().enumerate() {
                w[eq.kept[b]] -= coef * vi / s[b];
            }
        }
        // When the primal optimum is 0 it is not unique: every point of the ball with
        // ⟨g_i, d⟩ ≥ 0 for all i is optimal, and the projection of g0 onto that cone
        // (DualProj's direction) is the one closest to g0. Use it whenever it is in the ball
        // and at least as good in the worst task.
        let u0 = vec![mean; m];
        if let Some(p) = dual_cone::project_weights(g, &eq, &u0) {
            let diff: Vec<f64> = p.iter().zip(&u0).map(|(a, b)| a - b).collect();
            let in_ball = g.quad(&diff, &diff) <= self.c * self.c * g0_sq * (1.0 + 1e-9);
            let worst = |u: &[f64]| g.mul_vec(u).into_iter().fold(f64::INFINITY, f64::min);
            let tol = 1e-9 * scale.sqrt() * g0_sq.sqrt();
            if in_ball && worst(&p) >= worst(&w) - tol {
                w = p;
            }
        }
        w.iter_mut().for_each(|x| *x /= self.divisor());
        Ok(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gram2(g1: [f64; 2], g2: [f64; 2]) -> Gramian {
        let d = |a: [f64; 2], b: [f64; 2]| a[0] * b[0] + a[1] * b[1];
        Gramian::from_row_major(2, vec![d(g1, g1), d(g1, g2), d(g2, g1), d(g2, g2)]).unwrap()
    }

    #[test]
    fn primal_optimum_matches_a_fine_grid_for_two_tasks() {
        let (g1, g2) = ([1.0, 0.2], [-0.5, 2.0]);
        let g = gram2(g1, g2);
        let c = 0.4;
        let g0 = [(g1[0] + g2[0]) / 2.0, (g1[1] + g2[1]) / 2.0];
        let r = c * (g0[0] * g0[0] + g0[1] * g0[1]).sqrt();
        let worst = |d: [f64; 2]| (g1[0] * d[0] + g1[1] * d[1]).min(g2[0] * d[0] + g2[1] * d[1]);
        // Polar grid over the disk ‖d − g0‖ ≤ r.
        let mut best = f64::NEG_INFINITY;
        for a in 0..20_000 {
            let t = a as f64 / 20_000.0 * std::f64::consts::TAU;
            for k in 0..=10 {
                let rho = r * k as f64 / 10.0;
                best = best.max(worst([g0[0] + rho * t.cos(), g0[1] + rho * t.sin()]));
            }
        }
        let w = CaGrad::new(c, 0).weights(&g).unwrap();
        let d = [w[0] * g1[0] + w[1] * g2[0], w[0] * g1[1] + w[1] * g2[1]];
        let dist = ((d[0] - g0[0]).powi(2) + (d[1] - g0[1]).powi(2)).sqrt();
        assert!(dist <= r * (1.0 + 1e-9), "{dist} > {r}");
        assert!(worst(d) >= best - 1e-8, "{} vs grid {}", worst(d), best);
        assert!(worst(d) <= best + 1e-6, "{} vs grid {}", worst(d), best);
    }

    #[test]
    fn c_zero_is_the_mean_and_rescale_divides() {
        let g = gram2([1.0, 0.0], [-1.0, 1.0]);
        assert_eq!(CaGrad::new(0.0, 1).weights(&g).unwrap(), vec![0.5, 0.5]);
        let w0 = CaGrad::new(0.5, 0).weights(&g).unwrap();
        let w1 = CaGrad::new(0.5, 1).weights(&g).unwrap();
        let w2 = CaGrad::new(0.5, 2).weights(&g).unwrap();
        for k in 0..2 {
            assert!((w1[k] * 1.25 - w0[k]).abs() < 1e-15);
            assert!((w2[k] * 1.5 - w0[k]).abs() < 1e-15);
        }
    }
}
