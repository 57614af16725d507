use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

/// Probe names accepted in `probes.which` (each may write several rows; see `docs/run-format.md`).
pub const PROBE_NAMES: [&str; 4] = ["sharpness", "fim_trace", "coherence", "conflict"];

/// `[probes]`: trajectory probes (Mueller et al. 2025, §4–§5, App. B; docs/formulas.md,
/// "Trajectory probes") measured at evaluation points on a fixed subset S_k of each task's training set.
///
/// Defaults are the paper's constants. Probes are on by default: a run records them at every
/// evaluation unless `probes.enabled = false`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProbesConfig {
    /// Master switch.
    pub enabled: bool,
    /// Probe every N-th evaluation (evaluation 0 = before the first step is always probed).
    pub every: usize,
    /// Seed of the probe subsets, batch orders and sampled labels; independent of `train.seed`.
    pub seed: u64,
    /// |S_k|: training examples per task the probes use (capped at the training set size).
    pub subset: usize,
    /// Which probes run: any of `sharpness`, `fim_trace`, `coherence`, `conflict`.
    pub which: Vec<String>,
    /// Probes (of `which`) that also run at every evaluation of the first epoch, between the
    /// `every`-th ones: the early phase where App. B.4 compares the Fisher trace, which sparse
    /// probing misses (e.g. `["fim_trace"]`). Empty by default.
    pub early_which: Vec<String>,
    /// ρ, the radius of the perturbation ball.
    pub sharpness_rho: f64,
    /// |B| of the sharpness batches.
    pub sharpness_batch: usize,
    /// Projected gradient ascent steps per batch.
    pub sharpness_steps: usize,
    /// Ascent step length η, in units of ρ (1.0: the first step lands on the ball's boundary
    /// along the normalised gradient, the one-step SAM solution; later steps refine it).
    pub sharpness_step_size: f64,
    /// Adaptive (elementwise |w|-scaled) ball; `false` gives the plain ℓ2 ball.
    pub sharpness_adaptive: bool,
    /// |B| of the Fisher mini-batches.
    pub fim_batch: usize,
    /// Label draws from the model's predictive distribution per mini-batch.
    pub fim_draws: usize,
    /// b: small-batch size of the gradient-noise (coherence) estimator.
    pub coherence_batch: usize,
    /// k: disjoint small batches; the large batch is their union (B = k·b).
    pub coherence_batches: usize,
    /// |B| of the batches whose task gradients are compared with the UMTG.
    pub conflict_batch: usize,
    /// Number of such batches (n in Mueller et al. Eq. 6).
    pub conflict_batches: usize,
    /// Examples per task whose per-example gradients give the inter-task and inter-sample
    /// similarity statistics (Elich et al. §5).
    pub conflict_samples: usize,
    /// Elich et al.'s training-time protocol (§4.2, App. A3.2; `probe::similarity`): measure
    /// inter-task and inter-sample gradient similarity on every N-th training step's batches
    /// and summarise per epoch in `similarity.csv`. 0 (the default) is off; Elich use 5.
    pub similarity_every: usize,
    /// Examples drawn from each measured step's batch (Elich: 8).
    pub similarity_samples: usize,
    /// Tasks drawn at each measured step when there are more (Elich: 8).
    pub similarity_tasks: usize,
}

impl Default for ProbesConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            every: 1,
            seed: 0,
            subset: 2048,
            which: PROBE_NAMES.iter().map(|s| s.to_string()).collect(),
            early_which: Vec::new(),
            sharpness_rho: 1e-3,
            sharpness_batch: 128,
            sharpness_steps: 20,
            sharpness_step_size: 1.0,
            sharpness_adaptive: true,
            fim_batch: 16,
            fim_draws: 4,
            coherence_batch: 128,
            coherence_batches: 16,
            conflict_batch: 128,
            conflict_batches: 16,
            conflict_samples: 128,
            similarity_every: 0,
            similarity_samples: 8,
            similarity_tasks: 8,
        }
    }
}

impl ProbesConfig {
    /// True when probe `name` is listed in `which` (and probes are enabled).
    pub fn runs(&self, name: &str) -> bool {
        self.enabled && self.which.iter().any(|w| w == name)
    }

