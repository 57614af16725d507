//! MT2O on real networks: K copies of a run's multi-task network, one per preference vector
//! λ_k on the simplex of its m tasks, trained jointly by multi-task gradient descent with
//! parameter transfer, optionally beside the same K models trained independently (M = I) on
//! the same batches; hypervolume of the K models' loss vectors after every epoch.
//!
//! **MT2O as reconstructed from the abstract and MGD.** MT2O is Bai, Gupta & Ong, "Multi-Task
//! Learning with Multi-Task Optimization" (arXiv 2403.16162, 2024); only its abstract was
//! retrievable, so every choice below is the reconstruction of spec `mt2o.md` §3 after the
//! authors' MGD (Memetic Computing 12(4), 2020; code `BaiLu-BL/MGD_MultiMNIST`, `msgd.py`),
//! configurable in the `[mt2o]` table ([`Mt2oConfig`]); the synthetic twin is
//! [`crate::toy::mt2o`].
//!
//! - Decomposition: λ_k from the Das–Dennis lattice with H = `divisions`
//!   ([`mtl_aggregate::simplex::das_dennis`], K = C(H + m − 1, m − 1)), or listed (`lambdas`).
//!   Scalarisation g_k = Σ_j λ_kj L_j (`linear`), or g_k = max_j λ_kj (L_j − z_j) with the
//!   ideal point z = 0 (`tchebycheff`; the losses are ≥ 0, so |·| is dropped), whose
//!   subgradient is that of the argmax task (ties: the first), formed as Σ_j c_j L_j with
//!   c = λ_ki e_i so that every head stays in the autograd graph.
//! - Step t, every model k from the values before the step (synchronous, as `msgd.py`):
//!   θ_k ← Σ_j M^t_kj θ_j − η ∇g_k(θ_k), the gradient taken at the pre-mix θ_k on the step's
//!   batches, which are drawn once and shared by all K models (and by the baseline). The mix
//!   is applied under `no_grad`, then model k's own optimizer steps with that gradient. With
//!   Adam (or any optimizer other than plain SGD) "−η∇g_k" is that optimizer's update from
//!   its own per-model state (the moments are never mixed): the spec's §3(b) "apply the
//!   transfer to the parameters and keep per-model moments". A row of M equal to the
//!   identity's is skipped, so M = I is bit for bit K independent runs (tested).
//! - M^t: [`mtl_aggregate::transfer::Transfer`]: `none` (identity), `constant` (mass w split
//!   evenly), `decaying` (w γ^t), `neighbourhood` (w over the T nearest λ's,
//!   ∝ exp(−‖λ_k − λ_j‖²/τ)), with w = α·η (the toy's MGD weight, c folded into α) or, given
//!   `rho`, MGD's w = α·η·ρ⁺/(1 + ρ⁺) ([`mtl_aggregate::transfer::mgd_weight`]); η is
//!   `optim.lr`, not decayed with the schedule (as MGD). `transfer_params = "shared"` mixes
//!   only the shared encoder θ (heads take the plain step), `"all"` every parameter; buffers
//!   (batch-norm statistics) are never mixed.
//! - Hypervolume (exact, [`mtl_aggregate::hypervolume()`]) of the K loss vectors on val and on
//!   test, against `reference` (default: 1.1 × the largest initial test loss of each task
//!   over the models, the same point for both splits and both methods; recorded in
//!   `run.json`).
//!
//! Outside the method: `[objective]` does not apply (the scalarisation replaces it) and must
//! stay default; `[probes]` are not run; dropout and augmentation are refused (their random
//! draws would differ between a K-model and a 1-model run); evaluation is at step 0 and at
//! every epoch end, whatever `train.eval_schedule` says.
//!
//! Fault points for the resume tests (`MTLSCOPE_FAULT`, [`super::fault`]): `mt2o_csv:<epoch>`
//! (CSVs of the epoch written, no checkpoint yet), `mt2o_epoch:<epoch>` (checkpoint written).

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tch::{Device, Kind, Tensor};

use mtl_aggregate::simplex::das_dennis;
use mtl_aggregate::transfer::{mgd_weight, Decay, Transfer};

use super::eval::evaluate_split;
use super::fault;
use super::objective::forward_losses;
use super::optim::{self, Optimizer};
use super::sampler::task_samplers;
use super::store::{fmt_float, write_atomic};
use super::trainer::{draw_batches, strip};
use crate::config::{apply_override, ObjectiveConfig, RunConfig};
use crate::data::{Batch, TaskData};
use crate::model::MultiTaskNet;

