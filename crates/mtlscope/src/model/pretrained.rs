//! `model.pretrained`: initialise the encoder from a local safetensors file whose keys are the
//! encoder's variable names without the `encoder.` prefix — e.g. torchvision's `resnet18` state
//! dict, converted once with
//! `python -c "import torch, torchvision, safetensors.torch as s; s.save_file(torchvision.models.resnet18(weights='IMAGENET1K_V1').state_dict(), 'resnet18.safetensors')"`
//! on a machine that has the weights. Nothing is ever downloaded.
//!
//! Every encoder variable (parameters and batch-norm buffers) must be in the file with its
//! shape; every key of the file must be used, except those the encoder declares as not part of
//! it (torchvision's classifier `fc.*`, `*.num_batches_tracked`). Anything else is an error
//! naming the file and the keys, never a silent random initialisation.
//!
//! The text encoders (`roberta`, `bert`) read a Hugging Face model folder instead
//! ([`Format::HfFolder`]): its `config.json` gives the architecture
//! ([`super::transformer`]), its `model.safetensors` the weights, whose keys are the
//! encoder's variable names behind the model's prefix (`roberta.embeddings.…`, as
//! `RobertaForSequenceClassification` saves them; `RobertaModel` saves them without), with old
//! BERT checkpoints' `LayerNorm.gamma` / `LayerNorm.beta` read as `weight` / `bias`, as
//! `transformers` itself does.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use tch::Tensor;

/// What `model.pretrained` names for an encoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One safetensors file keyed by the encoder's variable names.
    File,
    /// A Hugging Face model folder; the weights are its `model.safetensors`, whose keys may
    /// carry `prefix` (stripped) and old `LayerNorm.gamma` / `beta` names.
    HfFolder {
        /// The model's prefix, `roberta.` or `bert.`.
        prefix: &'static str,
    },
}

impl Format {
    /// The safetensors file that `path` (the value of `model.pretrained`) stands for.
    pub fn weights_file(self, path: &Path) -> PathBuf {
        match self {
            Format::File => path.to_path_buf(),
            Format::HfFolder { .. } => path.join("model.safetensors"),
        }
    }

    /// The encoder variable name (without `encoder.`) a key of the file stands for.
    fn variable(self, key: &str) -> String {
        match self {
            Format::File => key.to_string(),
            Format::HfFolder { prefix } => {
                let k = key.strip_prefix(prefix).unwrap_or(key);
                // BERT's TensorFlow-era checkpoints; transformers renames these on load too.
                match k.strip_suffix("LayerNorm.gamma") {
                    Some(head) => format!("{head}LayerNorm.weight"),
                    None => match k.strip_suffix("LayerNorm.beta") {
                        Some(head) => format!("{head}LayerNorm.bias"),
                        None => k.to_string(),
                    },
                }
            }
        }
    }
}

