//! Depth estimation: a decoder head `[N, C', H/s, W/s] → [N, 1, H, W]`, L1 loss over valid
//! pixels against f32 depth `[N, 1, H, W]`, and absolute and relative error over the valid
//! pixels of the whole split.
//!
//! Valid pixels have target ≠ 0 (MTAN and LibMTL's `binary_mask`, Σ_c gt ≠ 0 with one channel;
//! specs/mtan_data.md §1, §3). Loss (MTAN `model_fit`, LibMTL `DepthLoss`): Σ|ŷ − y|·m / Σm.
//! Metrics (LibMTL `DepthMetric`, which weights its batch means by their valid-pixel counts and
//! so equals the global mean; specs/mtan_data.md §4): AbsErr = mean |ŷ − y| and
//! RelErr = mean |ŷ − y| / y over the valid pixels of the split, summed in f64. The evaluated
//! `loss` is then AbsErr itself.

use serde::{Deserialize, Serialize};
use tch::{nn, Kind, Tensor};

use super::segmentation::check_decoder;
use super::{dense, head, FeatureShape, Head, MetricAccumulator, MetricSpec, TaskError, TaskKind};
use super::{ratio, scalar_f64, Direction};

/// `{ kind = "depth", decoder_channels = 64 }` (`decoder_channels` optional).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DepthSpec {
    /// Channels C' of the decoder's hidden layer (default: the encoder's channels).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decoder_channels: Option<i64>,
}

impl DepthSpec {
    /// Checks the parameters, naming the bad key.
    pub fn validate(&self) -> Result<(), TaskError> {
        check_decoder("depth", self.decoder_channels)
    }
}

/// The depth kind.
#[derive(Debug, Clone)]
pub struct Depth {
    spec: DepthSpec,
}

impl Depth {
    /// The kind for `spec`, validated.
    pub fn new(spec: DepthSpec) -> Result<Self, TaskError> {
        spec.validate()?;
        Ok(Self { spec })
    }
}

/// |ŷ − y| per pixel `[N, H, W]` and the valid mask.
fn per_pixel(out: &Tensor, target: &Tensor) -> (Tensor, Tensor) {
    assert_eq!(
        out.size(),
        target.size(),
        "depth: outputs and targets must both be [N, 1, H, W]"
    );
    let t = target.to_kind(out.kind());
    let err = (out - &t).abs().sum_dim_intlist(1, false, None::<Kind>);
    (err, dense::valid_mask(&t))
}

impl TaskKind for Depth {
    fn name(&self) -> &'static str {
        "depth"
    }

    fn metrics(&self) -> Vec<MetricSpec> {
        vec![
            MetricSpec::new("loss", Direction::Lower),
            MetricSpec::new("abs_err", Direction::Lower),
            MetricSpec::new("rel_err", Direction::Lower),
        ]
    }

    fn build_head(
        &self,
        p: nn::Path,
        features: FeatureShape,
        input_hw: Option<(i64, i64)>,
    ) -> anyhow::Result<Box<dyn Head>> {
        Ok(head::dense_head(
            self.name(),
            p,
            features,
            input_hw,
            self.spec.decoder_channels,
            1,
            false,
        )?)
    }

    /// Σ|ŷ − y|·m / Σm over the batch (0 without valid pixels); see [`super::dense`].
    fn loss(&self, out: &Tensor, target: &Tensor) -> Tensor {
        let (e, m) = per_pixel(out, target);
        dense::batch_mean(&e, &m)
    }

    fn per_example_loss(&self, out: &Tensor, target: &Tensor) -> Tensor {
        let (e, m) = per_pixel(out, target);
        dense::image_means(&e, &m)
    }

    fn spatial_target(&self) -> Option<super::SpatialTarget> {
        Some(super::SpatialTarget {
            fill: 0.0,
            flip_negates: None,
            resize: super::Resize::Nearest,
            divide_by_scale: true,
        })
    }

    fn accumulator(&self) -> Box<dyn MetricAccumulator> {
        Box::new(DepthAccumulator::default())
    }
}

/// Σ|ŷ − y|, Σ|ŷ − y|/y and the valid-pixel count of a split.
#[derive(Debug, Default)]
pub struct DepthAccumulator {
    abs: f64,
    rel: f64,
    pixels: i64,
}

