//! Elich et al.'s optimizer study (2025, §4.1, Tab. 2, Fig. 2 and A4; ../shared/specs/elich.md,
//! "Pareto analysis"): every multi-task run of the experiment as a point in test-metric space,
//! its optimizer, and which points are Pareto-optimal overall and with respect to each other
//! optimizer.
//!
//! A point is one (variant, grid point): the seed mean of each test metric at each run's
//! early-stopping checkpoint (`best_val`, ranked as the variant's runs are: by validation Δm
//! under `val_delta_m`), as the spec suggests where the paper is silent. Every grid point counts,
//! not only the selected one: Elich's counts (24 Adam runs Pareto-optimal w.r.t. SGD for 7
//! methods) include several learning rates per method.
//!
//! Axes are the test metrics other than the loss of the multi-task variants' tasks, in task
//! order (segmentation mIoU, pixel accuracy, depth errors, normal errors and accuracies),
//! each oriented by its own better side. Point a dominates b when a is at least as good on every
//! axis and better on one. PO (full): dominated by no point of the study. PO w.r.t. G: a point
//! of another optimizer dominated by no point of optimizer G.
//!
//! Optimizers are grouped as Elich groups them: `adatask` (per-task Adam) and `adamw` with
//! `adam`; `sgd` (with or without momentum) and `signsgd` each on their own. The study exists
//! when the multi-task runs use at least two of these groups.
use std::sync::Arc;

use super::aggregates::{metric_aggregate, metrics_of, Aggregate, Ranking};
use super::delta_m::{delta_m_by, MetricChange};
use super::significance::Summary;
use super::Groups;
use crate::experiment::store::{ExperimentData, RunData, RunKind, Split};

/// One axis: a task's test metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    /// Task.
    pub task: String,
    /// Metric name (`miou`, `abs_err`, …).
    pub metric: String,
    /// Higher is better.
    pub higher_is_better: bool,
}

impl Axis {
    /// `task metric`, for headers and figure labels.
    pub fn label(&self) -> String {
        format!("{} {}", self.task, self.metric)
    }
}

/// One (variant, grid point).
#[derive(Debug, Clone)]
pub struct StudyPoint {
    /// Variant.
    pub variant: String,
    /// Its legend label.
    pub label: String,
    /// Grid tag.
    pub grid_tag: String,
    /// `optim.name` of its runs.
    pub optimizer: String,
    /// Optimizer group ([`family`]).
    pub family: String,
    /// Seeds averaged.
    pub seeds: usize,
    /// Seed-mean test value per axis at the early-stopping checkpoint.
    pub values: Vec<f64>,
    /// Δm against the STL variants' `best_val` test values (NaN without them).
    pub delta_m: f64,
    /// Whether this is the variant's selected grid point.
    pub selected: bool,
    /// Dominated by no point of the study.
    pub po_full: bool,
    /// Per other optimizer group G: dominated by no point of G.
    pub po_vs: Vec<(String, bool)>,
}

/// Pareto-optimal counts of one optimizer group (Elich's Tab. 2 row).
#[derive(Debug, Clone, PartialEq)]
pub struct FamilyCount {
    /// Optimizer group.
    pub family: String,
    /// Its points.
    pub points: usize,
    /// Its PO (full) points.
    pub po_full: usize,
    /// Per other group G: its points that no point of G dominates.
    pub po_vs: Vec<(String, usize)>,
}

/// The study.
#[derive(Debug, Clone)]
pub struct OptimizerStudy {
    /// Axes in order.
    pub axes: Vec<Axis>,
    /// Points with every axis, in plan variant order then grid order.
    pub points: Vec<StudyPoint>,
    /// One row per optimizer group, in first-seen order.
    pub counts: Vec<FamilyCount>,
    /// (variant, grid tag) points left out for lacking an axis value.
    pub left_out: Vec<String>,
}

/// Elich's grouping of optimizers: per-task Adam (`adatask`) and AdamW count as Adam.
pub fn family(optimizer: &str) -> &str {
    match optimizer {
        "adatask" | "adamw" => "adam",
        o => o,
    }
}

/// Whether `a` dominates `b` (at least as good on every axis, better on one).
pub fn dominates(a: &[f64], b: &[f64], axes: &[Axis]) -> bool {
    let mut better = false;
    for ((x, y), ax) in a.iter().zip(b).zip(axes) {
        let (x, y) = if ax.higher_is_better {
            (-x, -y)
        } else {
            (*x, *y)
        };
        if x > y {
            return false;
        }
        better |= x < y;
    }
    better
}

