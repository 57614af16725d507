//! The loss-scale invariance toy of Elich et al. ("Examining Common Paradigms in Multi-Task
//! Learning", GCPR 2024, §4.1, App. A1–A2, Figs. A1–A2): does multiplying each task loss by a
//! constant α_t change the training updates?
//!
//! Derivations (App. A1), for the objective Σ_t w_t L_t and parameters θ = {φ, ψ_1, ψ_2}
//! (shared backbone φ, head ψ_t used only by task t, so ∂L_j/∂ψ_t = 0 for j ≠ t):
//! - SGD (Eqs. 12–14): θ_i = θ_{i−1} − γ Σ_t α_t ∇L_t, so α_t acts as a task learning rate:
//!   no invariance, with or without momentum; the first head update scales exactly by α_t.
//! - Adam (Eqs. 15–21): for a head, m̂ = α_t m̂', v̂ = α_t² v̂' by induction from m_0 = v_0 = 0,
//!   so Δ = γ α m̂'/(α √v̂' + ε) = γ m̂'/(√v̂' + ε/α): invariant up to ε. From the same state the
//!   exact difference is |Δ_α − Δ| = |Δ| · ε |1 − 1/α| / (√v̂' + ε/α), i.e. relative
//!   ε|1 − 1/α|/√v̂'. The backbone's m carries Σ_t α_t g_t (linear in α) and v its square, so
//!   the backbone is not invariant (nor, once it moves, are the heads).
//! - Per-task Adam (AdaTask-like): one Adam state per task loss for φ, the update being the sum
//!   of the per-task steps; each is invariant as above, so the whole network is.
//! - UW-O (Eqs. 6–11, the Laplace form): σ_t* = L_t, so L = Σ_t L_t / sg[L_t]; with α_t L_t
//!   the weight α_t/(α_t L_t) cancels α_t exactly (up to rounding), for every parameter and any
//!   optimizer.
//!
//! The toy (App. A2): scalar inputs x ~ U(0, 1), targets y_t = s_t x (two "depth" tasks in
//! different units); a shared backbone of two linear layers of 20 units with LeakyReLU
//! (slope 0.01) after each; two heads Linear(20, 20) → LeakyReLU → Linear(20, 1); L1 losses;
//! PyTorch-default initialisation U(±1/√fan_in). Runs: EW + SGD with momentum, EW + Adam,
//! UW-O + SGD, EW + per-task Adam, each with the losses unscaled (α = 1) and scaled
//! (α = (10, 0.1), the figure captions' values), with the backbone frozen (Fig. A1) and
//! trained (Fig. A2). The paper gives no learning rates, momentum, sample count, batch size,
//! target scales or initialisation; ours are [`Config`]'s defaults, all configurable.
//!
//! Forward and backward passes are written by hand in f64 (checked against finite
//! differences in the tests).

use anyhow::{bail, Context, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::optim::{Optimizer, OptimizerKind};

/// LeakyReLU's negative slope (PyTorch's default).
pub const SLOPE: f64 = 0.01;

/// The toy's settings (the paper's gaps filled with these defaults).
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Hidden units (paper: 20).
    pub hidden: usize,
    /// Training samples.
    pub samples: usize,
    /// Batch size.
    pub batch: usize,
    /// Epochs (paper: 100).
    pub epochs: usize,
    /// Target scales s_t: y_t = s_t x.
    pub target_scales: [f64; 2],
    /// Loss scales α_t of the scaled runs (paper captions: 10 and 0.1).
    pub loss_scales: [f64; 2],
    /// SGD learning rate (EW + SGD and UW-O + SGD).
    pub sgd_lr: f64,
    /// SGD momentum.
    pub momentum: f64,
    /// Adam learning rate (EW + Adam and per-task Adam).
    pub adam_lr: f64,
    /// Adam's β₁.
    pub beta1: f64,
    /// Adam's β₂.
    pub beta2: f64,
    /// Adam's ε.
    pub eps: f64,
    /// Seed of the data, the initialisation and the batch order (the same for every run).
    pub seed: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            hidden: 20,
            samples: 256,
            batch: 32,
            epochs: 100,
            target_scales: [1.0, 10.0],
            loss_scales: [10.0, 0.1],
            sgd_lr: 1e-2,
            momentum: 0.9,
            adam_lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            seed: 0,
        }
    }
}

