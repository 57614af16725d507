//! The two head shapes task kinds use: a linear layer on vector features, and a small
//! convolutional decoder on feature maps that upsamples to the input size.
//!
//! Both start from PyTorch's default initialisation ([`crate::layers::linear`],
//! [`crate::layers::conv2d`]), so a head starts where the reference PyTorch code starts. A linear
//! head's parameters sit directly under its path (`head.<task>.weight`, `.bias`), the names
//! [`crate::model::MultiTaskNet`] gives its heads, so checkpoints keep their names.

use tch::{nn, Tensor};

use super::{FeatureShape, Head, TaskError};

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
/// bilinear upsampling (align_corners = false, as `F.interpolate` in LibMTL's DeepLab heads)
/// to the input size `[N, out, H, W]`; optionally each pixel's output vector is scaled to unit
/// length (surface normals, as MTAN's SegNet normalises its normal output).
#[derive(Debug)]
pub struct DecoderHead {
    hidden: nn::Conv2D,
    out: nn::Conv2D,
    out_hw: (i64, i64),
    unit_norm: bool,
}

impl Head for DecoderHead {
    fn forward(&self, features: &Tensor, _train: bool) -> Tensor {
        let y = features
            .apply(&self.hidden)
            .relu()
            .apply(&self.out)
            .upsample_bilinear2d([self.out_hw.0, self.out_hw.1], false, None, None);
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

/// Builds a [`DecoderHead`] with `out` channels for task kind `kind`; `hidden` is C' (the
/// feature channels when `None`). Errors unless `features` are spatial and `input_hw` is given.
pub fn decoder_head(
    kind: &'static str,
    p: nn::Path,
    features: FeatureShape,
    input_hw: Option<(i64, i64)>,
    hidden: Option<i64>,
    out: i64,
    unit_norm: bool,
) -> Result<Box<dyn Head>, TaskError> {
    let FeatureShape::Spatial { channels, .. } = features else {
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
    let hidden_c = hidden.unwrap_or(channels);
    Ok(Box::new(DecoderHead {
        hidden: crate::layers::conv2d(&p / "hidden", channels, hidden_c, 3, 1),
        out: crate::layers::conv2d(&p / "out", hidden_c, out, 1, 0),
        out_hw,
        unit_norm,
    }))
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
        };
        let h = decoder_head("depth", vs.root(), f, Some((12, 16)), Some(6), 2, false).unwrap();
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
        };
        let h = decoder_head("normals", vs.root(), f, Some((6, 8)), None, 3, true).unwrap();
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
        };
        // A linear head pools a feature map: [2, 8, 3, 5] → mean over 3×5 → linear.
        let h = linear_head("binary", &vs.root() / "lin", sp, 1).unwrap();
        let f = Tensor::randn([2, 8, 3, 5], (Kind::Float, Device::Cpu));
        let pooled = f.mean_dim(&[2i64, 3][..], false, None::<Kind>);
        let (w, b) = (&vs.variables()["lin.weight"], &vs.variables()["lin.bias"]);
        let expect = pooled.matmul(&w.tr()) + b;
        assert!(h.forward(&f, false).allclose(&expect, 1e-6, 1e-6, false));
        let v = FeatureShape::Vector { dim: 8 };
        let e = decoder_head("depth", vs.root(), v, Some((4, 4)), None, 1, false).unwrap_err();
        assert_eq!(
            e.to_string(),
            "task kind `depth` needs spatial features [N, C, H', W'] from the encoder, \
             got vector features [N, 8]"
        );
        let e = decoder_head("depth", vs.root(), sp, None, None, 1, false).unwrap_err();
        assert!(e.to_string().contains("needs the input size (H, W)"), "{e}");
    }
}
