//! The head shapes task kinds use: a linear layer on vector features; on feature maps, for
//! per-pixel kinds, the head the encoder asks for ([`FeatureShape::Spatial`]'s `head`): a small
//! convolutional decoder ([`DecoderHead`]) or DeepLabV3's ASPP head ([`AsppHead`]), both
//! upsampling to the input size.
//!
//! All start from PyTorch's default initialisation ([`crate::layers::linear`],
//! [`crate::layers::conv2d`]), so a head starts where the reference PyTorch code starts. A linear
//! head's parameters sit directly under its path (`head.<task>.weight`, `.bias`), the names
//! [`crate::model::MultiTaskNet`] gives its heads, so checkpoints keep their names.

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::{nn, Kind, Tensor};

use super::{DenseHead, FeatureShape, Head, TaskError};

/// A linear head, `[N, D] → [N, out]`; on a feature map `[N, C, H', W']` it first averages
/// over the spatial positions (global average pooling, as ResNet's classifier), so image-level
/// tasks (a CelebA attribute, a scene class) can share a dense encoder with per-pixel tasks.
#[derive(Debug)]
pub struct LinearHead {
    layer: nn::Linear,
    pool: bool,
}

impl Head for LinearHead {
    fn forward(&self, features: &Tensor, _train: bool) -> Tensor {
        if self.pool {
            features
                .mean_dim(&[2i64, 3][..], false, None::<tch::Kind>)
                .apply(&self.layer)
        } else {
            features.apply(&self.layer)
        }
    }
}

/// Builds a linear head with `out` outputs for task kind `kind`, pooling spatial features.
pub fn linear_head(
    _kind: &'static str,
    p: nn::Path,
    features: FeatureShape,
    out: i64,
) -> Result<Box<dyn Head>, TaskError> {
    let (dim, pool) = match features {
        FeatureShape::Vector { dim } => (dim, false),
        FeatureShape::Spatial { channels, .. } => (channels, true),
    };
    Ok(Box::new(LinearHead {
        layer: crate::layers::linear(p, dim, out),
        pool,
    }))
}

/// A dense head: conv3×3 (C → C') – ReLU – conv1×1 (C' → out) on `[N, C, H/s, W/s]`, then
/// bilinear upsampling (align_corners = false, `F.interpolate`'s default) to the input size
/// `[N, out, H, W]`; optionally each pixel's output vector is scaled to unit length (surface
/// normals, as MTAN's SegNet normalises its normal output).
///
/// With [`DenseHead::Mtan`] it is MTAN's SegNet task layers instead: no ReLU between the two
/// convolutions, Xavier-normal weights and zero biases (MTAN initialises every layer so).
#[derive(Debug)]
pub struct DecoderHead {
    hidden: nn::Conv2D,
    out: nn::Conv2D,
    out_hw: (i64, i64),
    unit_norm: bool,
    relu: bool,
}

/// A convolution with MTAN's initialisation: Xavier-normal weights (std = √(2 / (fan_in +
/// fan_out)), fans over the k×k kernel) and zero biases.
fn conv_xavier(p: nn::Path, cin: i64, cout: i64, k: i64, padding: i64) -> nn::Conv2D {
    let std = (2.0 / ((cin + cout) * k * k) as f64).sqrt();
    let cfg = nn::ConvConfig {
        padding,
        ws_init: nn::Init::Randn {
            mean: 0.0,
            stdev: std,
        },
        bs_init: nn::Init::Const(0.0),
        ..Default::default()
    };
    nn::conv2d(p, cin, cout, k, cfg)
}

impl Head for DecoderHead {
    fn forward(&self, features: &Tensor, _train: bool) -> Tensor {
        let h = features.apply(&self.hidden);
        let h = if self.relu { h.relu() } else { h };
        let y = h.apply(&self.out).upsample_bilinear2d(
            [self.out_hw.0, self.out_hw.1],
            false,
            None,
            None,
        );
        if self.unit_norm {
            unit_normalise(&y)
        } else {
            y
        }
    }
}

