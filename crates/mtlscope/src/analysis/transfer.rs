//! Transfer (Mueller et al. 2025 Table 1, footnote 6; docs/formulas.md, "Transfer Δ and
//! significance"): Δ = mean over MTL seeds − mean over STL seeds of a per-run value;
//! significant when the two mean ± 2σ intervals (σ = sample std over seeds, ddof = 1; or the
//! standard error, [`Spread`]) do not overlap. Per metric of each task (`run.json`: accuracy,
//! mIoU, depth error, F1, …, then the loss) on the validation and test splits, and
//! direction-aware: each metric's better side comes from `run.json`, so for a loss or an error a
//! negative Δ is positive transfer; for a similarity probe a positive Δ is an improvement. The
//! one-number summary over a variant's tasks and metrics is Δm ([`super::delta_m`]).
//!
//! Probes are compared twice: at comparable training loss (App. B.4; [`probe_phase_table`],
//! the paper's comparison) and by footnote 6's unbinned whole-trajectory aggregates
//! ([`probe_delta_table`]), which also carry the gap in training loss the bins remove.
use super::aggregates::{transfer_metrics, Aggregate};
use super::comparable_loss::{loss_probe_pairs, phase_ranges, seed_means_in};
use super::factors::{factor_info, Direction, Phase};
use super::significance::{delta_with, Spread, Summary};
use super::Groups;

/// Verdict of a comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transfer {
    /// MTL significantly better.
    Positive,
    /// MTL significantly worse.
    Negative,
    /// Significant change of a quantity with no better side (e.g. a spread).
    Changed,
    /// Intervals overlap (or fewer than 2 seeds on a side).
    None,
}

impl Transfer {
    /// `positive` / `negative` / `changed` / `none`.
    pub fn name(self) -> &'static str {
        match self {
            Transfer::Positive => "positive",
            Transfer::Negative => "negative",
            Transfer::Changed => "changed",
            Transfer::None => "none",
        }
    }
}

/// One row of `tables/transfer.csv` (or of a probe table).
#[derive(Debug, Clone)]
pub struct TransferRow {
    /// MTL variant.
    pub variant: String,
    /// Task.
    pub task: String,
    /// `val_accuracy`, `test_miou`, `test_loss`, or a probe name.
    pub metric: String,
    /// `final`, `top10_val`, `last20`, `max20`, `early_bins`, `end_bins`...
    pub aggregate: String,
    /// STL seeds.
    pub stl: Summary,
    /// MTL seeds.
    pub mtl: Summary,
    /// MTL − STL.
    pub delta: f64,
    /// Δ − 2(s_STL + s_MTL), s = σ or SE.
    pub ci_low: f64,
    /// Δ + 2(s_STL + s_MTL).
    pub ci_high: f64,
    /// The better side of the quantity, if it has one.
    pub direction: Option<Direction>,
    /// Direction-aware verdict.
    pub transfer: Transfer,
}

/// Compare `mtl` with `stl` values; `direction` orients the verdict (None: no better side).
pub fn compare(
    stl: &[f64],
    mtl: &[f64],
    direction: Option<Direction>,
    spread: Spread,
) -> (Summary, Summary, f64, f64, f64, Transfer) {
    let (s, m) = (Summary::of(stl), Summary::of(mtl));
    let (d, lo, hi, sig) = delta_with(&s, &m, spread);
    let t = match (sig, direction.and_then(|dir| dir.improves(d))) {
        (false, _) => Transfer::None,
        (true, Some(true)) => Transfer::Positive,
        (true, Some(false)) => Transfer::Negative,
        (true, None) => Transfer::Changed,
    };
    (s, m, d, lo, hi, t)
}

#[allow(clippy::too_many_arguments)]
fn row(
    variant: &str,
    task: &str,
    metric: &str,
    aggregate: &str,
    stl: &[f64],
    mtl: &[f64],
    direction: Option<Direction>,
    spread: Spread,
) -> TransferRow {
    let (s, m, d, lo, hi, t) = compare(stl, mtl, direction, spread);
    TransferRow {
        variant: variant.into(),
        task: task.into(),
        metric: metric.into(),
        aggregate: aggregate.into(),
        stl: s,
        mtl: m,
        delta: d,
        ci_low: lo,
        ci_high: hi,
        direction,
        transfer: t,
    }
}

/// The aggregates reported in the transfer table (`best_val`: early stopping).
pub const TRANSFER_AGGREGATES: [Aggregate; 4] = [
    Aggregate::Final,
    Aggregate::Top10Val,
    Aggregate::Last20,
    Aggregate::BestVal,
];

/// Transfer rows: every multi-task variant × task with an STL baseline × metric
/// ([`transfer_metrics`]: the task's metrics, then its loss, on val then test) × aggregate.
pub fn transfer_table(groups: &Groups) -> Vec<TransferRow> {
    let mut rows = Vec::new();
    for task in &groups.tasks {
        let (Some(stl), Some(info)) = (groups.stl_for(task), groups.info(task)) else {
            continue;
        };
        for v in groups.mtl_with(task) {
            for metric in transfer_metrics(info) {
                for agg in TRANSFER_AGGREGATES {
                    let sv = stl.metric_values(task, &metric, agg);
                    let mv = v.metric_values(task, &metric, agg);
                    if sv.is_empty() || mv.is_empty() {
                        continue;
                    }
                    rows.push(row(
                        &v.name,
                        task,
                        &metric.name(),
                        agg.name(),
                        &sv,
                        &mv,
                        Some(metric.direction()),
                        groups.spread,
                    ));
                }
            }
        }
    }
    rows
}

