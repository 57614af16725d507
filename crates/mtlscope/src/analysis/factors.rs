//! What the analyses know about each optimization factor (a probe of `probes.csv`, or the
//! minimum training loss): which direction is better, the loss phase in which Mueller et al.
//! (2025, App. B.4) compare it, and footnote 6's whole-trajectory aggregate. This table is the
//! only place in `analysis/` and `report/` that reads meaning into a probe name
//! (docs/formulas.md, "Probe facts used by the analyses").
//!
//! Directions: sharpness, Fisher trace and gradient covariance are better low (flatter, no
//! early explosion, coherent gradients: §4, App. B); a cosine or magnitude similarity is better
//! high (more agreement, less conflict: Eq. 6, Elich et al. §5); a conflict share is better low.
//! Spreads (`_std`) and ‖G‖² (`coherence_grad_sq`) have no better side.
use super::aggregates::Aggregate;

/// Which side of a factor is the better one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Smaller is better (loss, sharpness, Fisher trace, covariance, conflict share).
    LowerIsBetter,
    /// Larger is better (cosine / magnitude similarity, accuracy, mIoU).
    HigherIsBetter,
}

impl Direction {
    /// `lower` / `higher` (the better side), for tables.
    pub fn name(self) -> &'static str {
        match self {
            Direction::LowerIsBetter => "lower",
            Direction::HigherIsBetter => "higher",
        }
    }

    /// Whether a change `delta` (new − baseline) is an improvement; None for 0 or NaN.
    pub fn improves(self, delta: f64) -> Option<bool> {
        if !(delta.is_finite() && delta != 0.0) {
            return None;
        }
        Some((delta > 0.0) == (self == Direction::HigherIsBetter))
    }
}

/// A metric's direction as `run.json` records it.
impl From<crate::task::Direction> for Direction {
    fn from(d: crate::task::Direction) -> Self {
        match d {
            crate::task::Direction::Higher => Direction::HigherIsBetter,
            crate::task::Direction::Lower => Direction::LowerIsBetter,
        }
    }
}

/// The loss phase in which App. B.4 compares a factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Early training (bins 2–5 of 20): the Fisher-trace "explosion".
    Early,
    /// End of training (lowest bins set by the trajectory with the highest minimum loss):
    /// sharpness and gradient covariance near convergence.
    End,
}

impl Phase {
    /// `early` / `end`.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Early => "early",
            Phase::End => "end",
        }
    }
}

/// Facts about one factor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FactorInfo {
    /// The better side, if any.
    pub direction: Option<Direction>,
    /// The App. B.4 phase (None: not compared at comparable loss).
    pub phase: Option<Phase>,
    /// Footnote 6's one number per trajectory (unbinned).
    pub footnote6: Aggregate,
    /// One of the factors of the paper's Fig. 4 / Table 1 (sharpness, FIM, coherence, min loss).
    pub paper_factor: bool,
    /// Drawn as a panel of the SMTO figure: the paper's factors and the mean of each similarity
    /// statistic (the other summaries stay in the tables).
    pub smto_panel: bool,
}

const fn info(
    direction: Option<Direction>,
    phase: Option<Phase>,
    footnote6: Aggregate,
    paper_factor: bool,
) -> FactorInfo {
    FactorInfo {
        direction,
        phase,
        footnote6,
        paper_factor,
        smto_panel: paper_factor,
    }
}

use Direction::{HigherIsBetter as Hi, LowerIsBetter as Lo};

/// Factor name of the minimum training loss (§4.2).
pub const MIN_TRAIN_LOSS: &str = "min_train_loss";

/// Exactly named factors.
const NAMED: [(&str, FactorInfo); 7] = [
    (MIN_TRAIN_LOSS, info(Some(Lo), None, Aggregate::Min, true)),
    (
        "sharpness",
        info(Some(Lo), Some(Phase::End), Aggregate::Last20, true),
    ),
    (
        "fim_trace",
        info(Some(Lo), Some(Phase::Early), Aggregate::Max20, true),
    ),
    (
        "fim_trace_empirical",
        info(Some(Lo), Some(Phase::Early), Aggregate::Max20, false),
    ),
    (
        "coherence",
        info(Some(Lo), Some(Phase::End), Aggregate::Last20, true),
    ),
    (
        "coherence_grad_sq",
        info(None, Some(Phase::End), Aggregate::Last20, false),
    ),
    // §5: conflict is a property of the whole trajectory, averaged over training.
    (
        "conflict_cos_umtg",
        info(Some(Hi), None, Aggregate::Mean, false),
    ),
];

/// `conflict_neg_pairs` and the Elich et al. families `inter{task,sample}_<stat>_<summary>`.
fn family(name: &str) -> Option<FactorInfo> {
    if name == "conflict_neg_pairs" {
        return Some(info(Some(Lo), None, Aggregate::Mean, false));
    }
    let rest = name
        .strip_prefix("intertask_")
        .or_else(|| name.strip_prefix("intersample_"))?;
    let (stat, summary) = rest.rsplit_once('_')?;
    let better = match stat {
        "cos" | "magsim" => Hi,
        "conflict_ratio" => Lo,
        _ => return None,
    };
    let direction = match summary {
        "mean" | "p2.5" | "p97.5" => Some(better),
        "std" => None,
        _ => return None,
    };
    let mut i = info(direction, None, Aggregate::Mean, false);
    i.smto_panel = summary == "mean";
    Some(i)
}

/// Facts about `name`; an unknown probe gets no direction, no phase and `last20`.
pub fn factor_info(name: &str) -> FactorInfo {
    NAMED
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, i)| *i)
        .or_else(|| family(name))
        .unwrap_or(info(None, None, Aggregate::Last20, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directions_and_phases() {
        assert_eq!(factor_info("fim_trace").phase, Some(Phase::Early));
        assert_eq!(factor_info("fim_trace").footnote6, Aggregate::Max20);
        assert_eq!(factor_info("sharpness").phase, Some(Phase::End));
        assert_eq!(factor_info("coherence").footnote6, Aggregate::Last20);
        assert_eq!(
            factor_info("intersample_cos_mean").direction,
            Some(Direction::HigherIsBetter)
        );
        assert_eq!(
            factor_info("intertask_magsim_p2.5").direction,
            Some(Direction::HigherIsBetter)
        );
        assert_eq!(
            factor_info("intertask_conflict_ratio_mean").direction,
            Some(Direction::LowerIsBetter)
        );
        assert_eq!(factor_info("intertask_cos_std").direction, None);
        assert_eq!(
            factor_info("conflict_cos_umtg").direction,
            Some(Direction::HigherIsBetter)
        );
        assert_eq!(factor_info("something_new").direction, None);
        assert!(factor_info(MIN_TRAIN_LOSS).paper_factor);
        // A higher cosine is an improvement; a higher sharpness is not.
        assert_eq!(Direction::HigherIsBetter.improves(0.1), Some(true));
        assert_eq!(Direction::LowerIsBetter.improves(0.1), Some(false));
        assert_eq!(Direction::LowerIsBetter.improves(-0.1), Some(true));
        assert_eq!(Direction::LowerIsBetter.improves(0.0), None);
        assert_eq!(Direction::LowerIsBetter.improves(f64::NAN), None);
    }
}
