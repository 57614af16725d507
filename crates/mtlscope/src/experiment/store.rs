//! Reading an experiment directory back: `plan.json` (or, without one, every run directory under
//! `runs/`), and each run through the run-file reader [`crate::train::run_files`] (`run.json`,
//! `trajectory.csv`, `probes.csv`; formats in docs/run-format.md) plus its `config.toml`.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::plan::{Plan, PlanVariant, PlannedRun, SelectionConfig, BASE_FILE};
use crate::task::TaskInfo;
use crate::train::run_files::{self, read_status, LOSS};
use crate::train::store::{RunLock, Status};

/// How a run relates to the paper's comparisons (Mueller et al. 2025 §2, §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RunKind {
    /// One task, uniform gradient.
    Stl,
    /// Several tasks, uniform multi-task gradient (Eq. 2).
    Umtg,
    /// A specialised multi-task optimizer (`objective.kind != "umtg"`).
    Smto,
}

impl RunKind {
    /// Lower-case name for tables.
    pub fn name(self) -> &'static str {
        match self {
            RunKind::Stl => "stl",
            RunKind::Umtg => "umtg",
            RunKind::Smto => "smto",
        }
    }
}

pub use crate::train::run_files::Split;

/// One evaluation of one metric of one task on one split.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EvalPoint {
    /// Epoch (fractional when evaluating every N steps; 0 = before training).
    pub epoch: f64,
    /// Optimizer step.
    pub step: u64,
    /// The metric's value (NaN where undefined).
    pub value: f64,
}

/// A trajectory series: (task, split, metric).
pub type SeriesKey = (String, Split, String);

/// One completed run, loaded.
#[derive(Debug, Clone)]
pub struct RunData {
    /// Run id (`variant[/grid]/seedK`).
    pub id: String,
    /// Variant name.
    pub variant: String,
    /// Seed.
    pub seed: u64,
    /// Grid tag ("" without grid).
    pub grid_tag: String,
    /// Run directory.
    pub dir: PathBuf,
    /// Tasks from `run.json`, in head order: name, kind and metrics with their directions.
    pub tasks: Vec<TaskInfo>,
    /// STL / UMTG / SMTO.
    pub kind: RunKind,
    /// `objective.kind` and `objective.method` (e.g. `aggregate:mgda`; `umtg`).
    pub objective: String,
    /// `optim.name` (`adam`, `sgd`, `signsgd`, …; the default `adam` when not written).
    pub optimizer: String,
    /// (task, split, metric) → evaluations sorted by step.
    pub trajectory: BTreeMap<SeriesKey, Vec<EvalPoint>>,
    /// (task, probe) → (step, value) sorted by step.
    pub probes: BTreeMap<(String, String), Vec<(u64, f64)>>,
    /// `similarity.csv`: Elich et al.'s per-epoch gradient-similarity summaries (empty when
    /// the run did not measure them).
    pub similarity: Vec<run_files::SimilaritySummary>,
}

impl RunData {
    /// Task names, in head order.
    pub fn task_names(&self) -> Vec<String> {
        self.tasks.iter().map(|t| t.name.clone()).collect()
    }

    /// What `run.json` says about `task`.
    pub fn task(&self, task: &str) -> Option<&TaskInfo> {
        self.tasks.iter().find(|t| t.name == task)
    }

    /// Evaluations of `metric` of `task` on `split`, by step (empty when absent).
    pub fn series(&self, task: &str, split: Split, metric: &str) -> &[EvalPoint] {
        self.trajectory
            .get(&(task.to_string(), split, metric.to_string()))
            .map(|v| v.as_slice())
            .unwrap_or(&[])
    }

    /// Value of `metric` of `task` on `split` at `step`, if evaluated there.
    pub fn value_at(&self, task: &str, split: Split, metric: &str, step: u64) -> Option<f64> {
        let s = self.series(task, split, metric);
        s.binary_search_by_key(&step, |p| p.step)
            .ok()
            .map(|i| s[i].value)
    }

    /// Probe values of `task` (empty when absent).
    pub fn probe(&self, task: &str, probe: &str) -> &[(u64, f64)] {
        self.probes
            .get(&(task.to_string(), probe.to_string()))
            .map(|v| v.as_slice())
            .unwrap_or(&[])
    }

