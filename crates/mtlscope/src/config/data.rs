use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// `[data]`: which dataset, which of its tasks, where its files are, and how it is split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    /// Dataset family (`mtlscope datasets` lists them).
    pub dataset: String,
    /// Tasks trained jointly; one task = single-task learning (STL).
    pub tasks: Vec<String>,
    /// Where the dataset's files are (each dataset's layout: `mtlscope datasets`); for
    /// `fashion_mtl`, else `$MTLSCOPE_DATA` or the Debian package; for `celeba`, the cache
    /// `mtlscope data prepare` wrote.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// Seed of the train/val/test split and of NoisyFashion's label permutation; never the
    /// training seed, so every run of a setting sees the same split.
    pub split_seed: u64,
    /// Caps every task's training set (quick runs); `None` = all of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub train_limit: Option<usize>,
    /// Validation examples per task held out of the training set, for datasets whose
    /// validation split is carved from train (`cifar100`: default 500); `None` = the dataset's
    /// default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub val_size: Option<usize>,
    /// Label version of datasets that ship several (`cityscapes`: 7, 19 or 2 classes; default
    /// 7); `None` = the dataset's default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub classes: Option<i64>,
    /// Text datasets (`glue`): the tokenizer, a Hugging Face model folder holding
    /// `tokenizer.json` (or `vocab.json` + `merges.txt`), or a `tokenizer.json` file. Defaults
    /// to `model.pretrained`, so a run names its model folder once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokenizer: Option<PathBuf>,
    /// Text datasets: tokens per example after truncation (the special tokens included);
    /// `None` = 128.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_length: Option<usize>,
}

/// Tokens per example when `data.max_length` is not set (Mueller et al.'s GLUE runs, and the
/// usual GLUE fine-tuning length).
pub const DEFAULT_MAX_LENGTH: usize = 128;

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            dataset: "fashion_mtl".into(),
            tasks: vec!["fashion1".into(), "fashion2".into()],
            data_dir: None,
            split_seed: 0,
            train_limit: None,
            val_size: None,
            classes: None,
            tokenizer: None,
            max_length: None,
        }
    }
}

impl DataConfig {
    pub(super) fn validate(&self) -> Result<()> {
        // Dataset and task names are checked against the dataset registry by
        // `crate::resolve::check_run`: config is plain checked data.
        if self.dataset.is_empty() {
            bail!("data.dataset must name a dataset (see `mtlscope datasets`)");
        }
        if self.tasks.is_empty() {
            bail!("data.tasks: at least one task is needed");
        }
        for (i, t) in self.tasks.iter().enumerate() {
            if self.tasks[..i].contains(t) {
                bail!("data.tasks: task `{t}` listed twice");
            }
        }
        if self.val_size == Some(0) {
            bail!("data.val_size must be >= 1, got 0");
        }
        if let Some(n) = self.max_length {
            if n < 4 {
                bail!(
                    "data.max_length must be >= 4 (a pair's special tokens alone take 4), got {n}"
                );
            }
        }
        if self.train_limit == Some(0) {
            bail!("data.train_limit must be >= 1, got 0");
        }
        Ok(())
    }
}
