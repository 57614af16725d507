//! MT2O on the synthetic bi-objective problem with a known Pareto front: K models, one per
//! weight vector λ_k, trained jointly by multi-task gradient descent with parameter transfer,
//! against the same K models trained independently (M = I).
//!
//! **MT2O as reconstructed from the abstract and MGD.** MT2O is Bai, Gupta & Ong, "Multi-Task
//! Learning with Multi-Task Optimization" (arXiv 2403.16162, 2024); only its abstract was
//! retrievable, so every choice below is the reconstruction of spec `mt2o.md` §3 after the
//! authors' MGD (Memetic Computing 12(4), 2020; official code `BaiLu-BL/MGD_MultiMNIST`,
//! `msgd.py`) and is configurable:
//!
//! - Decomposition: λ_k from the Das–Dennis lattice ([`mtl_aggregate::simplex::das_dennis`]
//!   with m = 2, h = K − 1: λ_k = (k/(K−1), 1 − k/(K−1)), k = 0..K−1); scalarisation linear,
//!   g_k = Σ_i λ_ki f_i (default), or Tchebycheff, g_k = max_i λ_ki |f_i − z_i| with the
//!   subgradient of the argmax objective (ties: the first), ideal point z (default 0).
//! - Update (MGD's, synchronous, all k from the values before the step):
//!   θ_k ← Σ_j M^t_kj θ_j − η v_k, v_k = the gradient of g_k at θ_k (GD) or its heavy-ball buffer
//!   (torch SGD: b_1 = g_1, b_t = μ b_{t−1} + g_t; [`super::optim`]). MGD's code writes the same
//!   step as d = v + (θ_k − θ̄_k)/η, θ_k ← θ_k − η d; we form θ̄_k − η v_k directly, so M = I
//!   gives θ_k − η v_k bit for bit, i.e. K independent runs.
//! - M^t: [`mtl_aggregate::transfer::Transfer`] (identity, constant, decaying, neighbourhood),
//!   with mass w_0 = α·η (MGD: α·η·c; the relatedness c of MGD's two tasks has no counterpart
//!   between subproblems, so it is folded into α). Only the first `transfer_coords` coordinates
//!   are transferred (all by default), standing in for "the shared encoder only"; the rest take
//!   the plain step θ − η v.
//!
//! The problem (Lin et al., Pareto MTL, NeurIPS 2019; Mahapatra & Rajan, EPO, ICML 2020; code
//! `dbmptr/EPOSearch: toy_experiments/problems/toy_biobjective.py`), x ∈ Rⁿ, c_± = ±1/√n · 1:
//!
//! ```text
//! f1(x) = 1 − exp(−‖x − c_+‖²)      ∇f1 = 2 exp(−‖x − c_+‖²) (x − c_+)
//! f2(x) = 1 − exp(−‖x − c_−‖²)      ∇f2 = 2 exp(−‖x − c_−‖²) (x − c_−)
//! ```
//!
//! computed as −expm1(−d²) (exact near the minima; EPOSearch writes 1 − exp). The Pareto set is
//! the segment x = t·1, t ∈ [−1/√n, 1/√n]; with u = √n t ∈ [−1, 1] the front is
//! F(u) = (1 − e^{−(u−1)²}, 1 − e^{−(u+1)²}), concave (it bulges towards the reference point),
//! so linear scalarisation finds only points near its two ends while Tchebycheff reaches every
//! part. Every subproblem's minimiser lies on the Pareto set (the parts of x orthogonal to 1
//! only raise both distances, and beyond the segment's ends both objectives grow), so each
//! subproblem's analytic optimum is a 1-D problem in u ([`Reference`]).
//!
//! Hypervolume (exact, [`mtl_aggregate::hypervolume`]) is taken with reference point r = (1, 1)
//! by default (COSMOS's default; f ∈ [0, 1) everywhere). The analytic front's hypervolume for
//! r = (1, 1) is, in closed form, ∫_{−1}^{1} (1 − f2)(−f1′) du + (1 − f1(−1)) =
//! √(2π) e^{−2} erf(√2) + e^{−4} ≈ 0.342. No K points reach it, so the summary
//! ([`Study::summary`]) measures the hypervolume against that of the K subproblems' analytic
//! optima ([`Reference::hv_optima`]) as well as the front's, and reports when the models reach
//! the front (generational distance) and their own optima.

use std::path::Path;

use anyhow::{bail, Context, Result};
use mtl_aggregate::simplex::{das_dennis, igd};
use mtl_aggregate::transfer::{mix, Decay, Transfer};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::optim::{Optimizer, OptimizerKind};
use crate::report::plots::{self, Legend, Panel, Series};
use crate::train::store::fmt_float;

/// The two objectives and their gradients at x ∈ Rⁿ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Problem {
    n: usize,
}

impl Problem {
    /// The problem in n ≥ 1 dimensions.
    pub fn new(n: usize) -> Result<Problem> {
        if n == 0 {
            bail!("--n (the dimension) must be >= 1, got 0");
        }
        Ok(Problem { n })
    }

    /// The dimension n.
    pub fn n(&self) -> usize {
        self.n
    }

    /// (f1(x), f2(x)), writing ∇f1 into `g1` and ∇f2 into `g2`.
    pub fn eval(&self, x: &[f64], g1: &mut [f64], g2: &mut [f64]) -> [f64; 2] {
        debug_assert_eq!(x.len(), self.n);
        let c = 1.0 / (self.n as f64).sqrt();
        let (mut d1, mut d2) = (0.0, 0.0);
        for &xi in x {
            d1 += (xi - c) * (xi - c);
            d2 += (xi + c) * (xi + c);
        }
        let (e1, e2) = ((-d1).exp(), (-d2).exp());
        for ((&xi, a), b) in x.iter().zip(g1.iter_mut()).zip(g2.iter_mut()) {
            *a = 2.0 * e1 * (xi - c);
            *b = 2.0 * e2 * (xi + c);
        }
        [-(-d1).exp_m1(), -(-d2).exp_m1()]
    }

    /// (f1(x), f2(x)) without gradients.
    pub fn values(&self, x: &[f64]) -> [f64; 2] {
        let c = 1.0 / (self.n as f64).sqrt();
        let (mut d1, mut d2) = (0.0, 0.0);
        for &xi in x {
            d1 += (xi - c) * (xi - c);
            d2 += (xi + c) * (xi + c);
        }
        [-(-d1).exp_m1(), -(-d2).exp_m1()]
    }
}

