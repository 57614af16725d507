//! Surface-normal estimation: a decoder head `[N, C', H/s, W/s] → [N, 3, H, W]` whose output is
//! unit-normalised per pixel, loss 1 − cos over valid pixels against unit normals
//! `[N, 3, H, W]` (f32), and angle statistics over the valid pixels of the whole split.
//!
//! Valid pixels: Σ_c n_c ≠ 0 (LibMTL's `binary_mask`; the all-zero vector marks missing normals,
//! specs/mtan_data.md §1). Predictions are normalised n̂ = ŷ / max(‖ŷ‖, 1e-12) again inside the
//! loss and metrics (as LibMTL does), which is a no-op on the head's output. Loss (MTAN
//! `model_fit`, LibMTL `NormalLoss`): 1 − Σ⟨n̂, n⟩·m / Σm, written Σ(1 − ⟨n̂, n⟩)·m / Σm so a
//! batch without valid pixels gives 0. Metrics (LibMTL `NormalMetric`, specs/mtan_data.md §4):
//! e = degrees(arccos(clamp(⟨n̂, n⟩, −1, 1))) per valid pixel of the split (in f64); mean(e),
//! median(e) — for an even count the mean of the two middle values, as `np.median` which LibMTL
//! calls — and the fractions of e strictly below 11.25°, 22.5° and 30° (in [0, 1], not %).
//! The angles are kept on the host until [`MetricAccumulator::finish`]: 8 bytes per valid pixel,
//! about 0.6 GB for NYUv2's 654 test images.

use serde::{Deserialize, Serialize};
use tch::{nn, Kind, Tensor};

use super::head::unit_normalise;
use super::segmentation::check_decoder;
use super::{dense, head, FeatureShape, Head, MetricAccumulator, MetricSpec, TaskError, TaskKind};
use super::{ratio, scalar_f64, to_vec_f64, Direction};

/// The thresholds of the `within_*` metrics, degrees.
pub const THRESHOLDS: [f64; 3] = [11.25, 22.5, 30.0];

/// `{ kind = "normals", decoder_channels = 64 }` (`decoder_channels` optional).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NormalsSpec {
    /// Channels C' of the decoder's hidden layer (default: the encoder's channels).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decoder_channels: Option<i64>,
}

impl NormalsSpec {
    /// Checks the parameters, naming the bad key.
    pub fn validate(&self) -> Result<(), TaskError> {
        check_decoder("normals", self.decoder_channels)
    }
}

/// The surface-normal kind.
#[derive(Debug, Clone)]
pub struct Normals {
    spec: NormalsSpec,
}

impl Normals {
    /// The kind for `spec`, validated.
    pub fn new(spec: NormalsSpec) -> Result<Self, TaskError> {
        spec.validate()?;
        Ok(Self { spec })
    }
}

/// ⟨n̂, n⟩ per pixel `[N, H, W]` and the valid mask, in `out`'s kind.
fn cosines(out: &Tensor, target: &Tensor) -> (Tensor, Tensor) {
    assert_eq!(
        out.size(),
        target.size(),
        "normals: outputs and targets must both be [N, 3, H, W]"
    );
    let t = target.to_kind(out.kind());
    let cos = (unit_normalise(out) * &t).sum_dim_intlist(1, false, None::<Kind>);
    (cos, dense::valid_mask(&t))
}

/// The median of `v` (reordered in place); the mean of the two middle values for an even
/// count, NaN when empty.
pub fn median(v: &mut [f64]) -> f64 {
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    let (_, &mut hi, _) = v.select_nth_unstable_by(n / 2, f64::total_cmp);
    if n % 2 == 1 {
        return hi;
    }
    // The lower middle is the largest value left of position n/2.
    let lo = v[..n / 2].iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (lo + hi) / 2.0
}

impl TaskKind for Normals {
    fn name(&self) -> &'static str {
        "normals"
    }

    fn metrics(&self) -> Vec<MetricSpec> {
        vec![
            MetricSpec::new("loss", Direction::Lower),
            MetricSpec::new("angle_mean", Direction::Lower),
            MetricSpec::new("angle_median", Direction::Lower),
            MetricSpec::new("within_11_25", Direction::Higher),
            MetricSpec::new("within_22_5", Direction::Higher),
            MetricSpec::new("within_30", Direction::Higher),
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
            3,
            true,
        )?)
    }

    /// Σ(1 − ⟨n̂, n⟩)·m / Σm over the batch; see [`super::dense`].
    fn loss(&self, out: &Tensor, target: &Tensor) -> Tensor {
        let (cos, m) = cosines(out, target);
        dense::batch_mean(&(1.0 - cos), &m)
    }

    fn per_example_loss(&self, out: &Tensor, target: &Tensor) -> Tensor {
        let (cos, m) = cosines(out, target);
        dense::image_means(&(1.0 - cos), &m)
    }

    fn spatial_target(&self) -> Option<super::SpatialTarget> {
        // Mirroring the image mirrors the surfaces: n_x changes sign (MTAN/LibMTL's flip).
        Some(super::SpatialTarget {
            fill: 0.0,
            flip_negates: Some(0),
            resize: super::Resize::Bilinear,
            divide_by_scale: false,
        })
    }

    fn accumulator(&self) -> Box<dyn MetricAccumulator> {
        Box::new(NormalsAccumulator::default())
    }
}

/// Σ(1 − cos) and every valid pixel's angle error (degrees) of a split.
#[derive(Debug, Default)]
pub struct NormalsAccumulator {
    loss: f64,
    angles: Vec<f64>,
}