/// The study of `data`'s multi-task runs, or `None` when they use fewer than two optimizer
/// groups.
pub fn optimizer_study(data: &ExperimentData, groups: &Groups) -> Option<OptimizerStudy> {
    let mtl: Vec<&RunData> = data
        .runs
        .iter()
        .filter(|r| r.kind != RunKind::Stl)
        .collect();
    let mut families: Vec<String> = Vec::new();
    for r in &mtl {
        let f = family(&r.optimizer).to_string();
        if !families.contains(&f) {
            families.push(f);
        }
    }
    if families.len() < 2 {
        return None;
    }
    let mut axes: Vec<Axis> = Vec::new();
    for r in &mtl {
        for t in &r.tasks {
            for m in metrics_of(t, Split::Test).iter().filter(|m| !m.is_loss()) {
                let ax = Axis {
                    task: t.name.clone(),
                    metric: m.metric.clone(),
                    higher_is_better: m.higher_is_better(),
                };
                if !axes.contains(&ax) {
                    axes.push(ax);
                }
            }
        }
    }
    let rank = match &groups.baseline {
        Some(b) => Ranking::DeltaM(Arc::clone(b)),
        None => Ranking::Metric(groups.select.clone()),
    };
    let stl: Vec<f64> = axes
        .iter()
        .map(|a| {
            let m = metric(a);
            groups
                .stl_for(&a.task)
                .map(|s| Summary::of(&s.metric_values(&a.task, &m, Aggregate::BestVal)).mean)
                .unwrap_or(f64::NAN)
        })
        .collect();
    let mut points = Vec::new();
    let mut left_out = Vec::new();
    for v in &data.plan.variants {
        let mut tags: Vec<&str> = Vec::new();
        for r in mtl.iter().filter(|r| r.variant == v.name) {
            if !tags.contains(&r.grid_tag.as_str()) {
                tags.push(&r.grid_tag);
            }
        }
        for tag in tags {
            let runs: Vec<&RunData> = mtl
                .iter()
                .copied()
                .filter(|r| r.variant == v.name && r.grid_tag == tag)
                .collect();
            let values: Vec<f64> = axes
                .iter()
                .map(|a| {
                    let m = metric(a);
                    let vals: Vec<f64> = runs
                        .iter()
                        .filter_map(|r| metric_aggregate(r, &a.task, &m, Aggregate::BestVal, &rank))
                        .collect();
                    Summary::of(&vals).mean
                })
                .collect();
            let name = if tag.is_empty() {
                v.name.clone()
            } else {
                format!("{}/{tag}", v.name)
            };
            if values.iter().any(|x| !x.is_finite()) {
                left_out.push(name);
                continue;
            }
            let changes: Vec<MetricChange> = axes
                .iter()
                .zip(&values)
                .zip(&stl)
                .filter(|(_, s)| s.is_finite())
                .map(|((a, m), s)| MetricChange {
                    task: a.task.clone(),
                    metric: a.metric.clone(),
                    mtl: *m,
                    stl: *s,
                    higher_is_better: a.higher_is_better,
                })
                .collect();
            let optimizer = runs[0].optimizer.clone();
            points.push(StudyPoint {
                variant: v.name.clone(),
                label: v.label.clone(),
                grid_tag: tag.to_string(),
                family: family(&optimizer).to_string(),
                optimizer,
                seeds: runs.len(),
                values,
                delta_m: delta_m_by(&changes, groups.delta_m_average),
                selected: groups
                    .variants
                    .iter()
                    .any(|g| g.name == v.name && g.grid_tag == tag),
                po_full: false,
                po_vs: Vec::new(),
            });
        }
    }
    mark_pareto(&mut points, &axes, &families);
    let counts = families
        .iter()
        .map(|f| {
            let mine: Vec<&StudyPoint> = points.iter().filter(|p| &p.family == f).collect();
            FamilyCount {
                family: f.clone(),
                points: mine.len(),
                po_full: mine.iter().filter(|p| p.po_full).count(),
                po_vs: families
                    .iter()
                    .filter(|g| *g != f)
                    .map(|g| {
                        let n = mine
                            .iter()
                            .filter(|p| p.po_vs.iter().any(|(o, po)| o == g && *po))
                            .count();
                        (g.clone(), n)
                    })
                    .collect(),
            }
        })
        .collect();
    Some(OptimizerStudy {
        axes,
        points,
        counts,
        left_out,
    })
}

fn metric(a: &Axis) -> super::aggregates::Metric {
    super::aggregates::Metric {
        split: Split::Test,
        metric: a.metric.clone(),
        direction: if a.higher_is_better {
            super::factors::Direction::HigherIsBetter
        } else {
            super::factors::Direction::LowerIsBetter
        },
    }
}

