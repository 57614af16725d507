//! Semantic segmentation: a decoder head `[N, C', H/s, W/s] → [N, classes, H, W]` (logits),
//! per-pixel cross-entropy against i64 labels `[N, H, W]` that skips an ignore label, and mIoU
//! and pixel accuracy from one confusion matrix over the whole split.
//!
//! Metrics follow LibMTL's `SegMetric` (`examples/nyu/utils.py`; specs/mtan_data.md §4):
//! h[gt, pred] counts the pixels with 0 ≤ gt < classes over the split;
//! IoU_c = h_cc / (Σ_j h_cj + Σ_i h_ic − h_cc); pixel accuracy = Σ_c h_cc / Σ h. Departure: a
//! class absent from both targets and predictions of the whole split has IoU 0/0 and is left
//! out of the mean (LibMTL's `torch.mean` would return NaN; MTAN's per-image `compute_miou`
//! likewise averages only classes with a non-empty union). mIoU is NaN when no class is left.
//! The loss (`nn.CrossEntropyLoss(ignore_index = -1)` in LibMTL) and its dense reductions are
//! in [`super::dense`].

use serde::{Deserialize, Serialize};
use tch::{nn, Kind, Reduction, Tensor};

use super::{dense, head, FeatureShape, Head, MetricAccumulator, MetricSpec, TaskError, TaskKind};
use super::{ratio, scalar_f64, Direction};

fn default_ignore() -> i64 {
    -1
}

/// `{ kind = "segmentation", classes = 13, ignore_index = -1, decoder_channels = 64 }`
/// (`ignore_index` defaults to −1, MTAN's label for unlabelled pixels; `decoder_channels` to
/// the encoder's channels).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentationSpec {
    /// Number of classes (≥ 2); labels are 0..classes.
    pub classes: i64,
    /// Label of pixels without a class (outside 0..classes, e.g. −1 or 255).
    #[serde(default = "default_ignore")]
    pub ignore_index: i64,
    /// Channels C' of the decoder's hidden layer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decoder_channels: Option<i64>,
}

/// Checks an optional `decoder_channels` (≥ 1) of dense kind `kind`.
pub(crate) fn check_decoder(kind: &'static str, c: Option<i64>) -> Result<(), TaskError> {
    match c {
        Some(c) if c < 1 => Err(TaskError::Param {
            kind,
            key: "decoder_channels",
            message: format!("must be >= 1, got {c}"),
        }),
        _ => Ok(()),
    }
}

impl SegmentationSpec {
    /// Checks the parameters, naming the bad key.
    pub fn validate(&self) -> Result<(), TaskError> {
        let err = |key, message: String| TaskError::Param {
            kind: "segmentation",
            key,
            message,
        };
        if self.classes < 2 {
            return Err(err(
                "classes",
                format!("must be >= 2, got {}", self.classes),
            ));
        }
        if (0..self.classes).contains(&self.ignore_index) {
            return Err(err(
                "ignore_index",
                format!(
                    "must lie outside the labels 0..{}, got {}",
                    self.classes, self.ignore_index
                ),
            ));
        }
        check_decoder("segmentation", self.decoder_channels)
    }
}

/// The segmentation kind.
#[derive(Debug, Clone)]
pub struct Segmentation {
    spec: SegmentationSpec,
}

impl Segmentation {
    /// The kind for `spec`, validated.
    pub fn new(spec: SegmentationSpec) -> Result<Self, TaskError> {
        spec.validate()?;
        Ok(Self { spec })
    }

    /// Per-pixel cross-entropy `[N, H, W]` (0 at ignored pixels) and the mask of labelled ones.
    fn per_pixel(&self, out: &Tensor, target: &Tensor) -> (Tensor, Tensor) {
        let ce = out.cross_entropy_loss::<Tensor>(
            target,
            None,
            Reduction::None,
            self.spec.ignore_index,
            0.0,
        );
        (ce, target.ne(self.spec.ignore_index))
    }
}

