//! DeepLabV3+ as LibMTL runs it on NYUv2 and Cityscapes (the network of its, and Elich et al.'s,
//! "DeepLabV3+" results; Chen et al. 2017/2018): a dilated ResNet shared by every task, and per
//! task DeepLabV3's ASPP head ([`crate::task::head::AsppHead`], which per-pixel kinds build
//! because this encoder's [`FeatureShape`] asks for [`DenseHead::Aspp`]).
//!
//! The encoder is torchvision's ResNet-50 or ResNet-101 (`model.backbone`; Bottleneck blocks
//! [3, 4, 6, 3] or [3, 4, 23, 3], stride on the 3×3 conv, "v1.5") without its pooling and `fc`,
//! built with `replace_stride_with_dilation = [False, True, True]`: layer3 and layer4 keep the
//! resolution and dilate instead (layer3's first block at dilation 1, the rest at 2; layer4's
//! first at 2, the rest at 4), so the output is `[N, 2048, H/8, W/8]` (output stride 8). That
//! is what LibMTL's `resnet_dilated('resnet50')` (`LibMTL/model/resnet_dilated.py`,
//! `dilate_scale = 8`) makes of its copy of torchvision's ResNet: `_nostride_dilate` sets the
//! same strides, dilations and paddings. Sides that are not multiples of 8 round up at each
//! stride-2 layer, as in PyTorch.
//!
//! Initialisation as torchvision's ResNet: convolutions Kaiming-normal with fan-out and the
//! ReLU gain, batch norm weight 1 and bias 0 (no zero-initialised residual BN); the heads keep
//! PyTorch's defaults, as LibMTL's. ReLUs after batch norm and after the residual sum work in
//! place, as torchvision's `nn.ReLU(inplace=True)` (same values, fewer activations held).
//!
//! Variable names are torchvision's (`conv1`, `bn1`, `layer1.0.conv1`, `layer1.0.downsample.0`,
//! …), so its ImageNet state dict loads by name with `model.pretrained` (LibMTL starts from it;
//! `fc.*` and `*.num_batches_tracked` are ignored, anything else missing or extra is an error
//! naming the key, see [`super::pretrained`]). Convert it once, where torchvision and the
//! weights are (`resnet101` likewise):
//!
//! ```python
//! import torchvision, safetensors.torch
//! m = torchvision.models.resnet50(weights="IMAGENET1K_V1")   # LibMTL's resnet50-19c8e357.pth
//! safetensors.torch.save_file(m.state_dict(), "resnet50.safetensors")
//! ```

use anyhow::{bail, Result};
use tch::{nn, Tensor};

use super::Encoder;
use crate::layers::batch_norm2d;
use crate::task::{DenseHead, FeatureShape};

/// `model.backbone` values and their blocks per stage.
pub const BACKBONES: [(&str, [usize; 4]); 2] =
    [("resnet50", [3, 4, 6, 3]), ("resnet101", [3, 4, 23, 3])];

/// Channels of the feature map: 512 · Bottleneck's expansion 4.
pub const CHANNELS: i64 = 2048;

/// Output stride: the stem's 4 times layer2's 2.
pub const STRIDE: i64 = 8;

/// The blocks per stage of `model.backbone = name`, or an error naming the key and the known
/// values (run configs are checked through [`crate::resolve::check_run`]).
pub fn check_backbone(name: &str) -> Result<[usize; 4]> {
    match BACKBONES.iter().find(|(n, _)| *n == name) {
        Some((_, blocks)) => Ok(*blocks),
        None => {
            let known: Vec<&str> = BACKBONES.iter().map(|(n, _)| *n).collect();
            bail!(
                "model.backbone: unknown DeepLabV3+ backbone `{name}`; known: {}",
                known.join(", ")
            )
        }
    }
}

/// A bias-free convolution with torchvision's ResNet initialisation,
/// `kaiming_normal_(mode="fan_out", nonlinearity="relu")`: σ = √(2 / (c_out·k²)).
fn conv(p: nn::Path, cin: i64, cout: i64, k: i64, stride: i64, dilation: i64) -> nn::Conv2D {
    let cfg = nn::ConvConfig {
        stride,
        padding: dilation * (k / 2),
        dilation,
        bias: false,
        ws_init: nn::Init::Randn {
            mean: 0.0,
            stdev: (2.0 / (cout * k * k) as f64).sqrt(),
        },
        ..Default::default()
    };
    nn::conv2d(p, cin, cout, k, cfg)
}

