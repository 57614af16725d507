//! One number per trajectory (Mueller et al. 2025, footnote 6 and App. B.4; docs/formulas.md,
//! "One number per trajectory"): generalization = mean test metric of the 10 best-validation
//! checkpoints; sharpness and covariance = mean of the last 20 checkpoints; Fisher trace = mean
//! of its 20 largest values. Also `final` (last evaluation) and `min` (lowest training loss,
//! §4.2).
//!
//! The top-10 checkpoints of a run and task are chosen once, by the experiment's selection
//! metric on that task's validation split (`[selection] metric`, default each task's primary
//! metric: [`rank_metric`]), and every metric's `top10_val` averages those same checkpoints — so
//! a run's top-10 test loss and top-10 test accuracy (or mIoU) describe the same models.
//! `best_val` is early stopping: the value at the best of those checkpoints. Under
//! `val_delta_m` the checkpoints are ranked per run, by the validation Δm ([`Ranking::DeltaM`]).
//!
//! Metrics are whatever the run's tasks report (`run.json`), each with its direction; nothing
//! here knows a task kind.
//!
//! A checkpoint is an evaluation after training started: epoch 0 (the untrained model) is not
//! part of the trajectory's aggregates. With fewer checkpoints than 10/20, all of them are used.
use super::factors::Direction;
use crate::experiment::plan::SelectMetric;
use crate::experiment::store::{EvalPoint, RunData, Split};
use crate::task::{MetricSpec, TaskInfo};
use crate::train::run_files::LOSS;

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
    /// Value at the best checkpoint by the selection ranking (early stopping: LibMTL's and
    /// Elich et al.'s "test metrics at the best validation epoch").
    BestVal,
}

impl From<crate::experiment::plan::SelectAggregate> for Aggregate {
    fn from(a: crate::experiment::plan::SelectAggregate) -> Self {
        use crate::experiment::plan::SelectAggregate as S;
        match a {
            S::Final => Aggregate::Final,
            S::Top10Val => Aggregate::Top10Val,
            S::Last20 => Aggregate::Last20,
            S::BestVal => Aggregate::BestVal,
        }
    }
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
            Aggregate::BestVal => "best_val",
        }
    }
}

/// A trajectory metric: split × one of a task's metrics, with the metric's better side from
/// `run.json`, e.g. `val_accuracy` (higher is better) or `test_loss` (lower).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metric {
    /// Split.
    pub split: Split,
    /// Metric name as in `trajectory.csv` (`loss`, `accuracy`, `miou`, …).
    pub metric: String,
    /// Its better side.
    pub direction: Direction,
}

impl Metric {
    /// `spec` on `split`.
    pub fn new(split: Split, spec: &MetricSpec) -> Metric {
        Metric {
            split,
            metric: spec.name.clone(),
            direction: spec.direction.into(),
        }
    }
    /// The loss on `split` (every task's first metric; lower is better).
    pub fn loss(split: Split) -> Metric {
        Metric {
            split,
            metric: LOSS.into(),
            direction: Direction::LowerIsBetter,
        }
    }
    /// `val_accuracy`, `test_loss`, ...
    pub fn name(&self) -> String {
        format!("{}_{}", self.split.name(), self.metric)
    }
    /// Whether larger values are better.
    pub fn higher_is_better(&self) -> bool {
        self.direction == Direction::HigherIsBetter
    }
    /// The better side of this metric.
    pub fn direction(&self) -> Direction {
        self.direction
    }
    /// Whether this is the loss.
    pub fn is_loss(&self) -> bool {
        self.metric == LOSS
    }
    /// Its evaluations of `task` in `run`, by step.
    pub fn series<'r>(&self, run: &'r RunData, task: &str) -> &'r [EvalPoint] {
        run.series(task, self.split, &self.metric)
    }
}

/// A task's primary metric: its first after the loss (multi-class: accuracy; segmentation:
/// mIoU), or the loss when it reports nothing else.
pub fn primary(task: &TaskInfo) -> &MetricSpec {
    task.metrics
        .iter()
        .find(|m| m.name != LOSS)
        .or(task.metrics.first())
        .expect("run_files checks that every task has a loss")
}

