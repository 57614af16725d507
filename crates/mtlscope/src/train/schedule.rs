//! When a run evaluates: a pure function of the step, so a resumed run evaluates (and seeds its
//! probes by evaluation index) exactly as the uninterrupted run did.
//!
//! - `epoch` schedule: step 0, every `every` steps (`train.eval_every`, 0 = one epoch), and the
//!   last step.
//! - `log` schedule: the `epoch` schedule plus geometrically spaced steps inside the first
//!   `train.eval_log_epochs` epochs, `train.eval_per_decade` of them per decade of steps:
//!   round(10^(j/k)) for j = 0, 1, 2, ... (k = points per decade), deduplicated. At one evaluation
//!   per epoch the first epoch already takes FashionMTL's training loss from 2.3 to about 0.5,
//!   so the early phase of Mueller et al. (2025, §3, Fig. 1) needs these points.
use crate::config::{EvalSchedule, TrainConfig};

/// The evaluation steps of one run. Small and `Copy`: every query is arithmetic on the step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// Regular grid: every `every` steps (≥ 1).
    every: usize,
    /// Geometric points per decade (0: none, the `epoch` schedule).
    per_decade: usize,
    /// Geometric points lie in [1, log_end).
    log_end: usize,
    /// Last step (always evaluated).
    total: usize,
}

impl Schedule {
    /// The schedule of a run with `steps_per_epoch` steps per epoch and `total` steps.
    pub fn new(cfg: &TrainConfig, steps_per_epoch: usize, total: usize) -> Self {
        let every = if cfg.eval_every == 0 {
            steps_per_epoch.max(1)
        } else {
            cfg.eval_every
        };
        let (per_decade, log_end) = match cfg.eval_schedule {
            EvalSchedule::Epoch => (0, 0),
            EvalSchedule::Log => (
                cfg.eval_per_decade,
                cfg.eval_log_epochs
                    .saturating_mul(steps_per_epoch)
                    .min(total),
            ),
        };
        Schedule {
            every,
            per_decade,
            log_end,
            total,
        }
    }

    /// True when an evaluation is due after `step` optimizer steps (step 0: before training).
    pub fn is_due(&self, step: usize) -> bool {
        step.is_multiple_of(self.every) || step == self.total || self.is_log_point(step)
    }

    /// 0-based index of the evaluation at `step` among all evaluations of the run: the number of
    /// due steps before it. Depends on the step alone, so probes seeded by it are the same after
    /// a resume. For the `epoch` schedule this is `step.div_ceil(every)`.
    pub fn index(&self, step: usize) -> usize {
        let regular = step.div_ceil(self.every);
        let extra = self
            .log_points()
            .take_while(|&s| s < step)
            .filter(|&s| !s.is_multiple_of(self.every))
            .count();
        regular + extra
    }

    /// Every due step in increasing order (for tests and `--dry-run`-style listings).
    pub fn steps(&self) -> Vec<usize> {
        (0..=self.total).filter(|&s| self.is_due(s)).collect()
    }

    /// Geometric point j: round(10^(j/k)).
    fn point(&self, j: usize) -> usize {
        10f64.powf(j as f64 / self.per_decade as f64).round() as usize
    }

