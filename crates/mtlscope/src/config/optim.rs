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
    /// signSGD (Bernstein et al. 2018); Signum when `momentum > 0`.
    Signsgd,
    /// AdaTask (Yang et al. 2023): Adam moments per task for the shared parameters.
    Adatask,
}

/// Learning-rate schedules (`optim.lr_schedule`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LrScheduleKind {
    /// `optim.lr` throughout, as in Mueller et al. (2025).
    Constant,
    /// `lr · lr_gamma^⌊epoch / lr_step_epochs⌋` (`torch.optim.lr_scheduler.StepLR`).
    Step,
}

/// `[optim]`. The learning rate is constant by default, as in Mueller et al. (2025).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OptimConfig {
    /// `sgd`, `adam`, `adamw`, `signsgd` or `adatask`.
    pub name: OptimName,
    /// Learning rate (the base rate when scheduled).
    pub lr: f64,
    /// `constant` or `step`.
    pub lr_schedule: LrScheduleKind,
    /// `step` schedule: epochs between decays.
    pub lr_step_epochs: usize,
    /// `step` schedule: factor per decay.
    pub lr_gamma: f64,
    /// SGD momentum, or Signum's β for `signsgd` (0 = none).
    pub momentum: f64,
    /// Nesterov momentum (SGD).
    pub nesterov: bool,
    /// Weight decay (L2 for sgd/adam, decoupled for adamw and signsgd; none for adatask).
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
            lr_schedule: LrScheduleKind::Constant,
            // Elich et al. halve the rate every 100 epochs.
            lr_step_epochs: 100,
            lr_gamma: 0.5,
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
        if self.lr_step_epochs < 1 {
            bail!(
                "optim.lr_step_epochs must be >= 1, got {}",
                self.lr_step_epochs
            );
        }
        if !(self.lr_gamma > 0.0 && self.lr_gamma <= 1.0) {
            bail!("optim.lr_gamma must be in (0, 1], got {}", self.lr_gamma);
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
        if self.name == OptimName::Adatask && self.weight_decay > 0.0 {
            // Yang et al.'s optimizer takes weight_decay but never applies it; we do not guess.
            bail!(
                "optim.weight_decay must be 0 with optim.name = \"adatask\" (AdaTask defines none), got {}",
                self.weight_decay
            );
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

#[cfg(test)]
mod tests {
    use super::*;

    fn err(f: impl FnOnce(&mut OptimConfig)) -> String {
        let mut c = OptimConfig::default();
        f(&mut c);
        format!("{:#}", c.validate().unwrap_err())
    }

    #[test]
    fn schedule_and_new_optimizer_keys_are_checked_by_name() {
        assert!(OptimConfig::default().validate().is_ok());
        assert!(err(|c| c.lr_step_epochs = 0).contains("optim.lr_step_epochs"));
        assert!(err(|c| c.lr_gamma = 0.0).contains("optim.lr_gamma"));
        assert!(err(|c| c.lr_gamma = 1.5).contains("optim.lr_gamma"));
        assert!(err(|c| c.lr_gamma = f64::NAN).contains("optim.lr_gamma"));
        let e = err(|c| {
            c.name = OptimName::Adatask;
            c.weight_decay = 1e-4;
        });
        assert!(
            e.contains("optim.weight_decay") && e.contains("adatask"),
            "{e}"
        );
        let mut c = OptimConfig {
            lr_gamma: 1.0,
            lr_step_epochs: 1,
            ..Default::default()
        };
        c.validate().unwrap();
        c.name = OptimName::Signsgd;
        c.momentum = 0.9;
        c.weight_decay = 0.1;
        c.validate().unwrap();
    }

    #[test]
    fn names_and_schedules_parse_from_toml() {
        let c: OptimConfig = toml::from_str(
            "name = \"signsgd\"\nlr_schedule = \"step\"\nlr_step_epochs = 100\nlr_gamma = 0.5",
        )
        .unwrap();
        assert_eq!(c.name, OptimName::Signsgd);
        assert_eq!(c.lr_schedule, LrScheduleKind::Step);
        let c: OptimConfig = toml::from_str("name = \"adatask\"").unwrap();
        assert_eq!(c.name, OptimName::Adatask);
        assert!(toml::from_str::<OptimConfig>("lr_schedule = \"cosine\"").is_err());
    }
}