/// The front at u ∈ [−1, 1] (x = u/√n · 1).
pub fn front_point(u: f64) -> [f64; 2] {
    [
        -(-(u - 1.0) * (u - 1.0)).exp_m1(),
        -(-(u + 1.0) * (u + 1.0)).exp_m1(),
    ]
}

/// d F(u)/du.
fn front_slope(u: f64) -> [f64; 2] {
    [
        2.0 * (u - 1.0) * (-(u - 1.0) * (u - 1.0)).exp(),
        2.0 * (u + 1.0) * (-(u + 1.0) * (u + 1.0)).exp(),
    ]
}

/// erf(x) by its Maclaurin series (to rounding for |x| ≤ 3; used at √2).
fn erf(x: f64) -> f64 {
    // erf(x) = 2/√π Σ_k (−1)^k x^{2k+1} / (k! (2k+1)).
    let mut term = x; // (−1)^k x^{2k+1} / k!
    let mut sum = x;
    for k in 1..200 {
        term *= -x * x / k as f64;
        let add = term / (2 * k + 1) as f64;
        sum += add;
        if add.abs() < 1e-18 * sum.abs() {
            break;
        }
    }
    sum * 2.0 / std::f64::consts::PI.sqrt()
}

/// The hypervolume of the whole analytic front for the reference point (1, 1), in closed form:
/// ∫_{−1}^{1} e^{−(u+1)²} · 2(1 − u) e^{−(u−1)²} du + e^{−4} = √(2π) e^{−2} erf(√2) + e^{−4}
/// (the odd part of the integrand vanishes; the last term is the strip beyond f1(−1) = 1 − e^{−4}).
pub fn front_hypervolume_unit_reference() -> f64 {
    (2.0 * std::f64::consts::PI).sqrt() * (-2.0f64).exp() * erf(std::f64::consts::SQRT_2)
        + (-4.0f64).exp()
}

/// The root of a monotone `g` on [lo, hi] (g(lo) and g(hi) of opposite signs), by bisection to
/// adjacent floats.
fn bisect(g: impl Fn(f64) -> f64, mut lo: f64, mut hi: f64) -> f64 {
    let s_lo = g(lo) > 0.0;
    loop {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            return mid;
        }
        if (g(mid) > 0.0) == s_lo {
            lo = mid;
        } else {
            hi = mid;
        }
    }
}

/// The hypervolume of the whole analytic front for any reference point r: with
/// [u_a, u_b] = {u : f1(u) ≤ r1, f2(u) ≤ r2} (f1 falls and f2 rises in u),
/// HV = ∫_{u_a}^{u_b} (r2 − f2(u))(−f1′(u)) du + (r1 − f1(u_a))(r2 − f2(u_a)),
/// by composite Simpson with 20 000 intervals (error ~1e-15 for this smooth integrand).
/// [`front_hypervolume_unit_reference`] is its closed form at r = (1, 1).
pub fn front_hypervolume(r: [f64; 2]) -> f64 {
    let f = front_point;
    let u_a = if r[0] >= f(-1.0)[0] {
        -1.0
    } else if r[0] <= 0.0 {
        return 0.0;
    } else {
        bisect(|u| f(u)[0] - r[0], -1.0, 1.0)
    };
    let u_b = if r[1] >= f(1.0)[1] {
        1.0
    } else if r[1] <= 0.0 {
        return 0.0;
    } else {
        bisect(|u| f(u)[1] - r[1], -1.0, 1.0)
    };
    if u_a >= u_b {
        return 0.0;
    }
    let g = |u: f64| (r[1] - f(u)[1]) * -front_slope(u)[0];
    const N: usize = 20_000;
    let h = (u_b - u_a) / N as f64;
    let mut sum = g(u_a) + g(u_b);
    for i in 1..N {
        sum += if i % 2 == 1 { 4.0 } else { 2.0 } * g(u_a + h * i as f64);
    }
    let fa = f(u_a);
    sum * h / 3.0 + (r[0] - fa[0]) * (r[1] - fa[1])
}

/// How each model's objectives are combined.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scalarization {
    /// g = λ1 f1 + λ2 f2.
    Linear,
    /// g = max_i λ_i |f_i − z_i|, subgradient of the argmax objective.
    Tchebycheff {
        /// The ideal point z (each ≤ 0, the problem's ideal point being (0, 0)).
        ideal: [f64; 2],
    },
}

impl Scalarization {
    /// `linear` or `tchebycheff`.
    pub fn name(&self) -> &'static str {
        match self {
            Scalarization::Linear => "linear",
            Scalarization::Tchebycheff { .. } => "tchebycheff",
        }
    }

    /// g(f) for weights λ.
    pub fn value(&self, lambda: [f64; 2], f: [f64; 2]) -> f64 {
        match *self {
            Scalarization::Linear => lambda[0] * f[0] + lambda[1] * f[1],
            Scalarization::Tchebycheff { ideal } => {
                (lambda[0] * (f[0] - ideal[0]).abs()).max(lambda[1] * (f[1] - ideal[1]).abs())
            }
        }
    }

    /// Writes ∇g (a subgradient for Tchebycheff) from the objectives' gradients.
    pub fn gradient(&self, lambda: [f64; 2], f: [f64; 2], g1: &[f64], g2: &[f64], out: &mut [f64]) {
        match *self {
            Scalarization::Linear => {
                for ((o, a), b) in out.iter_mut().zip(g1).zip(g2) {
                    *o = lambda[0] * a + lambda[1] * b;
                }
            }
            Scalarization::Tchebycheff { ideal } => {
                let t0 = lambda[0] * (f[0] - ideal[0]).abs();
                let t1 = lambda[1] * (f[1] - ideal[1]).abs();
                let (i, g) = if t0 >= t1 { (0, g1) } else { (1, g2) };
                let s = lambda[i] * sign(f[i] - ideal[i]);
                for (o, a) in out.iter_mut().zip(g) {
                    *o = s * a;
                }
            }
        }
    }
}

/// sign(x) with sign(0) = 0 (a valid subgradient of |·| at 0).
fn sign(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// Which transfer matrix the MT2O arm uses (the baseline always uses M = I).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TransferSpec {
    /// M = I (MT2O then is the baseline).
    Identity,
    /// Mass w = α·η split evenly over the other K − 1 models, every step.
    Constant,
    /// As `Constant` with w_t = α·η·γ^t.
    Decaying {
        /// γ ∈ (0, 1].
        gamma: f64,
    },
    /// Mass w = α·η over the T nearest λ's, ∝ exp(−‖λ_k − λ_j‖²/τ).
    Neighbourhood {
        /// T ∈ [1, K − 1].
        t: usize,
        /// τ > 0; `None`: the squared distance of adjacent lattice points, 2/(K − 1)².
        tau: Option<f64>,
    },
}