impl MetricAccumulator for DepthAccumulator {
    fn add(&mut self, out: &Tensor, target: &Tensor) {
        tch::no_grad(|| {
            let (o, t) = (out.to_kind(Kind::Double), target.to_kind(Kind::Double));
            let m = dense::valid_mask(&t).unsqueeze(1);
            let (o, t) = (o.masked_select(&m), t.masked_select(&m));
            let e = (o - &t).abs();
            self.abs += scalar_f64(&e.sum(Kind::Double));
            self.rel += scalar_f64(&(e / t).sum(Kind::Double));
            self.pixels += m.sum(Kind::Int64).int64_value(&[]);
        });
    }

    fn finish(&self) -> Vec<f64> {
        let n = self.pixels as f64;
        let abs = ratio(self.abs, n);
        vec![abs, abs, ratio(self.rel, n)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    /// Two 1×2 images: targets [2, 0], [4, 1]; predictions [1, 5], [5, 1.5]. Valid pixels
    /// (ŷ, y): (1, 2), (5, 4), (1.5, 1).
    fn batch() -> (Tensor, Tensor) {
        let out = Tensor::from_slice(&[1f32, 5.0, 5.0, 1.5]).view([2, 1, 1, 2]);
        let y = Tensor::from_slice(&[2f32, 0.0, 4.0, 1.0]).view([2, 1, 1, 2]);
        (out, y)
    }

    fn kind() -> Depth {
        Depth::new(DepthSpec::default()).unwrap()
    }

    #[test]
    fn loss_and_metrics_by_hand() {
        let (x, y) = batch();
        let k = kind();
        // |e| = 1, 1, 0.5 → 2.5/3; the invalid pixel's error of 5 is not counted.
        assert!((scalar_f64(&k.loss(&x, &y)) - 2.5 / 3.0).abs() < 1e-7);
        // Per image 1 and 0.75; their mean 0.875 ≠ 2.5/3 (1 vs 2 valid pixels).
        let per = super::super::to_vec_f64(&k.per_example_loss(&x, &y));
        assert_eq!(per, vec![1.0, 0.75]);
        let mut acc = k.accumulator();
        acc.add(&x, &y);
        let v = acc.finish();
        assert!((v[0] - 2.5 / 3.0).abs() < 1e-15);
        assert!((v[1] - 2.5 / 3.0).abs() < 1e-15);
        // |e|/y = 1/2, 1/4, 1/2.
        assert!((v[2] - 1.25 / 3.0).abs() < 1e-15);
    }

    #[test]
    fn two_chunks_equal_one() {
        let (x, y) = batch();
        let mut one = kind().accumulator();
        one.add(&x, &y);
        let mut two = kind().accumulator();
        two.add(&x.narrow(0, 0, 1), &y.narrow(0, 0, 1));
        two.add(&x.narrow(0, 1, 1), &y.narrow(0, 1, 1));
        for (a, b) in one.finish().iter().zip(two.finish()) {
            assert!((a - b).abs() < 1e-15);
        }
    }

    #[test]
    fn gradient_matches_formula() {
        // ∂L/∂ŷ = sign(ŷ − y)·m / Σm.
        let (x, y) = batch();
        let x = x.to_kind(Kind::Double).set_requires_grad(true);
        kind().loss(&x, &y).backward();
        let g = super::super::to_vec_f64(&x.grad());
        assert_eq!(g, vec![-1.0 / 3.0, 0.0, 1.0 / 3.0, 1.0 / 3.0]);
    }

    #[test]
    fn head_is_one_channel_at_input_size() {
        let vs = nn::VarStore::new(Device::Cpu);
        let f = FeatureShape::Spatial {
            channels: 2,
            stride: 8,
            head: crate::task::DenseHead::Decoder,
        };
        let h = kind().build_head(vs.root(), f, Some((16, 24))).unwrap();
        let y = h.forward(
            &Tensor::randn([3, 2, 2, 3], (Kind::Float, Device::Cpu)),
            false,
        );
        assert_eq!(y.size(), vec![3, 1, 16, 24]);
        let e = kind()
            .build_head(vs.root(), f, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("`depth` predicts per pixel"), "{e}");
    }
}
