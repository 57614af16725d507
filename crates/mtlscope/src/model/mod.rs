//! Multi-task networks: one shared encoder (an [`Encoder`], chosen from the [`ENCODERS`]
//! registry by `model.encoder`) and one head per task, built by the task's kind
//! ([`crate::task::TaskKind::build_head`]) on the encoder's output ([`FeatureShape`]).
//!
//! Parameters live in one `tch` `VarStore`, named `encoder.*` (shared, θ) and
//! `head.<task>.*` (task-specific, φ_k); every list of parameters this module hands out is
//! in a fixed, name-sorted order, so flattened gradients and checkpoints line up. Batch-norm
//! running statistics are *buffers*: variables without gradients, kept out of every parameter
//! list (so out of the Jacobian, the Gramian, the optimizer and the probes' parameter vectors)
//! and saved in checkpoints through [`MultiTaskNet::named_buffers`].

pub mod convnet;
pub mod deeplab;
pub mod lenet;
pub mod mlp;
pub mod pretrained;
pub mod resnet;
pub mod segnet;
pub mod transformer;

use anyhow::{bail, Result};
use std::sync::Arc;
use tch::{nn, Device, Tensor};

use crate::config::ModelConfig;
use crate::task::{FeatureShape, Head, TaskKind};

/// A shared encoder: inputs to a representation, a vector or a feature map
/// ([`Encoder::output`]).
///
/// A new architecture is one file implementing this plus one row in [`ENCODERS`]; the
/// trainer never changes.
pub trait Encoder: std::fmt::Debug + Send {
    /// Representation of `xs` (images `[N, C, H, W]`, or token batches `[N, 3, L]` of ids,
    /// token types and attention mask, [`crate::data::Inputs::Tokens`]). `train` switches
    /// dropout/batch-norm behaviour for encoders that have them.
    fn forward(&self, xs: &Tensor, train: bool) -> Tensor;
    /// What [`Encoder::forward`] returns.
    fn output(&self) -> FeatureShape;
    /// Weight of the last shared layer (GradNorm measures gradient norms there).
    fn last_weight(&self) -> Tensor;
}

/// Builds an encoder under a path for inputs of one example's shape (`[C, H, W]` for images,
/// `[3, L]` for token sequences).
pub type BuildEncoder = fn(&ModelConfig, nn::Path, &[i64]) -> Result<Box<dyn Encoder>>;

/// `input` as an image shape `[C, H, W]`, or an error saying that encoder `name` takes images:
/// pairing an image encoder with a text dataset fails here, naming both.
pub fn image_input(name: &str, input: &[i64]) -> Result<[i64; 3]> {
    <[i64; 3]>::try_from(input).map_err(|_| {
        anyhow::anyhow!(
            "model.encoder: `{name}` takes images [C, H, W], but the dataset's examples are \
             {input:?} (token sequences need a text encoder such as `roberta`)"
        )
    })
}

/// A registered encoder.
pub struct EncoderInfo {
    /// Name used by `model.encoder`.
    pub name: &'static str,
    /// One line: architecture and source.
    pub about: &'static str,
    /// `vector` or `spatial` (what the heads receive).
    pub output: &'static str,
    /// The `[model]` keys it reads besides `encoder`.
    pub keys: &'static [&'static str],
    /// Builds it under a path for inputs of one example's shape.
    pub build: BuildEncoder,
    /// Keys of a `model.pretrained` file that are not part of the encoder (a prefix, or
    /// `*suffix`): the source model's classifier and counters.
    pub pretrained_ignore: &'static [&'static str],
    /// What `model.pretrained` names: a safetensors file, or a Hugging Face model folder.
    pub pretrained_format: pretrained::Format,
}

