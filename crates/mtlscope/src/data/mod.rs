//! Datasets: IDX parsing, discovery of the files on disk, and the multi-task splits.
//!
//! Every dataset yields [`TaskData`]: per task, train/val/test splits held in memory as
//! tensors (inputs normalised, labels `i64`), so batches are index selections with no loader.

pub mod augment;
pub mod celeba;
pub mod cifar100;
pub mod cityscapes;
pub mod fashion_mtl;
pub mod glue;
pub mod idx;
pub mod inputs;
pub mod locate;
pub mod mnists;
pub mod mtan;
pub mod notmnist;
pub mod nyuv2;
pub mod synthetic_scenes;
pub mod tokenize;

use anyhow::Result;
use tch::{Device, Tensor};

pub use inputs::Inputs;

use crate::config::DataConfig;
use crate::task::{TaskInfo, TaskKind, TaskSpec};

/// One split of one task: inputs `[N, C, H, W]` (f32) and class labels `[N]` (i64).
#[derive(Debug)]
pub struct Split {
    /// Inputs.
    pub x: Tensor,
    /// Labels.
    pub y: Tensor,
}

impl Split {
    /// Number of examples.
    pub fn len(&self) -> usize {
        self.y.size()[0] as usize
    }

    /// True when the split holds no examples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Moves the split to `device`.
    pub fn to(&self, device: Device) -> Split {
        Split {
            x: self.x.to_device(device),
            y: self.y.to_device(device),
        }
    }
}

/// One task's training batch.
pub struct Batch {
    /// Inputs.
    pub x: Tensor,
    /// Targets (class labels, values, per-pixel maps: what the task's kind takes).
    pub y: Tensor,
}

/// Whether every batch holds the very same input tensor (one storage, one shape): the step's
/// batches of a shared-input dataset, where every task labels the same examples. The model
/// then runs the encoder once and applies the K heads to its output.
pub fn same_inputs(batches: &[Batch]) -> bool {
    let Some(first) = batches.first() else {
        return false;
    };
    batches.len() > 1
        && batches[1..]
            .iter()
            .all(|b| b.x.data_ptr() == first.x.data_ptr() && b.x.size() == first.x.size())
}

/// A task: its name, its kind (head, loss, metrics) and its three splits.
#[derive(Debug)]
pub struct TaskData {
    /// Task name as used in configs and CSVs.
    pub name: String,
    /// The kind's configuration.
    pub spec: TaskSpec,
    /// The kind built from [`Self::spec`]: head, loss and metrics.
    pub kind: std::sync::Arc<dyn TaskKind>,
    /// How stored inputs become network inputs, per batch ([`Inputs`]).
    pub inputs: Inputs,
    /// Training split.
    pub train: Split,
    /// Validation split (model selection).
    pub val: Split,
    /// Test split.
    pub test: Split,
}

impl TaskData {
    /// Task `name` of kind `spec` (validated here) with its splits.
    pub fn new(name: &str, spec: TaskSpec, train: Split, val: Split, test: Split) -> Result<Self> {
        let kind = spec
            .build()
            .map_err(|e| anyhow::anyhow!("task `{name}`: {e}"))?;
        Ok(Self {
            name: name.to_string(),
            spec,
            kind: kind.into(),
            inputs: Inputs::Float,
            train,
            val,
            test,
        })
    }

    /// The task with its inputs stored compactly and converted by `inputs` per batch.
    pub fn with_inputs(mut self, inputs: Inputs) -> Self {
        self.inputs = inputs;
        self
    }

    /// What a run records about this task (name, kind, metrics with directions).
    pub fn info(&self) -> TaskInfo {
        TaskInfo::new(&self.name, self.kind.as_ref())
    }

    /// The split called `name` (`train`, `val`, `test`).
    pub fn split(&self, name: &str) -> &Split {
        match name {
            "train" => &self.train,
            "val" => &self.val,
            "test" => &self.test,
            other => panic!("unknown split {other}"),
        }
    }
}

/// A multi-task dataset family: a name, the files it reads, its tasks, and a loader.
///
/// A new dataset is one new file implementing this plus one line in [`DATASETS`].
pub trait Dataset: Sync {
    /// Name used by `data.dataset`.
    fn name(&self) -> &'static str;
    /// One line saying what it is, with its source.
    fn about(&self) -> &'static str;
    /// The files (in their publisher's layout) it expects, and where it looks for them.
    fn layout(&self) -> &'static str;
    /// Every task it can build, with its kind and metrics.
    fn tasks(&self) -> Vec<TaskInfo>;
    /// Builds the tasks named in `cfg.tasks`, in that order.
    fn load(&self, cfg: &DataConfig) -> Result<Vec<TaskData>>;
    /// Whether its validation split is carved from train by `data.val_size`; datasets with
    /// fixed splits refuse the key.
    fn takes_val_size(&self) -> bool {
        false
    }
    /// Whether it has several label versions chosen by `data.classes` (Cityscapes).
    fn takes_classes(&self) -> bool {
        false
    }
}

/// The dataset registry.
pub static DATASETS: &[&dyn Dataset] = &[
    &fashion_mtl::FashionMtl,
    &cifar100::Cifar100,
    &mnists::Mnists,
    &celeba::Celeba,
    &nyuv2::Nyuv2,
    &cityscapes::Cityscapes,
    &synthetic_scenes::SyntheticScenes,
    &glue::Glue,
];

