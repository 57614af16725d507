//! Evaluation: every metric of every task on its full training, validation and test sets, in
//! eval mode without gradients (Mueller et al. 2025, §3: the full training loss). Each task's
//! kind accumulates its metrics over the whole split ([`crate::task::MetricAccumulator`]), so
//! mIoU, F1 or Pearson are exact over the split, not averages of per-chunk values.

use crate::data::{Split, TaskData};
use crate::model::MultiTaskNet;

/// The splits evaluated, in CSV order.
pub const SPLITS: [&str; 3] = ["train", "val", "test"];

/// One evaluated (task, split).
#[derive(Debug, Clone, PartialEq)]
pub struct EvalRow {
    /// Task index.
    pub task: usize,
    /// `train`, `val` or `test`.
    pub split: &'static str,
    /// The task's metrics, aligned with [`TaskData::info`]'s `metrics`: the loss first.
    pub values: Vec<f64>,
}

impl EvalRow {
    /// The loss (the first metric of every kind).
    pub fn loss(&self) -> f64 {
        self.values[0]
    }
}

/// The metrics of head `k` on `split`, in chunks of `chunk` examples; NaN for an empty split.
pub fn evaluate_split(
    net: &MultiTaskNet,
    task: &TaskData,
    k: usize,
    split: &Split,
    chunk: usize,
) -> Vec<f64> {
    let n = split.len();
    let mut acc = task.kind.accumulator();
    tch::no_grad(|| {
        let mut start = 0;
        while start < n {
            let len = chunk.min(n - start) as i64;
            let x = split.x.narrow(0, start as i64, len).to_device(net.device());
            let y = split.y.narrow(0, start as i64, len).to_device(net.device());
            acc.add(&net.forward(k, &x, false), &y);
            start += len as usize;
        }
    });
    acc.finish()
}

/// Every task on every split.
pub fn evaluate(net: &MultiTaskNet, tasks: &[TaskData], chunk: usize) -> Vec<EvalRow> {
    let mut rows = Vec::new();
    for (k, t) in tasks.iter().enumerate() {
        for split in SPLITS {
            rows.push(EvalRow {
                task: k,
                split,
                values: evaluate_split(net, t, k, t.split(split), chunk),
            });
        }
    }
    rows
}