impl TaskKind for Segmentation {
    fn name(&self) -> &'static str {
        "segmentation"
    }

    fn metrics(&self) -> Vec<MetricSpec> {
        vec![
            MetricSpec::new("loss", Direction::Lower),
            MetricSpec::new("miou", Direction::Higher),
            MetricSpec::new("pixel_accuracy", Direction::Higher),
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
            self.spec.classes,
            false,
        )?)
    }

    /// Mean cross-entropy over the batch's labelled pixels (= `nn.CrossEntropyLoss(ignore_index)`
    /// when any pixel is labelled, 0 otherwise); see [`super::dense`] for how it relates to the
    /// per-example losses.
    fn loss(&self, out: &Tensor, target: &Tensor) -> Tensor {
        let (ce, m) = self.per_pixel(out, target);
        dense::batch_mean(&ce, &m)
    }

    fn per_example_loss(&self, out: &Tensor, target: &Tensor) -> Tensor {
        let (ce, m) = self.per_pixel(out, target);
        dense::image_means(&ce, &m)
    }

    fn spatial_target(&self) -> Option<super::SpatialTarget> {
        Some(super::SpatialTarget {
            fill: self.spec.ignore_index as f64,
            flip_negates: None,
            resize: super::Resize::Nearest,
            divide_by_scale: false,
        })
    }

    fn accumulator(&self) -> Box<dyn MetricAccumulator> {
        let c = self.spec.classes as usize;
        Box::new(SegmentationAccumulator {
            kind: self.clone(),
            loss: 0.0,
            pixels: 0,
            confusion: vec![0; c * c],
        })
    }
}

/// Summed per-pixel loss, labelled-pixel count and the confusion matrix of a split.
#[derive(Debug)]
pub struct SegmentationAccumulator {
    kind: Segmentation,
    loss: f64,
    pixels: i64,
    /// Row-major `[gt, pred]`, classes × classes.
    confusion: Vec<i64>,
}

impl MetricAccumulator for SegmentationAccumulator {
    fn add(&mut self, out: &Tensor, target: &Tensor) {
        let c = self.kind.spec.classes;
        tch::no_grad(|| {
            let (ce, m) = self.kind.per_pixel(out, target);
            self.loss += scalar_f64(&ce.sum(Kind::Double));
            self.pixels += m.sum(Kind::Int64).int64_value(&[]);
            let keep = target.ge(0).logical_and(&target.lt(c));
            let gt = target.masked_select(&keep);
            let pred = out.argmax(1, false).masked_select(&keep);
            let counts = (gt * c + pred).bincount::<Tensor>(None, c * c);
            let counts = Vec::<i64>::try_from(&counts.to_device(tch::Device::Cpu))
                .expect("bincount gives a CPU-convertible i64 vector");
            for (h, k) in self.confusion.iter_mut().zip(counts) {
                *h += k;
            }
        });
    }