impl MetricAccumulator for NormalsAccumulator {
    fn add(&mut self, out: &Tensor, target: &Tensor) {
        tch::no_grad(|| {
            let (cos, m) = cosines(&out.to_kind(Kind::Double), target);
            let cos = cos.masked_select(&m);
            self.loss += scalar_f64(&(cos.neg() + 1.0).sum(Kind::Double));
            self.angles.extend(
                to_vec_f64(&cos.clamp(-1.0, 1.0).acos())
                    .into_iter()
                    .map(f64::to_degrees),
            );
        });
    }

    fn finish(&self) -> Vec<f64> {
        let n = self.angles.len() as f64;
        let mut v = vec![
            ratio(self.loss, n),
            ratio(self.angles.iter().sum(), n),
            median(&mut self.angles.clone()),
        ];
        for t in THRESHOLDS {
            let below = self.angles.iter().filter(|&&e| e < t).count();
            v.push(ratio(below as f64, n));
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    fn kind() -> Normals {
        Normals::new(NormalsSpec::default()).unwrap()
    }

    /// Two 1×4 images, targets (0, 0, 1) except one missing (0, 0, 0) pixel per image;
    /// predictions (sin a, 0, cos a)·s at angles a = 0°, 10°, 20° | 25°, 45°, 90° from their
    /// target (scales s vary: the loss normalises), and an arbitrary prediction at the
    /// missing pixels.
    fn batch() -> (Tensor, Tensor) {
        let angles = [0.0, 10.0, 20.0, -1.0, 25.0, 45.0, -1.0, 90.0];
        let mut out = vec![0f64; 2 * 3 * 4];
        let mut tgt = vec![0f64; 2 * 3 * 4];
        for (p, &a) in angles.iter().enumerate() {
            let (img, px) = (p / 4, p % 4);
            let at = |c: usize| img * 12 + c * 4 + px;
            let s = 1.0 + p as f64;
            if a < 0.0 {
                out[at(0)] = 1.0; // invalid pixel: target stays 0
                continue;
            }
            let r = f64::to_radians(a);
            out[at(0)] = s * r.sin();
            out[at(2)] = s * r.cos();
            tgt[at(2)] = 1.0;
        }
        (
            Tensor::from_slice(&out).view([2, 3, 1, 4]),
            Tensor::from_slice(&tgt).view([2, 3, 1, 4]),
        )
    }

    fn one_minus_cos(deg: &[f64]) -> f64 {
        deg.iter().map(|a| 1.0 - a.to_radians().cos()).sum()
    }

    #[test]
    fn loss_and_metrics_by_hand() {
        let (x, y) = batch();
        let k = kind();
        let all = [0.0, 10.0, 20.0, 25.0, 45.0, 90.0];
        let expect = one_minus_cos(&all) / 6.0;
        assert!((scalar_f64(&k.loss(&x, &y)) - expect).abs() < 1e-12);
        let per = super::super::to_vec_f64(&k.per_example_loss(&x, &y));
        assert!((per[0] - one_minus_cos(&all[..3]) / 3.0).abs() < 1e-12);
        assert!((per[1] - one_minus_cos(&all[3..]) / 3.0).abs() < 1e-12);
        // Equal valid counts (3 and 3): the loss is the mean of the per-example losses.
        assert!((expect - (per[0] + per[1]) / 2.0).abs() < 1e-12);
        let mut acc = k.accumulator();
        acc.add(&x.to_kind(Kind::Float), &y.to_kind(Kind::Float));
        let v = acc.finish();
        assert!((v[0] - expect).abs() < 1e-6);
        assert!((v[1] - 190.0 / 6.0).abs() < 1e-4);
        assert!((v[2] - 22.5).abs() < 1e-4); // (20 + 25) / 2
        assert_eq!(v[3..], [2.0 / 6.0, 3.0 / 6.0, 4.0 / 6.0]);
    }

    #[test]
    fn median_conventions() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&mut [5.0]), 5.0);
        assert!(median(&mut []).is_nan());
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
            assert!((a - b).abs() < 1e-12);
        }
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let (x, y) = batch();
        // A generic point: perturb every component so no pixel sits at a symmetric spot.
        let x = (x + Tensor::from_slice(&[0.3f64, -0.2, 0.1, 0.05])
            .repeat([6])
            .view([2, 3, 1, 4]))
        .set_requires_grad(true);
        let k = kind();
        k.loss(&x, &y).backward();
        let g = super::super::to_vec_f64(&x.grad());
        let base = super::super::to_vec_f64(&x.detach());
        let h = 1e-6;
        for i in 0..base.len() {
            let at = |d: f64| {
                let mut v = base.clone();
                v[i] += d;
                scalar_f64(&k.loss(&Tensor::from_slice(&v).view([2, 3, 1, 4]), &y))
            };
            let fd = (at(h) - at(-h)) / (2.0 * h);
            assert!(
                (fd - g[i]).abs() < 1e-8,
                "component {i}: fd {fd}, autograd {}",
                g[i]
            );
        }
    }

    #[test]
    fn head_outputs_unit_normals_at_input_size() {
        let vs = nn::VarStore::new(Device::Cpu);
        let f = FeatureShape::Spatial {
            channels: 3,
            stride: 2,
            head: crate::task::DenseHead::Decoder,
        };
        let h = kind().build_head(vs.root(), f, Some((4, 6))).unwrap();
        let y = h.forward(
            &Tensor::randn([2, 3, 2, 3], (Kind::Float, Device::Cpu)),
            false,
        );
        assert_eq!(y.size(), vec![2, 3, 4, 6]);
        let norms = y.square().sum_dim_intlist(1, false, None::<Kind>).sqrt();
        assert!((norms - 1.0).abs().max().double_value(&[]) < 1e-5);
    }
}
