//! One number per trajectory (Mueller et al. 2025, footnote 6 and App. B.4; docs/formulas.md,
//! "One number per trajectory"): generalization = mean test metric of the 10 best-validation
//! checkpoints; sharpness and covariance = mean of the last 20 checkpoints; Fisher trace = mean
//! of its 20 largest values. Also `final` (last evaluation) and `min` (lowest training loss,
//! §4.2).
//!
//! The top-10 checkpoints of a run and task are chosen once, by the experiment's selection
//! metric on that task's validation split (`[selection] metric`, default validation accuracy),
//! and every metric's `top10_val` averages those same checkpoints — so a run's top-10 test loss
//! and top-10 test accuracy describe the same models.
//!
//! A checkpoint is an evaluation after training started: epoch 0 (the untrained model) is not
//! part of the trajectory's aggregates. With fewer checkpoints than 10/20, all of them are used.
use crate::experiment::store::{EvalPoint, RunData, Split};

/// How a trajectory is reduced to one number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Aggregate {
    /// Last evaluation.
    Final,
    /// Mean at the 10 checkpoints with the best value of the selection metric (the same
    /// checkpoints for every metric; see [`top10_steps`]).
    Top10Val,
    /// Mean of the last 20 checkpoints.
    Last20,
    /// Mean of the 20 largest values.
    Max20,
    /// Mean over all checkpoints.
    Mean,
    /// Smallest value.
    Min,
}

impl Aggregate {
    /// Name as in the tables.
    pub fn name(self) -> &'static str {
        match self {
            Aggregate::Final => "final",
            Aggregate::Top10Val => "top10_val",
            Aggregate::Last20 => "last20",
            Aggregate::Max20 => "max20",
            Aggregate::Mean => "mean",
            Aggregate::Min => "min",
        }
    }
}

/// Loss or accuracy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Quantity {
    /// Mean loss (lower is better).
    Loss,
    /// Accuracy (higher is better).
    Accuracy,
}

/// A trajectory metric: split × quantity, e.g. `val_accuracy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Metric {
    /// Split.
    pub split: Split,
    /// Quantity.
    pub quantity: Quantity,
}

impl Metric {
    /// `val_accuracy`, `test_loss`, ...
    pub fn name(self) -> String {
        format!(
            "{}_{}",
            self.split.name(),
            match self.quantity {
                Quantity::Loss => "loss",
                Quantity::Accuracy => "accuracy",
            }
        )
    }
    /// Whether larger values are better.
    pub fn higher_is_better(self) -> bool {
        self.quantity == Quantity::Accuracy
    }
    /// The better side of this metric.
    pub fn direction(self) -> super::factors::Direction {
        if self.higher_is_better() {
            super::factors::Direction::HigherIsBetter
        } else {
            super::factors::Direction::LowerIsBetter
        }
    }
    /// The value of this metric in an evaluation.
    pub fn of(self, p: &EvalPoint) -> f64 {
        match self.quantity {
            Quantity::Loss => p.loss,
            Quantity::Accuracy => p.accuracy,
        }
    }
    /// Shorthand constructor.
    pub const fn new(split: Split, quantity: Quantity) -> Metric {
        Metric { split, quantity }
    }
}

/// The four metrics of the transfer table.
pub const TRANSFER_METRICS: [Metric; 4] = [
    Metric::new(Split::Val, Quantity::Accuracy),
    Metric::new(Split::Val, Quantity::Loss),
    Metric::new(Split::Test, Quantity::Accuracy),
    Metric::new(Split::Test, Quantity::Loss),
];

fn checkpoints(s: &[EvalPoint]) -> impl Iterator<Item = &EvalPoint> {
    s.iter().filter(|p| p.step > 0)
}

