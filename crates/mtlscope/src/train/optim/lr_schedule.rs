//! Learning-rate schedules: the rate of optimizer step s (0-based) as a function of s alone,
//! so a resumed run sets the same rates as an uninterrupted one without schedule state.
//!
//! - `constant`: `optim.lr` (Mueller et al. 2025); returned as is, so runs without a
//!   schedule are bit-identical to those from before schedules existed.
//! - `step`: lr · γ^⌊e / n⌋ in epoch e = ⌊s / steps_per_epoch⌋, n = `lr_step_epochs`,
//!   γ = `lr_gamma`: `torch.optim.lr_scheduler.StepLR(step_size = n, gamma = γ)` with
//!   `scheduler.step()` once per epoch. Elich et al. halve the rate every 100 epochs.
//!   Departure: we use StepLR's closed form (`_get_closed_form_lr`) rather than its
//!   chained in-place products, because it needs no state; the two agree exactly when γ is
//!   a power of two (0.5) and up to floating-point rounding otherwise.

use crate::config::{LrScheduleKind, OptimConfig};

/// The rate of each step of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct LrSchedule {
    base: f64,
    kind: LrScheduleKind,
    step_epochs: usize,
    gamma: f64,
    steps_per_epoch: usize,
}

impl LrSchedule {
    /// From `[optim]` and the run's steps per epoch (at least 1).
    pub fn new(cfg: &OptimConfig, steps_per_epoch: usize) -> Self {
        Self {
            base: cfg.lr,
            kind: cfg.lr_schedule,
            step_epochs: cfg.lr_step_epochs.max(1),
            gamma: cfg.lr_gamma,
            steps_per_epoch: steps_per_epoch.max(1),
        }
    }

    /// The learning rate of step `step` (0-based: the step that moves the parameters from
    /// `step` to `step + 1` updates).
    pub fn lr(&self, step: usize) -> f64 {
        match self.kind {
            LrScheduleKind::Constant => self.base,
            LrScheduleKind::Step => {
                let epoch = step / self.steps_per_epoch;
                let decays = (epoch / self.step_epochs).min(i32::MAX as usize) as i32;
                self.base * self.gamma.powi(decays)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step_cfg(lr: f64, n: usize, gamma: f64) -> OptimConfig {
        OptimConfig {
            lr,
            lr_schedule: LrScheduleKind::Step,
            lr_step_epochs: n,
            lr_gamma: gamma,
            ..Default::default()
        }
    }

    #[test]
    fn constant_is_the_configured_rate_bit_for_bit() {
        let cfg = OptimConfig {
            lr: 0.1,
            ..Default::default()
        };
        let s = LrSchedule::new(&cfg, 7);
        for step in [0, 1, 699, 700, 10_000_000] {
            assert_eq!(s.lr(step).to_bits(), 0.1f64.to_bits());
        }
    }

    /// Elich et al.'s setting, by hand: 3 steps an epoch, ×0.5 every 100 epochs, so steps
    /// 0..=299 run at 1e-3, 300..=599 at 5e-4, 600.. at 2.5e-4.
    #[test]
    fn step_halves_every_n_epochs() {
        let s = LrSchedule::new(&step_cfg(1e-3, 100, 0.5), 3);
        assert_eq!(s.lr(0), 1e-3);
        assert_eq!(s.lr(299), 1e-3);
        assert_eq!(s.lr(300), 5e-4);
        assert_eq!(s.lr(599), 5e-4);
        assert_eq!(s.lr(600), 2.5e-4);
        assert_eq!(s.lr(3000), 1e-3 / 1024.0);
    }

    /// StepLR(step_size = 2, gamma = 0.1) stepped once per epoch gives the epochs
    /// 0, 1 | 2, 3 | 4 the rates 1, 1 | 0.1, 0.1 | 0.01 (closed form, up to rounding).
    #[test]
    fn step_matches_step_lr_with_a_non_power_of_two_gamma() {
        let s = LrSchedule::new(&step_cfg(1.0, 2, 0.1), 5);
        let want = [1.0, 1.0, 0.1, 0.1, 0.01];
        for (epoch, w) in want.iter().enumerate() {
            for i in [0, 4] {
                let got = s.lr(epoch * 5 + i);
                assert!((got - w).abs() <= 1e-15, "epoch {epoch}: {got} vs {w}");
            }
        }
    }

    #[test]
    fn gamma_one_is_constant() {
        let s = LrSchedule::new(&step_cfg(0.3, 1, 1.0), 2);
        assert_eq!(s.lr(0), 0.3);
        assert_eq!(s.lr(1_000_001), 0.3);
    }
}