impl TransferSpec {
    /// The names `--transfer` takes.
    pub const NAMES: [&'static str; 4] = ["identity", "constant", "decaying", "neighbourhood"];

    /// The name.
    pub fn name(&self) -> &'static str {
        match self {
            TransferSpec::Identity => "identity",
            TransferSpec::Constant => "constant",
            TransferSpec::Decaying { .. } => "decaying",
            TransferSpec::Neighbourhood { .. } => "neighbourhood",
        }
    }
}

/// Initial points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Init {
    /// One draw x_0 ~ U(−a, a)ⁿ copied to all K models (so transfer acts once they part).
    Shared,
    /// K draws, one per model, from the same stream.
    PerModel,
}

/// The study's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Models K ≥ 2 (λ from the lattice with h = K − 1).
    pub k: usize,
    /// Dimension n.
    pub n: usize,
    /// Steps.
    pub iters: usize,
    /// Step size η > 0.
    pub lr: f64,
    /// Heavy-ball momentum μ ∈ [0, 1) (0: gradient descent).
    pub momentum: f64,
    /// The MT2O arm's transfer.
    pub transfer: TransferSpec,
    /// Transfer mass w_0 = α·η (must give w_0 ≤ 1).
    pub alpha: f64,
    /// Transferred coordinates (a prefix); `None`: all n.
    pub transfer_coords: Option<usize>,
    /// Scalarisation.
    pub scalarization: Scalarization,
    /// Initial points.
    pub init: Init,
    /// x_0 ~ U(−a, a)ⁿ (EPOSearch's linear-scalarisation runs: a = 0.6).
    pub init_range: f64,
    /// Seed of the initial draw.
    pub seed: u64,
    /// Hypervolume reference point.
    pub reference: [f64; 2],
    /// The summary's hypervolume targets: this fraction of the optima's and of the front's.
    pub fraction: f64,
    /// The summary's distance threshold (generational distance, distance to the optima).
    pub tol: f64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            k: 5,
            n: 20,
            iters: 1000,
            lr: 0.1,
            momentum: 0.0,
            transfer: TransferSpec::Neighbourhood { t: 2, tau: None },
            alpha: 1.0,
            transfer_coords: None,
            scalarization: Scalarization::Linear,
            init: Init::Shared,
            init_range: 0.6,
            seed: 0,
            reference: [1.0, 1.0],
            fraction: 0.99,
            tol: 1e-3,
        }
    }
}

impl Config {
    /// Checks every setting, naming the flag.
    pub fn check(&self) -> Result<()> {
        if self.k < 2 {
            bail!("--k must be >= 2 (models), got {}", self.k);
        }
        if self.n == 0 {
            bail!("--n (the dimension) must be >= 1, got 0");
        }
        if self.iters == 0 {
            bail!("--iters must be >= 1");
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            bail!("--lr must be a number > 0, got {}", self.lr);
        }
        if !(0.0..1.0).contains(&self.momentum) {
            bail!("--momentum must be in [0, 1), got {}", self.momentum);
        }
        if !(self.alpha.is_finite() && self.alpha >= 0.0) {
            bail!("--alpha must be a number >= 0, got {}", self.alpha);
        }
        if self.alpha * self.lr > 1.0 {
            bail!(
                "--alpha x --lr is the transfer mass w = {} and must be <= 1 (M_kk = 1 - w >= 0)",
                self.alpha * self.lr
            );
        }
        if let Some(p) = self.transfer_coords {
            if p > self.n {
                bail!("--transfer-coords must be <= --n = {}, got {p}", self.n);
            }
        }
        match self.transfer {
            TransferSpec::Decaying { gamma } if !(gamma > 0.0 && gamma <= 1.0) => {
                bail!("--gamma must be in (0, 1], got {gamma}")
            }
            TransferSpec::Neighbourhood { t, tau } => {
                if !(1..self.k).contains(&t) {
                    bail!(
                        "--neighbours must be in [1, K - 1] = [1, {}], got {t}",
                        self.k - 1
                    );
                }
                if let Some(tau) = tau {
                    if tau.is_nan() || tau <= 0.0 {
                        bail!("--tau must be > 0, got {tau}");
                    }
                }
            }
            _ => {}
        }
        if let Scalarization::Tchebycheff { ideal } = self.scalarization {
            if !ideal.iter().all(|z| z.is_finite() && *z <= 0.0) {
                bail!(
                    "--ideal must be two finite numbers <= 0 (the problem's ideal point is (0, 0); \
                     above it the Tchebycheff optima leave the Pareto set), got {ideal:?}"
                );
            }
        }
        if !(self.init_range.is_finite() && self.init_range > 0.0) {
            bail!("--init-range must be a number > 0, got {}", self.init_range);
        }
        if !self.reference.iter().all(|r| r.is_finite()) {
            bail!("--reference must be finite, got {:?}", self.reference);
        }
        if !(self.fraction > 0.0 && self.fraction <= 1.0) {
            bail!("--fraction must be in (0, 1], got {}", self.fraction);
        }
        if !(self.tol.is_finite() && self.tol > 0.0) {
            bail!("--tol must be a number > 0, got {}", self.tol);
        }
        Ok(())
    }

    /// The K weight vectors λ_k = (k/(K−1), 1 − k/(K−1)).
    pub fn lambdas(&self) -> Vec<[f64; 2]> {
        das_dennis(2, self.k - 1)
            .expect("k >= 2 checked")
            .into_iter()
            .map(|l| [l[0], l[1]])
            .collect()
    }

    /// The MT2O arm's transfer matrix schedule (w_0 = α·η).
    pub fn transfer(&self) -> Result<Transfer> {
        self.transfer_of(self.transfer)
    }

    /// The transfer schedule of `spec` under this configuration.
    pub fn transfer_of(&self, spec: TransferSpec) -> Result<Transfer> {
        let w = self.alpha * self.lr;
        let t = match spec {
            TransferSpec::Identity => Transfer::identity(self.k),
            TransferSpec::Constant => Transfer::constant(self.k, w),
            TransferSpec::Decaying { gamma } => {
                Transfer::decaying(self.k, w, Decay::Geometric { gamma })
            }
            TransferSpec::Neighbourhood { t, tau } => {
                let lambdas: Vec<Vec<f64>> = self.lambdas().iter().map(|l| l.to_vec()).collect();
                let h = (self.k - 1) as f64;
                Transfer::neighbourhood(&lambdas, t, tau.unwrap_or(2.0 / (h * h)), w)
            }
        };
        Ok(t?)
    }