    /// Full-training-set loss of `task` at `step`, if evaluated there.
    pub fn train_loss_at(&self, task: &str, step: u64) -> Option<f64> {
        self.value_at(task, Split::Train, LOSS, step)
    }

    /// Probe names present for `task`.
    pub fn probe_names(&self, task: &str) -> Vec<String> {
        self.probes
            .keys()
            .filter(|(t, _)| t == task)
            .map(|(_, p)| p.clone())
            .collect()
    }
}

/// A planned run that is not usable for the report, and why.
#[derive(Debug, Clone)]
pub struct Excluded {
    /// Run id.
    pub id: String,
    /// `missing`, `running`, `interrupted`, `diverged`, ...
    pub status: String,
    /// Message from run.json or the reason.
    pub message: String,
}

/// Everything the report needs from an experiment directory.
#[derive(Debug, Clone)]
pub struct ExperimentData {
    /// Experiment directory.
    pub dir: PathBuf,
    /// The plan (read, or reconstructed from the run directories).
    pub plan: Plan,
    /// Completed runs.
    pub runs: Vec<RunData>,
    /// Planned runs that did not complete.
    pub excluded: Vec<Excluded>,
}

impl ExperimentData {
    /// Load an experiment directory: `plan.json` when present, else every directory under
    /// `runs/` holding a `run.json` (variant = its path without the last component).
    pub fn load(dir: &Path) -> Result<Self> {
        let plan = if dir.join(super::plan::PLAN_FILE).exists() {
            Plan::load(dir)?
        } else {
            plan_from_dirs(dir)?
        };
        let mut runs = Vec::new();
        let mut excluded = Vec::new();
        // Sweep-stage runs only chose the grid point; the report reads the final stage.
        for r in plan.report_runs() {
            let rdir = dir.join(&r.dir);
            // One damaged run is named and skipped; it never stops the report.
            let unreadable = |e: anyhow::Error| Excluded {
                id: r.id.clone(),
                status: "unreadable".into(),
                message: format!("{e:#}"),
            };
            match read_status(&rdir) {
                Err(e) => excluded.push(unreadable(e)),
                Ok(None) => excluded.push(Excluded {
                    id: r.id.clone(),
                    status: "missing".into(),
                    message: format!("no {}", rdir.join("run.json").display()),
                }),
                Ok(Some((status, message))) if status != Status::Completed => {
                    excluded.push(Excluded {
                        id: r.id.clone(),
                        status: status.name().into(),
                        message,
                    })
                }
                Ok(Some(_)) if RunLock::is_held(&rdir) => excluded.push(Excluded {
                    id: r.id.clone(),
                    status: "in use".into(),
                    message: format!(
                        "{} is marked completed but a process is still writing it",
                        rdir.display()
                    ),
                }),
                Ok(Some(_)) => match load_run(r, &rdir) {
                    Ok(run) => runs.push(run),
                    Err(e) => excluded.push(unreadable(e)),
                },
            }
        }
        Ok(ExperimentData {
            dir: dir.to_path_buf(),
            plan,
            runs,
            excluded,
        })
    }
}

fn plan_from_dirs(dir: &Path) -> Result<Plan> {
    let root = dir.join("runs");
    if !root.is_dir() {
        bail!(
            "{} has neither plan.json nor a runs/ folder; is it an experiment directory?",
            dir.display()
        );
    }
    let mut found = Vec::new();
    walk(&root, &mut found)?;
    found.retain(|d| !d.starts_with(root.join(super::plan::SWEEP_DIR))); // never reported
    found.sort();
    if found.is_empty() {
        bail!("no run directory (with run.json) under {}", root.display());
    }
    let mut runs = Vec::new();
    let mut variants: Vec<PlanVariant> = Vec::new();
    for d in found {
        let rel = d.strip_prefix(&root).unwrap();
        let id = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        let (variant, last) = match id.rsplit_once('/') {
            Some((v, l)) => (v.to_string(), l.to_string()),
            None => (id.clone(), id.clone()),
        };
        let seed = last
            .strip_prefix("seed")
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        if !variants.iter().any(|v| v.name == variant) {
            variants.push(PlanVariant {
                name: variant.clone(),
                label: variant.clone(),
            });
        }
        runs.push(PlannedRun {
            dir: format!("runs/{id}"),
            id,
            variant,
            seed,
            grid: Default::default(),
            grid_tag: String::new(),
            overrides: Vec::new(),
            stage: Default::default(),
        });
    }
    Ok(Plan {
        version: 1,
        name: dir
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "experiment".into()),
        description: String::new(),
        base_config: BASE_FILE.into(),
        selection: SelectionConfig::default(),
        analysis: Default::default(),
        seeds: Vec::new(),
        grid: Default::default(),
        variants,
        runs,
        protocol: Default::default(),
    })
}