/// The metrics of `task` on `split` in the order tables and figures show them: the task's own
/// metrics in `run.json` order, then the loss (FashionMTL: `accuracy`, `loss`).
pub fn metrics_of(task: &TaskInfo, split: Split) -> Vec<Metric> {
    let own = task.metrics.iter().filter(|m| m.name != LOSS);
    let loss = task.metrics.iter().filter(|m| m.name == LOSS);
    own.chain(loss).map(|m| Metric::new(split, m)).collect()
}

/// The metrics of the transfer table for `task`: [`metrics_of`] on validation, then on test.
pub fn transfer_metrics(task: &TaskInfo) -> Vec<Metric> {
    let mut m = metrics_of(task, Split::Val);
    m.extend(metrics_of(task, Split::Test));
    m
}

/// The validation metric `[selection] metric` picks for `task` (its primary metric, or the named
/// one); `None` when the task has no metric of that name.
pub fn rank_metric(select: &SelectMetric, task: &TaskInfo) -> Option<Metric> {
    let spec = match select {
        SelectMetric::Primary => primary(task),
        SelectMetric::Val(name) => task.metrics.iter().find(|m| &m.name == name)?,
        SelectMetric::DeltaM => return None,
    };
    Some(Metric::new(Split::Val, spec))
}

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
        Aggregate::Top10Val | Aggregate::BestVal => return None,
    })
}

/// The top-10-validation checkpoint set of `task` in a run: the steps of the (up to) 10
/// checkpoints with the best value of `rank` (the selection metric, a validation metric),
/// best first; ties keep the earlier checkpoint first. Chosen once per run and task, then
/// shared by every metric's `top10_val`.
pub fn top10_steps(run: &RunData, task: &str, rank: &Metric) -> Vec<u64> {
    let val: Vec<(u64, f64)> = checkpoints(rank.series(run, task))
        .map(|p| (p.step, p.value))
        .collect();
    let mut steps = sorted_steps(val, rank.higher_is_better());
    steps.truncate(10);
    steps
}

/// How a run's checkpoints are ranked for `top10_val` and `best_val`.
#[derive(Debug, Clone, PartialEq)]
pub enum Ranking {
    /// Per task, by its `[selection] metric` on validation ([`rank_metric`]).
    Metric(SelectMetric),
    /// Per run (one checkpoint set for all its tasks), by the validation Δm against fixed
    /// baseline values, lowest first (`val_delta_m`).
    DeltaM(std::sync::Arc<Baseline>),
}

impl Ranking {
    /// Ranking by the validation loss (the STL baselines' rule under `val_delta_m`).
    pub fn val_loss() -> Ranking {
        Ranking::Metric(SelectMetric::Val(LOSS.into()))
    }
}

/// The baseline of a validation Δm: per task, each of its metrics other than the loss with its
/// value and better side (the STL variants' seed means at their selected checkpoints).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Baseline {
    /// (task, metric, value, higher is better), in task order.
    pub values: Vec<(String, String, f64, bool)>,
}

/// The validation Δm of each checkpoint of `run` (step > 0) against `base`, over the run's tasks
/// that the baseline has: Δm averaged task-first, as LibMTL's `count_improvement` (its
/// "improvement" with the sign turned so that lower is better), by which LibMTL's trainer keeps
/// the best validation epoch. A checkpoint that lacks one of the values is skipped; empty when
/// no task of the run has a baseline.
pub fn val_delta_m_series(run: &RunData, base: &Baseline) -> Vec<(u64, f64)> {
    use super::delta_m::{delta_m, MetricChange};
    let terms: Vec<(&str, &str, f64, bool, &[EvalPoint])> = base
        .values
        .iter()
        .filter(|(t, ..)| run.task(t).is_some())
        .map(|(t, m, v, h)| (t.as_str(), m.as_str(), *v, *h, run.series(t, Split::Val, m)))
        .collect();
    let Some(first) = terms.first() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for p in checkpoints(first.4) {
        let changes: Option<Vec<MetricChange>> = terms
            .iter()
            .map(|(t, m, b, h, series)| {
                let i = series.binary_search_by_key(&p.step, |q| q.step).ok()?;
                Some(MetricChange {
                    task: t.to_string(),
                    metric: m.to_string(),
                    mtl: series[i].value,
                    stl: *b,
                    higher_is_better: *h,
                })
            })
            .collect();
        if let Some(c) = changes {
            let d = delta_m(&c);
            if d.is_finite() {
                out.push((p.step, d));
            }
        }
    }
    out
}

