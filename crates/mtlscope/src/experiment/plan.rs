//! Experiment config (`EXP.toml`) → a plan of runs, and hyper-parameter selection over a grid.
//!
//! An experiment names a base run config, variants (override sets: STL on one task, MTL on a task
//! set, SMTO objectives), seeds, and an optional grid (e.g. learning rate × batch size, as the
//! sweep of Mueller et al. 2025, App. A). It expands to variants × grid points × seeds runs, each
//! a normal run directory `runs/<variant>[/<grid tag>]/seed<k>` with the readable id
//! `<variant>[/<grid tag>]/seed<k>`.
//!
//! ```toml
//! [experiment]
//! name = "fashion_mtl"
//! base = "base.toml"                  # run config, relative to this file
//! seeds = [1, 2, 3]
//! set = { "train.epochs" = 100 }      # overrides for every run (optional)
//!
//! [selection]                          # optional; these are the defaults
//! metric = "val_accuracy"              # or "val_loss"
//! aggregate = "top10_val"              # or "final", "last20"
//! tasks = ["fashion1"]                 # default: all tasks of the variant (mean over them)
//!
//! [grid]                               # optional
//! "optim.lr" = [0.01, 0.001]
//!
//! [[variant]]
//! name = "mtl_fashion2"
//! label = "MTL: fashion1 + fashion2"   # optional, for legends
//! set = { "data.tasks" = ["fashion1", "fashion2"] }
//! ```
use std::collections::{BTreeMap, HashMap};
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
    /// `[grid]`: dotted run-config key → values to sweep.
    #[serde(default)]
    pub grid: BTreeMap<String, Vec<toml::Value>>,
    /// `[[variant]]`.
    #[serde(default, rename = "variant")]
    pub variants: Vec<VariantConfig>,
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

/// Which validation quantity picks the grid point (paper: "best validation performance").
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SelectMetric {
    /// Validation accuracy, higher is better.
    ValAccuracy,
    /// Validation loss, lower is better.
    ValLoss,
}

impl SelectMetric {
    /// Column name as in the tables (`val_accuracy`).
    pub fn name(self) -> &'static str {
        match self {
            SelectMetric::ValAccuracy => "val_accuracy",
            SelectMetric::ValLoss => "val_loss",
        }
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
}

impl SelectAggregate {
    /// Name as in the tables (`top10_val`).
    pub fn name(self) -> &'static str {
        match self {
            SelectAggregate::Final => "final",
            SelectAggregate::Top10Val => "top10_val",
            SelectAggregate::Last20 => "last20",
        }
    }
}

/// `[selection]` section.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SelectionConfig {
    /// Quantity (default `val_accuracy`).
    #[serde(default = "default_metric")]
    pub metric: SelectMetric,
    /// Aggregate over the trajectory (default `top10_val`).
    #[serde(default = "default_aggregate")]
    pub aggregate: SelectAggregate,
    /// Tasks averaged for the score; tasks a variant lacks are skipped. Default: all its tasks.
    #[serde(default)]
    pub tasks: Option<Vec<String>>,
}

fn default_metric() -> SelectMetric {
    SelectMetric::ValAccuracy
}
fn default_aggregate() -> SelectAggregate {
    SelectAggregate::Top10Val
}

impl Default for SelectionConfig {
    fn default() -> Self {
        SelectionConfig {
            metric: default_metric(),
            aggregate: default_aggregate(),
            tasks: None,
        }
    }
}

/// One run of the plan.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PlannedRun {
    /// `<variant>[/<grid tag>]/seed<k>`.
    pub id: String,
    /// Variant name.
    pub variant: String,
    /// Training seed.
    pub seed: u64,
    /// Grid point (dotted key → value as TOML text); empty without a grid.
    pub grid: BTreeMap<String, String>,
    /// Grid tag used in the id (`lr0.001-bs64`), empty without a grid.
    pub grid_tag: String,
    /// `--set` arguments in order: experiment, variant, grid, seed.
    pub overrides: Vec<String>,
    /// Run directory relative to the experiment directory (`runs/<id>`).
    pub dir: String,
}

/// A variant as recorded in the plan.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PlanVariant {
    /// Variant name.
    pub name: String,
    /// Legend label.
    pub label: String,
}

/// The expanded experiment, written to `EXP_DIR/plan.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Plan {
    /// Format version of plan.json.
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
    /// Seeds.
    pub seeds: Vec<u64>,
    /// Grid keys → values (TOML text).
    pub grid: BTreeMap<String, Vec<String>>,
    /// Variants in config order (this order fixes colours in the report).
    pub variants: Vec<PlanVariant>,
    /// All runs.
    pub runs: Vec<PlannedRun>,
}