    /// The K initial points.
    pub fn initial_points(&self) -> Vec<Vec<f64>> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let a = self.init_range;
        let mut draw = || -> Vec<f64> { (0..self.n).map(|_| rng.random_range(-a..a)).collect() };
        match self.init {
            Init::Shared => vec![draw(); self.k],
            Init::PerModel => (0..self.k).map(|_| draw()).collect(),
        }
    }
}

/// One run: the objectives of every model at every iterate, and the final points.
#[derive(Debug, Clone)]
pub struct Run {
    /// `"mt2o"` or `"independent"`.
    pub method: &'static str,
    /// objectives[t][k] = (f1, f2) of model k after t steps (t = 0: the start).
    pub objectives: Vec<Vec<[f64; 2]>>,
    /// The models after the last step.
    pub x: Vec<Vec<f64>>,
}

/// Runs K models for `cfg.iters` synchronous steps θ_k ← Σ_j M^t_kj θ_j − η v_k from `x0`.
pub fn run(
    cfg: &Config,
    transfer: &Transfer,
    x0: &[Vec<f64>],
    method: &'static str,
) -> Result<Run> {
    cfg.check()?;
    let (k, n) = (cfg.k, cfg.n);
    if transfer.k() != k || x0.len() != k || x0.iter().any(|x| x.len() != n) {
        bail!(
            "mt2o::run: {} initial points of lengths {:?} and a transfer over {} models for K = {k}, n = {n}",
            x0.len(),
            x0.iter().map(|x| x.len()).collect::<Vec<_>>(),
            transfer.k()
        );
    }
    let problem = Problem::new(n)?;
    let lambdas = cfg.lambdas();
    let p = cfg.transfer_coords.unwrap_or(n);
    let kind = OptimizerKind::Sgd {
        momentum: cfg.momentum,
    };
    let mut opts: Vec<Optimizer> = (0..k).map(|_| kind.build(cfg.lr, n)).collect();
    let mut theta: Vec<Vec<f64>> = x0.to_vec();
    let mut next: Vec<Vec<f64>> = vec![vec![0.0; n]; k];
    let (mut g1, mut g2, mut g) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    let mut deltas: Vec<Vec<f64>> = vec![vec![0.0; n]; k];
    let mut objectives = Vec::with_capacity(cfg.iters + 1);
    objectives.push(theta.iter().map(|x| problem.values(x)).collect::<Vec<_>>());
    for t in 0..cfg.iters {
        for (((x, opt), d), lambda) in theta.iter().zip(&mut opts).zip(&mut deltas).zip(&lambdas) {
            let f = problem.eval(x, &mut g1, &mut g2);
            cfg.scalarization.gradient(*lambda, f, &g1, &g2, &mut g);
            opt.delta(&g, d);
        }
        let m = transfer.matrix(t as u64);
        let refs: Vec<&[f64]> = theta.iter().map(|v| v.as_slice()).collect();
        for (row, (out, d)) in next.iter_mut().zip(&deltas).enumerate() {
            mix(&m, &refs, row, &mut out[..p]);
            for (o, di) in out[..p].iter_mut().zip(&d[..p]) {
                *o -= di;
            }
            for ((o, &xi), di) in out[p..].iter_mut().zip(&theta[row][p..]).zip(&d[p..]) {
                *o = xi - di;
            }
        }
        std::mem::swap(&mut theta, &mut next);
        if let Some((km, _)) = theta
            .iter()
            .enumerate()
            .find(|(_, x)| x.iter().any(|v| !v.is_finite()))
        {
            bail!("{method}: model {km} became non-finite at step {}", t + 1);
        }
        objectives.push(theta.iter().map(|x| problem.values(x)).collect());
    }
    Ok(Run {
        method,
        objectives,
        x: theta,
    })
}

/// What the runs are measured against: the analytic front and the subproblems' optima.
#[derive(Debug, Clone)]
pub struct Reference {
    /// The front sampled at `FRONT_SAMPLES` values of u evenly spaced in [−1, 1] (IGD's
    /// reference set).
    pub front: Vec<Vec<f64>>,
    /// Per subproblem k, its optimal points on the front (two for a tie, e.g. the linear
    /// scalarisation's λ = (½, ½), whose minimisers are mirror images).
    pub optima: Vec<Vec<[f64; 2]>>,
    /// The u's of `optima`.
    pub optima_u: Vec<Vec<f64>>,
    /// Hypervolume of the whole front (closed form for r = (1, 1), else [`front_hypervolume`]).
    pub hv_front: f64,
    /// Hypervolume of the K optima (a tied subproblem represented by its first optimum: the
    /// lattice and the front are symmetric under f1 ↔ f2, so the choice does not change it).
    pub hv_optima: f64,
    /// IGD of the K optima to `front`: the floor for K exact subproblem solutions.
    pub igd_optima: f64,
}

/// IGD's reference set: this many points of the analytic front.
pub const FRONT_SAMPLES: usize = 1001;

