//! Experiment config (`EXP.toml`) → a plan of runs, and hyper-parameter selection over a grid.
//!
//! An experiment names a base run config, variants (override sets: STL on one task, MTL on a task
//! set, SMTO objectives), seeds, and an optional grid (learning rate × batch size, the sweep of
//! Mueller et al. 2025, App. A). Each run is a normal run directory under `runs/` with a readable
//! id `<variant>[/<grid tag>]/seed<k>`.
//!
//! With a grid, selection follows the paper (§2.2: "3 random seeds after selecting
//! hyper-parameters based on the best validation performance out of an initial hyper-parameter
//! sweep") in two stages:
//! 1. **sweep**: every variant × grid point × `[sweep].seeds`, with the sweep's own overrides
//!    (e.g. probes off); ids `sweep/<variant>/<grid tag>/seed<k>`;
//! 2. **final**: per variant, the grid point with the best selection score over the sweep, run
//!    with `[experiment].seeds` (disjoint from the sweep's); ids `<variant>/<grid tag>/seed<k>`.
//!
//! Only final-stage runs reach the report ([`Plan::report_runs`]); the sweep's scores are recorded
//! in `plan.json` ([`Protocol::selected`]). Selecting and reporting on the same runs (biased: the
//! reported seeds are the ones that won the selection) is kept as the explicit option
//! `selection.same_runs = true`.
//!
//! ```toml
//! [experiment]
//! name = "fashion_mtl"
//! base = "base.toml"                  # run config, relative to this file
//! seeds = [1, 2, 3]                   # the report's seeds (final stage)
//! set = { "train.epochs" = 100 }      # overrides for every run (optional)
//!
//! [sweep]                              # stage 1; required with a grid of 2+ points
//! seeds = [101]                        # unless selection.same_runs = true
//! set = { "probes.enabled" = false }   # overrides for sweep runs only (optional)
//!
//! [selection]                          # optional; these are the defaults
//! metric = "primary"                   # each task's primary metric; or "val_loss", "val_miou",
//!                                      # …, or "val_delta_m" (early stopping on validation Δm)
//! aggregate = "top10_val"              # or "final", "last20", "best_val" (the best checkpoint)
//! tasks = ["fashion1"]                 # default: all tasks of the variant (mean over them)
//! same_runs = false                    # true: one stage, select on the reported runs
//!
//! [analysis]                           # optional
//! delta_m_average = "tasks"            # Δm: mean over tasks of per-task means; or "metrics"
//!
//! [grid]                               # optional
//! "optim.lr" = [0.01, 0.001]
//! "train.batch_size" = [64, 128]
//!
//! [[omitted]]                          # optional: grid values of the paper left out, and why
//! key = "train.batch_size"
//! values = [4]
//! reason = "25,000 steps per epoch do not fit the CPU budget"
//!
//! [slurm]                              # optional, for --launcher slurm
//! partition = "cpu"                    # --partition
//! time = "04:00:00"                    # --time
//! cpus_per_task = 2                    # --cpus-per-task, also the run's threads
//! mem = "8G"                           # --mem
//! gpus = 0                             # --gres=gpu:N (N > 0: runs use --device cuda)
//! extra = ["--account=abc"]            # more #SBATCH lines
//!
//! [[auxiliary_sets]]                  # optional: variants target + drawn auxiliary tasks
//! target = "fish"                      # (Mueller et al. §5; see experiment/auxiliary.rs)
//! pool = ["insects", "people", "trees"]
//! size = 2
//! count = 3
//!
//! [[variant]]
//! name = "mtl_fashion2"
//! label = "MTL: fashion1 + fashion2"   # optional, for legends
//! set = { "data.tasks" = ["fashion1", "fashion2"] }
//! ```
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context, Result};
use serde::{Deserialize, Serialize};

/// The whole experiment config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentConfig {
    /// `[experiment]`.
    pub experiment: ExperimentSection,
    /// `[selection]`: how a grid point is chosen per variant.
    #[serde(default)]
    pub selection: SelectionConfig,
    /// `[sweep]`: stage 1 of the two-stage selection.
    #[serde(default)]
    pub sweep: Option<SweepConfig>,
    /// `[analysis]`: how the report's summaries are computed.
    #[serde(default)]
    pub analysis: AnalysisConfig,
    /// `[grid]`: dotted run-config key → values to sweep.
    #[serde(default)]
    pub grid: BTreeMap<String, Vec<toml::Value>>,
    /// `[[omitted]]`: values of the reference grid left out of `[grid]`, with the reason.
    #[serde(default)]
    pub omitted: Vec<OmittedConfig>,
    /// `[slurm]`: what each job-array element asks of the scheduler (`--launcher slurm`).
    #[serde(default)]
    pub slurm: crate::experiment::slurm::SlurmConfig,
    /// `[[variant]]`.
    #[serde(default, rename = "variant")]
    pub variants: Vec<VariantConfig>,
    /// `[[auxiliary_sets]]`: variants generated by drawing auxiliary task sets for a target
    /// (Mueller et al. §5); appended to `variants` when the config is read.
    #[serde(default)]
    pub auxiliary_sets: Vec<super::auxiliary::AuxiliarySets>,
}

/// `[sweep]`: the hyper-parameter sweep that selects each variant's grid point.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepConfig {
    /// Seeds of the sweep runs (disjoint from `experiment.seeds`).
    pub seeds: Vec<u64>,
    /// Overrides for sweep runs only, applied after the experiment's and the variant's.
    #[serde(default)]
    pub set: BTreeMap<String, toml::Value>,
}

/// How Δm averages its relative changes (`analysis.delta_m_average`).
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DeltaMAverage {
    /// Mean over tasks of each task's mean over its metrics (LibMTL's `count_improvement`;
    /// a task with five metrics weighs as much as one with one).
    #[default]
    Tasks,
    /// Flat mean over all metrics (Maninis et al.; Elich et al. 2025, whose NYUv2 and
    /// Cityscapes tables recompute only this way: ../shared/specs/elich.md).
    Metrics,
}

/// `[analysis]` section.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AnalysisConfig {
    /// How the report's Δm averages (default `tasks`).
    #[serde(default)]
    pub delta_m_average: DeltaMAverage,
}

/// One `[[omitted]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OmittedConfig {
    /// Dotted run-config key (`train.batch_size`).
    pub key: String,
    /// The values left out.
    pub values: Vec<toml::Value>,
    /// Why (shown in plan.json and the report).
    pub reason: String,
}

/// `[experiment]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentSection {
    /// Experiment name (report title).
    pub name: String,
    /// Base run config, relative to the experiment config's folder.
    pub base: PathBuf,
    /// Training seeds; each becomes `train.seed`.
    pub seeds: Vec<u64>,
    /// Overrides applied to every run (before the variant's and the grid's).
    #[serde(default)]
    pub set: BTreeMap<String, toml::Value>,
    /// Free text shown at the top of the report.
    #[serde(default)]
    pub description: String,
}

/// One `[[variant]]`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VariantConfig {
    /// Short id used in run ids and paths (`[A-Za-z0-9_.-]+`).
    pub name: String,
    /// Legend label; defaults to the name.
    #[serde(default)]
    pub label: Option<String>,
    /// Overrides (dotted key → TOML value) on top of the base config.
    #[serde(default)]
    pub set: BTreeMap<String, toml::Value>,
}