/// File name of the plan inside an experiment directory.
pub const PLAN_FILE: &str = "plan.json";
/// File name of the copied base config inside an experiment directory.
pub const BASE_FILE: &str = "base.toml";

impl ExperimentConfig {
    /// Read and check an experiment config; unknown keys are errors naming the key.
    pub fn load(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let cfg: ExperimentConfig =
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        cfg.check()
            .with_context(|| format!("checking {}", path.display()))?;
        Ok(cfg)
    }

    /// Apply `--set section.key=value` overrides to the experiment config itself
    /// (e.g. `experiment.seeds=[1]`), parsed as TOML values when they parse.
    pub fn apply_sets(text: &str, sets: &[String]) -> Result<String> {
        let mut doc: toml::Table = toml::from_str(text).context("parsing experiment config")?;
        for s in sets {
            let (key, value) = parse_set(s)?;
            let parts: Vec<&str> = key.split('.').collect();
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
        let cfg: ExperimentConfig =
            toml::from_str(text).with_context(|| format!("parsing {}", origin.display()))?;
        cfg.check()
            .with_context(|| format!("checking {}", origin.display()))?;
        Ok(cfg)
    }

    fn check(&self) -> Result<()> {
        ensure!(
            !self.experiment.seeds.is_empty(),
            "experiment.seeds is empty"
        );
        let mut seen = std::collections::HashSet::new();
        for s in &self.experiment.seeds {
            ensure!(seen.insert(*s), "experiment.seeds lists seed {s} twice");
        }
        ensure!(!self.variants.is_empty(), "no [[variant]] given");
        let mut names = std::collections::HashSet::new();
        for v in &self.variants {
            ensure!(
                !v.name.is_empty()
                    && v.name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)),
                "variant name `{}` must be non-empty and use only [A-Za-z0-9_.-]",
                v.name
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
        }
        for k in self.experiment.set.keys() {
            check_key(k).context("experiment.set")?;
        }
        if let Some(t) = &self.selection.tasks {
            ensure!(!t.is_empty(), "selection.tasks is empty");
        }
        Ok(())
    }

    /// Expand into the plan. `base_config` is the path the runs will be given (`EXP_DIR/base.toml`).
    pub fn expand(&self, base_config: &str) -> Plan {
        let points = grid_points(&self.grid);
        let mut runs = Vec::new();
        for v in &self.variants {
            for point in &points {
                let tag = grid_tag(point);
                for &seed in &self.experiment.seeds {
                    let id = if tag.is_empty() {
                        format!("{}/seed{seed}", v.name)
                    } else {
                        format!("{}/{tag}/seed{seed}", v.name)
                    };
                    let mut overrides = Vec::new();
                    for (k, val) in self.experiment.set.iter().chain(v.set.iter()) {
                        overrides.push(format!("{k}={}", toml_text(val)));
                    }
                    for (k, val) in point {
                        overrides.push(format!("{k}={}", toml_text(val)));
                    }
                    overrides.push(format!("train.seed={seed}"));
                    runs.push(PlannedRun {
                        dir: format!("runs/{id}"),
                        id,
                        variant: v.name.clone(),
                        seed,
                        grid: point
                            .iter()
                            .map(|(k, v)| (k.clone(), toml_text(v)))
                            .collect(),
                        grid_tag: tag.clone(),
                        overrides,
                    });
                }
            }
        }
        Plan {
            version: 1,
            name: self.experiment.name.clone(),
            description: self.experiment.description.clone(),
            base_config: base_config.to_string(),
            selection: self.selection.clone(),
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
        }
    }
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

    /// Write `EXP_DIR/plan.json`.
    pub fn save(&self, exp_dir: &Path) -> Result<()> {
        let path = exp_dir.join(PLAN_FILE);
        let text = serde_json::to_string_pretty(self)?;
        std::fs::write(&path, text + "\n").with_context(|| format!("writing {}", path.display()))
    }

