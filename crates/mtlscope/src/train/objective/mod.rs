//! Objectives: how the task losses of one step become the gradient the optimizer follows.
//!
//! An objective receives the network and one batch per task, runs the forward and backward
//! passes it needs, and returns one gradient per parameter (in [`MultiTaskNet::params`]
//! order) plus the per-task losses of the batch. The trainer never looks inside: a new method
//! is a new file here and a line in [`build`].

pub mod aggregate;
pub mod umtg;
pub mod weighting;

use anyhow::Result;
use std::collections::HashMap;
use tch::Tensor;

use crate::config::{ObjectiveConfig, ObjectiveKind};
pub use crate::data::Batch;
use crate::model::MultiTaskNet;

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

/// A non-finite loss or task gradient met inside an objective. The run has diverged: the
/// trainer ends it as `diverged`, naming the step and task, instead of treating it as bad
/// input (an aggregator fed a NaN Gramian would otherwise fail as if the input were wrong).
#[derive(Debug, thiserror::Error)]
#[error("{what} of task {task} is {value}")]
pub struct NonFinite {
    /// `loss` or `gradient`.
    pub what: &'static str,
    /// Task index.
    pub task: usize,
    /// The first offending value.
    pub value: f64,
}

/// Fails with [`NonFinite`] naming the first task whose entry (a loss, `[K]`) or row (a
/// gradient, `[K, n]`) holds a NaN or infinity. One reduction on the backend, one copy.
pub fn check_finite(t: &Tensor, what: &'static str) -> std::result::Result<(), NonFinite> {
    let rows = if t.dim() == 1 {
        t.isfinite()
    } else {
        t.isfinite().reshape([t.size()[0], -1]).all_dim(1, false)
    };
    let ok: Vec<bool> = Vec::try_from(rows.to_device(tch::Device::Cpu)).unwrap_or_default();
    match ok.iter().position(|f| !f) {
        None => Ok(()),
        Some(task) => {
            let row = t.get(task as i64).reshape([-1]);
            let bad = row.masked_select(&row.isfinite().logical_not());
            Err(NonFinite {
                what,
                task,
                value: bad.get(0).to_kind(tch::Kind::Double).double_value(&[]),
            })
        }
    }
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
    /// Called after the optimizer applied this step's gradients, with the step's batches and
    /// losses (FAMO re-measures the losses here).
    fn after_step(
        &mut self,
        _net: &MultiTaskNet,
        _batches: &[Batch],
        _losses: &Tensor,
    ) -> Result<()> {
        Ok(())
    }
}

/// Builds the objective of `cfg` for `n_tasks` tasks and `steps_per_epoch` steps an epoch.
pub fn build(
    cfg: &ObjectiveConfig,
    n_tasks: usize,
    steps_per_epoch: usize,
) -> Result<Box<dyn Objective>> {
    let params = cfg.param_pairs();
    Ok(match cfg.kind {
        ObjectiveKind::Umtg => Box::new(umtg::Umtg::new(cfg.reduction, cfg.scale)),
        ObjectiveKind::Aggregate => {
            let name = cfg.method.as_deref().unwrap_or_default();
            let method = mtl_aggregate::registry::build(name, &params)?;
            // Methods defined on representation gradients (mgda_ub) always get them.
            let rep = mtl_aggregate::registry::find(name)
                .is_some_and(|m| m.input == mtl_aggregate::registry::Input::Representation);
            let mut agg = aggregate::Aggregate::new(method, cfg.rep_grad || rep, cfg.log_every);
            if cfg.loss_scale.is_some() {
                agg = agg.with_loss_scales(n_tasks, cfg.loss_scale_lr);
            }
            Box::new(agg)
        }
        ObjectiveKind::Weighting => {
            let name = cfg.method.as_deref().unwrap_or_default();
            weighting::build_objective(name, &params, n_tasks, steps_per_epoch, cfg.log_every)?
        }
    })
}

/// Checks that `method` and its parameters in `cfg` build (used by [`crate::resolve`]).
pub fn check_method(cfg: &ObjectiveConfig, method: &str, n_tasks: usize) -> Result<()> {
    let params = cfg.param_pairs();
    match cfg.kind {
        ObjectiveKind::Aggregate => {
            mtl_aggregate::registry::build(method, &params)?;
        }
        ObjectiveKind::Weighting => {
            if cfg.rep_grad {
                anyhow::bail!("rep_grad applies to kind = \"aggregate\" only");
            }
            weighting::build_objective(method, &params, n_tasks, 1, 0)?;
        }
        ObjectiveKind::Umtg => {}
    }
    Ok(())
}

/// Per-task losses. Disjoint inputs: one encoder pass per task's batch (measured on LeNet,
/// 3 tasks × 128, 2 cores: K passes of 128 take 26.6 ms a step where one pass over the
/// concatenated 384 takes 36.6 ms, the same in PyTorch eager with this libtorch, so batches
/// are not merged). Shared inputs ([`crate::data::same_inputs`]): one encoder pass, K heads.
pub fn forward_losses(net: &MultiTaskNet, batches: &[Batch]) -> Vec<Tensor> {
    if crate::data::same_inputs(batches) {
        let z = net.features(&batches[0].x, true);
        return batches
            .iter()
            .enumerate()
            .map(|(k, b)| net.loss(k, &net.head(k, &z, true), &b.y))
            .collect();
    }
    batches
        .iter()
        .enumerate()
        .map(|(k, b)| net.loss(k, &net.forward(k, &b.x, true), &b.y))
        .collect()
}