/// The smallest minimisers of a function of u ∈ [−1, 1] given its derivative: the ends and the
/// roots where dh changes from − to + on a 2000-interval grid, refined by bisection.
fn minimisers(h: impl Fn(f64) -> f64, dh: impl Fn(f64) -> f64) -> Vec<f64> {
    const GRID: usize = 2000;
    let at = |i: usize| -1.0 + 2.0 * i as f64 / GRID as f64;
    let mut cand = vec![-1.0, 1.0];
    for i in 0..GRID {
        let (a, b) = (at(i), at(i + 1));
        let (da, db) = (dh(a), dh(b));
        if da < 0.0 && db >= 0.0 {
            let (mut lo, mut hi) = (a, b);
            loop {
                let mid = 0.5 * (lo + hi);
                if mid <= lo || mid >= hi {
                    break;
                }
                if dh(mid) < 0.0 {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            cand.push(hi);
        }
    }
    let best = cand.iter().map(|&u| h(u)).fold(f64::INFINITY, f64::min);
    let mut out: Vec<f64> = cand.into_iter().filter(|&u| h(u) <= best + 1e-12).collect();
    out.sort_by(f64::total_cmp);
    out.dedup_by(|a, b| (*a - *b).abs() < 1e-9);
    out
}

impl Reference {
    /// The analytic optima of each subproblem of `cfg` and the front's measures.
    pub fn new(cfg: &Config) -> Result<Reference> {
        cfg.check()?;
        let front: Vec<Vec<f64>> = (0..FRONT_SAMPLES)
            .map(|i| front_point(-1.0 + 2.0 * i as f64 / (FRONT_SAMPLES - 1) as f64).to_vec())
            .collect();
        let mut optima_u = Vec::new();
        for l in cfg.lambdas() {
            let us = match cfg.scalarization {
                Scalarization::Linear => minimisers(
                    |u| Scalarization::Linear.value(l, front_point(u)),
                    |u| {
                        let s = front_slope(u);
                        l[0] * s[0] + l[1] * s[1]
                    },
                ),
                Scalarization::Tchebycheff { ideal } => {
                    // On [−1, 1], A(u) = λ1 (f1 − z1) falls and B(u) = λ2 (f2 − z2) rises (z ≤ 0),
                    // so max(A, B) is least where A = B, or at an end: bisection on A − B.
                    let diff = |u: f64| {
                        let f = front_point(u);
                        l[0] * (f[0] - ideal[0]) - l[1] * (f[1] - ideal[1])
                    };
                    let u = if diff(-1.0) <= 0.0 {
                        -1.0
                    } else if diff(1.0) >= 0.0 {
                        1.0
                    } else {
                        bisect(diff, -1.0, 1.0)
                    };
                    vec![u]
                }
            };
            optima_u.push(us);
        }
        let optima: Vec<Vec<[f64; 2]>> = optima_u
            .iter()
            .map(|us| us.iter().map(|&u| front_point(u)).collect())
            .collect();
        let reps: Vec<Vec<f64>> = optima.iter().map(|o| o[0].to_vec()).collect();
        let hv_optima = mtl_aggregate::hypervolume(&reps, &cfg.reference)?;
        let hv_front = if cfg.reference == [1.0, 1.0] {
            front_hypervolume_unit_reference()
        } else {
            front_hypervolume(cfg.reference)
        };
        let igd_optima = igd(&reps, &front)?;
        Ok(Reference {
            front,
            optima,
            optima_u,
            hv_front,
            hv_optima,
            igd_optima,
        })
    }

    /// The distance from an objective vector to the analytic front (a 400-interval grid in u,
    /// then golden-section search around the nearest grid point).
    pub fn distance_to_front(&self, f: [f64; 2]) -> f64 {
        let d2 = |u: f64| {
            let p = front_point(u);
            (p[0] - f[0]) * (p[0] - f[0]) + (p[1] - f[1]) * (p[1] - f[1])
        };
        const GRID: usize = 400;
        let at = |i: usize| -1.0 + 2.0 * i as f64 / GRID as f64;
        let best = (0..=GRID)
            .min_by(|&a, &b| d2(at(a)).total_cmp(&d2(at(b))))
            .expect("non-empty grid");
        let (mut a, mut b) = (at(best.saturating_sub(1)), at((best + 1).min(GRID)));
        let r = 0.5 * (5f64.sqrt() - 1.0);
        let (mut c, mut d) = (b - r * (b - a), a + r * (b - a));
        for _ in 0..80 {
            if d2(c) < d2(d) {
                b = d;
            } else {
                a = c;
            }
            c = b - r * (b - a);
            d = a + r * (b - a);
        }
        d2(0.5 * (a + b)).min(d2(at(best))).sqrt()
    }
}

/// The measures of one iterate of the K models.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measures {
    /// Exact hypervolume w.r.t. the configured reference point.
    pub hypervolume: f64,
    /// IGD to the sampled analytic front (coverage and convergence).
    pub igd: f64,
    /// Generational distance: the mean over the models of the distance to the front.
    pub gd: f64,
    /// The mean over the models of the distance to their own subproblem's nearest optimum.
    pub dist_optima: f64,
}

/// The measures of K objective vectors.
pub fn measure(cfg: &Config, reference: &Reference, points: &[[f64; 2]]) -> Result<Measures> {
    let pts: Vec<Vec<f64>> = points.iter().map(|p| p.to_vec()).collect();
    let hypervolume = mtl_aggregate::hypervolume(&pts, &cfg.reference)?;
    let igd_v = igd(&pts, &reference.front)?;
    let k = points.len() as f64;
    let gd = points
        .iter()
        .map(|&p| reference.distance_to_front(p))
        .sum::<f64>()
        / k;
    let dist = |a: [f64; 2], b: [f64; 2]| ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt();
    let dist_optima = points
        .iter()
        .zip(&reference.optima)
        .map(|(&p, opt)| {
            opt.iter()
                .map(|&o| dist(p, o))
                .fold(f64::INFINITY, f64::min)
        })
        .sum::<f64>()
        / k;
    Ok(Measures {
        hypervolume,
        igd: igd_v,
        gd,
        dist_optima,
    })
}

/// A run and its measures at every iterate.
#[derive(Debug, Clone)]
pub struct Measured {
    /// The run.
    pub run: Run,
    /// measures[t]: after t steps.
    pub measures: Vec<Measures>,
}

impl Measured {
    /// The first iteration whose measures satisfy `ok`.
    pub fn first_where(&self, ok: impl Fn(&Measures) -> bool) -> Option<usize> {
        self.measures.iter().position(ok)
    }

    /// The first iteration from which `ok` holds at every iterate to the last.
    pub fn stay_where(&self, ok: impl Fn(&Measures) -> bool) -> Option<usize> {
        match self.measures.iter().rposition(|m| !ok(m)) {
            None => Some(0),
            Some(i) if i + 1 < self.measures.len() => Some(i + 1),
            Some(_) => None,
        }
    }
}

/// One convergence criterion of the summary: a measure and a threshold it must pass.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Criterion {
    /// `hv_optima`, `hv_front`, `gd` or `dist_optima`.
    pub name: &'static str,
    /// The threshold.
    pub threshold: f64,
    /// `true`: the measure must be ≥ the threshold (hypervolume); `false`: ≤ (distances).
    pub at_least: bool,
}

impl Criterion {
    /// The measure this criterion reads.
    pub fn value(&self, m: &Measures) -> f64 {
        match self.name {
            "hv_optima" | "hv_front" => m.hypervolume,
            "gd" => m.gd,
            _ => m.dist_optima,
        }
    }

    /// Whether `m` passes.
    pub fn holds(&self, m: &Measures) -> bool {
        let v = self.value(m);
        if self.at_least {
            v >= self.threshold
        } else {
            v <= self.threshold
        }
    }
}

