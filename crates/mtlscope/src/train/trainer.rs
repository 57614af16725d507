//! The training loop, shared by STL and MTL runs: sample one batch per task, let the
//! objective produce gradients, check the losses are finite, step the optimizer, and at each
//! evaluation point record the trajectory and a checkpoint.

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tch::{Device, Kind, Tensor};

use super::eval::evaluate;
use super::fault;
use super::objective::{self, NonFinite, Objective};
use super::optim::{self, Optimizer};
use super::sampler::{batches, shared_batches, Sampler};
use super::store::{
    fmt_float, fnv1a_hex, read_checkpoint, CheckpointMeta, RunDir, RunInfo, RunLock, Status,
};
use crate::config::RunConfig;
use crate::data::{load_tasks, TaskData};
use crate::model::MultiTaskNet;
use crate::probe::similarity::SimilarityTracker;
use crate::probe::ProbeSet;

/// How to run.
pub struct RunOptions {
    /// The resolved configuration.
    pub config: RunConfig,
    /// The run directory.
    pub out: PathBuf,
    /// Continue the run in `out` from its last checkpoint.
    pub resume: bool,
    /// Where tensors live.
    pub device: Device,
    /// Draw a progress bar (else log a line per evaluation to stderr).
    pub progress_bar: bool,
    /// Print per-evaluation log lines.
    pub verbose: bool,
    /// Set by a signal handler: stop at the next step boundary with a resumable checkpoint.
    pub interrupt: Arc<AtomicBool>,
    /// Behave as if interrupted once this many steps are done (for tests of resume).
    pub stop_after: Option<usize>,
}

/// How a run ended.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// Final status.
    pub status: Status,
    /// Steps taken.
    pub steps: usize,
    /// What happened.
    pub message: String,
}

/// Why a run stopped early with status `diverged`: a loss, gradient, evaluation or parameter
/// became NaN or infinite. Raised anywhere in the loop, turned into the outcome at its top.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Divergence(pub String);

/// Everything a run holds while it trains.
struct Run {
    cfg: RunConfig,
    tasks: Vec<TaskData>,
    net: MultiTaskNet,
    optimizer: Box<dyn Optimizer>,
    objective: Box<dyn Objective>,
    samplers: Vec<Sampler>,
    /// Every task labels the same examples: one batch of inputs per step, one encoder pass.
    shared_inputs: bool,
    /// `train.augment`, if any.
    augment: Option<crate::data::augment::Augment>,
    dir: RunDir,
    info: RunInfo,
    probes: Option<ProbeSet>,
    /// Elich et al.'s training-time gradient similarity (`probes.similarity_every`).
    similarity: Option<SimilarityTracker>,
    steps_per_epoch: usize,
    total: usize,
    /// When this session's loop began (for the `steps` phase).
    loop_start: Option<Instant>,
}

