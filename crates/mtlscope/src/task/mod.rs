//! Tasks: what a task is beyond its data — its kind (head, loss, metrics) and the metrics'
//! names and directions, which run files record so analysis and the report need no
//! knowledge of task kinds.
//!
//! Dependencies point one way: `data`, `model`, `probe`, `aggregate` and `train` import the
//! losses from here; this module imports none of them.

pub mod multiclass;

use serde::{Deserialize, Serialize};

/// Whether a larger value of a metric is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Larger is better (accuracy, mIoU, F1).
    Higher,
    /// Smaller is better (loss, error, angle).
    Lower,
}

impl Direction {
    /// True when `a` is strictly better than `b` under this direction.
    pub fn better(self, a: f64, b: f64) -> bool {
        match self {
            Direction::Higher => a > b,
            Direction::Lower => a < b,
        }
    }
}

/// A metric a task reports: its name in run files and its direction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricSpec {
    /// Name as written in `trajectory.csv`'s `metric` column (`loss`, `accuracy`, `miou`, …).
    pub name: String,
    /// Higher or lower is better.
    pub direction: Direction,
}

impl MetricSpec {
    /// A metric named `name` with `direction`.
    pub fn new(name: &str, direction: Direction) -> Self {
        Self {
            name: name.to_string(),
            direction,
        }
    }
}

/// What a run records about one of its tasks (`run.json`'s `tasks`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskInfo {
    /// Task name as used in configs and CSVs.
    pub name: String,
    /// Task kind (`multiclass`, `binary`, `regression`, `segmentation`, `depth`, `normals`).
    pub kind: String,
    /// Its metrics, the training loss (`loss`, lower is better) first.
    pub metrics: Vec<MetricSpec>,
}
