//! Random loss weighting (Lin et al. 2022, "Reasonable Effectiveness of Random Weighting",
//! §3): each step, w = softmax(z) with z ~ N(0, I_K). The draws are a pure function of
//! (seed, step), so a resumed run replays them with no state to save.

use anyhow::Result;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr_free::standard_normal;
use std::collections::HashMap;
use tch::Tensor;

use super::{weighted_sum, Ctx, LossWeighting};

/// RLW.
pub struct Rlw {
    seed: u64,
}

impl Rlw {
    /// Draws seeded by `seed`.
    pub fn new(seed: u64) -> Self {
        Self { seed }
    }

    /// The weights of `step` for `k` tasks.
    pub fn weights(&self, step: usize, k: usize) -> Vec<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(
            self.seed ^ (step as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        let z: Vec<f64> = (0..k).map(|_| standard_normal(&mut rng)).collect();
        let m = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = z.iter().map(|v| (v - m).exp()).collect();
        let s: f64 = e.iter().sum();
        e.iter().map(|v| v / s).collect()
    }
}

/// Standard normal draws by Box–Muller (keeps `rand_distr` out of the build).
mod rand_distr_free {
    use rand::Rng;

    /// One N(0, 1) draw.
    pub fn standard_normal<R: Rng>(rng: &mut R) -> f64 {
        let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
        let u2: f64 = rng.random();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

impl LossWeighting for Rlw {
    fn combine(&mut self, losses: &[Tensor], ctx: &Ctx) -> Result<(Tensor, Vec<f64>)> {
        let w = self.weights(ctx.step, losses.len());
        Ok((weighted_sum(losses, &w), w))
    }

    fn state(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }

    fn load_state(&mut self, _state: &HashMap<String, Tensor>) -> Result<()> {
        Ok(())
    }
}