/// torchvision's Bottleneck: conv1×1 – BN – ReLU – conv3×3 (stride, dilation) – BN – ReLU –
/// conv1×1 (×4) – BN, plus the identity or a strided conv1×1 – BN projection, then ReLU.
#[derive(Debug)]
struct Bottleneck {
    conv1: nn::Conv2D,
    bn1: nn::BatchNorm,
    conv2: nn::Conv2D,
    bn2: nn::BatchNorm,
    conv3: nn::Conv2D,
    bn3: nn::BatchNorm,
    downsample: Option<(nn::Conv2D, nn::BatchNorm)>,
}

impl Bottleneck {
    fn new(p: nn::Path, cin: i64, planes: i64, stride: i64, dilation: i64) -> Self {
        let cout = 4 * planes;
        let downsample = (stride != 1 || cin != cout).then(|| {
            let d = &p / "downsample";
            (
                conv(&d / "0", cin, cout, 1, stride, 1),
                batch_norm2d(&d / "1", cout),
            )
        });
        Self {
            conv1: conv(&p / "conv1", cin, planes, 1, 1, 1),
            bn1: batch_norm2d(&p / "bn1", planes),
            conv2: conv(&p / "conv2", planes, planes, 3, stride, dilation),
            bn2: batch_norm2d(&p / "bn2", planes),
            conv3: conv(&p / "conv3", planes, cout, 1, 1, 1),
            bn3: batch_norm2d(&p / "bn3", cout),
            downsample,
        }
    }

    fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        let h = x
            .apply(&self.conv1)
            .apply_t(&self.bn1, train)
            .relu_()
            .apply(&self.conv2)
            .apply_t(&self.bn2, train)
            .relu_()
            .apply(&self.conv3)
            .apply_t(&self.bn3, train);
        let skip = match &self.downsample {
            Some((c, bn)) => x.apply(c).apply_t(bn, train),
            None => x.shallow_clone(),
        };
        (h + skip).relu_()
    }
}

/// The dilated ResNet encoder of DeepLabV3+.
#[derive(Debug)]
pub struct DeepLabResNet {
    conv1: nn::Conv2D,
    bn1: nn::BatchNorm,
    blocks: Vec<Bottleneck>,
}

impl DeepLabResNet {
    /// Builds it under `p` for inputs `[C, H, W]` with `backbone` (`resnet50`, `resnet101`).
    pub fn new(p: nn::Path, [c, _, _]: [i64; 3], backbone: &str) -> Result<Self> {
        let blocks_per_stage = check_backbone(backbone)?;
        // (planes, stride, dilate) of layer1..layer4, as torchvision's `_make_layer` calls with
        // replace_stride_with_dilation = [False, True, True].
        let stages = [
            (64, 1, false),
            (128, 2, false),
            (256, 2, true),
            (512, 2, true),
        ];
        let mut blocks = Vec::new();
        let (mut cin, mut dilation) = (64, 1);
        for (i, ((planes, stride, dilate), n)) in
            stages.into_iter().zip(blocks_per_stage).enumerate()
        {
            let layer = &p / format!("layer{}", i + 1);
            // A dilated stage trades its stride for dilation; its first block keeps the
            // previous stage's dilation.
            let previous = dilation;
            let stride = if dilate {
                dilation *= stride;
                1
            } else {
                stride
            };
            blocks.push(Bottleneck::new(&layer / "0", cin, planes, stride, previous));
            cin = 4 * planes;
            for b in 1..n {
                blocks.push(Bottleneck::new(
                    &layer / b.to_string(),
                    cin,
                    planes,
                    1,
                    dilation,
                ));
            }
        }
        Ok(Self {
            conv1: conv(&p / "conv1", c, 64, 7, 2, 1),
            bn1: batch_norm2d(&p / "bn1", 64),
            blocks,
        })
    }
}

impl Encoder for DeepLabResNet {
    fn forward(&self, xs: &Tensor, train: bool) -> Tensor {
        let mut h = xs
            .apply(&self.conv1)
            .apply_t(&self.bn1, train)
            .relu_()
            .max_pool2d([3, 3], [2, 2], [1, 1], [1, 1], false);
        for b in &self.blocks {
            h = b.forward(&h, train);
        }
        h
    }

