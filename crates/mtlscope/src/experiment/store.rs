//! Reading an experiment directory back: `plan.json` (or, without one, every run directory under
//! `runs/`), each run's `run.json`, `config.toml`, `trajectory.csv` and `probes.csv`
//! (formats in docs/run-format.md).
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use super::plan::{Plan, PlanVariant, PlannedRun, SelectionConfig, BASE_FILE};
use crate::train::store::RunLock;

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

/// Evaluation split of a trajectory row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Split {
    /// Full training set.
    Train,
    /// Validation set.
    Val,
    /// Test set.
    Test,
}

impl Split {
    fn parse(s: &str) -> Option<Split> {
        match s {
            "train" => Some(Split::Train),
            "val" => Some(Split::Val),
            "test" => Some(Split::Test),
            _ => None,
        }
    }
    /// Name as in the CSVs.
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Val => "val",
            Split::Test => "test",
        }
    }
}

/// One evaluation of one task on one split.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalPoint {
    /// Epoch (fractional when evaluating every N steps; 0 = before training).
    pub epoch: f64,
    /// Optimizer step.
    pub step: u64,
    /// Mean loss.
    pub loss: f64,
    /// Accuracy in [0, 1] (NaN when the task has none).
    pub accuracy: f64,
}

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
    /// Tasks from `config.toml` `[data].tasks`.
    pub tasks: Vec<String>,
    /// STL / UMTG / SMTO.
    pub kind: RunKind,
    /// `objective.kind` and `objective.method` (e.g. `aggregate:mgda`; `umtg`).
    pub objective: String,
    /// (task, split) → evaluations sorted by step.
    pub trajectory: BTreeMap<(String, Split), Vec<EvalPoint>>,
    /// (task, probe) → (step, value) sorted by step.
    pub probes: BTreeMap<(String, String), Vec<(u64, f64)>>,
}

impl RunData {
    /// Evaluations of `task` on `split` (empty when absent).
    pub fn series(&self, task: &str, split: Split) -> &[EvalPoint] {
        self.trajectory
            .get(&(task.to_string(), split))
            .map(|v| v.as_slice())
            .unwrap_or(&[])
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
        let s = self.series(task, Split::Train);
        s.binary_search_by_key(&step, |p| p.step)
            .ok()
            .map(|i| s[i].loss)
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

#[derive(Deserialize)]
struct TrajRow {
    epoch: f64,
    step: u64,
    task: String,
    split: String,
    loss: f64,
    accuracy: Option<f64>,
}

#[derive(Deserialize)]
struct ProbeRow {
    #[allow(dead_code)]
    epoch: f64,
    step: u64,
    task: String,
    probe: String,
    value: f64,
}

/// Status and message from `run.json`.
pub fn read_status(dir: &Path) -> Result<Option<(String, String)>> {
    let path = dir.join("run.json");
    if !path.exists() {
        return Ok(None);
    }
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let status = v
        .get("status")
        .and_then(|s| s.as_str())
        .with_context(|| format!("{}: no string field `status`", path.display()))?
        .to_string();
    let message = v
        .get("message")
        .and_then(|s| s.as_str())
        .unwrap_or("")
        .to_string();
    Ok(Some((status, message)))
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
                Ok(Some((status, message))) if status != "completed" => excluded.push(Excluded {
                    id: r.id.clone(),
                    status,
                    message,
                }),
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

/// Load one completed run directory.
pub fn load_run(r: &PlannedRun, dir: &Path) -> Result<RunData> {
    let cfg_path = dir.join("config.toml");
    let text = std::fs::read_to_string(&cfg_path)
        .with_context(|| format!("reading {}", cfg_path.display()))?;
    let cfg: toml::Table =
        toml::from_str(&text).with_context(|| format!("parsing {}", cfg_path.display()))?;
    let tasks: Vec<String> = cfg
        .get("data")
        .and_then(|d| d.get("tasks"))
        .and_then(|t| t.as_array())
        .with_context(|| format!("{}: no array [data].tasks", cfg_path.display()))?
        .iter()
        .map(|t| {
            t.as_str()
                .map(str::to_string)
                .with_context(|| format!("{}: [data].tasks holds a non-string", cfg_path.display()))
        })
        .collect::<Result<_>>()?;
    if tasks.is_empty() {
        bail!("{}: [data].tasks is empty", cfg_path.display());
    }
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

    let traj_path = dir.join("trajectory.csv");
    let mut trajectory: BTreeMap<(String, Split), Vec<EvalPoint>> = BTreeMap::new();
    let mut rdr = csv::Reader::from_path(&traj_path)
        .with_context(|| format!("reading {}", traj_path.display()))?;
    // Where each (task, split) was last evaluated: rows must come in increasing step order,
    // once per step. Anything else means two writers or a hand-edited file.
    let mut last: BTreeMap<(String, Split), (u64, usize)> = BTreeMap::new();
    for (i, row) in rdr.deserialize::<TrajRow>().enumerate() {
        let line = i + 2;
        let row = row.with_context(|| format!("{}: row {line}", traj_path.display()))?;
        let split = Split::parse(&row.split).with_context(|| {
            format!(
                "{}: row {line}: unknown split `{}` (train/val/test)",
                traj_path.display(),
                row.split
            )
        })?;
        let key = (row.task.clone(), split);
        if let Some(&(prev, prev_line)) = last.get(&key) {
            if row.step <= prev {
                bail!(
                    "{}: row {line}: {} `{}` at step {} after step {prev} (row {prev_line}): duplicated or out-of-order evaluations (two processes wrote this run?)",
                    traj_path.display(),
                    row.task,
                    split.name(),
                    row.step
                );
            }
        }
        last.insert(key, (row.step, line));
        trajectory
            .entry((row.task, split))
            .or_default()
            .push(EvalPoint {
                epoch: row.epoch,
                step: row.step,
                loss: row.loss,
                accuracy: row.accuracy.unwrap_or(f64::NAN),
            });
    }
    for v in trajectory.values_mut() {
        v.sort_by_key(|p| p.step);
    }
    for t in &tasks {
        if !trajectory.contains_key(&(t.clone(), Split::Train)) {
            bail!(
                "{}: no `train` rows for task `{t}` listed in config.toml",
                traj_path.display()
            );
        }
    }

    let mut probes: BTreeMap<(String, String), Vec<(u64, f64)>> = BTreeMap::new();
    let probe_path = dir.join("probes.csv");
    if probe_path.exists() {
        let mut rdr = csv::Reader::from_path(&probe_path)
            .with_context(|| format!("reading {}", probe_path.display()))?;
        for (i, row) in rdr.deserialize::<ProbeRow>().enumerate() {
            let row = row.with_context(|| format!("{}: row {}", probe_path.display(), i + 2))?;
            probes
                .entry((row.task, row.probe))
                .or_default()
                .push((row.step, row.value));
        }
        for v in probes.values_mut() {
            v.sort_by_key(|p| p.0);
        }
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
        trajectory,
        probes,
    })
}