/// Footnote 6's unbinned probe deltas: MTL − STL of each probe's whole-trajectory aggregate
/// (sharpness and coherence: last 20; Fisher trace: max 20; similarities: mean), verdict by the
/// probe's direction ([`factor_info`]).
pub fn probe_delta_table(groups: &Groups, probes: &[String]) -> Vec<TransferRow> {
    let mut rows = Vec::new();
    for task in &groups.tasks {
        let Some(stl) = groups.stl_for(task) else {
            continue;
        };
        for v in groups.mtl_with(task) {
            for p in probes {
                let info = factor_info(p);
                let agg = info.footnote6;
                let sv = stl.probe_values(task, p, agg);
                let mv = v.probe_values(task, p, agg);
                if sv.is_empty() || mv.is_empty() {
                    continue;
                }
                rows.push(row(
                    &v.name,
                    task,
                    p,
                    agg.name(),
                    &sv,
                    &mv,
                    info.direction,
                    groups.spread,
                ));
            }
        }
    }
    rows
}

/// A probe compared at comparable training loss.
#[derive(Debug, Clone)]
pub struct ProbePhaseRow {
    /// The comparison (`aggregate` = `early_bins` / `end_bins`).
    pub row: TransferRow,
    /// Phase.
    pub phase: Phase,
    /// Training-loss range of the phase.
    pub loss_low: f64,
    /// Training-loss range of the phase.
    pub loss_high: f64,
}

/// App. B.4's probe comparison: for every probe with a phase (Fisher trace: early; sharpness,
/// coherence: end), each seed's mean probe value over its probe evaluations whose training loss
/// lies in the phase's range (the same ranges as the generalization gap,
/// [`phase_ranges`]), then Δ = MTL − STL with the ±2σ test.
pub fn probe_phase_table(groups: &Groups, probes: &[String]) -> Vec<ProbePhaseRow> {
    let mut rows = Vec::new();
    for task in &groups.tasks {
        let Some(stl) = groups.stl_for(task) else {
            continue;
        };
        for v in groups.mtl_with(task) {
            let ranges = phase_ranges(&stl.runs, &v.runs, task);
            for p in probes {
                let info = factor_info(p);
                let Some(phase) = info.phase else {
                    continue;
                };
                let Some(&(_, lo, hi)) = ranges.iter().find(|r| r.0 == phase) else {
                    continue;
                };
                if stl.runs.iter().all(|r| r.probe(task, p).is_empty())
                    || v.runs.iter().all(|r| r.probe(task, p).is_empty())
                {
                    continue; // the probe was not recorded: no row (an empty phase is a row)
                }
                let pairs = |r: &crate::experiment::store::RunData| loss_probe_pairs(r, task, p);
                let sv = seed_means_in(&stl.runs, pairs, lo, hi);
                let mv = seed_means_in(&v.runs, pairs, lo, hi);
                rows.push(ProbePhaseRow {
                    row: row(
                        &v.name,
                        task,
                        p,
                        &format!("{}_bins", phase.name()),
                        &sv,
                        &mv,
                        info.direction,
                        groups.spread,
                    ),
                    phase,
                    loss_low: lo,
                    loss_high: hi,
                });
            }
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    const HI: Option<Direction> = Some(Direction::HigherIsBetter);
    const LO: Option<Direction> = Some(Direction::LowerIsBetter);

    #[test]
    fn direction_aware_verdicts() {
        // Accuracy: MTL [0.8,0.82,0.84] vs STL [0.7,0.71,0.72] → Δ = 0.11, σ = 0.02 and 0.01,
        // interval Δ ± 0.06 excludes 0 → positive.
        let (s, m) = ([0.7, 0.71, 0.72], [0.8, 0.82, 0.84]);
        let (_, _, d, lo, hi, t) = compare(&s, &m, HI, Spread::Std);
        assert!((d - 0.11).abs() < 1e-12 && (lo - 0.05).abs() < 1e-12 && (hi - 0.17).abs() < 1e-12);
        assert_eq!(t, Transfer::Positive);
        // Same numbers as losses (or sharpness): higher MTL value → negative.
        assert_eq!(compare(&s, &m, LO, Spread::Std).5, Transfer::Negative);
        // No better side: significant, but neither.
        assert_eq!(compare(&s, &m, None, Spread::Std).5, Transfer::Changed);
        // Overlap → none.
        let o = compare(&[0.7, 0.8, 0.9], &[0.75, 0.85, 0.95], HI, Spread::Std);
        assert_eq!(o.5, Transfer::None);
        // One seed each: no σ, no verdict.
        assert_eq!(compare(&[0.7], &[0.9], HI, Spread::Std).5, Transfer::None);
    }
}