impl Config {
    /// Checks every value, naming the bad one.
    pub fn check(&self) -> Result<()> {
        let pos = |name: &str, v: f64| -> Result<()> {
            if !(v.is_finite() && v > 0.0) {
                bail!("invariance: {name} must be a finite number > 0, got {v}");
            }
            Ok(())
        };
        if self.hidden == 0 || self.samples == 0 || self.batch == 0 || self.epochs == 0 {
            bail!("invariance: hidden, samples, batch and epochs must be >= 1");
        }
        for (n, v) in [
            ("target scale 1", self.target_scales[0]),
            ("target scale 2", self.target_scales[1]),
            ("loss scale 1", self.loss_scales[0]),
            ("loss scale 2", self.loss_scales[1]),
            ("sgd lr", self.sgd_lr),
            ("adam lr", self.adam_lr),
        ] {
            pos(n, v)?;
        }
        for (n, v) in [
            ("momentum", self.momentum),
            ("beta1", self.beta1),
            ("beta2", self.beta2),
        ] {
            if !(0.0..1.0).contains(&v) {
                bail!("invariance: {n} must be in [0, 1), got {v}");
            }
        }
        if !(self.eps.is_finite() && self.eps >= 0.0) {
            bail!("invariance: eps must be >= 0, got {}", self.eps);
        }
        Ok(())
    }

    /// Steps per epoch (the last batch may be smaller).
    pub fn steps_per_epoch(&self) -> usize {
        self.samples.div_ceil(self.batch)
    }

    fn adam(&self) -> OptimizerKind {
        OptimizerKind::Adam {
            beta1: self.beta1,
            beta2: self.beta2,
            eps: self.eps,
        }
    }
}

/// Loss weighting × optimizer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Equal weights (on the scaled losses), SGD with momentum.
    EwSgd,
    /// Equal weights, Adam.
    EwAdam,
    /// Optimal uncertainty weighting w_t = 1/sg[α_t L_t], SGD with momentum.
    UwoSgd,
    /// Equal weights, one Adam state per task loss for the backbone.
    EwPerTaskAdam,
}

impl Method {
    /// All four, in the paper's order.
    pub const ALL: [Method; 4] = [
        Method::EwSgd,
        Method::EwAdam,
        Method::UwoSgd,
        Method::EwPerTaskAdam,
    ];

    /// Short name (CSV, file names).
    pub fn name(self) -> &'static str {
        match self {
            Method::EwSgd => "ew_sgd",
            Method::EwAdam => "ew_adam",
            Method::UwoSgd => "uwo_sgd",
            Method::EwPerTaskAdam => "ew_pertask_adam",
        }
    }

    /// Legend label.
    pub fn label(self) -> &'static str {
        match self {
            Method::EwSgd => "EW + SGD(mom)",
            Method::EwAdam => "EW + Adam",
            Method::UwoSgd => "UW-O + SGD(mom)",
            Method::EwPerTaskAdam => "EW + per-task Adam",
        }
    }
}

/// One run of the toy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunSpec {
    /// Weighting and optimizer.
    pub method: Method,
    /// Losses multiplied by `Config::loss_scales` (else by 1).
    pub scaled: bool,
    /// Backbone frozen at its initialisation (only the heads train).
    pub frozen: bool,
}

impl RunSpec {
    /// `ew_adam/scaled/frozen`.
    pub fn id(&self) -> String {
        format!(
            "{}/{}/{}",
            self.method.name(),
            if self.scaled { "scaled" } else { "unscaled" },
            if self.frozen { "frozen" } else { "trained" }
        )
    }
}