/// The `[mt2o]` table. Transfer parameters keep the names of `mtlscope toy mt2o`'s flags.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Mt2oConfig {
    /// Das–Dennis divisions H (K = C(H + m − 1, m − 1)); ignored when `lambdas` is given.
    pub divisions: usize,
    /// Explicit preference vectors (each of length m, ≥ 0, summing to 1), replacing the lattice.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lambdas: Option<Vec<Vec<f64>>>,
    /// `linear` or `tchebycheff` (ideal point 0).
    pub scalarization: String,
    /// `none`, `constant`, `decaying` or `neighbourhood`.
    pub transfer: String,
    /// Transfer mass w = alpha × optim.lr (× ρ⁺/(1 + ρ⁺) when `rho` is given).
    pub alpha: f64,
    /// MGD's task similarity ρ; unset: w = alpha × lr.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rho: Option<f64>,
    /// `decaying` only: w_t = w γ^t per step (default 0.99).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gamma: Option<f64>,
    /// `neighbourhood` only: T, the nearest λ's each model takes from (default min(2, K − 1)).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub neighbours: Option<usize>,
    /// `neighbourhood` only: width τ (default 2/H², adjacent lattice points; ∞ with `lambdas`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tau: Option<f64>,
    /// `all` (every parameter is mixed) or `shared` (only the shared encoder θ).
    pub transfer_params: String,
    /// Also train the K independent models (M = I) on the same batches.
    pub baseline: bool,
    /// Hypervolume reference point, one value per task (default from the initial test losses).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<Vec<f64>>,
    /// `summary.json`'s target: this fraction of the best final test hypervolume.
    pub fraction: f64,
}

impl Default for Mt2oConfig {
    fn default() -> Self {
        Mt2oConfig {
            divisions: 4,
            lambdas: None,
            scalarization: "linear".into(),
            transfer: "constant".into(),
            alpha: 1.0,
            rho: None,
            gamma: None,
            neighbours: None,
            tau: None,
            transfer_params: "all".into(),
            baseline: true,
            reference: None,
            fraction: 0.99,
        }
    }
}

/// Reads an MT2O config: an ordinary run config plus `[mt2o]`. Overrides (`section.key=v`,
/// `mt2o.*` included) apply first; `[mt2o]` is split off before the rest is parsed as a
/// [`RunConfig`]. Returns both and the resolved text to record.
pub fn parse_config(text: &str, overrides: &[String]) -> Result<(RunConfig, Mt2oConfig, String)> {
    let mut table: toml::Table = toml::from_str(text)?;
    for ov in overrides {
        apply_override(&mut table, ov)?;
    }
    let m = match table.remove("mt2o") {
        None => toml::Table::new(),
        Some(toml::Value::Table(t)) => t,
        Some(_) => bail!("key `mt2o`: expected a table"),
    };
    let run = RunConfig::from_toml_str(&toml::to_string(&table)?, &[])?;
    let mt2o: Mt2oConfig =
        serde_path_to_error::deserialize(toml::Value::Table(m)).map_err(|e| {
            let path = e.path().to_string();
            anyhow!("key `mt2o.{path}`: {}", e.into_inner())
        })?;
    let resolved = format!(
        "{}\n[mt2o]\n{}",
        run.to_toml(),
        toml::to_string(&mt2o).expect("mt2o config serialises")
    );
    Ok((run, mt2o, resolved))
}

/// How each model's task losses become its objective.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scalarization {
    /// g = Σ_j λ_j L_j.
    Linear,
    /// g = max_j λ_j L_j (ideal point 0), subgradient of the argmax task.
    Tchebycheff,
}

impl Scalarization {
    /// The coefficients c with g = Σ_j c_j L_j at these losses (Tchebycheff: λ_i on the first
    /// argmax i of λ_j L_j, 0 elsewhere).
    pub fn coefficients(&self, lambda: &[f64], losses: &[f64]) -> Vec<f64> {
        match self {
            Scalarization::Linear => lambda.to_vec(),
            Scalarization::Tchebycheff => {
                let mut i = 0;
                for j in 1..lambda.len() {
                    if lambda[j] * losses[j] > lambda[i] * losses[i] {
                        i = j;
                    }
                }
                let mut c = vec![0.0; lambda.len()];
                c[i] = lambda[i];
                c
            }
        }
    }
}

/// The checked MT2O settings of a run with `m` tasks.
#[derive(Debug, Clone)]
pub struct Plan {
    /// λ_k, k = 0..K.
    pub lambdas: Vec<Vec<f64>>,
    /// Scalarisation.
    pub scalarization: Scalarization,
    /// The MT2O arm's transfer schedule.
    pub transfer: Transfer,
    /// Its mass w_0.
    pub w0: f64,
    /// Mix only the shared encoder.
    pub shared_only: bool,
}

