//! Multi-class classification: a linear head `[N, D] → [N, classes]` (logits), cross-entropy
//! against i64 labels `[N]`, accuracy and optional top-k accuracies.
//!
//! The accumulator's loss reproduces `train::eval::evaluate_split` bit for bit (chunk means of
//! the f32 cross-entropy, weighted by chunk length, summed in f64), so FashionMTL runs keep
//! their numbers when evaluation goes through task kinds.

use serde::{Deserialize, Serialize};
use tch::{nn, Kind, Reduction, Tensor};

use super::{head, FeatureShape, Head, MetricAccumulator, MetricSpec, TaskError, TaskKind};
use super::{ratio, scalar_f64, Direction};

/// Mean cross-entropy of `logits` `[N, C]` against class labels `y` `[N]` (the task loss L_k
/// of Mueller et al. 2025, §2.1).
pub fn cross_entropy(logits: &Tensor, y: &Tensor) -> Tensor {
    logits.cross_entropy_for_logits(y)
}

/// The metrics a multi-class task reports: its training loss (mean cross-entropy) and accuracy.
pub fn metrics() -> Vec<MetricSpec> {
    vec![
        MetricSpec::new("loss", Direction::Lower),
        MetricSpec::new("accuracy", Direction::Higher),
    ]
}

/// `names` as multi-class tasks of `classes` classes each, as [`crate::model::MultiTaskNet`]
/// takes them (tests, benchmarks).
pub fn heads(names: &[&str], classes: i64) -> Vec<(String, std::sync::Arc<dyn TaskKind>)> {
    names
        .iter()
        .map(|n| {
            let kind = Multiclass::new(MulticlassSpec {
                classes,
                top_k: vec![],
            })
            .expect("classes >= 2");
            (
                n.to_string(),
                std::sync::Arc::new(kind) as std::sync::Arc<dyn TaskKind>,
            )
        })
        .collect()
}

/// `{ kind = "multiclass", classes = 10, top_k = [5] }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MulticlassSpec {
    /// Number of classes (≥ 2).
    pub classes: i64,
    /// Extra top-k accuracies to report (`top5_accuracy`), each k in 2..=classes, no repeats.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub top_k: Vec<i64>,
}

impl MulticlassSpec {
    /// Checks the parameters, naming the bad key.
    pub fn validate(&self) -> Result<(), TaskError> {
        let err = |key, message: String| TaskError::Param {
            kind: "multiclass",
            key,
            message,
        };
        if self.classes < 2 {
            return Err(err(
                "classes",
                format!("must be >= 2, got {}", self.classes),
            ));
        }
        for (i, &k) in self.top_k.iter().enumerate() {
            if !(2..=self.classes).contains(&k) {
                return Err(err(
                    "top_k",
                    format!(
                        "entries must be in 2..={} (accuracy is top-1), got {k}",
                        self.classes
                    ),
                ));
            }
            if self.top_k[..i].contains(&k) {
                return Err(err("top_k", format!("lists {k} twice")));
            }
        }
        Ok(())
    }
}

/// The multi-class kind (built from a validated [`MulticlassSpec`]).
#[derive(Debug, Clone)]
pub struct Multiclass {
    spec: MulticlassSpec,
}

impl Multiclass {
    /// The kind for `spec`, validated.
    pub fn new(spec: MulticlassSpec) -> Result<Self, TaskError> {
        spec.validate()?;
        Ok(Self { spec })
    }
}

impl TaskKind for Multiclass {
    fn name(&self) -> &'static str {
        "multiclass"
    }

    fn metrics(&self) -> Vec<MetricSpec> {
        let mut m = metrics();
        for k in &self.spec.top_k {
            m.push(MetricSpec::new(
                &format!("top{k}_accuracy"),
                Direction::Higher,
            ));
        }
        m
    }

    fn build_head(
        &self,
        p: nn::Path,
        features: FeatureShape,
        _input_hw: Option<(i64, i64)>,
    ) -> anyhow::Result<Box<dyn Head>> {
        Ok(head::linear_head(
            self.name(),
            p,
            features,
            self.spec.classes,
        )?)
    }

    fn loss(&self, out: &Tensor, target: &Tensor) -> Tensor {
        cross_entropy(out, target)
    }

    /// −log softmax(logits_i)[y_i], `[N]`; their mean is [`cross_entropy`].
    fn per_example_loss(&self, out: &Tensor, target: &Tensor) -> Tensor {
        out.log_softmax(-1, Kind::Float)
            .g_nll_loss::<Tensor>(target, None, Reduction::None, -100)
    }

    fn accumulator(&self) -> Box<dyn MetricAccumulator> {
        Box::new(MulticlassAccumulator {
            top_k: self.spec.top_k.clone(),
            loss: 0.0,
            correct: 0,
            top_correct: vec![0; self.spec.top_k.len()],
            n: 0,
        })
    }
}

/// Loss, accuracy and top-k counts over a split.
#[derive(Debug)]
pub struct MulticlassAccumulator {
    top_k: Vec<i64>,
    /// Σ over chunks of (chunk mean cross-entropy) × (chunk length).
    loss: f64,
    correct: i64,
    top_correct: Vec<i64>,
    n: i64,
}