    fn finish(&self) -> Vec<f64> {
        let c = self.kind.spec.classes as usize;
        let h = |i: usize, j: usize| self.confusion[i * c + j] as f64;
        let (mut iou_sum, mut present, mut diag, mut total) = (0.0, 0usize, 0.0, 0.0);
        for k in 0..c {
            let row: f64 = (0..c).map(|j| h(k, j)).sum();
            let col: f64 = (0..c).map(|i| h(i, k)).sum();
            let union = row + col - h(k, k);
            if union > 0.0 {
                iou_sum += h(k, k) / union;
                present += 1;
            }
            diag += h(k, k);
            total += row;
        }
        vec![
            ratio(self.loss, self.pixels as f64),
            ratio(iou_sum, present as f64),
            ratio(diag, total),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    fn kind(ignore_index: i64) -> Segmentation {
        Segmentation::new(SegmentationSpec {
            classes: 3,
            ignore_index,
            decoder_channels: None,
        })
        .unwrap()
    }

    /// Two 1×3 images. Logits are ln 2 at the predicted class and 0 elsewhere, so a pixel's CE
    /// is ln 2 when right and ln 4 when wrong. Targets [0, 1, ign] and [1, 1, 0]; predictions
    /// [0, 0, 2] and [1, 1, 1]. Class 2 is predicted only at the ignored pixel.
    fn batch(ign: i64) -> (Tensor, Tensor) {
        let pred = Tensor::from_slice(&[0i64, 0, 2, 1, 1, 1]).view([2, 1, 3]);
        let logits = pred.one_hot(3).permute([0, 3, 1, 2]).to_kind(Kind::Float) * 2f64.ln();
        let y = Tensor::from_slice(&[0i64, 1, ign, 1, 1, 0]).view([2, 1, 3]);
        (logits, y)
    }

    #[test]
    fn loss_and_metrics_by_hand() {
        let ln2 = 2f64.ln();
        for ign in [-1, 255] {
            let k = kind(ign);
            let (x, y) = batch(ign);
            // Labelled pixels: 3 right (ln 2) and 2 wrong (2 ln 2) → 7 ln 2 over 5 pixels.
            assert!((scalar_f64(&k.loss(&x, &y)) - 7.0 / 5.0 * ln2).abs() < 1e-6);
            // Per image: (ln 2 + 2 ln 2)/2 and (ln 2 + ln 2 + 2 ln 2)/3. Their mean (17/12 ln 2)
            // is not the batch loss (7/5 ln 2): the images have 2 and 3 labelled pixels.
            let per = super::super::to_vec_f64(&k.per_example_loss(&x, &y));
            assert!((per[0] - 1.5 * ln2).abs() < 1e-6);
            assert!((per[1] - 4.0 / 3.0 * ln2).abs() < 1e-6);
            let mut acc = k.accumulator();
            acc.add(&x, &y);
            let v = acc.finish();
            assert!((v[0] - 7.0 / 5.0 * ln2).abs() < 1e-6);
            // h = [[1, 1, 0], [1, 2, 0], [0, 0, 0]]: IoU_0 = 1/3, IoU_1 = 2/4, class 2 left out.
            assert!((v[1] - (1.0 / 3.0 + 0.5) / 2.0).abs() < 1e-15);
            assert_eq!(v[2], 3.0 / 5.0);
        }
    }

    #[test]
    fn loss_is_mean_of_per_example_with_equal_labelled_counts() {
        let k = kind(-1);
        let x = Tensor::randn([3, 3, 2, 2], (Kind::Float, Device::Cpu));
        let y = Tensor::from_slice(&[0i64, 1, 2, -1, 2, -1, 1, 1, -1, 0, 0, 0]).view([3, 2, 2]);
        let mean = scalar_f64(&k.per_example_loss(&x, &y).mean(Kind::Float));
        assert!((scalar_f64(&k.loss(&x, &y)) - mean).abs() < 1e-6);
        // And the batch loss is libtorch's own ignore_index mean.
        let torch = x.cross_entropy_loss::<Tensor>(&y, None, Reduction::Mean, -1, 0.0);
        assert!((scalar_f64(&k.loss(&x, &y)) - scalar_f64(&torch)).abs() < 1e-6);
    }

    #[test]
    fn two_chunks_equal_one() {
        let k = kind(-1);
        let (x, y) = batch(-1);
        let mut one = k.accumulator();
        one.add(&x, &y);
        let mut two = k.accumulator();
        two.add(&x.narrow(0, 0, 1), &y.narrow(0, 0, 1));
        two.add(&x.narrow(0, 1, 1), &y.narrow(0, 1, 1));
        let (a, b) = (one.finish(), two.finish());
        assert!((a[0] - b[0]).abs() < 1e-12);
        assert_eq!(a[1..], b[1..]);
    }

    #[test]
    fn gradient_matches_formula() {
        // ∂L/∂z_{c,p} = (softmax(z_p)_c − [y_p = c])·m_p / Σm.
        let k = kind(-1);
        let (x, y) = batch(-1);
        let x = x.to_kind(Kind::Double).set_requires_grad(true);
        k.loss(&x, &y).backward();
        let p = x.detach().softmax(1, Kind::Double);
        let m = y.ne(-1);
        let onehot = y
            .clamp_min(0)
            .one_hot(3)
            .permute([0, 3, 1, 2])
            .to_kind(Kind::Double);
        let expect = (p - onehot) * m.unsqueeze(1).to_kind(Kind::Double) / 5.0;
        let dev = (x.grad() - expect).abs().max().double_value(&[]);
        assert!(dev < 1e-12, "max deviation {dev}");
    }

    #[test]
    fn all_ignored() {
        let k = kind(-1);
        let x = Tensor::randn([1, 3, 1, 2], (Kind::Float, Device::Cpu));
        let y = Tensor::from_slice(&[-1i64, -1]).view([1, 1, 2]);
        assert_eq!(scalar_f64(&k.loss(&x, &y)), 0.0);
        let mut acc = k.accumulator();
        acc.add(&x, &y);
        assert!(acc.finish().iter().all(|v| v.is_nan()));
    }

    #[test]
    fn head_shape_and_validation() {
        let vs = nn::VarStore::new(Device::Cpu);
        let f = FeatureShape::Spatial {
            channels: 4,
            stride: 2,
            head: crate::task::DenseHead::Decoder,
        };
        let h = kind(-1).build_head(vs.root(), f, Some((6, 8))).unwrap();
        let y = h.forward(
            &Tensor::randn([2, 4, 3, 4], (Kind::Float, Device::Cpu)),
            false,
        );
        assert_eq!(y.size(), vec![2, 3, 6, 8]);
        let e = kind(-1)
            .build_head(vs.root(), FeatureShape::Vector { dim: 4 }, Some((6, 8)))
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("`segmentation` needs spatial features"),
            "{e}"
        );
        let bad = SegmentationSpec {
            classes: 3,
            ignore_index: 2,
            decoder_channels: None,
        };
        assert_eq!(
            bad.validate().unwrap_err().to_string(),
            "task kind `segmentation`: `ignore_index` must lie outside the labels 0..3, got 2"
        );
    }
}
