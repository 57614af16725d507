use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

/// `[train]`. STL and MTL runs of a setting take the same number of steps: an epoch is one
/// pass over the first task's training set, and each MTL step draws one batch per task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// Number of epochs.
    pub epochs: usize,
    /// Examples per task per step.
    pub batch_size: usize,
    /// Seed of the initialisation and batch order.
    pub seed: u64,
    /// Evaluate every N steps; 0 = at the end of every epoch.
    pub eval_every: usize,
    /// Examples per forward pass during evaluation (memory bound only; results do not depend on it).
    pub eval_batch_size: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 10,
            batch_size: 128,
            seed: 1,
            eval_every: 0,
            eval_batch_size: 2500,
        }
    }
}

impl TrainConfig {
    pub(super) fn validate(&self) -> Result<()> {
        if self.epochs == 0 {
            bail!("train.epochs must be >= 1, got 0");
        }
        if self.batch_size == 0 {
            bail!("train.batch_size must be >= 1, got 0");
        }
        if self.eval_batch_size == 0 {
            bail!("train.eval_batch_size must be >= 1, got 0");
        }
        Ok(())
    }
}