/// One row of `summary.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryRow {
    /// `independent` or `mt2o`.
    pub method: &'static str,
    /// The criterion.
    pub criterion: Criterion,
    /// The first iteration that passes.
    pub first: Option<usize>,
    /// The first iteration from which every iterate passes.
    pub stay: Option<usize>,
    /// The measure after the last step.
    pub final_value: f64,
}

/// The study: the independent baseline (M = I) and MT2O from the same initial points.
#[derive(Debug, Clone)]
pub struct Study {
    /// The settings.
    pub cfg: Config,
    /// The analytic references.
    pub reference: Reference,
    /// [independent, mt2o].
    pub runs: Vec<Measured>,
}

/// Runs both arms and measures every iterate.
pub fn study(cfg: &Config) -> Result<Study> {
    cfg.check()?;
    let reference = Reference::new(cfg)?;
    let x0 = cfg.initial_points();
    let mut runs = Vec::new();
    for (method, transfer) in [
        ("independent", cfg.transfer_of(TransferSpec::Identity)?),
        ("mt2o", cfg.transfer()?),
    ] {
        let r = run(cfg, &transfer, &x0, method)?;
        let measures = r
            .objectives
            .iter()
            .map(|pts| measure(cfg, &reference, pts))
            .collect::<Result<Vec<_>>>()?;
        runs.push(Measured { run: r, measures });
    }
    Ok(Study {
        cfg: cfg.clone(),
        reference,
        runs,
    })
}

impl Study {
    /// The summary's criteria: the hypervolume ≥ `fraction` × that of the K analytic optima
    /// (`hv_optima`) and of the whole front (`hv_front`, out of reach of K points when the
    /// fraction is near 1), the generational distance ≤ `tol` (on the front) and the mean
    /// distance to the models' own optima ≤ `tol` (each subproblem solved).
    pub fn criteria(&self) -> [Criterion; 4] {
        let (f, tol) = (self.cfg.fraction, self.cfg.tol);
        [
            Criterion {
                name: "hv_optima",
                threshold: f * self.reference.hv_optima,
                at_least: true,
            },
            Criterion {
                name: "hv_front",
                threshold: f * self.reference.hv_front,
                at_least: true,
            },
            Criterion {
                name: "gd",
                threshold: tol,
                at_least: false,
            },
            Criterion {
                name: "dist_optima",
                threshold: tol,
                at_least: false,
            },
        ]
    }

    /// Per method and criterion, when it is first met and from when on it holds.
    pub fn summary(&self) -> Vec<SummaryRow> {
        let mut rows = Vec::new();
        for m in &self.runs {
            for c in self.criteria() {
                rows.push(SummaryRow {
                    method: m.run.method,
                    criterion: c,
                    first: m.first_where(|v| c.holds(v)),
                    stay: m.stay_where(|v| c.holds(v)),
                    final_value: c.value(m.measures.last().expect("measured")),
                });
            }
        }
        rows
    }

    /// A short text summary (printed by the CLI).
    pub fn describe(&self) -> String {
        let c = &self.cfg;
        let mut s = format!(
            "MT2O (as reconstructed from the abstract and MGD) on the bi-objective toy: K = {}, n = {}, \
             {} steps, lr {}, momentum {}, {} scalarisation, transfer {} (w0 = alpha x lr = {})\n\
             reference point ({}, {}): HV of the front {:.6}, of the K analytic optima {:.6}; \
             IGD of the K optima {:.3e}\n",
            c.k,
            c.n,
            c.iters,
            c.lr,
            c.momentum,
            c.scalarization.name(),
            c.transfer.name(),
            c.alpha * c.lr,
            c.reference[0],
            c.reference[1],
            self.reference.hv_front,
            self.reference.hv_optima,
            self.reference.igd_optima,
        );
        s += &format!(
            "{:<12} {:<12} {:>3} {:>11} {:>7} {:>7} {:>11}\n",
            "method", "criterion", "", "threshold", "first", "stays", "final"
        );
        let it = |v: Option<usize>| v.map_or("never".into(), |v| v.to_string());
        for r in self.summary() {
            s += &format!(
                "{:<12} {:<12} {:>3} {:>11.4e} {:>7} {:>7} {:>11.4e}\n",
                r.method,
                r.criterion.name,
                if r.criterion.at_least { ">=" } else { "<=" },
                r.criterion.threshold,
                it(r.first),
                it(r.stay),
                r.final_value
            );
        }
        s += &format!(
            "final IGD: {}\n",
            self.runs
                .iter()
                .map(|m| format!(
                    "{} {:.4e}",
                    m.run.method,
                    m.measures.last().expect("measured").igd
                ))
                .collect::<Vec<_>>()
                .join(", ")
        );
        s
    }

    /// Writes `trajectory.csv`, `hypervolume.csv`, `summary.csv` and `optima.csv` into `dir`.
    pub fn write_outputs(&self, dir: &Path) -> Result<()> {
        let open = |name: &str| -> Result<csv::Writer<std::fs::File>> {
            let path = dir.join(name);
            csv::Writer::from_path(&path).with_context(|| format!("writing {}", path.display()))
        };
        let r = self.cfg.reference;
        let mut w = open("trajectory.csv")?;
        w.write_record(["method", "iteration", "model", "f1", "f2"])?;
        for m in &self.runs {
            for (t, pts) in m.run.objectives.iter().enumerate() {
                for (k, p) in pts.iter().enumerate() {
                    w.write_record([
                        m.run.method.to_string(),
                        t.to_string(),
                        k.to_string(),
                        fmt_float(p[0]),
                        fmt_float(p[1]),
                    ])?;
                }
            }
        }
        w.flush()?;
        let mut w = open("hypervolume.csv")?;
        w.write_record([
            "method",
            "iteration",
            "hypervolume",
            "igd",
            "gd",
            "dist_optima",
            "ref_f1",
            "ref_f2",
        ])?;
        for m in &self.runs {
            for (t, v) in m.measures.iter().enumerate() {
                w.write_record([
                    m.run.method.to_string(),
                    t.to_string(),
                    fmt_float(v.hypervolume),
                    fmt_float(v.igd),
                    fmt_float(v.gd),
                    fmt_float(v.dist_optima),
                    fmt_float(r[0]),
                    fmt_float(r[1]),
                ])?;
            }
        }
        w.flush()?;
        let mut w = open("summary.csv")?;
        w.write_record([
            "method",
            "transfer",
            "scalarization",
            "ref_f1",
            "ref_f2",
            "criterion",
            "threshold",
            "first_iteration",
            "stay_iteration",
            "final_value",
        ])?;
        let opt = |v: Option<usize>| v.map_or(String::new(), |v| v.to_string());
        for row in self.summary() {
            let transfer = if row.method == "independent" {
                "identity"
            } else {
                self.cfg.transfer.name()
            };
            w.write_record([
                row.method.to_string(),
                transfer.to_string(),
                self.cfg.scalarization.name().to_string(),
                fmt_float(r[0]),
                fmt_float(r[1]),
                row.criterion.name.to_string(),
                fmt_float(row.criterion.threshold),
                opt(row.first),
                opt(row.stay),
                fmt_float(row.final_value),
            ])?;
        }
        w.flush()?;
        let mut w = open("optima.csv")?;
        w.write_record(["model", "lambda1", "lambda2", "u", "f1", "f2"])?;
        for (k, (l, (us, fs))) in self
            .cfg
            .lambdas()
            .iter()
            .zip(self.reference.optima_u.iter().zip(&self.reference.optima))
            .enumerate()
        {
            for (u, f) in us.iter().zip(fs) {
                w.write_record([
                    k.to_string(),
                    fmt_float(l[0]),
                    fmt_float(l[1]),
                    fmt_float(*u),
                    fmt_float(f[0]),
                    fmt_float(f[1]),
                ])?;
            }
        }
        w.flush()?;
        Ok(())
    }