/// Trains as configured; returns how it ended. Errors are for bad input and I/O; a
/// diverging loss is an outcome, not an error.
pub fn train(opts: RunOptions) -> Result<RunOutcome> {
    let cfg = opts.config.clone();
    crate::resolve::check_run(&cfg)?;
    super::determinism::set(cfg.train.deterministic);
    let device = opts.device;
    let t_data = Instant::now();
    // Data first: a bad dataset stops before anything is written.
    let tasks = crate::data::to_device(load_tasks(&cfg.data)?, device);
    let data_seconds = t_data.elapsed().as_secs_f64();
    let t_setup = Instant::now();
    let input = crate::data::input_shape(&tasks)?;
    let net = MultiTaskNet::seeded(
        cfg.train.seed,
        &cfg.model,
        &crate::data::heads(&tasks),
        input,
        device,
    )?;
    let names: Vec<String> = tasks.iter().map(|t| t.name.clone()).collect();
    let sizes: Vec<usize> = tasks.iter().map(|t| t.train.len()).collect();
    let shared_inputs = crate::data::shares_inputs(&tasks);
    let (samplers, steps_per_epoch) = super::sampler::task_samplers(&cfg.train, &names, &sizes);
    let total = steps_per_epoch
        .checked_mul(cfg.train.epochs)
        .with_context(|| {
            format!(
                "train.epochs = {} × {steps_per_epoch} steps per epoch overflows the step counter",
                cfg.train.epochs
            )
        })?;
    let mut versions = BTreeMap::new();
    versions.insert("mtlscope".into(), env!("CARGO_PKG_VERSION").into());
    versions.insert("tch".into(), "0.26".into());
    let info = RunInfo {
        status: Status::Running,
        message: String::new(),
        seed: cfg.train.seed,
        steps: 0,
        steps_total: total,
        steps_per_epoch,
        epochs: cfg.train.epochs,
        format_version: super::store::FORMAT_VERSION,
        tasks: tasks.iter().map(|t| t.info()).collect(),
        wall_seconds: 0.0,
        device: format!("{device:?}").to_lowercase(),
        versions,
        phases: BTreeMap::new(),
    };
    let optimizer = optim::build(&cfg.optim);
    let objective = objective::build(&cfg.objective, tasks.len(), steps_per_epoch)?;
    let similarity = SimilarityTracker::from_config(&cfg.probes, shared_inputs);
    let probes = if cfg.probes.enabled {
        Some(ProbeSet::new(&cfg.probes, &net, &tasks, device)?)
    } else {
        None
    };

    let (dir, start, wall_before, state) = if opts.resume {
        // Ownership before reading the checkpoint: another process may be writing it.
        let lock = RunLock::acquire(&opts.out)?;
        match read_checkpoint(&opts.out)? {
            Some((meta, state)) => {
                check_same_config(&opts.out, &meta, &cfg.to_toml())?;
                load_params(&net, &state)?;
                (
                    RunDir::reopen(&opts.out, Some(&meta), lock)?,
                    meta.step,
                    meta.wall_seconds,
                    Some(state),
                )
            }
            // Died before its first checkpoint: nothing was kept, so start again.
            None => (RunDir::reopen(&opts.out, None, lock)?, 0, 0.0, None),
        }
    } else {
        (RunDir::create(&opts.out, &cfg.to_toml())?, 0, 0.0, None)
    };
    fault::hit("start", start);
    let augment = crate::data::augment::Augment::from_config(&cfg.train);
    let mut run = Run {
        cfg,
        tasks,
        net,
        optimizer,
        objective,
        samplers,
        shared_inputs,
        augment,
        dir,
        info,
        probes,
        similarity,
        steps_per_epoch,
        total,
        loop_start: None,
    };
    if let Some(state) = &state {
        run.optimizer.load_state(&strip(state, "optim."))?;
        run.objective.load_state(&strip(state, "objective."))?;
        if let Some(s) = &mut run.similarity {
            s.load_state(&strip(state, "similarity."))?;
        }
    }
    run.info.steps = start;
    run.info.wall_seconds = wall_before;
    run.info.phases.insert("data".into(), data_seconds);
    run.info
        .phases
        .insert("setup".into(), t_setup.elapsed().as_secs_f64());
    run.dir.write_info(&run.info)?;
    run.loop_from(start, wall_before, &opts)
}

/// Refuses a resume whose `config.toml` differs from the config the checkpoint was made with,
/// naming the keys that differ.
fn check_same_config(out: &std::path::Path, meta: &CheckpointMeta, now: &str) -> Result<()> {
    let Some(then) = &meta.config else {
        return Ok(()); // a checkpoint from before configs were recorded
    };
    if then == now {
        return Ok(());
    }
    let keys = crate::config::differing_keys(then, now);
    bail!(
        "{}: config.toml differs from the config its checkpoint was made with (keys: {}); \
         restore it, or start a new run directory",
        out.join("config.toml").display(),
        if keys.is_empty() {
            "formatting only".to_string()
        } else {
            keys.join(", ")
        }
    )
}

