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
    /// dict), or for `roberta` / `bert` a local Hugging Face model folder (`config.json` and
    /// `model.safetensors`, see `model/transformer.rs`); never downloaded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pretrained: Option<std::path::PathBuf>,
    /// Dropout probability of the `roberta` / `bert` encoders, hidden and attention alike, in
    /// [0, 1); unset, each comes from the model's `config.json`. Written to a run's config only
    /// when set, so configs from before the key existed stay identical.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dropout: Option<f64>,
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
            dropout: None,
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
            // The encoder says whether it reads a file or a folder; an unknown encoder is
            // reported by name when the run is resolved, so only the path is checked here.
            let format = crate::model::encoder(&self.encoder)
                .map(|e| e.pretrained_format)
                .unwrap_or(crate::model::pretrained::Format::File);
            match format {
                crate::model::pretrained::Format::File if !p.is_file() => {
                    bail!("model.pretrained: {} is not a file", p.display())
                }
                crate::model::pretrained::Format::HfFolder { .. } if !p.is_dir() => bail!(
                    "model.pretrained: {} is not a folder (the {} encoder reads a Hugging Face \
                     model folder: config.json and model.safetensors)",
                    p.display(),
                    self.encoder
                ),
                _ => {}
            }
        }
        if let Some(d) = self.dropout {
            if !(0.0..1.0).contains(&d) {
                bail!("model.dropout must be in [0, 1), got {d}");
            }
        }
        if let Some(w) = self.channels.iter().find(|&&w| w < 1) {
            bail!("model.channels: widths must be >= 1, got {w}");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `model.pretrained` is a folder for the Hugging Face encoders, a file for the others;
    /// `model.dropout` is a probability below 1.
    #[test]
    fn pretrained_kind_and_dropout_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("w.safetensors");
        std::fs::write(&file, b"").unwrap();
        let with = |encoder: &str, p: &std::path::Path| ModelConfig {
            encoder: encoder.into(),
            pretrained: Some(p.to_path_buf()),
            ..Default::default()
        };
        assert!(with("roberta", dir.path()).validate().is_ok());
        assert!(with("resnet18", &file).validate().is_ok());
        let e = format!("{:#}", with("bert", &file).validate().unwrap_err());
        assert!(
            e.contains("model.pretrained") && e.contains("folder"),
            "{e}"
        );
        let e = format!("{:#}", with("resnet18", dir.path()).validate().unwrap_err());
        assert!(
            e.contains("model.pretrained") && e.contains("not a file"),
            "{e}"
        );
        for (d, ok) in [(0.0, true), (0.1, true), (1.0, false), (-0.1, false)] {
            let c = ModelConfig {
                encoder: "roberta".into(),
                dropout: Some(d),
                ..Default::default()
            };
            assert_eq!(c.validate().is_ok(), ok, "{d}");
        }
        // Unset, the key is not written (configs from before it stay identical).
        let text = toml::to_string(&ModelConfig::default()).unwrap();
        assert!(!text.contains("dropout"), "{text}");
    }
}