/// `y / max(‖y‖₂, 1e-12)` over the channel dimension of `[N, C, H, W]` (`F.normalize`'s
/// guard against a zero vector).
pub fn unit_normalise(y: &Tensor) -> Tensor {
    let norm = y
        .square()
        .sum_dim_intlist(1, true, None::<tch::Kind>)
        .sqrt()
        .clamp_min(1e-12);
    y / norm
}

/// Builds the per-pixel head the encoder's feature map asks for, with `out` channels, for task
/// kind `kind`: a [`DecoderHead`] whose hidden width is `hidden` (the feature channels when
/// `None`), or an [`AsppHead`] (fixed widths: a `hidden` is an error naming
/// `decoder_channels`). Errors unless `features` are spatial and `input_hw` is given.
pub fn dense_head(
    kind: &'static str,
    p: nn::Path,
    features: FeatureShape,
    input_hw: Option<(i64, i64)>,
    hidden: Option<i64>,
    out: i64,
    unit_norm: bool,
) -> Result<Box<dyn Head>, TaskError> {
    let FeatureShape::Spatial { channels, head, .. } = features else {
        return Err(TaskError::Features {
            kind,
            expected: "spatial features [N, C, H', W']",
            got: features,
        });
    };
    let out_hw = match input_hw {
        Some((h, w)) if h > 0 && w > 0 => (h, w),
        other => {
            return Err(TaskError::InputSize {
                kind,
                got: format!("{other:?}"),
            })
        }
    };
    match head {
        DenseHead::Decoder => {
            let hidden_c = hidden.unwrap_or(channels);
            Ok(Box::new(DecoderHead {
                hidden: crate::layers::conv2d(&p / "hidden", channels, hidden_c, 3, 1),
                out: crate::layers::conv2d(&p / "out", hidden_c, out, 1, 0),
                out_hw,
                unit_norm,
                relu: true,
            }))
        }
        DenseHead::Mtan => {
            let hidden_c = hidden.unwrap_or(channels);
            Ok(Box::new(DecoderHead {
                hidden: conv_xavier(&p / "hidden", channels, hidden_c, 3, 1),
                out: conv_xavier(&p / "out", hidden_c, out, 1, 0),
                out_hw,
                unit_norm,
                relu: false,
            }))
        }
        DenseHead::Aspp => {
            if let Some(c) = hidden {
                return Err(TaskError::Param {
                    kind,
                    key: "decoder_channels",
                    message: format!(
                        "sets the conv decoder's width; this encoder's ASPP heads have \
                         DeepLabV3's fixed 256 channels, got {c}"
                    ),
                });
            }
            Ok(Box::new(AsppHead::new(p, channels, out, out_hw, unit_norm)))
        }
    }
}

/// ASPP's atrous rates at output stride 8 (LibMTL's `DeepLabHead`: `ASPP(in, [12, 24, 36])`).
pub const ASPP_RATES: [i64; 3] = [12, 24, 36];
/// Width of every ASPP branch, of its projection and of the head's 3×3 layer.
pub const ASPP_CHANNELS: i64 = 256;
/// Dropout probability after ASPP's projection.
pub const ASPP_DROPOUT: f64 = 0.5;