/// Which validation metric picks the grid point and ranks each run's top-10 checkpoints (paper:
/// "best validation performance"), with the direction `run.json` gives it.
///
/// Written `primary` (the default: each task's primary metric, the first after its loss in
/// `run.json`, e.g. a multi-class task's accuracy, a segmentation task's mIoU), `val_<metric>`
/// for one named metric of every scored task (`val_accuracy`, `val_loss`, `val_miou`), or
/// `val_delta_m`: early stopping on the validation Δm (Elich et al. 2025, App. A3; LibMTL's
/// `_update_best_result_by_val`). Under `val_delta_m` an STL variant ranks its checkpoints by
/// its validation loss (Elich's STL baselines), and a multi-task run ranks them by its
/// validation Δm against those baselines (seed means at their selected checkpoints); one
/// checkpoint per run, not per task (see `analysis::aggregates::Ranking`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub enum SelectMetric {
    /// Each task's primary metric on the validation split.
    #[default]
    Primary,
    /// This metric (`accuracy`, `loss`, …) on the validation split.
    Val(String),
    /// The validation Δm against the STL variants (`val_delta_m`).
    DeltaM,
}

impl SelectMetric {
    /// Name as in configs and tables (`primary`, `val_accuracy`).
    pub fn name(&self) -> String {
        match self {
            SelectMetric::Primary => "primary".into(),
            SelectMetric::Val(m) => format!("val_{m}"),
            SelectMetric::DeltaM => "val_delta_m".into(),
        }
    }

    /// Parses `primary`, `val_delta_m` or `val_<metric>`.
    pub fn parse(s: &str) -> Result<SelectMetric, String> {
        if s == "primary" {
            return Ok(SelectMetric::Primary);
        }
        if s == "val_delta_m" {
            return Ok(SelectMetric::DeltaM);
        }
        match s.strip_prefix("val_") {
            Some(m) if !m.is_empty() => Ok(SelectMetric::Val(m.to_string())),
            _ => Err(format!(
                "selection.metric must be `primary` (each task's primary metric), \
                 `val_delta_m` (early stopping on the validation Δm against the STL variants) \
                 or `val_<metric>` naming a validation metric (`val_accuracy`, `val_loss`, \
                 `val_miou`, …), got `{s}`"
            )),
        }
    }
}

impl TryFrom<String> for SelectMetric {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        SelectMetric::parse(&s)
    }
}

impl From<SelectMetric> for String {
    fn from(m: SelectMetric) -> String {
        m.name()
    }
}

/// Aggregate of a run's validation trajectory used for selection (see `analysis::aggregates`).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SelectAggregate {
    /// Value at the last evaluation.
    Final,
    /// Mean of the 10 best validation values.
    Top10Val,
    /// Mean of the last 20 evaluations.
    Last20,
    /// The single best checkpoint (early stopping).
    BestVal,
}

impl SelectAggregate {
    /// Name as in the tables (`top10_val`).
    pub fn name(self) -> &'static str {
        match self {
            SelectAggregate::Final => "final",
            SelectAggregate::Top10Val => "top10_val",
            SelectAggregate::Last20 => "last20",
            SelectAggregate::BestVal => "best_val",
        }
    }
}

/// `[selection]` section.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SelectionConfig {
    /// Validation metric (default `primary`: each task's primary metric).
    #[serde(default)]
    pub metric: SelectMetric,
    /// Aggregate over the trajectory (default `top10_val`).
    #[serde(default = "default_aggregate")]
    pub aggregate: SelectAggregate,
    /// Tasks averaged for the score; tasks a variant lacks are skipped. Default: all its tasks.
    #[serde(default)]
    pub tasks: Option<Vec<String>>,
    /// One stage: select among the runs that are also reported (selection bias; opt-in).
    #[serde(default)]
    pub same_runs: bool,
}

fn default_aggregate() -> SelectAggregate {
    SelectAggregate::Top10Val
}

impl Default for SelectionConfig {
    fn default() -> Self {
        SelectionConfig {
            metric: SelectMetric::default(),
            aggregate: default_aggregate(),
            tasks: None,
            same_runs: false,
        }
    }
}

/// Stage of a run in the two-stage selection.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Stage 1: the hyper-parameter sweep; never reported.
    Sweep,
    /// Stage 2 (or the only stage): the runs the report reads.
    #[default]
    Final,
}

impl Stage {
    /// Name as in plan.json (`sweep`, `final`).
    pub fn name(self) -> &'static str {
        match self {
            Stage::Sweep => "sweep",
            Stage::Final => "final",
        }
    }
}

/// One run of the plan.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PlannedRun {
    /// `[sweep/]<variant>[/<grid tag>]/seed<k>`.
    pub id: String,
    /// Variant name.
    pub variant: String,
    /// Training seed.
    pub seed: u64,
    /// Grid point (dotted key → value as TOML text); empty without a grid.
    pub grid: BTreeMap<String, String>,
    /// Grid tag used in the id (`lr0.001-bs64`), empty without a grid.
    pub grid_tag: String,
    /// `--set` arguments in order: experiment, variant, sweep (sweep runs), grid, seed.
    pub overrides: Vec<String>,
    /// Run directory relative to the experiment directory (`runs/<id>`).
    pub dir: String,
    /// `sweep` or `final` (plans without the field: `final`).
    #[serde(default)]
    pub stage: Stage,
}

/// A variant as recorded in the plan.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PlanVariant {
    /// Variant name.
    pub name: String,
    /// Legend label.
    pub label: String,
}

/// How hyper-parameters are selected: one stage or two.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ProtocolMode {
    /// One stage: selection (if there is a grid) among the reported runs themselves. Plans
    /// written before the field existed are this.
    #[default]
    OneStage,
    /// A sweep selects each variant's grid point; fresh seeds at that point are reported.
    TwoStage,
}

/// Stage 1 as recorded in plan.json.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SweepPlan {
    /// Sweep seeds.
    pub seeds: Vec<u64>,
    /// The sweep's own overrides (`key=value`).
    pub overrides: Vec<String>,
}

/// Reference-grid values left out, as recorded in plan.json.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OmittedPlan {
    /// Dotted key.
    pub key: String,
    /// Values (TOML text).
    pub values: Vec<String>,
    /// Why.
    pub reason: String,
}

/// Score of one grid point of a variant over the sweep seeds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PointScore {
    /// Grid tag.
    pub grid_tag: String,
    /// Mean selection score over the scored seeds (`None`: no seed scored, e.g. all diverged).
    pub score: Option<f64>,
    /// Seeds scored.
    pub seeds_scored: usize,
    /// Seeds run.
    pub seeds_run: usize,
}

/// The grid point stage 1 selected for one variant.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SelectedPoint {
    /// Variant name.
    pub variant: String,
    /// Chosen grid tag.
    pub grid_tag: String,
    /// Chosen grid point (dotted key → TOML text).
    pub grid: BTreeMap<String, String>,
    /// Every grid point's score, in grid order.
    pub scores: Vec<PointScore>,
}

/// Selection protocol, recorded in plan.json (`protocol`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Protocol {
    /// `one_stage` or `two_stage`.
    pub mode: ProtocolMode,
    /// Stage 1 (two-stage only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep: Option<SweepPlan>,
    /// Reference-grid values left out of the grid, with reasons.
    #[serde(default)]
    pub omitted: Vec<OmittedPlan>,
    /// Per variant, the grid point stage 1 selected (filled once its sweep runs are settled).
    #[serde(default)]
    pub selected: Vec<SelectedPoint>,
}

