use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

/// How the task losses become one update (`objective.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ObjectiveKind {
    /// Uniform multi-task gradient, C · Σ_k ∇L_k (Mueller et al. 2025, Eq. 2).
    Umtg,
}

/// `reduction` of the UMTG: `sum` (C · Σ L_k) or `mean` (C · mean_k L_k).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reduction {
    /// C · Σ_k L_k (the paper's setting with C = 1).
    Sum,
    /// C · (1/K) Σ_k L_k.
    Mean,
}

/// `[objective]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ObjectiveConfig {
    /// The objective family.
    pub kind: ObjectiveKind,
    /// UMTG reduction.
    pub reduction: Reduction,
    /// UMTG scale factor C.
    pub scale: f64,
}

impl Default for ObjectiveConfig {
    fn default() -> Self {
        Self {
            kind: ObjectiveKind::Umtg,
            reduction: Reduction::Sum,
            scale: 1.0,
        }
    }
}

impl ObjectiveConfig {
    pub(super) fn validate(&self, _n_tasks: usize) -> Result<()> {
        if !(self.scale.is_finite() && self.scale > 0.0) {
            bail!(
                "objective.scale must be a finite number > 0, got {}",
                self.scale
            );
        }
        Ok(())
    }
}