    /// Distinct geometric points below `log_end`, increasing.
    fn log_points(&self) -> impl Iterator<Item = usize> + '_ {
        let mut last = 0;
        (0..)
            .map_while(move |j| {
                if self.per_decade == 0 {
                    return None;
                }
                let p = self.point(j);
                (p < self.log_end).then_some(p)
            })
            .filter(move |&p| {
                let new = p != last;
                last = p;
                new
            })
    }

    fn is_log_point(&self, step: usize) -> bool {
        if self.per_decade == 0 || step == 0 || step >= self.log_end {
            return false;
        }
        // Only j near k·log10(step) can round to `step`; the ±1 margin absorbs float error.
        let k = self.per_decade as f64;
        let lo = (k * (step as f64 - 0.5).log10()).floor() - 1.0;
        let hi = (k * (step as f64 + 0.5).log10()).ceil() + 1.0;
        let lo = lo.max(0.0) as usize;
        (lo..=hi as usize).any(|j| self.point(j) == step)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sched(schedule: EvalSchedule, every: usize, k: usize, log_epochs: usize) -> TrainConfig {
        TrainConfig {
            eval_schedule: schedule,
            eval_every: every,
            eval_per_decade: k,
            eval_log_epochs: log_epochs,
            ..TrainConfig::default()
        }
    }

    #[test]
    fn epoch_schedule_is_every_epoch_plus_last_step() {
        let s = Schedule::new(&sched(EvalSchedule::Epoch, 0, 4, 1), 10, 35);
        assert_eq!(s.steps(), vec![0, 10, 20, 30, 35]);
        // The index is the old trainer's `step.div_ceil(eval_every)`.
        for step in 0..=35 {
            assert_eq!(s.index(step), step.div_ceil(10));
        }
        let s = Schedule::new(&sched(EvalSchedule::Epoch, 7, 4, 1), 10, 30);
        assert_eq!(s.steps(), vec![0, 7, 14, 21, 28, 30]);
    }

    #[test]
    fn log_schedule_by_hand() {
        // 196 steps per epoch (25,000 / 128), 4 points per decade in the first epoch:
        // 10^(j/4) = 1, 1.78, 3.16, 5.62, 10, 17.8, 31.6, 56.2, 100, 178 → rounded.
        let s = Schedule::new(&sched(EvalSchedule::Log, 0, 4, 1), 196, 196 * 3);
        assert_eq!(
            s.steps(),
            vec![0, 1, 2, 3, 6, 10, 18, 32, 56, 100, 178, 196, 392, 588]
        );
    }

    #[test]
    fn log_steps_strictly_increase_and_index_counts_them() {
        for (k, spe, epochs, log_epochs, every) in [
            (4, 196, 5, 1, 0),
            (10, 196, 3, 2, 0),
            (1, 50, 4, 1, 0),
            (40, 30, 2, 1, 0),
            (3, 1000, 2, 1, 250),
            (7, 17, 9, 20, 0),
        ] {
            let total = spe * epochs;
            let s = Schedule::new(&sched(EvalSchedule::Log, every, k, log_epochs), spe, total);
            let steps = s.steps();
            assert!(steps.windows(2).all(|w| w[0] < w[1]), "{steps:?}");
            assert_eq!(steps[0], 0);
            // The index of the i-th due step is i: a pure function of the step.
            for (i, &st) in steps.iter().enumerate() {
                assert_eq!(s.index(st), i, "k={k} spe={spe} step {st}");
            }
            // The listing agrees with the generator of geometric points.
            let log: Vec<usize> = s.log_points().collect();
            for st in 1..s.log_end {
                assert_eq!(s.is_log_point(st), log.contains(&st), "step {st}");
            }
        }
    }

    #[test]
    fn log_density_per_decade() {
        // Where integers are dense enough to separate them (10^d·(10^(1/k) − 1) ≥ 1), a decade
        // [10^d, 10^(d+1)) fully inside the log phase holds exactly k evaluation steps.
        for k in [1, 2, 4, 8] {
            let spe = 10_000;
            let s = Schedule::new(&sched(EvalSchedule::Log, 0, k, 1), spe, spe * 2);
            let steps = s.steps();
            for d in 0..4u32 {
                let (a, b) = (10usize.pow(d), 10usize.pow(d + 1));
                let n = steps.iter().filter(|&&x| x >= a && x < b).count();
                if (a as f64) * (10f64.powf(1.0 / k as f64) - 1.0) >= 1.0 {
                    assert_eq!(n, k, "k={k} decade {a}..{b}: {steps:?}");
                } else {
                    assert!(n <= k && n >= 1, "k={k} decade {a}..{b}");
                }
            }
        }
    }

    #[test]
    fn every_epoch_after_the_log_phase_and_last_step_always() {
        let (spe, epochs) = (97, 6);
        let total = spe * epochs + 13; // a last step off the epoch grid
        let s = Schedule::new(&sched(EvalSchedule::Log, 0, 5, 2), spe, total);
        let steps = s.steps();
        let after: Vec<usize> = steps.iter().copied().filter(|&x| x >= 2 * spe).collect();
        let expect: Vec<usize> = (2..=epochs).map(|e| e * spe).chain([total]).collect();
        assert_eq!(after, expect);
        // Every epoch boundary inside the log phase is evaluated too.
        assert!(steps.contains(&spe));
        assert_eq!(*steps.last().unwrap(), total);
        // A log phase longer than the run stops at the last step.
        let s = Schedule::new(&sched(EvalSchedule::Log, 0, 4, 50), 10, 25);
        assert_eq!(s.steps(), vec![0, 1, 2, 3, 6, 10, 18, 20, 25]);
    }
}