/// The training batches of `step` before augmentation: drawn by the samplers (one draw for
/// shared inputs), inputs converted to network inputs (once for shared inputs). Shared by the
/// trainer and `mt2o`, so both see the same batches.
pub(super) fn draw_batches(
    samplers: &mut [Sampler],
    tasks: &[TaskData],
    shared: bool,
    step: usize,
) -> Vec<crate::data::Batch> {
    let data: Vec<(&Tensor, &Tensor)> = tasks.iter().map(|t| (&t.train.x, &t.train.y)).collect();
    if shared {
        let mut b = shared_batches(&mut samplers[0], &data, step);
        let x = tasks[0].inputs.prepare(&b[0].x);
        for b in &mut b {
            b.x = x.shallow_clone();
        }
        b
    } else {
        let mut b = batches(samplers, &data, step);
        for (b, t) in b.iter_mut().zip(tasks) {
            b.x = t.inputs.prepare(&b.x);
        }
        b
    }
}

/// The entries of `state` under `prefix`, with the prefix removed.
pub(super) fn strip(state: &HashMap<String, Tensor>, prefix: &str) -> HashMap<String, Tensor> {
    state
        .iter()
        .filter_map(|(k, t)| {
            k.strip_prefix(prefix)
                .map(|k| (k.to_string(), t.shallow_clone()))
        })
        .collect()
}

/// Augments a step's batches in place: one draw per task, or one shared by every task when
/// they share inputs (the image is transformed once and every target moves with it).
fn augment(
    aug: &crate::data::augment::Augment,
    batches: &mut [crate::data::Batch],
    tasks: &[TaskData],
    shared: bool,
    seed: u64,
    step: usize,
) {
    if shared {
        let n = batches[0].x.size()[0] as usize;
        let draw = aug.draw(n, seed, step, 0);
        let x = aug.inputs(&batches[0].x, &draw);
        for (b, t) in batches.iter_mut().zip(tasks) {
            b.x = x.shallow_clone();
            b.y = aug.targets(&b.y, &draw, t.kind.spatial_target());
        }
    } else {
        for (k, (b, t)) in batches.iter_mut().zip(tasks).enumerate() {
            let draw = aug.draw(b.x.size()[0] as usize, seed, step, k as u64);
            b.x = aug.inputs(&b.x, &draw);
            b.y = aug.targets(&b.y, &draw, t.kind.spatial_target());
        }
    }
}

/// Restores parameters and buffers (batch-norm statistics) from a checkpoint.
pub fn load_params(net: &MultiTaskNet, state: &HashMap<String, Tensor>) -> Result<()> {
    tch::no_grad(|| {
        for (name, p) in net.named_params().into_iter().chain(net.named_buffers()) {
            let key = format!("model.{name}");
            let saved = state
                .get(&key)
                .with_context(|| format!("checkpoint lacks `{key}`"))?;
            if saved.size() != p.size() {
                bail!(
                    "checkpoint `{key}` has shape {:?}, the model {:?}",
                    saved.size(),
                    p.size()
                );
            }
            p.shallow_clone().copy_(saved);
        }
        Ok(())
    })
}

impl Run {
    /// The training batches of `step`: drawn by the samplers (one draw for shared inputs),
    /// inputs converted to network inputs (once for shared inputs), then augmented.
    fn batches_at(&mut self, step: usize) -> Vec<crate::data::Batch> {
        let mut out = draw_batches(&mut self.samplers, &self.tasks, self.shared_inputs, step);
        if let Some(aug) = &self.augment {
            augment(
                aug,
                &mut out,
                &self.tasks,
                self.shared_inputs,
                self.cfg.train.seed,
                step,
            );
        }
        out
    }

    fn schedule(&self) -> super::schedule::Schedule {
        super::schedule::Schedule::new(&self.cfg.train, self.steps_per_epoch, self.total)
    }

    fn eval_due(&self, step: usize) -> bool {
        self.schedule().is_due(step)
    }

    fn epoch(&self, step: usize) -> f64 {
        step as f64 / self.steps_per_epoch as f64
    }