/// The encoder registry.
pub static ENCODERS: &[EncoderInfo] = &[
    EncoderInfo {
        name: "lenet",
        about: "LeNet-5: conv6-pool-conv16-pool-fc120-fc84, ReLU (Mueller et al. 2025, App. B.1)",
        output: "vector",
        keys: &[],
        build: |_, p, input| Ok(Box::new(lenet::LeNet::new(p, image_input("lenet", input)?)?)),
        pretrained_ignore: &[],
        pretrained_format: pretrained::Format::File,
    },
    EncoderInfo {
        name: "mlp",
        about: "fully connected ReLU layers of widths model.hidden",
        output: "vector",
        keys: &["hidden"],
        build: |cfg, p, input| {
            if cfg.hidden.is_empty() {
                bail!("model.hidden: the mlp encoder needs at least one hidden width");
            }
            Ok(Box::new(mlp::Mlp::new(
                p,
                image_input("mlp", input)?,
                &cfg.hidden,
            )))
        },
        pretrained_ignore: &[],
        pretrained_format: pretrained::Format::File,
    },
    EncoderInfo {
        name: "convnet",
        about: "conv3x3-BN-ReLU blocks of widths model.channels (stride 2 after the first), global average pool",
        output: "vector",
        keys: &["channels"],
        build: |cfg, p, input| Ok(Box::new(convnet::ConvNet::new(p, image_input("convnet", input)?, &cfg.channels, false)?)),
        pretrained_ignore: &["*num_batches_tracked"],
        pretrained_format: pretrained::Format::File,
    },
    EncoderInfo {
        name: "convnet_dense",
        about: "conv3x3-BN-ReLU blocks of widths model.channels (stride 2 after the first), feature map for dense heads",
        output: "spatial",
        keys: &["channels"],
        build: |cfg, p, input| Ok(Box::new(convnet::ConvNet::new(p, image_input("convnet_dense", input)?, &cfg.channels, true)?)),
        pretrained_ignore: &["*num_batches_tracked"],
        pretrained_format: pretrained::Format::File,
    },
    EncoderInfo {
        name: "resnet18",
        about: "ResNet-18 with batch norm, torchvision's without fc, 512-d pooled features (He et al. 2016; Mueller et al. App. A); model.variant cifar (3x3 stem, no max-pool) | imagenet | auto",
        output: "vector",
        keys: &["variant", "pretrained"],
        build: |cfg, p, input| Ok(Box::new(resnet::ResNet18::new(p, image_input("resnet18", input)?, &cfg.variant)?)),
        pretrained_ignore: &["fc.", "*num_batches_tracked"],
        pretrained_format: pretrained::Format::File,
    },
    EncoderInfo {
        name: "segnet",
        about: "SegNet as MTAN's split multi-task network: shared VGG-style encoder-decoder with pooling indices, full-resolution 64-channel map for dense heads (Badrinarayanan et al. 2017; Liu et al. 2019)",
        output: "spatial",
        keys: &[],
        build: |_, p, input| Ok(Box::new(segnet::SegNet::new(p, image_input("segnet", input)?)?)),
        pretrained_ignore: &["*num_batches_tracked"],
        pretrained_format: pretrained::Format::File,
    },
    EncoderInfo {
        name: "deeplabv3plus",
        about: "DeepLabV3+ as LibMTL's: torchvision's ResNet-50 (model.backbone resnet50 | resnet101) dilated to output stride 8, 2048-channel map; per-pixel tasks get DeepLabV3's ASPP head (rates 12, 24, 36) each (Chen et al. 2017, 2018)",
        output: "spatial",
        keys: &["backbone", "pretrained"],
        build: |cfg, p, input| {
            Ok(Box::new(deeplab::DeepLabResNet::new(
                p,
                image_input("deeplabv3plus", input)?,
                &cfg.backbone,
            )?))
        },
        pretrained_ignore: &["fc.", "*num_batches_tracked"],
        pretrained_format: pretrained::Format::File,
    },
    EncoderInfo {
        name: "roberta",
        about: "RoBERTa as Hugging Face's RobertaModel from a local model folder (model.pretrained: config.json + model.safetensors), the first token's last hidden state; dropout from config.json or model.dropout (Liu et al. 2019; Mueller et al. 2025)",
        output: "vector",
        keys: &["pretrained", "dropout"],
        build: |cfg, p, input| transformer::build(transformer::Flavour::Roberta, cfg, p, input),
        pretrained_ignore: transformer::PRETRAINED_IGNORE,
        pretrained_format: pretrained::Format::HfFolder { prefix: "roberta." },
    },
    EncoderInfo {
        name: "bert",
        about: "BERT as Hugging Face's BertModel from a local model folder (model.pretrained: config.json + model.safetensors), the [CLS] token's last hidden state, no pooler; dropout from config.json or model.dropout (Devlin et al. 2019)",
        output: "vector",
        keys: &["pretrained", "dropout"],
        build: |cfg, p, input| transformer::build(transformer::Flavour::Bert, cfg, p, input),
        pretrained_ignore: transformer::PRETRAINED_IGNORE,
        pretrained_format: pretrained::Format::HfFolder { prefix: "bert." },
    },
];

/// The registered encoder called `name`, or an error naming `model.encoder` and the known ones.
pub fn encoder(name: &str) -> Result<&'static EncoderInfo> {
    ENCODERS.iter().find(|e| e.name == name).ok_or_else(|| {
        let known: Vec<&str> = ENCODERS.iter().map(|e| e.name).collect();
        anyhow::anyhow!(
            "model.encoder: unknown encoder `{name}`; known: {}",
            known.join(", ")
        )
    })
}