/// Copies the tensors of `path` (a file, or a folder's `model.safetensors`, by `format`) into
/// `vars` (`(name, variable)` with the `encoder.` prefix); keys of the file matching `ignore`
/// (a prefix, or `*suffix`, of the key as a variable name) are skipped.
pub fn load(path: &Path, vars: &[(String, Tensor)], ignore: &[&str], format: Format) -> Result<()> {
    let file = format.weights_file(path);
    let file = file.as_path();
    if matches!(format, Format::HfFolder { .. }) && !file.is_file() {
        bail!(
            "model.pretrained: {} has no model.safetensors (only single-file safetensors weights              are read; convert a pytorch_model.bin or sharded checkpoint with transformers'              save_pretrained(dir, safe_serialization=True))",
            path.display()
        );
    }
    let tensors: Vec<(String, Tensor)> = Tensor::read_safetensors(file)
        .with_context(|| format!("model.pretrained: reading {}", file.display()))?
        .into_iter()
        .map(|(k, t)| (format.variable(&k), t))
        .collect();
    let ignored = |k: &str| {
        ignore.iter().any(|p| match p.strip_prefix('*') {
            Some(suffix) => k.ends_with(suffix),
            None => k.starts_with(p),
        })
    };
    let mut missing = Vec::new();
    tch::no_grad(|| -> Result<()> {
        for (name, var) in vars {
            let key = name.strip_prefix("encoder.").unwrap_or(name);
            match tensors.iter().find(|(k, _)| k == key) {
                None => missing.push(key.to_string()),
                Some((_, t)) => {
                    if t.size() != var.size() {
                        bail!(
                            "model.pretrained: {}: `{key}` has shape {:?}, the encoder's is {:?}",
                            file.display(),
                            t.size(),
                            var.size()
                        );
                    }
                    var.shallow_clone()
                        .copy_(&t.to_kind(var.kind()).to_device(var.device()));
                }
            }
        }
        Ok(())
    })?;
    if !missing.is_empty() {
        bail!(
            "model.pretrained: {} lacks {} encoder variable(s): {}",
            file.display(),
            missing.len(),
            missing.join(", ")
        );
    }
    let unknown: Vec<&str> = tensors
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| {
            !ignored(k)
                && !vars
                    .iter()
                    .any(|(n, _)| n.strip_prefix("encoder.") == Some(*k))
        })
        .collect();
    if !unknown.is_empty() {
        bail!(
            "model.pretrained: {} holds {} key(s) the encoder does not have: {}",
            file.display(),
            unknown.len(),
            unknown.join(", ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::ModelConfig;
    use crate::model::MultiTaskNet;
    use tch::{Device, Kind, Tensor};

    fn net(
        encoder: &str,
        seed: u64,
        pretrained: Option<&std::path::Path>,
    ) -> anyhow::Result<MultiTaskNet> {
        let cfg = ModelConfig {
            encoder: encoder.into(),
            channels: vec![4, 6],
            pretrained: pretrained.map(|p| p.to_path_buf()),
            ..Default::default()
        };
        let heads = crate::task::multiclass::heads(&["a"], 3);
        MultiTaskNet::seeded(seed, &cfg, &heads, [3, 8, 8], Device::Cpu)
    }

    /// The encoder's variables (parameters and buffers) as a source model would save them.
    fn saved(n: &MultiTaskNet) -> Vec<(String, Tensor)> {
        n.named_params()
            .into_iter()
            .chain(n.named_buffers())
            .filter_map(|(k, t)| Some((k.strip_prefix("encoder.")?.to_string(), t.detach().copy())))
            .collect()
    }

    #[test]
    fn loads_by_name_and_names_what_does_not_fit() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("w.safetensors");
        let src = net("convnet", 1, None).unwrap();
        let mut t = saved(&src);
        // A source model's counters are not part of the encoder.
        t.push((
            "bn1.num_batches_tracked".into(),
            Tensor::from_slice(&[3i64]),
        ));
        Tensor::write_safetensors(&t, &f).unwrap();
        let loaded = net("convnet", 2, Some(&f)).unwrap();
        for ((a, x), (b, y)) in src.named_params().iter().zip(loaded.named_params()) {
            assert_eq!(a, &b);
            // Encoder from the file; heads stay as initialised from the seed.
            assert_eq!(a.starts_with("encoder."), x.equal(&y), "{a}");
        }
        let err = |t: &[(String, Tensor)]| {
            Tensor::write_safetensors(t, &f).unwrap();
            format!("{:#}", net("convnet", 2, Some(&f)).unwrap_err())
        };
        let mut extra = saved(&src);
        extra.push((
            "fc.weight".into(),
            Tensor::zeros([2, 2], (Kind::Float, Device::Cpu)),
        ));
        assert!(err(&extra).contains("fc.weight"));
        let short: Vec<_> = saved(&src)
            .into_iter()
            .filter(|(k, _)| k != "conv2.weight")
            .collect();
        let e = err(&short);
        assert!(e.contains("lacks") && e.contains("conv2.weight"), "{e}");
        let mut bad = saved(&src);
        bad[0].1 = Tensor::zeros([1], (Kind::Float, Device::Cpu));
        assert!(err(&bad).contains("shape"));
    }

    /// torchvision's classifier `fc.*` is not part of ResNet-18's encoder and is skipped.
    #[test]
    fn resnet_skips_the_torchvision_classifier() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("r.safetensors");
        let src = net("resnet18", 1, None).unwrap();
        let mut t = saved(&src);
        t.push((
            "fc.weight".into(),
            Tensor::zeros([1000, 512], (Kind::Float, Device::Cpu)),
        ));
        t.push((
            "fc.bias".into(),
            Tensor::zeros([1000], (Kind::Float, Device::Cpu)),
        ));
        Tensor::write_safetensors(&t, &f).unwrap();
        let loaded = net("resnet18", 2, Some(&f)).unwrap();
        assert!(src.shared_params()[0].equal(&loaded.shared_params()[0]));
    }
}