    /// `mt2o_front.{svg,png}` (per method: the analytic front, each model's path in objective
    /// space, its final point and the analytic optima) and `mt2o_hypervolume.{svg,png}`
    /// (hypervolume, IGD and distance to the optima against iterations, both methods).
    pub fn figures(&self, dir: &Path) -> Result<()> {
        let front: Vec<(f64, f64)> = self.reference.front.iter().map(|p| (p[0], p[1])).collect();
        let optima: Vec<(f64, f64)> = self
            .reference
            .optima
            .iter()
            .flatten()
            .map(|p| (p[0], p[1]))
            .collect();
        let lambdas = self.cfg.lambdas();
        let mut panels = Vec::new();
        for m in &self.runs {
            let mut series = vec![Series::line(
                "analytic front",
                plots::color(7),
                front.clone(),
                Vec::new(),
            )];
            for (k, l) in lambdas.iter().enumerate() {
                let path: Vec<(f64, f64)> = m
                    .run
                    .objectives
                    .iter()
                    .map(|p| (p[k][0], p[k][1]))
                    .collect();
                let last = *path.last().expect("non-empty");
                series.push(Series::line(
                    format!("λ = ({:.2}, {:.2})", l[0], l[1]),
                    plots::color(k),
                    path,
                    Vec::new(),
                ));
                series.push(Series::scatter("", plots::color(k), vec![last], 5));
            }
            series.push(Series::scatter(
                "analytic optima",
                plots::color(usize::MAX),
                optima.clone(),
                3,
            ));
            panels.push(Panel {
                title: format!("{}: {} steps", m.run.method, self.cfg.iters),
                x_label: "f1".into(),
                y_label: "f2".into(),
                series,
                legend: Legend::LowerLeft,
                ..Default::default()
            });
        }
        plots::save(dir, "mt2o_front", &panels, panels.len())?;

        let curve = |f: &dyn Fn(&Measures) -> f64, m: &Measured| -> Vec<(f64, f64)> {
            m.measures
                .iter()
                .enumerate()
                .map(|(t, v)| (t as f64, f(v)))
                .collect()
        };
        type Pick = fn(&Measures) -> f64;
        let metrics: [(&str, &str, Pick, bool); 3] = [
            ("hypervolume", "HV, r = reference", |v| v.hypervolume, false),
            ("IGD to the front", "IGD", |v| v.igd, true),
            (
                "distance to own optimum",
                "mean ‖F(x_k) − F*_k‖",
                |v| v.dist_optima,
                true,
            ),
        ];
        let mut panels = Vec::new();
        for (title, ylabel, pick, log_y) in metrics {
            let series = self
                .runs
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    Series::line(m.run.method, plots::color(i), curve(&pick, m), Vec::new())
                })
                .collect();
            let hlines = if log_y {
                if title.starts_with("IGD") {
                    vec![self.reference.igd_optima]
                } else {
                    Vec::new()
                }
            } else {
                vec![
                    self.reference.hv_optima,
                    self.cfg.fraction * self.reference.hv_optima,
                ]
            };
            panels.push(Panel {
                title: title.into(),
                x_label: "iteration".into(),
                y_label: ylabel.replace(
                    "reference",
                    &format!("({}, {})", self.cfg.reference[0], self.cfg.reference[1]),
                ),
                log_y,
                series,
                hlines,
                legend: if log_y {
                    Legend::UpperRight
                } else {
                    Legend::LowerRight
                },
                ..Default::default()
            });
        }
        plots::save(dir, "mt2o_hypervolume", &panels, 3)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gradients_match_central_differences() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for n in [1, 2, 5, 20] {
            let p = Problem::new(n).unwrap();
            for _ in 0..20 {
                let x: Vec<f64> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
                let (mut g1, mut g2) = (vec![0.0; n], vec![0.0; n]);
                let f = p.eval(&x, &mut g1, &mut g2);
                assert_eq!(f, p.values(&x));
                for i in 0..n {
                    let h = 1e-6;
                    let (mut xp, mut xm) = (x.clone(), x.clone());
                    xp[i] += h;
                    xm[i] -= h;
                    let (fp, fm) = (p.values(&xp), p.values(&xm));
                    for (t, g) in [&g1, &g2].into_iter().enumerate() {
                        let fd = (fp[t] - fm[t]) / (2.0 * h);
                        assert!(
                            (fd - g[i]).abs() < 1e-8,
                            "n={n} f{} x{i}: {fd} vs {}",
                            t + 1,
                            g[i]
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn hand_evaluated_points() {
        let p = Problem::new(4).unwrap();
        // c = ±½ · 1. At 0: ‖x ∓ c‖² = 1 for both.
        let f = p.values(&[0.0; 4]);
        let want = 1.0 - (-1.0f64).exp();
        assert!((f[0] - want).abs() < 1e-16 && (f[1] - want).abs() < 1e-16);
        // At c_+: f1 = 0 exactly, f2 = 1 − e^{−4}, ∇f1 = 0.
        let (mut g1, mut g2) = (vec![1.0; 4], vec![0.0; 4]);
        let f = p.eval(&[0.5; 4], &mut g1, &mut g2);
        assert_eq!(f[0], 0.0);
        assert!((f[1] - (1.0 - (-4.0f64).exp())).abs() < 1e-16);
        assert!(g1.iter().all(|&g| g == 0.0));
        // ∇f2 at c_+ is 2 e^{−4} (c_+ − c_−) = 2 e^{−4} · 1.
        assert!(g2
            .iter()
            .all(|&g| (g - 2.0 * (-4.0f64).exp()).abs() < 1e-16));
        // The front through u: x = u/√n · 1.
        for u in [-1.0, -0.3, 0.0, 0.7, 1.0] {
            let x = vec![u / 2.0; 4];
            let (a, b) = (p.values(&x), front_point(u));
            assert!((a[0] - b[0]).abs() < 1e-15 && (a[1] - b[1]).abs() < 1e-15);
        }
    }

    #[test]
    fn front_hypervolume_closed_form_matches_dense_samples() {
        let hv = front_hypervolume_unit_reference();
        assert!((erf(std::f64::consts::SQRT_2) - 0.954_499_736_103_641_6).abs() < 1e-15);
        assert!((hv - 0.342_11).abs() < 1e-5, "{hv}");
        // The quadrature for any r agrees with the closed form at r = (1, 1).
        assert!((front_hypervolume([1.0, 1.0]) - hv).abs() < 1e-13);
        // N points of the front: the exact HV of a sample approaches it from below, with a gap
        // of about Σ ½ Δf1 Δf2 = O(1/N); also for a reference that clips the front.
        for r in [[1.0, 1.0], [0.9, 1.3], [0.7, 0.8]] {
            let n = 4000;
            let dense: Vec<Vec<f64>> = (0..=n)
                .map(|i| front_point(-1.0 + 2.0 * i as f64 / n as f64).to_vec())
                .collect();
            let approx = mtl_aggregate::hypervolume(&dense, &r).unwrap();
            let want = front_hypervolume(r);
            assert!(
                approx < want && want - approx < 2e-4,
                "{r:?}: {approx} vs {want}"
            );
        }
        assert_eq!(front_hypervolume([0.0, 1.0]), 0.0);
        assert_eq!(front_hypervolume([0.1, 0.1]), 0.0);
    }

    #[test]
    fn analytic_optima() {
        // Linear: the front is concave, so every optimum is near an end; λ = (½, ½) has two
        // mirror-image optima.
        let cfg = Config::default();
        let r = Reference::new(&cfg).unwrap();
        assert_eq!(r.optima_u[0], vec![-1.0]);
        assert_eq!(r.optima_u[4], vec![1.0]);
        assert_eq!(r.optima_u[2].len(), 2);
        assert!((r.optima_u[2][0] + r.optima_u[2][1]).abs() < 1e-12);
        for us in &r.optima_u {
            for &u in us {
                assert!(u.abs() > 0.9, "{:?}", r.optima_u);
            }
        }
        assert!(r.hv_optima < 0.5 * r.hv_front);
        // Tchebycheff with z = 0: λ1 f1 = λ2 f2 inside, the ends at λ = (0, 1) and (1, 0).
        let cfg = Config {
            scalarization: Scalarization::Tchebycheff { ideal: [0.0, 0.0] },
            ..Config::default()
        };
        let r = Reference::new(&cfg).unwrap();
        assert_eq!(r.optima_u[0], vec![-1.0]);
        assert_eq!(r.optima_u[4], vec![1.0]);
        assert_eq!(r.optima_u[2].len(), 1);
        assert!(r.optima_u[2][0].abs() < 1e-15);
        for (l, opt) in cfg.lambdas().iter().zip(&r.optima).take(4).skip(1) {
            let f = opt[0];
            assert!((l[0] * f[0] - l[1] * f[1]).abs() < 1e-15);
        }
        assert!(r.hv_optima > 0.5 * r.hv_front && r.hv_optima < r.hv_front);
        // Distance to the front: 0 on it, exact off it along the normal.
        let on = front_point(0.3);
        assert!(r.distance_to_front(on) < 1e-12);
        let s = front_slope(0.3);
        let nrm = (s[0] * s[0] + s[1] * s[1]).sqrt();
        let off = [on[0] + 0.01 * s[1] / nrm, on[1] - 0.01 * s[0] / nrm];
        assert!((r.distance_to_front(off) - 0.01).abs() < 1e-6);
    }

    #[test]
    fn tchebycheff_subgradient_follows_the_argmax() {
        let s = Scalarization::Tchebycheff { ideal: [0.0, 0.0] };
        let (g1, g2) = ([1.0, 2.0], [3.0, 4.0]);
        let mut out = [0.0; 2];
        s.gradient([0.5, 0.5], [0.2, 0.4], &g1, &g2, &mut out);
        assert_eq!(out, [1.5, 2.0]);
        s.gradient([0.75, 0.25], [0.2, 0.4], &g1, &g2, &mut out);
        assert_eq!(out, [0.75, 1.5]);
        assert!((s.value([0.75, 0.25], [0.2, 0.4]) - 0.15).abs() < 1e-16);
        // Ties go to the first objective.
        s.gradient([0.5, 0.5], [0.3, 0.3], &g1, &g2, &mut out);
        assert_eq!(out, [0.5, 1.0]);
    }

    #[test]
    fn bad_settings_name_the_flag() {
        let bad = |c: Config| c.check().unwrap_err().to_string();
        let d = Config::default;
        assert!(bad(Config { k: 1, ..d() }).starts_with("--k must be >= 2"));
        assert!(bad(Config { lr: -0.1, ..d() }).starts_with("--lr"));
        assert!(bad(Config { alpha: 20.0, ..d() }).contains("<= 1"));
        assert!(bad(Config {
            momentum: 1.0,
            ..d()
        })
        .starts_with("--momentum"));
        assert!(bad(Config {
            transfer_coords: Some(21),
            ..d()
        })
        .starts_with("--transfer-coords"));
        assert!(bad(Config {
            transfer: TransferSpec::Neighbourhood { t: 5, tau: None },
            ..d()
        })
        .starts_with("--neighbours"));
        assert!(bad(Config {
            transfer: TransferSpec::Decaying { gamma: 0.0 },
            ..d()
        })
        .starts_with("--gamma"));
        assert!(bad(Config {
            scalarization: Scalarization::Tchebycheff { ideal: [0.1, 0.0] },
            ..d()
        })
        .starts_with("--ideal"));
    }
}