/// The expanded experiment, written to `EXP_DIR/plan.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Plan {
    /// Format version of plan.json (2: stages and `protocol`).
    pub version: u32,
    /// Experiment name.
    pub name: String,
    /// Description text.
    #[serde(default)]
    pub description: String,
    /// Base config as copied into the experiment directory (`base.toml`).
    pub base_config: String,
    /// Selection rule.
    pub selection: SelectionConfig,
    /// `[analysis]` (plans without it: the defaults).
    #[serde(default)]
    pub analysis: AnalysisConfig,
    /// The report's seeds (final stage).
    pub seeds: Vec<u64>,
    /// Grid keys → values (TOML text).
    pub grid: BTreeMap<String, Vec<String>>,
    /// Variants in config order (this order fixes colours in the report).
    pub variants: Vec<PlanVariant>,
    /// All runs: sweep runs, then final runs (two-stage: added per variant after its selection).
    pub runs: Vec<PlannedRun>,
    /// Selection protocol, stages and the recorded selection.
    #[serde(default)]
    pub protocol: Protocol,
}

/// File name of the plan inside an experiment directory.
pub const PLAN_FILE: &str = "plan.json";
/// File name of the copied base config inside an experiment directory.
pub const BASE_FILE: &str = "base.toml";
/// Version written to plan.json.
pub const PLAN_VERSION: u32 = 2;
/// Folder (under `runs/`) and id prefix of sweep runs; not a valid variant name.
pub const SWEEP_DIR: &str = "sweep";

impl ExperimentConfig {
    /// Read and check an experiment config; unknown keys are errors naming the key.
    pub fn load(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::from_text(&text, path)
    }

    /// Apply `--set section.key=value` overrides to the experiment config itself
    /// (e.g. `experiment.seeds=[1]`, `grid.optim.lr=[0.001]`), parsed as TOML values when they
    /// parse. Under `grid.` the rest of the key is one grid key.
    pub fn apply_sets(text: &str, sets: &[String]) -> Result<String> {
        let mut doc: toml::Table = toml::from_str(text).context("parsing experiment config")?;
        for s in sets {
            let (key, value) = parse_set(s)?;
            let mut parts: Vec<&str> = key.split('.').collect();
            if parts[0] == "grid" && parts.len() > 2 {
                parts = vec!["grid", &key["grid.".len()..]];
            }
            let mut table = &mut doc;
            for p in &parts[..parts.len() - 1] {
                table = table
                    .entry(p.to_string())
                    .or_insert_with(|| toml::Value::Table(Default::default()))
                    .as_table_mut()
                    .with_context(|| format!("--set {s}: `{p}` is not a table"))?;
            }
            table.insert(parts[parts.len() - 1].to_string(), value);
        }
        Ok(toml::to_string(&doc)?)
    }

    /// Parse from text (after `apply_sets`), naming `origin` in errors.
    pub fn from_text(text: &str, origin: &Path) -> Result<Self> {
        let mut cfg: ExperimentConfig =
            toml::from_str(text).with_context(|| format!("parsing {}", origin.display()))?;
        for a in &cfg.auxiliary_sets {
            let generated = a
                .variants()
                .with_context(|| format!("checking {}", origin.display()))?;
            cfg.variants.extend(generated);
        }
        cfg.check()
            .with_context(|| format!("checking {}", origin.display()))?;
        Ok(cfg)
    }

    /// Number of grid points (1 without a grid).
    pub fn grid_size(&self) -> usize {
        self.grid.values().map(|v| v.len()).product()
    }

    /// Two stages (a `[sweep]`) or one.
    pub fn mode(&self) -> ProtocolMode {
        if self.sweep.is_some() {
            ProtocolMode::TwoStage
        } else {
            ProtocolMode::OneStage
        }
    }

