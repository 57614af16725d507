//! Transfer (Mueller et al. 2025 Table 1, footnote 6; FORMULAS.md "Analysis"):
//! Δ = mean over MTL seeds − mean over STL seeds of a per-run aggregate; significant when the two
//! mean ± 2σ intervals (σ = sample std over seeds, ddof = 1) do not overlap. Direction-aware:
//! for losses a negative Δ is positive transfer.
use super::aggregates::{probe_aggregate_kind, Aggregate, TRANSFER_METRICS};
use super::significance::{delta, Summary};
use super::Groups;

/// Sign of a significant transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transfer {
    /// MTL significantly better.
    Positive,
    /// MTL significantly worse.
    Negative,
    /// Intervals overlap (or fewer than 2 seeds on a side).
    None,
}

impl Transfer {
    /// `positive` / `negative` / `none`.
    pub fn name(self) -> &'static str {
        match self {
            Transfer::Positive => "positive",
            Transfer::Negative => "negative",
            Transfer::None => "none",
        }
    }
}

/// One row of `tables/transfer.csv` (or of the probe-delta table).
#[derive(Debug, Clone)]
pub struct TransferRow {
    /// MTL variant.
    pub variant: String,
    /// Task.
    pub task: String,
    /// `val_accuracy`, `test_loss`, or a probe name.
    pub metric: String,
    /// `final`, `top10_val`, `last20`, `max20`, ...
    pub aggregate: String,
    /// STL seeds.
    pub stl: Summary,
    /// MTL seeds.
    pub mtl: Summary,
    /// MTL − STL.
    pub delta: f64,
    /// Δ − 2(σ_STL + σ_MTL).
    pub ci_low: f64,
    /// Δ + 2(σ_STL + σ_MTL).
    pub ci_high: f64,
    /// Direction-aware verdict.
    pub transfer: Transfer,
}

/// Compare `mtl` with `stl` values; `higher_is_better` orients the verdict.
pub fn compare(
    stl: &[f64],
    mtl: &[f64],
    higher_is_better: bool,
) -> (Summary, Summary, f64, f64, f64, Transfer) {
    let (s, m) = (Summary::of(stl), Summary::of(mtl));
    let (d, lo, hi, sig) = delta(&s, &m);
    let t = if !sig {
        Transfer::None
    } else if (d > 0.0) == higher_is_better {
        Transfer::Positive
    } else {
        Transfer::Negative
    };
    (s, m, d, lo, hi, t)
}

/// The aggregates reported in the transfer table.
pub const TRANSFER_AGGREGATES: [Aggregate; 3] =
    [Aggregate::Final, Aggregate::Top10Val, Aggregate::Last20];

/// Transfer rows: every multi-task variant × task with an STL baseline × metric × aggregate.
pub fn transfer_table(groups: &Groups) -> Vec<TransferRow> {
    let mut rows = Vec::new();
    for task in &groups.tasks {
        let Some(stl) = groups.stl_for(task) else {
            continue;
        };
        for v in groups.mtl_with(task) {
            for metric in TRANSFER_METRICS {
                for agg in TRANSFER_AGGREGATES {
                    let sv = stl.metric_values(task, metric, agg);
                    let mv = v.metric_values(task, metric, agg);
                    if sv.is_empty() || mv.is_empty() {
                        continue;
                    }
                    let (s, m, d, lo, hi, t) = compare(&sv, &mv, metric.higher_is_better());
                    rows.push(TransferRow {
                        variant: v.name.clone(),
                        task: task.clone(),
                        metric: metric.name(),
                        aggregate: agg.name().into(),
                        stl: s,
                        mtl: m,
                        delta: d,
                        ci_low: lo,
                        ci_high: hi,
                        transfer: t,
                    });
                }
            }
        }
    }
    rows
}

/// Probe deltas (Table 1's sharpness / FIM trace / coherence columns): MTL − STL of each
/// probe's paper aggregate. The verdict treats lower as "better" (flatter, smaller Fisher
/// trace, smaller covariance), except for similarity probes where higher is better.
pub fn probe_delta_table(groups: &Groups, probes: &[String]) -> Vec<TransferRow> {
    let mut rows = Vec::new();
    for task in &groups.tasks {
        let Some(stl) = groups.stl_for(task) else {
            continue;
        };
        for v in groups.mtl_with(task) {
            for p in probes {
                let agg = probe_aggregate_kind(p);
                let sv = stl.probe_values(task, p, agg);
                let mv = v.probe_values(task, p, agg);
                if sv.is_empty() || mv.is_empty() {
                    continue;
                }
                let higher = p.contains("cos") || p.contains("sim");
                let (s, m, d, lo, hi, t) = compare(&sv, &mv, higher);
                rows.push(TransferRow {
                    variant: v.name.clone(),
                    task: task.clone(),
                    metric: p.clone(),
                    aggregate: agg.name().into(),
                    stl: s,
                    mtl: m,
                    delta: d,
                    ci_low: lo,
                    ci_high: hi,
                    transfer: t,
                });
            }
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direction_aware_verdicts() {
        // Accuracy: MTL [0.8,0.82,0.84] vs STL [0.7,0.71,0.72] → Δ = 0.11, σ = 0.02 and 0.01,
        // interval Δ ± 0.06 excludes 0 → positive.
        let (_, _, d, lo, hi, t) = compare(&[0.7, 0.71, 0.72], &[0.8, 0.82, 0.84], true);
        assert!((d - 0.11).abs() < 1e-12 && (lo - 0.05).abs() < 1e-12 && (hi - 0.17).abs() < 1e-12);
        assert_eq!(t, Transfer::Positive);
        // Same numbers as losses: higher MTL loss → negative.
        assert_eq!(
            compare(&[0.7, 0.71, 0.72], &[0.8, 0.82, 0.84], false).5,
            Transfer::Negative
        );
        // Overlap → none.
        assert_eq!(
            compare(&[0.7, 0.8, 0.9], &[0.75, 0.85, 0.95], true).5,
            Transfer::None
        );
        // One seed each: no σ, no verdict.
        assert_eq!(compare(&[0.7], &[0.9], true).5, Transfer::None);
    }
}