    pub(super) fn validate(&self) -> Result<()> {
        let positive = [
            ("every", self.every),
            ("subset", self.subset),
            ("sharpness_batch", self.sharpness_batch),
            ("sharpness_steps", self.sharpness_steps),
            ("fim_batch", self.fim_batch),
            ("fim_draws", self.fim_draws),
            ("coherence_batch", self.coherence_batch),
            ("conflict_batch", self.conflict_batch),
            ("conflict_batches", self.conflict_batches),
        ];
        for (key, v) in positive {
            if v == 0 {
                bail!("probes.{key} must be >= 1, got 0");
            }
        }
        // One example leaves coherence and the inter-sample statistics undefined: refuse it
        // rather than silently dropping those probes.
        if self.subset < 2 {
            bail!(
                "probes.subset must be >= 2 (gradient coherence and the inter-sample conflict statistics need two examples), got {}",
                self.subset
            );
        }
        // Two batch sizes b < B are what separates noise from signal (McCandlish et al. 2018).
        if self.coherence_batches < 2 {
            bail!(
                "probes.coherence_batches must be >= 2, got {}",
                self.coherence_batches
            );
        }
        if self.conflict_samples < 2 {
            bail!(
                "probes.conflict_samples must be >= 2, got {}",
                self.conflict_samples
            );
        }
        if self.similarity_samples < 2 {
            bail!(
                "probes.similarity_samples must be >= 2 (inter-sample pairs need two examples), got {}",
                self.similarity_samples
            );
        }
        if self.similarity_tasks == 0 {
            bail!("probes.similarity_tasks must be >= 1, got 0");
        }
        for (key, v) in [
            ("sharpness_rho", self.sharpness_rho),
            ("sharpness_step_size", self.sharpness_step_size),
        ] {
            if !(v.is_finite() && v > 0.0) {
                bail!("probes.{key} must be > 0, got {v}");
            }
        }
        for w in &self.early_which {
            if !self.which.contains(w) {
                bail!(
                    "probes.early_which: `{w}` is not in probes.which ({})",
                    self.which.join(", ")
                );
            }
        }
        for w in &self.which {
            if !PROBE_NAMES.contains(&w.as_str()) {
                bail!(
                    "probes.which: unknown probe `{w}`; known: {}",
                    PROBE_NAMES.join(", ")
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::config::RunConfig;

    fn err(ov: &str) -> String {
        format!(
            "{:#}",
            RunConfig::from_toml_str("", &[ov.to_string()]).unwrap_err()
        )
    }

    #[test]
    fn bad_values_name_their_key() {
        assert!(err("probes.sharpness_rho=-1").contains("probes.sharpness_rho must be > 0, got -1"));
        assert!(err("probes.fim_batch=0").contains("probes.fim_batch must be >= 1, got 0"));
        assert!(err("probes.coherence_batches=1").contains("probes.coherence_batches"));
        let e = err("probes.which=[\"sharpnes\"]");
        assert!(
            e.contains("sharpnes") && e.contains("known: sharpness"),
            "{e}"
        );
        assert!(err("probes.sharpness_iters=3").contains("probes.sharpness_iters"));
        assert!(err("probes.early_which=[\"sharpnes\"]").contains("probes.early_which"));
        assert!(err("probes.similarity_samples=1").contains("probes.similarity_samples"));
        assert!(err("probes.similarity_tasks=0").contains("probes.similarity_tasks"));
    }

    #[test]
    fn defaults_are_the_papers_constants_and_switch_off() {
        let cfg = RunConfig::default().probes;
        assert!(cfg.enabled && cfg.every == 1 && cfg.subset == 2048);
        assert_eq!((cfg.sharpness_rho, cfg.sharpness_batch), (1e-3, 128));
        assert_eq!((cfg.sharpness_steps, cfg.fim_batch), (20, 16));
        assert!(cfg.runs("conflict"));
        let off = RunConfig::from_toml_str("", &["probes.enabled=false".into()]).unwrap();
        assert!(!off.probes.runs("sharpness"));
    }
}
