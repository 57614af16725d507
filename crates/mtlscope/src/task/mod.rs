//! Tasks: what a task is beyond its data — its kind (head, loss, metrics) and the metrics'
//! names and directions, which run files record so analysis and the report need no
//! knowledge of task kinds.
//!
//! A task kind ([`TaskKind`]) bundles a head ([`Head`], built on the encoder's output
//! [`FeatureShape`]), a training loss, a per-example loss, and an accumulator
//! ([`MetricAccumulator`]) that computes every metric exactly over a whole split. Kinds are
//! configured by a [`TaskSpec`] (`{ kind = "segmentation", classes = 13 }`) and listed in the
//! [`registry`]. One file per kind:
//!
//! | kind | head | loss | metrics after `loss` |
//! |---|---|---|---|
//! | [`multiclass`] | linear | cross-entropy | accuracy, top-k accuracy |
//! | [`binary`] | linear, 1 logit | BCE with logits | accuracy, F1 |
//! | [`regression`] | linear | MSE or L1 | MSE, MAE, Pearson, Spearman |
//! | [`segmentation`] | dense (conv decoder or ASPP) | CE with an ignore label | mIoU, pixel accuracy |
//! | [`depth`] | dense | L1 over valid pixels | abs err, rel err |
//! | [`normals`] | dense, unit normals | 1 − cos over valid pixels | angle mean, median, within 11.25°/22.5°/30° |
//!
//! Dependencies point one way: `data`, `model`, `probe`, `aggregate` and `train` import the
//! losses from here; this module imports only `model`'s layer constructors
//! ([`crate::layers::linear`], [`crate::layers::conv2d`]) so heads start from PyTorch's default
//! initialisation like the encoders.

pub mod binary;
mod dense;
pub mod depth;
pub mod head;
pub mod multiclass;
pub mod normals;
pub mod registry;
pub mod regression;
pub mod segmentation;

pub use registry::{kinds, lookup, KindInfo, TaskSpec};

use serde::{Deserialize, Serialize};
use tch::{nn, Tensor};

/// Whether a larger value of a metric is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Larger is better (accuracy, mIoU, F1).
    Higher,
    /// Smaller is better (loss, error, angle).
    Lower,
}

impl Direction {
    /// True when `a` is strictly better than `b` under this direction.
    pub fn better(self, a: f64, b: f64) -> bool {
        match self {
            Direction::Higher => a > b,
            Direction::Lower => a < b,
        }
    }
}

/// A metric a task reports: its name in run files and its direction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricSpec {
    /// Name as written in `trajectory.csv`'s `metric` column (`loss`, `accuracy`, `miou`, …).
    pub name: String,
    /// Higher or lower is better.
    pub direction: Direction,
}

impl MetricSpec {
    /// A metric named `name` with `direction`.
    pub fn new(name: &str, direction: Direction) -> Self {
        Self {
            name: name.to_string(),
            direction,
        }
    }
}

/// What a run records about one of its tasks (`run.json`'s `tasks`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskInfo {
    /// Task name as used in configs and CSVs.
    pub name: String,
    /// Task kind (`multiclass`, `binary`, `regression`, `segmentation`, `depth`, `normals`).
    pub kind: String,
    /// Its metrics, the training loss (`loss`, lower is better) first.
    pub metrics: Vec<MetricSpec>,
}

impl TaskInfo {
    /// What a run records about task `name` of `kind`.
    pub fn new(name: &str, kind: &dyn TaskKind) -> Self {
        Self {
            name: name.to_string(),
            kind: kind.name().to_string(),
            metrics: kind.metrics(),
        }
    }
}

/// What an encoder outputs: a vector `[N, dim]` per example, or a feature map
/// `[N, channels, H / stride, W / stride]` for inputs of size `H × W`, with the head that
/// per-pixel kinds build on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeatureShape {
    /// `[N, dim]`.
    Vector {
        /// Width of the representation.
        dim: i64,
    },
    /// `[N, channels, H / stride, W / stride]`.
    Spatial {
        /// Channels of the feature map.
        channels: i64,
        /// Down-sampling factor of the encoder.
        stride: i64,
        /// The head per-pixel kinds build on this map: the encoder's architecture decides
        /// (DeepLabV3+ pairs its dilated ResNet with ASPP heads), so a task config serves
        /// every encoder. Image-level kinds pool the map into their linear head either way.
        head: DenseHead,
    },
}

/// Which head per-pixel kinds (segmentation, depth, normals) build on a feature map
/// ([`head::dense_head`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DenseHead {
    /// conv3×3 – ReLU – conv1×1, upsampled ([`head::DecoderHead`]), PyTorch's default
    /// initialisation.
    #[default]
    Decoder,
    /// MTAN's SegNet task layers (`model_segnet_split.py`, `conv_layer(..., pred=True)`):
    /// conv3×3 then conv1×1 with no activation between, Xavier-normal weights and zero biases
    /// ([`head::DecoderHead`] without its ReLU).
    Mtan,
    /// DeepLabV3's ASPP head as LibMTL's `DeepLabHead` ([`head::AsppHead`]).
    Aspp,
}

impl std::fmt::Display for FeatureShape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FeatureShape::Vector { dim } => write!(f, "vector features [N, {dim}]"),
            FeatureShape::Spatial {
                channels,
                stride,
                head,
            } => {
                write!(
                    f,
                    "spatial features [N, {channels}, H/{stride}, W/{stride}]"
                )?;
                match head {
                    DenseHead::Decoder => Ok(()),
                    DenseHead::Mtan => write!(f, " for MTAN's task layers"),
                    DenseHead::Aspp => write!(f, " for ASPP heads"),
                }
            }
        }
    }
}