impl Mt2oConfig {
    /// Checks the table against a run with `tasks` and learning rate `lr`; each error names its
    /// key.
    pub fn plan(&self, tasks: &[String], lr: f64) -> Result<Plan> {
        let m = tasks.len();
        if m < 2 {
            bail!("mt2o needs data.tasks to list >= 2 tasks, got {m}");
        }
        let lambdas = match &self.lambdas {
            Some(ls) => {
                if ls.is_empty() {
                    bail!("mt2o.lambdas must list >= 1 vector");
                }
                for (k, l) in ls.iter().enumerate() {
                    let s: f64 = l.iter().sum();
                    if l.len() != m
                        || l.iter().any(|x| !x.is_finite() || *x < 0.0)
                        || (s - 1.0).abs() > 1e-9
                    {
                        bail!(
                            "mt2o.lambdas[{k}] must be {m} numbers >= 0 summing to 1 (one per task: {}), got {l:?}",
                            tasks.join(", ")
                        );
                    }
                }
                ls.clone()
            }
            None => {
                if self.divisions == 0 {
                    bail!("mt2o.divisions must be >= 1, got 0");
                }
                das_dennis(m, self.divisions).map_err(|e| anyhow!("mt2o.divisions: {e}"))?
            }
        };
        let k = lambdas.len();
        let scalarization = match self.scalarization.as_str() {
            "linear" => Scalarization::Linear,
            "tchebycheff" => Scalarization::Tchebycheff,
            o => bail!("mt2o.scalarization: unknown `{o}`; known: linear, tchebycheff"),
        };
        let only = |key: &str, given: bool, kind: &str| -> Result<()> {
            if given && self.transfer != kind {
                bail!(
                    "mt2o.{key} applies to transfer = \"{kind}\", not \"{}\"",
                    self.transfer
                );
            }
            Ok(())
        };
        only("gamma", self.gamma.is_some(), "decaying")?;
        only("neighbours", self.neighbours.is_some(), "neighbourhood")?;
        only("tau", self.tau.is_some(), "neighbourhood")?;
        if !(self.alpha.is_finite() && self.alpha >= 0.0) {
            bail!("mt2o.alpha must be a number >= 0, got {}", self.alpha);
        }
        let w0 = match self.rho {
            Some(rho) if !rho.is_finite() => bail!("mt2o.rho must be finite, got {rho}"),
            Some(rho) => mgd_weight(self.alpha, lr, rho),
            None => self.alpha * lr,
        };
        let transfer = match self.transfer.as_str() {
            "none" => Transfer::identity(k),
            "constant" => Transfer::constant(k, w0),
            "decaying" => {
                let gamma = self.gamma.unwrap_or(0.99);
                if !(gamma > 0.0 && gamma <= 1.0) {
                    bail!("mt2o.gamma must be in (0, 1], got {gamma}");
                }
                Transfer::decaying(k, w0, Decay::Geometric { gamma })
            }
            "neighbourhood" => {
                let t = self.neighbours.unwrap_or(2.min(k.saturating_sub(1)).max(1));
                let tau = self.tau.unwrap_or(if self.lambdas.is_some() {
                    f64::INFINITY
                } else {
                    2.0 / (self.divisions * self.divisions) as f64
                });
                Transfer::neighbourhood(&lambdas, t, tau, w0)
            }
            o => bail!(
                "mt2o.transfer: unknown `{o}`; known: none, constant, decaying, neighbourhood"
            ),
        }
        .map_err(|e| anyhow!("mt2o: {e}"))?;
        let shared_only = match self.transfer_params.as_str() {
            "all" => false,
            "shared" => true,
            o => bail!("mt2o.transfer_params: unknown `{o}`; known: all, shared"),
        };
        if let Some(r) = &self.reference {
            if r.len() != m || r.iter().any(|x| !x.is_finite()) {
                bail!("mt2o.reference must be {m} finite numbers (one per task), got {r:?}");
            }
        }
        if !(self.fraction > 0.0 && self.fraction <= 1.0) {
            bail!("mt2o.fraction must be in (0, 1], got {}", self.fraction);
        }
        Ok(Plan {
            lambdas,
            scalarization,
            transfer,
            w0,
            shared_only,
        })
    }
}

/// How to run.
pub struct Options {
    /// The run config (without `[mt2o]`).
    pub run: RunConfig,
    /// The `[mt2o]` table.
    pub mt2o: Mt2oConfig,
    /// Both, resolved, as recorded in `DIR/config.toml`.
    pub config_text: String,
    /// The output directory.
    pub out: PathBuf,
    /// Continue from `DIR/checkpoints`.
    pub resume: bool,
    /// Where tensors live.
    pub device: Device,
    /// A line per epoch on stderr.
    pub verbose: bool,
}

/// One method's K models.
struct Arm {
    method: &'static str,
    transfer: Transfer,
    nets: Vec<MultiTaskNet>,
    optims: Vec<Box<dyn Optimizer>>,
}

/// The header of `mt2o.csv`.
pub const CSV_HEADER: &str = "method,epoch,step,model,task,split,metric,value";
/// The header of `hypervolume.csv`.
pub const HV_HEADER: &str = "method,epoch,split,hv";
/// The evaluated splits.
pub const SPLITS: [&str; 2] = ["val", "test"];
const CHECKPOINT: &str = "checkpoints/mt2o.safetensors";

/// What a finished run measured: hypervolume per method and epoch, and the summary.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// The split the target is taken on (`test`).
    pub split: String,
    /// The fraction of the best final hypervolume.
    pub fraction: f64,
    /// fraction × the best final hypervolume of either method.
    pub target_hv: f64,
    /// Per method.
    pub methods: Vec<MethodSummary>,
}