    fn check(&self) -> Result<()> {
        ensure!(
            !self.experiment.seeds.is_empty(),
            "experiment.seeds is empty"
        );
        let mut seen = HashSet::new();
        for s in &self.experiment.seeds {
            ensure!(seen.insert(*s), "experiment.seeds lists seed {s} twice");
        }
        ensure!(!self.variants.is_empty(), "no [[variant]] given");
        let mut names = HashSet::new();
        for v in &self.variants {
            ensure!(
                !v.name.is_empty()
                    && v.name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)),
                "variant name `{}` must be non-empty and use only [A-Za-z0-9_.-]",
                v.name
            );
            ensure!(
                v.name != SWEEP_DIR,
                "variant name `{SWEEP_DIR}` is reserved (runs/{SWEEP_DIR}/ holds the sweep stage)"
            );
            ensure!(names.insert(&v.name), "variant `{}` given twice", v.name);
            for k in v.set.keys() {
                check_key(k).with_context(|| format!("variant `{}`", v.name))?;
                ensure!(
                    k != "train.seed",
                    "variant `{}` sets train.seed; seeds come from experiment.seeds",
                    v.name
                );
            }
        }
        for (k, vals) in &self.grid {
            check_key(k).context("[grid]")?;
            ensure!(!vals.is_empty(), "grid key `{k}` has no values");
            ensure!(
                k != "train.seed",
                "grid sweeps train.seed; use experiment.seeds"
            );
            // Two equal values would give two runs the same id and directory (they would race).
            for (i, v) in vals.iter().enumerate() {
                ensure!(
                    !vals[..i].contains(v),
                    "grid key `{k}` lists the value {} twice",
                    toml_text(v)
                );
            }
        }
        for k in self.experiment.set.keys() {
            check_key(k).context("experiment.set")?;
        }
        // A key both set and swept: the grid would silently override the set value.
        let sets = std::iter::once(("experiment.set".to_string(), &self.experiment.set))
            .chain(
                self.variants
                    .iter()
                    .map(|v| (format!("variant `{}`", v.name), &v.set)),
            )
            .chain(self.sweep.iter().map(|s| ("sweep.set".to_string(), &s.set)));
        for (what, set) in sets {
            for k in set.keys() {
                ensure!(
                    !self.grid.contains_key(k),
                    "`{k}` is a [grid] key and is also set in {what}; the grid decides it"
                );
            }
        }
        if let Some(t) = &self.selection.tasks {
            ensure!(!t.is_empty(), "selection.tasks is empty");
        }
        // Δm needs the STL variants' selection before the multi-task variants' one; the report
        // orders them, the two-stage runner (which selects each variant as its sweep settles)
        // does not.
        ensure!(
            self.selection.metric != SelectMetric::DeltaM || self.sweep.is_none(),
            "selection.metric = \"val_delta_m\" selects on the reported runs (one stage, as \
             Elich et al.): remove [sweep] and set selection.same_runs = true"
        );
        for o in &self.omitted {
            check_key(&o.key).context("[[omitted]]")?;
            ensure!(
                !o.values.is_empty(),
                "[[omitted]] `{}` lists no values",
                o.key
            );
            ensure!(
                !o.reason.trim().is_empty(),
                "[[omitted]] `{}` gives no reason",
                o.key
            );
            if let Some(vals) = self.grid.get(&o.key) {
                for v in &o.values {
                    ensure!(
                        !vals.contains(v),
                        "[[omitted]] `{}` lists {} as left out, but [grid] sweeps it",
                        o.key,
                        toml_text(v)
                    );
                }
            }
        }
        match &self.sweep {
            Some(sw) => {
                ensure!(
                    !self.selection.same_runs,
                    "[sweep] and selection.same_runs = true contradict each other: the sweep \
                     exists so that the reported runs are not the ones selected on"
                );
                ensure!(
                    !self.grid.is_empty(),
                    "[sweep] is given but [grid] is empty: there is nothing to select"
                );
                ensure!(!sw.seeds.is_empty(), "sweep.seeds is empty");
                let mut seen = HashSet::new();
                for s in &sw.seeds {
                    ensure!(seen.insert(*s), "sweep.seeds lists seed {s} twice");
                    ensure!(
                        !self.experiment.seeds.contains(s),
                        "seed {s} is both a sweep seed and an experiment (final) seed; a final \
                         run would repeat the run it was selected on"
                    );
                }
                for k in sw.set.keys() {
                    check_key(k).context("sweep.set")?;
                    ensure!(
                        k != "train.seed",
                        "sweep.set sets train.seed; seeds come from sweep.seeds"
                    );
                }
            }
            None => {
                let n = self.grid_size();
                ensure!(
                    n < 2 || self.selection.same_runs,
                    "[grid] has {n} points but there is no [sweep]: add a [sweep] stage (select \
                     on its seeds, report fresh seeds at the selected point, as Mueller et al. \
                     2025 §2.2), or set selection.same_runs = true to select and report on the \
                     same runs (biased)"
                );
            }
        }
        Ok(())
    }

    /// One run: overrides experiment, variant, [sweep], grid, seed.
    fn run(
        &self,
        v: &VariantConfig,
        point: &[(String, toml::Value)],
        seed: u64,
        stage: Stage,
    ) -> PlannedRun {
        let tag = grid_tag(point);
        let mut id = String::new();
        if stage == Stage::Sweep {
            id.push_str(SWEEP_DIR);
            id.push('/');
        }
        id.push_str(&v.name);
        if !tag.is_empty() {
            id.push('/');
            id.push_str(&tag);
        }
        id.push_str(&format!("/seed{seed}"));
        let mut overrides = Vec::new();
        let sweep_set = match (stage, &self.sweep) {
            (Stage::Sweep, Some(sw)) => Some(&sw.set),
            _ => None,
        };
        for (k, val) in self
            .experiment
            .set
            .iter()
            .chain(v.set.iter())
            .chain(sweep_set.into_iter().flatten())
        {
            overrides.push(format!("{k}={}", toml_text(val)));
        }
        for (k, val) in point {
            overrides.push(format!("{k}={}", toml_text(val)));
        }
        overrides.push(format!("train.seed={seed}"));
        PlannedRun {
            dir: format!("runs/{id}"),
            id,
            variant: v.name.clone(),
            seed,
            grid: point
                .iter()
                .map(|(k, v)| (k.clone(), toml_text(v)))
                .collect(),
            grid_tag: tag,
            overrides,
            stage,
        }
    }

    /// Expand into the plan of stage 1: the sweep runs (two stages), or every run (one stage).
    /// Final-stage runs of a two-stage plan are added by [`Plan::record_selection`].
    /// `base_config` is the path the runs will be given (`EXP_DIR/base.toml`).
    pub fn expand(&self, base_config: &str) -> Result<Plan> {
        let points = grid_points(&self.grid);
        let (stage, seeds) = match &self.sweep {
            Some(sw) => (Stage::Sweep, &sw.seeds),
            None => (Stage::Final, &self.experiment.seeds),
        };
        let mut runs = Vec::new();
        for v in &self.variants {
            for point in &points {
                for &seed in seeds {
                    runs.push(self.run(v, point, seed, stage));
                }
            }
        }
        // Distinct values can still format to the same tag (`a b` and `a_b`; two keys ending
        // in `.lr`): two runs would share a directory.
        let mut ids: HashMap<&str, &PlannedRun> = HashMap::new();
        for r in &runs {
            if let Some(o) = ids.insert(&r.id, r) {
                bail!(
                    "grid points {} and {} both give run id `{}`; make the values distinct \
                     after formatting",
                    point_text(&o.grid),
                    point_text(&r.grid),
                    r.id
                );
            }
        }
        Ok(Plan {
            version: PLAN_VERSION,
            name: self.experiment.name.clone(),
            description: self.experiment.description.clone(),
            base_config: base_config.to_string(),
            selection: self.selection.clone(),
            analysis: self.analysis.clone(),
            seeds: self.experiment.seeds.clone(),
            grid: self
                .grid
                .iter()
                .map(|(k, vs)| (k.clone(), vs.iter().map(toml_text).collect()))
                .collect(),
            variants: self
                .variants
                .iter()
                .map(|v| PlanVariant {
                    name: v.name.clone(),
                    label: v.label.clone().unwrap_or_else(|| v.name.clone()),
                })
                .collect(),
            runs,
            protocol: Protocol {
                mode: self.mode(),
                sweep: self.sweep.as_ref().map(|sw| SweepPlan {
                    seeds: sw.seeds.clone(),
                    overrides: sw
                        .set
                        .iter()
                        .map(|(k, v)| format!("{k}={}", toml_text(v)))
                        .collect(),
                }),
                omitted: self
                    .omitted
                    .iter()
                    .map(|o| OmittedPlan {
                        key: o.key.clone(),
                        values: o.values.iter().map(toml_text).collect(),
                        reason: o.reason.clone(),
                    })
                    .collect(),
                selected: Vec::new(),
            },
        })
    }

    /// The final-stage runs of `variant` at the grid point tagged `grid_tag`.
    pub fn final_runs(&self, variant: &str, grid_tag_: &str) -> Result<Vec<PlannedRun>> {
        let v = self
            .variants
            .iter()
            .find(|v| v.name == variant)
            .with_context(|| format!("no variant `{variant}` in the experiment config"))?;
        let point = grid_points(&self.grid)
            .into_iter()
            .find(|p| grid_tag(p) == grid_tag_)
            .with_context(|| format!("variant `{variant}`: no grid point tagged `{grid_tag_}`"))?;
        Ok(self
            .experiment
            .seeds
            .iter()
            .map(|&seed| self.run(v, &point, seed, Stage::Final))
            .collect())
    }
}

impl ExperimentConfig {
    /// One run of every distinct configuration the experiment can start — each variant at
    /// each grid point, in the sweep stage and in the final stage — for checking every run
    /// config before the first run starts (seeds change only `train.seed`).
    pub fn every_configuration(&self) -> Vec<PlannedRun> {
        let stages: &[Stage] = if self.sweep.is_some() {
            &[Stage::Sweep, Stage::Final]
        } else {
            &[Stage::Final]
        };
        let mut out = Vec::new();
        for v in &self.variants {
            for point in grid_points(&self.grid) {
                for &stage in stages {
                    let seed = match (stage, &self.sweep) {
                        (Stage::Sweep, Some(sw)) => sw.seeds.first(),
                        _ => self.experiment.seeds.first(),
                    };
                    out.push(self.run(v, &point, seed.copied().unwrap_or(0), stage));
                }
            }
        }
        out
    }
}

