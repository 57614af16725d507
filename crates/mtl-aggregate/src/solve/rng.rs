//! A counter-based random stream: draw k of seed s is SplitMix64's k-th output,
//! `mix(s + (k + 1) γ)` (Steele, Lea & Flood 2014, "Fast splittable pseudorandom number
//! generators", Fig. 1; constants of Vigna's `splitmix64.c`). The state is (seed, counter), so
//! saving and restoring the counter restores the stream exactly.

use crate::Error;

const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A seeded, restorable stream of random numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stream {
    seed: u64,
    counter: u64,
}

impl Stream {
    /// Number of f64 values in [`Stream::state`].
    pub const STATE_LEN: usize = 4;

    /// A fresh stream.
    pub fn new(seed: u64) -> Stream {
        Stream { seed, counter: 0 }
    }

    /// Draws taken so far.
    pub fn counter(&self) -> u64 {
        self.counter
    }

    /// Back to draw 0.
    pub fn reset(&mut self) {
        self.counter = 0;
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.counter = self.counter.wrapping_add(1);
        mix(self.seed.wrapping_add(self.counter.wrapping_mul(GAMMA)))
    }

    /// Uniform on [0, 1) with 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform integer in [0, k) (Lemire's multiply-shift; bias below 2^-64 k).
    pub fn below(&mut self, k: usize) -> usize {
        ((self.next_u64() as u128 * k as u128) >> 64) as usize
    }

    /// Standard normal by Box–Muller (two draws per sample, the second discarded, so that
    /// the number of draws per sample is fixed).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform(); // in (0, 1]
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Shuffles `v` in place (Fisher–Yates).
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
    }

    /// (seed, counter) as four f64 holding 32 bits each, exact.
    pub fn state(&self) -> [f64; 4] {
        let h = |x: u64| (x >> 32) as f64;
        let l = |x: u64| (x & 0xFFFF_FFFF) as f64;
        [h(self.seed), l(self.seed), h(self.counter), l(self.counter)]
    }

    /// Restores what [`Stream::state`] saved.
    pub fn load_state(&mut self, method: &str, s: &[f64]) -> Result<(), Error> {
        let bad = || Error::BadState {
            method: method.to_string(),
            detail: format!(
                "expected {} integers in [0, 2^32) (seed and counter), got {:?}",
                Self::STATE_LEN,
                s
            ),
        };
        if s.len() != Self::STATE_LEN {
            return Err(bad());
        }
        let mut words = [0u64; 4];
        for (w, &x) in words.iter_mut().zip(s) {
            if !(0.0..=u32::MAX as f64).contains(&x) || x.fract() != 0.0 {
                return Err(bad());
            }
            *w = x as u64;
        }
        self.seed = (words[0] << 32) | words[1];
        self.counter = (words[2] << 32) | words[3];
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_reference_values() {
        // Vigna's splitmix64.c with x = 1234567 gives these first outputs.
        let mut s = Stream::new(1234567);
        assert_eq!(s.next_u64(), 6457827717110365317);
        assert_eq!(s.next_u64(), 3203168211198807973);
        assert_eq!(s.next_u64(), 9817491932198370423);
    }

    #[test]
    fn state_round_trip_restores_the_stream() {
        let mut a = Stream::new(u64::MAX - 3);
        for _ in 0..5 {
            a.next_u64();
        }
        let saved = a.state();
        let want: Vec<u64> = (0..4).map(|_| a.next_u64()).collect();
        let mut b = Stream::new(0);
        b.load_state("t", &saved).unwrap();
        let got: Vec<u64> = (0..4).map(|_| b.next_u64()).collect();
        assert_eq!(want, got);
        assert!(b.load_state("t", &[1.0]).is_err());
        assert!(b.load_state("t", &[0.5, 0.0, 0.0, 0.0]).is_err());
    }

    #[test]
    fn uniform_and_normal_moments() {
        let mut s = Stream::new(7);
        let k = 200_000;
        let u: Vec<f64> = (0..k).map(|_| s.uniform()).collect();
        let mean = u.iter().sum::<f64>() / k as f64;
        assert!((mean - 0.5).abs() < 0.005);
        assert!(u.iter().all(|&x| (0.0..1.0).contains(&x)));
        let z: Vec<f64> = (0..k).map(|_| s.normal()).collect();
        let mean = z.iter().sum::<f64>() / k as f64;
        let var = z.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / k as f64;
        assert!(mean.abs() < 0.01 && (var - 1.0).abs() < 0.02);
        let mut v: Vec<usize> = (0..10).collect();
        s.shuffle(&mut v);
        let mut sorted = v.clone();
        sorted.sort();
        assert_eq!(sorted, (0..10).collect::<Vec<_>>());
    }
}
