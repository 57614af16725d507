//! Optimizers, written on tensors so that their state is ours to checkpoint and restore
//! exactly (libtorch's C++ optimizers do not expose it through tch).
//!
//! Each takes the parameters and the gradients the objective produced (same order) and
//! updates the parameters in place under `no_grad`. Learning rates are constant.

pub mod adam;
pub mod sgd;

use anyhow::Result;
use std::collections::HashMap;
use tch::Tensor;

use crate::config::{OptimConfig, OptimName};

/// An optimizer family member.
pub trait Optimizer: Send {
    /// One update of `params` (in place) along `grads`.
    fn step(&mut self, params: &[Tensor], grads: &[Tensor]);
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
    }
}

/// Looks up `name` in a checkpoint's state, with an error naming it.
pub(crate) fn take(state: &HashMap<String, Tensor>, name: &str) -> Result<Tensor> {
    state
        .get(name)
        .map(|t| t.shallow_clone())
        .ok_or_else(|| anyhow::anyhow!("checkpoint lacks optimizer state `{name}`"))
}
