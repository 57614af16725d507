//! Analyses of an experiment (definitions: docs/formulas.md, "Analyses"; Mueller et al. 2025
//! §3–5, footnote 6, App. B.4). Each works on `Groups`: the completed runs of every variant at
//! its selected grid point.
pub mod aggregates;
pub mod comparable_loss;
pub mod conflict;
pub mod factors;
pub mod pareto;
pub mod significance;
pub mod smto;
pub mod transfer;

use anyhow::{bail, Result};

use crate::experiment::plan::{select, SelectAggregate, SelectMetric, Selection};
use crate::experiment::store::{ExperimentData, RunData, RunKind, Split};
use aggregates::{metric_aggregate, Aggregate, Metric, Quantity};
use significance::Spread;

/// The selected runs of one variant.
#[derive(Debug, Clone)]
pub struct VariantGroup<'a> {
    /// Variant name.
    pub name: String,
    /// Legend label.
    pub label: String,
    /// Index in the plan's variant order (fixes its colour).
    pub index: usize,
    /// STL / UMTG / SMTO.
    pub kind: RunKind,
    /// Its tasks (same for all its runs).
    pub tasks: Vec<String>,
    /// Objective (`umtg`, `aggregate:mgda`, ...).
    pub objective: String,
    /// Selected grid tag.
    pub grid_tag: String,
    /// Completed runs (one per seed) at the selected grid point.
    pub runs: Vec<&'a RunData>,
    /// The selection metric, which fixes every run's top-10 checkpoints.
    pub rank: Metric,
}

impl VariantGroup<'_> {
    /// Per-seed aggregates of `metric` for `task`.
    pub fn metric_values(&self, task: &str, metric: Metric, agg: Aggregate) -> Vec<f64> {
        self.runs
            .iter()
            .filter_map(|r| metric_aggregate(r, task, metric, agg, self.rank))
            .collect()
    }
    /// Per-seed aggregates of `probe` for `task`.
    pub fn probe_values(&self, task: &str, probe: &str, agg: Aggregate) -> Vec<f64> {
        self.runs
            .iter()
            .filter_map(|r| aggregates::series_aggregate(r.probe(task, probe), agg))
            .collect()
    }
    /// Whether this variant trains `task`.
    pub fn has_task(&self, task: &str) -> bool {
        self.tasks.iter().any(|t| t == task)
    }
}

/// All variants, plus the selection that produced them.
#[derive(Debug, Clone)]
pub struct Groups<'a> {
    /// Variants with at least one completed run, in plan order.
    pub variants: Vec<VariantGroup<'a>>,
    /// Grid selection per variant (empty scores without a grid).
    pub selections: Vec<Selection>,
    /// Every task in the experiment, in first-seen order.
    pub tasks: Vec<String>,
    /// The selection metric (validation), which fixes every run's top-10 checkpoints.
    pub rank: Metric,
    /// The ± of every interval: 2σ (the paper) or 2 standard errors.
    pub spread: Spread,
}

impl<'a> Groups<'a> {
    /// Select per variant the grid point with the best mean selection score over seeds
    /// (Mueller et al. §2.2: hyper-parameters "based on the best validation performance"), and
    /// group the completed runs of that point; intervals are the paper's ±2σ.
    pub fn build(data: &'a ExperimentData) -> Result<Self> {
        Self::build_with(data, Spread::Std)
    }

