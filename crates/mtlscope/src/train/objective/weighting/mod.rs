//! Loss weightings (`kind = "weighting"`): methods that change the scalar objective
//! Σ_k w_k L_k (one backward pass), each per its paper, one file per method.
//!
//! | name | paper | weights |
//! | --- | --- | --- |
//! | `uw` | Kendall et al. 2018, Eq. 10 | learned log-variances s_k: Σ (e^{-s_k} L_k + s_k)/2 |
//! | `uw_o` | Elich et al. 2024, §4 | 1/(2 L_k), stop-gradient (UW at its analytic optimum) |
//! | `gradnorm` | Chen et al. 2018, Eq. 1-2 | learned, equalising ‖∇_W w_k L_k‖ at rate α |
//! | `dwa` | Liu et al. 2019, Eq. 7 | K softmax(r/T), r = ratio of the last two epoch losses |
//! | `rlw` | Lin et al. 2022, §3 | softmax of N(0, I) draws, each step |
//! | `famo` | Liu et al. 2023, Alg. 1 | softmax(ξ), ξ adapted to equalise log-loss decrease |
//! | `imtl_l` | Liu et al. 2021, §3.1 | learned scales s_k: Σ (e^{s_k} L_k − s_k) |
//! | `db_mtl` | Lin et al. 2023, Alg. 1 | log-losses, EMA gradients balanced to the largest norm |
//!
//! Learnable weighting parameters have their own Adam (`weight_lr`) and are checkpointed
//! with the method's other state.

pub mod db_mtl;
pub mod dwa;
pub mod famo;
pub mod gradnorm;
pub mod imtl_l;
pub mod rlw;
pub mod uw;
pub mod uw_o;

use anyhow::{anyhow, bail, Result};
use std::collections::HashMap;
use tch::{Kind, Tensor};

use super::{check_finite, forward_losses, Batch, Objective, Quantity, StepOutput};
use crate::model::MultiTaskNet;

/// What a weighting sees at a step.
pub struct Ctx<'a> {
    /// The network (GradNorm needs its last shared layer).
    pub net: &'a MultiTaskNet,
    /// Step index (0-based).
    pub step: usize,
    /// Steps per epoch (DWA works on epoch averages).
    pub steps_per_epoch: usize,
}

/// A loss weighting.
pub trait LossWeighting: Send {
    /// The scalar the model is trained on (graph attached) and the weights to log.
    fn combine(&mut self, losses: &[Tensor], ctx: &Ctx) -> Result<(Tensor, Vec<f64>)>;
    /// Learnable tensors the scalar depends on; their gradients come from the same backward.
    fn learnable(&self) -> Vec<Tensor> {
        Vec::new()
    }
    /// Receives the gradients of [`LossWeighting::learnable`] and updates them.
    fn update(&mut self, _grads: &[Tensor]) {}
    /// After the model's optimizer step (FAMO re-measures the losses here).
    fn after_step(
        &mut self,
        _net: &MultiTaskNet,
        _batches: &[Batch],
        _losses_before: &Tensor,
    ) -> Result<()> {
        Ok(())
    }
    /// State to checkpoint.
    fn state(&self) -> Vec<(String, Tensor)>;
    /// Restores [`LossWeighting::state`].
    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()>;
}

/// Registry entry of a loss weighting.
pub struct WeightingInfo {
    /// Name.
    pub name: &'static str,
    /// One line with the paper.
    pub description: &'static str,
    /// Parameters: (name, default, meaning).
    pub params: &'static [(&'static str, &'static str, &'static str)],
}