    /// Evaluates, appends the rows, flushes, checkpoints. A non-finite evaluation is a
    /// [`Divergence`]: its rows are not written and no checkpoint is taken.
    fn record(&mut self, step: usize, wall: f64, opts: &RunOptions) -> Result<()> {
        let t_eval = Instant::now();
        let rows = evaluate(&self.net, &self.tasks, self.cfg.train.eval_batch_size);
        self.add_phase("evaluation", t_eval);
        if let Some(r) = rows.iter().find(|r| !r.loss().is_finite()) {
            return Err(Divergence(format!(
                "diverged: evaluation at step {step} (epoch {:.3}): loss of task `{}` on {} is {}; trajectory kept up to the last finite evaluation",
                self.epoch(step),
                self.tasks[r.task].name,
                r.split,
                r.loss()
            ))
            .into());
        }
        let epoch = self.epoch(step).to_string();
        let step_s = step.to_string();
        for r in &rows {
            let task = &self.tasks[r.task];
            for (m, v) in task.kind.metrics().iter().zip(&r.values) {
                let value = fmt_float(*v);
                self.dir
                    .trajectory
                    .row(&[&epoch, &step_s, &task.name, r.split, &m.name, &value])?;
            }
        }
        // Evaluation index from the step alone (the last one may be off the grid), so a
        // resumed run seeds its probes as the uninterrupted run did.
        let eval_index = self.schedule().index(step);
        let t_probes = Instant::now();
        if let Some(probes) = &mut self.probes {
            let early = step < self.steps_per_epoch;
            for r in probes.record(&self.net, eval_index, early)? {
                let task = r.task.map_or("", |k| self.tasks[k].name.as_str());
                let value = fmt_float(r.value);
                self.dir
                    .probes
                    .row(&[&epoch, &step_s, task, &r.probe, &value])?;
            }
            self.add_phase("probes", t_probes);
        }
        if opts.verbose {
            let summary: Vec<String> = rows
                .iter()
                .filter(|r| r.split != "test")
                .map(|r| {
                    let t = &self.tasks[r.task];
                    let metrics: Vec<String> = t
                        .kind
                        .metrics()
                        .iter()
                        .zip(&r.values)
                        .map(|(m, v)| format!("{} {v:.4}", m.name))
                        .collect();
                    format!("{}/{} {}", t.name, r.split, metrics.join(" "))
                })
                .collect();
            eprintln!(
                "[epoch {:.2} step {step}/{}] {}",
                self.epoch(step),
                self.total,
                summary.join(" | ")
            );
        }
        if fault::armed("eval", step) {
            // A kill in the middle of an evaluation: rows on disk, no checkpoint yet.
            self.dir.flush()?;
            fault::hit("eval", step);
        }
        self.checkpoint(step, wall)
    }

    /// Saves parameters, optimizer and objective state. Parameters that are no longer finite
    /// are a [`Divergence`]: the last checkpoint stays the last finite one.
    fn checkpoint(&mut self, step: usize, wall: f64) -> Result<()> {
        let t_checkpoint = Instant::now();
        let named = self.net.named_params();
        let values: Vec<Tensor> = named.iter().map(|(_, t)| t.shallow_clone()).collect();
        if let Some(i) = first_non_finite(&values) {
            let name = &named[i].0;
            return Err(Divergence(format!(
                "diverged: parameter `{name}` is not finite after step {step} (epoch {:.3}); last checkpoint kept",
                self.epoch(step)
            ))
            .into());
        }
        let csv_bytes = self.dir.flush()?;
        let mut tensors: Vec<(String, Tensor)> = self
            .net
            .named_params()
            .into_iter()
            .chain(self.net.named_buffers())
            .map(|(n, t)| (format!("model.{n}"), t))
            .collect();
        tensors.extend(
            self.optimizer
                .state()
                .into_iter()
                .map(|(n, t)| (format!("optim.{n}"), t)),
        );
        tensors.extend(
            self.objective
                .state()
                .into_iter()
                .map(|(n, t)| (format!("objective.{n}"), t)),
        );
        if let Some(s) = &self.similarity {
            tensors.extend(
                s.state()
                    .into_iter()
                    .map(|(n, t)| (format!("similarity.{n}"), t)),
            );
        }
        let config = self.cfg.to_toml();
        let meta = CheckpointMeta {
            step,
            csv_bytes,
            wall_seconds: wall,
            config_hash: Some(fnv1a_hex(config.as_bytes())),
            config: Some(config),
            tensors: String::new(),
        };
        self.dir.save_checkpoint(&tensors, &meta)?;
        self.info.steps = step;
        self.info.wall_seconds = wall;
        self.add_phase("checkpoints", t_checkpoint);
        self.dir.write_info(&self.info)
    }