/// Errors of task specs and head construction; each names the kind and the offending key.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TaskError {
    /// A spec parameter out of range.
    #[error("task kind `{kind}`: `{key}` {message}")]
    Param {
        /// Task kind.
        kind: &'static str,
        /// Spec key.
        key: &'static str,
        /// What is wrong, with the value given.
        message: String,
    },
    /// A kind name not in the registry.
    #[error("unknown task kind `{name}`; known: {known}")]
    UnknownKind {
        /// The name asked for.
        name: String,
        /// The registry's names, comma-separated.
        known: String,
    },
    /// The encoder's output does not suit the head.
    #[error("task kind `{kind}` needs {expected} from the encoder, got {got}")]
    Features {
        /// Task kind.
        kind: &'static str,
        /// `vector features [N, D]` or `spatial features [N, C, H', W']`.
        expected: &'static str,
        /// What the encoder gives.
        got: FeatureShape,
    },
    /// A dense head was built without the input size it upsamples to.
    #[error("task kind `{kind}` predicts per pixel and needs the input size (H, W) to upsample to, got {got}")]
    InputSize {
        /// Task kind.
        kind: &'static str,
        /// What was given.
        got: String,
    },
}

/// A task head: the task-specific layers φ_k on top of the shared representation.
pub trait Head: std::fmt::Debug + Send {
    /// The head's output for a batch of `features` (see each kind for shapes). `train` switches
    /// dropout/batch-norm behaviour for heads that have them.
    fn forward(&self, features: &Tensor, train: bool) -> Tensor;
}

/// Accumulates a task's metrics over the chunks of one split, so the values are exact over the
/// whole split (a confusion matrix summed over the split, Pearson over all predictions), not
/// averages of per-chunk values.
pub trait MetricAccumulator: std::fmt::Debug + Send {
    /// Adds one chunk of head outputs and targets (called without gradients).
    fn add(&mut self, out: &Tensor, target: &Tensor);
    /// The metrics over everything added, aligned with [`TaskKind::metrics`]; NaN where a
    /// metric is undefined (nothing added, no valid pixel, no spread).
    fn finish(&self) -> Vec<f64>;
}

/// A kind of task: its head, its training loss and its metrics.
///
/// A new kind is one file in `task/` implementing this trait, plus its spec variant and row
/// in [`registry`]; the trainer never changes.
pub trait TaskKind: Send + Sync + std::fmt::Debug {
    /// Kind name as in configs and `run.json` (`multiclass`, `segmentation`, …).
    fn name(&self) -> &'static str;
    /// Reported metrics: `loss` (lower is better) first, then the kind's metrics.
    fn metrics(&self) -> Vec<MetricSpec>;
    /// Builds the head under `p` on top of `features`; dense kinds upsample to `input_hw`.
    /// Errors when the features do not suit the kind or a dense kind lacks `input_hw`.
    fn build_head(
        &self,
        p: nn::Path,
        features: FeatureShape,
        input_hw: Option<(i64, i64)>,
    ) -> anyhow::Result<Box<dyn Head>>;
    /// The training loss of a batch, a scalar (the mean over the batch; dense kinds: over its
    /// valid pixels).
    fn loss(&self, out: &Tensor, target: &Tensor) -> Tensor;
    /// The loss of each example, `[N]` (dense kinds: each image's mean over its valid pixels,
    /// Elich et al.).
    fn per_example_loss(&self, out: &Tensor, target: &Tensor) -> Tensor;
    /// A fresh accumulator for [`Self::metrics`].
    fn accumulator(&self) -> Box<dyn MetricAccumulator>;
    /// How geometric augmentation moves this kind's targets: `None` for image-level targets
    /// (a class, a value), which flips and crops leave as they are; dense kinds say what fills
    /// padded pixels and which channel a horizontal flip negates.
    fn spatial_target(&self) -> Option<SpatialTarget> {
        None
    }
}

/// A per-pixel target `[.., H, W]` under flips and crops (`data::augment`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpatialTarget {
    /// Value of pixels that come from padding: the kind's "missing" marker (the ignore label,
    /// depth 0, the zero normal), so they count in no loss or metric.
    pub fill: f64,
    /// Channel negated by a horizontal flip (the x component of surface normals).
    pub flip_negates: Option<i64>,
    /// How a scale-crop resizes the target: bilinear (align_corners, continuous maps such as
    /// normals) or nearest (labels, and depth, whose invalid zeros must not blend in).
    pub resize: Resize,
    /// Whether a scale-crop by s divides the values by s (depth: zooming in by s brings the
    /// scene s times closer, MTAN's `RandomScaleCrop`).
    pub divide_by_scale: bool,
}

/// Interpolation of a resized map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resize {
    /// Bilinear, align_corners = true (MTAN's images and normals).
    Bilinear,
    /// Nearest neighbour (MTAN's labels and depth).
    Nearest,
}

/// `x` as one f64 (a scalar tensor, any kind or device).
pub(crate) fn scalar_f64(x: &Tensor) -> f64 {
    x.to_kind(tch::Kind::Double).double_value(&[])
}

/// `x` flattened into a host `Vec<f64>`.
pub(crate) fn to_vec_f64(x: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(
        &x.to_kind(tch::Kind::Double)
            .to_device(tch::Device::Cpu)
            .reshape([-1]),
    )
    .expect("a CPU f64 tensor converts to Vec<f64>")
}

/// `a / b`, NaN when `b` is 0 (a metric over nothing is undefined).
pub(crate) fn ratio(a: f64, b: f64) -> f64 {
    if b == 0.0 {
        f64::NAN
    } else {
        a / b
    }
}