/// `key=value, key=value` of a recorded grid point.
pub fn point_text(grid: &BTreeMap<String, String>) -> String {
    grid.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn check_key(k: &str) -> Result<()> {
    let parts: Vec<&str> = k.split('.').collect();
    ensure!(
        parts.len() == 2 && parts.iter().all(|p| !p.is_empty()),
        "override key `{k}` must be `section.key`"
    );
    Ok(())
}

/// `key=value`, the value parsed as TOML when it parses, else a string (the `train --set` rule).
pub fn parse_set(s: &str) -> Result<(String, toml::Value)> {
    let Some((k, v)) = s.split_once('=') else {
        bail!("--set `{s}` is not key=value");
    };
    let k = k.trim();
    ensure!(
        !k.is_empty() && k.split('.').all(|p| !p.is_empty()),
        "--set `{s}`: bad key"
    );
    let value = toml::from_str::<toml::Table>(&format!("v = {v}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(v.to_string()));
    Ok((k.to_string(), value))
}

/// A TOML value as inline TOML text (what `train --set` parses back to the same value).
pub fn toml_text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => {
            // Round-trip through the serializer so quotes and escapes are right.
            let mut t = toml::Table::new();
            t.insert("v".into(), toml::Value::String(s.clone()));
            toml::to_string(&t)
                .map(|s| s.trim().trim_start_matches("v = ").to_string())
                .unwrap_or_else(|_| format!("{s:?}"))
        }
        toml::Value::Float(f) => format_float(*f),
        toml::Value::Array(a) => format!(
            "[{}]",
            a.iter().map(toml_text).collect::<Vec<_>>().join(", ")
        ),
        other => other.to_string(),
    }
}

fn format_float(f: f64) -> String {
    // `{}` prints the shortest round-trip form; TOML needs a `.` or exponent in a float.
    let s = format!("{f}");
    if s.contains('.') || s.contains('e') || s.contains("inf") || s.contains("NaN") {
        s
    } else {
        format!("{s}.0")
    }
}

fn grid_points(grid: &BTreeMap<String, Vec<toml::Value>>) -> Vec<Vec<(String, toml::Value)>> {
    let mut points: Vec<Vec<(String, toml::Value)>> = vec![Vec::new()];
    for (k, vals) in grid {
        let mut next = Vec::with_capacity(points.len() * vals.len());
        for p in &points {
            for v in vals {
                let mut q = p.clone();
                q.push((k.clone(), v.clone()));
                next.push(q);
            }
        }
        points = next;
    }
    points
}

/// Readable tag of a grid point: `lr0.001-bs64` (last key segment, `batch_size` → `bs`).
pub fn grid_tag(point: &[(String, toml::Value)]) -> String {
    point
        .iter()
        .map(|(k, v)| {
            let short = k.rsplit('.').next().unwrap_or(k);
            let short = match short {
                "batch_size" => "bs",
                "weight_decay" => "wd",
                s => s,
            };
            let val: String = match v {
                toml::Value::String(s) => s.clone(),
                other => toml_text(other),
            }
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._+-".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
            format!("{short}{val}")
        })
        .collect::<Vec<_>>()
        .join("-")
}

impl Plan {
    /// Read `EXP_DIR/plan.json`.
    pub fn load(exp_dir: &Path) -> Result<Self> {
        let path = exp_dir.join(PLAN_FILE);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }

    /// Write `EXP_DIR/plan.json` (through a temporary file, so a kill never leaves half a plan).
    pub fn save(&self, exp_dir: &Path) -> Result<()> {
        let path = exp_dir.join(PLAN_FILE);
        let tmp = exp_dir.join(format!("{PLAN_FILE}.tmp"));
        let text = serde_json::to_string_pretty(self)?;
        std::fs::write(&tmp, text + "\n").with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))
    }

    /// The runs the report reads: the final stage (every run of a one-stage plan). Sweep runs
    /// never reach the report's tables.
    pub fn report_runs(&self) -> impl Iterator<Item = &PlannedRun> {
        self.runs.iter().filter(|r| r.stage == Stage::Final)
    }

    /// The sweep (stage 1) runs; empty for a one-stage plan.
    pub fn sweep_runs(&self) -> impl Iterator<Item = &PlannedRun> {
        self.runs.iter().filter(|r| r.stage == Stage::Sweep)
    }

    /// True for a two-stage plan.
    pub fn is_two_stage(&self) -> bool {
        self.protocol.mode == ProtocolMode::TwoStage
    }

    /// Record stage 1's choice for `selected.variant` and add its final-stage runs (`runs`, from
    /// [`ExperimentConfig::final_runs`]). Recording the same choice again changes nothing; a
    /// different choice than the one recorded is refused (the final runs already made were
    /// chosen by another rule).
    pub fn record_selection(
        &mut self,
        selected: SelectedPoint,
        runs: Vec<PlannedRun>,
    ) -> Result<()> {
        if let Some(old) = self
            .protocol
            .selected
            .iter_mut()
            .find(|s| s.variant == selected.variant)
        {
            ensure!(
                old.grid_tag == selected.grid_tag,
                "variant `{}`: the sweep now selects `{}`, but plan.json recorded `{}` (other \
                 selection settings or sweep runs?); use a new experiment directory",
                selected.variant,
                selected.grid_tag,
                old.grid_tag
            );
            *old = selected;
        } else {
            self.protocol.selected.push(selected);
        }
        for r in runs {
            ensure!(
                r.stage == Stage::Final,
                "run `{}` is not a final-stage run",
                r.id
            );
            if !self.runs.iter().any(|o| o.id == r.id) {
                self.runs.push(r);
            }
        }
        // Keep the selection in variant order whatever order the variants settled in.
        let order: HashMap<&str, usize> = self
            .variants
            .iter()
            .enumerate()
            .map(|(i, v)| (v.name.as_str(), i))
            .collect();
        self.protocol
            .selected
            .sort_by_key(|s| order.get(s.variant.as_str()).copied().unwrap_or(usize::MAX));
        Ok(())
    }

    /// Refuse a plan that gives an existing run id different overrides (its directory holds a
    /// run of other settings, and resuming or skipping it would silently mix them), another
    /// protocol, or another selection than the one recorded.
    pub fn check_compatible(&self, previous: &Plan) -> Result<()> {
        ensure!(
            previous.protocol.mode == self.protocol.mode,
            "plan.json there was made with the {} protocol, this config is {}; use a new \
             experiment directory",
            previous.protocol.mode.name(),
            self.protocol.mode.name()
        );
        let old: HashMap<&str, &PlannedRun> =
            previous.runs.iter().map(|r| (r.id.as_str(), r)).collect();
        for r in &self.runs {
            if let Some(o) = old.get(r.id.as_str()) {
                ensure!(
                    o.overrides == r.overrides,
                    "run `{}` exists in the previous plan.json with overrides {:?}, now {:?}; \
                     use a new experiment directory",
                    r.id,
                    o.overrides,
                    r.overrides
                );
            }
        }
        for s in &self.protocol.selected {
            if let Some(o) = previous
                .protocol
                .selected
                .iter()
                .find(|o| o.variant == s.variant)
            {
                ensure!(
                    o.grid_tag == s.grid_tag,
                    "variant `{}`: the sweep now selects `{}`, but plan.json recorded `{}`; use \
                     a new experiment directory",
                    s.variant,
                    s.grid_tag,
                    o.grid_tag
                );
            }
        }
        Ok(())
    }

    /// Label of a variant (its name when unknown).
    pub fn label(&self, variant: &str) -> String {
        self.variants
            .iter()
            .find(|v| v.name == variant)
            .map(|v| v.label.clone())
            .unwrap_or_else(|| variant.to_string())
    }
}

impl ProtocolMode {
    /// Name as in plan.json.
    pub fn name(self) -> &'static str {
        match self {
            ProtocolMode::OneStage => "one_stage",
            ProtocolMode::TwoStage => "two_stage",
        }
    }
}

/// Result of selecting one grid point for a variant.
#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    /// Variant name.
    pub variant: String,
    /// Chosen grid tag (empty without grid).
    pub grid_tag: String,
    /// Score of every grid point: (tag, mean score over seeds, seeds scored). In a two-stage
    /// plan these are the sweep's scores (over the sweep seeds), as recorded in plan.json.
    pub scores: Vec<(String, f64, usize)>,
}

/// Mean score per grid tag (in first-seen order) over `runs`, and the best tag.
///
/// Strictly better replaces: on ties the earlier grid point (config order) wins. Points without
/// any finite score are never chosen.
fn score_points<'a>(
    runs: impl Iterator<Item = &'a PlannedRun>,
    higher_is_better: bool,
    score: impl Fn(&PlannedRun) -> Option<f64>,
) -> (Vec<PointScore>, Option<String>) {
    let mut by_tag: Vec<(String, Vec<f64>, usize)> = Vec::new();
    for r in runs {
        let i = match by_tag.iter().position(|(t, _, _)| *t == r.grid_tag) {
            Some(i) => i,
            None => {
                by_tag.push((r.grid_tag.clone(), Vec::new(), 0));
                by_tag.len() - 1
            }
        };
        by_tag[i].2 += 1;
        if let Some(s) = score(r).filter(|s| s.is_finite()) {
            by_tag[i].1.push(s);
        }
    }
    let scores: Vec<PointScore> = by_tag
        .into_iter()
        .map(|(grid_tag, s, n)| PointScore {
            grid_tag,
            score: (!s.is_empty()).then(|| s.iter().sum::<f64>() / s.len() as f64),
            seeds_scored: s.len(),
            seeds_run: n,
        })
        .collect();
    let mut best: Option<(&String, f64)> = None;
    for p in &scores {
        let Some(m) = p.score else { continue };
        let better = match best {
            None => true,
            Some((_, b)) => {
                if higher_is_better {
                    m > b
                } else {
                    m < b
                }
            }
        };
        if better {
            best = Some((&p.grid_tag, m));
        }
    }
    let best = best.map(|(t, _)| t.clone());
    (scores, best)
}