/// Parameter layout: backbone W1 (H×1), b1, W2 (H×H), b2; head V1 (H×H), c1, V2 (1×H), c2.
#[derive(Debug, Clone, PartialEq)]
pub struct Net {
    /// Hidden width H.
    pub hidden: usize,
    /// Backbone parameters.
    pub backbone: Vec<f64>,
    /// The two heads' parameters.
    pub heads: [Vec<f64>; 2],
}

fn lrelu(z: f64) -> f64 {
    if z > 0.0 {
        z
    } else {
        SLOPE * z
    }
}

fn lrelu_grad(z: f64) -> f64 {
    if z > 0.0 {
        1.0
    } else {
        SLOPE
    }
}

impl Net {
    /// PyTorch-default initialisation: every weight and bias of a layer with fan-in f drawn
    /// from U(−1/√f, 1/√f).
    pub fn init(hidden: usize, rng: &mut ChaCha8Rng) -> Net {
        let h = hidden;
        let mut layer = |fan_in: usize, n: usize, out: &mut Vec<f64>| {
            let b = 1.0 / (fan_in as f64).sqrt();
            out.extend((0..n).map(|_| rng.random_range(-b..b)));
        };
        let mut backbone = Vec::new();
        layer(1, h + h, &mut backbone); // W1, b1
        layer(h, h * h + h, &mut backbone); // W2, b2
        let mut heads = [Vec::new(), Vec::new()];
        for head in &mut heads {
            layer(h, h * h + h, head); // V1, c1
            layer(h, h + 1, head); // V2, c2
        }
        Net {
            hidden,
            backbone,
            heads,
        }
    }

    /// Number of backbone and head parameters.
    pub fn sizes(hidden: usize) -> (usize, usize) {
        let h = hidden;
        (2 * h + h * h + h, h * h + h + h + 1)
    }

    /// Task losses L_t = mean_i |ŷ_t(x_i) − y_t,i| and their gradients: per task w.r.t. the
    /// backbone, and w.r.t. its own head. d|z|/dz = sign(z) (0 at 0), LeakyReLU' = 1 for z > 0
    /// else the slope (PyTorch's conventions).
    // Dense index arithmetic over the layer layout reads best as index loops.
    #[allow(clippy::needless_range_loop)]
    pub fn losses_and_grads(&self, xs: &[f64], ys: [&[f64]; 2]) -> Grads {
        let h = self.hidden;
        let n = xs.len() as f64;
        let (w1, rest) = self.backbone.split_at(h);
        let (b1, rest) = rest.split_at(h);
        let (w2, b2) = rest.split_at(h * h);
        let (nb, nh) = Net::sizes(h);
        let mut out = Grads {
            losses: [0.0; 2],
            backbone: [vec![0.0; nb], vec![0.0; nb]],
            heads: [vec![0.0; nh], vec![0.0; nh]],
        };
        let (mut z1, mut a1, mut z2, mut a2) =
            (vec![0.0; h], vec![0.0; h], vec![0.0; h], vec![0.0; h]);
        let (mut u, mut au, mut du, mut dz2, mut dz1) = (
            vec![0.0; h],
            vec![0.0; h],
            vec![0.0; h],
            vec![0.0; h],
            vec![0.0; h],
        );
        for (i, &x) in xs.iter().enumerate() {
            for k in 0..h {
                z1[k] = w1[k] * x + b1[k];
                a1[k] = lrelu(z1[k]);
            }
            for k in 0..h {
                z2[k] = b2[k] + (0..h).map(|j| w2[k * h + j] * a1[j]).sum::<f64>();
                a2[k] = lrelu(z2[k]);
            }
            for t in 0..2 {
                let p = &self.heads[t];
                let (v1, rest) = p.split_at(h * h);
                let (c1, rest) = rest.split_at(h);
                let (v2, c2) = rest.split_at(h);
                for k in 0..h {
                    u[k] = c1[k] + (0..h).map(|j| v1[k * h + j] * a2[j]).sum::<f64>();
                    au[k] = lrelu(u[k]);
                }
                let y = c2[0] + (0..h).map(|k| v2[k] * au[k]).sum::<f64>();
                let r = y - ys[t][i];
                out.losses[t] += r.abs() / n;
                let dy = if r > 0.0 {
                    1.0 / n
                } else if r < 0.0 {
                    -1.0 / n
                } else {
                    0.0
                };
                if dy == 0.0 {
                    continue;
                }
                // Head: V2, c2, then V1, c1.
                let g = &mut out.heads[t];
                for k in 0..h {
                    g[h * h + h + k] += dy * au[k];
                    du[k] = dy * v2[k] * lrelu_grad(u[k]);
                    g[h * h + k] += du[k];
                    for j in 0..h {
                        g[k * h + j] += du[k] * a2[j];
                    }
                }
                g[h * h + 2 * h] += dy;
                // Backbone, task t: back through V1, then W2, b2, W1, b1.
                for j in 0..h {
                    let da2: f64 = (0..h).map(|k| v1[k * h + j] * du[k]).sum();
                    dz2[j] = da2 * lrelu_grad(z2[j]);
                }
                let gb = &mut out.backbone[t];
                for k in 0..h {
                    gb[2 * h + h * h + k] += dz2[k];
                    for j in 0..h {
                        gb[2 * h + k * h + j] += dz2[k] * a1[j];
                    }
                }
                for j in 0..h {
                    let da1: f64 = (0..h).map(|k| w2[k * h + j] * dz2[k]).sum();
                    dz1[j] = da1 * lrelu_grad(z1[j]);
                    gb[j] += dz1[j] * x;
                    gb[h + j] += dz1[j];
                }
            }
        }
        out
    }
}