    fn output(&self) -> FeatureShape {
        FeatureShape::Spatial {
            channels: CHANNELS,
            stride: STRIDE,
            head: DenseHead::Aspp,
        }
    }

    fn last_weight(&self) -> Tensor {
        self.blocks
            .last()
            .expect("16 or 33 blocks")
            .conv3
            .ws
            .shallow_clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ModelConfig;
    use crate::model::{MultiTaskNet, TaskHead};
    use crate::task::depth::DepthSpec;
    use crate::task::normals::NormalsSpec;
    use crate::task::segmentation::SegmentationSpec;
    use crate::task::TaskSpec;
    use tch::{Device, Kind};

    fn tasks(decoder_channels: Option<i64>) -> Vec<TaskHead> {
        let spec = |name: &str| match name {
            "segmentation" => TaskSpec::Segmentation(SegmentationSpec {
                classes: 13,
                ignore_index: -1,
                decoder_channels,
            }),
            "depth" => TaskSpec::Depth(DepthSpec::default()),
            _ => TaskSpec::Normals(NormalsSpec::default()),
        };
        ["segmentation", "depth", "normal"]
            .into_iter()
            .map(|n| (n.to_string(), spec(n).build().unwrap().into()))
            .collect()
    }

    /// Seeded, under the init lock: an unseeded build moves libtorch's global generator while
    /// parallel tests initialise their networks from it.
    fn net(backbone: &str, tasks: &[TaskHead], hw: [i64; 2]) -> anyhow::Result<MultiTaskNet> {
        let cfg = ModelConfig {
            encoder: "deeplabv3plus".into(),
            backbone: backbone.into(),
            ..Default::default()
        };
        MultiTaskNet::seeded(0, &cfg, tasks, [3, hw[0], hw[1]], Device::Cpu)
    }

    /// A deterministic input: tests never draw from libtorch's global generator, which a
    /// parallel test may be initialising a network from.
    fn wave(shape: &[i64], f: f64) -> Tensor {
        let n: i64 = shape.iter().product();
        (Tensor::arange(n, (Kind::Float, Device::Cpu)) * f)
            .sin()
            .view(shape)
    }

    fn count(ts: &[Tensor]) -> i64 {
        ts.iter().map(|t| t.numel() as i64).sum()
    }

    #[test]
    fn backbones_and_their_errors() {
        assert_eq!(check_backbone("resnet50").unwrap(), [3, 4, 6, 3]);
        assert_eq!(check_backbone("resnet101").unwrap(), [3, 4, 23, 3]);
        let e = check_backbone("resnet18").unwrap_err().to_string();
        assert_eq!(
            e,
            "model.backbone: unknown DeepLabV3+ backbone `resnet18`; known: resnet50, resnet101"
        );
        let e = format!("{:#}", net("resnet34", &tasks(None), [32, 32]).unwrap_err());
        assert!(
            e.contains("model.backbone") && e.contains("resnet34"),
            "{e}"
        );
    }

    /// torchvision's resnet50 has 25,557,032 parameters and resnet101 44,549,160, of which `fc`
    /// (2048 × 1000 + 1000) is 2,049,000: the encoders must have the rest (dilation changes no
    /// shape). LibMTL's `DeepLabHead(2048, 13)`, by hand (convs without bias, BN weight + bias):
    ///   ASPP 1×1 branch       2048·256 + 2·256              =    524,800
    ///   three 3×3 branches    3 · (2048·256·9 + 2·256)      = 14,157,312
    ///   pooling branch        2048·256 + 2·256              =    524,800
    ///   projection            1280·256 + 2·256              =    328,192
    ///   conv3×3 + BN          256·256·9 + 2·256             =    590,336
    ///   conv1×1 with bias     256·13 + 13                   =      3,341
    ///   total                                                 16,128,781
    /// (scripts/deeplab_reference.py prints both counts from the PyTorch modules.)
    #[test]
    fn parameter_counts_equal_torchvision_and_libmtl() {
        let n = net("resnet50", &tasks(None), [32, 32]).unwrap();
        assert_eq!(n.n_shared(), 25_557_032 - 2_049_000);
        assert_eq!(n.n_shared(), 23_508_032);
        assert_eq!(count(&n.head_params(0)), 16_128_781);
        // Depth and normals differ in the last layer only: 256·1 + 1 and 256·3 + 3.
        assert_eq!(count(&n.head_params(1)), 16_128_781 - 3_341 + 257);
        assert_eq!(count(&n.head_params(2)), 16_128_781 - 3_341 + 771);
        let names: Vec<String> = n.named_params().into_iter().map(|(k, _)| k).collect();
        for k in [
            "encoder.conv1.weight",
            "encoder.layer1.0.downsample.0.weight",
            "encoder.layer3.5.conv3.weight",
            "head.segmentation.0.convs.3.0.weight",
            "head.segmentation.0.convs.4.1.weight",
            "head.segmentation.0.project.0.weight",
            "head.segmentation.4.bias",
        ] {
            assert!(names.iter().any(|n| n == k), "{k} missing");
        }
        let buffers: Vec<String> = n.named_buffers().into_iter().map(|(k, _)| k).collect();
        assert!(buffers.contains(&"head.normal.0.convs.4.2.running_var".to_string()));
        assert!(buffers.contains(&"encoder.layer4.2.bn3.running_mean".to_string()));

        let n = net("resnet101", &tasks(None)[..1], [32, 32]).unwrap();
        assert_eq!(n.n_shared(), 44_549_160 - 2_049_000);
        assert_eq!(n.n_shared(), 42_500_160);
    }

    /// Output stride 8, heads at the input size in both modes, unit normals, and a training-mode
    /// step that reaches every parameter.
    #[test]
    fn shapes_and_gradients() {
        let n = net("resnet50", &tasks(None), [32, 40]).unwrap();
        assert_eq!(
            n.features_shape().to_string(),
            "spatial features [N, 2048, H/8, W/8] for ASPP heads"
        );
        let x = wave(&[2, 3, 32, 40], 0.37);
        let z = n.features(&x, false);
        assert_eq!(z.size(), [2, 2048, 4, 5]);
        assert_eq!(n.head(0, &z, false).size(), [2, 13, 32, 40]);
        assert_eq!(n.head(1, &z, false).size(), [2, 1, 32, 40]);
        let normals = n.head(2, &z, true);
        assert_eq!(normals.size(), [2, 3, 32, 40]);
        let len = normals
            .square()
            .sum_dim_intlist(1, false, None::<Kind>)
            .sqrt();
        assert!((len - 1.0).abs().max().double_value(&[]) < 1e-5);
        // Odd sides round up at each stride-2 layer: 33 -> 17 -> 9 -> 5.
        let x = wave(&[2, 3, 33, 40], 0.37);
        assert_eq!(n.features(&x, false).size(), [2, 2048, 5, 5]);

        let x = wave(&[2, 3, 32, 40], 0.37);
        let z = n.features(&x, true);
        // Weighted sums: a unit-normal map's squares would sum to a constant.
        let loss: Tensor = (0..3)
            .map(|k| {
                let y = n.head(k, &z, true);
                (&y * wave(&y.size(), 0.11 + k as f64)).mean(Kind::Float)
            })
            .sum();
        let params = n.params();
        let grads = Tensor::run_backward(&[loss], &params, false, false);
        let (names, _): (Vec<String>, Vec<Tensor>) = n.named_params().into_iter().unzip();
        for (name, g) in names.iter().zip(&grads) {
            assert!(
                g.abs().sum(Kind::Double).double_value(&[]) > 0.0,
                "no gradient reaches {name}"
            );
        }
    }

    /// Image-level kinds pool the 2048-channel map into their linear head; `decoder_channels`
    /// does not apply to ASPP heads and says so.
    #[test]
    fn linear_heads_and_decoder_width_error() {
        let heads = crate::task::multiclass::heads(&["scene"], 7);
        let n = net("resnet50", &heads, [32, 32]).unwrap();
        assert_eq!(count(&n.head_params(0)), 2048 * 7 + 7);
        let x = wave(&[2, 3, 32, 32], 0.37);
        assert_eq!(n.forward(0, &x, false).size(), [2, 7]);
        let e = format!(
            "{:#}",
            net("resnet50", &tasks(Some(64)), [32, 32]).unwrap_err()
        );
        assert!(
            e.contains("task `segmentation` on encoder `deeplabv3plus`")
                && e.contains("`decoder_channels`")
                && e.contains("256"),
            "{e}"
        );
    }
}
