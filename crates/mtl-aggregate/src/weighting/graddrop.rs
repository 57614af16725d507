//! `graddrop`: gradient sign dropout (needs J itself).
//!
//! Z. Chen et al., "Just Pick a Sign: Optimizing Deep Multitask Models with Gradient Sign
//! Dropout", NeurIPS 2020, Alg. 1 / Eq. 1–3: per coordinate c, the positive sign purity
//! P_c = ½ (1 + Σ_i g_ic / Σ_i |g_ic|); draw U_c ~ U[0, 1); task i keeps g_ic if
//! (P_c > U_c and g_ic > 0) or (P_c < U_c and g_ic < 0); with leak ℓ,
//! d_c = Σ_i ℓ g_ic + (1 − ℓ) M_ic g_ic.
//!
//! Parameters: `leak` ∈ [0, 1] (default 0: pure GradDrop), `seed`.
//! Guarantees: in every coordinate all kept components share one sign, so with ℓ = 0
//! sign(d_c) agrees with every kept g_ic and |d_c| ≤ Σ_i |g_ic|; ℓ = 1 gives the sum; d is
//! linear in J at equal state (P is scale-free). Not a weighting: `weights` is `None`.
//!
//! Departures: the paper applies it to gradients w.r.t. activations (per sample) at the
//! dropout layer; like LibMTL we apply it to the shared-parameter Jacobian. A coordinate with
//! Σ|g_ic| = 0 is 0 in every task (LibMTL adds 1e-7 to the denominator instead).
//! Randomness: one uniform per coordinate per call from the counter-based stream; `state()`
//! saves (seed, counter).

use crate::solve::rng::Stream;
use crate::weighting::{Aggregation, Aggregator};
use crate::{Error, JacobianRef};

/// GradDrop.
#[derive(Debug, Clone)]
pub struct GradDrop {
    leak: f64,
    seed: u64,
    rng: Stream,
}

impl GradDrop {
    /// `leak` ∈ [0, 1] (checked by the registry) and the mask's `seed`.
    pub fn new(leak: f64, seed: u64) -> GradDrop {
        GradDrop {
            leak,
            seed,
            rng: Stream::new(seed),
        }
    }
}

impl Aggregator for GradDrop {
    fn name(&self) -> &'static str {
        "graddrop"
    }
    fn aggregate(&mut self, j: JacobianRef) -> Result<Aggregation, Error> {
        j.check_finite()?;
        let (m, n) = (j.m(), j.n());
        let mut d = vec![0.0; n];
        for (c, out) in d.iter_mut().enumerate() {
            let u = self.rng.uniform();
            let (mut sum, mut abs) = (0.0, 0.0);
            for i in 0..m {
                let x = j.data()[i * n + c];
                sum += x;
                abs += x.abs();
            }
            if abs == 0.0 {
                continue;
            }
            let p = 0.5 * (1.0 + sum / abs);
            let mut acc = 0.0;
            for i in 0..m {
                let x = j.data()[i * n + c];
                let keep = (p > u && x > 0.0) || (p < u && x < 0.0);
                acc += if keep { x } else { self.leak * x };
            }
            *out = acc;
        }
        Ok(Aggregation {
            direction: d,
            weights: None,
        })
    }
    fn needs_jacobian(&self) -> bool {
        true
    }
    fn state(&self) -> Vec<f64> {
        self.rng.state().to_vec()
    }
    fn load_state(&mut self, s: &[f64]) -> Result<(), Error> {
        self.rng.load_state("graddrop", s)
    }
    fn reset(&mut self) {
        self.rng = Stream::new(self.seed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agreeing_signs_pass_and_the_mask_follows_the_stream() {
        // Column 0: all positive (P = 1 > U): kept. Column 1: +3 and -1, P = 0.75.
        let data = [2.0, 3.0, 1.0, -1.0];
        let j = JacobianRef::new(&data, 2, 2).unwrap();
        let d = GradDrop::new(0.0, 4).aggregate(j).unwrap().direction;
        assert_eq!(d[0], 3.0);
        let mut s = Stream::new(4);
        let _ = s.uniform();
        let u = s.uniform();
        assert_eq!(d[1], if 0.75 > u { 3.0 } else { -1.0 });
        // leak = 1 is the plain sum.
        let d = GradDrop::new(1.0, 4).aggregate(j).unwrap().direction;
        assert_eq!(d, vec![3.0, 2.0]);
    }
}
