//! Run configuration: one TOML file, one struct per section, every section
//! `deny_unknown_fields` so a misspelt key is an error that names it.
//!
//! Loading order: the file, then each `--set section.key=value` override, then a check of
//! cross-field rules ([`RunConfig::validate`]) before anything is built.

mod data;
mod model;
mod objective;
mod optim;
mod probes;
mod train;

pub use data::{DataConfig, DEFAULT_MAX_LENGTH};
pub use model::ModelConfig;
pub use objective::{ObjectiveConfig, ObjectiveKind, Reduction};
pub use optim::{LrScheduleKind, OptimConfig, OptimName};
pub use probes::ProbesConfig;
pub use train::{Augmentation, EvalSchedule, TaskSampling, TrainConfig};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// A whole training run, as written to `RUN_DIR/config.toml`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunConfig {
    /// Which dataset and tasks.
    pub data: DataConfig,
    /// Encoder architecture.
    pub model: ModelConfig,
    /// Optimizer and learning rate.
    pub optim: OptimConfig,
    /// Steps, batch size, seed, evaluation cadence.
    pub train: TrainConfig,
    /// How task losses combine into one update.
    pub objective: ObjectiveConfig,
    /// Trajectory probes recorded at evaluations.
    pub probes: ProbesConfig,
}

impl RunConfig {
    /// Reads `path`, applies `overrides` (`section.key=value`), deserialises and validates.
    pub fn load(path: &Path, overrides: &[String]) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config {}", path.display()))?;
        Self::from_toml_str(&text, overrides)
            .with_context(|| format!("in config {}", path.display()))
    }

    /// Parses TOML text, applies overrides and validates.
    pub fn from_toml_str(text: &str, overrides: &[String]) -> Result<Self> {
        let mut table: toml::Table = toml::from_str(text)?;
        for ov in overrides {
            apply_override(&mut table, ov)?;
        }
        let de = toml::Value::Table(table);
        let mut cfg: RunConfig = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            anyhow::anyhow!("key `{path}`: {}", e.into_inner())
        })?;
        // A text dataset tokenizes with its model's tokenizer unless told otherwise; writing it
        // into the config makes the run's recorded config say which one it used.
        if cfg.data.dataset == "glue" && cfg.data.tokenizer.is_none() {
            cfg.data.tokenizer = cfg.model.pretrained.clone();
        }
        cfg.validate()?;
        Ok(cfg)
    }

    /// The resolved config as TOML (every default written out).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("config serialises")
    }

    /// Cross-field checks that serde cannot express; each error names its key.
    pub fn validate(&self) -> Result<()> {
        self.data.validate()?;
        self.model.validate()?;
        self.optim.validate()?;
        self.train.validate()?;
        self.train.validate_tasks(&self.data.tasks)?;
        self.objective.validate()?;
        self.probes.validate()?;
        Ok(())
    }
}

/// Applies one `a.b.c=value` override. The value is parsed as a TOML value when it parses
/// (`0.01`, `true`, `["a","b"]`, `"s"`), else taken as a bare string (`adam`).
pub fn apply_override(table: &mut toml::Table, ov: &str) -> Result<()> {
    let Some((key, raw)) = ov.split_once('=') else {
        bail!("--set `{ov}`: expected section.key=value");
    };
    let key = key.trim();
    let raw = raw.trim();
    let value = parse_value(raw);
    let parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        bail!("--set `{ov}`: empty key segment in `{key}`");
    }
    let mut cur = table;
    for p in &parts[..parts.len() - 1] {
        let entry = cur
            .entry(p.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        cur = match entry {
            toml::Value::Table(t) => t,
            _ => bail!("--set `{ov}`: `{p}` is not a section"),
        };
    }
    cur.insert(parts[parts.len() - 1].to_string(), value);
    Ok(())
}

fn parse_value(raw: &str) -> toml::Value {
    let doc = format!("v = {raw}");
    match toml::from_str::<toml::Table>(&doc) {
        Ok(mut t) => t.remove("v").expect("key v present"),
        Err(_) => toml::Value::String(raw.to_string()),
    }
}

/// The dotted keys whose values differ between two TOML documents (present in one only, or
/// with other values), sorted; for messages that say what changed.
pub fn differing_keys(a: &str, b: &str) -> Vec<String> {
    fn flatten(
        prefix: &str,
        v: &toml::Value,
        out: &mut std::collections::BTreeMap<String, String>,
    ) {
        match v {
            toml::Value::Table(t) => {
                for (k, v) in t {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    flatten(&key, v, out);
                }
            }
            other => {
                out.insert(prefix.to_string(), other.to_string());
            }
        }
    }
    let parse = |s: &str| {
        let mut out = std::collections::BTreeMap::new();
        if let Ok(t) = s.parse::<toml::Table>() {
            flatten("", &toml::Value::Table(t), &mut out);
        }
        out
    };
    let (a, b) = (parse(a), parse(b));
    let mut keys: Vec<String> = a
        .keys()
        .chain(b.keys())
        .filter(|k| a.get(*k) != b.get(*k))
        .cloned()
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_round_trip() {
        let cfg = RunConfig::default();
        let back = RunConfig::from_toml_str(&cfg.to_toml(), &[]).unwrap();
        assert_eq!(cfg, back);
    }

    #[test]
    fn differing_keys_names_changed_added_and_removed_keys() {
        let a = "[train]\nepochs = 3\nseed = 1\n[optim]\nlr = 0.1\n";
        let b = "[train]\nepochs = 4\nseed = 1\n[optim]\nlr = 0.1\nname = \"sgd\"\n";
        assert_eq!(differing_keys(a, b), vec!["optim.name", "train.epochs"]);
        assert!(differing_keys(a, a).is_empty());
    }

    #[test]
    fn unknown_key_is_named() {
        let err = RunConfig::from_toml_str("[train]\nepoch = 3\n", &[]).unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("train.epoch"), "{msg}");
        assert!(msg.contains("unknown field"), "{msg}");
    }

    #[test]
    fn unknown_section_is_named() {
        let err = RunConfig::from_toml_str("[trian]\nepochs = 3\n", &[]).unwrap_err();
        assert!(format!("{err:#}").contains("trian"));
    }

    #[test]
    fn overrides_parse_values_and_strings() {
        let cfg = RunConfig::from_toml_str(
            "",
            &[
                "train.epochs=7".into(),
                "optim.lr=0.01".into(),
                "optim.name=sgd".into(),
                "data.tasks=[\"fashion1\"]".into(),
                "probes.enabled=false".into(),
            ],
        )
        .unwrap();
        assert_eq!(cfg.train.epochs, 7);
        assert_eq!(cfg.optim.lr, 0.01);
        assert_eq!(cfg.optim.name, OptimName::Sgd);
        assert_eq!(cfg.data.tasks, vec!["fashion1".to_string()]);
        assert!(!cfg.probes.enabled);
    }

    #[test]
    fn bad_override_key_is_named() {
        let err = RunConfig::from_toml_str("", &["optim.learning_rate=0.1".into()]).unwrap_err();
        assert!(format!("{err:#}").contains("optim.learning_rate"));
    }

    #[test]
    fn invalid_values_are_named() {
        let err = RunConfig::from_toml_str("", &["optim.lr=-1".into()]).unwrap_err();
        assert!(format!("{err:#}").contains("optim.lr"));
        let err = RunConfig::from_toml_str("", &["train.batch_size=0".into()]).unwrap_err();
        assert!(format!("{err:#}").contains("train.batch_size"));
        // Names (datasets, tasks, methods) are checked against their registries by
        // `resolve::check_run`, not here: config is plain data.
    }
}