/// Losses and per-task gradients of one batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Grads {
    /// (L1, L2), unscaled.
    pub losses: [f64; 2],
    /// ∇_φ L_t.
    pub backbone: [Vec<f64>; 2],
    /// ∇_{ψ_t} L_t.
    pub heads: [Vec<f64>; 2],
}

/// The data set: x ~ U(0, 1), y_t = s_t x.
#[derive(Debug, Clone, PartialEq)]
pub struct Data {
    /// Inputs.
    pub x: Vec<f64>,
    /// Targets per task.
    pub y: [Vec<f64>; 2],
}

impl Data {
    /// `cfg.samples` draws from the seeded stream.
    pub fn new(cfg: &Config, rng: &mut ChaCha8Rng) -> Data {
        let x: Vec<f64> = (0..cfg.samples).map(|_| rng.random::<f64>()).collect();
        let y = [0, 1].map(|t| x.iter().map(|v| cfg.target_scales[t] * v).collect());
        Data { x, y }
    }
}

/// What one step records: per task the loss and the scaled loss, per part (backbone, head 1,
/// head 2) the norm of the gradient given to the optimizer and of the update.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepRecord {
    /// Step index from 0.
    pub step: usize,
    /// L_t on the batch.
    pub loss: [f64; 2],
    /// α_t L_t.
    pub scaled_loss: [f64; 2],
    /// ‖Σ_t w_t ∇_φ L_t‖, ‖w_1 ∇_{ψ1} L_1‖, ‖w_2 ∇_{ψ2} L_2‖.
    pub grad_norm: [f64; 3],
    /// ‖θ_i − θ_{i−1}‖ per part (0 for a frozen backbone).
    pub update_norm: [f64; 3],
}

/// One run's state: the net, its optimizers and the batch order.
#[derive(Debug, Clone)]
pub struct Trainer {
    cfg: Config,
    spec: RunSpec,
    data: Data,
    /// The network being trained.
    pub net: Net,
    /// Backbone optimizers (two for per-task Adam).
    backbone_opt: Vec<Optimizer>,
    head_opt: [Optimizer; 2],
    order: Vec<usize>,
    step: usize,
    /// The last updates Δ (θ ← θ − Δ): backbone, head 1, head 2.
    pub last_update: [Vec<f64>; 3],
}