/// DeepLabV3's head (Chen et al. 2017, "Rethinking Atrous Convolution for Semantic Image
/// Segmentation", §3.3) as LibMTL's `examples/nyu/aspp.py` `DeepLabHead(C, out)`, the head of its
/// (and Elich et al.'s) DeepLabV3+ results on NYUv2 and Cityscapes:
///
/// - ASPP: five branches on the `[N, C, h, w]` map, each ending in BN – ReLU at 256 channels:
///   conv1×1; three conv3×3 with dilation (and padding) 12, 24, 36; image pooling (global
///   average, conv1×1, BN – ReLU, broadcast back to h × w — LibMTL's bilinear interpolation of
///   a 1×1 map, which copies it);
/// - concatenation (1280) – conv1×1 to 256 – BN – ReLU – dropout 0.5;
/// - conv3×3 256 → 256 – BN – ReLU – conv1×1 256 → out (with bias; every other conv has none);
/// - bilinear upsampling with align_corners = true to the input size, as LibMTL's NYUv2 and
///   Cityscapes trainers (`process_preds`: `F.interpolate(..., mode='bilinear',
///   align_corners=True)`); unit-length pixels for normals, as [`DecoderHead`].
///
/// Parameter names are those of LibMTL's `nn.Sequential` (`0.convs.{0..4}`, `0.project.0`,
/// `1`–`4`), so `decoders.<task>.*` of a LibMTL state dict maps to `head.<task>.*` one for one.
/// Initialisation: PyTorch's defaults, as LibMTL leaves them.
///
/// Departure, for reproducibility: the dropout mask is not drawn from libtorch's process-wide
/// generator, which mtlscope never touches after initialisation (runs are a function of the seed,
/// resume bit for bit, and probes never move training's draws). Each element is kept with
/// probability 1/2 and scaled by 2, as `nn.Dropout(0.5)`, by a ChaCha8 stream seeded from the
/// head's variable path and the bit pattern of the projected batch's sum ([`seeded_dropout`]):
/// a function of the step's data and weights, so it repeats exactly on resume.
#[derive(Debug)]
pub struct AsppHead {
    /// conv1×1 and the three atrous conv3×3, each with its BN.
    branches: Vec<(nn::Conv2D, nn::BatchNorm)>,
    pool: (nn::Conv2D, nn::BatchNorm),
    project: (nn::Conv2D, nn::BatchNorm),
    conv: nn::Conv2D,
    bn: nn::BatchNorm,
    out: nn::Conv2D,
    out_hw: (i64, i64),
    unit_norm: bool,
    dropout_key: u64,
}

/// A bias-free convolution with PyTorch's default initialisation.
fn conv_nobias(p: nn::Path, cin: i64, cout: i64, k: i64, dilation: i64) -> nn::Conv2D {
    let cfg = nn::ConvConfig {
        padding: dilation * (k / 2),
        dilation,
        bias: false,
        ws_init: crate::layers::torch_default_init(cin * k * k),
        ..Default::default()
    };
    nn::conv2d(p, cin, cout, k, cfg)
}

impl AsppHead {
    /// Builds it under `p` on `channels`-channel maps, `out` outputs at `out_hw`.
    pub fn new(p: nn::Path, channels: i64, out: i64, out_hw: (i64, i64), unit_norm: bool) -> Self {
        use crate::layers::batch_norm2d;
        let c = ASPP_CHANNELS;
        let aspp = &p / "0";
        let convs = &aspp / "convs";
        let mut branches = vec![(
            conv_nobias(&convs / "0" / "0", channels, c, 1, 1),
            batch_norm2d(&convs / "0" / "1", c),
        )];
        for (i, rate) in ASPP_RATES.into_iter().enumerate() {
            let b = &convs / (i + 1).to_string();
            branches.push((
                conv_nobias(&b / "0", channels, c, 3, rate),
                batch_norm2d(&b / "1", c),
            ));
        }
        // Index 0 of LibMTL's pooling branch is the parameter-free AdaptiveAvgPool2d.
        let pool = (
            conv_nobias(&convs / "4" / "1", channels, c, 1, 1),
            batch_norm2d(&convs / "4" / "2", c),
        );
        let project = (
            conv_nobias(&aspp / "project" / "0", 5 * c, c, 1, 1),
            batch_norm2d(&aspp / "project" / "1", c),
        );
        let dropout_key = fnv1a(p.components().collect::<Vec<_>>().join(".").as_bytes());
        Self {
            branches,
            pool,
            project,
            conv: conv_nobias(&p / "1", c, c, 3, 1),
            bn: batch_norm2d(&p / "2", c),
            out: crate::layers::conv2d(&p / "4", c, out, 1, 0),
            out_hw,
            unit_norm,
            dropout_key,
        }
    }
}