    /// Adds the time since `since` to `phase` in `run.json`'s breakdown.
    fn add_phase(&mut self, phase: &str, since: Instant) {
        *self.info.phases.entry(phase.into()).or_default() += since.elapsed().as_secs_f64();
    }

    /// Writes the similarity summary of `epoch` (1-based) once it ends.
    fn write_similarity(&mut self, epoch: usize) -> Result<()> {
        let Some(s) = &mut self.similarity else {
            return Ok(());
        };
        for r in s.end_epoch(epoch) {
            let [mean, std, lo, hi] = r.stats.map(fmt_float);
            self.dir.similarity.row(&[
                &epoch.to_string(),
                r.pairs,
                r.pairing,
                r.measure,
                &r.n.to_string(),
                &mean,
                &std,
                &lo,
                &hi,
            ])?;
        }
        Ok(())
    }

    fn finish(&mut self, status: Status, step: usize, message: String) -> Result<RunOutcome> {
        // The loop's time less what was spent evaluating, probing and checkpointing.
        if let Some(t0) = self.loop_start {
            let other: f64 = ["evaluation", "probes", "checkpoints"]
                .iter()
                .filter_map(|p| self.info.phases.get(*p))
                .sum();
            let steps = (t0.elapsed().as_secs_f64() - other).max(0.0);
            self.info.phases.insert("steps".into(), steps);
        }
        self.info.status = status;
        self.info.message = message.clone();
        self.info.steps = step;
        self.dir.flush()?;
        self.dir.write_info(&self.info)?;
        Ok(RunOutcome {
            status,
            steps: step,
            message,
        })
    }

    /// Runs the loop; a [`Divergence`] anywhere in it ends the run as `diverged`.
    fn loop_from(
        &mut self,
        start: usize,
        wall_before: f64,
        opts: &RunOptions,
    ) -> Result<RunOutcome> {
        let mut at = start;
        match self.steps_from(start, wall_before, opts, &mut at) {
            Err(e) => match e.downcast::<Divergence>() {
                Ok(Divergence(msg)) => self.finish(Status::Diverged, at, msg),
                Err(e) => Err(e),
            },
            ok => ok,
        }
    }

