//! SMTO vs UMTG (Mueller et al. 2025 §4.2, Fig. 4; FORMULAS.md: %Δ = 100 (SMTO − UMTG)/|UMTG|).
//!
//! For each SMTO variant, its baseline is the UMTG variant with the same task set. Per task and
//! optimization factor — minimum training loss, and each probe's paper aggregate (sharpness and
//! coherence: last 20; Fisher trace: max 20) — the %Δ of the seed means, against the %Δ of the
//! generalization (top-10-val test accuracy). Lower factor values are better, higher accuracy is
//! better, so the quadrants "both improve" (x < 0, y > 0) and "both degrade" (x > 0, y < 0) are
//! the ones the paper shades.
use super::aggregates::{probe_aggregate_kind, Aggregate, Metric, Quantity};
use super::significance::{pct_change, Summary};
use super::{Groups, VariantGroup};
use crate::experiment::store::{RunKind, Split};

/// One point of a quadrant plot.
#[derive(Debug, Clone)]
pub struct SmtoRow {
    /// SMTO variant.
    pub variant: String,
    /// Its UMTG baseline.
    pub baseline: String,
    /// Task.
    pub task: String,
    /// `min_train_loss`, `sharpness`, `fim_trace`, `coherence`, ...
    pub factor: String,
    /// Aggregate of the factor.
    pub aggregate: String,
    /// SMTO seed mean of the factor.
    pub smto: f64,
    /// UMTG seed mean of the factor.
    pub umtg: f64,
    /// %Δ factor.
    pub factor_pct: f64,
    /// %Δ top-10-val test accuracy.
    pub generalization_pct: f64,
}

/// The UMTG variant with the same task set as `v`.
pub fn baseline_of<'g, 'a>(
    groups: &'g Groups<'a>,
    v: &VariantGroup,
) -> Option<&'g VariantGroup<'a>> {
    let mut key = v.tasks.clone();
    key.sort();
    groups.variants.iter().find(|u| {
        let mut t = u.tasks.clone();
        t.sort();
        u.kind == RunKind::Umtg && t == key
    })
}

/// Rows for every SMTO variant with a baseline (empty without SMTO runs).
pub fn smto_table(groups: &Groups, probes: &[String]) -> Vec<SmtoRow> {
    let train_loss = Metric::new(Split::Train, Quantity::Loss);
    let test_acc = Metric::new(Split::Test, Quantity::Accuracy);
    let m = |xs: Vec<f64>| Summary::of(&xs).mean;
    let mut rows = Vec::new();
    for v in groups.variants.iter().filter(|v| v.kind == RunKind::Smto) {
        let Some(u) = baseline_of(groups, v) else {
            continue;
        };
        for task in &v.tasks {
            let gen = pct_change(
                m(v.metric_values(task, test_acc, Aggregate::Top10Val)),
                m(u.metric_values(task, test_acc, Aggregate::Top10Val)),
            );
            let mut factors = vec![(
                "min_train_loss".to_string(),
                Aggregate::Min,
                m(v.metric_values(task, train_loss, Aggregate::Min)),
                m(u.metric_values(task, train_loss, Aggregate::Min)),
            )];
            for p in probes {
                if p == super::conflict::CONFLICT_PROBE {
                    continue;
                }
                let agg = probe_aggregate_kind(p);
                factors.push((
                    p.clone(),
                    agg,
                    m(v.probe_values(task, p, agg)),
                    m(u.probe_values(task, p, agg)),
                ));
            }
            for (factor, agg, s, b) in factors {
                if !(s.is_finite() && b.is_finite()) {
                    continue;
                }
                rows.push(SmtoRow {
                    variant: v.name.clone(),
                    baseline: u.name.clone(),
                    task: task.clone(),
                    factor,
                    aggregate: agg.name().into(),
                    smto: s,
                    umtg: b,
                    factor_pct: pct_change(s, b),
                    generalization_pct: gen,
                });
            }
        }
    }
    rows
}
