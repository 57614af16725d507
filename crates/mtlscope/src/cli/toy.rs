//! `mtlscope toy cagrad`, `mtlscope toy invariance` and `mtlscope toy mt2o`: the toy studies of
//! [`mtlscope::toy`].

use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use mtlscope::toy::cagrad::{self, Criterion, Grid, MethodSpec, Metric, OptimizerSpec, Until};
use mtlscope::toy::mt2o::{self, Init, Scalarization, TransferSpec};
use mtlscope::toy::{invariance, plot};

/// Arguments of `mtlscope toy`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Which toy.
    #[command(subcommand)]
    pub toy: Toy,
}

/// The toys.
#[derive(Debug, clap::Subcommand)]
pub enum Toy {
    /// CAGrad's two-task 2-D problem: aggregators × GD/Adam × learning rates from the three
    /// published starts (Elich et al. 2024, Fig. 1, Tab. A3).
    #[command(long_about = CAGRAD_ABOUT)]
    Cagrad(CagradArgs),
    /// Loss-scale invariance of SGD, Adam, UW-O and per-task Adam on a two-head regression
    /// (Elich et al. 2024, §4.1, App. A1–A2).
    #[command(long_about = INVARIANCE_ABOUT)]
    Invariance(InvarianceArgs),
    /// MT2O (as reconstructed from the abstract and MGD) against K independent runs on the
    /// bi-objective toy with a known Pareto front (Bai et al. 2024; spec mt2o.md).
    #[command(long_about = MT2O_ABOUT)]
    Mt2o(Mt2oArgs),
}

const CAGRAD_ABOUT: &str = "\
CAGrad's two-task 2-D toy (Cranial-XIX/CAGrad toy.py), as studied by Elich et al. 2024 (Fig. 1, \
Tab. A3): every method x optimizer x learning rate x start runs `--iters` steps in f64.

Convergence criterion: a run converges at the first step k whose iterate satisfies \
meanloss(x_k) - L* <= tol, with L* = -15.0916 the mean loss's global minimum (at x* = (0, -8.3552)) \
and tol = 0.1 by default (the paper states no criterion; this one reproduces its Adam counts at \
lr >= 0.5 exactly). `--criterion distance` uses ||x_k - x*||_2 <= tol instead, and `--until stay` \
counts the first step from which the criterion holds up to the last step. The table reports the \
maximum over the starts, and '–' when not all converge.

Methods are registry names (`mtlscope methods`) with toy.py's conventions: ew = mean, pcgrad is \
halved (toy.py averages the projected gradients), cagrad uses c = 0.5 and divides by 1 + c; \
override with --param METHOD.KEY=VALUE (METHOD.scale=S multiplies the direction).

