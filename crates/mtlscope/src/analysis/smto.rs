//! SMTO vs UMTG (Mueller et al. 2025 §4.2, Fig. 4; docs/formulas.md, "SMTO vs UMTG").
//!
//! For each SMTO variant (MGDA, PCGrad, GradNorm, ...), its baseline is the UMTG variant with
//! the same task set. Per task and optimization factor — minimum training loss, and each probe's
//! footnote-6 aggregate (sharpness and coherence: last 20; Fisher trace: max 20) — the
//! %Δ = 100 (SMTO − UMTG)/|UMTG| of the seed means, against the %Δ of the generalization: the
//! top-10-val test value of the task's primary metric ([`super::aggregates::primary`]: the
//! paper's test accuracy for FashionMTL, mIoU for segmentation, …), whose better side comes from
//! `run.json`.
//!
//! Each factor has its own better side ([`factor_info`]): lower sharpness is better, a higher
//! cosine or magnitude similarity is better. A point agrees with the paper's hypothesis when
//! optimization and generalization move the same way: both improve, or both degrade (the shaded
//! quadrants). The paper shows only tasks whose generalization changes significantly
//! ("for each task that experiences a significant impact to generalization"): the SMTO and UMTG
//! top-10-val test values' ±2σ intervals are disjoint; the rest are kept, flagged.
use super::aggregates::{primary, Aggregate, Metric};
use super::factors::{factor_info, Direction, MIN_TRAIN_LOSS};
use super::significance::{delta_with, pct_change, Summary};
use super::{Groups, VariantGroup};
use crate::experiment::store::{RunKind, Split};

/// Where a point falls relative to the paper's shaded quadrants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quadrant {
    /// The factor and generalization both improve (shaded green).
    BothImprove,
    /// Both degrade (shaded red).
    BothDegrade,
    /// One improves, the other degrades.
    Opposite,
    /// A change is zero or undefined, or the factor has no better side.
    Undefined,
}

impl Quadrant {
    /// `both_improve` / `both_degrade` / `opposite` / `undefined`.
    pub fn name(self) -> &'static str {
        match self {
            Quadrant::BothImprove => "both_improve",
            Quadrant::BothDegrade => "both_degrade",
            Quadrant::Opposite => "opposite",
            Quadrant::Undefined => "undefined",
        }
    }

    /// The quadrant of (%Δ factor, %Δ generalization) for a factor with `direction` and a
    /// generalization metric with `gen_direction` (accuracy: higher is better).
    pub fn of(
        factor_pct: f64,
        gen_pct: f64,
        direction: Option<Direction>,
        gen_direction: Direction,
    ) -> Quadrant {
        let f = direction.and_then(|d| d.improves(factor_pct));
        let g = gen_direction.improves(gen_pct);
        match (f, g) {
            (Some(true), Some(true)) => Quadrant::BothImprove,
            (Some(false), Some(false)) => Quadrant::BothDegrade,
            (Some(_), Some(_)) => Quadrant::Opposite,
            _ => Quadrant::Undefined,
        }
    }
}

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
    /// The factor's better side (None: it has none, no quadrant).
    pub direction: Option<Direction>,
    /// Drawn as a panel of the SMTO figure ([`super::factors::FactorInfo::smto_panel`]).
    pub panel: bool,
    /// SMTO seed mean of the factor.
    pub smto: f64,
    /// UMTG seed mean of the factor.
    pub umtg: f64,
    /// %Δ factor.
    pub factor_pct: f64,
    /// The generalization metric: the task's primary test metric (`test_accuracy`).
    pub generalization_metric: String,
    /// Its better side.
    pub generalization_direction: Direction,
    /// %Δ of its top-10-val value.
    pub generalization_pct: f64,
    /// SMTO − UMTG of its top-10-val value.
    pub generalization_delta: f64,
    /// The two top-10-val intervals (±2σ or ±2 SE) are disjoint.
    pub generalization_significant: bool,
    /// Where the point falls.
    pub quadrant: Quadrant,
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
    let train_loss = Metric::loss(Split::Train);
    let m = |xs: Vec<f64>| Summary::of(&xs).mean;
    let mut rows = Vec::new();
    for v in groups.variants.iter().filter(|v| v.kind == RunKind::Smto) {
        let Some(u) = baseline_of(groups, v) else {
            continue;
        };
        for task in &v.tasks {
            let Some(info) = groups.info(task) else {
                continue;
            };
            let gen_metric = Metric::new(Split::Test, primary(info));
            let sg = Summary::of(&v.metric_values(task, &gen_metric, Aggregate::Top10Val));
            let ug = Summary::of(&u.metric_values(task, &gen_metric, Aggregate::Top10Val));
            let (gen_delta, _, _, gen_sig) = delta_with(&ug, &sg, groups.spread);
            let gen = pct_change(sg.mean, ug.mean);
            let mut factors = vec![(
                MIN_TRAIN_LOSS.to_string(),
                Aggregate::Min,
                m(v.metric_values(task, &train_loss, Aggregate::Min)),
                m(u.metric_values(task, &train_loss, Aggregate::Min)),
            )];
            for p in probes {
                // Conflict is measured against the UMTG gradient, which an SMTO does not follow.
                if p == super::conflict::CONFLICT_PROBE {
                    continue;
                }
                let agg = factor_info(p).footnote6;
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
                let info = factor_info(&factor);
                let factor_pct = pct_change(s, b);
                rows.push(SmtoRow {
                    variant: v.name.clone(),
                    baseline: u.name.clone(),
                    task: task.clone(),
                    aggregate: agg.name().into(),
                    direction: info.direction,
                    panel: info.smto_panel && info.direction.is_some(),
                    smto: s,
                    umtg: b,
                    factor_pct,
                    generalization_metric: gen_metric.name(),
                    generalization_direction: gen_metric.direction(),
                    generalization_pct: gen,
                    generalization_delta: gen_delta,
                    generalization_significant: gen_sig,
                    quadrant: Quadrant::of(factor_pct, gen, info.direction, gen_metric.direction()),
                    factor,
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
    fn quadrants_follow_each_factors_direction() {
        let lo = Some(Direction::LowerIsBetter);
        let hi = Some(Direction::HigherIsBetter);
        const HI: Direction = Direction::HigherIsBetter;
        // Sharpness down 10 %, accuracy up 2 %: both improve.
        assert_eq!(Quadrant::of(-10.0, 2.0, lo, HI), Quadrant::BothImprove);
        // A cosine similarity down 10 % is worse agreement: with accuracy up, opposite.
        assert_eq!(Quadrant::of(-10.0, 2.0, hi, HI), Quadrant::Opposite);
        // Cosine up 10 % (better agreement) and accuracy up: both improve.
        assert_eq!(Quadrant::of(10.0, 2.0, hi, HI), Quadrant::BothImprove);
        assert_eq!(Quadrant::of(-10.0, -2.0, hi, HI), Quadrant::BothDegrade);
        assert_eq!(Quadrant::of(10.0, -2.0, lo, HI), Quadrant::BothDegrade);
        assert_eq!(Quadrant::of(10.0, -2.0, None, HI), Quadrant::Undefined);
        assert_eq!(Quadrant::of(0.0, 2.0, lo, HI), Quadrant::Undefined);
        // A generalization metric that is better low (depth error): a drop of 2 % improves.
        let err = Direction::LowerIsBetter;
        assert_eq!(Quadrant::of(-10.0, -2.0, lo, err), Quadrant::BothImprove);
        assert_eq!(Quadrant::of(-10.0, 2.0, lo, err), Quadrant::Opposite);
    }
}
