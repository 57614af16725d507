use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

/// `train.eval_schedule`: which steps are evaluated (see `train::schedule`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EvalSchedule {
    /// Step 0, every `eval_every` steps (0 = every epoch) and the last step.
    Epoch,
    /// The `epoch` schedule plus `eval_per_decade` geometrically spaced steps per decade inside
    /// the first `eval_log_epochs` epochs (the early phase, where one epoch already takes the
    /// loss most of the way down).
    Log,
}

/// `train.task_sampling`: how many examples each task contributes to a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskSampling {
    /// `batch_size` examples of every task per step; each task cycles through its own
    /// passes, so a small task repeats while a large one is still in its first pass.
    Cycle,
    /// The step's K·`batch_size` examples split in proportion to the tasks' training-set
    /// sizes (at least one each), so every task's data is seen at the same rate.
    Proportional,
}

/// `train.augment`: geometric augmentations of training batches (see `data::augment`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Augmentation {
    /// Horizontal flip with probability 1/2.
    Hflip,
    /// Pad by `train.crop_pad` on every side, then a random crop back to the input size.
    Crop,
    /// MTAN's `RandomScaleCrop`: a crop of 1/s of the size (s drawn from {1, 1.2, 1.5}) resized
    /// back; dense targets move with the image (depth divided by s).
    ScaleCrop,
}

/// `[train]`. STL and MTL runs of a setting take the same number of steps: an epoch is one
/// pass over one task's training set (`epoch_task`: the first by default), and each MTL step
/// draws one batch per task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// Number of epochs.
    pub epochs: usize,
    /// Examples per task per step.
    pub batch_size: usize,
    /// Seed of the initialisation and batch order.
    pub seed: u64,
    /// Evaluate every N steps; 0 = at the end of every epoch.
    pub eval_every: usize,
    /// `epoch` (default) or `log` (adds geometrically spaced early evaluations).
    pub eval_schedule: EvalSchedule,
    /// `log` schedule: evaluations per decade of steps (round(10^(j/k)), deduplicated).
    pub eval_per_decade: usize,
    /// `log` schedule: the geometric evaluations lie inside the first this many epochs (capped
    /// at the run's length).
    pub eval_log_epochs: usize,
    /// Examples per forward pass during evaluation (results do not depend on it beyond float
    /// rounding of the sums). Default 256: a chunk's activations then stay in the CPU's caches
    /// and below glibc's 32 MiB mmap threshold, so they are not re-faulted each forward. On
    /// LeNet, one thread, an evaluation of FashionMTL's two tasks took half as long at 256 as
    /// at 2500 (measured, issue #17; 128 and 512 are as fast as 256).
    pub eval_batch_size: usize,
    /// Whose pass is an epoch: `first` (the first task of `data.tasks`), `largest`, or a task
    /// name. Naming the target task keeps STL and MTL runs of it at the same step count.
    pub epoch_task: String,
    /// `cycle` (default) or `proportional` (see [`TaskSampling`]).
    pub task_sampling: TaskSampling,
    /// libtorch's deterministic algorithms (bit-reproducible CUDA runs, typically 10–30% slower
    /// on GPU; no effect on CPU, which is deterministic anyway). See `train::determinism`.
    pub deterministic: bool,
    /// Augmentations of training batches, drawn per step (`hflip`, `crop`, `scale_crop`;
    /// default none),
    /// applied to inputs and dense targets alike.
    pub augment: Vec<Augmentation>,
    /// Padding of `crop` in pixels (CIFAR's standard: 4).
    pub crop_pad: i64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 10,
            batch_size: 128,
            seed: 1,
            eval_every: 0,
            eval_schedule: EvalSchedule::Epoch,
            eval_per_decade: 4,
            eval_log_epochs: 1,
            eval_batch_size: 256,
            epoch_task: "first".into(),
            task_sampling: TaskSampling::Cycle,
            deterministic: false,
            augment: Vec::new(),
            crop_pad: 4,
        }
    }
}

/// Most geometric evaluations per decade accepted: beyond this every early step is evaluated
/// anyway, and a typo (40000) would make a run mostly evaluation.
pub const MAX_EVAL_PER_DECADE: usize = 100;

impl TrainConfig {
    pub(super) fn validate(&self) -> Result<()> {
        if self.epochs == 0 {
            bail!("train.epochs must be >= 1, got 0");
        }
        if self.batch_size == 0 {
            bail!("train.batch_size must be >= 1, got 0");
        }
        if self.eval_batch_size == 0 {
            bail!("train.eval_batch_size must be >= 1, got 0");
        }
        if self.eval_per_decade == 0 || self.eval_per_decade > MAX_EVAL_PER_DECADE {
            bail!(
                "train.eval_per_decade must be in 1..={MAX_EVAL_PER_DECADE}, got {}",
                self.eval_per_decade
            );
        }
        if self.eval_log_epochs == 0 {
            bail!("train.eval_log_epochs must be >= 1, got 0");
        }
        if self.crop_pad < 0 {
            bail!("train.crop_pad must be >= 0, got {}", self.crop_pad);
        }
        Ok(())
    }

    /// `epoch_task` must be `first`, `largest` or one of the run's tasks.
    pub(super) fn validate_tasks(&self, tasks: &[String]) -> Result<()> {
        let e = self.epoch_task.as_str();
        if e != "first" && e != "largest" && !tasks.iter().any(|t| t == e) {
            bail!(
                "train.epoch_task = \"{e}\": expected \"first\", \"largest\" or a task of data.tasks ({})",
                tasks.join(", ")
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{EvalSchedule, TaskSampling};
    use crate::config::RunConfig;

    fn err(ov: &str) -> String {
        format!(
            "{:#}",
            RunConfig::from_toml_str("", &[ov.to_string()]).unwrap_err()
        )
    }

    #[test]
    fn eval_schedule_keys_parse_and_bad_values_name_their_key() {
        let cfg = RunConfig::from_toml_str(
            "[train]\neval_schedule = \"log\"\neval_per_decade = 6\n",
            &[],
        )
        .unwrap();
        assert_eq!(cfg.train.eval_schedule, EvalSchedule::Log);
        assert_eq!(cfg.train.eval_per_decade, 6);
        assert_eq!(
            RunConfig::default().train.eval_schedule,
            EvalSchedule::Epoch
        );
        let e = err("train.eval_schedule=logarithmic");
        assert!(
            e.contains("train.eval_schedule") && e.contains("logarithmic"),
            "{e}"
        );
        assert!(err("train.eval_per_decade=0")
            .contains("train.eval_per_decade must be in 1..=100, got 0"));
        assert!(err("train.eval_per_decade=101").contains("got 101"));
        assert!(err("train.eval_log_epochs=0").contains("train.eval_log_epochs must be >= 1"));
    }

    #[test]
    fn epoch_task_and_sampling_are_checked() {
        let cfg = RunConfig::from_toml_str(
            "[train]\nepoch_task = \"fashion2\"\ntask_sampling = \"proportional\"\n",
            &[],
        )
        .unwrap();
        assert_eq!(cfg.train.task_sampling, TaskSampling::Proportional);
        let e = err("train.epoch_task=noisy_fashion");
        assert!(
            e.contains("train.epoch_task = \"noisy_fashion\"") && e.contains("fashion1, fashion2"),
            "{e}"
        );
        assert!(err("train.task_sampling=uniform").contains("train.task_sampling"));
    }
}