/// One method's line of [`Summary`].
#[derive(Debug, Clone, Serialize)]
pub struct MethodSummary {
    /// `mt2o` or `independent`.
    pub method: String,
    /// Test hypervolume at the last epoch.
    pub final_hv: f64,
    /// The first epoch at which the test hypervolume reached the target (null: never).
    pub epochs_to_target: Option<usize>,
    /// Test hypervolume per epoch (index = epoch).
    pub hv_per_epoch: Vec<f64>,
}

/// Runs MT2O (and the baseline) as configured; returns the summary.
pub fn run(opts: &Options) -> Result<Summary> {
    let cfg = &opts.run;
    crate::resolve::check_run(cfg)?;
    if cfg.objective != ObjectiveConfig::default() {
        bail!("mt2o: [objective] does not apply (each model's objective is the [mt2o] scalarization); remove it");
    }
    if cfg.model.dropout.is_some_and(|d| d > 0.0) {
        bail!("mt2o: model.dropout must be unset or 0 (dropout masks would differ between a K-model and a 1-model run)");
    }
    if !cfg.train.augment.is_empty() {
        bail!("mt2o: train.augment is not supported; remove it");
    }
    let plan = opts.mt2o.plan(&cfg.data.tasks, cfg.optim.lr)?;
    if optim::build(&cfg.optim).wants_task_grads() {
        bail!(
            "mt2o: optim.name = {:?} needs per-task gradients; use sgd, adam or adamw",
            cfg.optim.name
        );
    }
    super::determinism::set(cfg.train.deterministic);
    let device = opts.device;
    let tasks = crate::data::to_device(crate::data::load_tasks(&cfg.data)?, device);
    let input = crate::data::input_shape(&tasks)?;
    let heads = crate::data::heads(&tasks);
    let names: Vec<String> = tasks.iter().map(|t| t.name.clone()).collect();
    let sizes: Vec<usize> = tasks.iter().map(|t| t.train.len()).collect();
    let (mut samplers, steps_per_epoch) = task_samplers(&cfg.train, &names, &sizes);
    let epochs = cfg.train.epochs;
    let total = steps_per_epoch * epochs;
    let k = plan.lambdas.len();
    let build_arm = |method: &'static str, transfer: Transfer| -> Result<Arm> {
        let nets = (0..k)
            .map(|_| MultiTaskNet::seeded(cfg.train.seed, &cfg.model, &heads, &input, device))
            .collect::<Result<Vec<_>>>()?;
        let optims = (0..k).map(|_| optim::build(&cfg.optim)).collect();
        Ok(Arm {
            method,
            transfer,
            nets,
            optims,
        })
    };
    let mut arms = vec![build_arm("mt2o", plan.transfer.clone())?];
    if opts.mt2o.baseline {
        arms.push(build_arm("independent", Transfer::identity(k)?)?);
    }
    let n_mix = if plan.shared_only {
        arms[0].nets[0].shared_params().len()
    } else {
        arms[0].nets[0].params().len()
    };

    let out = &opts.out;
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut hv_rows: Vec<Vec<String>> = Vec::new();
    let mut start = 0usize;
    let mut wall_before = 0.0;
    let mut reference: Option<Vec<f64>> = opts.mt2o.reference.clone();
    let ck = out.join(CHECKPOINT);
    if opts.resume && ck.exists() {
        let state: HashMap<String, Tensor> = Tensor::read_safetensors(&ck)
            .with_context(|| format!("reading {}", ck.display()))?
            .into_iter()
            .collect();
        let scalar = |key: &str| -> Result<Vec<f64>> {
            let t = state
                .get(key)
                .with_context(|| format!("{} lacks `{key}`", ck.display()))?;
            Ok(Vec::<f64>::try_from(t.to_kind(Kind::Double))?)
        };
        start = scalar("meta.step")?[0] as usize;
        wall_before = scalar("meta.wall_seconds")?[0];
        reference = Some(scalar("meta.reference")?);
        for arm in &mut arms {
            for (i, (net, opt)) in arm.nets.iter().zip(&mut arm.optims).enumerate() {
                let prefix = format!("{}.{i}.", arm.method);
                let mine = strip(&state, &prefix);
                super::trainer::load_params(net, &mine)
                    .with_context(|| format!("{}: {} model {i}", ck.display(), arm.method))?;
                opt.load_state(&strip(&mine, "optim."))?;
            }
        }
        let epoch_done = start / steps_per_epoch;
        rows = read_rows(&out.join("mt2o.csv"), 1, epoch_done)?;
        hv_rows = read_rows(&out.join("hypervolume.csv"), 1, epoch_done)?;
    } else {
        if opts.resume {
            eprintln!("{}: no checkpoint; starting from step 0", out.display());
        } else if out.exists()
            && std::fs::read_dir(out)
                .with_context(|| format!("listing {}", out.display()))?
                .next()
                .is_some()
        {
            bail!(
                "{} exists and is not empty; choose a new --out or continue it with --resume",
                out.display()
            );
        }
        std::fs::create_dir_all(out.join("checkpoints"))
            .with_context(|| format!("creating {}", out.display()))?;
        write_atomic(&out.join("config.toml"), opts.config_text.as_bytes())?;
        let mut text = format!(
            "model,{}\n",
            names
                .iter()
                .map(|n| format!("lambda_{n}"))
                .collect::<Vec<_>>()
                .join(",")
        );
        for (i, l) in plan.lambdas.iter().enumerate() {
            let v: Vec<String> = l.iter().map(|x| fmt_float(*x)).collect();
            text += &format!("{i},{}\n", v.join(","));
        }
        write_atomic(&out.join("lambdas.csv"), text.as_bytes())?;
    }
    let mut info = RunJson {
        config: opts.config_text.clone(),
        tasks: names.clone(),
        k,
        lambdas: plan.lambdas.clone(),
        scalarization: opts.mt2o.scalarization.clone(),
        tchebycheff_ideal: vec![0.0; names.len()],
        transfer: plan.transfer.name().to_string(),
        transfer_w0: plan.w0,
        transfer_params: opts.mt2o.transfer_params.clone(),
        baseline: opts.mt2o.baseline,
        reference: reference.clone(),
        reference_source: if opts.mt2o.reference.is_some() {
            "given".into()
        } else {
            "1.1 x the largest initial test loss per task".into()
        },
        steps_per_epoch,
        epochs,
        steps: start,
        wall_seconds: wall_before,
        device: format!("{device:?}").to_lowercase(),
        status: "running".into(),
        message: String::new(),
    };
    info.write(out)?;

    let t0 = Instant::now();
    let wall = |t0: &Instant| wall_before + t0.elapsed().as_secs_f64();
    let result = (|| -> Result<()> {
        if start == 0 {
            record(
                &arms,
                &tasks,
                cfg,
                0,
                0,
                &mut reference,
                &mut rows,
                &mut hv_rows,
            )?;
            info.reference = reference.clone();
            write_tables(out, &rows, &hv_rows)?;
        }
        let lrs = optim::LrSchedule::new(&cfg.optim, steps_per_epoch);
        let shared = crate::data::shares_inputs(&tasks);
        for step in start..total {
            let b = draw_batches(&mut samplers, &tasks, shared, step);
            for arm in &mut arms {
                train_step(arm, &b, &plan, n_mix, step, lrs.lr(step), &names)?;
            }
            if (step + 1) % steps_per_epoch == 0 {
                let epoch = (step + 1) / steps_per_epoch;
                record(
                    &arms,
                    &tasks,
                    cfg,
                    epoch,
                    step + 1,
                    &mut reference,
                    &mut rows,
                    &mut hv_rows,
                )?;
                write_tables(out, &rows, &hv_rows)?;
                fault::hit("mt2o_csv", epoch);
                save_checkpoint(
                    out,
                    &arms,
                    step + 1,
                    wall(&t0),
                    reference.as_deref().expect("set at step 0"),
                )?;
                info.steps = step + 1;
                info.wall_seconds = wall(&t0);
                info.write(out)?;
                fault::hit("mt2o_epoch", epoch);
                if opts.verbose {
                    let hv: Vec<String> = hv_rows
                        .iter()
                        .filter(|r| r[1] == epoch.to_string() && r[2] == "test")
                        .map(|r| format!("{} {}", r[0], r[3]))
                        .collect();
                    eprintln!(
                        "[epoch {epoch}/{epochs}] test hypervolume: {} ({:.1} s)",
                        hv.join(", "),
                        wall(&t0)
                    );
                }
            }
        }
        Ok(())
    })();
    info.wall_seconds = wall(&t0);
    if let Err(e) = result {
        info.status = "failed".into();
        info.message = format!("{e:#}");
        info.write(out)?;
        return Err(e);
    }
    let summary = summarise(&hv_rows, &arms, epochs, opts.mt2o.fraction);
    write_atomic(
        &out.join("summary.json"),
        serde_json::to_string_pretty(&summary)?.as_bytes(),
    )?;
    info.status = "completed".into();
    info.steps = total;
    info.message = format!("completed {total} steps ({epochs} epochs)");
    info.write(out)?;
    let fig = out.join("figures");
    std::fs::create_dir_all(&fig).with_context(|| format!("creating {}", fig.display()))?;
    figures(&fig, &names, &rows, &hv_rows, &summary)?;
    Ok(summary)
}

