//! Optimizers, written on tensors so that their state is ours to checkpoint and restore
//! exactly (libtorch's C++ optimizers do not expose it through tch).
//!
//! Each takes the parameters and the gradients the objective produced (same order) and
//! updates the parameters in place under `no_grad`. The trainer sets each step's learning
//! rate from [`lr_schedule::LrSchedule`] (constant by default) before the step.
//!
//! Members: [`sgd`] (momentum, Nesterov), [`adam`] (Adam, AdamW), [`sign_sgd`] (signSGD,
//! Signum), [`adatask`] (per-task Adam moments, fed per-task gradients by [`task_grads`]).

pub mod adam;
pub mod adatask;
pub mod lr_schedule;
pub mod sgd;
pub mod sign_sgd;
pub mod task_grads;

pub use lr_schedule::LrSchedule;

use anyhow::Result;
use std::collections::HashMap;
use tch::Tensor;

use crate::config::{OptimConfig, OptimName};

/// An optimizer family member.
pub trait Optimizer: Send {
    /// One update of `params` (in place) along `grads`.
    fn step(&mut self, params: &[Tensor], grads: &[Tensor]);
    /// The learning rate of the coming steps (the trainer calls it before every step).
    fn set_lr(&mut self, lr: f64);
    /// True for optimizers that need each task's gradient of the shared parameters
    /// ([`Optimizer::step_tasks`]); the trainer then gets them from [`task_grads`].
    fn wants_task_grads(&self) -> bool {
        false
    }
    /// One update given, besides `grads`, `task_grads[k]`: task k's term's gradient of the
    /// shared parameters (the first `task_grads[k].len()` of `params`; they sum to that part
    /// of `grads`). By default the per-task split is ignored.
    fn step_tasks(&mut self, params: &[Tensor], grads: &[Tensor], task_grads: &[Vec<Tensor>]) {
        let _ = task_grads;
        self.step(params, grads)
    }
    /// Named state tensors for a checkpoint (moment buffers, step count).
    fn state(&self) -> Vec<(String, Tensor)>;
    /// Restores [`Optimizer::state`]; every expected tensor must be present.
    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()>;
}

/// Builds the optimizer named in `cfg`.
pub fn build(cfg: &OptimConfig) -> Box<dyn Optimizer> {
    match cfg.name {
        OptimName::Sgd => Box::new(sgd::Sgd::new(cfg)),
        OptimName::Adam => Box::new(adam::Adam::new(cfg, false)),
        OptimName::Adamw => Box::new(adam::Adam::new(cfg, true)),
        OptimName::Signsgd => Box::new(sign_sgd::SignSgd::new(cfg)),
        OptimName::Adatask => Box::new(adatask::AdaTask::new(cfg)),
    }
}

/// `tensors` named `{prefix}.0`, `{prefix}.1`, … for a checkpoint.
pub(crate) fn named_list(prefix: &str, tensors: &[Tensor]) -> Vec<(String, Tensor)> {
    tensors
        .iter()
        .enumerate()
        .map(|(i, t)| (format!("{prefix}.{i}"), t.shallow_clone()))
        .collect()
}

/// The list [`named_list`] saved under `prefix`: as many tensors as the state has keys
/// `{prefix}.*`, each of `{prefix}.0` … required (a gap is an error naming the missing key).
pub(crate) fn take_list(state: &HashMap<String, Tensor>, prefix: &str) -> Result<Vec<Tensor>> {
    let dotted = format!("{prefix}.");
    let n = state.keys().filter(|k| k.starts_with(&dotted)).count();
    (0..n)
        .map(|i| take(state, &format!("{prefix}.{i}")))
        .collect()
}

/// Looks up `name` in a checkpoint's state, with an error naming it.
pub(crate) fn take(state: &HashMap<String, Tensor>, name: &str) -> Result<Tensor> {
    state
        .get(name)
        .map(|t| t.shallow_clone())
        .ok_or_else(|| anyhow::anyhow!("checkpoint lacks optimizer state `{name}`"))
}