Outputs with --out DIR: iterations.csv (method,optimizer,lr,start,iterations,converged; \
iterations = steps to convergence, or steps run when not converged), table.csv, table.md (with \
Elich's Tab. A3 values in parentheses) and contours.svg/png.";

const INVARIANCE_ABOUT: &str = "\
Elich et al. 2024 App. A2: a shared 2-layer LeakyReLU backbone (20 units) with two 2-layer heads, \
L1 losses, targets y_t = s_t x with x ~ U(0,1). Runs EW + SGD(momentum), EW + Adam, UW-O + SGD \
and EW + per-task Adam with the losses unscaled and scaled (x10, x0.1), backbone frozen and \
trained. Outputs with --out DIR: series.csv (long form), summary.csv (scaled/unscaled update \
norms) and invariance_frozen / invariance_trained .svg/.png.";

const MT2O_ABOUT: &str = "\
MT2O as reconstructed from the abstract and MGD (Bai, Gupta & Ong 2024; only the abstract was \
retrievable, every choice is configurable): K models, one per weight vector lambda_k = \
(k/(K-1), 1-k/(K-1)) (Das-Dennis), each minimising a scalarisation of f1(x) = 1 - exp(-|x - 1/sqrt(n)|^2), \
f2(x) = 1 - exp(-|x + 1/sqrt(n)|^2), x in R^n (Pareto MTL / EPO's toy, concave front), updated \
together by MGD's step theta_k <- sum_j M_kj theta_j - lr v_k (v_k: the gradient, or its momentum \
buffer), against the same K models with M = I (independent linear scalarisation) from the same \
start.

Transfers (mass w0 = alpha x lr, MGD's w = alpha lr c with c folded into alpha): identity; \
constant (w0 split evenly over the other models); decaying (the same with w_t = w0 gamma^t); \
neighbourhood (w0 over the --neighbours nearest lambda's, in proportion to \
exp(-|lambda_k - lambda_j|^2 / tau); tau defaults to the squared lattice spacing 2/(K-1)^2).

Hypervolume is exact, with reference point --reference (default 1,1, COSMOS's). The K points \
cannot reach the whole front's hypervolume: the summary reports, per method, the iterations \
until the hypervolume first reaches (and from when on it stays above) --fraction (0.99) x that of \
the K subproblems' analytic optima (hv_optima) and of the whole front (hv_front), and until the \
generational distance (gd) and the mean distance of each model to its own subproblem's optimum \
(dist_optima) fall below --tol (1e-3). Outputs with --out DIR: trajectory.csv \
(method,iteration,model,f1,f2), hypervolume.csv (method,iteration,hypervolume,igd,gd,dist_optima,\
ref_f1,ref_f2), summary.csv (method,transfer,scalarization,ref_f1,ref_f2,criterion,threshold,\
first_iteration,stay_iteration,final_value), optima.csv (the analytic optima) and mt2o_front / \
mt2o_hypervolume .svg/.png.";

/// Arguments of `mtlscope toy mt2o`.
#[derive(Debug, clap::Args)]
pub struct Mt2oArgs {
    /// Output directory.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Models K (one per weight vector; >= 2).
    #[arg(long, default_value_t = 5, allow_negative_numbers = true)]
    pub k: i64,
    /// Dimension n of x.
    #[arg(long, default_value_t = 20, allow_negative_numbers = true)]
    pub n: i64,
    /// Steps.
    #[arg(long, default_value_t = 1000, allow_negative_numbers = true)]
    pub iters: i64,
    /// Step size (learning rate).
    #[arg(long, default_value_t = 0.1, allow_negative_numbers = true)]
    pub lr: f64,
    /// Heavy-ball momentum (torch SGD semantics; 0: gradient descent).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub momentum: f64,
    /// MT2O's transfer: identity, constant, decaying or neighbourhood.
    #[arg(long, default_value = "neighbourhood")]
    pub transfer: String,
    /// Transfer mass per step w0 = alpha x lr.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub alpha: f64,
    /// `decaying` only: w_t = w0 gamma^t (default 0.99).
    #[arg(long, allow_negative_numbers = true)]
    pub gamma: Option<f64>,
    /// `neighbourhood` only: how many nearest lambda's each model takes from (default 2).
    #[arg(long, allow_negative_numbers = true)]
    pub neighbours: Option<i64>,
    /// `neighbourhood` only: similarity width tau (default 2/(K-1)^2).
    #[arg(long, allow_negative_numbers = true)]
    pub tau: Option<f64>,
    /// Transfer only the first P coordinates (default: all n).
    #[arg(long, allow_negative_numbers = true)]
    pub transfer_coords: Option<i64>,
    /// linear or tchebycheff.
    #[arg(long, default_value = "linear")]
    pub scalarization: String,
    /// Tchebycheff's ideal point Z1,Z2 (each <= 0; default 0,0).
    #[arg(long, allow_negative_numbers = true)]
    pub ideal: Option<String>,
    /// `shared` (one draw for all K models) or `per-model`.
    #[arg(long, default_value = "shared")]
    pub init: String,
    /// Initial points ~ U(-a, a)^n.
    #[arg(long, default_value_t = 0.6, allow_negative_numbers = true)]
    pub init_range: f64,
    /// Seed of the initial draw.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Hypervolume reference point R1,R2.
    #[arg(long, default_value = "1,1", allow_negative_numbers = true)]
    pub reference: String,
    /// Report the iterations to this fraction of the optima's (and the front's) hypervolume.
    #[arg(long, default_value_t = 0.99, allow_negative_numbers = true)]
    pub fraction: f64,
    /// Report the iterations to a generational distance, and a distance to the optima, <= this.
    #[arg(long, default_value_t = 1e-3, allow_negative_numbers = true)]
    pub tol: f64,
    /// Skip the figures.
    #[arg(long)]
    pub no_figures: bool,
}

/// Arguments of `mtlscope toy cagrad`.
#[derive(Debug, clap::Args)]
pub struct CagradArgs {
    /// Comma-separated methods: registry names or `ew`.
    #[arg(long, default_value = "ew,mgda,pcgrad,cagrad")]
    pub methods: String,
    /// Comma-separated optimizers: `gd` (no momentum), `adam` (PyTorch defaults).
    #[arg(long, default_value = "gd,adam")]
    pub optimizers: String,
    /// Comma-separated learning rates (default: Elich's Tab. A3 grid).
    #[arg(long, default_value = "10,5,1,0.5,0.1,0.05,0.01,0.005,0.001")]
    pub lrs: String,
    /// Steps per run.
    #[arg(long, default_value_t = cagrad::PAPER_ITERS)]
    pub iters: usize,
    /// Comma-separated starts: 0 = (-8.5, 7.5), 1 = (-8.5, -5), 2 = (9, 9).
    #[arg(long, default_value = "0,1,2")]
    pub starts: String,
    /// A method parameter, METHOD.KEY=VALUE (e.g. cagrad.c=0.4); repeat for several.
    #[arg(long = "param", value_name = "METHOD.KEY=VALUE")]
    pub params: Vec<String>,
    /// What is compared with --tol: `loss` (meanloss - L*) or `distance` (||x - x*||).
    #[arg(long, default_value = "loss")]
    pub criterion: String,
    /// Convergence tolerance.
    #[arg(long, default_value_t = 0.1)]
    pub tol: f64,
    /// `first`: the first iterate within tolerance; `stay`: within tolerance to the end.
    #[arg(long, default_value = "first")]
    pub until: String,
    /// Worker threads (default: available cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Solve CAGrad with the registry's cone program instead of the two-task closed form.
    #[arg(long)]
    pub registry_cagrad: bool,
    /// Output directory.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Skip the figures.
    #[arg(long)]
    pub no_figures: bool,
}

/// Arguments of `mtlscope toy invariance`.
#[derive(Debug, clap::Args)]
pub struct InvarianceArgs {
    /// Output directory.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Epochs.
    #[arg(long, default_value_t = 100)]
    pub epochs: usize,
    /// Training samples.
    #[arg(long, default_value_t = 256)]
    pub samples: usize,
    /// Batch size.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Hidden units.
    #[arg(long, default_value_t = 20)]
    pub hidden: usize,
    /// SGD learning rate (EW + SGD, UW-O + SGD).
    #[arg(long, default_value_t = 1e-2)]
    pub sgd_lr: f64,
    /// SGD momentum.
    #[arg(long, default_value_t = 0.9)]
    pub momentum: f64,
    /// Adam learning rate (EW + Adam, per-task Adam).
    #[arg(long, default_value_t = 1e-3)]
    pub adam_lr: f64,
    /// Adam's epsilon.
    #[arg(long, default_value_t = 1e-8)]
    pub eps: f64,
    /// Loss scales of the scaled runs, `A1,A2`.
    #[arg(long, default_value = "10,0.1")]
    pub loss_scales: String,
    /// Target scales, `S1,S2` (y_t = S_t x).
    #[arg(long, default_value = "1,10")]
    pub target_scales: String,
    /// Seed of data, initialisation and batch order.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Skip the figures.
    #[arg(long)]
    pub no_figures: bool,
}

/// Runs `mtlscope toy`.
pub fn run(args: Args) -> Result<ExitCode> {
    match args.toy {
        Toy::Cagrad(a) => run_cagrad(a),
        Toy::Invariance(a) => run_invariance(a),
        Toy::Mt2o(a) => run_mt2o(a),
    }
}

fn list<T>(flag: &str, s: &str, parse: impl Fn(&str) -> Result<T>) -> Result<Vec<T>> {
    let v: Vec<T> = s
        .split(',')
        .map(|x| parse(x.trim()).with_context(|| format!("--{flag}")))
        .collect::<Result<_>>()?;
    if v.is_empty() {
        bail!("--{flag}: empty list");
    }
    Ok(v)
}

fn positive(x: &str) -> Result<f64> {
    match x.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => bail!("expected a number > 0, got `{x}`"),
    }
}

fn pair(flag: &str, s: &str) -> Result<[f64; 2]> {
    let v = list(flag, s, positive)?;
    match v[..] {
        [a, b] => Ok([a, b]),
        _ => bail!("--{flag}: expected two numbers A,B, got `{s}`"),
    }
}

/// The grid named by the arguments.
pub fn grid(a: &CagradArgs) -> Result<Grid> {
    let mut overrides: Vec<(String, String, String)> = Vec::new();
    for p in &a.params {
        let (lhs, v) = p
            .split_once('=')
            .with_context(|| format!("--param `{p}`: expected METHOD.KEY=VALUE"))?;
        let (m, k) = lhs
            .split_once('.')
            .with_context(|| format!("--param `{p}`: expected METHOD.KEY=VALUE"))?;
        overrides.push((m.trim().into(), k.trim().into(), v.trim().into()));
    }
    let methods = list("methods", &a.methods, |name| {
        let mine: Vec<(String, String)> = overrides
            .iter()
            .filter(|(m, _, _)| m == name)
            .map(|(_, k, v)| (k.clone(), v.clone()))
            .collect();
        MethodSpec::new(name, &mine)
    })?;
    if let Some((m, _, _)) = overrides
        .iter()
        .find(|(m, _, _)| !methods.iter().any(|s| &s.label == m))
    {
        bail!("--param: method `{m}` is not in --methods");
    }
    let optimizers = list("optimizers", &a.optimizers, OptimizerSpec::parse)?;
    let lrs = list("lrs", &a.lrs, positive)?;
    let starts = list("starts", &a.starts, |s| match s.parse::<usize>() {
        Ok(i) if i < cagrad::STARTS.len() => Ok(i),
        _ => bail!("expected 0, 1 or 2, got `{s}`"),
    })?;
    let metric = match a.criterion.as_str() {
        "distance" => Metric::Distance,
        "loss" => Metric::Loss,
        o => bail!("--criterion: expected distance or loss, got `{o}`"),
    };
    let until = match a.until.as_str() {
        "first" => Until::First,
        "stay" => Until::Stay,
        o => bail!("--until: expected first or stay, got `{o}`"),
    };
    if !(a.tol.is_finite() && a.tol > 0.0) {
        bail!("--tol must be a number > 0, got {}", a.tol);
    }
    if a.iters == 0 {
        bail!("--iters must be >= 1");
    }
    Ok(Grid {
        methods,
        optimizers,
        lrs,
        starts,
        iters: a.iters,
        criterion: Criterion {
            metric,
            tol: a.tol,
            until,
        },
        force_registry: a.registry_cagrad,
        record: a.out.is_some() && !a.no_figures,
    })
}

fn threads(n: Option<usize>) -> usize {
    n.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1)
}

