//! `gradvac`: gradient vaccine.
//!
//! Z. Wang, Y. Tsvetkov, O. Firat and Y. Cao, "Gradient Vaccine: Investigating and Improving
//! Multi-task Optimization in Massively Multilingual Models", ICLR 2021, Alg. 1 and Eq. 3–4:
//! for each task i, g_i' starts at g_i; over the other tasks j in a random order, with
//! φ = cos(g_i', g_j) and the target φ̂_ij: if φ < φ̂_ij,
//! g_i' ← g_i' + ‖g_i'‖ (φ̂ √(1−φ²) − φ √(1−φ̂²)) / (‖g_j‖ √(1−φ̂²)) g_j; then
//! φ̂_ij ← (1−β) φ̂_ij + β φ (always, with the φ measured before the update). d = Σ_i g_i'.
//!
//! As for PCGrad, g_i' = Jᵀc_i stays in the row space and every cosine and norm is a
//! quadratic form of G, so this is an exact Gramian weighting.
//!
//! Parameters: `beta` ∈ (0, 1] (default 0.01, the paper's EMA rate), `seed` (the order).
//! State (`state()`): the m x m targets φ̂ (initially 0, as in the reference code), then the
//! random stream's (seed, counter); targets are re-initialised when m changes.
//!
//! Guarantees: after its update against task j, cos(g_i', g_j) = φ̂_ij (the target, reached
//! exactly); with φ̂ = 0 and two tasks the first step equals PCGrad's projection; d(sJ) = s d(J)
//! at equal state (cosines are scale-free).
//!
//! Departures: the paper (and LibMTL) apply the rule per layer or parameter group; here it acts
//! on the whole shared gradient (the "global" variant; the trainer can call one instance per
//! group). Zero gradients have no angle: pairs with ‖g_i'‖ = 0 or ‖g_j‖ = 0 are skipped, and
//! φ is clamped to [−1, 1] against rounding.

use crate::solve::rng::Stream;
use crate::{Error, Gramian, Weighting};

/// GradVac with per-pair EMA targets.
#[derive(Debug, Clone)]
pub struct GradVac {
    beta: f64,
    seed: u64,
    rng: Stream,
    m: usize,
    targets: Vec<f64>,
}

impl GradVac {
    /// EMA rate `beta` ∈ (0, 1] (checked by the registry) and the order's `seed`.
    pub fn new(beta: f64, seed: u64) -> GradVac {
        GradVac {
            beta,
            seed,
            rng: Stream::new(seed),
            m: 0,
            targets: Vec::new(),
        }
    }

    /// The targets φ̂ (row-major m x m; empty before the first call).
    pub fn targets(&self) -> &[f64] {
        &self.targets
    }
}

impl Weighting for GradVac {
    fn name(&self) -> &'static str {
        "gradvac"
    }
    fn weights(&mut self, g: &Gramian) -> Result<Vec<f64>, Error> {
        let m = g.m();
        if self.m != m {
            self.m = m;
            self.targets = vec![0.0; m * m];
        }
        let mut w = vec![0.0; m];
        let mut order = Vec::with_capacity(m);
        for i in 0..m {
            order.clear();
            order.extend((0..m).filter(|&j| j != i));
            self.rng.shuffle(&mut order);
            let mut c = vec![0.0; m];
            c[i] = 1.0;
            let mut gc: Vec<f64> = (0..m).map(|k| g.get(k, i)).collect();
            let mut norm_sq = g.get(i, i);
            for &j in &order {
                let nj = g.get(j, j).sqrt();
                let ni = norm_sq.max(0.0).sqrt();
                if !(ni > 0.0 && nj > 0.0) {
                    continue;
                }
                let phi = (gc[j] / (ni * nj)).clamp(-1.0, 1.0);
                let target = self.targets[i * m + j];
                if phi < target {
                    let coef = ni
                        * (target * (1.0 - phi * phi).sqrt()
                            - phi * (1.0 - target * target).sqrt())
                        / (nj * (1.0 - target * target).sqrt());
                    // ‖g_i' + coef g_j‖² = ‖g_i'‖² + 2 coef ⟨g_i', g_j⟩ + coef² ‖g_j‖².
                    norm_sq += 2.0 * coef * gc[j] + coef * coef * nj * nj;
                    c[j] += coef;
                    for (k, v) in gc.iter_mut().enumerate() {
                        *v += coef * g.get(k, j);
                    }
                }
                self.targets[i * m + j] = (1.0 - self.beta) * target + self.beta * phi;
            }
            for (a, b) in w.iter_mut().zip(&c) {
                *a += b;
            }
        }
        Ok(w)
    }
    fn state(&self) -> Vec<f64> {
        let mut s = self.targets.clone();
        s.extend(self.rng.state());
        s
    }
    fn load_state(&mut self, s: &[f64]) -> Result<(), Error> {
        let k = s
            .len()
            .checked_sub(Stream::STATE_LEN)
            .ok_or_else(|| Error::BadState {
                method: "gradvac".into(),
                detail: format!(
                    "expected m*m targets then 4 stream values, got {} values",
                    s.len()
                ),
            })?;
        let m = (k as f64).sqrt().round() as usize;
        if m * m != k || s[..k].iter().any(|x| !(-1.0..=1.0).contains(x)) {
            return Err(Error::BadState {
                method: "gradvac".into(),
                detail: format!("expected m*m targets in [-1, 1] then 4 stream values, got {s:?}"),
            });
        }
        self.rng.load_state("gradvac", &s[k..])?;
        self.m = m;
        self.targets = s[..k].to_vec();
        Ok(())
    }
    fn reset(&mut self) {
        *self = GradVac::new(self.beta, self.seed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_step_with_zero_targets_is_pcgrads_projection() {
        // φ̂ = 0: coef = -‖g_i‖ φ / ‖g_j‖ = -⟨g_i, g_j⟩/‖g_j‖², PCGrad's step.
        let g = Gramian::from_row_major(2, vec![1.0, -1.0, -1.0, 5.0]).unwrap();
        let w = GradVac::new(0.01, 0).weights(&g).unwrap();
        assert!(
            (w[0] - 2.0).abs() < 1e-15 && (w[1] - 1.2).abs() < 1e-15,
            "{w:?}"
        );
    }

    #[test]
    fn reaches_the_target_cosine_and_updates_the_ema() {
        // g1 = (1, 0), g2 = (0, 1): φ = 0. With φ̂_12 = 0.5, g1' = g1 + coef g2 must have
        // cosine 0.5 with g2: coef = 1/√3.
        let g = Gramian::from_row_major(2, vec![1.0, 0.0, 0.0, 1.0]).unwrap();
        let mut v = GradVac::new(0.1, 0);
        let mut state = vec![0.0, 0.5, 0.0, 0.0];
        state.extend(Stream::new(0).state());
        v.load_state(&state).unwrap();
        let w = v.weights(&g).unwrap();
        assert!((w[1] - (1.0 + 1.0 / 3f64.sqrt())).abs() < 1e-15, "{w:?}");
        assert!((v.targets()[1] - 0.45).abs() < 1e-15);
        let saved = v.state();
        let next = v.weights(&g).unwrap();
        let mut other = GradVac::new(0.1, 99);
        other.load_state(&saved).unwrap();
        assert_eq!(other.weights(&g).unwrap(), next);
    }
}
