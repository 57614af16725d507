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
use super::objective::{self, Objective};
use super::optim::{self, Optimizer};
use super::sampler::{batches, Sampler};
use super::store::{read_checkpoint, CheckpointMeta, RunDir, RunInfo, Status};
use crate::config::RunConfig;
use crate::data::{load_tasks, TaskData};
use crate::model::MultiTaskNet;
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

/// Everything a run holds while it trains.
struct Run {
    cfg: RunConfig,
    tasks: Vec<TaskData>,
    net: MultiTaskNet,
    optimizer: Box<dyn Optimizer>,
    objective: Box<dyn Objective>,
    samplers: Vec<Sampler>,
    dir: RunDir,
    info: RunInfo,
    probes: Option<ProbeSet>,
    steps_per_epoch: usize,
    total: usize,
}

/// Trains as configured; returns how it ended. Errors are for bad input and I/O; a
/// diverging loss is an outcome, not an error.
pub fn train(opts: RunOptions) -> Result<RunOutcome> {
    let cfg = opts.config.clone();
    let device = opts.device;
    // Data first: a bad dataset stops before anything is written.
    let tasks: Vec<TaskData> = load_tasks(&cfg.data)?
        .into_iter()
        .map(|t| TaskData {
            name: t.name,
            classes: t.classes,
            train: t.train.to(device),
            val: t.val.to(device),
            test: t.test.to(device),
        })
        .collect();
    let shape = tasks[0].train.x.size();
    let input = [shape[1], shape[2], shape[3]];
    let heads: Vec<(String, i64)> = tasks.iter().map(|t| (t.name.clone(), t.classes)).collect();
    let net = MultiTaskNet::seeded(cfg.train.seed, &cfg.model, &heads, input, device)?;
    let samplers: Vec<Sampler> = tasks
        .iter()
        .enumerate()
        .map(|(k, t)| Sampler::new(cfg.train.seed, k, t.train.len(), cfg.train.batch_size))
        .collect();
    let steps_per_epoch = samplers[0].batches_per_pass();
    let total = steps_per_epoch * cfg.train.epochs;
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
        tasks: tasks.iter().map(|t| t.name.clone()).collect(),
        wall_seconds: 0.0,
        device: format!("{device:?}").to_lowercase(),
        versions,
    };
    let optimizer = optim::build(&cfg.optim);
    let objective = objective::build(&cfg.objective, tasks.len(), steps_per_epoch)?;
    let probes = if cfg.probes.enabled {
        Some(ProbeSet::new(
            &cfg.probes,
            cfg.model.encoder,
            &tasks,
            device,
        )?)
    } else {
        None
    };

    let (dir, start, wall_before, state) = if opts.resume {
        let (meta, state) = read_checkpoint(&opts.out)?;
        load_params(&net, &state)?;
        (
            RunDir::reopen(&opts.out, &meta)?,
            meta.step,
            meta.wall_seconds,
            Some(state),
        )
    } else {
        (RunDir::create(&opts.out, &cfg.to_toml())?, 0, 0.0, None)
    };
    let mut run = Run {
        cfg,
        tasks,
        net,
        optimizer,
        objective,
        samplers,
        dir,
        info,
        probes,
        steps_per_epoch,
        total,
    };
    if let Some(state) = &state {
        run.optimizer.load_state(&strip(state, "optim."))?;
        run.objective.load_state(&strip(state, "objective."))?;
    }
    run.info.steps = start;
    run.info.wall_seconds = wall_before;
    run.dir.write_info(&run.info)?;
    run.loop_from(start, wall_before, &opts)
}

/// The entries of `state` under `prefix`, with the prefix removed.
fn strip(state: &HashMap<String, Tensor>, prefix: &str) -> HashMap<String, Tensor> {
    state
        .iter()
        .filter_map(|(k, t)| {
            k.strip_prefix(prefix)
                .map(|k| (k.to_string(), t.shallow_clone()))
        })
        .collect()
}

