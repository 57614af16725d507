//! Objectives: how the task losses of one step become the gradient the optimizer follows.
//!
//! An objective receives the network and one batch per task, runs the forward and backward
//! passes it needs, and returns one gradient per parameter (in [`MultiTaskNet::params`]
//! order) plus the per-task losses of the batch. The trainer never looks inside: a new method
//! is a new file here and a line in [`build`].

pub mod umtg;

use anyhow::Result;
use std::collections::HashMap;
use tch::Tensor;

use crate::config::{ObjectiveConfig, ObjectiveKind};
use crate::model::MultiTaskNet;

/// One task's training batch.
pub struct Batch {
    /// Inputs.
    pub x: Tensor,
    /// Labels.
    pub y: Tensor,
}

/// A per-step quantity worth plotting (weights, norms, cosines), written to `steps.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct Quantity {
    /// Name, e.g. `weight`, `direction_norm`.
    pub name: &'static str,
    /// Task index, when the quantity is per task.
    pub task: Option<usize>,
    /// Value.
    pub value: f64,
}

/// What one step of an objective produces.
pub struct StepOutput {
    /// Per-task mean losses on their batches, `[K]`, detached.
    pub losses: Tensor,
    /// One gradient per parameter, in `MultiTaskNet::params` order.
    pub grads: Vec<Tensor>,
    /// Quantities for `steps.csv`.
    pub quantities: Vec<Quantity>,
}

/// A way of combining task losses into an update.
pub trait Objective: Send {
    /// Runs forward and backward for one step.
    fn step(&mut self, net: &MultiTaskNet, batches: &[Batch], step: usize) -> Result<StepOutput>;
    /// Named state tensors to checkpoint (none for stateless objectives).
    fn state(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }
    /// Restores [`Objective::state`].
    fn load_state(&mut self, _state: &HashMap<String, Tensor>) -> Result<()> {
        Ok(())
    }
}

/// Builds the objective of `cfg` for `n_tasks` tasks.
pub fn build(cfg: &ObjectiveConfig, _n_tasks: usize) -> Result<Box<dyn Objective>> {
    Ok(match cfg.kind {
        ObjectiveKind::Umtg => Box::new(umtg::Umtg::new(cfg.reduction, cfg.scale)),
    })
}

/// Mean cross-entropy of task `k`'s logits (the task loss L_k of Mueller et al., §2.1).
pub fn task_loss(logits: &Tensor, y: &Tensor) -> Tensor {
    logits.cross_entropy_for_logits(y)
}

/// Per-task losses with one encoder pass over all tasks' batches concatenated (one large
/// GEMM is cheaper than K small ones); task k's loss depends only on its own rows.
pub fn forward_losses(net: &MultiTaskNet, batches: &[Batch]) -> Vec<Tensor> {
    let xs: Vec<&Tensor> = batches.iter().map(|b| &b.x).collect();
    let feats = net.features(&Tensor::cat(&xs, 0), true);
    let mut start = 0;
    batches
        .iter()
        .enumerate()
        .map(|(k, b)| {
            let n = b.x.size()[0];
            let f = feats.narrow(0, start, n);
            start += n;
            task_loss(&net.head(k, &f), &b.y)
        })
        .collect()
}