/// `run.json`.
#[derive(Debug, Serialize)]
struct RunJson {
    config: String,
    tasks: Vec<String>,
    k: usize,
    lambdas: Vec<Vec<f64>>,
    scalarization: String,
    tchebycheff_ideal: Vec<f64>,
    transfer: String,
    transfer_w0: f64,
    transfer_params: String,
    baseline: bool,
    reference: Option<Vec<f64>>,
    reference_source: String,
    steps_per_epoch: usize,
    epochs: usize,
    steps: usize,
    wall_seconds: f64,
    device: String,
    status: String,
    message: String,
}

impl RunJson {
    fn write(&self, out: &Path) -> Result<()> {
        write_atomic(
            &out.join("run.json"),
            serde_json::to_string_pretty(self)?.as_bytes(),
        )
    }
}

/// One synchronous step of an arm: every model's gradient at its pre-mix θ_k, the mix
/// θ_k ← Σ_j M_kj θ_j, then every model's optimizer step.
fn train_step(
    arm: &mut Arm,
    b: &[Batch],
    plan: &Plan,
    n_mix: usize,
    step: usize,
    lr: f64,
    names: &[String],
) -> Result<()> {
    let mut grads = Vec::with_capacity(arm.nets.len());
    for (i, (net, lambda)) in arm.nets.iter().zip(&plan.lambdas).enumerate() {
        let losses = forward_losses(net, b);
        let values: Vec<f64> = losses.iter().map(|l| l.double_value(&[])).collect();
        if let Some(j) = values.iter().position(|v| !v.is_finite()) {
            bail!(
                "{}: loss of task `{}` is {} at step {} (model {i}, lambda {lambda:?})",
                arm.method,
                names[j],
                values[j],
                step + 1
            );
        }
        let c = plan.scalarization.coefficients(lambda, &values);
        let mut g: Option<Tensor> = None;
        for (l, cj) in losses.iter().zip(&c) {
            let term = l * *cj;
            g = Some(match g {
                None => term,
                Some(a) => a + term,
            });
        }
        let g = g.expect(">= 2 tasks");
        grads.push(Tensor::run_backward(&[g], &net.params(), false, false));
    }
    if !arm.transfer.is_identity() {
        mix(&arm.nets, &arm.transfer.matrix(step as u64), n_mix);
    }
    for ((net, opt), g) in arm.nets.iter().zip(&mut arm.optims).zip(&grads) {
        opt.set_lr(lr);
        opt.step(&net.params(), g);
    }
    Ok(())
}