/// Builds the encoder named in the config under `path`, for inputs of one example's shape.
pub fn build_encoder(cfg: &ModelConfig, path: nn::Path, input: &[i64]) -> Result<Box<dyn Encoder>> {
    (encoder(&cfg.encoder)?.build)(cfg, path, input)
}

/// A task as the network needs it: its name and its kind.
pub type TaskHead = (String, Arc<dyn TaskKind>);

/// Shared encoder + one head per task.
#[derive(Debug)]
pub struct MultiTaskNet {
    /// The variables (θ, every φ_k and the buffers).
    pub vs: nn::VarStore,
    encoder_name: String,
    encoder: Box<dyn Encoder>,
    heads: Vec<Box<dyn Head>>,
    kinds: Vec<Arc<dyn TaskKind>>,
    tasks: Vec<String>,
    shared: Vec<(String, Tensor)>,
    head_params: Vec<Vec<(String, Tensor)>>,
    buffers: Vec<(String, Tensor)>,
}

/// Serialises seeding + construction: libtorch's generator is process-global, so two runs
/// initialising at once in one process (tests, a library user) would interleave its draws.
static INIT: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs `f` with libtorch's generator seeded by `seed`, holding the lock [`MultiTaskNet::seeded`]
/// initialises under: draws made inside `f` (dropout masks, [`transformer`]) are a function of
/// `seed` alone, and neither disturb nor are disturbed by an initialisation on another thread.
/// `f` must not build a network (the lock is not reentrant).
pub(crate) fn with_seed<T>(seed: u64, f: impl FnOnce() -> T) -> T {
    let _guard = INIT.lock().unwrap_or_else(|e| e.into_inner());
    tch::manual_seed(seed as i64);
    f()
}

impl MultiTaskNet {
    /// Builds the network with libtorch's generator seeded by `seed`, holding a process-wide
    /// lock so the initial weights depend on the seed alone.
    pub fn seeded(
        seed: u64,
        cfg: &ModelConfig,
        tasks: &[TaskHead],
        input: impl AsRef<[i64]>,
        device: Device,
    ) -> Result<Self> {
        let _guard = INIT.lock().unwrap_or_else(|e| e.into_inner());
        tch::manual_seed(seed as i64);
        Self::new(cfg, tasks, input, device)
    }

    /// Builds the network. Initialisation uses libtorch's global generator: seed it with
    /// `tch::manual_seed` first. The encoder is built before the heads, so for a given seed
    /// the encoder's initial weights are the same in STL and MTL runs.
    pub fn new(
        cfg: &ModelConfig,
        tasks: &[TaskHead],
        input: impl AsRef<[i64]>,
        device: Device,
    ) -> Result<Self> {
        let input = input.as_ref();
        Self::with_encoder(cfg, tasks, input, device, |p| build_encoder(cfg, p, input))
    }

    /// [`Self::new`] with the encoder built by `build` under its path instead of from the
    /// registry (`cfg.encoder` still names it; `cfg.pretrained`, if set, still loads into it):
    /// networks no config describes, such as the benchmark's randomly initialised RoBERTa-base.
    pub fn with_encoder(
        cfg: &ModelConfig,
        tasks: &[TaskHead],
        input: impl AsRef<[i64]>,
        device: Device,
        build: impl FnOnce(nn::Path) -> Result<Box<dyn Encoder>>,
    ) -> Result<Self> {
        let input = input.as_ref();
        if tasks.is_empty() {
            bail!("a network needs at least one task");
        }
        let vs = nn::VarStore::new(device);
        let root = vs.root();
        let encoder = build(&root / "encoder")?;
        let features = encoder.output();
        let heads = tasks
            .iter()
            .map(|(name, kind)| {
                kind.build_head(
                    &root / "head" / name.as_str(),
                    features,
                    // Dense heads upsample to the image size; token inputs have none.
                    (input.len() == 3).then(|| (input[1], input[2])),
                )
                .map_err(|e| anyhow::anyhow!("task `{name}` on encoder `{}`: {e:#}", cfg.encoder))
            })
            .collect::<Result<Vec<_>>>()?;
        let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        if let Some(file) = &cfg.pretrained {
            let enc: Vec<(String, Tensor)> = vars
                .iter()
                .filter(|(n, _)| n.starts_with("encoder."))
                .map(|(n, t)| (n.clone(), t.shallow_clone()))
                .collect();
            let info = self::encoder(&cfg.encoder)?;
            pretrained::load(file, &enc, info.pretrained_ignore, info.pretrained_format)?;
        }
        // Buffers (batch-norm running statistics) are the variables without gradients.
        let (params, buffers): (Vec<_>, Vec<_>) =
            vars.into_iter().partition(|(_, t)| t.requires_grad());
        let pick = |prefix: &str| -> Vec<(String, Tensor)> {
            params
                .iter()
                .filter(|(n, _)| n.starts_with(prefix))
                .map(|(n, t)| (n.clone(), t.shallow_clone()))
                .collect()
        };
        let shared = pick("encoder.");
        let head_params = tasks
            .iter()
            .map(|(name, _)| pick(&format!("head.{name}.")))
            .collect();
        Ok(Self {
            vs,
            encoder_name: cfg.encoder.clone(),
            encoder,
            heads,
            kinds: tasks.iter().map(|(_, k)| k.clone()).collect(),
            tasks: tasks.iter().map(|(n, _)| n.clone()).collect(),
            shared,
            head_params,
            buffers,
        })
    }