/// The registered dataset called `name`, or an error listing the known ones.
pub fn dataset(name: &str) -> Result<&'static dyn Dataset> {
    DATASETS
        .iter()
        .find(|d| d.name() == name)
        .copied()
        .ok_or_else(|| {
            let known: Vec<&str> = DATASETS.iter().map(|d| d.name()).collect();
            anyhow::anyhow!(
                "data.dataset: unknown dataset `{name}`; known: {}",
                known.join(", ")
            )
        })
}

/// Checks `cfg.dataset` and `cfg.tasks` against the registry, before anything is loaded.
pub fn check_config(cfg: &DataConfig) -> Result<()> {
    let d = dataset(&cfg.dataset)?;
    if cfg.val_size.is_some() && !d.takes_val_size() {
        let takes: Vec<&str> = DATASETS
            .iter()
            .filter(|d| d.takes_val_size())
            .map(|d| d.name())
            .collect();
        anyhow::bail!(
            "data.val_size: {} has fixed splits; the key applies to {}",
            d.name(),
            takes.join(", ")
        );
    }
    if cfg.classes.is_some() && !d.takes_classes() {
        anyhow::bail!(
            "data.classes: {} has one label set; the key applies to cityscapes",
            d.name()
        );
    }
    let known: Vec<String> = d.tasks().into_iter().map(|t| t.name).collect();
    for t in &cfg.tasks {
        if !known.contains(t) {
            anyhow::bail!(
                "data.tasks: unknown {} task `{t}`; known: {}",
                d.name(),
                known.join(", ")
            );
        }
    }
    Ok(())
}

/// Each task's name and kind, as [`crate::model::MultiTaskNet`] takes them.
pub fn heads(tasks: &[TaskData]) -> Vec<crate::model::TaskHead> {
    tasks
        .iter()
        .map(|t| (t.name.clone(), t.kind.clone()))
        .collect()
}

/// Whether the tasks share their inputs (every task labels the same examples: one tensor of
/// training inputs, not K copies). Shared-input datasets build each task's splits from
/// shallow clones of one input tensor per split.
pub fn shares_inputs(tasks: &[TaskData]) -> bool {
    tasks.len() > 1
        && tasks[1..]
            .iter()
            .all(|t| t.train.x.data_ptr() == tasks[0].train.x.data_ptr())
}

/// Moves the tasks to `device`, keeping shared input tensors shared (one copy per split on
/// the device, not one per task).
pub fn to_device(tasks: Vec<TaskData>, device: Device) -> Vec<TaskData> {
    let mut moved: std::collections::HashMap<usize, Tensor> = std::collections::HashMap::new();
    let mut mv = |t: &Tensor| -> Tensor {
        let key = t.data_ptr() as usize;
        moved
            .entry(key)
            .or_insert_with(|| t.to_device(device))
            .shallow_clone()
    };
    tasks
        .into_iter()
        .map(|t| {
            let split = |s: &Split, mv: &mut dyn FnMut(&Tensor) -> Tensor| Split {
                x: mv(&s.x),
                y: s.y.to_device(device),
            };
            TaskData {
                train: split(&t.train, &mut mv),
                val: split(&t.val, &mut mv),
                test: split(&t.test, &mut mv),
                name: t.name,
                spec: t.spec,
                kind: t.kind,
                inputs: t.inputs,
            }
        })
        .collect()
}

/// The shape of one example every split of every task shares (`[C, H, W]` for images, `[3, L]`
/// for token sequences), checked before a model is built from it: a mismatch (test images of
/// another size, say) would otherwise fail deep inside the backend at the first evaluation.
/// Token inputs are padded per task to their own longest sequence and trimmed per batch
/// ([`Inputs::Tokens`]), so their length may differ between tasks and splits; the longest is
/// reported.
pub fn input_shape(tasks: &[TaskData]) -> Result<Vec<i64>> {
    let Some(first) = tasks.first() else {
        anyhow::bail!("data.tasks: no task to train");
    };
    let shape = first.train.x.size();
    let tokens = matches!(first.inputs, Inputs::Tokens);
    let rank = if tokens { 3 } else { 4 };
    if shape.len() != rank || shape[1..].contains(&0) {
        anyhow::bail!(
            "task `{}`: training inputs have shape {shape:?}, expected {}",
            first.name,
            if tokens { "[N, 3, L]" } else { "[N, C, H, W]" }
        );
    }
    let mut longest = shape[rank - 1];
    for t in tasks {
        for (name, split) in [("train", &t.train), ("val", &t.val), ("test", &t.test)] {
            let s = split.x.size();
            let same = if tokens {
                s.len() == 3 && s[1] == shape[1]
            } else {
                s.len() == 4 && s[1..] == shape[1..]
            };
            if !same || matches!(t.inputs, Inputs::Tokens) != tokens {
                anyhow::bail!(
                    "task `{}` {name} inputs are {:?} per example, but task `{}` trains on {:?}: every split of every task must share one input shape",
                    t.name,
                    s.get(1..).unwrap_or(&[]),
                    first.name,
                    &shape[1..]
                );
            }
            if tokens {
                longest = longest.max(s[2]);
            }
            if split.y.size().first() != s.first() {
                anyhow::bail!(
                    "task `{}` {name}: {} inputs but {} labels",
                    t.name,
                    s[0],
                    split.y.size().first().copied().unwrap_or(0)
                );
            }
        }
    }
    Ok(if tokens {
        vec![shape[1], longest]
    } else {
        shape[1..].to_vec()
    })
}

/// The tasks `cfg` names, from the dataset it names.
pub fn load_tasks(cfg: &DataConfig) -> Result<Vec<TaskData>> {
    check_config(cfg)?;
    dataset(&cfg.dataset)?.load(cfg)
}