/// θ_k ← Σ_j M_kj θ_j over the first `n_mix` parameters of every model, all rows from the
/// values before the mix; rows equal to the identity's are left untouched (bit for bit).
fn mix(nets: &[MultiTaskNet], m: &[f64], n_mix: usize) {
    let k = nets.len();
    let params: Vec<Vec<Tensor>> = nets.iter().map(|n| n.params()).collect();
    tch::no_grad(|| {
        let mut mixed: Vec<(usize, Vec<Tensor>)> = Vec::new();
        for row in 0..k {
            let r = &m[row * k..(row + 1) * k];
            if (0..k).all(|j| r[j] == if j == row { 1.0 } else { 0.0 }) {
                continue;
            }
            let v: Vec<Tensor> = (0..n_mix)
                .map(|p| {
                    let mut acc: Option<Tensor> = None;
                    for (j, &c) in r.iter().enumerate() {
                        if c == 0.0 {
                            continue;
                        }
                        let term = &params[j][p] * c;
                        acc = Some(match acc {
                            None => term,
                            Some(a) => a + term,
                        });
                    }
                    acc.expect("a row of M sums to 1")
                })
                .collect();
            mixed.push((row, v));
        }
        for (row, v) in mixed {
            for (p, t) in params[row].iter().zip(&v) {
                p.shallow_clone().copy_(t);
            }
        }
    });
}

/// Evaluates every model of every arm on val and test, appends the rows and the
/// hypervolumes; at step 0 without a given reference, sets it from the test losses.
#[allow(clippy::too_many_arguments)]
fn record(
    arms: &[Arm],
    tasks: &[TaskData],
    cfg: &RunConfig,
    epoch: usize,
    step: usize,
    reference: &mut Option<Vec<f64>>,
    rows: &mut Vec<Vec<String>>,
    hv_rows: &mut Vec<Vec<String>>,
) -> Result<()> {
    let chunk = cfg.train.eval_batch_size;
    // losses[arm][split][model][task]
    let mut losses = vec![vec![vec![vec![0.0; tasks.len()]; arms[0].nets.len()]; 2]; arms.len()];
    for (a, arm) in arms.iter().enumerate() {
        for (i, net) in arm.nets.iter().enumerate() {
            for (t, task) in tasks.iter().enumerate() {
                for (s, split) in SPLITS.iter().enumerate() {
                    let values = evaluate_split(net, task, t, task.split(split), chunk);
                    if !values[0].is_finite() {
                        bail!(
                            "{}: evaluation at epoch {epoch}: {split} loss of task `{}` is {} (model {i})",
                            arm.method,
                            task.name,
                            values[0]
                        );
                    }
                    losses[a][s][i][t] = values[0];
                    for (metric, v) in task.kind.metrics().iter().zip(&values) {
                        rows.push(vec![
                            arm.method.to_string(),
                            epoch.to_string(),
                            step.to_string(),
                            i.to_string(),
                            task.name.clone(),
                            split.to_string(),
                            metric.name.clone(),
                            fmt_float(*v),
                        ]);
                    }
                }
            }
        }
    }
    if reference.is_none() {
        let test = 1;
        let r = (0..tasks.len())
            .map(|t| {
                1.1 * losses
                    .iter()
                    .flat_map(|a| a[test].iter().map(|l| l[t]))
                    .fold(f64::NEG_INFINITY, f64::max)
            })
            .collect();
        *reference = Some(r);
    }
    let r = reference.as_ref().expect("set above");
    for (a, arm) in arms.iter().enumerate() {
        for (s, split) in SPLITS.iter().enumerate() {
            let hv = mtl_aggregate::hypervolume(&losses[a][s], r)
                .map_err(|e| anyhow!("hypervolume at epoch {epoch}: {e}"))?;
            hv_rows.push(vec![
                arm.method.to_string(),
                epoch.to_string(),
                split.to_string(),
                fmt_float(hv),
            ]);
        }
    }
    Ok(())
}