/// The selection the report uses, per variant.
///
/// Two-stage plan: the choice recorded from the sweep (`score` is not called: sweep runs are not
/// loaded for the report), so the selected tag is the one every final-stage run of the variant
/// has. One-stage plan: per variant, the grid point with the best mean (over seeds) selection
/// score among the plan's runs; `score(run)` is the run's selection score (`None`: missing or
/// failed); `higher_is_better(variant)` is the direction of the variant's score (that of its
/// selection metric, e.g. higher for accuracy, lower for loss). A variant none of whose points
/// is scored is left out.
pub fn select(
    plan: &Plan,
    higher_is_better: impl Fn(&str) -> bool,
    score: impl Fn(&PlannedRun) -> Option<f64>,
) -> Vec<Selection> {
    if plan.is_two_stage() {
        return plan
            .protocol
            .selected
            .iter()
            .map(|s| Selection {
                variant: s.variant.clone(),
                grid_tag: s.grid_tag.clone(),
                scores: s
                    .scores
                    .iter()
                    .map(|p| {
                        (
                            p.grid_tag.clone(),
                            p.score.unwrap_or(f64::NAN),
                            p.seeds_scored,
                        )
                    })
                    .collect(),
            })
            .collect();
    }
    let mut out = Vec::new();
    for v in &plan.variants {
        let runs = plan.report_runs().filter(|r| r.variant == v.name);
        let (scores, best) = score_points(runs, higher_is_better(&v.name), &score);
        if let Some(grid_tag) = best {
            out.push(Selection {
                variant: v.name.clone(),
                grid_tag,
                scores: scores
                    .into_iter()
                    .map(|p| (p.grid_tag, p.score.unwrap_or(f64::NAN), p.seeds_scored))
                    .collect(),
            });
        }
    }
    out
}

/// State of one sweep run, as far as selection is concerned.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SweepState {
    /// Completed, with this selection score (`None`: no score, e.g. a metric missing).
    Completed(Option<f64>),
    /// Diverged: settled, never selected.
    Diverged,
    /// Not run yet, running, interrupted or failed: the variant cannot be selected yet.
    Pending,
}