/// Sets every point's `po_full` and `po_vs` (one entry per group other than its own).
fn mark_pareto(points: &mut [StudyPoint], axes: &[Axis], families: &[String]) {
    let snapshot: Vec<(String, Vec<f64>)> = points
        .iter()
        .map(|p| (p.family.clone(), p.values.clone()))
        .collect();
    for p in points.iter_mut() {
        let dominated_by = |g: Option<&str>| {
            snapshot
                .iter()
                .filter(|(f, _)| g.is_none_or(|g| f == g))
                .any(|(_, q)| dominates(q, &p.values, axes))
        };
        p.po_full = !dominated_by(None);
        p.po_vs = families
            .iter()
            .filter(|g| **g != p.family)
            .map(|g| (g.clone(), !dominated_by(Some(g))))
            .collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ax(higher: bool) -> Axis {
        Axis {
            task: "t".into(),
            metric: "m".into(),
            higher_is_better: higher,
        }
    }

    fn pt(family: &str, values: &[f64]) -> StudyPoint {
        StudyPoint {
            variant: String::new(),
            label: String::new(),
            grid_tag: String::new(),
            optimizer: family.into(),
            family: family.into(),
            seeds: 1,
            values: values.to_vec(),
            delta_m: f64::NAN,
            selected: false,
            po_full: false,
            po_vs: Vec::new(),
        }
    }

    #[test]
    fn dominance_respects_each_axis_direction() {
        // Axis 0: mIoU (higher better); axis 1: abs err (lower better).
        let axes = [ax(true), ax(false)];
        assert!(dominates(&[0.5, 0.1], &[0.4, 0.2], &axes));
        assert!(dominates(&[0.5, 0.1], &[0.5, 0.2], &axes));
        assert!(!dominates(&[0.5, 0.1], &[0.5, 0.1], &axes)); // equal: no
        assert!(!dominates(&[0.5, 0.3], &[0.4, 0.2], &axes)); // trade-off
        assert!(!dominates(&[0.4, 0.2], &[0.5, 0.1], &axes));
    }

    #[test]
    fn pareto_counts_by_hand() {
        // (mIoU ↑, abs err ↓). Adam: A1 (0.6, 0.3), A2 (0.5, 0.2), A3 (0.4, 0.4).
        // SGD: S1 (0.55, 0.25), S2 (0.3, 0.5). signSGD: G1 (0.45, 0.35).
        // Full front: A1, A2, S1 (A3 is dominated by S1; S2 by every other point; G1 by S1).
        // Adam w.r.t. SGD: A1, A2 (S1 dominates A3). SGD w.r.t. Adam: S1 (A1 has the higher
        // mIoU but the larger error), not S2. signSGD w.r.t. Adam or SGD: none (A2 and S1
        // dominate G1). SGD w.r.t. signSGD: S1 (G1 dominates S2). Adam w.r.t. signSGD: A1, A2
        // (G1 dominates A3).
        let axes = [ax(true), ax(false)];
        let mut pts = vec![
            pt("adam", &[0.6, 0.3]),
            pt("adam", &[0.5, 0.2]),
            pt("adam", &[0.4, 0.4]),
            pt("sgd", &[0.55, 0.25]),
            pt("sgd", &[0.3, 0.5]),
            pt("signsgd", &[0.45, 0.35]),
        ];
        let fams = ["adam".to_string(), "sgd".into(), "signsgd".into()];
        mark_pareto(&mut pts, &axes, &fams);
        let full: Vec<bool> = pts.iter().map(|p| p.po_full).collect();
        assert_eq!(full, [true, true, false, true, false, false]);
        let vs = |i: usize, g: &str| pts[i].po_vs.iter().find(|(f, _)| f == g).unwrap().1;
        assert_eq!(
            (vs(0, "sgd"), vs(1, "sgd"), vs(2, "sgd")),
            (true, true, false)
        );
        assert_eq!((vs(3, "adam"), vs(4, "adam")), (true, false));
        assert_eq!((vs(5, "adam"), vs(5, "sgd")), (false, false));
        assert_eq!((vs(3, "signsgd"), vs(4, "signsgd")), (true, false));
        assert_eq!(
            (vs(0, "signsgd"), vs(1, "signsgd"), vs(2, "signsgd")),
            (true, true, false)
        );
        // A point has no entry against its own group.
        assert!(pts[0].po_vs.iter().all(|(f, _)| f != "adam"));
        assert_eq!(family("adatask"), "adam");
        assert_eq!(family("signsgd"), "signsgd");
    }
}