    /// The registry name of the encoder (`lenet`, `mlp`, …).
    pub fn encoder_name(&self) -> &str {
        &self.encoder_name
    }

    /// What the encoder outputs.
    pub fn features_shape(&self) -> FeatureShape {
        self.encoder.output()
    }

    /// Weight of the encoder's last layer.
    pub fn last_shared_weight(&self) -> Tensor {
        self.encoder.last_weight()
    }

    /// Task names, in head order.
    pub fn tasks(&self) -> &[String] {
        &self.tasks
    }

    /// Task `k`'s kind (its loss and metrics).
    pub fn kind(&self, k: usize) -> &dyn TaskKind {
        self.kinds[k].as_ref()
    }

    /// Shared representation of `xs`.
    pub fn features(&self, xs: &Tensor, train: bool) -> Tensor {
        self.encoder.forward(xs, train)
    }

    /// Task `k`'s output (logits, a prediction, a per-pixel map) from a representation.
    pub fn head(&self, k: usize, features: &Tensor, train: bool) -> Tensor {
        self.heads[k].forward(features, train)
    }

    /// Task `k`'s output from inputs.
    pub fn forward(&self, k: usize, xs: &Tensor, train: bool) -> Tensor {
        self.head(k, &self.features(xs, train), train)
    }

    /// Task `k`'s training loss (its kind's) of `out` against `target`.
    pub fn loss(&self, k: usize, out: &Tensor, target: &Tensor) -> Tensor {
        self.kinds[k].loss(out, target)
    }

    /// Task `k`'s loss of each example, `[N]`.
    pub fn per_example_loss(&self, k: usize, out: &Tensor, target: &Tensor) -> Tensor {
        self.kinds[k].per_example_loss(out, target)
    }

    /// Shared (encoder) parameters θ, name-sorted.
    pub fn shared_params(&self) -> Vec<Tensor> {
        self.shared.iter().map(|(_, t)| t.shallow_clone()).collect()
    }

    /// Task `k`'s head parameters φ_k, name-sorted.
    pub fn head_params(&self, k: usize) -> Vec<Tensor> {
        self.head_params[k]
            .iter()
            .map(|(_, t)| t.shallow_clone())
            .collect()
    }

    /// Every parameter with its name: θ first, then φ_1 … φ_K.
    pub fn named_params(&self) -> Vec<(String, Tensor)> {
        self.shared
            .iter()
            .chain(self.head_params.iter().flatten())
            .map(|(n, t)| (n.clone(), t.shallow_clone()))
            .collect()
    }

    /// Every parameter, in [`Self::named_params`] order.
    pub fn params(&self) -> Vec<Tensor> {
        self.named_params().into_iter().map(|(_, t)| t).collect()
    }

    /// The buffers (batch-norm running statistics) with their names, name-sorted; state to
    /// checkpoint, never to differentiate or optimise.
    pub fn named_buffers(&self) -> Vec<(String, Tensor)> {
        self.buffers
            .iter()
            .map(|(n, t)| (n.clone(), t.shallow_clone()))
            .collect()
    }

    /// Number of shared scalars (columns of the task Jacobian).
    pub fn n_shared(&self) -> i64 {
        self.shared.iter().map(|(_, t)| t.numel() as i64).sum()
    }