/// Stage-1 selection of one variant: `None` until every sweep run of the variant is settled
/// (completed or diverged), so a re-run resumes the sweep instead of selecting on part of it;
/// also `None` when no grid point has a score (every run diverged).
pub fn select_from_sweep(
    plan: &Plan,
    variant: &str,
    higher_is_better: bool,
    state: impl Fn(&PlannedRun) -> SweepState,
) -> Option<SelectedPoint> {
    let runs: Vec<&PlannedRun> = plan.sweep_runs().filter(|r| r.variant == variant).collect();
    if runs.is_empty() {
        return None;
    }
    let states: HashMap<&str, SweepState> =
        runs.iter().map(|r| (r.id.as_str(), state(r))).collect();
    if states.values().any(|s| *s == SweepState::Pending) {
        return None;
    }
    let (scores, best) = score_points(runs.iter().copied(), higher_is_better, |r| {
        match states.get(r.id.as_str()) {
            Some(SweepState::Completed(s)) => *s,
            _ => None,
        }
    });
    let grid_tag = best?;
    let grid = runs
        .iter()
        .find(|r| r.grid_tag == grid_tag)
        .map(|r| r.grid.clone())
        .unwrap_or_default();
    Some(SelectedPoint {
        variant: variant.to_string(),
        grid_tag,
        grid,
        scores,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CFG: &str = r#"
[experiment]
name = "t"
base = "base.toml"
seeds = [1, 2]
set = { "train.epochs" = 3 }

[selection]
same_runs = true

[grid]
"optim.lr" = [0.01, 0.001]
"train.batch_size" = [32, 64]

[[variant]]
name = "stl_a"
set = { "data.tasks" = ["a"] }

[[variant]]
name = "mgda_ab"
label = "MGDA a+b"
set = { "data.tasks" = ["a", "b"], "objective.kind" = "aggregate", "objective.method" = "mgda" }
"#;

    /// The same experiment in two stages: one sweep seed (probes off), two final seeds.
    fn two_stage() -> String {
        CFG.replace(
            "[selection]\nsame_runs = true\n",
            "[sweep]\nseeds = [9]\nset = { \"probes.enabled\" = false }\n\n\
             [[omitted]]\nkey = \"train.batch_size\"\nvalues = [4]\nreason = \"too slow\"\n",
        )
    }

    fn parse(text: &str) -> Result<ExperimentConfig> {
        ExperimentConfig::from_text(text, Path::new("x.toml"))
    }

    fn err(text: &str) -> String {
        format!("{:#}", parse(text).unwrap_err())
    }

    #[test]
    fn expands_variants_grid_seeds_with_readable_ids() {
        let cfg = parse(CFG).unwrap();
        let plan = cfg.expand("base.toml").unwrap();
        assert_eq!(plan.runs.len(), 2 * 4 * 2);
        assert_eq!(plan.protocol.mode, ProtocolMode::OneStage);
        assert!(plan.runs.iter().all(|r| r.stage == Stage::Final));
        let ids: Vec<&str> = plan.runs.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids[0], "stl_a/lr0.01-bs32/seed1");
        assert_eq!(ids[1], "stl_a/lr0.01-bs32/seed2");
        assert_eq!(ids[2], "stl_a/lr0.01-bs64/seed1");
        assert!(ids.contains(&"mgda_ab/lr0.001-bs64/seed2"));
        let r = plan
            .runs
            .iter()
            .find(|r| r.id == "mgda_ab/lr0.001-bs64/seed2")
            .unwrap();
        assert_eq!(
            r.overrides,
            vec![
                "train.epochs=3",
                r#"data.tasks=["a", "b"]"#,
                r#"objective.kind="aggregate""#,
                r#"objective.method="mgda""#,
                "optim.lr=0.001",
                "train.batch_size=64",
                "train.seed=2"
            ]
        );
        assert_eq!(r.dir, "runs/mgda_ab/lr0.001-bs64/seed2");
        assert_eq!(plan.label("mgda_ab"), "MGDA a+b");
        assert_eq!(plan.label("stl_a"), "stl_a");
    }

    #[test]
    fn no_grid_gives_variant_seed_ids() {
        let text = CFG.split("[grid]").next().unwrap().to_string()
            + "[[variant]]\nname = \"mtl_fashion2\"\nset = { \"data.tasks\" = [\"fashion1\", \"fashion2\"] }\n";
        let plan = parse(&text).unwrap().expand("base.toml").unwrap();
        assert_eq!(plan.runs[0].id, "mtl_fashion2/seed1");
        assert_eq!(plan.runs[1].id, "mtl_fashion2/seed2");
        assert!(plan.runs[0].grid_tag.is_empty());
    }

    #[test]
    fn selection_metric_is_primary_or_a_named_validation_metric() {
        let parse = |t: &str| toml::from_str::<SelectionConfig>(t).map(|c| c.metric);
        assert_eq!(parse("").unwrap(), SelectMetric::Primary);
        assert_eq!(
            parse("metric = \"val_accuracy\"").unwrap(),
            SelectMetric::Val("accuracy".into())
        );
        assert_eq!(
            parse("metric = \"val_miou\"").unwrap(),
            SelectMetric::Val("miou".into())
        );
        for bad in ["accuracy", "val_", "test_loss"] {
            let e = parse(&format!("metric = \"{bad}\""))
                .unwrap_err()
                .to_string();
            assert!(e.contains("val_<metric>") && e.contains(bad), "{e}");
        }
        // plan.json keeps the config's spelling.
        let m = SelectMetric::Val("loss".into());
        assert_eq!(serde_json::to_string(&m).unwrap(), "\"val_loss\"");
        assert_eq!(SelectMetric::Primary.name(), "primary");
        // Early stopping on the validation Δm, with `best_val`.
        let c: SelectionConfig =
            toml::from_str("metric = \"val_delta_m\"\naggregate = \"best_val\"").unwrap();
        assert_eq!(c.metric, SelectMetric::DeltaM);
        assert_eq!(c.aggregate, SelectAggregate::BestVal);
        assert_eq!(serde_json::to_string(&c.metric).unwrap(), "\"val_delta_m\"");
    }

    #[test]
    fn delta_m_selection_is_one_stage_and_analysis_is_recorded() {
        // val_delta_m needs the STL variants selected first: refused with a sweep stage.
        let two = two_stage().replace(
            "[sweep]",
            "[selection]\nmetric = \"val_delta_m\"\n\n[sweep]",
        );
        let e = err(&two);
        assert!(e.contains("val_delta_m") && e.contains("[sweep]"), "{e}");
        let one = CFG.replace(
            "[selection]\nsame_runs = true\n",
            "[selection]\nsame_runs = true\nmetric = \"val_delta_m\"\n\n\
             [analysis]\ndelta_m_average = \"metrics\"\n",
        );
        let plan = parse(&one).unwrap().expand("base.toml").unwrap();
        assert_eq!(plan.analysis.delta_m_average, DeltaMAverage::Metrics);
        let back: Plan = serde_json::from_str(&serde_json::to_string(&plan).unwrap()).unwrap();
        assert_eq!(back.analysis, plan.analysis);
        // Plans written before [analysis] existed read as the defaults.
        let mut v: serde_json::Value = serde_json::to_value(&plan).unwrap();
        v.as_object_mut().unwrap().remove("analysis");
        let old: Plan = serde_json::from_value(v).unwrap();
        assert_eq!(old.analysis.delta_m_average, DeltaMAverage::Tasks);
        let e = err(&one.replace("\"metrics\"", "\"seeds\""));
        assert!(e.contains("delta_m_average") || e.contains("seeds"), "{e}");
    }

    #[test]
    fn unknown_key_is_named() {
        let bad = CFG.replace("seeds = [1, 2]", "seeds = [1, 2]\nsedes = 3");
        assert!(err(&bad).contains("sedes"));
        let bad = CFG.replace("label = \"MGDA a+b\"", "lable = \"x\"");
        assert!(err(&bad).contains("lable"));
        let bad = two_stage().replace("seeds = [9]", "seeds = [9]\nseedz = [1]");
        assert!(err(&bad).contains("seedz"));
    }

    #[test]
    fn rejects_duplicate_variants_and_seeds() {
        let bad = CFG.replace("name = \"mgda_ab\"", "name = \"stl_a\"");
        assert!(err(&bad).contains("variant `stl_a` given twice"));
        let bad = CFG.replace("seeds = [1, 2]", "seeds = [1, 1]");
        assert!(err(&bad).contains("seed 1 twice"));
        let bad = two_stage().replace("seeds = [9]", "seeds = [9, 9]");
        assert!(err(&bad).contains("sweep.seeds lists seed 9 twice"));
        let bad = CFG.replace("name = \"mgda_ab\"", "name = \"sweep\"");
        assert!(err(&bad).contains("`sweep` is reserved"));
    }

    #[test]
    fn rejects_duplicate_grid_values_naming_key_and_value() {
        let bad = CFG.replace("[0.01, 0.001]", "[0.001, 0.001]");
        let e = err(&bad);
        assert!(
            e.contains("grid key `optim.lr` lists the value 0.001 twice"),
            "{e}"
        );
        let bad = CFG.replace("[32, 64]", "[64, 32, 64]");
        assert!(err(&bad).contains("`train.batch_size` lists the value 64 twice"));
        // Distinct values that format to the same run id are refused at expansion.
        let text = CFG.replace(
            "\"train.batch_size\" = [32, 64]",
            "\"objective.tag\" = [\"a b\", \"a_b\"]",
        );
        let e = format!(
            "{:#}",
            parse(&text).unwrap().expand("base.toml").unwrap_err()
        );
        assert!(
            e.contains(
                "grid points objective.tag=\"a b\", optim.lr=0.01 and objective.tag=\"a_b\", \
                 optim.lr=0.01 both give run id `stl_a/taga_b-lr0.01/seed1`"
            ),
            "{e}"
        );
    }

    #[test]
    fn protocol_rules_are_checked() {
        // A grid of 2+ points needs a sweep or the explicit one-stage option.
        let e = err(&CFG.replace("same_runs = true", "same_runs = false"));
        assert!(
            e.contains("[grid] has 4 points but there is no [sweep]") && e.contains("same_runs"),
            "{e}"
        );
        let e = err(&two_stage().replace("[sweep]", "[selection]\nsame_runs = true\n[sweep]"));
        assert!(e.contains("contradict"), "{e}");
        let e = err(&two_stage().replace("seeds = [9]", "seeds = [2]"));
        assert!(
            e.contains("seed 2 is both a sweep seed and an experiment (final) seed"),
            "{e}"
        );
        let no_grid = two_stage().replace(
            "[grid]\n\"optim.lr\" = [0.01, 0.001]\n\"train.batch_size\" = [32, 64]\n",
            "",
        );
        let e = err(&no_grid);
        assert!(e.contains("[sweep] is given but [grid] is empty"), "{e}");
        // A key both swept and set is ambiguous.
        let e = err(&CFG.replace("\"train.epochs\" = 3", "\"optim.lr\" = 0.5"));
        assert!(
            e.contains("`optim.lr` is a [grid] key and is also set in experiment.set"),
            "{e}"
        );
        let e = err(&two_stage().replace("\"probes.enabled\" = false", "\"train.batch_size\" = 8"));
        assert!(e.contains("also set in sweep.set"), "{e}");
        // Omitted values must really be omitted, and say why.
        let e = err(&two_stage().replace("values = [4]", "values = [32]"));
        assert!(
            e.contains("lists 32 as left out, but [grid] sweeps it"),
            "{e}"
        );
        let e = err(&two_stage().replace("reason = \"too slow\"", "reason = \" \""));
        assert!(e.contains("gives no reason"), "{e}");
    }

    #[test]
    fn set_values_parse_as_toml_else_string() {
        assert_eq!(
            parse_set("optim.lr=0.001").unwrap().1,
            toml::Value::Float(0.001)
        );
        assert_eq!(
            parse_set("objective.method=mgda").unwrap().1,
            toml::Value::String("mgda".into())
        );
        let text = ExperimentConfig::apply_sets(
            CFG,
            &["experiment.seeds=[7]".into(), "grid.optim.lr=[0.5]".into()],
        )
        .unwrap();
        let cfg = parse(&text).unwrap();
        assert_eq!(cfg.experiment.seeds, vec![7]);
        assert_eq!(cfg.grid["optim.lr"], vec![toml::Value::Float(0.5)]);
    }

    #[test]
    fn one_stage_selection_picks_best_mean_per_variant() {
        let plan = parse(CFG).unwrap().expand("base.toml").unwrap();
        // Score: stl_a prefers lr0.001-bs32 (mean of 0.9, 0.8 = 0.85 beats 0.84).
        let score = |r: &PlannedRun| -> Option<f64> {
            Some(match (r.variant.as_str(), r.grid_tag.as_str(), r.seed) {
                ("stl_a", "lr0.001-bs32", 1) => 0.9,
                ("stl_a", "lr0.001-bs32", 2) => 0.8,
                ("stl_a", "lr0.01-bs64", _) => 0.84,
                ("mgda_ab", "lr0.01-bs32", 1) => return None,
                ("mgda_ab", "lr0.01-bs32", 2) => 0.99,
                _ => 0.5,
            })
        };
        let sel = select(&plan, |_| true, score);
        assert_eq!(sel[0].grid_tag, "lr0.001-bs32");
        assert_eq!(sel[1].grid_tag, "lr0.01-bs32");
        let s = sel[1].scores.iter().find(|s| s.0 == "lr0.01-bs32").unwrap();
        assert_eq!((s.1, s.2), (0.99, 1));
        // Lowest: lr0.01-bs32 and lr0.001-bs64 tie at 0.5; the earlier point wins.
        let low = select(&plan, |_| false, score);
        assert_eq!(low[0].grid_tag, "lr0.01-bs32");
    }

    #[test]
    fn two_stage_plan_sweeps_then_runs_fresh_seeds_at_the_selected_point() {
        let cfg = parse(&two_stage()).unwrap();
        let mut plan = cfg.expand("base.toml").unwrap();
        assert_eq!(plan.protocol.mode, ProtocolMode::TwoStage);
        assert_eq!(plan.seeds, vec![1, 2]);
        assert_eq!(plan.protocol.sweep.as_ref().unwrap().seeds, vec![9]);
        assert_eq!(
            plan.protocol.omitted,
            vec![OmittedPlan {
                key: "train.batch_size".into(),
                values: vec!["4".into()],
                reason: "too slow".into()
            }]
        );
        // Stage 1: variants × 4 points × the sweep seed, never reported.
        assert_eq!(plan.runs.len(), 2 * 4);
        assert!(plan.runs.iter().all(|r| r.stage == Stage::Sweep));
        assert_eq!(plan.report_runs().count(), 0);
        let r = &plan.runs[0];
        assert_eq!(r.id, "sweep/stl_a/lr0.01-bs32/seed9");
        assert_eq!(r.dir, "runs/sweep/stl_a/lr0.01-bs32/seed9");
        assert_eq!(
            r.overrides,
            vec![
                "train.epochs=3",
                r#"data.tasks=["a"]"#,
                "probes.enabled=false",
                "optim.lr=0.01",
                "train.batch_size=32",
                "train.seed=9"
            ]
        );

        // Until every sweep run of a variant is settled, nothing is selected for it.
        let score = |r: &PlannedRun| match (r.variant.as_str(), r.grid_tag.as_str()) {
            ("stl_a", "lr0.001-bs64") => SweepState::Completed(Some(0.9)),
            ("stl_a", "lr0.01-bs64") => SweepState::Diverged,
            ("stl_a", _) => SweepState::Completed(Some(0.7)),
            ("mgda_ab", "lr0.01-bs32") => SweepState::Pending,
            _ => SweepState::Completed(Some(0.8)),
        };
        assert!(select_from_sweep(&plan, "mgda_ab", true, score).is_none());
        let sel = select_from_sweep(&plan, "stl_a", true, score).unwrap();
        assert_eq!(sel.grid_tag, "lr0.001-bs64");
        assert_eq!(sel.grid["train.batch_size"], "64");
        let diverged = sel
            .scores
            .iter()
            .find(|p| p.grid_tag == "lr0.01-bs64")
            .unwrap();
        assert_eq!(
            (diverged.score, diverged.seeds_scored, diverged.seeds_run),
            (None, 0, 1)
        );

        // Stage 2: the experiment's seeds at the selected point, without the sweep's overrides.
        let runs = cfg.final_runs("stl_a", &sel.grid_tag).unwrap();
        plan.record_selection(sel.clone(), runs).unwrap();
        let report: Vec<&PlannedRun> = plan.report_runs().collect();
        assert_eq!(
            report.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
            vec!["stl_a/lr0.001-bs64/seed1", "stl_a/lr0.001-bs64/seed2"]
        );
        assert!(report.iter().all(|r| r.stage == Stage::Final
            && !r.overrides.iter().any(|o| o.starts_with("probes."))
            && r.overrides.contains(&"train.batch_size=64".to_string())));
        // No sweep seed reaches the report's set.
        assert!(report.iter().all(|r| r.seed != 9));

        // The report's selection is the recorded one; the score function is not consulted.
        let chosen = select(
            &plan,
            |_| true,
            |_| panic!("sweep runs are not scored by the report"),
        );
        assert_eq!(chosen.len(), 1);
        assert_eq!(chosen[0].grid_tag, "lr0.001-bs64");
        assert_eq!(chosen[0].scores.len(), 4);

        // Recording the same choice again is idempotent; a different one is refused.
        let before = plan.clone();
        let runs = cfg.final_runs("stl_a", &sel.grid_tag).unwrap();
        plan.record_selection(sel.clone(), runs).unwrap();
        assert_eq!(plan, before);
        let mut other = sel.clone();
        other.grid_tag = "lr0.01-bs32".into();
        let runs = cfg.final_runs("stl_a", &other.grid_tag).unwrap();
        let e = format!(
            "{:#}",
            plan.record_selection(other.clone(), runs).unwrap_err()
        );
        assert!(e.contains("plan.json recorded `lr0.001-bs64`"), "{e}");

        // plan.json round-trips, and a changed selection against it is refused.
        let back: Plan = serde_json::from_str(&serde_json::to_string(&plan).unwrap()).unwrap();
        assert_eq!(back, plan);
        let mut changed = cfg.expand("base.toml").unwrap();
        let runs = cfg.final_runs("stl_a", &other.grid_tag).unwrap();
        changed.record_selection(other, runs).unwrap();
        assert!(changed.check_compatible(&plan).is_err());
        assert!(cfg
            .expand("base.toml")
            .unwrap()
            .check_compatible(&plan)
            .is_ok());
        // Switching protocol in the same directory is refused.
        let one = parse(CFG).unwrap().expand("base.toml").unwrap();
        let e = format!("{:#}", one.check_compatible(&plan).unwrap_err());
        assert!(e.contains("two_stage protocol"), "{e}");
    }

    #[test]
    fn version_1_plans_read_as_one_stage_final_runs() {
        let mut v = serde_json::to_value(parse(CFG).unwrap().expand("b").unwrap()).unwrap();
        v.as_object_mut().unwrap().remove("protocol");
        for r in v["runs"].as_array_mut().unwrap() {
            r.as_object_mut().unwrap().remove("stage");
        }
        let plan: Plan = serde_json::from_value(v).unwrap();
        assert_eq!(plan.protocol.mode, ProtocolMode::OneStage);
        assert_eq!(plan.report_runs().count(), plan.runs.len());
    }

    #[test]
    fn a_variant_whose_sweep_all_diverged_gets_no_selection() {
        let cfg = parse(&two_stage()).unwrap();
        let plan = cfg.expand("base.toml").unwrap();
        assert!(select_from_sweep(&plan, "stl_a", true, |_| SweepState::Diverged).is_none());
        assert!(select_from_sweep(&plan, "nope", true, |_| SweepState::Diverged).is_none());
    }
}
