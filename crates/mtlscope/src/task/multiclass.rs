//! Multi-class classification: a linear head `[N, D] → [N, classes]` (logits), cross-entropy
//! against i64 labels `[N]`, accuracy and optional top-k accuracies, F1 and Matthews
//! correlation (GLUE's MRPC/QQP and CoLA metrics), and accuracies per named subset of the
//! evaluation split (MNLI's matched and mismatched dev sets).
//!
//! - F1 (two classes only) is class 1's: 2·TP / (2·TP + FP + FN), 0 when that is 0/0
//!   (scikit-learn's `f1_score`, as [`super::binary::f1`]).
//! - The Matthews correlation coefficient is computed from the whole split's confusion matrix
//!   C (rows true class, columns predicted) as scikit-learn's `matthews_corrcoef` (Gorodkin
//!   2004's K-class form): with s = Σ C, c = tr C, t_k = Σ_j C_kj, p_k = Σ_i C_ik,
//!   MCC = (c·s − Σ p_k t_k) / √((s² − Σ p_k²)(s² − Σ t_k²)), and 0 when the denominator is 0.
//!   For two classes it is (TP·TN − FP·FN) / √((TP+FP)(TP+FN)(TN+FP)(TN+FN)).
//! - With `subsets = ["m", "mm"]` targets are `[N, 2]`: the label and the index of the subset
//!   the example belongs to; `accuracy_m`, `accuracy_mm` follow the other metrics. The loss and
//!   every other metric use the label column over the whole split.
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
            let kind = Multiclass::new(MulticlassSpec::new(classes)).expect("classes >= 2");
            (
                n.to_string(),
                std::sync::Arc::new(kind) as std::sync::Arc<dyn TaskKind>,
            )
        })
        .collect()
}

/// A metric of a multi-class task besides its loss (see the module docs). Accuracy is always
/// reported; listing it in `metrics` places it (the first listed is the task's primary metric,
/// which model selection and the report's headline use: CoLA's is `mcc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClassMetric {
    /// Accuracy.
    Accuracy,
    /// F1 of class 1 (two classes only).
    F1,
    /// Matthews correlation coefficient.
    Mcc,
}

impl ClassMetric {
    /// Name in run files.
    pub fn name(self) -> &'static str {
        match self {
            ClassMetric::Accuracy => "accuracy",
            ClassMetric::F1 => "f1",
            ClassMetric::Mcc => "mcc",
        }
    }
}

/// `{ kind = "multiclass", classes = 10, top_k = [5] }`;
/// `{ kind = "multiclass", classes = 2, metrics = ["f1", "mcc"] }`;
/// `{ kind = "multiclass", classes = 3, subsets = ["m", "mm"] }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MulticlassSpec {
    /// Number of classes (≥ 2).
    pub classes: i64,
    /// Extra top-k accuracies to report (`top5_accuracy`), each k in 2..=classes, no repeats.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub top_k: Vec<i64>,
    /// Metrics after the loss, in this order (`accuracy`, `f1`, `mcc`; accuracy first when not
    /// listed), no repeats.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<ClassMetric>,
    /// Names of subsets with their own accuracy (`accuracy_<name>`); targets then carry each
    /// example's subset index in a second column.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subsets: Vec<String>,
}

impl MulticlassSpec {
    /// The metrics after the loss, in order: `metrics`, led by accuracy unless it is listed.
    pub fn ordered_metrics(&self) -> Vec<ClassMetric> {
        let mut m = self.metrics.clone();
        if !m.contains(&ClassMetric::Accuracy) {
            m.insert(0, ClassMetric::Accuracy);
        }
        m
    }

