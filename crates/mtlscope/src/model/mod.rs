//! Multi-task networks: one shared encoder (a [`Encoder`]) and one linear head per task.
//!
//! Parameters live in one `tch` `VarStore`, named `encoder.*` (shared, θ) and
//! `head.<task>.*` (task-specific, φ_k); every list of parameters this module hands out is
//! in a fixed, name-sorted order, so flattened gradients and checkpoints line up.

pub mod lenet;
pub mod mlp;

use anyhow::{bail, Result};
use tch::{nn, Device, Tensor};

use crate::config::{EncoderKind, ModelConfig};

/// A shared encoder: inputs to a representation of width [`Encoder::out_dim`].
///
/// New architectures (ResNet-18, a transformer) implement this and register in
/// [`build_encoder`]; the trainer never changes.
pub trait Encoder: std::fmt::Debug + Send {
    /// Representation of `xs` (`[N, C, H, W]`), `[N, out_dim]`. `train` switches
    /// dropout/batch-norm behaviour for encoders that have them.
    fn forward(&self, xs: &Tensor, train: bool) -> Tensor;
    /// Width of the representation.
    fn out_dim(&self) -> i64;
    /// Weight of the last shared layer (GradNorm measures gradient norms there).
    fn last_weight(&self) -> Tensor;
}

/// Builds the encoder named in the config under `path`, for inputs of shape `[C, H, W]`.
pub fn build_encoder(
    cfg: &ModelConfig,
    path: nn::Path,
    input: [i64; 3],
) -> Result<Box<dyn Encoder>> {
    Ok(match cfg.encoder {
        EncoderKind::Lenet => Box::new(lenet::LeNet::new(path, input)?),
        EncoderKind::Mlp => Box::new(mlp::Mlp::new(path, input, &cfg.hidden)),
    })
}

/// PyTorch's default initialisation of `nn.Linear` and `nn.Conv2d` (`reset_parameters`:
/// kaiming_uniform with a = √5 for weights, i.e. U(±1/√fan_in), and U(±1/√fan_in) for biases),
/// so runs start where the reference PyTorch code starts; tch's own default is Kaiming-uniform
/// with the ReLU gain, √6 ≈ 2.45 times wider, which starts LeNet at a loss near 4 instead of ln 10.
pub fn torch_default_init(fan_in: i64) -> nn::Init {
    let b = 1.0 / (fan_in as f64).sqrt();
    nn::Init::Uniform { lo: -b, up: b }
}

/// A linear layer with PyTorch's default initialisation.
pub fn linear(p: nn::Path, fan_in: i64, out: i64) -> nn::Linear {
    let init = torch_default_init(fan_in);
    nn::linear(
        p,
        fan_in,
        out,
        nn::LinearConfig {
            ws_init: init,
            bs_init: Some(init),
            bias: true,
        },
    )
}

/// A 2-D convolution with PyTorch's default initialisation.
pub fn conv2d(p: nn::Path, cin: i64, cout: i64, k: i64, padding: i64) -> nn::Conv2D {
    let init = torch_default_init(cin * k * k);
    let cfg = nn::ConvConfig {
        padding,
        ws_init: init,
        bs_init: init,
        ..Default::default()
    };
    nn::conv2d(p, cin, cout, k, cfg)
}

/// Shared encoder + one linear head per task.
#[derive(Debug)]
pub struct MultiTaskNet {
    /// The variables (θ and every φ_k).
    pub vs: nn::VarStore,
    encoder: Box<dyn Encoder>,
    heads: Vec<nn::Linear>,
    tasks: Vec<String>,
    shared: Vec<(String, Tensor)>,
    head_params: Vec<Vec<(String, Tensor)>>,
}

/// Serialises seeding + construction: libtorch's generator is process-global, so two runs
/// initialising at once in one process (tests, a library user) would interleave its draws.
static INIT: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl MultiTaskNet {
    /// Builds the network with libtorch's generator seeded by `seed`, holding a process-wide
    /// lock so the initial weights depend on the seed alone.
    pub fn seeded(
        seed: u64,
        cfg: &ModelConfig,
        tasks: &[(String, i64)],
        input: [i64; 3],
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
        tasks: &[(String, i64)],
        input: [i64; 3],
        device: Device,
    ) -> Result<Self> {
        if tasks.is_empty() {
            bail!("a network needs at least one task");
        }
        let vs = nn::VarStore::new(device);
        let root = vs.root();
        let encoder = build_encoder(cfg, &root / "encoder", input)?;
        let heads = tasks
            .iter()
            .map(|(name, classes)| {
                linear(&root / "head" / name.as_str(), encoder.out_dim(), *classes)
            })
            .collect();
        let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        let pick = |prefix: &str| -> Vec<(String, Tensor)> {
            vars.iter()
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
            encoder,
            heads,
            tasks: tasks.iter().map(|(n, _)| n.clone()).collect(),
            shared,
            head_params,
        })
    }

    /// Weight of the encoder's last layer.
    pub fn last_shared_weight(&self) -> Tensor {
        self.encoder.last_weight()
    }

    /// Task names, in head order.
    pub fn tasks(&self) -> &[String] {
        &self.tasks
    }

    /// Shared representation of `xs`.
    pub fn features(&self, xs: &Tensor, train: bool) -> Tensor {
        self.encoder.forward(xs, train)
    }

    /// Task `k`'s logits from a representation.
    pub fn head(&self, k: usize, features: &Tensor) -> Tensor {
        features.apply(&self.heads[k])
    }

    /// Task `k`'s logits from inputs.
    pub fn logits(&self, k: usize, xs: &Tensor, train: bool) -> Tensor {
        self.head(k, &self.features(xs, train))
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

    fn tasks(names: &[&str]) -> Vec<(String, i64)> {
        names.iter().map(|n| (n.to_string(), 10)).collect()
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
        assert_eq!(net.logits(1, &x, false).size(), vec![5, 10]);
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
}