    /// The device the parameters live on.
    pub fn device(&self) -> Device {
        self.vs.device()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ModelConfig;

    fn tasks(names: &[&str]) -> Vec<TaskHead> {
        crate::task::multiclass::heads(names, 10)
    }

    #[test]
    fn lenet_shapes_and_parameter_split() {
        tch::manual_seed(0);
        let net = MultiTaskNet::new(
            &ModelConfig::default(),
            &tasks(&["a", "b"]),
            [1, 28, 28],
            Device::Cpu,
        )
        .unwrap();
        let x = Tensor::randn([5, 1, 28, 28], (tch::Kind::Float, Device::Cpu));
        assert_eq!(net.forward(1, &x, false).size(), vec![5, 10]);
        // LeNet-5: conv 1->6 (5x5), conv 6->16 (5x5), fc 400->120, fc 120->84.
        let n = 6 * 25 + 6 + 16 * 6 * 25 + 16 + 400 * 120 + 120 + 120 * 84 + 84;
        assert_eq!(net.n_shared(), n);
        assert_eq!(net.head_params(0).len(), 2);
        assert_eq!(net.params().len(), net.shared_params().len() + 4);
    }

    #[test]
    fn encoder_init_does_not_depend_on_task_set() {
        let a = MultiTaskNet::seeded(
            7,
            &ModelConfig::default(),
            &tasks(&["a"]),
            [1, 28, 28],
            Device::Cpu,
        )
        .unwrap();
        let b = MultiTaskNet::seeded(
            7,
            &ModelConfig::default(),
            &tasks(&["a", "b", "c"]),
            [1, 28, 28],
            Device::Cpu,
        )
        .unwrap();
        for (x, y) in a.shared_params().iter().zip(b.shared_params()) {
            assert!(x.equal(&y));
        }
        assert!(a.head_params(0)[0].equal(&b.head_params(0)[0]));
    }

    /// Every parameter is U(±1/√fan_in) like PyTorch's default, and fills its range.
    #[test]
    fn init_matches_pytorch_default_bounds() {
        let net = MultiTaskNet::seeded(
            1,
            &ModelConfig::default(),
            &tasks(&["a"]),
            [1, 28, 28],
            Device::Cpu,
        )
        .unwrap();
        let fan_in = |name: &str| match name {
            n if n.contains("conv1") => 25.0,
            n if n.contains("conv2") => 150.0,
            n if n.contains("fc1") => 400.0,
            n if n.contains("fc2") => 120.0,
            _ => 84.0,
        };
        for (name, t) in net.named_params() {
            let b = 1.0 / f64::sqrt(fan_in(&name));
            let max = t.abs().max().double_value(&[]);
            assert!(
                max <= b && max > 0.5 * b,
                "{name}: max |w| {max}, bound {b}"
            );
        }
    }

    /// Batch-norm running statistics are buffers: never parameters (so never in J, the
    /// optimizer or the probes), updated by train-mode forwards only, used in eval mode.
    #[test]
    fn batch_norm_statistics_are_buffers() {
        let cfg = ModelConfig {
            encoder: "convnet".into(),
            channels: vec![3, 5],
            ..Default::default()
        };
        let net =
            MultiTaskNet::seeded(4, &cfg, &tasks(&["a", "b"]), [2, 8, 8], Device::Cpu).unwrap();
        let names: Vec<String> = net.named_params().into_iter().map(|(n, _)| n).collect();
        assert!(names.iter().all(|n| !n.contains("running")), "{names:?}");
        assert!(names.contains(&"encoder.bn1.weight".to_string()));
        let buffers: Vec<String> = net.named_buffers().into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            buffers,
            [
                "encoder.bn1.running_mean",
                "encoder.bn1.running_var",
                "encoder.bn2.running_mean",
                "encoder.bn2.running_var"
            ]
        );
        assert!(net.params().iter().all(|p| p.requires_grad()));
        let x = Tensor::randn([6, 2, 8, 8], (tch::Kind::Float, Device::Cpu)) * 3.0 + 1.0;
        let before = net.named_buffers()[0].1.copy();
        let eval_out = net.forward(0, &x, false);
        assert!(
            net.named_buffers()[0].1.equal(&before),
            "eval mode moved the statistics"
        );
        let _ = net.forward(0, &x, true);
        let after = net.named_buffers()[0].1.copy();
        assert!(
            !after.equal(&before),
            "train mode did not update the statistics"
        );
        // Eval mode normalises with the running statistics, so its output changed with them.
        assert!(!net.forward(0, &x, false).equal(&eval_out));
        // Train mode normalises with the batch's own statistics: the output is the same
        // whatever the running statistics hold.
        let t1 = net.forward(0, &x, true);
        let t2 = net.forward(0, &x, true);
        assert!(t1.allclose(&t2, 1e-6, 1e-6, false));
    }
}