/// Aggregate of a plain series of (step, value) — used for probes and single metrics.
/// Step-0 values are dropped; `Top10Val` is not defined here (it needs the val series).
pub fn series_aggregate(values: &[(u64, f64)], agg: Aggregate) -> Option<f64> {
    let v: Vec<f64> = values
        .iter()
        .filter(|(s, x)| *s > 0 && x.is_finite())
        .map(|(_, x)| *x)
        .collect();
    if v.is_empty() {
        return None;
    }
    let mean = |xs: &[f64]| xs.iter().sum::<f64>() / xs.len() as f64;
    Some(match agg {
        Aggregate::Final => *v.last().unwrap(),
        Aggregate::Last20 => mean(&v[v.len().saturating_sub(20)..]),
        Aggregate::Max20 => {
            let mut s = v.clone();
            s.sort_by(|a, b| b.partial_cmp(a).unwrap());
            mean(&s[..s.len().min(20)])
        }
        Aggregate::Mean => mean(&v),
        Aggregate::Min => v.iter().copied().fold(f64::INFINITY, f64::min),
        Aggregate::Top10Val => return None,
    })
}

/// The top-10-validation checkpoint set of `task` in a run: the steps of the (up to) 10
/// checkpoints with the best value of `rank` (the selection metric, a validation metric),
/// best first; ties keep the earlier checkpoint first. Chosen once per run and task, then
/// shared by every metric's `top10_val`.
pub fn top10_steps(run: &RunData, task: &str, rank: Metric) -> Vec<u64> {
    let mut val: Vec<(u64, f64)> = checkpoints(run.series(task, rank.split))
        .map(|p| (p.step, rank.of(p)))
        .filter(|(_, x)| x.is_finite())
        .collect();
    // Stable sort: ties keep the earlier checkpoint first.
    val.sort_by(|a, b| {
        let o = a.1.total_cmp(&b.1);
        if rank.higher_is_better() {
            o.reverse()
        } else {
            o
        }
    });
    val.into_iter().take(10).map(|(s, _)| s).collect()
}

