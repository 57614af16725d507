//! ResNet-18 (He et al. 2016) with batch normalisation, as torchvision's `resnet18` without its
//! final `fc` layer: the 512-wide globally pooled representation feeds the task heads
//! (Mueller et al. 2025, App. A: "a ResNet18 architecture whose penultimate representation is
//! passed to task-specific linear classification layers"; Elich et al. 2024 on CelebA).
//!
//! Two stems (`model.variant`):
//! - `imagenet`: torchvision's, conv 7×7 stride 2 – BN – ReLU – max-pool 3×3 stride 2;
//! - `cifar`: the usual adaptation for 32×32 inputs, conv 3×3 stride 1 – BN – ReLU, no max-pool;
//! - `auto` (default): `cifar` for inputs of side ≤ 32, else `imagenet`.
//!
//! Then four stages of two basic blocks (widths 64, 128, 256, 512; strides 1, 2, 2, 2), each
//! block conv3×3 – BN – ReLU – conv3×3 – BN, plus the identity or, where the shape changes, a
//! 1×1 strided conv – BN projection, then ReLU. Convolutions have no bias and torchvision's
//! initialisation (Kaiming normal, fan-out, ReLU gain); batch norm starts at weight 1, bias 0.
//! Variable names are torchvision's (`conv1`, `bn1`, `layer2.0.downsample.0`, …), so its state
//! dict loads by name (`model.pretrained`, see [`super::pretrained`]).

use anyhow::{bail, Result};
use tch::{nn, Tensor};

use super::Encoder;
use crate::layers::batch_norm2d;
use crate::task::FeatureShape;

/// Stage widths and first-block strides.
const STAGES: [(i64, i64); 4] = [(64, 1), (128, 2), (256, 2), (512, 2)];

/// A bias-free convolution with torchvision's ResNet initialisation:
/// `kaiming_normal_(mode="fan_out", nonlinearity="relu")`, σ = √(2 / (c_out·k²)).
fn conv(p: nn::Path, cin: i64, cout: i64, k: i64, stride: i64, padding: i64) -> nn::Conv2D {
    let cfg = nn::ConvConfig {
        stride,
        padding,
        bias: false,
        ws_init: nn::Init::Randn {
            mean: 0.0,
            stdev: (2.0 / (cout * k * k) as f64).sqrt(),
        },
        ..Default::default()
    };
    nn::conv2d(p, cin, cout, k, cfg)
}

/// One basic block.
#[derive(Debug)]
struct Block {
    conv1: nn::Conv2D,
    bn1: nn::BatchNorm,
    conv2: nn::Conv2D,
    bn2: nn::BatchNorm,
    downsample: Option<(nn::Conv2D, nn::BatchNorm)>,
}

impl Block {
    fn new(p: nn::Path, cin: i64, cout: i64, stride: i64) -> Self {
        let downsample = (stride != 1 || cin != cout).then(|| {
            let d = &p / "downsample";
            (
                conv(&d / "0", cin, cout, 1, stride, 0),
                batch_norm2d(&d / "1", cout),
            )
        });
        Self {
            conv1: conv(&p / "conv1", cin, cout, 3, stride, 1),
            bn1: batch_norm2d(&p / "bn1", cout),
            conv2: conv(&p / "conv2", cout, cout, 3, 1, 1),
            bn2: batch_norm2d(&p / "bn2", cout),
            downsample,
        }
    }

    fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        let h = x
            .apply(&self.conv1)
            .apply_t(&self.bn1, train)
            .relu()
            .apply(&self.conv2)
            .apply_t(&self.bn2, train);
        let skip = match &self.downsample {
            Some((c, bn)) => x.apply(c).apply_t(bn, train),
            None => x.shallow_clone(),
        };
        (h + skip).relu()
    }
}

/// The stems `model.variant` names.
pub const STEMS: [&str; 3] = ["auto", "cifar", "imagenet"];

/// Checks `model.variant`: the one place its values are known (run configs are checked
/// through [`crate::resolve::check_run`]).
pub fn check_variant(variant: &str) -> Result<()> {
    if !STEMS.contains(&variant) {
        bail!(
            "model.variant: unknown ResNet stem `{variant}`; known: {}",
            STEMS.join(", ")
        );
    }
    Ok(())
}

/// ResNet-18 without its classifier.
#[derive(Debug)]
pub struct ResNet18 {
    conv1: nn::Conv2D,
    bn1: nn::BatchNorm,
    max_pool: bool,
    blocks: Vec<Block>,
}

