//! Analyses of an experiment (definitions: docs/formulas.md, "Analyses"; Mueller et al. 2025
//! §3–5, footnote 6, App. B.4). Each works on `Groups`: the completed runs of every variant at
//! its selected grid point. They work per metric: each task's metrics and their better sides
//! come from its runs' `run.json` ([`aggregates::Metric`]), so no analysis knows a task kind.
pub mod aggregates;
pub mod comparable_loss;
pub mod conflict;
pub mod delta_m;
pub mod factors;
pub mod optimizer_study;
pub mod pareto;
pub mod significance;
pub mod smto;
pub mod transfer;

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{bail, Result};

use crate::experiment::plan::{select, DeltaMAverage, SelectMetric, Selection};
use crate::experiment::store::{ExperimentData, RunData, RunKind, Split};
use crate::task::TaskInfo;
use aggregates::{metric_aggregate, rank_metric, Aggregate, Baseline, Metric, Ranking};
use factors::Direction;
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
    /// How its runs' checkpoints are ranked (fixes `top10_val` and `best_val`).
    pub rank: Ranking,
}

impl VariantGroup<'_> {
    /// Per-seed aggregates of `metric` for `task`.
    pub fn metric_values(&self, task: &str, metric: &Metric, agg: Aggregate) -> Vec<f64> {
        self.runs
            .iter()
            .filter_map(|r| metric_aggregate(r, task, metric, agg, &self.rank))
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
    /// What `run.json` says about each of `tasks` (same order): kind, metrics, directions.
    pub task_info: Vec<TaskInfo>,
    /// The selection metric (validation), which fixes every run's top-10 checkpoints.
    pub select: SelectMetric,
    /// Under `val_delta_m`: the STL validation values the multi-task runs' Δm is taken
    /// against (`None` otherwise).
    pub baseline: Option<Arc<Baseline>>,
    /// How Δm averages (`[analysis] delta_m_average`).
    pub delta_m_average: DeltaMAverage,
    /// `[selection] aggregate`.
    pub select_aggregate: Aggregate,
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
        let agg = Aggregate::from(sel.aggregate);
        let delta_m = sel.metric == SelectMetric::DeltaM;
        // Each variant's score has the direction of its selection metric(s), read from one of
        // its runs; a metric a task lacks is a configuration error. Under `val_delta_m` every
        // score (a validation loss or a validation Δm) is lower-is-better.
        let mut higher: HashMap<&str, bool> = HashMap::new();
        for v in &data.plan.variants {
            if let Some(run) = data.runs.iter().find(|r| r.variant == v.name) {
                let d = if delta_m {
                    Direction::LowerIsBetter
                } else {
                    score_direction(&sel.metric, &run.tasks, sel.tasks.as_deref()).map_err(|e| {
                        anyhow::anyhow!("variant `{}` (run {}): {e}", v.name, run.id)
                    })?
                };
                higher.insert(&v.name, d == Direction::HigherIsBetter);
            }
        }
        let run_of = |pr: &crate::experiment::plan::PlannedRun| -> Option<&RunData> {
            data.runs.iter().find(|r| r.id == pr.id)
        };
        let direction = |v: &str| higher.get(v).copied().unwrap_or(true);
        // `val_delta_m`: select the STL variants first (by validation loss), then take their
        // selected runs' validation metrics as the baseline of every multi-task run's Δm.
        let baseline = if delta_m {
            let stl = select(&data.plan, direction, |pr| {
                let run = run_of(pr).filter(|r| r.kind == RunKind::Stl)?;
                run_score(run, &Ranking::val_loss(), agg, None)
            });
            let b = stl_baseline(data, &stl, agg);
            if b.values.is_empty() && data.runs.iter().any(|r| r.kind != RunKind::Stl) {
                bail!(
                    "selection.metric = \"val_delta_m\": no completed STL variant gives a \
                     baseline (a variant training one task with the uniform objective); add \
                     them, or select by another metric"
                );
            }
            Some(Arc::new(b))
        } else {
            None
        };
        let rank_of = |kind: RunKind| match &baseline {
            Some(_) if kind == RunKind::Stl => Ranking::val_loss(),
            Some(b) => Ranking::DeltaM(b.clone()),
            None => Ranking::Metric(sel.metric.clone()),
        };
        let selections = select(&data.plan, direction, |pr| {
            let run = run_of(pr)?;
            run_score(run, &rank_of(run.kind), agg, sel.tasks.as_deref())
        });
        let mut variants = Vec::new();
        let mut tasks: Vec<String> = Vec::new();
        let mut task_info: Vec<TaskInfo> = Vec::new();
        let mut first_seen: Vec<&str> = Vec::new();
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
                match task_info.iter().position(|i| i.name == t.name) {
                    None => {
                        tasks.push(t.name.clone());
                        task_info.push(t.clone());
                        first_seen.push(&first.id);
                    }
                    // Transfer compares a task across variants: it must be the same task.
                    Some(k) if task_info[k] != *t => bail!(
                        "task `{}` differs between runs {} ({:?}) and {} ({:?}): one task name, \
                         one kind and one list of metrics per experiment",
                        t.name,
                        first_seen[k],
                        task_info[k],
                        first.id,
                        t
                    ),
                    Some(_) => {}
                }
            }
            variants.push(VariantGroup {
                name: v.name.clone(),
                label: v.label.clone(),
                index,
                kind: first.kind,
                tasks: first.task_names(),
                objective: first.objective.clone(),
                grid_tag: s.grid_tag.clone(),
                rank: rank_of(first.kind),
                runs,
            });
        }
        Ok(Groups {
            variants,
            selections,
            tasks,
            task_info,
            select: sel.metric.clone(),
            baseline,
            delta_m_average: data.plan.analysis.delta_m_average,
            select_aggregate: agg,
            spread,
        })
    }

    /// What `run.json` says about `task`.
    pub fn info(&self, task: &str) -> Option<&TaskInfo> {
        self.task_info.iter().find(|t| t.name == task)
    }

    /// The selection metric as it resolves over the experiment's tasks, for captions:
    /// `val_accuracy` when one name, else each task's (`val_miou (seg), val_abs_err (depth)`).
    pub fn rank_label(&self) -> String {
        if self.select == SelectMetric::DeltaM {
            return "val_delta_m (multi-task runs; STL runs: val_loss)".into();
        }
        let per_task: Vec<(String, String)> = self
            .task_info
            .iter()
            .filter_map(|t| Some((t.name.clone(), rank_metric(&self.select, t)?.name())))
            .collect();
        let mut names: Vec<&String> = per_task.iter().map(|p| &p.1).collect();
        names.dedup();
        if names.len() == 1 {
            return names[0].clone();
        }
        if per_task.is_empty() {
            return self.select.name();
        }
        per_task
            .iter()
            .map(|(t, m)| format!("{m} ({t})"))
            .collect::<Vec<_>>()
            .join(", ")
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

/// The selection metric of each task a run's score averages ([`score_tasks`] of the run's
/// `tasks`), or why one has none.
fn score_metrics(
    select: &SelectMetric,
    tasks: &[TaskInfo],
    score: Option<&[String]>,
) -> Result<Vec<(String, Metric)>> {
    let all: Vec<String> = tasks.iter().map(|t| t.name.clone()).collect();
    let names = score_tasks(&all, score);
    if names.is_empty() {
        bail!("the run has no tasks");
    }
    names
        .into_iter()
        .map(|t| {
            let info = tasks
                .iter()
                .find(|i| &i.name == t)
                .expect("a task of the run");
            match rank_metric(select, info) {
                Some(m) => Ok((t.clone(), m)),
                None => bail!(
                    "selection.metric `{}`: task `{t}` ({}) has no such metric (its metrics: {})",
                    select.name(),
                    info.kind,
                    info.metrics
                        .iter()
                        .map(|m| m.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
        })
        .collect()
}

/// The direction of the selection score of a run with `tasks` (`run.json`'s): that of the
/// selection metrics of the tasks it averages when they agree; when their better sides differ
/// (mIoU and a depth error under `primary`), [`run_score`] negates the lower-is-better values,
/// so the score is higher-is-better. Errors when a scored task lacks the named metric.
pub fn score_direction(
    select: &SelectMetric,
    tasks: &[TaskInfo],
    score: Option<&[String]>,
) -> Result<Direction> {
    Ok(orientation(&score_metrics(select, tasks, score)?))
}

/// The common direction of `metrics`, or higher-is-better when they differ (see
/// [`score_direction`]).
fn orientation(metrics: &[(String, Metric)]) -> Direction {
    let d = metrics[0].1.direction;
    if metrics.iter().all(|(_, m)| m.direction == d) {
        d
    } else {
        Direction::HigherIsBetter
    }
}

/// The validation baseline of `val_delta_m`: for each selected STL variant's task, each metric
/// other than the loss, the seed mean over its selected runs of the `agg` aggregate of that
/// validation metric, checkpoints ranked by the validation loss (Elich et al.'s STL baselines,
/// "early-stopped on the validation loss"). Tasks without an STL variant have none.
fn stl_baseline(data: &ExperimentData, selections: &[Selection], agg: Aggregate) -> Baseline {
    let mut values = Vec::new();
    for s in selections {
        let runs: Vec<&RunData> = data
            .runs
            .iter()
            .filter(|r| r.variant == s.variant && r.grid_tag == s.grid_tag)
            .filter(|r| r.kind == RunKind::Stl)
            .collect();
        let Some(first) = runs.first() else { continue };
        let task = &first.tasks[0];
        if values
            .iter()
            .any(|(t, ..): &(String, String, f64, bool)| *t == task.name)
        {
            continue; // the first STL variant of a task is its baseline (as `stl_for`)
        }
        for m in aggregates::metrics_of(task, Split::Val)
            .iter()
            .filter(|m| !m.is_loss())
        {
            let v: Vec<f64> = runs
                .iter()
                .filter_map(|r| metric_aggregate(r, &task.name, m, agg, &Ranking::val_loss()))
                .collect();
            if !v.is_empty() {
                let mean = v.iter().sum::<f64>() / v.len() as f64;
                values.push((
                    task.name.clone(),
                    m.metric.clone(),
                    mean,
                    m.higher_is_better(),
                ));
            }
        }
    }
    Baseline { values }
}

/// Selection score of one run under `val_delta_m`: the `agg` aggregate of its validation Δm
/// series ([`aggregates::val_delta_m_series`]; `top10_val`: the mean of its 10 lowest,
/// `best_val`: the lowest), lower is better.
fn delta_m_score(run: &RunData, base: &Baseline, agg: Aggregate) -> Option<f64> {
    let dm = aggregates::val_delta_m_series(run, base);
    match agg {
        Aggregate::Top10Val | Aggregate::BestVal => {
            let mut v: Vec<f64> = dm.iter().map(|p| p.1).collect();
            v.sort_by(f64::total_cmp);
            v.truncate(if agg == Aggregate::BestVal { 1 } else { 10 });
            (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
        }
        _ => aggregates::series_aggregate(&dm, agg),
    }
}

/// Selection score of one run: the aggregate of each scored task's selection metric
/// ([`score_tasks`], [`rank_metric`]), averaged over those tasks (lower-is-better values negated
/// when the metrics' better sides differ: [`score_direction`]); the selection metric also ranks
/// the top-10 checkpoints. `None` when a task lacks the metric or the data.
pub fn run_score(
    run: &RunData,
    rank: &Ranking,
    agg: Aggregate,
    tasks: Option<&[String]>,
) -> Option<f64> {
    let select = match rank {
        Ranking::Metric(s) => s,
        Ranking::DeltaM(base) => return delta_m_score(run, base, agg),
    };
    let metrics = score_metrics(select, &run.tasks, tasks).ok()?;
    let mixed = metrics
        .iter()
        .any(|(_, m)| m.direction != metrics[0].1.direction);
    let vals: Vec<f64> = metrics
        .iter()
        .filter_map(|(t, m)| {
            let v = metric_aggregate(run, t, m, agg, rank)?;
            Some(if mixed && !m.higher_is_better() {
                -v
            } else {
                v
            })
        })
        .collect();
    if vals.is_empty() || vals.len() < metrics.len() {
        return None;
    }
    Some(vals.iter().sum::<f64>() / vals.len() as f64)
}
