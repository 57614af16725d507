use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

/// Optimizers (`optim.name`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimName {
    /// SGD, with optional (Nesterov) momentum.
    Sgd,
    /// Adam (Kingma & Ba 2015), L2 weight decay added to the gradient.
    Adam,
    /// AdamW (Loshchilov & Hutter 2019), decoupled weight decay.
    Adamw,
}

/// `[optim]`. The learning rate is constant, as in Mueller et al. (2025).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OptimConfig {
    /// `sgd`, `adam` or `adamw`.
    pub name: OptimName,
    /// Learning rate.
    pub lr: f64,
    /// SGD momentum (0 = plain SGD).
    pub momentum: f64,
    /// Nesterov momentum (SGD).
    pub nesterov: bool,
    /// Weight decay (L2 for sgd/adam, decoupled for adamw).
    pub weight_decay: f64,
    /// Adam's (β1, β2).
    pub betas: [f64; 2],
    /// Adam's ε.
    pub eps: f64,
}

impl Default for OptimConfig {
    fn default() -> Self {
        Self {
            name: OptimName::Adam,
            lr: 1e-3,
            momentum: 0.0,
            nesterov: false,
            weight_decay: 0.0,
            betas: [0.9, 0.999],
            eps: 1e-8,
        }
    }
}

impl OptimConfig {
    pub(super) fn validate(&self) -> Result<()> {
        if !(self.lr.is_finite() && self.lr > 0.0) {
            bail!("optim.lr must be a finite number > 0, got {}", self.lr);
        }
        if !(0.0..1.0).contains(&self.momentum) {
            bail!("optim.momentum must be in [0, 1), got {}", self.momentum);
        }
        if self.nesterov && (self.name != OptimName::Sgd || self.momentum == 0.0) {
            bail!("optim.nesterov needs optim.name = \"sgd\" and optim.momentum > 0");
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            bail!("optim.weight_decay must be >= 0, got {}", self.weight_decay);
        }
        for (i, b) in self.betas.iter().enumerate() {
            if !(0.0..1.0).contains(b) {
                bail!("optim.betas[{i}] must be in [0, 1), got {b}");
            }
        }
        if !(self.eps.is_finite() && self.eps > 0.0) {
            bail!("optim.eps must be > 0, got {}", self.eps);
        }
        Ok(())
    }
}
