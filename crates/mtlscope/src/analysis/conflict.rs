//! Gradient conflict vs the effect of MTL (Mueller et al. 2025 §5, Fig. 5–6; docs/formulas.md,
//! "Conflict vs transfer").
//!
//! Conflict of a trajectory: mean over its checkpoints of the `conflict_cos_umtg` probe,
//! cos(g_k, g_UMTG) (Eq. 6; lower = more conflict), then mean over seeds. Eq. 6 measures
//! conflict against "the actual gradient followed during training", so only UMTG variants are
//! points: an SMTO follows another direction, and its cosine to the UMTG says nothing about the
//! conflict it experienced. Each UMTG variant training the task is one auxiliary set. Effects
//! relative to the task's STL variant: optimization = %Δ of the minimum training loss and of
//! each probe's footnote-6 aggregate (`100 (MTL − STL)/|STL|` of seed means), generalization =
//! Δ of each top-10-val test metric of the task other than its loss (MTL − STL in the metric's
//! units, `test_<metric>_delta`: the paper's test accuracy for FashionMTL; its sign means
//! better or worse by the metric's direction). Correlation across auxiliary sets: Pearson r,
//! undefined (not a number) with fewer than 3 sets or no spread.
use super::aggregates::{metrics_of, Aggregate, Metric};
use super::factors::factor_info;
use super::significance::{pct_change, pearson, Summary};
use super::Groups;
use crate::experiment::store::{RunKind, Split};

/// Fewest auxiliary sets for a correlation (with 2 points r is ±1 by construction).
pub const MIN_AUX_SETS: usize = 3;

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

/// Correlation of conflict with one effect across a task's UMTG auxiliary sets.
#[derive(Debug, Clone)]
pub struct ConflictCorrelation {
    /// Task.
    pub task: String,
    /// Effect name.
    pub effect: String,
    /// Auxiliary sets (UMTG variants) with both values.
    pub n: usize,
    /// Pearson r, or why it is undefined.
    pub r: Result<f64, String>,
}

impl ConflictCorrelation {
    /// `0.731` or `undefined: …`.
    pub fn describe(&self) -> String {
        match &self.r {
            Ok(r) => format!("{r:.3}"),
            Err(why) => format!("undefined: {why}"),
        }
    }
}

/// Pearson r of paired values over auxiliary sets, or why it is undefined.
pub fn correlation(x: &[f64], y: &[f64]) -> Result<f64, String> {
    let n = x.len();
    if n < MIN_AUX_SETS {
        return Err(format!(
            "{n} auxiliary set{} (UMTG variants), needs at least {MIN_AUX_SETS}",
            if n == 1 { "" } else { "s" }
        ));
    }
    let r = pearson(x, y);
    if r.is_finite() {
        Ok(r)
    } else {
        Err("no spread in conflict or effect across auxiliary sets".into())
    }
}

fn mean(v: &[f64]) -> f64 {
    Summary::of(v).mean
}

/// The test metrics whose Δ is a generalization effect: the task's metrics other than its loss
/// (the loss alone for a task without any).
pub fn generalization_metrics(task: &crate::task::TaskInfo) -> Vec<Metric> {
    let all = metrics_of(task, Split::Test);
    let own: Vec<Metric> = all.iter().filter(|m| !m.is_loss()).cloned().collect();
    if own.is_empty() {
        all
    } else {
        own
    }
}

/// Name of the generalization effect of `metric` in `conflict.csv` (`test_accuracy_delta`).
pub fn generalization_effect(metric: &Metric) -> String {
    format!("{}_delta", metric.name())
}

/// Points (UMTG variants only) and correlations for every task that has an STL baseline.
pub fn conflict_analysis(
    groups: &Groups,
    probes: &[String],
) -> (Vec<ConflictPoint>, Vec<ConflictCorrelation>) {
    let train_loss = Metric::loss(Split::Train);
    let mut points = Vec::new();
    let mut corrs = Vec::new();
    for task in &groups.tasks {
        let (Some(stl), Some(info)) = (groups.stl_for(task), groups.info(task)) else {
            continue;
        };
        let generalization = generalization_metrics(info);
        let mut task_points = Vec::new();
        for v in groups
            .mtl_with(task)
            .into_iter()
            .filter(|v| v.kind == RunKind::Umtg)
        {
            let conflict = Summary::of(&v.probe_values(task, CONFLICT_PROBE, Aggregate::Mean));
            if conflict.n == 0 {
                continue;
            }
            let mut effects = vec![(
                "min_train_loss_pct".to_string(),
                pct_change(
                    mean(&v.metric_values(task, &train_loss, Aggregate::Min)),
                    mean(&stl.metric_values(task, &train_loss, Aggregate::Min)),
                ),
            )];
            for m in &generalization {
                effects.push((
                    generalization_effect(m),
                    mean(&v.metric_values(task, m, Aggregate::Top10Val))
                        - mean(&stl.metric_values(task, m, Aggregate::Top10Val)),
                ));
            }
            for p in probes.iter().filter(|p| p.as_str() != CONFLICT_PROBE) {
                let agg = factor_info(p).footnote6;
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
                r: correlation(&x, &y),
            });
        }
        points.extend(task_points);
    }
    (points, corrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn correlation_needs_three_auxiliary_sets() {
        // x = 1,2,3; y = 1,3,2 → r = 0.5 (hand case in significance.rs).
        assert_eq!(correlation(&[1.0, 2.0, 3.0], &[1.0, 3.0, 2.0]), Ok(0.5));
        let two = correlation(&[1.0, 2.0], &[2.0, 1.0]);
        assert!(two.unwrap_err().contains("2 auxiliary sets"));
        let flat = correlation(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]);
        assert!(flat.unwrap_err().contains("no spread"));
    }
}
