//! Δm: the mean signed relative change of a multi-task model's metrics against the single-task
//! baselines (Maninis et al. 2019, "Attentive single-tasking of multiple tasks", CVPR;
//! Vandenhende et al. 2021, "Multi-task learning for dense prediction tasks: a survey", TPAMI;
//! docs/formulas.md, "Δm"):
//!
//! Δm = (1/T) Σ_t (1/M_t) Σ_m (−1)^{h_m} (M_mtl,m − M_stl,m) / M_stl,m × 100,
//!
//! with h_m = 1 when higher is better for metric m (from `run.json`), else 0, over the T tasks
//! and each task's M_t metrics. So **positive Δm means MTL is worse** (issue #12's definition;
//! the sign of Navon et al. 2022, Nash-MTL, `experiments/nyuv2/utils.py` `delta_fn`, and the
//! papers that report "Δm%, lower is better"; Maninis and Vandenhende use the opposite sign).
//!
//! Averaging (`[analysis] delta_m_average`): by default metrics are averaged within each task
//! first and then over tasks, so a task with five metrics (normals) weighs as much as one with
//! one metric (LibMTL's `count_improvement`); `metrics` takes the flat mean over all metrics
//! (Maninis et al.; Nash-MTL's `delta_fn`; Elich et al. 2025, whose NYUv2 tables recompute only
//! this way). The two agree when every task has the same number of metrics. The loss is left
//! out (its scale is the objective's, not a performance measure), and so is a task whose only
//! metric is its loss. M are seed means of the same per-run aggregate as the transfer table
//! (`final`, `top10_val`, `last20`) on the test split. A multi-task variant gets a Δm over its
//! tasks that have an STL variant; the others are named, not counted. A baseline value of 0
//! makes the relative change, and so Δm, undefined (NaN).
use super::aggregates::{metrics_of, Aggregate};
use super::significance::Summary;
use super::transfer::TRANSFER_AGGREGATES;
use super::Groups;
use crate::experiment::plan::DeltaMAverage;
use crate::experiment::store::Split;

/// One metric of one task: the multi-task and the single-task value.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricChange {
    /// Task.
    pub task: String,
    /// Metric name.
    pub metric: String,
    /// Multi-task value (seed mean).
    pub mtl: f64,
    /// Single-task value (seed mean).
    pub stl: f64,
    /// Higher is better (h_m = 1).
    pub higher_is_better: bool,
}

impl MetricChange {
    /// (−1)^{h_m} (M_mtl − M_stl) / M_stl × 100: positive when MTL is worse.
    pub fn signed_change(&self) -> f64 {
        let sign = if self.higher_is_better { -1.0 } else { 1.0 };
        if self.stl == 0.0 {
            return f64::NAN;
        }
        sign * (self.mtl - self.stl) / self.stl * 100.0
    }
}

/// Δm of `changes` averaged as `average` says ([`delta_m`] or the flat mean of every
/// [`MetricChange::signed_change`]); NaN when empty.
pub fn delta_m_by(changes: &[MetricChange], average: DeltaMAverage) -> f64 {
    match average {
        DeltaMAverage::Tasks => delta_m(changes),
        DeltaMAverage::Metrics if changes.is_empty() => f64::NAN,
        DeltaMAverage::Metrics => {
            changes.iter().map(MetricChange::signed_change).sum::<f64>() / changes.len() as f64
        }
    }
}

/// Δm of `changes`: the mean over tasks (in first-seen order) of each task's mean
/// [`MetricChange::signed_change`]; NaN when empty.
pub fn delta_m(changes: &[MetricChange]) -> f64 {
    let mut tasks: Vec<(&str, f64, usize)> = Vec::new();
    for c in changes {
        let v = c.signed_change();
        match tasks.iter_mut().find(|t| t.0 == c.task) {
            Some(t) => {
                t.1 += v;
                t.2 += 1;
            }
            None => tasks.push((&c.task, v, 1)),
        }
    }
    if tasks.is_empty() {
        return f64::NAN;
    }
    tasks.iter().map(|t| t.1 / t.2 as f64).sum::<f64>() / tasks.len() as f64
}

/// Δm of one multi-task variant for one aggregate.
#[derive(Debug, Clone)]
pub struct DeltaMRow {
    /// Multi-task variant.
    pub variant: String,
    /// `final`, `top10_val` or `last20`.
    pub aggregate: String,
    /// The compared metrics, task by task.
    pub changes: Vec<MetricChange>,
    /// Tasks of the variant without an STL variant (left out).
    pub without_stl: Vec<String>,
    /// Δm in percent (positive = MTL worse).
    pub delta_m: f64,
}

impl DeltaMRow {
    /// The tasks Δm averages, in order.
    pub fn tasks(&self) -> Vec<&str> {
        let mut t: Vec<&str> = Vec::new();
        for c in &self.changes {
            if !t.contains(&c.task.as_str()) {
                t.push(&c.task);
            }
        }
        t
    }
}