    /// Refuse a plan that gives an existing run id different overrides: its directory holds a
    /// run of other settings, and resuming or skipping it would silently mix them.
    pub fn check_compatible(&self, previous: &Plan) -> Result<()> {
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

/// Result of selecting one grid point for a variant.
#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    /// Variant name.
    pub variant: String,
    /// Chosen grid tag (empty without grid).
    pub grid_tag: String,
    /// Score of every grid point: (tag, mean score over seeds, seeds scored).
    pub scores: Vec<(String, f64, usize)>,
}

/// Pick per variant the grid point with the best mean (over seeds) selection score.
///
/// `score(run)` is the run's selection score (`None`: the run is missing or failed). Higher is
/// better for accuracy, lower for loss. Grid points without any scored seed are never chosen;
/// a variant none of whose points is scored is left out.
pub fn select(
    plan: &Plan,
    higher_is_better: bool,
    score: impl Fn(&PlannedRun) -> Option<f64>,
) -> Vec<Selection> {
    let mut out = Vec::new();
    for v in &plan.variants {
        let mut by_tag: Vec<(String, Vec<f64>)> = Vec::new();
        for r in plan.runs.iter().filter(|r| r.variant == v.name) {
            let entry = match by_tag.iter_mut().find(|(t, _)| *t == r.grid_tag) {
                Some(e) => e,
                None => {
                    by_tag.push((r.grid_tag.clone(), Vec::new()));
                    by_tag.last_mut().unwrap()
                }
            };
            if let Some(s) = score(r).filter(|s| s.is_finite()) {
                entry.1.push(s);
            }
        }
        let scores: Vec<(String, f64, usize)> = by_tag
            .into_iter()
            .map(|(t, s)| {
                let m = if s.is_empty() {
                    f64::NAN
                } else {
                    s.iter().sum::<f64>() / s.len() as f64
                };
                (t, m, s.len())
            })
            .collect();
        // Strictly better replaces: on ties the earlier grid point (config order) wins.
        let mut best: Option<(&String, f64)> = None;
        for (t, m, _) in &scores {
            if !m.is_finite() {
                continue;
            }
            let better = match best {
                None => true,
                Some((_, b)) => {
                    if higher_is_better {
                        *m > b
                    } else {
                        *m < b
                    }
                }
            };
            if better {
                best = Some((t, *m));
            }
        }
        let best = best.map(|(t, _)| t.clone());
        if let Some(grid_tag) = best {
            out.push(Selection {
                variant: v.name.clone(),
                grid_tag,
                scores,
            });
        }
    }
    out
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

    #[test]
    fn expands_variants_grid_seeds_with_readable_ids() {
        let cfg = ExperimentConfig::from_text(CFG, Path::new("x.toml")).unwrap();
        let plan = cfg.expand("base.toml");
        assert_eq!(plan.runs.len(), 2 * 4 * 2);
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
        let cfg = ExperimentConfig::from_text(&text, Path::new("x.toml")).unwrap();
        let plan = cfg.expand("base.toml");
        assert_eq!(plan.runs[0].id, "mtl_fashion2/seed1");
        assert_eq!(plan.runs[1].id, "mtl_fashion2/seed2");
        assert!(plan.runs[0].grid_tag.is_empty());
    }

    #[test]
    fn unknown_key_is_named() {
        let bad = CFG.replace("seeds = [1, 2]", "seeds = [1, 2]\nsedes = 3");
        let err = format!(
            "{:#}",
            ExperimentConfig::from_text(&bad, Path::new("x.toml")).unwrap_err()
        );
        assert!(err.contains("sedes"), "{err}");
        let bad = CFG.replace("label = \"MGDA a+b\"", "lable = \"x\"");
        let err = format!(
            "{:#}",
            ExperimentConfig::from_text(&bad, Path::new("x.toml")).unwrap_err()
        );
        assert!(err.contains("lable"), "{err}");
    }

    #[test]
    fn rejects_duplicate_variants_and_seeds() {
        let bad = CFG.replace("name = \"mgda_ab\"", "name = \"stl_a\"");
        assert!(ExperimentConfig::from_text(&bad, Path::new("x.toml")).is_err());
        let bad = CFG.replace("seeds = [1, 2]", "seeds = [1, 1]");
        assert!(ExperimentConfig::from_text(&bad, Path::new("x.toml")).is_err());
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
        let text = ExperimentConfig::apply_sets(CFG, &["experiment.seeds=[7]".into()]).unwrap();
        let cfg = ExperimentConfig::from_text(&text, Path::new("x.toml")).unwrap();
        assert_eq!(cfg.experiment.seeds, vec![7]);
    }

    #[test]
    fn selection_picks_best_mean_per_variant() {
        let cfg = ExperimentConfig::from_text(CFG, Path::new("x.toml")).unwrap();
        let plan = cfg.expand("base.toml");
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
        let sel = select(&plan, true, score);
        assert_eq!(sel[0].grid_tag, "lr0.001-bs32");
        assert_eq!(sel[1].grid_tag, "lr0.01-bs32");
        let s = sel[1].scores.iter().find(|s| s.0 == "lr0.01-bs32").unwrap();
        assert_eq!((s.1, s.2), (0.99, 1));
        // Lowest: lr0.01-bs32 and lr0.001-bs64 tie at 0.5; the earlier point wins.
        let low = select(&plan, false, score);
        assert_eq!(low[0].grid_tag, "lr0.01-bs32");
    }
}