impl MetricAccumulator for MulticlassAccumulator {
    fn add(&mut self, out: &Tensor, target: &Tensor) {
        let len = out.size()[0];
        if len == 0 {
            return;
        }
        tch::no_grad(|| {
            self.loss += scalar_f64(&cross_entropy(out, target)) * len as f64;
            self.correct += out
                .argmax(-1, false)
                .eq_tensor(target)
                .sum(Kind::Int64)
                .int64_value(&[]);
            for (c, &k) in self.top_correct.iter_mut().zip(&self.top_k) {
                // Ties at the k-th logit are broken by libtorch's topk.
                let (_, idx) = out.topk(k, -1, true, false);
                *c += idx
                    .eq_tensor(&target.unsqueeze(-1))
                    .any_dim(-1, false)
                    .sum(Kind::Int64)
                    .int64_value(&[]);
            }
        });
        self.n += len;
    }

    fn finish(&self) -> Vec<f64> {
        let n = self.n as f64;
        let mut v = vec![ratio(self.loss, n), ratio(self.correct as f64, n)];
        v.extend(self.top_correct.iter().map(|&c| ratio(c as f64, n)));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    fn kind(top_k: Vec<i64>) -> Multiclass {
        Multiclass::new(MulticlassSpec { classes: 3, top_k }).unwrap()
    }

    /// Softmax rows [1/2, 1/4, 1/4] (y 0: CE ln 2, correct), [1/6, 2/6, 3/6] (y 1: CE ln 3,
    /// wrong, in top 2), [3/6, 2/6, 1/6] (y 2: CE ln 6, wrong, not in top 2).
    fn batch() -> (Tensor, Tensor) {
        let (l2, l3) = (2f32.ln(), 3f32.ln());
        let logits = Tensor::from_slice(&[l2, 0.0, 0.0, 0.0, l2, l3, l3, l2, 0.0]).view([3, 3]);
        (logits, Tensor::from_slice(&[0i64, 1, 2]))
    }

    #[test]
    fn loss_and_metrics_by_hand() {
        let k = kind(vec![2]);
        let (x, y) = batch();
        let expect = (2f64.ln() + 3f64.ln() + 6f64.ln()) / 3.0;
        assert!((scalar_f64(&k.loss(&x, &y)) - expect).abs() < 1e-6);
        let per = super::super::to_vec_f64(&k.per_example_loss(&x, &y));
        for (a, b) in per.iter().zip([2f64.ln(), 3f64.ln(), 6f64.ln()]) {
            assert!((a - b).abs() < 1e-6);
        }
        let mean = scalar_f64(&k.per_example_loss(&x, &y).mean(Kind::Float));
        assert!((mean - scalar_f64(&k.loss(&x, &y))).abs() < 1e-6);
        let mut acc = k.accumulator();
        acc.add(&x, &y);
        let v = acc.finish();
        assert!((v[0] - expect).abs() < 1e-6);
        assert_eq!(v[1..], [1.0 / 3.0, 2.0 / 3.0]);
        let names: Vec<String> = k.metrics().into_iter().map(|m| m.name).collect();
        assert_eq!(names, ["loss", "accuracy", "top2_accuracy"]);
    }

    #[test]
    fn accumulator_reproduces_evaluate_split() {
        // evaluate_split's formula, chunks of 2: Σ CE_chunk(f32 → f64) · len / n.
        let k = kind(vec![]);
        let (x, y) = batch();
        let mut acc = k.accumulator();
        let mut expect = 0.0f64;
        for (s, len) in [(0, 2), (2, 1)] {
            let (xc, yc) = (x.narrow(0, s, len), y.narrow(0, s, len));
            acc.add(&xc, &yc);
            expect += cross_entropy(&xc, &yc)
                .to_kind(Kind::Double)
                .double_value(&[])
                * len as f64;
        }
        let v = acc.finish();
        assert_eq!(v[0], expect / 3.0);
        assert_eq!(v[1], 1.0 / 3.0);
        // One chunk: the same up to f32 rounding of the chunk means.
        let mut one = k.accumulator();
        one.add(&x, &y);
        assert!((one.finish()[0] - v[0]).abs() < 1e-6);
        assert_eq!(one.finish()[1], v[1]);
    }

    #[test]
    fn empty_split_is_nan() {
        let v = kind(vec![2]).accumulator().finish();
        assert_eq!(v.len(), 3);
        assert!(v.iter().all(|x| x.is_nan()));
    }

    #[test]
    fn head_on_vectors_and_pooled_maps() {
        let vs = nn::VarStore::new(Device::Cpu);
        let k = kind(vec![]);
        let h = k
            .build_head(vs.root(), FeatureShape::Vector { dim: 4 }, None)
            .unwrap();
        assert_eq!(
            h.forward(&Tensor::zeros([2, 4], (Kind::Float, Device::Cpu)), false)
                .size(),
            vec![2, 3]
        );
        let sp = FeatureShape::Spatial {
            channels: 4,
            stride: 2,
            head: crate::task::DenseHead::Decoder,
        };
        // On a feature map the head pools first: [2, 4, 3, 3] → [2, 3].
        let h = k
            .build_head(&vs.root() / "pooled", sp, Some((8, 8)))
            .unwrap();
        let out = h.forward(
            &Tensor::zeros([2, 4, 3, 3], (Kind::Float, Device::Cpu)),
            false,
        );
        assert_eq!(out.size(), vec![2, 3]);
    }

    #[test]
    fn validate_names_the_key() {
        let e = MulticlassSpec {
            classes: 1,
            top_k: vec![],
        }
        .validate()
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "task kind `multiclass`: `classes` must be >= 2, got 1"
        );
        for bad in [vec![1], vec![4], vec![2, 2]] {
            let e = MulticlassSpec {
                classes: 3,
                top_k: bad,
            }
            .validate()
            .unwrap_err();
            assert!(e.to_string().contains("`top_k`"), "{e}");
        }
    }
}