/// The checkpoints of `task` in `run` ranked best first by `rank` (ties: the earlier first);
/// `None` when the run cannot be ranked (a task without the selection metric; `val_delta_m`
/// with no baseline for any of its tasks).
pub fn ranked_steps(run: &RunData, task: &str, rank: &Ranking) -> Option<Vec<u64>> {
    match rank {
        Ranking::Metric(select) => {
            let metric = rank_metric(select, run.task(task)?)?;
            Some(sorted_steps(
                checkpoints(metric.series(run, task))
                    .map(|p| (p.step, p.value))
                    .collect(),
                metric.higher_is_better(),
            ))
        }
        Ranking::DeltaM(base) => {
            let dm = val_delta_m_series(run, base);
            (!dm.is_empty()).then(|| sorted_steps(dm, false))
        }
    }
}

/// Steps sorted by value, best first; stable, so ties keep the earlier checkpoint first.
fn sorted_steps(mut val: Vec<(u64, f64)>, higher_is_better: bool) -> Vec<u64> {
    val.retain(|(_, x)| x.is_finite());
    val.sort_by(|a, b| {
        let o = a.1.total_cmp(&b.1);
        if higher_is_better {
            o.reverse()
        } else {
            o
        }
    });
    val.into_iter().map(|(s, _)| s).collect()
}