/// Writes `mt2o.csv` and `hypervolume.csv` whole (atomically): each epoch's write holds
/// every row so far, so a file on disk is never ahead of a readable state.
fn write_tables(out: &Path, rows: &[Vec<String>], hv_rows: &[Vec<String>]) -> Result<()> {
    let text = |header: &str, rows: &[Vec<String>]| {
        let mut s = String::from(header);
        s.push('\n');
        for r in rows {
            s += &r.join(",");
            s.push('\n');
        }
        s
    };
    write_atomic(&out.join("mt2o.csv"), text(CSV_HEADER, rows).as_bytes())?;
    write_atomic(
        &out.join("hypervolume.csv"),
        text(HV_HEADER, hv_rows).as_bytes(),
    )
}

/// The rows of a CSV written by [`write_tables`] whose epoch (column `col`) is ≤ `upto`.
fn read_rows(path: &Path, col: usize, upto: usize) -> Result<Vec<Vec<String>>> {
    let mut r =
        csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    let mut out = Vec::new();
    for rec in r.records() {
        let rec = rec.with_context(|| format!("reading {}", path.display()))?;
        let e: usize = rec[col]
            .parse()
            .with_context(|| format!("{}: bad epoch `{}`", path.display(), &rec[col]))?;
        if e <= upto {
            out.push(rec.iter().map(str::to_string).collect());
        }
    }
    Ok(out)
}

/// Every model's parameters, buffers and optimizer state, the step, the wall time and the
/// reference point in one safetensors file, written to a temporary and renamed.
fn save_checkpoint(
    out: &Path,
    arms: &[Arm],
    step: usize,
    wall: f64,
    reference: &[f64],
) -> Result<()> {
    let mut tensors: Vec<(String, Tensor)> = Vec::new();
    for arm in arms {
        for (i, (net, opt)) in arm.nets.iter().zip(&arm.optims).enumerate() {
            let p = format!("{}.{i}.", arm.method);
            for (n, t) in net.named_params().into_iter().chain(net.named_buffers()) {
                tensors.push((format!("{p}model.{n}"), t));
            }
            for (n, t) in opt.state() {
                tensors.push((format!("{p}optim.{n}"), t));
            }
        }
    }
    tensors.push(("meta.step".into(), Tensor::from_slice(&[step as f64])));
    tensors.push(("meta.wall_seconds".into(), Tensor::from_slice(&[wall])));
    tensors.push(("meta.reference".into(), Tensor::from_slice(reference)));
    let path = out.join(CHECKPOINT);
    let tmp = path.with_extension("safetensors.tmp");
    Tensor::write_safetensors(&tensors, &tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))
}

/// Per method, the test hypervolume per epoch and the first epoch at which it reaches
/// `fraction` × the best final test hypervolume of either method.
fn summarise(hv_rows: &[Vec<String>], arms: &[Arm], epochs: usize, fraction: f64) -> Summary {
    let curve = |method: &str| -> Vec<f64> {
        let mut v = vec![f64::NAN; epochs + 1];
        for r in hv_rows.iter().filter(|r| r[0] == method && r[2] == "test") {
            if let (Ok(e), Ok(h)) = (r[1].parse::<usize>(), r[3].parse::<f64>()) {
                if e <= epochs {
                    v[e] = h;
                }
            }
        }
        v
    };
    let curves: Vec<(&str, Vec<f64>)> = arms.iter().map(|a| (a.method, curve(a.method))).collect();
    let best = curves
        .iter()
        .map(|(_, c)| c[epochs])
        .fold(f64::NEG_INFINITY, f64::max);
    let target = fraction * best;
    Summary {
        split: "test".into(),
        fraction,
        target_hv: target,
        methods: curves
            .into_iter()
            .map(|(m, c)| MethodSummary {
                method: m.to_string(),
                final_hv: c[epochs],
                epochs_to_target: c.iter().position(|h| *h >= target),
                hv_per_epoch: c,
            })
            .collect(),
    }
}