/// Every loss weighting, for `mtlscope methods` and config checking.
pub const WEIGHTINGS: &[WeightingInfo] = &[
    WeightingInfo {
        name: "uw",
        description: "uncertainty weighting, learned log-variances (Kendall et al. 2018)",
        params: &[(
            "weight_lr",
            "0.001",
            "Adam learning rate of the log-variances (> 0)",
        )],
    },
    WeightingInfo {
        name: "uw_o",
        description:
            "uncertainty weighting at its analytic optimum, w_k = 1/(2 L_k) (Elich et al. 2024)",
        params: &[],
    },
    WeightingInfo {
        name: "gradnorm",
        description:
            "GradNorm: learned weights equalising weighted gradient norms (Chen et al. 2018)",
        params: &[
            ("alpha", "1.5", "asymmetry α (>= 0)"),
            (
                "weight_lr",
                "0.025",
                "Adam learning rate of the weights (> 0)",
            ),
        ],
    },
    WeightingInfo {
        name: "dwa",
        description: "dynamic weight average over epoch losses (Liu et al. 2019)",
        params: &[("temperature", "2.0", "softmax temperature T (> 0)")],
    },
    WeightingInfo {
        name: "rlw",
        description: "random loss weights, softmax of normal draws each step (Lin et al. 2022)",
        params: &[("seed", "0", "seed of the draws (integer >= 0)")],
    },
    WeightingInfo {
        name: "famo",
        description: "fast adaptive multitask optimization (Liu et al. 2023)",
        params: &[
            (
                "weight_lr",
                "0.025",
                "Adam learning rate of the logits (> 0)",
            ),
            ("gamma", "0.001", "weight decay of the logits (>= 0)"),
        ],
    },
    WeightingInfo {
        name: "db_mtl",
        description:
            "DB-MTL: log-loss gradients, EMA, magnitudes balanced to the largest (Lin et al. 2023)",
        params: &[
            ("beta", "0.9", "EMA factor β in [0, 1)"),
            ("beta_sigma", "0.5", "decay exponent σ of β / t^σ (>= 0)"),
        ],
    },
    WeightingInfo {
        name: "imtl_l",
        description: "IMTL-L: learned loss scales, sum of e^s L - s (Liu et al. 2021)",
        params: &[(
            "weight_lr",
            "0.001",
            "Adam learning rate of the scales (> 0)",
        )],
    },
];

/// Typed access to a weighting's parameters with defaults and checks that name the key.
pub struct Params<'a> {
    info: &'static WeightingInfo,
    given: &'a [(String, String)],
}

impl Params<'_> {
    fn raw(&self, key: &str) -> &str {
        self.given
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .or_else(|| self.info.params.iter().find(|p| p.0 == key).map(|p| p.1))
            .expect("parameter registered")
    }

    /// A finite number satisfying `ok`, else an error `method.key must be …, got …`.
    pub fn f64(&self, key: &str, ok: fn(f64) -> bool, rule: &str) -> Result<f64> {
        let raw = self.raw(key);
        let v: f64 = raw
            .parse()
            .map_err(|_| anyhow!("{}.{key} must be a number, got {raw}", self.info.name))?;
        if !v.is_finite() || !ok(v) {
            bail!("{}.{key} must be {rule}, got {raw}", self.info.name);
        }
        Ok(v)
    }

    /// A non-negative integer.
    pub fn u64(&self, key: &str) -> Result<u64> {
        let raw = self.raw(key);
        raw.parse().map_err(|_| {
            anyhow!(
                "{}.{key} must be an integer >= 0, got {raw}",
                self.info.name
            )
        })
    }
}

/// Builds the loss weighting `name` for `k` tasks as a trainer objective.
pub fn build_objective(
    name: &str,
    params: &[(String, String)],
    k: usize,
    steps_per_epoch: usize,
    log_every: usize,
) -> Result<Box<dyn Objective>> {
    if name == "db_mtl" {
        let p = checked(name, params)?;
        let beta = p.f64("beta", |v| (0.0..1.0).contains(&v), "in [0, 1)")?;
        let sigma = p.f64("beta_sigma", |v| v >= 0.0, ">= 0")?;
        return Ok(Box::new(db_mtl::DbMtl::new(beta, sigma, log_every)));
    }
    Ok(Box::new(Weighted::new(
        build(name, params, k)?,
        steps_per_epoch,
        log_every,
    )))
}

