//! Multi-class classification: a linear head, cross-entropy, accuracy.

use tch::Tensor;

/// Mean cross-entropy of `logits` `[N, C]` against class labels `y` `[N]` (the task loss L_k
/// of Mueller et al. 2025, §2.1).
pub fn cross_entropy(logits: &Tensor, y: &Tensor) -> Tensor {
    logits.cross_entropy_for_logits(y)
}

use super::{Direction, MetricSpec};

/// The metrics a multi-class task reports: its training loss (mean cross-entropy) and accuracy.
pub fn metrics() -> Vec<MetricSpec> {
    vec![
        MetricSpec::new("loss", Direction::Lower),
        MetricSpec::new("accuracy", Direction::Higher),
    ]
}
