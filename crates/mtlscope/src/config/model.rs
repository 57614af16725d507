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
    /// Stem of `resnet18`: `cifar` (3×3, no max-pool), `imagenet` (7×7 stride 2 + max-pool) or
    /// `auto` (cifar for inputs of side <= 32). Written to a run's config only when not `auto`,
    /// so configs (and resumable checkpoints) from before the key existed stay identical.
    #[serde(skip_serializing_if = "is_auto")]
    pub variant: String,
    /// ResNet of `deeplabv3plus`'s dilated encoder: `resnet50` (LibMTL's) or `resnet101`
    /// (ignored by the others). Written to a run's config only when not `resnet50`, so configs
    /// (and resumable checkpoints) from before the key existed stay identical.
    #[serde(skip_serializing_if = "is_resnet50")]
    pub backbone: String,
    /// A local safetensors file to initialise the encoder from (keys: the encoder's variable
    /// names without `encoder.`, e.g. torchvision's `resnet18`, `resnet50` or `resnet101` state
    /// dict); never downloaded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pretrained: Option<std::path::PathBuf>,
}

fn is_auto(v: &str) -> bool {
    v == "auto"
}

fn is_resnet50(v: &str) -> bool {
    v == "resnet50"
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            encoder: "lenet".into(),
            hidden: vec![256, 128],
            channels: vec![16, 32],
            variant: "auto".into(),
            backbone: "resnet50".into(),
            pretrained: None,
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
        if let Some(p) = &self.pretrained {
            if !p.is_file() {
                bail!("model.pretrained: {} is not a file", p.display());
            }
        }
        if let Some(w) = self.channels.iter().find(|&&w| w < 1) {
            bail!("model.channels: widths must be >= 1, got {w}");
        }
        Ok(())
    }
}