/// Aggregate of `metric` for `task` in a run (None when the run lacks the data). `rank` fixes
/// the `top10_val` checkpoints ([`top10_steps`]) and the `best_val` one ([`ranked_steps`]).
pub fn metric_aggregate(
    run: &RunData,
    task: &str,
    metric: &Metric,
    agg: Aggregate,
    rank: &Ranking,
) -> Option<f64> {
    let series = metric.series(run, task);
    let take = match agg {
        Aggregate::Top10Val => 10,
        Aggregate::BestVal => 1,
        _ => {
            let v: Vec<(u64, f64)> = series.iter().map(|p| (p.step, p.value)).collect();
            return series_aggregate(&v, agg);
        }
    };
    let picked: Vec<f64> = ranked_steps(run, task, rank)?
        .iter()
        .take(take)
        .filter_map(|step| {
            series
                .binary_search_by_key(step, |p| p.step)
                .ok()
                .map(|i| series[i].value)
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

    fn mk(xs: &[f64]) -> Vec<EvalPoint> {
        xs.iter()
            .enumerate()
            .map(|(i, &value)| EvalPoint {
                epoch: i as f64,
                step: i as u64 * 10,
                value,
            })
            .collect()
    }

    fn key(split: Split, metric: &str) -> crate::experiment::store::SeriesKey {
        ("a".to_string(), split, metric.to_string())
    }

    fn acc() -> Metric {
        Metric::new(Split::Test, &crate::task::multiclass::metrics()[1])
    }

    fn run_with(val_acc: &[f64], test_acc: &[f64]) -> RunData {
        let loss = |xs: &[f64]| mk(&xs.iter().map(|a| 1.0 - a).collect::<Vec<_>>());
        let mut trajectory = BTreeMap::new();
        trajectory.insert(key(Split::Val, "accuracy"), mk(val_acc));
        trajectory.insert(key(Split::Val, "loss"), loss(val_acc));
        trajectory.insert(key(Split::Test, "accuracy"), mk(test_acc));
        trajectory.insert(key(Split::Test, "loss"), loss(test_acc));
        RunData {
            id: "x".into(),
            variant: "x".into(),
            seed: 0,
            grid_tag: String::new(),
            dir: Default::default(),
            tasks: vec![TaskInfo {
                name: "a".into(),
                kind: "multiclass".into(),
                metrics: crate::task::multiclass::metrics(),
            }],
            kind: crate::experiment::store::RunKind::Stl,
            objective: "umtg".into(),
            optimizer: "adam".into(),
            trajectory,
            probes: BTreeMap::new(),
            similarity: Vec::new(),
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
        let m = acc();
        // The default selection metric of a multi-class task is its accuracy.
        let rank = SelectMetric::Primary;
        // Best 10 val among steps 1..=12 (epoch-0's 0.99 excluded): all but indices 1 and 6.
        let expect: f64 = [2.0, 3.0, 4.0, 5.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0]
            .iter()
            .sum::<f64>()
            / 10.0;
        assert_eq!(
            metric_aggregate(
                &r,
                "a",
                &m,
                Aggregate::Top10Val,
                &Ranking::Metric(rank.clone())
            ),
            Some(expect)
        );
        assert_eq!(
            metric_aggregate(
                &r,
                "a",
                &m,
                Aggregate::Final,
                &Ranking::Metric(rank.clone())
            ),
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
        // Lowest val loss at steps 10..=100: a different set.
        let steps: Vec<f64> = (0..=14).map(|i| i as f64).collect();
        r.trajectory.insert(key(Split::Val, "loss"), mk(&steps));
        let test_loss: Vec<f64> = test.iter().map(|a| 100.0 + a).collect();
        r.trajectory
            .insert(key(Split::Test, "loss"), mk(&test_loss));
        let rank = SelectMetric::Val("accuracy".into());
        let by_acc = rank_metric(&rank, &r.tasks[0]).unwrap();
        assert_eq!(by_acc.name(), "val_accuracy");
        assert!(by_acc.higher_is_better());
        let steps = top10_steps(&r, "a", &by_acc);
        assert_eq!(steps, (5..=14).rev().map(|i| i * 10).collect::<Vec<u64>>());
        // Checkpoints 5..=14: test accuracy 9.5, test loss 109.5, val loss 9.5.
        let agg = |m: &Metric| {
            metric_aggregate(
                &r,
                "a",
                m,
                Aggregate::Top10Val,
                &Ranking::Metric(rank.clone()),
            )
            .unwrap()
        };
        assert_eq!(agg(&acc()), 9.5);
        assert_eq!(agg(&Metric::loss(Split::Test)), 109.5);
        assert_eq!(agg(&Metric::loss(Split::Val)), 9.5);
        // With val_loss as the selection metric: steps 10..=100, test accuracy mean 5.5.
        let by_loss = SelectMetric::Val("loss".into());
        let loss_rank = rank_metric(&by_loss, &r.tasks[0]).unwrap();
        assert_eq!(loss_rank, Metric::loss(Split::Val));
        assert_eq!(
            top10_steps(&r, "a", &loss_rank),
            (1..=10).map(|i| i * 10).collect::<Vec<u64>>()
        );
        assert_eq!(
            metric_aggregate(
                &r,
                "a",
                &acc(),
                Aggregate::Top10Val,
                &Ranking::Metric(by_loss.clone())
            ),
            Some(5.5)
        );
        // A task without the named metric has no top-10 set (but its final value stays).
        let none = SelectMetric::Val("miou".into());
        assert_eq!(
            metric_aggregate(
                &r,
                "a",
                &acc(),
                Aggregate::Top10Val,
                &Ranking::Metric(none.clone())
            ),
            None
        );
        assert_eq!(
            metric_aggregate(
                &r,
                "a",
                &acc(),
                Aggregate::Final,
                &Ranking::Metric(none.clone())
            ),
            Some(14.0)
        );
    }

    #[test]
    fn early_stopping_on_validation_delta_m() {
        use crate::task::{Direction as D, MetricSpec};
        // Task a (accuracy ↑) and task b (abs_err ↓), checkpoints at steps 10, 20, 30 after
        // epoch 0. Baseline a 0.5, b 1.0. Validation Δm (task-first, positive = worse):
        //   step 10: a −(0.5−0.5)/0.5 = 0,  b (1.0−1.0)/1.0 = 0    → 0
        //   step 20: a −(0.6−0.5)/0.5 = −20, b (0.5−1.0)/1.0 = −50 → −35   (best)
        //   step 30: a −(0.7−0.5)/0.5 = −40, b (2.0−1.0)/1.0 = +100 → +30
        // Ranking by a's accuracy alone would pick step 30.
        let mut r = run_with(&[0.9, 0.5, 0.6, 0.7], &[0.0, 1.0, 2.0, 3.0]);
        r.tasks.push(TaskInfo {
            name: "b".into(),
            kind: "depth".into(),
            metrics: vec![
                MetricSpec::new("loss", D::Lower),
                MetricSpec::new("abs_err", D::Lower),
            ],
        });
        let kb = |split| ("b".to_string(), split, "abs_err".to_string());
        r.trajectory
            .insert(kb(Split::Val), mk(&[9.0, 1.0, 0.5, 2.0]));
        r.trajectory
            .insert(kb(Split::Test), mk(&[9.0, 7.0, 8.0, 9.0]));
        let base = Baseline {
            values: vec![
                ("a".into(), "accuracy".into(), 0.5, true),
                ("b".into(), "abs_err".into(), 1.0, false),
            ],
        };
        let dm = val_delta_m_series(&r, &base);
        let expect = [(10, 0.0), (20, -35.0), (30, 30.0)];
        assert_eq!(dm.len(), 3);
        for ((s, v), (es, ev)) in dm.iter().zip(expect) {
            assert_eq!(*s, es);
            assert!((v - ev).abs() < 1e-9, "step {s}: {v} vs {ev}");
        }
        let rank = Ranking::DeltaM(std::sync::Arc::new(base.clone()));
        assert_eq!(ranked_steps(&r, "a", &rank), Some(vec![20, 10, 30]));
        // One checkpoint for every task: test accuracy of a and test abs_err of b at step 20.
        let test_b = Metric::new(Split::Test, &r.tasks[1].metrics[1]);
        assert_eq!(
            metric_aggregate(&r, "a", &acc(), Aggregate::BestVal, &rank),
            Some(2.0)
        );
        assert_eq!(
            metric_aggregate(&r, "b", &test_b, Aggregate::BestVal, &rank),
            Some(8.0)
        );
        // Ranked by a's own accuracy, a stops at step 30 instead.
        let by_acc = Ranking::Metric(SelectMetric::Primary);
        assert_eq!(
            metric_aggregate(&r, "a", &acc(), Aggregate::BestVal, &by_acc),
            Some(3.0)
        );
        // No baseline for any task of the run: no ranking, no best_val.
        let none = Ranking::DeltaM(std::sync::Arc::new(Baseline {
            values: vec![("z".into(), "accuracy".into(), 0.5, true)],
        }));
        assert_eq!(ranked_steps(&r, "a", &none), None);
        assert_eq!(
            metric_aggregate(&r, "a", &acc(), Aggregate::BestVal, &none),
            None
        );
        // A checkpoint missing one of the values is skipped.
        r.trajectory.insert(kb(Split::Val), mk(&[9.0, 1.0, 0.5]));
        assert_eq!(val_delta_m_series(&r, &base).len(), 2);
    }

    #[test]
    fn metrics_in_table_order_with_their_directions() {
        use crate::task::{Direction as D, MetricSpec};
        let seg = TaskInfo {
            name: "seg".into(),
            kind: "segmentation".into(),
            metrics: vec![
                MetricSpec::new("loss", D::Lower),
                MetricSpec::new("miou", D::Higher),
                MetricSpec::new("pixel_accuracy", D::Higher),
            ],
        };
        let names: Vec<String> = transfer_metrics(&seg).iter().map(|m| m.name()).collect();
        assert_eq!(
            names,
            [
                "val_miou",
                "val_pixel_accuracy",
                "val_loss",
                "test_miou",
                "test_pixel_accuracy",
                "test_loss"
            ]
        );
        assert_eq!(primary(&seg).name, "miou");
        let depth = TaskInfo {
            name: "d".into(),
            kind: "depth".into(),
            metrics: vec![
                MetricSpec::new("loss", D::Lower),
                MetricSpec::new("abs_err", D::Lower),
            ],
        };
        let r = rank_metric(&SelectMetric::Primary, &depth).unwrap();
        assert_eq!(
            (r.name(), r.higher_is_better()),
            ("val_abs_err".into(), false)
        );
        let only_loss = TaskInfo {
            metrics: vec![MetricSpec::new("loss", D::Lower)],
            ..depth
        };
        assert_eq!(primary(&only_loss).name, "loss");
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