    /// [`Groups::build`] with every interval's ± chosen (`--spread`).
    pub fn build_with(data: &'a ExperimentData, spread: Spread) -> Result<Self> {
        let sel = &data.plan.selection;
        let metric = selection_metric(sel.metric);
        let agg = match sel.aggregate {
            SelectAggregate::Final => Aggregate::Final,
            SelectAggregate::Top10Val => Aggregate::Top10Val,
            SelectAggregate::Last20 => Aggregate::Last20,
        };
        let score = |pr: &crate::experiment::plan::PlannedRun| -> Option<f64> {
            let run = data.runs.iter().find(|r| r.id == pr.id)?;
            run_score(run, metric, agg, sel.tasks.as_deref())
        };
        let selections = select(&data.plan, metric.higher_is_better(), score);
        let mut variants = Vec::new();
        let mut tasks: Vec<String> = Vec::new();
        for (index, v) in data.plan.variants.iter().enumerate() {
            let Some(s) = selections.iter().find(|s| s.variant == v.name) else {
                continue;
            };
            let runs: Vec<&RunData> = data
                .runs
                .iter()
                .filter(|r| r.variant == v.name && r.grid_tag == s.grid_tag)
                .collect();
            if runs.is_empty() {
                continue;
            }
            let first = runs[0];
            for r in &runs {
                if r.tasks != first.tasks || r.objective != first.objective {
                    bail!(
                        "variant `{}`: runs {} and {} differ in tasks or objective \
                         ({:?} {} vs {:?} {})",
                        v.name,
                        first.id,
                        r.id,
                        first.tasks,
                        first.objective,
                        r.tasks,
                        r.objective
                    );
                }
            }
            for t in &first.tasks {
                if !tasks.contains(t) {
                    tasks.push(t.clone());
                }
            }
            variants.push(VariantGroup {
                name: v.name.clone(),
                label: v.label.clone(),
                index,
                kind: first.kind,
                tasks: first.tasks.clone(),
                objective: first.objective.clone(),
                grid_tag: s.grid_tag.clone(),
                runs,
                rank: metric,
            });
        }
        Ok(Groups {
            variants,
            selections,
            tasks,
            rank: metric,
            spread,
        })
    }

    /// The STL variant for `task` (one task, UMTG), the first in plan order.
    pub fn stl_for(&self, task: &str) -> Option<&VariantGroup<'a>> {
        self.variants
            .iter()
            .find(|v| v.kind == RunKind::Stl && v.tasks.len() == 1 && v.tasks[0] == task)
    }

    /// Multi-task variants (UMTG and SMTO) that train `task`.
    pub fn mtl_with(&self, task: &str) -> Vec<&VariantGroup<'a>> {
        self.variants
            .iter()
            .filter(|v| v.kind != RunKind::Stl && v.has_task(task))
            .collect()
    }
}

/// The validation metric named by `[selection] metric`.
pub fn selection_metric(m: SelectMetric) -> Metric {
    match m {
        SelectMetric::ValAccuracy => Metric::new(Split::Val, Quantity::Accuracy),
        SelectMetric::ValLoss => Metric::new(Split::Val, Quantity::Loss),
    }
}

/// The tasks a run's selection score averages: the selection tasks the run has, or all its
/// tasks when none are named or it has none of them (e.g. the STL baseline of an auxiliary
/// task).
pub fn score_tasks<'r>(run_tasks: &'r [String], tasks: Option<&[String]>) -> Vec<&'r String> {
    let names: Vec<&String> = match tasks {
        Some(ts) => run_tasks.iter().filter(|t| ts.contains(t)).collect(),
        None => run_tasks.iter().collect(),
    };
    if names.is_empty() {
        run_tasks.iter().collect()
    } else {
        names
    }
}

/// Selection score of one run: the aggregate of the selection metric `metric`, averaged over
/// [`score_tasks`]; `metric` also ranks the top-10 checkpoints (it is the selection metric).
pub fn run_score(
    run: &RunData,
    metric: Metric,
    agg: Aggregate,
    tasks: Option<&[String]>,
) -> Option<f64> {
    let names = score_tasks(&run.tasks, tasks);
    let vals: Vec<f64> = names
        .iter()
        .filter_map(|t| metric_aggregate(run, t, metric, agg, metric))
        .collect();
    if vals.is_empty() || vals.len() < names.len() {
        return None;
    }
    Some(vals.iter().sum::<f64>() / vals.len() as f64)
}