    fn steps_from(
        &mut self,
        start: usize,
        wall_before: f64,
        opts: &RunOptions,
        at: &mut usize,
    ) -> Result<RunOutcome> {
        let t0 = Instant::now();
        self.loop_start = Some(t0);
        let wall = |t0: &Instant| wall_before + t0.elapsed().as_secs_f64();
        // The evaluation at the starting step, unless the CSVs already hold it (a resume from
        // a checkpoint taken after it, e.g. one interrupted before its first step).
        if self.eval_due(start) && self.dir.last_trajectory_step()? != Some(start) {
            self.record(start, wall(&t0), opts)?;
        }
        let bar = if opts.progress_bar {
            let b = ProgressBar::new(self.total as u64);
            b.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:30} step {pos}/{len} {msg} ETA {eta}",
                )
                .expect("valid template"),
            );
            b.set_position(start as u64);
            b
        } else {
            ProgressBar::hidden()
        };
        let params = self.net.params();
        let mut step = start;
        let names: Vec<String> = self
            .net
            .named_params()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        let lrs = optim::LrSchedule::new(&self.cfg.optim, self.steps_per_epoch);
        while step < self.total {
            *at = step;
            if opts.interrupt.load(Ordering::SeqCst) || opts.stop_after == Some(step) {
                self.checkpoint(step, wall(&t0))?;
                bar.abandon();
                let msg = format!("interrupted at step {step}; continue with --resume");
                return self.finish(Status::Interrupted, step, msg);
            }
            let batches = self.batches_at(step);
            if let Some(s) = self.similarity.as_mut().filter(|s| s.due(step)) {
                s.measure(&self.net, &batches, step)?;
            }
            let epoch_after = self.epoch(step + 1);
            let diverged = |what: String| {
                bar.abandon();
                Divergence(format!(
                    "diverged: {what} at step {} (epoch {epoch_after:.3}); trajectory kept up to the last evaluation",
                    step + 1,
                ))
            };
            // Optimizers that adapt per task (AdaTask, UMTG only: see resolve) take the UMTG
            // apart by task instead.
            let mut task_grads = Vec::new();
            let stepped = if self.optimizer.wants_task_grads() {
                let ts = optim::task_grads::umtg(&self.net, &batches, &self.cfg.objective);
                task_grads = ts.shared;
                Ok(ts.out)
            } else {
                self.objective.step(&self.net, &batches, step)
            };
            let out = match stepped {
                Ok(out) => out,
                Err(e) => match e.downcast::<NonFinite>() {
                    Ok(nf) => {
                        let task = &self.tasks[nf.task].name;
                        return Err(diverged(format!(
                            "{} of task `{task}` is {}",
                            nf.what, nf.value
                        ))
                        .into());
                    }
                    Err(e) => return Err(e),
                },
            };
            let losses: Vec<f64> =
                Vec::<f64>::try_from(out.losses.to_kind(Kind::Double).to_device(Device::Cpu))?;
            if let Some(k) = losses.iter().position(|l| !l.is_finite()) {
                let task = &self.tasks[k].name;
                return Err(diverged(format!("loss of task `{task}` is {}", losses[k])).into());
            }
            if let Some(i) = first_non_finite(&out.grads) {
                let name = &names[i];
                return Err(
                    diverged(format!("the gradient of parameter `{name}` is not finite")).into(),
                );
            }
            // The rate is a function of the step alone, so a resume sets the same one.
            self.optimizer.set_lr(lrs.lr(step));
            if task_grads.is_empty() {
                self.optimizer.step(&params, &out.grads);
            } else {
                self.optimizer.step_tasks(&params, &out.grads, &task_grads);
            }
            self.objective
                .after_step(&self.net, &batches, &out.losses)?;
            for q in &out.quantities {
                let task = q.task.map(|k| self.tasks[k].name.as_str()).unwrap_or("");
                self.dir.steps.row(&[
                    &(step + 1).to_string(),
                    q.name,
                    task,
                    &fmt_float(q.value),
                ])?;
            }
            step += 1;
            *at = step;
            if step.is_multiple_of(self.steps_per_epoch) {
                self.write_similarity(step / self.steps_per_epoch)?;
            }
            fault::hit("step", step);
            bar.set_position(step as u64);
            if step.is_multiple_of(20) || step == self.total {
                let l: Vec<String> = losses.iter().map(|l| format!("{l:.4}")).collect();
                bar.set_message(format!(
                    "epoch {:.2} loss {}",
                    self.epoch(step),
                    l.join("/")
                ));
            }
            if self.eval_due(step) {
                bar.suspend(|| self.record(step, wall(&t0), opts))?;
            }
        }
        bar.finish_and_clear();
        let msg = format!(
            "completed {} steps ({} epochs)",
            self.total, self.cfg.train.epochs
        );
        self.finish(Status::Completed, step, msg)
    }
}

/// The index of the first tensor holding a NaN or infinity, if any (one reduction per
/// tensor, one copy to the host).
fn first_non_finite(tensors: &[Tensor]) -> Option<usize> {
    if tensors.is_empty() {
        return None;
    }
    let flags: Vec<Tensor> = tch::no_grad(|| tensors.iter().map(|t| t.isfinite().all()).collect());
    let ok: Vec<bool> = Vec::try_from(Tensor::stack(&flags, 0).to_device(Device::Cpu)).ok()?;
    ok.iter().position(|f| !f)
}