impl Trainer {
    /// A fresh run: the data, the initial net and the batch order depend only on `cfg.seed`.
    pub fn new(cfg: &Config, spec: RunSpec) -> Result<Trainer> {
        cfg.check()?;
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        let data = Data::new(cfg, &mut rng);
        let net = Net::init(cfg.hidden, &mut rng);
        let (nb, nh) = Net::sizes(cfg.hidden);
        let (kind, lr) = match spec.method {
            Method::EwSgd | Method::UwoSgd => (
                OptimizerKind::Sgd {
                    momentum: cfg.momentum,
                },
                cfg.sgd_lr,
            ),
            Method::EwAdam | Method::EwPerTaskAdam => (cfg.adam(), cfg.adam_lr),
        };
        let backbone_opt = match spec.method {
            Method::EwPerTaskAdam => vec![kind.build(lr, nb), kind.build(lr, nb)],
            _ => vec![kind.build(lr, nb)],
        };
        Ok(Trainer {
            cfg: cfg.clone(),
            spec,
            data,
            net,
            backbone_opt,
            head_opt: [kind.build(lr, nh), kind.build(lr, nh)],
            order: (0..cfg.samples).collect(),
            step: 0,
            last_update: [vec![0.0; nb], vec![0.0; nh], vec![0.0; nh]],
        })
    }

    /// The loss scales α of this run.
    pub fn alpha(&self) -> [f64; 2] {
        if self.spec.scaled {
            self.cfg.loss_scales
        } else {
            [1.0, 1.0]
        }
    }

    /// One optimizer step on the next batch (the order is reshuffled each epoch from the seed).
    pub fn step(&mut self) -> Result<StepRecord> {
        let per_epoch = self.cfg.steps_per_epoch();
        let (epoch, b) = (self.step / per_epoch, self.step % per_epoch);
        if b == 0 {
            let mut rng = ChaCha8Rng::seed_from_u64(self.cfg.seed ^ (0x5eed << 20) ^ epoch as u64);
            self.order = (0..self.cfg.samples).collect();
            for i in (1..self.order.len()).rev() {
                let j = rng.random_range(0..=i);
                self.order.swap(i, j);
            }
        }
        let idx = &self.order[b * self.cfg.batch..((b + 1) * self.cfg.batch).min(self.cfg.samples)];
        let xs: Vec<f64> = idx.iter().map(|&i| self.data.x[i]).collect();
        let ys: [Vec<f64>; 2] = [0, 1].map(|t| idx.iter().map(|&i| self.data.y[t][i]).collect());
        let g = self.net.losses_and_grads(&xs, [&ys[0], &ys[1]]);
        let alpha = self.alpha();
        let scaled = [alpha[0] * g.losses[0], alpha[1] * g.losses[1]];
        // The weight on L_t: α_t (EW on the scaled losses) or α_t / sg[α_t L_t] (UW-O).
        let w: [f64; 2] = match self.spec.method {
            Method::UwoSgd => [alpha[0] / scaled[0], alpha[1] / scaled[1]],
            _ => alpha,
        };
        if !w.iter().chain(&g.losses).all(|v| v.is_finite()) {
            bail!(
                "invariance run {}: non-finite loss or weight at step {} (losses {:?})",
                self.spec.id(),
                self.step,
                g.losses
            );
        }
        let weighted = |t: usize, v: &[f64]| -> Vec<f64> { v.iter().map(|x| w[t] * x).collect() };
        let mut grad_norm = [0.0; 3];
        let mut update_norm = [0.0; 3];
        // Heads.
        for t in 0..2 {
            let gt = weighted(t, &g.heads[t]);
            grad_norm[t + 1] = norm(&gt);
            let upd = &mut self.last_update[t + 1];
            self.head_opt[t].step(&mut self.net.heads[t], &gt, upd);
            update_norm[t + 1] = norm(upd);
        }
        // Backbone.
        let per_task: [Vec<f64>; 2] = [weighted(0, &g.backbone[0]), weighted(1, &g.backbone[1])];
        let total: Vec<f64> = per_task[0]
            .iter()
            .zip(&per_task[1])
            .map(|(a, b)| a + b)
            .collect();
        grad_norm[0] = norm(&total);
        if !self.spec.frozen {
            let upd = &mut self.last_update[0];
            if self.backbone_opt.len() == 2 {
                let mut part = vec![0.0; total.len()];
                upd.iter_mut().for_each(|v| *v = 0.0);
                for (opt, gt) in self.backbone_opt.iter_mut().zip(&per_task) {
                    opt.delta(gt, &mut part);
                    upd.iter_mut().zip(&part).for_each(|(u, p)| *u += p);
                }
                self.net
                    .backbone
                    .iter_mut()
                    .zip(upd.iter())
                    .for_each(|(p, d)| *p -= d);
            } else {
                self.backbone_opt[0].step(&mut self.net.backbone, &total, upd);
            }
            update_norm[0] = norm(upd);
        }
        let rec = StepRecord {
            step: self.step,
            loss: g.losses,
            scaled_loss: scaled,
            grad_norm,
            update_norm,
        };
        self.step += 1;
        Ok(rec)
    }