/// The figures of [`crate::report::plots::mt2o`] from the rows.
fn figures(
    dir: &Path,
    names: &[String],
    rows: &[Vec<String>],
    hv_rows: &[Vec<String>],
    summary: &Summary,
) -> Result<()> {
    use crate::report::plots::mt2o as fig;
    let methods: Vec<String> = summary.methods.iter().map(|m| m.method.clone()).collect();
    if names.len() == 2 {
        let mut fronts = Vec::new();
        for m in &methods {
            // (epoch, model) → (loss of task 0, loss of task 1)
            let mut pts: std::collections::BTreeMap<(usize, usize), [f64; 2]> = Default::default();
            for r in rows
                .iter()
                .filter(|r| &r[0] == m && r[5] == "test" && r[6] == "loss")
            {
                let (Ok(e), Ok(i), Ok(v)) = (r[1].parse(), r[3].parse(), r[7].parse::<f64>())
                else {
                    continue;
                };
                let t = if r[4] == names[0] { 0 } else { 1 };
                pts.entry((e, i)).or_insert([f64::NAN; 2])[t] = v;
            }
            let mut per_epoch: Vec<(usize, Vec<(f64, f64)>)> = Vec::new();
            for ((e, _), p) in pts {
                if per_epoch.last().map(|(le, _)| *le) != Some(e) {
                    per_epoch.push((e, Vec::new()));
                }
                per_epoch.last_mut().expect("pushed").1.push((p[0], p[1]));
            }
            fronts.push(fig::Front {
                method: m.clone(),
                epochs: per_epoch,
            });
        }
        fig::fronts(dir, [&names[0], &names[1]], &fronts)?;
    }
    let curves: Vec<fig::Curve> = methods
        .iter()
        .map(|m| fig::Curve {
            method: m.clone(),
            test: split_curve(hv_rows, m, "test"),
            val: split_curve(hv_rows, m, "val"),
        })
        .collect();
    fig::hypervolume(dir, &curves, summary.target_hv, summary.fraction)
}

fn split_curve(hv_rows: &[Vec<String>], method: &str, split: &str) -> Vec<(f64, f64)> {
    hv_rows
        .iter()
        .filter(|r| r[0] == method && r[2] == split)
        .filter_map(|r| Some((r[1].parse().ok()?, r[3].parse().ok()?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tchebycheff_coefficients_pick_the_first_argmax() {
        let s = Scalarization::Tchebycheff;
        assert_eq!(s.coefficients(&[0.25, 0.75], &[2.0, 1.0]), vec![0.0, 0.75]);
        assert_eq!(s.coefficients(&[0.75, 0.25], &[2.0, 1.0]), vec![0.75, 0.0]);
        // A tie goes to the first task.
        assert_eq!(s.coefficients(&[0.5, 0.5], &[1.0, 1.0]), vec![0.5, 0.0]);
        assert_eq!(
            Scalarization::Linear.coefficients(&[0.2, 0.8], &[5.0, 1.0]),
            vec![0.2, 0.8]
        );
    }

    #[test]
    fn the_table_is_split_off_and_checked() {
        let text = "[data]\ntasks = [\"fashion1\", \"fashion2\"]\n[mt2o]\ndivisions = 2\n";
        let (run, m, resolved) = parse_config(text, &["mt2o.transfer=none".into()]).unwrap();
        assert_eq!(run.data.tasks.len(), 2);
        assert_eq!(m.transfer, "none");
        assert!(resolved.contains("[mt2o]"));
        let again = parse_config(&resolved, &[]).unwrap();
        assert_eq!(again.1, m);
        let plan = m.plan(&run.data.tasks, 0.001).unwrap();
        assert_eq!(plan.lambdas.len(), 3);
        assert!(plan.transfer.is_identity());
        let err = parse_config("[mt2o]\ndivisons = 2\n", &[]).unwrap_err();
        assert!(format!("{err:#}").contains("mt2o.divisons"), "{err:#}");
        let bad = |ov: &str| {
            let (run, m, _) = parse_config(text, &[ov.into()]).unwrap();
            format!("{:#}", m.plan(&run.data.tasks, 0.001).unwrap_err())
        };
        assert!(bad("mt2o.gamma=0.5").starts_with("mt2o.gamma applies"));
        assert!(bad("mt2o.lambdas=[[0.5, 0.6]]").starts_with("mt2o.lambdas[0]"));
        assert!(bad("mt2o.transfer=ring").starts_with("mt2o.transfer: unknown"));
        assert!(bad("mt2o.reference=[1.0]").starts_with("mt2o.reference"));
    }

    #[test]
    fn identity_rows_are_untouched_and_mixing_is_synchronous() {
        let nets: Vec<MultiTaskNet> = (0..3)
            .map(|s| crate::data::synthetic_scenes::tasks_and_net(&["shape", "area"], &[4, 8], s).1)
            .collect();
        let before: Vec<Vec<Tensor>> = nets
            .iter()
            .map(|n| n.params().iter().map(|t| t.copy()).collect())
            .collect();
        // Row 0 identity, rows 1 and 2 swap halves.
        let m = [1.0, 0.0, 0.0, 0.0, 0.5, 0.5, 0.0, 0.5, 0.5];
        let n = nets[0].params().len();
        mix(&nets, &m, n);
        for (p, b) in nets[0].params().iter().zip(&before[0]) {
            assert!(p.equal(b));
        }
        for (i, p) in nets[1].params().iter().enumerate() {
            let want = &before[1][i] * 0.5 + &before[2][i] * 0.5;
            assert!(p.equal(&want));
            assert!(nets[2].params()[i].equal(&want));
        }
    }
}