fn load_params(net: &MultiTaskNet, state: &HashMap<String, Tensor>) -> Result<()> {
    tch::no_grad(|| {
        for (name, p) in net.named_params() {
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
    fn schedule(&self) -> super::schedule::Schedule {
        super::schedule::Schedule::new(&self.cfg.train, self.steps_per_epoch, self.total)
    }

    fn eval_due(&self, step: usize) -> bool {
        self.schedule().is_due(step)
    }

    fn epoch(&self, step: usize) -> f64 {
        step as f64 / self.steps_per_epoch as f64
    }

    /// Evaluates, appends the rows, flushes, checkpoints.
    fn record(&mut self, step: usize, wall: f64, opts: &RunOptions) -> Result<()> {
        let rows = evaluate(&self.net, &self.tasks, self.cfg.train.eval_batch_size);
        let epoch = self.epoch(step).to_string();
        let step_s = step.to_string();
        for r in &rows {
            let (loss, acc) = (r.loss.to_string(), r.accuracy.to_string());
            self.dir.trajectory.row(&[
                &epoch,
                &step_s,
                &self.tasks[r.task].name,
                r.split,
                &loss,
                &acc,
            ])?;
        }
        // Evaluation index from the step alone (the last one may be off the grid), so a
        // resumed run seeds its probes as the uninterrupted run did.
        let eval_index = self.schedule().index(step);
        if let Some(probes) = &mut self.probes {
            for r in probes.record(&self.net, eval_index)? {
                let task = r.task.map_or("", |k| self.tasks[k].name.as_str());
                let value = r.value.to_string();
                self.dir
                    .probes
                    .row(&[&epoch, &step_s, task, &r.probe, &value])?;
            }
        }
        if opts.verbose {
            let summary: Vec<String> = rows
                .iter()
                .filter(|r| r.split != "test")
                .map(|r| {
                    format!(
                        "{}/{} loss {:.4} acc {:.4}",
                        self.tasks[r.task].name, r.split, r.loss, r.accuracy
                    )
                })
                .collect();
            eprintln!(
                "[epoch {:.2} step {step}/{}] {}",
                self.epoch(step),
                self.total,
                summary.join(" | ")
            );
        }
        self.checkpoint(step, wall)
    }

    fn checkpoint(&mut self, step: usize, wall: f64) -> Result<()> {
        let csv_bytes = self.dir.flush()?;
        let mut tensors: Vec<(String, Tensor)> = self
            .net
            .named_params()
            .into_iter()
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
        let meta = CheckpointMeta {
            step,
            csv_bytes,
            wall_seconds: wall,
        };
        self.dir.save_checkpoint(&tensors, &meta)?;
        self.info.steps = step;
        self.info.wall_seconds = wall;
        self.dir.write_info(&self.info)
    }

    fn finish(&mut self, status: Status, step: usize, message: String) -> Result<RunOutcome> {
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

    fn loop_from(
        &mut self,
        start: usize,
        wall_before: f64,
        opts: &RunOptions,
    ) -> Result<RunOutcome> {
        let t0 = Instant::now();
        let wall = |t0: &Instant| wall_before + t0.elapsed().as_secs_f64();
        if start == 0 {
            self.record(0, wall(&t0), opts)?;
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
        while step < self.total {
            if opts.interrupt.load(Ordering::SeqCst) || opts.stop_after == Some(step) {
                self.checkpoint(step, wall(&t0))?;
                bar.abandon();
                let msg = format!("interrupted at step {step}; continue with --resume");
                return self.finish(Status::Interrupted, step, msg);
            }
            let data: Vec<(&Tensor, &Tensor)> = self
                .tasks
                .iter()
                .map(|t| (&t.train.x, &t.train.y))
                .collect();
            let batches = batches(&mut self.samplers, &data, step);
            let out = self.objective.step(&self.net, &batches, step)?;
            let losses: Vec<f64> =
                Vec::<f64>::try_from(out.losses.to_kind(Kind::Double).to_device(Device::Cpu))?;
            if let Some(k) = losses.iter().position(|l| !l.is_finite()) {
                bar.abandon();
                let msg = format!(
                    "diverged: loss of task `{}` is {} at step {} (epoch {:.3}); trajectory kept up to the last evaluation",
                    self.tasks[k].name,
                    losses[k],
                    step + 1,
                    self.epoch(step + 1)
                );
                return self.finish(Status::Diverged, step, msg);
            }
            self.optimizer.step(&params, &out.grads);
            self.objective
                .after_step(&self.net, &batches, &out.losses)?;
            for q in &out.quantities {
                let task = q.task.map(|k| self.tasks[k].name.as_str()).unwrap_or("");
                self.dir.steps.row(&[
                    &(step + 1).to_string(),
                    q.name,
                    task,
                    &q.value.to_string(),
                ])?;
            }
            step += 1;
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
