//! Evaluation: mean loss and accuracy of every task on its full training, validation and test
//! sets, in eval mode without gradients (Mueller et al. 2025, §3: the full training loss).

use tch::Kind;

use crate::data::{Split, TaskData};
use crate::model::MultiTaskNet;
use crate::task::multiclass::cross_entropy as task_loss;

/// The splits evaluated, in CSV order.
pub const SPLITS: [&str; 3] = ["train", "val", "test"];

/// One evaluated (task, split).
#[derive(Debug, Clone, PartialEq)]
pub struct EvalRow {
    /// Task index.
    pub task: usize,
    /// `train`, `val` or `test`.
    pub split: &'static str,
    /// Mean cross-entropy.
    pub loss: f64,
    /// Fraction classified correctly.
    pub accuracy: f64,
}

/// Mean loss and accuracy of head `k` on `split`, in chunks of `chunk` examples.
pub fn evaluate_split(net: &MultiTaskNet, k: usize, split: &Split, chunk: usize) -> (f64, f64) {
    let n = split.len();
    if n == 0 {
        return (f64::NAN, f64::NAN);
    }
    tch::no_grad(|| {
        let (mut loss, mut correct) = (0.0f64, 0i64);
        let mut start = 0;
        while start < n {
            let len = chunk.min(n - start) as i64;
            let x = split.x.narrow(0, start as i64, len).to_device(net.device());
            let y = split.y.narrow(0, start as i64, len).to_device(net.device());
            let logits = net.logits(k, &x, false);
            loss += task_loss(&logits, &y)
                .to_kind(Kind::Double)
                .double_value(&[])
                * len as f64;
            correct += logits
                .argmax(-1, false)
                .eq_tensor(&y)
                .sum(Kind::Int64)
                .int64_value(&[]);
            start += len as usize;
        }
        (loss / n as f64, correct as f64 / n as f64)
    })
}

/// Every task on every split.
pub fn evaluate(net: &MultiTaskNet, tasks: &[TaskData], chunk: usize) -> Vec<EvalRow> {
    let mut rows = Vec::new();
    for (k, t) in tasks.iter().enumerate() {
        for split in SPLITS {
            let (loss, accuracy) = evaluate_split(net, k, t.split(split), chunk);
            rows.push(EvalRow {
                task: k,
                split,
                loss,
                accuracy,
            });
        }
    }
    rows
}