    /// `classes` classes, accuracy only.
    pub fn new(classes: i64) -> Self {
        Self {
            classes,
            top_k: vec![],
            metrics: vec![],
            subsets: vec![],
        }
    }
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
        for (i, m) in self.metrics.iter().enumerate() {
            if self.metrics[..i].contains(m) {
                return Err(err("metrics", format!("lists `{}` twice", m.name())));
            }
            if *m == ClassMetric::F1 && self.classes != 2 {
                return Err(err(
                    "metrics",
                    format!(
                        "`f1` is class 1's F1 and needs classes = 2, got {}",
                        self.classes
                    ),
                ));
            }
        }
        for (i, name) in self.subsets.iter().enumerate() {
            let ok =
                !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !ok {
                return Err(err(
                    "subsets",
                    format!("names must be non-empty [A-Za-z0-9_], got `{name}`"),
                ));
            }
            if self.subsets[..i].contains(name) {
                return Err(err("subsets", format!("lists `{name}` twice")));
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
        let mut m = vec![MetricSpec::new("loss", Direction::Lower)];
        for x in self.spec.ordered_metrics() {
            m.push(MetricSpec::new(x.name(), Direction::Higher));
        }
        for k in &self.spec.top_k {
            m.push(MetricSpec::new(
                &format!("top{k}_accuracy"),
                Direction::Higher,
            ));
        }
        for s in &self.spec.subsets {
            m.push(MetricSpec::new(&format!("accuracy_{s}"), Direction::Higher));
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
        cross_entropy(out, &labels(target))
    }

    /// −log softmax(logits_i)[y_i], `[N]`; their mean is [`cross_entropy`].
    fn per_example_loss(&self, out: &Tensor, target: &Tensor) -> Tensor {
        out.log_softmax(-1, Kind::Float).g_nll_loss::<Tensor>(
            &labels(target),
            None,
            Reduction::None,
            -100,
        )
    }

    fn accumulator(&self) -> Box<dyn MetricAccumulator> {
        let c = self.spec.classes as usize;
        Box::new(MulticlassAccumulator {
            top_k: self.spec.top_k.clone(),
            metrics: self.spec.ordered_metrics(),
            loss: 0.0,
            correct: 0,
            top_correct: vec![0; self.spec.top_k.len()],
            n: 0,
            confusion: vec![0; c * c],
            subset_correct: vec![0; self.spec.subsets.len()],
            subset_n: vec![0; self.spec.subsets.len()],
        })
    }
}

/// The class labels of `target`: itself (`[N]`), or its first column when it also carries
/// subset indices (`[N, 2]`).
fn labels(target: &Tensor) -> Tensor {
    if target.dim() == 2 {
        target.select(1, 0)
    } else {
        target.shallow_clone()
    }
}

/// Matthews correlation of a K×K confusion matrix (row-major, rows true classes), as
/// scikit-learn's `matthews_corrcoef`; 0 when undefined (see the module docs).
pub fn mcc(confusion: &[i64], classes: usize) -> f64 {
    let at = |i: usize, j: usize| confusion[i * classes + j] as f64;
    let s: f64 = confusion.iter().map(|&x| x as f64).sum();
    let c: f64 = (0..classes).map(|k| at(k, k)).sum();
    let t: Vec<f64> = (0..classes)
        .map(|k| (0..classes).map(|j| at(k, j)).sum())
        .collect();
    let p: Vec<f64> = (0..classes)
        .map(|k| (0..classes).map(|i| at(i, k)).sum())
        .collect();
    let pt: f64 = p.iter().zip(&t).map(|(a, b)| a * b).sum();
    let pp: f64 = p.iter().map(|a| a * a).sum();
    let tt: f64 = t.iter().map(|a| a * a).sum();
    let den = ((s * s - pp) * (s * s - tt)).sqrt();
    if den == 0.0 {
        0.0
    } else {
        (c * s - pt) / den
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
    metrics: Vec<ClassMetric>,
    /// Confusion counts, row-major `[true, predicted]`.
    confusion: Vec<i64>,
    subset_correct: Vec<i64>,
    subset_n: Vec<i64>,
}

impl MetricAccumulator for MulticlassAccumulator {
    fn add(&mut self, out: &Tensor, target: &Tensor) {
        let len = out.size()[0];
        if len == 0 {
            return;
        }
        let subset = (target.dim() == 2).then(|| target.select(1, 1));
        let target = &labels(target);
        tch::no_grad(|| {
            let pred = out.argmax(-1, false);
            let c = (self.confusion.len() as f64).sqrt() as i64;
            if self.metrics.iter().any(|m| *m != ClassMetric::Accuracy) {
                let cells = (target * c + &pred).bincount::<Tensor>(None, c * c);
                let cells =
                    Vec::<i64>::try_from(&cells.to_device(tch::Device::Cpu)).expect("i64 counts");
                for (a, b) in self.confusion.iter_mut().zip(cells) {
                    *a += b;
                }
            }
            if let Some(subset) = &subset {
                let hit = pred.eq_tensor(target).to_kind(Kind::Int64);
                let k = self.subset_n.len() as i64;
                let n = subset.bincount::<Tensor>(None, k);
                let right = subset.bincount(Some(&hit), k);
                let n = Vec::<f64>::try_from(&n.to_kind(Kind::Double).to_device(tch::Device::Cpu))
                    .expect("counts");
                let right =
                    Vec::<f64>::try_from(&right.to_kind(Kind::Double).to_device(tch::Device::Cpu))
                        .expect("counts");
                for i in 0..self.subset_n.len() {
                    self.subset_n[i] += n[i] as i64;
                    self.subset_correct[i] += right[i] as i64;
                }
            }
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
        let mut v = vec![ratio(self.loss, n)];
        let classes = (self.confusion.len() as f64).sqrt() as usize;
        for m in &self.metrics {
            v.push(if self.n == 0 {
                f64::NAN
            } else {
                match m {
                    ClassMetric::Accuracy => self.correct as f64 / n,
                    ClassMetric::F1 => {
                        super::binary::f1(self.confusion[3], self.confusion[1], self.confusion[2])
                    }
                    ClassMetric::Mcc => mcc(&self.confusion, classes),
                }
            });
        }
        v.extend(self.top_correct.iter().map(|&c| ratio(c as f64, n)));
        v.extend(
            self.subset_correct
                .iter()
                .zip(&self.subset_n)
                .map(|(&c, &n)| ratio(c as f64, n as f64)),
        );
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    fn kind(top_k: Vec<i64>) -> Multiclass {
        Multiclass::new(MulticlassSpec {
            top_k,
            ..MulticlassSpec::new(3)
        })
        .unwrap()
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

    /// MCC as the Pearson correlation of the one-hot predicted and true labels (the
    /// definition Gorodkin's K-class form rewrites), summed over the K indicator columns.
    fn mcc_brute(truth: &[i64], pred: &[i64], k: usize) -> f64 {
        let n = truth.len() as f64;
        let cov = |a: &[i64], b: &[i64]| -> f64 {
            (0..k as i64)
                .map(|c| {
                    let (ma, mb) = (
                        a.iter().filter(|&&x| x == c).count() as f64 / n,
                        b.iter().filter(|&&x| x == c).count() as f64 / n,
                    );
                    a.iter()
                        .zip(b)
                        .map(|(&x, &y)| {
                            (f64::from(u8::from(x == c)) - ma) * (f64::from(u8::from(y == c)) - mb)
                        })
                        .sum::<f64>()
                })
                .sum()
        };
        cov(pred, truth) / (cov(pred, pred) * cov(truth, truth)).sqrt()
    }

    /// Logits predicting `pred` (one-hot, 3 wide) for the accumulator.
    fn logits_for(pred: &[i64], classes: i64) -> Tensor {
        Tensor::from_slice(pred)
            .one_hot(classes)
            .to_kind(Kind::Float)
    }

    #[test]
    fn f1_mcc_and_subsets_by_hand_and_brute_force() {
        // Two classes: TP 2, TN 0, FP 1, FN 1 → F1 = 4/6, MCC = (0 − 1)/√(3·3·1·1) = −1/3
        // (scikit-learn gives the same for y_true [1,1,1,0], y_pred [1,0,1,1]).
        let k = Multiclass::new(MulticlassSpec {
            metrics: vec![ClassMetric::F1, ClassMetric::Mcc],
            ..MulticlassSpec::new(2)
        })
        .unwrap();
        let names: Vec<String> = k.metrics().into_iter().map(|m| m.name).collect();
        assert_eq!(names, ["loss", "accuracy", "f1", "mcc"]);
        let mut acc = k.accumulator();
        acc.add(
            &logits_for(&[1, 0, 1, 1], 2),
            &Tensor::from_slice(&[1i64, 1, 1, 0]),
        );
        let v = acc.finish();
        assert!((v[2] - 4.0 / 6.0).abs() < 1e-12, "{v:?}");
        assert!((v[3] + 1.0 / 3.0).abs() < 1e-12, "{v:?}");
        // Three classes, in two chunks, against the brute-force correlation.
        let truth = [0i64, 1, 2, 2, 1, 0, 0, 2, 1, 1];
        let pred = [0i64, 2, 2, 1, 1, 0, 1, 2, 1, 0];
        let k3 = Multiclass::new(MulticlassSpec {
            metrics: vec![ClassMetric::Mcc],
            subsets: vec!["m".into(), "mm".into()],
            ..MulticlassSpec::new(3)
        })
        .unwrap();
        let names: Vec<String> = k3.metrics().into_iter().map(|m| m.name).collect();
        assert_eq!(
            names,
            ["loss", "accuracy", "mcc", "accuracy_m", "accuracy_mm"]
        );
        let subset = [0i64, 0, 0, 0, 1, 1, 1, 1, 1, 1];
        let target = Tensor::stack(
            &[Tensor::from_slice(&truth), Tensor::from_slice(&subset)],
            1,
        );
        let out = logits_for(&pred, 3);
        let mut acc = k3.accumulator();
        acc.add(&out.narrow(0, 0, 3), &target.narrow(0, 0, 3));
        acc.add(&out.narrow(0, 3, 7), &target.narrow(0, 3, 7));
        let v = acc.finish();
        let expect = mcc_brute(&truth, &pred, 3);
        assert!((v[2] - expect).abs() < 1e-12, "{} vs {expect}", v[2]);
        assert!((v[1] - 0.6).abs() < 1e-12);
        // Subset m: examples 0..4 (2 right of 4); mm: 4..10 (4 right of 6).
        assert!(
            (v[3] - 0.5).abs() < 1e-12 && (v[4] - 4.0 / 6.0).abs() < 1e-12,
            "{v:?}"
        );
        // The loss reads the label column: the same as with [N] targets.
        let plain = k3.loss(&out, &Tensor::from_slice(&truth));
        assert!(k3.loss(&out, &target).equal(&plain));
        assert_eq!(k3.per_example_loss(&out, &target).size(), [10]);
        // Perfect and constant predictions: MCC 1, and 0 when undefined (scikit-learn).
        assert!((mcc(&[2, 0, 0, 3], 2) - 1.0).abs() < 1e-12);
        // Listing accuracy places it: CoLA's primary metric is the MCC.
        let cola = Multiclass::new(MulticlassSpec {
            metrics: vec![ClassMetric::Mcc, ClassMetric::Accuracy],
            ..MulticlassSpec::new(2)
        })
        .unwrap();
        let names: Vec<String> = cola.metrics().into_iter().map(|m| m.name).collect();
        assert_eq!(names, ["loss", "mcc", "accuracy"]);
        let mut acc = cola.accumulator();
        acc.add(
            &logits_for(&[1, 0, 1, 1], 2),
            &Tensor::from_slice(&[1i64, 1, 1, 0]),
        );
        let v = acc.finish();
        assert!((v[1] + 1.0 / 3.0).abs() < 1e-12 && v[2] == 0.5, "{v:?}");
        assert_eq!(mcc(&[2, 0, 3, 0], 2), 0.0);
    }

    #[test]
    fn class_metric_specs_are_checked() {
        let bad = |spec: MulticlassSpec| spec.validate().unwrap_err().to_string();
        let e = bad(MulticlassSpec {
            metrics: vec![ClassMetric::F1],
            ..MulticlassSpec::new(3)
        });
        assert!(e.contains("`metrics`") && e.contains("classes = 2"), "{e}");
        let e = bad(MulticlassSpec {
            metrics: vec![ClassMetric::Mcc, ClassMetric::Mcc],
            ..MulticlassSpec::new(2)
        });
        assert!(e.contains("twice"), "{e}");
        let e = bad(MulticlassSpec {
            subsets: vec!["a b".into()],
            ..MulticlassSpec::new(2)
        });
        assert!(e.contains("`subsets`"), "{e}");
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
        let e = MulticlassSpec::new(1).validate().unwrap_err();
        assert_eq!(
            e.to_string(),
            "task kind `multiclass`: `classes` must be >= 2, got 1"
        );
        for bad in [vec![1], vec![4], vec![2, 2]] {
            let e = MulticlassSpec {
                top_k: bad,
                ..MulticlassSpec::new(3)
            }
            .validate()
            .unwrap_err();
            assert!(e.to_string().contains("`top_k`"), "{e}");
        }
    }
}
