use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

/// `[model]`: the shared encoder; each task gets one linear head on its output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// A name from the encoder registry (`mtlscope encoders`): `lenet`, `mlp`, `convnet`, ….
    pub encoder: String,
    /// Hidden widths of the `mlp` encoder (ignored by the others).
    pub hidden: Vec<i64>,
    /// Block widths of the `convnet` encoders (ignored by the others).
    pub channels: Vec<i64>,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            encoder: "lenet".into(),
            hidden: vec![256, 128],
            channels: vec![16, 32],
        }
    }
}

impl ModelConfig {
    pub(super) fn validate(&self) -> Result<()> {
        if self.encoder == "mlp" && self.hidden.is_empty() {
            bail!("model.hidden: the mlp encoder needs at least one hidden width");
        }
        if let Some(w) = self.hidden.iter().find(|&&w| w < 1) {
            bail!("model.hidden: widths must be >= 1, got {w}");
        }
        if let Some(w) = self.channels.iter().find(|&&w| w < 1) {
            bail!("model.channels: widths must be >= 1, got {w}");
        }
        Ok(())
    }
}
