//! Binary classification of one attribute (a CelebA attribute): a linear head with one logit
//! `[N, 1]`, binary cross-entropy with logits against 0/1 targets, accuracy and F1.
//!
//! Targets are 0/1 values `[N]` or `[N, 1]` (f32; other kinds are cast to the logits' kind).
//! A logit > 0 (σ > 1/2) predicts the positive class; a target > 1/2 is positive.
//! F1 = 2·TP / (2·TP + FP + FN) over the whole split (the harmonic mean of precision and
//! recall); when the split has no positive and none is predicted (0/0) F1 is 0, scikit-learn's
//! `f1_score` default (`zero_division`), not NaN.

use serde::{Deserialize, Serialize};
use tch::{nn, Kind, Reduction, Tensor};

use super::{head, FeatureShape, Head, MetricAccumulator, MetricSpec, TaskError, TaskKind};
use super::{ratio, scalar_f64, Direction};

/// `{ kind = "binary" }` (no parameters).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BinarySpec {}

impl BinarySpec {
    /// Nothing to check; here for symmetry with the other kinds.
    pub fn validate(&self) -> Result<(), TaskError> {
        Ok(())
    }
}

/// The binary kind.
#[derive(Debug, Clone, Default)]
pub struct Binary;

/// Logits `[N, 1]` and targets `[N]`/`[N, 1]` as two `[N]` tensors of the logits' kind.
fn flat(out: &Tensor, target: &Tensor) -> (Tensor, Tensor) {
    let n = out.size()[0];
    assert_eq!(
        (out.numel(), target.numel()),
        (n as usize, n as usize),
        "binary: logits must be [N, 1] and targets [N] or [N, 1], got {:?} and {:?}",
        out.size(),
        target.size()
    );
    (out.reshape([n]), target.reshape([n]).to_kind(out.kind()))
}

/// F1 from counts, 0 when 2·TP + FP + FN = 0 (see the module docs).
pub fn f1(tp: i64, fp: i64, fn_: i64) -> f64 {
    let den = 2 * tp + fp + fn_;
    if den == 0 {
        0.0
    } else {
        2.0 * tp as f64 / den as f64
    }
}

impl TaskKind for Binary {
    fn name(&self) -> &'static str {
        "binary"
    }

    fn metrics(&self) -> Vec<MetricSpec> {
        vec![
            MetricSpec::new("loss", Direction::Lower),
            MetricSpec::new("accuracy", Direction::Higher),
            MetricSpec::new("f1", Direction::Higher),
        ]
    }

    fn build_head(
        &self,
        p: nn::Path,
        features: FeatureShape,
        _input_hw: Option<(i64, i64)>,
    ) -> anyhow::Result<Box<dyn Head>> {
        Ok(head::linear_head(self.name(), p, features, 1)?)
    }

    /// Mean over the batch of ℓ_i = softplus(x_i) − t_i·x_i (PyTorch's
    /// `binary_cross_entropy_with_logits`).
    fn loss(&self, out: &Tensor, target: &Tensor) -> Tensor {
        let (x, t) = flat(out, target);
        x.binary_cross_entropy_with_logits::<Tensor>(&t, None, None, Reduction::Mean)
    }

    fn per_example_loss(&self, out: &Tensor, target: &Tensor) -> Tensor {
        let (x, t) = flat(out, target);
        x.binary_cross_entropy_with_logits::<Tensor>(&t, None, None, Reduction::None)
    }

    fn accumulator(&self) -> Box<dyn MetricAccumulator> {
        Box::new(BinaryAccumulator::default())
    }
}

/// Summed loss and confusion counts over a split.
#[derive(Debug, Default)]
pub struct BinaryAccumulator {
    loss: f64,
    tp: i64,
    fp: i64,
    fn_: i64,
    tn: i64,
}

