use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

/// Shared encoder architectures (`model.encoder`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EncoderKind {
    /// LeNet-5 style conv-pool-conv-pool-fc-fc (Mueller et al. 2025, App. B.1).
    Lenet,
    /// Fully connected ReLU network with `model.hidden` widths.
    Mlp,
}

/// `[model]`: the shared encoder; each task gets one linear head on its output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// `lenet` or `mlp`.
    pub encoder: EncoderKind,
    /// Hidden widths of the `mlp` encoder (ignored by `lenet`).
    pub hidden: Vec<i64>,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            encoder: EncoderKind::Lenet,
            hidden: vec![256, 128],
        }
    }
}

impl ModelConfig {
    pub(super) fn validate(&self) -> Result<()> {
        if self.encoder == EncoderKind::Mlp && self.hidden.is_empty() {
            bail!("model.hidden: the mlp encoder needs at least one hidden width");
        }
        if let Some(w) = self.hidden.iter().find(|&&w| w < 1) {
            bail!("model.hidden: widths must be >= 1, got {w}");
        }
        Ok(())
    }
}
