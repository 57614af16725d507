//! The uniform multi-task gradient (Mueller et al. 2025, Eq. 2): the gradient of
//! C · Σ_k L_k (`sum`) or C · (1/K) Σ_k L_k (`mean`), one backward pass. Heads get their own
//! task's gradient (scaled alike), since L_j does not depend on φ_k for j ≠ k.

use anyhow::Result;
use tch::Tensor;

use super::{forward_losses, Batch, Objective, StepOutput};
use crate::config::Reduction;
use crate::model::MultiTaskNet;

/// UMTG objective.
pub struct Umtg {
    reduction: Reduction,
    scale: f64,
}

impl Umtg {
    /// Sum or mean of the task losses, times `scale` (C).
    pub fn new(reduction: Reduction, scale: f64) -> Self {
        Self { reduction, scale }
    }
}

impl Objective for Umtg {
    fn step(&mut self, net: &MultiTaskNet, batches: &[Batch], _step: usize) -> Result<StepOutput> {
        let losses = Tensor::stack(&forward_losses(net, batches), 0);
        let c = match self.reduction {
            Reduction::Sum => self.scale,
            Reduction::Mean => self.scale / batches.len() as f64,
        };
        let total = losses.sum(tch::Kind::Float) * c;
        let grads = Tensor::run_backward(&[total], &net.params(), false, false);
        Ok(StepOutput {
            losses: losses.detach(),
            grads,
            quantities: Vec::new(),
        })
    }
}