fn walk(d: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    if d.join("run.json").is_file() {
        out.push(d.to_path_buf());
        return Ok(());
    }
    for e in std::fs::read_dir(d).with_context(|| format!("listing {}", d.display()))? {
        let p = e?.path();
        if p.is_dir() {
            walk(&p, out)?;
        }
    }
    Ok(())
}

/// Load one completed run directory through the run-file reader ([`run_files`]): tasks and
/// their metrics from `run.json`, the objective from `config.toml`, the trajectory and probes.
pub fn load_run(r: &PlannedRun, dir: &Path) -> Result<RunData> {
    let info = run_files::read_run_info(dir)?;
    let tasks = info.tasks;
    if tasks.is_empty() {
        bail!("{}: no tasks", dir.join("run.json").display());
    }
    let cfg_path = dir.join("config.toml");
    let text = std::fs::read_to_string(&cfg_path)
        .with_context(|| format!("reading {}", cfg_path.display()))?;
    let cfg: toml::Table =
        toml::from_str(&text).with_context(|| format!("parsing {}", cfg_path.display()))?;
    let obj = cfg.get("objective");
    let okind = obj
        .and_then(|o| o.get("kind"))
        .and_then(|k| k.as_str())
        .unwrap_or("umtg")
        .to_string();
    let method = obj
        .and_then(|o| o.get("method"))
        .and_then(|k| k.as_str())
        .map(str::to_string);
    let kind = match (okind.as_str(), tasks.len()) {
        ("umtg", 1) => RunKind::Stl,
        ("umtg", _) => RunKind::Umtg,
        _ => RunKind::Smto,
    };
    let objective = match method {
        Some(m) if okind != "umtg" => format!("{okind}:{m}"),
        _ => okind,
    };
    let optimizer = cfg
        .get("optim")
        .and_then(|o| o.get("name"))
        .and_then(|n| n.as_str())
        .unwrap_or("adam")
        .to_string();

    let traj_path = dir.join("trajectory.csv");
    let mut trajectory: BTreeMap<SeriesKey, Vec<EvalPoint>> = BTreeMap::new();
    // The reader has checked the order (increasing steps per series); here the rows are checked
    // against run.json, so every series the analyses look up has a known direction.
    for row in run_files::read_trajectory(dir)? {
        let known = tasks
            .iter()
            .find(|t| t.name == row.task)
            .map(|t| t.metrics.iter().any(|m| m.name == row.metric));
        match known {
            Some(true) => {}
            Some(false) => bail!(
                "{}: metric `{}` of task `{}` at step {} is not among the task's metrics in \
                 run.json",
                traj_path.display(),
                row.metric,
                row.task,
                row.step
            ),
            None => bail!(
                "{}: task `{}` at step {} is not among the tasks in run.json",
                traj_path.display(),
                row.task,
                row.step
            ),
        }
        trajectory
            .entry((row.task, row.split, row.metric))
            .or_default()
            .push(EvalPoint {
                epoch: row.epoch,
                step: row.step,
                value: row.value,
            });
    }
    for t in &tasks {
        if !trajectory.contains_key(&(t.name.clone(), Split::Train, LOSS.to_string())) {
            bail!(
                "{}: no `train` loss rows for task `{}` listed in run.json",
                traj_path.display(),
                t.name
            );
        }
    }

    let mut probes: BTreeMap<(String, String), Vec<(u64, f64)>> = BTreeMap::new();
    for row in run_files::read_probes(dir)? {
        probes
            .entry((row.task, row.probe))
            .or_default()
            .push((row.step, row.value));
    }
    for v in probes.values_mut() {
        v.sort_by_key(|p| p.0);
    }

    Ok(RunData {
        id: r.id.clone(),
        variant: r.variant.clone(),
        seed: r.seed,
        grid_tag: r.grid_tag.clone(),
        dir: dir.to_path_buf(),
        tasks,
        kind,
        objective,
        optimizer,
        trajectory,
        probes,
        similarity: run_files::read_similarity(dir)?,
    })
}