impl ResNet18 {
    /// Builds it under `p` for inputs `[C, H, W]` with stem `variant` (`cifar`, `imagenet` or
    /// `auto`).
    pub fn new(p: nn::Path, input: [i64; 3], variant: &str) -> Result<Self> {
        let [c, h, w] = input;
        check_variant(variant)?;
        let imagenet = variant == "imagenet" || (variant == "auto" && h.min(w) > 32);
        // The ImageNet stem divides the side by 4 and the stages by 8 more.
        let min_side = if imagenet { 32 } else { 8 };
        if h.min(w) < min_side {
            bail!(
                "model.encoder = \"resnet18\" ({} stem) needs inputs of side >= {min_side}, got {h}x{w}",
                if imagenet { "imagenet" } else { "cifar" }
            );
        }
        let (conv1, max_pool) = if imagenet {
            (conv(&p / "conv1", c, 64, 7, 2, 3), true)
        } else {
            (conv(&p / "conv1", c, 64, 3, 1, 1), false)
        };
        let mut blocks = Vec::new();
        let mut cin = 64;
        for (i, (cout, stride)) in STAGES.into_iter().enumerate() {
            let layer = &p / format!("layer{}", i + 1);
            blocks.push(Block::new(&layer / "0", cin, cout, stride));
            blocks.push(Block::new(&layer / "1", cout, cout, 1));
            cin = cout;
        }
        Ok(Self {
            conv1,
            bn1: batch_norm2d(&p / "bn1", 64),
            max_pool,
            blocks,
        })
    }
}

impl Encoder for ResNet18 {
    fn forward(&self, xs: &Tensor, train: bool) -> Tensor {
        let mut h = xs.apply(&self.conv1).apply_t(&self.bn1, train).relu();
        if self.max_pool {
            h = h.max_pool2d([3, 3], [2, 2], [1, 1], [1, 1], false);
        }
        for b in &self.blocks {
            h = b.forward(&h, train);
        }
        h.mean_dim(&[2i64, 3][..], false, None::<tch::Kind>)
    }

    fn output(&self) -> FeatureShape {
        FeatureShape::Vector { dim: 512 }
    }

    fn last_weight(&self) -> Tensor {
        self.blocks
            .last()
            .expect("eight blocks")
            .conv2
            .ws
            .shallow_clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ModelConfig;
    use crate::model::MultiTaskNet;
    use tch::{Device, Kind};

    fn net(variant: &str, side: i64) -> MultiTaskNet {
        let cfg = ModelConfig {
            encoder: "resnet18".into(),
            variant: variant.into(),
            ..Default::default()
        };
        let heads = crate::task::multiclass::heads(&["a", "b"], 5);
        MultiTaskNet::seeded(0, &cfg, &heads, [3, side, side], Device::Cpu).unwrap()
    }

    /// torchvision's resnet18 has 11,689,512 parameters, of which its `fc` layer
    /// (512 × 1000 weights and 1000 biases) is 513,000: the ImageNet variant's encoder must
    /// have the other 11,176,512. The CIFAR stem replaces conv1's 64·3·7·7 weights by 64·3·3·3.
    #[test]
    fn parameter_counts_equal_torchvision() {
        let n = |net: &MultiTaskNet| -> i64 {
            net.shared_params().iter().map(|t| t.numel() as i64).sum()
        };
        assert_eq!(n(&net("imagenet", 64)), 11_689_512 - 513_000);
        assert_eq!(
            n(&net("cifar", 32)),
            11_689_512 - 513_000 - 64 * 3 * 49 + 64 * 3 * 9
        );
        // Buffers: running mean and variance of the 20 batch norms.
        let buffers = net("cifar", 32).named_buffers();
        assert!(buffers
            .iter()
            .any(|(n, _)| n == "encoder.layer2.0.downsample.1.running_var"));
    }

    #[test]
    fn shapes_stems_and_errors() {
        let x = Tensor::randn([2, 3, 32, 32], (Kind::Float, Device::Cpu));
        let cifar = net("auto", 32);
        assert_eq!(cifar.features(&x, false).size(), [2, 512]);
        assert_eq!(cifar.forward(1, &x, true).size(), [2, 5]);
        let x = Tensor::randn([2, 3, 64, 64], (Kind::Float, Device::Cpu));
        assert_eq!(net("auto", 64).forward(0, &x, false).size(), [2, 5]);
        let cfg = ModelConfig {
            encoder: "resnet18".into(),
            variant: "tiny".into(),
            ..Default::default()
        };
        let heads = crate::task::multiclass::heads(&["a"], 5);
        let e = MultiTaskNet::new(&cfg, &heads, [3, 32, 32], Device::Cpu).unwrap_err();
        assert!(format!("{e:#}").contains("model.variant"), "{e:#}");
    }
}