impl Head for AsppHead {
    fn forward(&self, features: &Tensor, train: bool) -> Tensor {
        let size = features.size();
        let (n, h, w) = (size[0], size[2], size[3]);
        let mut res: Vec<Tensor> = self
            .branches
            .iter()
            .map(|(c, bn)| features.apply(c).apply_t(bn, train).relu())
            .collect();
        res.push(
            features
                .adaptive_avg_pool2d([1, 1])
                .apply(&self.pool.0)
                .apply_t(&self.pool.1, train)
                .relu()
                .expand([n, ASPP_CHANNELS, h, w], false),
        );
        let mut y = Tensor::cat(&res, 1)
            .apply(&self.project.0)
            .apply_t(&self.project.1, train)
            .relu();
        if train {
            y = seeded_dropout(&y, ASPP_DROPOUT, self.dropout_key);
        }
        let y = y
            .apply(&self.conv)
            .apply_t(&self.bn, train)
            .relu()
            .apply(&self.out)
            .upsample_bilinear2d([self.out_hw.0, self.out_hw.1], true, None, None);
        if self.unit_norm {
            unit_normalise(&y)
        } else {
            y
        }
    }
}

/// FNV-1a of `bytes`: a hash that is the same on every platform and Rust version.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Inverted dropout of `x` with probability `p` (kept elements scaled by 1/(1 − p), as
/// `F.dropout` in training), its mask a function of `key` and of `x`'s values: a ChaCha8 stream
/// seeded by `key` and the bits of Σx (in f64) decides each element, kept when its 32-bit draw is
/// below (1 − p)·2³². Same input, same mask, on any device; libtorch's generator is not used.
pub fn seeded_dropout(x: &Tensor, p: f64, key: u64) -> Tensor {
    let sum = tch::no_grad(|| x.sum(Kind::Double).double_value(&[]));
    let mut rng = ChaCha8Rng::seed_from_u64(key ^ sum.to_bits().rotate_left(17));
    let keep_below = ((1.0 - p) * 4_294_967_296.0) as u64;
    let mask: Vec<u8> = (0..x.numel())
        .map(|_| u8::from((rng.next_u32() as u64) < keep_below))
        .collect();
    let mask = Tensor::from_slice(&mask)
        .to_device(x.device())
        .view(x.size().as_slice())
        .to_kind(x.kind());
    x * mask * (1.0 / (1.0 - p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn linear_head_shape_and_parameter_names() {
        let vs = nn::VarStore::new(Device::Cpu);
        let h = linear_head(
            "multiclass",
            &vs.root() / "head" / "t",
            FeatureShape::Vector { dim: 5 },
            3,
        )
        .unwrap();
        let y = h.forward(&Tensor::ones([4, 5], (Kind::Float, Device::Cpu)), false);
        assert_eq!(y.size(), vec![4, 3]);
        let mut names: Vec<String> = vs.variables().into_keys().collect();
        names.sort();
        assert_eq!(names, vec!["head.t.bias", "head.t.weight"]);
        // PyTorch's default: U(±1/√fan_in).
        let w = vs.variables()["head.t.weight"]
            .abs()
            .max()
            .double_value(&[]);
        assert!(w <= 1.0 / 5f64.sqrt());
    }

    #[test]
    fn decoder_head_upsamples_to_input_size() {
        let vs = nn::VarStore::new(Device::Cpu);
        let f = FeatureShape::Spatial {
            channels: 4,
            stride: 4,
            head: DenseHead::Decoder,
        };
        let h = dense_head("depth", vs.root(), f, Some((12, 16)), Some(6), 2, false).unwrap();
        let y = h.forward(
            &Tensor::randn([2, 4, 3, 4], (Kind::Float, Device::Cpu)),
            false,
        );
        assert_eq!(y.size(), vec![2, 2, 12, 16]);
        let mut names: Vec<String> = vs.variables().into_keys().collect();
        names.sort();
        assert_eq!(
            names,
            vec!["hidden.bias", "hidden.weight", "out.bias", "out.weight"]
        );
        assert_eq!(vs.variables()["hidden.weight"].size(), vec![6, 4, 3, 3]);
    }

    #[test]
    fn bilinear_upsampling_is_half_pixel() {
        // align_corners = false: upsampling [0, 1] by 2 gives [0, 0.25, 0.75, 1].
        let x = Tensor::from_slice(&[0f32, 1.0]).view([1, 1, 1, 2]);
        let y = x.upsample_bilinear2d([1, 4], false, None, None);
        let v = Vec::<f32>::try_from(&y.reshape([-1])).unwrap();
        assert_eq!(v, vec![0.0, 0.25, 0.75, 1.0]);
    }

    #[test]
    fn unit_norm_output() {
        let vs = nn::VarStore::new(Device::Cpu);
        let f = FeatureShape::Spatial {
            channels: 3,
            stride: 2,
            head: DenseHead::Decoder,
        };
        let h = dense_head("normals", vs.root(), f, Some((6, 8)), None, 3, true).unwrap();
        let y = h.forward(
            &Tensor::randn([2, 3, 3, 4], (Kind::Float, Device::Cpu)),
            false,
        );
        let norms = y.square().sum_dim_intlist(1, false, None::<Kind>).sqrt();
        let dev = (norms - 1.0).abs().max().double_value(&[]);
        assert!(dev < 1e-5, "max |‖n‖ − 1| = {dev}");
    }

    #[test]
    fn mismatched_features_and_missing_size_are_clear_errors() {
        let vs = nn::VarStore::new(Device::Cpu);
        let sp = FeatureShape::Spatial {
            channels: 8,
            stride: 4,
            head: DenseHead::Decoder,
        };
        // A linear head pools a feature map: [2, 8, 3, 5] → mean over 3×5 → linear.
        let h = linear_head("binary", &vs.root() / "lin", sp, 1).unwrap();
        let f = Tensor::randn([2, 8, 3, 5], (Kind::Float, Device::Cpu));
        let pooled = f.mean_dim(&[2i64, 3][..], false, None::<Kind>);
        let (w, b) = (&vs.variables()["lin.weight"], &vs.variables()["lin.bias"]);
        let expect = pooled.matmul(&w.tr()) + b;
        assert!(h.forward(&f, false).allclose(&expect, 1e-6, 1e-6, false));
        let v = FeatureShape::Vector { dim: 8 };
        let e = dense_head("depth", vs.root(), v, Some((4, 4)), None, 1, false).unwrap_err();
        assert_eq!(
            e.to_string(),
            "task kind `depth` needs spatial features [N, C, H', W'] from the encoder, \
             got vector features [N, 8]"
        );
        let e = dense_head("depth", vs.root(), sp, None, None, 1, false).unwrap_err();
        assert!(e.to_string().contains("needs the input size (H, W)"), "{e}");
    }

    /// No draw from libtorch's global generator in these tests (a parallel test may be
    /// initialising a network from it).
    fn wave(shape: &[i64], f: f64) -> Tensor {
        let n: i64 = shape.iter().product();
        (Tensor::arange(n, (Kind::Float, Device::Cpu)) * f)
            .sin()
            .view(shape)
    }

    #[test]
    fn aspp_head_shapes_names_and_upsampling() {
        let vs = nn::VarStore::new(Device::Cpu);
        let f = FeatureShape::Spatial {
            channels: 8,
            stride: 8,
            head: DenseHead::Aspp,
        };
        let h = dense_head(
            "depth",
            &vs.root() / "head" / "d",
            f,
            Some((24, 40)),
            None,
            1,
            false,
        )
        .unwrap();
        let z = wave(&[2, 8, 3, 5], 0.3);
        assert_eq!(h.forward(&z, false).size(), [2, 1, 24, 40]);
        assert_eq!(h.forward(&z, true).size(), [2, 1, 24, 40]);
        let vars = vs.variables();
        assert_eq!(vars["head.d.0.convs.2.0.weight"].size(), [256, 8, 3, 3]);
        assert_eq!(vars["head.d.0.convs.4.1.weight"].size(), [256, 8, 1, 1]);
        assert_eq!(vars["head.d.0.project.0.weight"].size(), [256, 1280, 1, 1]);
        assert_eq!(vars["head.d.1.weight"].size(), [256, 256, 3, 3]);
        assert_eq!(vars["head.d.4.weight"].size(), [1, 256, 1, 1]);
        assert!(!vars["head.d.0.project.1.running_var"].requires_grad());
        // Biases: the 7 batch norms' and the last conv's; the other convs have none.
        let n_bias = vars.keys().filter(|k| k.ends_with(".bias")).count();
        assert_eq!(n_bias, 7 + 1, "{:?}", vars.keys().collect::<Vec<_>>());
        // PyTorch's default init of the 3×3 atrous conv: U(±1/√(8·9)).
        let w = vars["head.d.0.convs.1.0.weight"]
            .abs()
            .max()
            .double_value(&[]);
        assert!(w <= 1.0 / 72f64.sqrt() && w > 0.5 / 72f64.sqrt(), "{w}");
        let e = dense_head("depth", vs.root() / "x", f, None, None, 1, false).unwrap_err();
        assert!(e.to_string().contains("needs the input size"), "{e}");
    }

    /// Dropout keeps about half the elements, scaled by 2; the mask is a function of the input
    /// and the key (same input and key, same mask; another of either, another mask).
    #[test]
    fn seeded_dropout_is_inverted_dropout_and_repeatable() {
        let x = wave(&[4, 16, 25, 25], 0.01).abs() + 0.5;
        let y = seeded_dropout(&x, 0.5, 7);
        let kept = y.ne(0.0);
        let frac = kept
            .to_kind(Kind::Double)
            .mean(Kind::Double)
            .double_value(&[]);
        // 40,000 Bernoulli(1/2) draws: σ = 0.0025.
        assert!((frac - 0.5).abs() < 0.01, "kept {frac}");
        let scaled = (&y - &x * 2.0).abs() * kept.to_kind(Kind::Float);
        assert_eq!(scaled.max().double_value(&[]), 0.0);
        assert!(seeded_dropout(&x, 0.5, 7).equal(&y));
        assert!(!seeded_dropout(&x, 0.5, 8).equal(&y));
        assert!(!seeded_dropout(&(&x + 1e-3), 0.5, 7).ne(0.0).equal(&kept));
        let frac = seeded_dropout(&x, 0.1, 7)
            .ne(0.0)
            .to_kind(Kind::Double)
            .mean(Kind::Double)
            .double_value(&[]);
        assert!((frac - 0.9).abs() < 0.01, "kept {frac}");
    }

    /// Heads under different paths have different dropout keys; a head repeats its
    /// training-mode output for the same input.
    #[test]
    fn aspp_dropout_is_keyed_by_path_and_repeats() {
        let vs = nn::VarStore::new(Device::Cpu);
        let a = AsppHead::new(&vs.root() / "a", 4, 2, (6, 6), false);
        let b = AsppHead::new(&vs.root() / "b", 4, 2, (6, 6), false);
        assert_ne!(a.dropout_key, b.dropout_key);
        let z = wave(&[2, 4, 3, 3], 0.7);
        assert!(a.forward(&z, true).equal(&a.forward(&z, true)));
        assert!(a.forward(&z, false).equal(&a.forward(&z, false)));
    }
}