    /// The head optimizer of task t (for the tests of Adam's ε bound).
    pub fn head_optimizer(&self, t: usize) -> &Optimizer {
        &self.head_opt[t]
    }

    /// Runs every step of `cfg.epochs` epochs.
    pub fn run(mut self) -> Result<Vec<StepRecord>> {
        let n = self.cfg.epochs * self.cfg.steps_per_epoch();
        (0..n).map(|_| self.step()).collect()
    }
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// Every run of the study: 4 methods × {unscaled, scaled} × {frozen, trained}.
pub fn all_runs() -> Vec<RunSpec> {
    let mut v = Vec::new();
    for frozen in [true, false] {
        for method in Method::ALL {
            for scaled in [false, true] {
                v.push(RunSpec {
                    method,
                    scaled,
                    frozen,
                });
            }
        }
    }
    v
}

/// Runs `specs` (in parallel, one thread each up to `threads`), in order.
pub fn run_all(cfg: &Config, specs: &[RunSpec], threads: usize) -> Result<Vec<Vec<StepRecord>>> {
    cfg.check()?;
    let chunks: Vec<&[RunSpec]> = specs
        .chunks(specs.len().div_ceil(threads.max(1)).max(1))
        .collect();
    let mut out = Vec::new();
    std::thread::scope(|s| -> Result<()> {
        let handles: Vec<_> = chunks
            .iter()
            .map(|chunk| {
                s.spawn(move || {
                    chunk
                        .iter()
                        .map(|&spec| Trainer::new(cfg, spec)?.run())
                        .collect::<Result<Vec<_>>>()
                })
            })
            .collect();
        for h in handles {
            out.extend(h.join().expect("invariance worker panicked")?);
        }
        Ok(())
    })?;
    Ok(out)
}

/// The part names of [`StepRecord`]'s norms.
pub const PARTS: [&str; 3] = ["backbone", "head1", "head2"];

/// Writes `series.csv` (long form: run, method, scaled, backbone, step, epoch, part, metric,
/// value) and `summary.csv` (per method and part: the ratio of the first update norms scaled /
/// unscaled, the median relative difference of the update norms over training and the first
/// step where it exceeds 1e-3).
pub fn write_outputs(
    dir: &std::path::Path,
    cfg: &Config,
    specs: &[RunSpec],
    records: &[Vec<StepRecord>],
) -> Result<()> {
    let path = dir.join("series.csv");
    let mut w =
        csv::Writer::from_path(&path).with_context(|| format!("writing {}", path.display()))?;
    w.write_record([
        "run", "method", "scaled", "backbone", "step", "epoch", "part", "metric", "value",
    ])?;
    let per_epoch = cfg.steps_per_epoch() as f64;
    for (spec, recs) in specs.iter().zip(records) {
        let id = spec.id();
        let bb = if spec.frozen { "frozen" } else { "trained" };
        for r in recs {
            let (step, epoch) = (
                r.step.to_string(),
                format!("{}", (r.step + 1) as f64 / per_epoch),
            );
            let scaled = spec.scaled.to_string();
            let mut row = |part: &str, metric: &str, v: f64| {
                let v = format!("{v:e}");
                w.write_record([
                    id.as_str(),
                    spec.method.name(),
                    scaled.as_str(),
                    bb,
                    step.as_str(),
                    epoch.as_str(),
                    part,
                    metric,
                    v.as_str(),
                ])
            };
            for t in 0..2 {
                row(PARTS[t + 1], "loss", r.loss[t])?;
                row(PARTS[t + 1], "scaled_loss", r.scaled_loss[t])?;
            }
            for (p, part) in PARTS.iter().enumerate() {
                row(part, "grad_norm", r.grad_norm[p])?;
                // A frozen backbone has no updates.
                if !(p == 0 && spec.frozen) {
                    row(part, "update_norm", r.update_norm[p])?;
                }
            }
        }
    }
    w.flush()
        .with_context(|| format!("writing {}", path.display()))?;

    let path = dir.join("summary.csv");
    let mut w =
        csv::Writer::from_path(&path).with_context(|| format!("writing {}", path.display()))?;
    w.write_record([
        "method",
        "backbone",
        "part",
        "first_update_ratio",
        "median_rel_update_diff",
        "separates_at_step",
    ])?;
    for s in summary(specs, records) {
        w.write_record([
            s.method.name(),
            if s.frozen { "frozen" } else { "trained" },
            PARTS[s.part],
            format!("{:e}", s.first_ratio).as_str(),
            format!("{:e}", s.median_rel_diff).as_str(),
            s.separates_at
                .map(|k| k.to_string())
                .unwrap_or_default()
                .as_str(),
        ])?;
    }
    w.flush()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Scaled-vs-unscaled comparison of one method's update norms in one part.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Comparison {
    /// Method.
    pub method: Method,
    /// Backbone frozen.
    pub frozen: bool,
    /// 0 backbone, 1 head 1, 2 head 2.
    pub part: usize,
    /// ‖Δ_1‖ scaled / unscaled at the first step.
    pub first_ratio: f64,
    /// Median over steps of |‖Δ‖_scaled − ‖Δ‖_unscaled| / ‖Δ‖_unscaled.
    pub median_rel_diff: f64,
    /// The first step at which that relative difference exceeds 1e-3 (`None`: never).
    pub separates_at: Option<usize>,
}

/// Pairs each unscaled run with its scaled twin (same method and backbone mode).
pub fn summary(specs: &[RunSpec], records: &[Vec<StepRecord>]) -> Vec<Comparison> {
    let mut out = Vec::new();
    for (i, a) in specs.iter().enumerate().filter(|(_, s)| !s.scaled) {
        let Some(j) = specs
            .iter()
            .position(|b| b.scaled && b.method == a.method && b.frozen == a.frozen)
        else {
            continue;
        };
        for part in 0..3 {
            if part == 0 && a.frozen {
                continue;
            }
            let (ra, rb) = (&records[i], &records[j]);
            let first_ratio = rb[0].update_norm[part] / ra[0].update_norm[part];
            let diffs: Vec<f64> = ra
                .iter()
                .zip(rb)
                .map(|(x, y)| {
                    (y.update_norm[part] - x.update_norm[part]).abs() / x.update_norm[part]
                })
                .collect();
            let mut sorted: Vec<f64> = diffs.iter().copied().filter(|v| v.is_finite()).collect();
            sorted.sort_by(f64::total_cmp);
            out.push(Comparison {
                method: a.method,
                frozen: a.frozen,
                part,
                first_ratio,
                median_rel_diff: sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN),
                separates_at: diffs.iter().position(|d| d.is_nan() || *d > 1e-3),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small_net(seed: u64) -> (Net, Vec<f64>, [Vec<f64>; 2]) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let net = Net::init(5, &mut rng);
        let xs: Vec<f64> = (0..7).map(|_| rng.random::<f64>()).collect();
        let ys = [
            xs.iter().map(|x| 1.7 * x + 0.3).collect(),
            xs.iter().map(|x| -4.0 * x).collect(),
        ];
        (net, xs, ys)
    }

    #[test]
    fn backward_matches_finite_differences() {
        for seed in 0..3 {
            let (net, xs, ys) = small_net(seed);
            let g = net.losses_and_grads(&xs, [&ys[0], &ys[1]]);
            let h = 1e-6;
            let loss = |n: &Net, t: usize| n.losses_and_grads(&xs, [&ys[0], &ys[1]]).losses[t];
            for t in 0..2 {
                for k in 0..net.backbone.len() {
                    let (mut p, mut m) = (net.clone(), net.clone());
                    p.backbone[k] += h;
                    m.backbone[k] -= h;
                    let fd = (loss(&p, t) - loss(&m, t)) / (2.0 * h);
                    assert!(
                        (fd - g.backbone[t][k]).abs() < 1e-7,
                        "seed {seed} task {t} backbone {k}: {} vs {fd}",
                        g.backbone[t][k]
                    );
                }
                for k in 0..net.heads[t].len() {
                    let (mut p, mut m) = (net.clone(), net.clone());
                    p.heads[t][k] += h;
                    m.heads[t][k] -= h;
                    let fd = (loss(&p, t) - loss(&m, t)) / (2.0 * h);
                    assert!(
                        (fd - g.heads[t][k]).abs() < 1e-7,
                        "seed {seed} task {t} head {k}: {} vs {fd}",
                        g.heads[t][k]
                    );
                    // The other task's loss does not depend on this head.
                    assert_eq!(loss(&p, 1 - t), g.losses[1 - t]);
                }
            }
        }
    }

    #[test]
    fn hand_evaluated_forward() {
        // H = 1: backbone w1 = 2, b1 = −1, w2 = 3, b2 = 0.5; head 1 v1 = −1, c1 = 0, v2 = 2,
        // c2 = 0.25. x = 1: z1 = 1, a1 = 1, z2 = 3.5, a2 = 3.5, u = −3.5, au = −0.035,
        // y = 2·(−0.035) + 0.25 = 0.18; target 1: L = 0.82, dL/dc2 = −1, dL/dv2 = 0.035.
        let net = Net {
            hidden: 1,
            backbone: vec![2.0, -1.0, 3.0, 0.5],
            heads: [vec![-1.0, 0.0, 2.0, 0.25], vec![0.0, 0.0, 0.0, 5.0]],
        };
        let g = net.losses_and_grads(&[1.0], [&[1.0], &[2.0]]);
        assert!((g.losses[0] - 0.82).abs() < 1e-15 && (g.losses[1] - 3.0).abs() < 1e-15);
        assert_eq!(g.heads[0][3], -1.0);
        assert!((g.heads[0][2] - 0.035).abs() < 1e-15);
        // dL/du = −1 · 2 · 0.01 = −0.02; dL/dv1 = −0.02 · 3.5.
        assert!((g.heads[0][0] + 0.07).abs() < 1e-15);
        // Backbone: dL/da2 = −1 · (−0.02) = 0.02 → dL/dw2 = 0.02 · a1 = 0.02, dL/db2 = 0.02,
        // dL/da1 = 0.06 → dL/dw1 = 0.06 · x, dL/db1 = 0.06.
        let b = &g.backbone[0];
        assert!((b[2] - 0.02).abs() < 1e-15 && (b[3] - 0.02).abs() < 1e-15);
        assert!((b[0] - 0.06).abs() < 1e-15 && (b[1] - 0.06).abs() < 1e-15);
        // Task 2: v1 = 0 cuts the path to the backbone.
        assert!(g.backbone[1].iter().all(|v| *v == 0.0));
    }
}