/// Aggregate of `metric` for `task` in a run (None when the run lacks the data). `rank` is the
/// selection metric that fixes the `top10_val` checkpoints ([`top10_steps`]).
pub fn metric_aggregate(
    run: &RunData,
    task: &str,
    metric: Metric,
    agg: Aggregate,
    rank: Metric,
) -> Option<f64> {
    let series = run.series(task, metric.split);
    if agg != Aggregate::Top10Val {
        let v: Vec<(u64, f64)> = series.iter().map(|p| (p.step, metric.of(p))).collect();
        return series_aggregate(&v, agg);
    }
    let picked: Vec<f64> = top10_steps(run, task, rank)
        .iter()
        .filter_map(|step| {
            series
                .binary_search_by_key(step, |p| p.step)
                .ok()
                .map(|i| metric.of(&series[i]))
        })
        .filter(|x| x.is_finite())
        .collect();
    if picked.is_empty() {
        return None;
    }
    Some(picked.iter().sum::<f64>() / picked.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn run_with(val_acc: &[f64], test_acc: &[f64]) -> RunData {
        let mk = |xs: &[f64]| -> Vec<EvalPoint> {
            xs.iter()
                .enumerate()
                .map(|(i, &a)| EvalPoint {
                    epoch: i as f64,
                    step: i as u64 * 10,
                    loss: 1.0 - a,
                    accuracy: a,
                })
                .collect()
        };
        let mut trajectory = BTreeMap::new();
        trajectory.insert(("a".to_string(), Split::Val), mk(val_acc));
        trajectory.insert(("a".to_string(), Split::Test), mk(test_acc));
        RunData {
            id: "x".into(),
            variant: "x".into(),
            seed: 0,
            grid_tag: String::new(),
            dir: Default::default(),
            tasks: vec!["a".into()],
            kind: crate::experiment::store::RunKind::Stl,
            objective: "umtg".into(),
            trajectory,
            probes: BTreeMap::new(),
        }
    }

    #[test]
    fn top10_val_uses_best_val_checkpoints_and_skips_epoch0() {
        // 12 checkpoints after epoch 0; val accuracy rises except one dip, so the 10 best are
        // steps 30..120 except step 60 (the dip): val 0.3..0.9 pattern below.
        let val: Vec<f64> = vec![
            0.99, 0.1, 0.2, 0.3, 0.4, 0.5, 0.05, 0.7, 0.8, 0.81, 0.82, 0.83, 0.84,
        ];
        let test: Vec<f64> = (0..13).map(|i| i as f64).collect();
        let r = run_with(&val, &test);
        let m = Metric::new(Split::Test, Quantity::Accuracy);
        let rank = Metric::new(Split::Val, Quantity::Accuracy);
        // Best 10 val among steps 1..=12 (epoch-0's 0.99 excluded): all but indices 1 and 6.
        let expect: f64 = [2.0, 3.0, 4.0, 5.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0]
            .iter()
            .sum::<f64>()
            / 10.0;
        assert_eq!(
            metric_aggregate(&r, "a", m, Aggregate::Top10Val, rank),
            Some(expect)
        );
        assert_eq!(
            metric_aggregate(&r, "a", m, Aggregate::Final, rank),
            Some(12.0)
        );
    }

    #[test]
    fn one_top10_set_for_every_metric() {
        // Validation loss is NOT 1 − accuracy here, so ranking each metric by its own quantity
        // would pick other checkpoints; ranked once by the selection metric, every metric
        // averages the same steps.
        let val_acc: Vec<f64> = (0..=14).map(|i| i as f64 / 100.0).collect(); // best: 5..=14
        let test: Vec<f64> = (0..=14).map(|i| i as f64).collect();
        let mut r = run_with(&val_acc, &test);
        let val = r
            .trajectory
            .get_mut(&("a".to_string(), Split::Val))
            .unwrap();
        for (i, p) in val.iter_mut().enumerate() {
            p.loss = i as f64; // lowest val loss at steps 10..=100: a different set
        }
        let tst = r
            .trajectory
            .get_mut(&("a".to_string(), Split::Test))
            .unwrap();
        for p in tst.iter_mut() {
            p.loss = 100.0 + p.accuracy;
        }
        let rank = Metric::new(Split::Val, Quantity::Accuracy);
        let steps = top10_steps(&r, "a", rank);
        assert_eq!(steps, (5..=14).rev().map(|i| i * 10).collect::<Vec<u64>>());
        // Checkpoints 5..=14: test accuracy 9.5, test loss 109.5, val loss 9.5.
        let agg = |q, split| {
            metric_aggregate(&r, "a", Metric::new(split, q), Aggregate::Top10Val, rank).unwrap()
        };
        assert_eq!(agg(Quantity::Accuracy, Split::Test), 9.5);
        assert_eq!(agg(Quantity::Loss, Split::Test), 109.5);
        assert_eq!(agg(Quantity::Loss, Split::Val), 9.5);
        // With val_loss as the selection metric: steps 10..=100, test accuracy mean 5.5.
        let by_loss = Metric::new(Split::Val, Quantity::Loss);
        assert_eq!(
            top10_steps(&r, "a", by_loss),
            (1..=10).map(|i| i * 10).collect::<Vec<u64>>()
        );
        let test_acc = Metric::new(Split::Test, Quantity::Accuracy);
        assert_eq!(
            metric_aggregate(&r, "a", test_acc, Aggregate::Top10Val, by_loss),
            Some(5.5)
        );
    }

    #[test]
    fn last20_max20_on_hand_series() {
        let v: Vec<(u64, f64)> = (0..=25).map(|i| (i as u64, i as f64)).collect();
        // Steps 1..=25; last 20 = 6..=25, mean 15.5; max 20 the same set here.
        assert_eq!(series_aggregate(&v, Aggregate::Last20), Some(15.5));
        assert_eq!(series_aggregate(&v, Aggregate::Max20), Some(15.5));
        let w = vec![(0, 100.0), (1, 5.0), (2, 1.0), (3, 3.0)];
        assert_eq!(series_aggregate(&w, Aggregate::Max20), Some(3.0));
        assert_eq!(series_aggregate(&w, Aggregate::Min), Some(1.0));
        assert_eq!(series_aggregate(&[(0, 1.0)], Aggregate::Final), None);
    }
}