fn run_cagrad(a: CagradArgs) -> Result<ExitCode> {
    let g = grid(&a)?;
    let workers = threads(a.threads);
    let t0 = Instant::now();
    let results = g.run(workers)?;
    let secs = t0.elapsed().as_secs_f64();
    let rows = cagrad::table(&g, &results);
    print!("{}", cagrad::table_markdown(&g, &rows));
    println!(
        "\n{} runs x {} steps in {secs:.2} s on {workers} threads",
        results.len(),
        g.iters
    );
    if let Some(dir) = &a.out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        cagrad::write_outputs(dir, &g, &results)?;
        if !a.no_figures {
            plot::contour_figure(dir, &g, &results)?;
        }
        println!("wrote {}", dir.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn run_invariance(a: InvarianceArgs) -> Result<ExitCode> {
    let cfg = invariance::Config {
        hidden: a.hidden,
        samples: a.samples,
        batch: a.batch_size,
        epochs: a.epochs,
        target_scales: pair("target-scales", &a.target_scales)?,
        loss_scales: pair("loss-scales", &a.loss_scales)?,
        sgd_lr: a.sgd_lr,
        momentum: a.momentum,
        adam_lr: a.adam_lr,
        eps: a.eps,
        seed: a.seed,
        ..Default::default()
    };
    cfg.check()?;
    let specs = invariance::all_runs();
    let records = invariance::run_all(&cfg, &specs, threads(None))?;
    println!(
        "scaled / unscaled update norms (loss scales {:?}):",
        cfg.loss_scales
    );
    println!(
        "{:<18} {:<8} {:<9} {:>12} {:>16} {:>14}",
        "method", "backbone", "part", "first ratio", "median rel. diff", "separates at"
    );
    for s in invariance::summary(&specs, &records) {
        println!(
            "{:<18} {:<8} {:<9} {:>12.6} {:>16.2e} {:>14}",
            s.method.name(),
            if s.frozen { "frozen" } else { "trained" },
            invariance::PARTS[s.part],
            s.first_ratio,
            s.median_rel_diff,
            s.separates_at
                .map(|k| format!("step {k}"))
                .unwrap_or_else(|| "never".into())
        );
    }
    if let Some(dir) = &a.out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        invariance::write_outputs(dir, &cfg, &specs, &records)?;
        if !a.no_figures {
            plot::invariance_figures(dir, &cfg, &specs, &records)?;
        }
        println!("wrote {}", dir.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Two numbers `A,B` of any sign.
fn two(flag: &str, s: &str) -> Result<[f64; 2]> {
    let v = list(flag, s, |x| {
        x.parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .with_context(|| format!("expected a number, got `{x}`"))
    })?;
    match v[..] {
        [a, b] => Ok([a, b]),
        _ => bail!("--{flag}: expected two numbers A,B, got `{s}`"),
    }
}

/// A count flag, at least `min`.
fn count(flag: &str, v: i64, min: usize) -> Result<usize> {
    match usize::try_from(v) {
        Ok(c) if c >= min => Ok(c),
        _ => bail!("--{flag} must be >= {min}, got {v}"),
    }
}

/// The study's settings named by the arguments, checked.
pub fn mt2o_config(a: &Mt2oArgs) -> Result<mt2o::Config> {
    let only = |flag: &str, given: bool, kind: &str| -> Result<()> {
        if given && a.transfer != kind {
            bail!(
                "--{flag} applies to --transfer {kind}, not `{}`",
                a.transfer
            );
        }
        Ok(())
    };
    only("gamma", a.gamma.is_some(), "decaying")?;
    only("neighbours", a.neighbours.is_some(), "neighbourhood")?;
    only("tau", a.tau.is_some(), "neighbourhood")?;
    let transfer = match a.transfer.as_str() {
        "identity" => TransferSpec::Identity,
        "constant" => TransferSpec::Constant,
        "decaying" => TransferSpec::Decaying {
            gamma: a.gamma.unwrap_or(0.99),
        },
        "neighbourhood" => TransferSpec::Neighbourhood {
            t: count("neighbours", a.neighbours.unwrap_or(2), 1)?,
            tau: a.tau,
        },
        o => bail!(
            "--transfer: unknown `{o}`; known: {}",
            TransferSpec::NAMES.join(", ")
        ),
    };
    let scalarization = match a.scalarization.as_str() {
        "linear" => Scalarization::Linear,
        "tchebycheff" => Scalarization::Tchebycheff {
            ideal: two("ideal", a.ideal.as_deref().unwrap_or("0,0"))?,
        },
        o => bail!("--scalarization: unknown `{o}`; known: linear, tchebycheff"),
    };
    if a.ideal.is_some() && scalarization == Scalarization::Linear {
        bail!("--ideal applies to --scalarization tchebycheff");
    }
    let init = match a.init.as_str() {
        "shared" => Init::Shared,
        "per-model" => Init::PerModel,
        o => bail!("--init: unknown `{o}`; known: shared, per-model"),
    };
    let cfg = mt2o::Config {
        k: count("k", a.k, 2)?,
        n: count("n", a.n, 1)?,
        iters: count("iters", a.iters, 1)?,
        lr: a.lr,
        momentum: a.momentum,
        transfer,
        alpha: a.alpha,
        transfer_coords: a
            .transfer_coords
            .map(|p| count("transfer-coords", p, 0))
            .transpose()?,
        scalarization,
        init,
        init_range: a.init_range,
        seed: a.seed,
        reference: two("reference", &a.reference)?,
        fraction: a.fraction,
        tol: a.tol,
    };
    cfg.check()?;
    Ok(cfg)
}

fn run_mt2o(a: Mt2oArgs) -> Result<ExitCode> {
    let cfg = mt2o_config(&a)?;
    let t0 = Instant::now();
    let study = mt2o::study(&cfg)?;
    let secs = t0.elapsed().as_secs_f64();
    print!("{}", study.describe());
    println!(
        "2 runs x {} models x {} steps, measured at every step, in {secs:.2} s",
        cfg.k, cfg.iters
    );
    if let Some(dir) = &a.out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        study.write_outputs(dir)?;
        if !a.no_figures {
            study.figures(dir)?;
        }
        println!("wrote {}", dir.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// `mtlscope bench toy`: the full CAGrad-toy grid (EW, MGDA, PCGrad, CAGrad × GD, Adam × 9 lrs
/// × 3 starts × 100k steps), without trajectories, `reps` times; prints the median.
pub fn bench(reps: usize, threads_arg: Option<usize>) -> Result<ExitCode> {
    let a = CagradArgs {
        methods: "ew,mgda,pcgrad,cagrad".into(),
        optimizers: "gd,adam".into(),
        lrs: "10,5,1,0.5,0.1,0.05,0.01,0.005,0.001".into(),
        iters: cagrad::PAPER_ITERS,
        starts: "0,1,2".into(),
        params: Vec::new(),
        criterion: "loss".into(),
        tol: 0.1,
        until: "first".into(),
        threads: threads_arg,
        registry_cagrad: false,
        out: None,
        no_figures: true,
    };
    let g = grid(&a)?;
    let workers = threads(threads_arg);
    let cells = g.cells().len();
    let mut secs = Vec::new();
    for _ in 0..reps.max(1) {
        let t0 = Instant::now();
        g.run(workers)?;
        secs.push(t0.elapsed().as_secs_f64());
    }
    secs.sort_by(f64::total_cmp);
    let med = secs[secs.len() / 2];
    let steps = (cells * g.iters) as f64;
    println!(
        "mtlscope bench toy: {cells} runs x {} steps on {workers} threads: median {med:.2} s over {} reps ({:.1} M steps/s, {:.0} ns/step/thread)",
        g.iters,
        secs.len(),
        steps / med / 1e6,
        med * workers as f64 / steps * 1e9
    );
    // Per method, one thread: where the time goes.
    for m in 0..g.methods.len() {
        let mut one = g.clone();
        one.methods = vec![g.methods[m].clone()];
        one.lrs = vec![0.01];
        one.starts = vec![0];
        one.optimizers = vec![OptimizerSpec::parse("adam")?];
        let t0 = Instant::now();
        one.run(1)?;
        println!(
            "  {:<8} {:>8.0} ns/step (adam, lr 0.01, one start, one thread)",
            g.methods[m].label,
            t0.elapsed().as_secs_f64() / g.iters as f64 * 1e9
        );
    }
    Ok(ExitCode::SUCCESS)
}
