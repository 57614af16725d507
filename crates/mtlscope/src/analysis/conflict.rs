//! Gradient conflict vs the effect of MTL (Mueller et al. 2025 §5, Fig. 5–6).
//!
//! Conflict of a trajectory: mean over its checkpoints of the `conflict_cos_umtg` probe,
//! cos(g_k, g_UMTG) (Eq. 6; lower = more conflict), then mean over seeds. For each task and
//! each multi-task variant training it, the effects relative to the task's STL variant:
//! optimization = %Δ of the minimum training loss and of each probe's paper aggregate
//! (`100 (MTL − STL)/|STL|` of seed means), generalization = Δ of the top-10-val test accuracy
//! (MTL − STL, accuracy units). Correlation across variants: Pearson r (NaN below 3 variants).
use super::aggregates::{probe_aggregate_kind, Aggregate, Metric, Quantity};
use super::significance::{pct_change, pearson, Summary};
use super::Groups;
use crate::experiment::store::Split;

/// The conflict probe name (train's probes.csv).
pub const CONFLICT_PROBE: &str = "conflict_cos_umtg";

/// One variant's conflict and effects on one task.
#[derive(Debug, Clone)]
pub struct ConflictPoint {
    /// Task.
    pub task: String,
    /// Variant.
    pub variant: String,
    /// Colour index.
    pub index: usize,
    /// Label.
    pub label: String,
    /// Mean cos(g_task, g_UMTG) over seeds.
    pub conflict: Summary,
    /// (effect name, value).
    pub effects: Vec<(String, f64)>,
}

/// Correlation of conflict with one effect across a task's variants.
#[derive(Debug, Clone)]
pub struct ConflictCorrelation {
    /// Task.
    pub task: String,
    /// Effect name.
    pub effect: String,
    /// Variants with both values.
    pub n: usize,
    /// Pearson r.
    pub r: f64,
}

fn mean(v: &[f64]) -> f64 {
    Summary::of(v).mean
}

/// Points and correlations for every task that has an STL baseline.
pub fn conflict_analysis(
    groups: &Groups,
    probes: &[String],
) -> (Vec<ConflictPoint>, Vec<ConflictCorrelation>) {
    let train_loss = Metric::new(Split::Train, Quantity::Loss);
    let test_acc = Metric::new(Split::Test, Quantity::Accuracy);
    let mut points = Vec::new();
    let mut corrs = Vec::new();
    for task in &groups.tasks {
        let Some(stl) = groups.stl_for(task) else {
            continue;
        };
        let mut task_points = Vec::new();
        for v in groups.mtl_with(task) {
            let conflict = Summary::of(&v.probe_values(task, CONFLICT_PROBE, Aggregate::Mean));
            if conflict.n == 0 {
                continue;
            }
            let mut effects = vec![
                (
                    "min_train_loss_pct".to_string(),
                    pct_change(
                        mean(&v.metric_values(task, train_loss, Aggregate::Min)),
                        mean(&stl.metric_values(task, train_loss, Aggregate::Min)),
                    ),
                ),
                (
                    "test_accuracy_delta".to_string(),
                    mean(&v.metric_values(task, test_acc, Aggregate::Top10Val))
                        - mean(&stl.metric_values(task, test_acc, Aggregate::Top10Val)),
                ),
            ];
            for p in probes.iter().filter(|p| p.as_str() != CONFLICT_PROBE) {
                let agg = probe_aggregate_kind(p);
                let e = pct_change(
                    mean(&v.probe_values(task, p, agg)),
                    mean(&stl.probe_values(task, p, agg)),
                );
                if e.is_finite() {
                    effects.push((format!("{p}_pct"), e));
                }
            }
            task_points.push(ConflictPoint {
                task: task.clone(),
                variant: v.name.clone(),
                index: v.index,
                label: v.label.clone(),
                conflict,
                effects,
            });
        }
        let mut names: Vec<String> = Vec::new();
        for p in &task_points {
            for (n, _) in &p.effects {
                if !names.contains(n) {
                    names.push(n.clone());
                }
            }
        }
        for name in names {
            let (x, y): (Vec<f64>, Vec<f64>) = task_points
                .iter()
                .filter_map(|p| {
                    let e = p.effects.iter().find(|(n, _)| *n == name)?.1;
                    (e.is_finite() && p.conflict.mean.is_finite()).then_some((p.conflict.mean, e))
                })
                .unzip();
            corrs.push(ConflictCorrelation {
                task: task.clone(),
                effect: name,
                n: x.len(),
                r: pearson(&x, &y),
            });
        }
        points.extend(task_points);
    }
    (points, corrs)
}