fn checked<'a>(name: &str, params: &'a [(String, String)]) -> Result<Params<'a>> {
    let info = WEIGHTINGS.iter().find(|w| w.name == name).ok_or_else(|| {
        let known: Vec<&str> = WEIGHTINGS.iter().map(|w| w.name).collect();
        anyhow!(
            "unknown loss weighting `{name}`; known: {}",
            known.join(", ")
        )
    })?;
    for (key, _) in params {
        if !info.params.iter().any(|p| p.0 == key) {
            let known: Vec<&str> = info.params.iter().map(|p| p.0).collect();
            bail!(
                "unknown parameter `{key}` of {name}; known: {}",
                if known.is_empty() {
                    "none".into()
                } else {
                    known.join(", ")
                }
            );
        }
    }
    Ok(Params {
        info,
        given: params,
    })
}

/// Builds the scalar loss weighting `name` for `k` tasks (every weighting but `db_mtl`, which
/// needs the Jacobian and is built by [`build_objective`]).
pub fn build(name: &str, params: &[(String, String)], k: usize) -> Result<Box<dyn LossWeighting>> {
    let p = checked(name, params)?;
    let pos = |v: f64| v > 0.0;
    let nonneg = |v: f64| v >= 0.0;
    Ok(match name {
        "uw" => Box::new(uw::Uw::new(k, p.f64("weight_lr", pos, "> 0")?)),
        "uw_o" => Box::new(uw_o::UwO),
        "gradnorm" => Box::new(gradnorm::GradNorm::new(
            k,
            p.f64("alpha", nonneg, ">= 0")?,
            p.f64("weight_lr", pos, "> 0")?,
        )),
        "dwa" => Box::new(dwa::Dwa::new(k, p.f64("temperature", pos, "> 0")?)),
        "rlw" => Box::new(rlw::Rlw::new(p.u64("seed")?)),
        "famo" => Box::new(famo::Famo::new(
            k,
            p.f64("weight_lr", pos, "> 0")?,
            p.f64("gamma", nonneg, ">= 0")?,
        )),
        "imtl_l" => Box::new(imtl_l::ImtlL::new(k, p.f64("weight_lr", pos, "> 0")?)),
        other => bail!("{other} is not a scalar loss weighting (it needs the Jacobian)"),
    })
}

/// Σ_k w_k L_k with constant weights.
pub fn weighted_sum(losses: &[Tensor], w: &[f64]) -> Tensor {
    losses
        .iter()
        .zip(w)
        .map(|(l, wk)| l * *wk)
        .reduce(|a, b| a + b)
        .expect("at least one task")
}

/// A learnable vector of `k` entries, initialised to `value`.
pub fn learnable(k: usize, value: f64) -> Tensor {
    Tensor::full([k as i64], value, (Kind::Double, tch::Device::Cpu)).set_requires_grad(true)
}

/// The trainer-facing objective around a loss weighting.
pub struct Weighted {
    inner: Box<dyn LossWeighting>,
    steps_per_epoch: usize,
    log_every: usize,
}

impl Weighted {
    /// Wraps a built weighting.
    pub fn new(inner: Box<dyn LossWeighting>, steps_per_epoch: usize, log_every: usize) -> Self {
        Self {
            inner,
            steps_per_epoch,
            log_every,
        }
    }
}

impl Objective for Weighted {
    fn step(&mut self, net: &MultiTaskNet, batches: &[Batch], step: usize) -> Result<StepOutput> {
        let losses = forward_losses(net, batches);
        // Before the weighting sees them: log-losses and ratios of NaN fail as bad input.
        let stacked = Tensor::stack(&losses, 0).detach();
        check_finite(&stacked, "loss")?;
        let ctx = Ctx {
            net,
            step,
            steps_per_epoch: self.steps_per_epoch,
        };
        let (total, weights) = self.inner.combine(&losses, &ctx)?;
        let params = net.params();
        let extra = self.inner.learnable();
        let inputs: Vec<&Tensor> = params.iter().chain(extra.iter()).collect();
        let mut grads = Tensor::run_backward(&[&total], &inputs, false, false);
        let extra_grads = grads.split_off(params.len());
        self.inner.update(&extra_grads);
        let losses = stacked;
        let log = self.log_every > 0 && (step + 1).is_multiple_of(self.log_every);
        let quantities = if log {
            weights
                .iter()
                .enumerate()
                .map(|(k, w)| Quantity {
                    name: "weight",
                    task: Some(k),
                    value: *w,
                })
                .collect()
        } else {
            Vec::new()
        };
        Ok(StepOutput {
            losses,
            grads,
            quantities,
        })
    }