impl MetricAccumulator for BinaryAccumulator {
    fn add(&mut self, out: &Tensor, target: &Tensor) {
        tch::no_grad(|| {
            self.loss += scalar_f64(&Binary.per_example_loss(out, target).sum(Kind::Double));
            let (x, t) = flat(out, target);
            let (p, y) = (x.gt(0.0), t.gt(0.5));
            let count = |a: &Tensor, b: &Tensor| a.logical_and(b).sum(Kind::Int64).int64_value(&[]);
            let (np, ny) = (p.logical_not(), y.logical_not());
            self.tp += count(&p, &y);
            self.fp += count(&p, &ny);
            self.fn_ += count(&np, &y);
            self.tn += count(&np, &ny);
        });
    }

    fn finish(&self) -> Vec<f64> {
        let n = (self.tp + self.fp + self.fn_ + self.tn) as f64;
        if n == 0.0 {
            return vec![f64::NAN; 3];
        }
        vec![
            ratio(self.loss, n),
            ratio((self.tp + self.tn) as f64, n),
            f1(self.tp, self.fp, self.fn_),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    /// ℓ(x, t) = ln(1 + e^x) − t·x.
    fn bce(x: f64, t: f64) -> f64 {
        (1.0 + x.exp()).ln() - t * x
    }

    const X: [f32; 5] = [2.0, -1.0, 0.5, -3.0, 1.0];
    const T: [f32; 5] = [1.0, 1.0, 0.0, 0.0, 1.0];

    #[test]
    fn loss_and_metrics_by_hand() {
        let x = Tensor::from_slice(&X).view([5, 1]);
        let t = Tensor::from_slice(&T);
        let per: Vec<f64> = X
            .iter()
            .zip(T)
            .map(|(&x, t)| bce(x as f64, t as f64))
            .collect();
        let got = super::super::to_vec_f64(&Binary.per_example_loss(&x, &t));
        for (a, b) in got.iter().zip(&per) {
            assert!((a - b).abs() < 1e-6);
        }
        let mean = per.iter().sum::<f64>() / 5.0;
        assert!((scalar_f64(&Binary.loss(&x, &t)) - mean).abs() < 1e-6);
        // Targets [N, 1] give the same loss.
        let l2 = scalar_f64(&Binary.loss(&x, &t.view([5, 1])));
        assert_eq!(l2, scalar_f64(&Binary.loss(&x, &t)));
        // Predictions [1, 0, 1, 0, 1]: TP 2, FN 1, FP 1, TN 1.
        let mut acc = Binary.accumulator();
        acc.add(&x, &t);
        let v = acc.finish();
        assert!((v[0] - mean).abs() < 1e-6);
        assert_eq!(v[1], 3.0 / 5.0);
        assert_eq!(v[2], 2.0 / 3.0); // 2·2 / (2·2 + 1 + 1)
    }

    #[test]
    fn two_chunks_equal_one() {
        let x = Tensor::from_slice(&X).view([5, 1]);
        let t = Tensor::from_slice(&T);
        let mut one = Binary.accumulator();
        one.add(&x, &t);
        let mut two = Binary.accumulator();
        two.add(&x.narrow(0, 0, 2), &t.narrow(0, 0, 2));
        two.add(&x.narrow(0, 2, 3), &t.narrow(0, 2, 3));
        let (a, b) = (one.finish(), two.finish());
        assert!((a[0] - b[0]).abs() < 1e-12);
        assert_eq!(a[1..], b[1..]);
    }

    #[test]
    fn f1_zero_over_zero_is_zero() {
        assert_eq!(f1(0, 0, 0), 0.0);
        assert_eq!(f1(0, 0, 3), 0.0);
        assert_eq!(f1(3, 1, 2), 6.0 / 9.0);
        // No positives, none predicted: accuracy 1, F1 0.
        let mut acc = Binary.accumulator();
        acc.add(
            &Tensor::from_slice(&[-1f32, -2.0]).view([2, 1]),
            &Tensor::from_slice(&[0f32, 0.0]),
        );
        assert_eq!(acc.finish()[1..], [1.0, 0.0]);
    }

    #[test]
    fn head_has_one_logit() {
        let vs = nn::VarStore::new(Device::Cpu);
        let h = Binary
            .build_head(vs.root(), FeatureShape::Vector { dim: 3 }, None)
            .unwrap();
        let y = h.forward(&Tensor::zeros([4, 3], (Kind::Float, Device::Cpu)), false);
        assert_eq!(y.size(), vec![4, 1]);
    }
}