/// Δm of every multi-task variant with at least one task that has an STL variant, per
/// aggregate of the transfer table, over the test metrics other than the loss.
pub fn delta_m_table(groups: &Groups) -> Vec<DeltaMRow> {
    let mean = |v: Vec<f64>| Summary::of(&v).mean;
    let mut rows = Vec::new();
    for v in groups
        .variants
        .iter()
        .filter(|v| v.kind != crate::experiment::store::RunKind::Stl)
    {
        for agg in TRANSFER_AGGREGATES {
            let mut changes = Vec::new();
            let mut without_stl = Vec::new();
            for task in &v.tasks {
                let (Some(stl), Some(info)) = (groups.stl_for(task), groups.info(task)) else {
                    without_stl.push(task.clone());
                    continue;
                };
                for m in metrics_of(info, Split::Test)
                    .iter()
                    .filter(|m| !m.is_loss())
                {
                    let (s, t) = (
                        mean(stl.metric_values(task, m, agg)),
                        mean(v.metric_values(task, m, agg)),
                    );
                    if s.is_finite() && t.is_finite() {
                        changes.push(MetricChange {
                            task: task.clone(),
                            metric: m.metric.clone(),
                            mtl: t,
                            stl: s,
                            higher_is_better: m.higher_is_better(),
                        });
                    }
                }
            }
            if changes.is_empty() {
                continue;
            }
            rows.push(DeltaMRow {
                variant: v.name.clone(),
                aggregate: agg.name().into(),
                delta_m: delta_m_by(&changes, groups.delta_m_average),
                changes,
                without_stl,
            });
        }
    }
    rows
}

/// The aggregate the report's headline uses: `best_val` when the experiment selects by early
/// stopping (`[selection] aggregate = "best_val"`, as Elich et al. and LibMTL report), else
/// `top10_val` (Mueller et al.'s generalization measure).
pub fn headline(groups: &Groups) -> Aggregate {
    match groups.select_aggregate {
        Aggregate::BestVal => Aggregate::BestVal,
        _ => Aggregate::Top10Val,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(task: &str, metric: &str, mtl: f64, stl: f64, higher: bool) -> MetricChange {
        MetricChange {
            task: task.into(),
            metric: metric.into(),
            mtl,
            stl,
            higher_is_better: higher,
        }
    }

    #[test]
    fn hand_computed_case() {
        // Task a: accuracy 0.80 → 0.84, higher is better: −(0.04 / 0.80)·100 = −5 (better).
        // Task s: mIoU 0.50 → 0.45 (higher better): −(−0.05 / 0.50)·100 = +10;
        //         abs err 0.20 → 0.25 (lower better): +(0.05 / 0.20)·100 = +25; task mean 17.5.
        // Δm = (−5 + 17.5) / 2 = 6.25 (positive: MTL worse overall). The flat mean over the
        // three metrics would be 10: tasks are averaged first.
        let ch = [
            c("a", "accuracy", 0.84, 0.80, true),
            c("s", "miou", 0.45, 0.50, true),
            c("s", "abs_err", 0.25, 0.20, false),
        ];
        assert!((ch[0].signed_change() + 5.0).abs() < 1e-12);
        assert!((ch[1].signed_change() - 10.0).abs() < 1e-12);
        assert!((ch[2].signed_change() - 25.0).abs() < 1e-12);
        assert!((delta_m(&ch) - 6.25).abs() < 1e-12);
        // Task order does not matter; an unchanged model has Δm = 0.
        let rev: Vec<MetricChange> = ch.iter().rev().cloned().collect();
        assert!((delta_m(&rev) - 6.25).abs() < 1e-12);
        assert_eq!(delta_m(&[c("a", "accuracy", 0.8, 0.8, true)]), 0.0);
        // Undefined: nothing to compare, or a baseline of 0.
        assert!(delta_m(&[]).is_nan());
        assert!(delta_m(&[c("d", "abs_err", 0.1, 0.0, false)]).is_nan());
        // The flat mean over the three metrics: (−5 + 10 + 25) / 3 = 10.
        assert!((delta_m_by(&ch, DeltaMAverage::Metrics) - 10.0).abs() < 1e-12);
        assert_eq!(delta_m_by(&ch, DeltaMAverage::Tasks), delta_m(&ch));
        assert!(delta_m_by(&[], DeltaMAverage::Metrics).is_nan());
    }

    #[test]
    fn elich_nyuv2_segnet_ew_adam_recomputes_flat() {
        // Elich et al. 2025, Tab. A6 (../shared/specs/elich.md): NYUv2 SegNet, STL and EW-Adam
        // rows; their Δm 10.08 is the flat mean over the 9 metrics (from the rounded table:
        // 10.05, the rest is averaging over seeds; a task-first mean gives 2.76).
        let stl = [
            0.392, 0.646, 0.607, 0.258, 24.74, 18.49, 0.308, 0.582, 0.700,
        ];
        let ew = [
            0.398, 0.650, 0.530, 0.212, 29.53, 25.02, 0.216, 0.454, 0.584,
        ];
        let names = [
            "miou", "pix_acc", "abs_err", "rel_err", "mean", "median", "a11", "a22", "a30",
        ];
        let tasks = ["seg", "seg", "depth", "depth", "n", "n", "n", "n", "n"];
        let higher = [true, true, false, false, false, false, true, true, true];
        let ch: Vec<MetricChange> = (0..9)
            .map(|i| c(tasks[i], names[i], ew[i], stl[i], higher[i]))
            .collect();
        let flat = delta_m_by(&ch, DeltaMAverage::Metrics);
        let by_task = delta_m_by(&ch, DeltaMAverage::Tasks);
        assert!((flat - 10.05).abs() < 0.01, "{flat}");
        assert!((by_task - 2.76).abs() < 0.01, "{by_task}");
    }
}