    fn after_step(&mut self, net: &MultiTaskNet, batches: &[Batch], losses: &Tensor) -> Result<()> {
        self.inner.after_step(net, batches, losses)
    }

    fn state(&self) -> Vec<(String, Tensor)> {
        self.inner
            .state()
            .into_iter()
            .map(|(k, t)| (format!("weighting.{k}"), t))
            .collect()
    }

    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        let inner: HashMap<String, Tensor> = state
            .iter()
            .filter_map(|(k, t)| {
                k.strip_prefix("weighting.")
                    .map(|k| (k.to_string(), t.shallow_clone()))
            })
            .collect();
        self.inner.load_state(&inner)
    }
}

/// A tiny Adam for weighting parameters (f64, CPU), with optional L2 decay (FAMO's γ).
pub struct VecAdam {
    lr: f64,
    decay: f64,
    t: i32,
    m: Tensor,
    v: Tensor,
}

impl VecAdam {
    /// Adam with β = (0.9, 0.999), ε = 1e-8 over a vector of `k` entries.
    pub fn new(k: usize, lr: f64, decay: f64) -> Self {
        let z = Tensor::zeros([k as i64], (Kind::Double, tch::Device::Cpu));
        Self {
            lr,
            decay,
            t: 0,
            m: z.copy(),
            v: z,
        }
    }

    /// One step of `x` (in place) along `g`.
    pub fn step(&mut self, x: &Tensor, g: &Tensor) {
        tch::no_grad(|| {
            let g = g.to_kind(Kind::Double).to_device(tch::Device::Cpu) + x * self.decay;
            self.t += 1;
            self.m = &self.m * 0.9 + &g * 0.1;
            self.v = &self.v * 0.999 + &g * &g * 0.001;
            let mh = &self.m / (1.0 - 0.9f64.powi(self.t));
            let vh = &self.v / (1.0 - 0.999f64.powi(self.t));
            let mut x = x.shallow_clone();
            let _ = x.g_sub_(&(mh / (vh.sqrt() + 1e-8) * self.lr));
        });
    }

    /// State under `prefix`.
    pub fn state(&self, prefix: &str) -> Vec<(String, Tensor)> {
        vec![
            (format!("{prefix}.t"), Tensor::from_slice(&[self.t as i64])),
            (format!("{prefix}.m"), self.m.shallow_clone()),
            (format!("{prefix}.v"), self.v.shallow_clone()),
        ]
    }

    /// Restores [`VecAdam::state`].
    pub fn load_state(&mut self, state: &HashMap<String, Tensor>, prefix: &str) -> Result<()> {
        let get = |k: &str| {
            state
                .get(&format!("{prefix}.{k}"))
                .map(|t| t.copy())
                .ok_or_else(|| anyhow!("checkpoint lacks {prefix}.{k}"))
        };
        self.t = get("t")?.int64_value(&[0]) as i32;
        self.m = get("m")?;
        self.v = get("v")?;
        Ok(())
    }
}

/// Restores a learnable vector in place from `state[key]`.
pub fn restore(x: &Tensor, state: &HashMap<String, Tensor>, key: &str) -> Result<()> {
    let saved = state
        .get(key)
        .ok_or_else(|| anyhow!("checkpoint lacks {key}"))?;
    tch::no_grad(|| x.shallow_clone().copy_(saved));
    Ok(())
}

/// Values of a 1-D tensor.
pub fn values(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(t.detach().to_kind(Kind::Double).to_device(tch::Device::Cpu))
        .expect("1-D tensor")
}
