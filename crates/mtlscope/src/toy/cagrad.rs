//! The CAGrad toy: two tasks on x ∈ R², from `Cranial-XIX/CAGrad: toy.py` (`class Toy`), as used
//! by Liu et al. (NeurIPS 2021, Fig. 1) and by Elich et al. ("Examining Common Paradigms in
//! Multi-Task Learning", GCPR 2024, §4.1, Fig. 1, Tab. 1 / Tab. A3) to compare aggregators
//! under GD and Adam. Everything is f64 (the reference code runs in float32).
//!
//! With clamp(z, a) = max(z, a) and LOWER = 5e-6:
//!
//! ```text
//! f1  = log(clamp(|0.5(−x1 − 7) − tanh(−x2)|, LOWER)) + 6
//! f2  = log(clamp(|0.5(−x1 + 3) + tanh(−x2) + 2|, LOWER)) + 6
//! c1  = clamp(tanh(0.5 x2), 0)            c2 = clamp(tanh(−0.5 x2), 0)
//! f1s = ((−x1 + 7)² + 0.1(−x2 − 8)²)/10 − 20
//! f2s = ((−x1 − 7)² + 0.1(−x2 − 8)²)/10 − 20
//! L1  = f1 c1 + f1s c2                    L2 = f2 c1 + f2s c2
//! ```
//!
//! The gradients are the analytic ones with PyTorch's conventions at the kinks (what the
//! reference code's autograd returns): clamp passes the gradient where z ≥ a, d|z|/dz = sign(z).
//! The objective is the mean (L1 + L2)/2; its global minimum is at x* ≈ (0, −8.3552),
//! L* ≈ −15.0916 ([`global_minimum`] solves for it).
//!
//! A run takes `iters` steps of an optimizer (GD or Adam) along an aggregated direction d from
//! one of the three published starting points. The aggregator is any entry of
//! [`mtl_aggregate::registry`]; the toy's own solvers are registry methods with `toy.py`'s
//! conventions ([`toy_py_preset`]): its "sgd" is `mean` (EW), its PCGrad is the registry's
//! (sum-based) `pcgrad` halved, its CAGrad is `cagrad` with c = 0.5 and d/(1 + c)
//! (`rescale = 2`), its MGDA ("mgd") is `mgda`. For two tasks CAGrad's dual is a 1-D convex
//! problem, solved here in closed form ([`cagrad_two_tasks`], tested against the registry's
//! cone solver) because the registry's interior-point solve costs ~100× more per step.
//!
//! Convergence ([`Criterion`]): the number of steps k until the iterate x_k first satisfies
//! L̄(x_k) − L* ≤ tol (default 0.1), or ‖x_k − x*‖₂ ≤ tol with `--criterion distance`; with
//! `--until stay`, the first k from which it holds up to the last iterate. Elich's table
//! reports the maximum over the three starts and "–" when not all converge; the paper does not
//! state its criterion. The default is the one that reproduces its Adam counts at lr ≥ 0.5 to
//! the iteration (see docs/toys.md); it is a parameter.

use anyhow::{bail, Context, Result};
use mtl_aggregate::{registry, Gramian, JacobianRef, Method};

/// The clamp floor of the log terms (`LOWER` in `toy.py`).
pub const LOWER: f64 = 5e-6;
/// The three published starting points (`toy.py`, `run_all`; Elich's "three seeds").
pub const STARTS: [[f64; 2]; 3] = [[-8.5, 7.5], [-8.5, -5.0], [9.0, 9.0]];
/// Elich's learning-rate grid (Tab. A3).
pub const PAPER_LRS: [f64; 9] = [10.0, 5.0, 1.0, 0.5, 0.1, 0.05, 0.01, 0.005, 0.001];
/// Iterations of `toy.py` and Elich's table.
pub const PAPER_ITERS: usize = 100_000;

/// Task losses and their gradients at one point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Eval {
    /// (L1, L2).
    pub losses: [f64; 2],
    /// grads[t] = ∇L_t(x).
    pub grads: [[f64; 2]; 2],
}

impl Eval {
    /// The mean loss (L1 + L2)/2.
    pub fn mean(&self) -> f64 {
        0.5 * (self.losses[0] + self.losses[1])
    }
}

/// log(clamp(|a|, LOWER)) and its derivative in a (1/a where |a| ≥ LOWER, else 0).
fn log_abs_clamped(a: f64) -> (f64, f64) {
    if a.abs() >= LOWER {
        (a.abs().ln(), 1.0 / a)
    } else {
        (LOWER.ln(), 0.0)
    }
}

/// The two losses and their analytic gradients at x.
pub fn eval(x: [f64; 2]) -> Eval {
    let [x1, x2] = x;
    // tanh(−x2) = −tanh(x2); d tanh(z)/dz = 1 − tanh²(z).
    let t = x2.tanh();
    let sech2 = 1.0 - t * t;
    let a1 = 0.5 * (-x1 - 7.0) + t;
    let a2 = 0.5 * (-x1 + 3.0) - t + 2.0;
    let (l1, k1) = log_abs_clamped(a1);
    let (l2, k2) = log_abs_clamped(a2);
    let (f1, f2) = (l1 + 6.0, l2 + 6.0);
    let df1 = [-0.5 * k1, sech2 * k1];
    let df2 = [-0.5 * k2, -sech2 * k2];

    let h = (0.5 * x2).tanh();
    let dh = 0.5 * (1.0 - h * h);
    let (c1, dc1) = if h >= 0.0 { (h, dh) } else { (0.0, 0.0) };
    let (c2, dc2) = if -h >= 0.0 { (-h, -dh) } else { (0.0, 0.0) };

    let q = 0.1 * (-x2 - 8.0) * (-x2 - 8.0);
    let f1s = ((-x1 + 7.0) * (-x1 + 7.0) + q) / 10.0 - 20.0;
    let f2s = ((-x1 - 7.0) * (-x1 - 7.0) + q) / 10.0 - 20.0;
    let dq = 0.02 * (x2 + 8.0);
    let df1s = [0.2 * (x1 - 7.0), dq];
    let df2s = [0.2 * (x1 + 7.0), dq];

    let grad = |f: f64, df: [f64; 2], fs: f64, dfs: [f64; 2]| {
        [
            c1 * df[0] + c2 * dfs[0],
            c1 * df[1] + f * dc1 + c2 * dfs[1] + fs * dc2,
        ]
    };
    Eval {
        losses: [f1 * c1 + f1s * c2, f2 * c1 + f2s * c2],
        grads: [grad(f1, df1, f1s, df1s), grad(f2, df2, f2s, df2s)],
    }
}

/// The global minimiser of the mean loss and its value, (x*, L*).
///
/// For x2 < 0, c1 = 0 and the mean is c2 ((x1² + 49)/10 + 0.01(x2 + 8)² − 20), minimised at
/// x1 = 0; for x2 ≥ 0 the mean is ≥ log(LOWER) + 6 > −7. So x* = (0, x2*) with x2* the root of
/// h′ for h(x2) = tanh(−x2/2)(0.01(x2 + 8)² − 15.1),
/// h′(x2) = −½ sech²(x2/2)(0.01(x2 + 8)² − 15.1) + 0.02 tanh(−x2/2)(x2 + 8),
/// which changes sign once on [−20, 0] (h′(−20) < 0 < h′(0)): bisection to adjacent floats.
pub fn global_minimum() -> ([f64; 2], f64) {
    let dh = |x2: f64| {
        let t = (-0.5 * x2).tanh();
        -0.5 * (1.0 - t * t) * (0.01 * (x2 + 8.0) * (x2 + 8.0) - 15.1) + 0.02 * t * (x2 + 8.0)
    };
    let (mut a, mut b) = (-20.0f64, 0.0f64);
    for _ in 0..200 {
        let m = 0.5 * (a + b);
        if m <= a || m >= b {
            break;
        }
        if dh(m) < 0.0 {
            a = m;
        } else {
            b = m;
        }
    }
    let x = [0.0, 0.5 * (a + b)];
    (x, eval(x).mean())
}

/// How a cell's convergence is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// ‖x − x*‖₂.
    Distance,
    /// L̄(x) − L*.
    Loss,
}

/// Which iteration counts as converged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// The first iterate within tolerance.
    First,
    /// The first iterate from which every later one (to the last) is within tolerance.
    Stay,
}

/// The convergence criterion: `metric ≤ tol`, counted by `until`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Criterion {
    /// What is measured.
    pub metric: Metric,
    /// The tolerance (> 0).
    pub tol: f64,
    /// First hit or stays.
    pub until: Until,
}

impl Default for Criterion {
    fn default() -> Self {
        Criterion {
            metric: Metric::Loss,
            tol: 0.1,
            until: Until::First,
        }
    }
}

impl Criterion {
    /// One line for logs and captions.
    pub fn describe(&self) -> String {
        let m = match self.metric {
            Metric::Distance => "‖x − x*‖ ≤",
            Metric::Loss => "L̄(x) − L* ≤",
        };
        let u = match self.until {
            Until::First => "first iterate",
            Until::Stay => "first iterate from which it holds to the end",
        };
        format!("{m} {} ({u})", self.tol)
    }
}

/// The `toy.py` conventions for a registry method: extra parameters and a direction scale.
/// `ew` is an alias of `mean`.
pub fn toy_py_preset(name: &str) -> (&'static str, Vec<(String, String)>, f64) {
    match name {
        "ew" | "mean" => ("mean", Vec::new(), 1.0),
        // toy.py: ((1 − g12/g11) g1 + (1 − g12/g22) g2)/2, the registry's sum halved.
        "pcgrad" => ("pcgrad", Vec::new(), 0.5),
        // toy.py: cagrad(grads, c=0.5), returning g/(1 + c).
        "cagrad" => (
            "cagrad",
            vec![("c".into(), "0.5".into()), ("rescale".into(), "2".into())],
            1.0,
        ),
        _ => ("", Vec::new(), 1.0),
    }
}

/// One method of the grid: a label, the registry entry and parameters, and a direction scale.
#[derive(Debug, Clone, PartialEq)]
pub struct MethodSpec {
    /// As given on the command line (`ew`, `cagrad`, …).
    pub label: String,
    /// The registry name.
    pub registry: String,
    /// Registry parameters (the `toy.py` preset, then user overrides).
    pub params: Vec<(String, String)>,
    /// d is multiplied by this (the preset, or `scale=` in `--param`).
    pub scale: f64,
}

impl MethodSpec {
    /// `label` with the `toy.py` preset, then `overrides` (`scale` is the toy's own key; the
    /// rest go to the registry, which checks them). Unknown names list the known ones.
    pub fn new(label: &str, overrides: &[(String, String)]) -> Result<MethodSpec> {
        let (preset, mut params, mut scale) = toy_py_preset(label);
        let registry_name = if preset.is_empty() { label } else { preset };
        for (k, v) in overrides {
            if k == "scale" {
                scale = v
                    .parse::<f64>()
                    .ok()
                    .filter(|s| s.is_finite() && *s > 0.0)
                    .with_context(|| format!("{label}.scale must be a number > 0, got {v}"))?;
            } else {
                params.push((k.clone(), v.clone()));
            }
        }
        let spec = MethodSpec {
            label: label.to_string(),
            registry: registry_name.to_string(),
            params,
            scale,
        };
        spec.build(false)?;
        Ok(spec)
    }

    /// A fresh solver; `force_registry` disables the two-task CAGrad closed form.
    pub fn build(&self, force_registry: bool) -> Result<Solver> {
        let method = registry::build(&self.registry, &self.params).map_err(|e| {
            anyhow::anyhow!("method `{}`: {e} (toy aliases: ew = mean)", self.label)
        })?;
        if !force_registry && self.registry == "cagrad" {
            let get = |k: &str, d: f64| {
                self.params
                    .iter()
                    .rev()
                    .find(|(n, _)| n == k)
                    .map(|(_, v)| v.trim().parse::<f64>().unwrap_or(d))
                    .unwrap_or(d)
            };
            // Registry defaults; the registry has already validated the values.
            let c = get("c", 0.4);
            let divisor = match get("rescale", 1.0) as u8 {
                0 => 1.0,
                1 => 1.0 + c * c,
                _ => 1.0 + c,
            };
            return Ok(Solver::CaGrad2 {
                c,
                divisor,
                scale: self.scale,
            });
        }
        Ok(Solver::Registry {
            method,
            scale: self.scale,
        })
    }
}

/// Computes the aggregated direction from the two task gradients.
#[derive(Debug)]
pub enum Solver {
    /// Any registry method.
    Registry {
        /// The method.
        method: Method,
        /// Scale of d.
        scale: f64,
    },
    /// CAGrad for two tasks in closed form ([`cagrad_two_tasks`]).
    CaGrad2 {
        /// Radius factor.
        c: f64,
        /// 1, 1 + c² or 1 + c.
        divisor: f64,
        /// Scale of d.
        scale: f64,
    },
}

impl Solver {
    /// d for the task gradients g = (∇L1, ∇L2).
    pub fn direction(&mut self, g: &[[f64; 2]; 2]) -> Result<[f64; 2]> {
        match self {
            Solver::CaGrad2 { c, divisor, scale } => {
                let d = cagrad_two_tasks(g[0], g[1], *c);
                let k = *scale / *divisor;
                Ok([k * d[0], k * d[1]])
            }
            Solver::Registry { method, scale } => {
                let w = match method {
                    Method::Gramian(w) => {
                        let (a, b, c) = (dot(g[0], g[0]), dot(g[0], g[1]), dot(g[1], g[1]));
                        w.weights(&Gramian::from_row_major(2, vec![a, b, b, c])?)?
                    }
                    Method::Jacobian(a) => {
                        let flat = [g[0][0], g[0][1], g[1][0], g[1][1]];
                        let out = a.aggregate(JacobianRef::new(&flat, 2, 2)?)?;
                        return Ok([*scale * out.direction[0], *scale * out.direction[1]]);
                    }
                };
                Ok([
                    *scale * (w[0] * g[0][0] + w[1] * g[1][0]),
                    *scale * (w[0] * g[0][1] + w[1] * g[1][1]),
                ])
            }
        }
    }
}

fn dot(a: [f64; 2], b: [f64; 2]) -> f64 {
    a[0] * b[0] + a[1] * b[1]
}

/// CAGrad's direction for two tasks, before rescaling, by the same definition as the registry's
/// `cagrad` (Liu et al. 2021, Eq. 5 / Alg. 1): w* = argmin_{w ∈ [0,1]} g_wᵀg0 + r‖g_w‖ with
/// g_w = w g1 + (1 − w) g2, g0 = (g1 + g2)/2, r = c‖g0‖, and d = g0 + (r/‖g_w*‖) g_w*.
///
/// With a = g1 − g2, b = g2, u = ‖a‖² w + aᵀb and p = aᵀg0, the objective is convex in w and
/// stationary where r u/‖g_w‖ = −p; since ‖g_w‖² = (u² + D)/‖a‖² with D = ‖a‖²‖b‖² − (aᵀb)²,
/// u = −p √(D/(r²‖a‖² − p²)) when r²‖a‖² > p² (then clipped to w ∈ [0, 1]); otherwise the
/// objective is monotone and w* is the end 0 (p > 0) or 1 (p < 0).
/// When g_w* = 0 (opposite gradients, primal optimum 0) d is the projection of g0 onto
/// {d : g1ᵀd ≥ 0, g2ᵀd ≥ 0}, the registry's tie-break.
pub fn cagrad_two_tasks(g1: [f64; 2], g2: [f64; 2], c: f64) -> [f64; 2] {
    let g0 = [0.5 * (g1[0] + g2[0]), 0.5 * (g1[1] + g2[1])];
    let r = c * dot(g0, g0).sqrt();
    if r == 0.0 {
        return g0;
    }
    let a = [g1[0] - g2[0], g1[1] - g2[1]];
    let (aa, ab, bb) = (dot(a, a), dot(a, g2), dot(g2, g2));
    let w = if aa == 0.0 {
        0.5
    } else {
        let p = dot(a, g0);
        let den = r * r * aa - p * p;
        if den > 0.0 {
            let d = (aa * bb - ab * ab).max(0.0);
            let u = -p * (d / den).sqrt();
            ((u - ab) / aa).clamp(0.0, 1.0)
        } else if p > 0.0 {
            0.0
        } else {
            1.0
        }
    };
    let gw = [g2[0] + w * a[0], g2[1] + w * a[1]];
    let norm = dot(gw, gw).sqrt();
    if norm <= 1e-300 {
        return project_onto_cone(g0, g1, g2);
    }
    [g0[0] + r / norm * gw[0], g0[1] + r / norm * gw[1]]
}

/// The point of {d : g1ᵀd ≥ 0, g2ᵀd ≥ 0} nearest to x (candidates: x, its projections onto
/// each hyperplane g_iᵀd = 0, and their intersection).
fn project_onto_cone(x: [f64; 2], g1: [f64; 2], g2: [f64; 2]) -> [f64; 2] {
    let ok = |d: [f64; 2]| {
        dot(g1, d) >= -1e-15 * dot(d, d).sqrt() && dot(g2, d) >= -1e-15 * dot(d, d).sqrt()
    };
    let proj = |g: [f64; 2]| {
        let n = dot(g, g);
        if n == 0.0 {
            x
        } else {
            let k = dot(g, x) / n;
            [x[0] - k * g[0], x[1] - k * g[1]]
        }
    };
    let mut best = [0.0, 0.0];
    let dist = |d: [f64; 2]| (d[0] - x[0]).powi(2) + (d[1] - x[1]).powi(2);
    for cand in [x, proj(g1), proj(g2)] {
        if ok(cand) && dist(cand) < dist(best) {
            best = cand;
        }
    }
    best
}

/// One optimizer of the grid.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OptimizerSpec {
    /// `gd` or `adam`.
    pub label: &'static str,
    /// Its kind.
    pub kind: super::optim::OptimizerKind,
}

impl OptimizerSpec {
    /// `gd` (torch SGD without momentum) or `adam` (torch defaults).
    pub fn parse(name: &str) -> Result<OptimizerSpec> {
        Ok(match name {
            "gd" => OptimizerSpec {
                label: "gd",
                kind: super::optim::OptimizerKind::GD,
            },
            "adam" => OptimizerSpec {
                label: "adam",
                kind: super::optim::OptimizerKind::ADAM,
            },
            other => bail!("unknown optimizer `{other}`; known: gd, adam"),
        })
    }
}

/// The grid: methods × optimizers × learning rates × starts.
#[derive(Debug, Clone)]
pub struct Grid {
    /// Methods.
    pub methods: Vec<MethodSpec>,
    /// Optimizers.
    pub optimizers: Vec<OptimizerSpec>,
    /// Learning rates.
    pub lrs: Vec<f64>,
    /// Indices into [`STARTS`].
    pub starts: Vec<usize>,
    /// Steps per run.
    pub iters: usize,
    /// Convergence criterion.
    pub criterion: Criterion,
    /// Use the registry for CAGrad too (slow; for checking the closed form).
    pub force_registry: bool,
    /// Keep thinned trajectories for the figures.
    pub record: bool,
}

/// One cell of the grid (a single run).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cell {
    /// Index into `Grid::methods`.
    pub method: usize,
    /// Index into `Grid::optimizers`.
    pub optimizer: usize,
    /// Index into `Grid::lrs`.
    pub lr: usize,
    /// Index into [`STARTS`].
    pub start: usize,
}

/// What one run gives.
#[derive(Debug, Clone)]
pub struct CellResult {
    /// The cell.
    pub cell: Cell,
    /// Steps to convergence, if it converged.
    pub converged_at: Option<usize>,
    /// Steps taken (less than `iters` if x or a gradient became non-finite).
    pub steps: usize,
    /// The step at which x or a gradient became non-finite.
    pub diverged_at: Option<usize>,
    /// The last finite iterate.
    pub last: [f64; 2],
    /// (step, x), thinned for drawing (empty unless `Grid::record`).
    pub trajectory: Vec<(usize, [f64; 2])>,
}

impl Grid {
    /// Every cell, in the order method, optimizer, lr, start.
    pub fn cells(&self) -> Vec<Cell> {
        let mut v = Vec::new();
        for method in 0..self.methods.len() {
            for optimizer in 0..self.optimizers.len() {
                for lr in 0..self.lrs.len() {
                    for &start in &self.starts {
                        v.push(Cell {
                            method,
                            optimizer,
                            lr,
                            start,
                        });
                    }
                }
            }
        }
        v
    }

    /// Runs one cell.
    pub fn run_cell(&self, cell: Cell) -> Result<CellResult> {
        let spec = &self.methods[cell.method];
        let mut solver = spec.build(self.force_registry)?;
        let mut opt = self.optimizers[cell.optimizer]
            .kind
            .build(self.lrs[cell.lr], 2);
        let (xstar, lstar) = global_minimum();
        let crit = self.criterion;
        let within = |x: [f64; 2], e: &Eval| match crit.metric {
            Metric::Distance => {
                ((x[0] - xstar[0]).powi(2) + (x[1] - xstar[1]).powi(2)).sqrt() <= crit.tol
            }
            Metric::Loss => e.mean() - lstar <= crit.tol,
        };
        let mut x = STARTS[cell.start];
        let mut first = None;
        let mut entered = None;
        let mut diverged_at = None;
        let mut traj = Vec::new();
        // Points closer than this to the last kept one are not kept (1/440 of the plot).
        let thin = 0.05;
        if self.record {
            traj.push((0, x));
        }
        let mut delta = [0.0; 2];
        let mut steps = 0;
        for k in 0..=self.iters {
            let e = eval(x);
            if within(x, &e) {
                first.get_or_insert(k);
                entered.get_or_insert(k);
            } else {
                entered = None;
            }
            if k == self.iters {
                break;
            }
            let finite = e.grads.iter().flatten().all(|v| v.is_finite());
            let d = if finite {
                spec_direction(&mut solver, &e.grads, &spec.label, k)?
            } else {
                [f64::NAN; 2]
            };
            let mut next = x;
            opt.step(&mut next, &d, &mut delta);
            if !next.iter().all(|v| v.is_finite()) {
                diverged_at = Some(k + 1);
                break;
            }
            x = next;
            steps = k + 1;
            if self.record {
                let &(_, p) = traj.last().expect("starts with x0");
                if (x[0] - p[0]).hypot(x[1] - p[1]) >= thin || steps == self.iters {
                    traj.push((steps, x));
                }
            }
        }
        let converged_at = match crit.until {
            Until::First => first,
            Until::Stay if diverged_at.is_none() => entered,
            Until::Stay => None,
        };
        Ok(CellResult {
            cell,
            converged_at,
            steps,
            diverged_at,
            last: x,
            trajectory: traj,
        })
    }

    /// Runs every cell on `threads` worker threads (results in [`Grid::cells`] order).
    pub fn run(&self, threads: usize) -> Result<Vec<CellResult>> {
        let cells = self.cells();
        let next = std::sync::atomic::AtomicUsize::new(0);
        let slots: Vec<std::sync::Mutex<Option<Result<CellResult>>>> =
            cells.iter().map(|_| std::sync::Mutex::new(None)).collect();
        std::thread::scope(|s| {
            for _ in 0..threads.clamp(1, cells.len().max(1)) {
                s.spawn(|| loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= cells.len() {
                        break;
                    }
                    let r = self.run_cell(cells[i]);
                    *slots[i].lock().expect("no worker panics holding it") = Some(r);
                });
            }
        });
        slots
            .into_iter()
            .map(|m| m.into_inner().expect("unpoisoned").expect("every cell ran"))
            .collect()
    }
}

fn spec_direction(
    solver: &mut Solver,
    g: &[[f64; 2]; 2],
    label: &str,
    k: usize,
) -> Result<[f64; 2]> {
    solver
        .direction(g)
        .with_context(|| format!("method {label} at step {k}"))
}

/// Elich et al., Tab. A3: iterations to the global minimum, max over the 3 starts, `None` = "–"
/// (not all starts converged within 100k). Columns are [`PAPER_LRS`].
pub const ELICH_TAB_A3: [(&str, &str, [Option<u32>; 9]); 6] = [
    (
        "gd",
        "ew",
        [None, Some(103), None, None, None, None, None, None, None],
    ),
    ("gd", "pcgrad", [None; 9]),
    (
        "gd",
        "cagrad",
        [
            Some(644),
            None,
            Some(213),
            Some(621),
            Some(8069),
            Some(5732),
            Some(20418),
            Some(34405),
            None,
        ],
    ),
    (
        "adam",
        "ew",
        [
            Some(26),
            Some(37),
            Some(22),
            Some(58),
            Some(709),
            Some(2135),
            Some(9015),
            Some(16005),
            None,
        ],
    ),
    (
        "adam",
        "pcgrad",
        [
            Some(25),
            Some(4960),
            Some(56),
            Some(15741),
            Some(34175),
            Some(41438),
            None,
            None,
            None,
        ],
    ),
    (
        "adam",
        "cagrad",
        [
            Some(27),
            Some(30),
            Some(32),
            Some(106),
            Some(802),
            Some(7109),
            Some(11239),
            Some(14323),
            Some(57700),
        ],
    ),
];

/// Elich's Tab. A3 entry for (optimizer, method label, lr), if the paper has that cell.
/// `Some(None)` is a "–".
pub fn elich_reference(optimizer: &str, method: &str, lr: f64) -> Option<Option<u32>> {
    let col = PAPER_LRS.iter().position(|&l| l == lr)?;
    let method = if method == "mean" { "ew" } else { method };
    ELICH_TAB_A3
        .iter()
        .find(|(o, m, _)| *o == optimizer && *m == method)
        .map(|(_, _, row)| row[col])
}

/// One row of the iterations table: (optimizer, method) over the learning rates.
#[derive(Debug, Clone, PartialEq)]
pub struct TableRow {
    /// Optimizer label.
    pub optimizer: String,
    /// Method label.
    pub method: String,
    /// Per learning rate: (starts converged, starts run, max iterations if all converged).
    pub cells: Vec<(usize, usize, Option<usize>)>,
}

/// The iterations-to-minimum table: max over the starts, `None` when not all converged.
pub fn table(grid: &Grid, results: &[CellResult]) -> Vec<TableRow> {
    let mut rows = Vec::new();
    for (oi, o) in grid.optimizers.iter().enumerate() {
        for (mi, m) in grid.methods.iter().enumerate() {
            let cells = (0..grid.lrs.len())
                .map(|li| {
                    let rs: Vec<&CellResult> = results
                        .iter()
                        .filter(|r| {
                            r.cell.optimizer == oi && r.cell.method == mi && r.cell.lr == li
                        })
                        .collect();
                    let conv = rs.iter().filter(|r| r.converged_at.is_some()).count();
                    let max = (conv == rs.len() && !rs.is_empty())
                        .then(|| rs.iter().filter_map(|r| r.converged_at).max())
                        .flatten();
                    (conv, rs.len(), max)
                })
                .collect();
            rows.push(TableRow {
                optimizer: o.label.to_string(),
                method: m.label.clone(),
                cells,
            });
        }
    }
    rows
}

/// A learning rate as written in file names and tables (`0.001`, `10`).
pub fn fmt_lr(lr: f64) -> String {
    format!("{lr}")
}

/// "1,234" or "–".
fn fmt_count(n: Option<usize>) -> String {
    match n {
        None => "–".to_string(),
        Some(n) => {
            let s = n.to_string();
            let mut out = String::new();
            for (i, ch) in s.chars().enumerate() {
                if i > 0 && (s.len() - i) % 3 == 0 {
                    out.push(',');
                }
                out.push(ch);
            }
            out
        }
    }
}

/// The table as markdown: ours, and (where the paper has the cell) Elich's in parentheses.
pub fn table_markdown(grid: &Grid, rows: &[TableRow]) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "Iterations to the global minimum, max over starts {:?}; – = not all converged within {} steps.\n\
         Criterion: {}. In parentheses: Elich et al., Tab. A3.\n\n",
        grid.starts,
        grid.iters,
        grid.criterion.describe()
    ));
    s.push_str("| opt | method |");
    for lr in &grid.lrs {
        s.push_str(&format!(" {} |", fmt_lr(*lr)));
    }
    s.push_str("\n|---|---|");
    for _ in &grid.lrs {
        s.push_str("---|");
    }
    s.push('\n');
    for r in rows {
        s.push_str(&format!("| {} | {} |", r.optimizer, r.method));
        for (li, &(_, _, max)) in r.cells.iter().enumerate() {
            let ours = fmt_count(max);
            match elich_reference(&r.optimizer, &r.method, grid.lrs[li]) {
                Some(p) => s.push_str(&format!(" {ours} ({}) |", fmt_count(p.map(|v| v as usize)))),
                None => s.push_str(&format!(" {ours} |")),
            }
        }
        s.push('\n');
    }
    s
}

/// Writes `iterations.csv` (one row per run), `final.csv` (each run's last iterate, its mean
/// loss and distance to x*) and `table.csv` / `table.md` into `dir`.
pub fn write_outputs(dir: &std::path::Path, grid: &Grid, results: &[CellResult]) -> Result<()> {
    let path = dir.join("iterations.csv");
    let mut w =
        csv::Writer::from_path(&path).with_context(|| format!("writing {}", path.display()))?;
    w.write_record([
        "method",
        "optimizer",
        "lr",
        "start",
        "iterations",
        "converged",
    ])?;
    for r in results {
        let c = r.cell;
        w.write_record([
            grid.methods[c.method].label.clone(),
            grid.optimizers[c.optimizer].label.to_string(),
            fmt_lr(grid.lrs[c.lr]),
            c.start.to_string(),
            r.converged_at.unwrap_or(r.steps).to_string(),
            r.converged_at.is_some().to_string(),
        ])?;
    }
    w.flush()
        .with_context(|| format!("writing {}", path.display()))?;

    let path = dir.join("final.csv");
    let mut w =
        csv::Writer::from_path(&path).with_context(|| format!("writing {}", path.display()))?;
    w.write_record([
        "method",
        "optimizer",
        "lr",
        "start",
        "steps",
        "x1",
        "x2",
        "mean_loss",
        "distance",
        "diverged_at",
    ])?;
    let (xs, _) = global_minimum();
    for r in results {
        let c = r.cell;
        w.write_record([
            grid.methods[c.method].label.clone(),
            grid.optimizers[c.optimizer].label.to_string(),
            fmt_lr(grid.lrs[c.lr]),
            c.start.to_string(),
            r.steps.to_string(),
            format!("{}", r.last[0]),
            format!("{}", r.last[1]),
            format!("{}", eval(r.last).mean()),
            format!("{}", (r.last[0] - xs[0]).hypot(r.last[1] - xs[1])),
            r.diverged_at.map(|k| k.to_string()).unwrap_or_default(),
        ])?;
    }
    w.flush()
        .with_context(|| format!("writing {}", path.display()))?;

    let rows = table(grid, results);
    let path = dir.join("table.csv");
    let mut w =
        csv::Writer::from_path(&path).with_context(|| format!("writing {}", path.display()))?;
    w.write_record([
        "optimizer",
        "method",
        "lr",
        "starts_converged",
        "starts",
        "max_iterations",
        "elich_tab_a3",
    ])?;
    for r in &rows {
        for (li, &(conv, n, max)) in r.cells.iter().enumerate() {
            let lr = grid.lrs[li];
            let paper = match elich_reference(&r.optimizer, &r.method, lr) {
                None => String::new(),
                Some(None) => "-".to_string(),
                Some(Some(v)) => v.to_string(),
            };
            w.write_record([
                r.optimizer.clone(),
                r.method.clone(),
                fmt_lr(lr),
                conv.to_string(),
                n.to_string(),
                max.map(|v| v.to_string()).unwrap_or_default(),
                paper,
            ])?;
        }
    }
    w.flush()
        .with_context(|| format!("writing {}", path.display()))?;
    let path = dir.join("table.md");
    std::fs::write(&path, table_markdown(grid, &rows))
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Central differences of L_t.
    fn fd(x: [f64; 2], t: usize) -> [f64; 2] {
        let h = 1e-6;
        let l = |p: [f64; 2]| eval(p).losses[t];
        [
            (l([x[0] + h, x[1]]) - l([x[0] - h, x[1]])) / (2.0 * h),
            (l([x[0], x[1] + h]) - l([x[0], x[1] - h])) / (2.0 * h),
        ]
    }

    #[test]
    fn gradients_match_finite_differences() {
        for x in [
            [-8.5, 7.5],
            [-8.5, -5.0],
            [9.0, 9.0],
            [1.3, 0.7],
            [-2.0, -3.0],
            [4.0, 2.5],
            [0.0, -8.3552],
        ] {
            let e = eval(x);
            for t in 0..2 {
                for (k, (g, f)) in e.grads[t].iter().zip(fd(x, t)).enumerate() {
                    assert!(
                        (g - f).abs() < 1e-6 * (1.0 + g.abs()),
                        "x={x:?} task {t} coord {k}: {g} vs fd {f}"
                    );
                }
            }
        }
    }

    #[test]
    fn hand_evaluated_points() {
        // x = (0, 0): c1 = c2 = 0, so both losses are 0; the clamps pass the gradient at 0
        // (PyTorch): dc1/dx2 = 1/2, dc2/dx2 = −1/2, |a1| = |−3.5| and a2 = 1.5 + 2 so
        // f1 = f2 = log 3.5 + 6, f1s = f2s = (49 + 6.4)/10 − 20 = −14.46; dL/dx1 = 0.
        let e = eval([0.0, 0.0]);
        assert_eq!(e.losses, [0.0, 0.0]);
        let g1 = 0.5 * (3.5f64.ln() + 6.0) - 0.5 * (-14.46);
        let g2 = g1;
        assert_eq!(e.grads[0][0], 0.0);
        assert_eq!(e.grads[1][0], 0.0);
        assert!((e.grads[0][1] - g1).abs() < 1e-12, "{:?}", e.grads);
        assert!((e.grads[1][1] - g2).abs() < 1e-12, "{:?}", e.grads);
        // Far below (x2 = −40): c2 = 1 to rounding, c1 = 0: the quadratics.
        let e = eval([1.0, -40.0]);
        let f1s = (36.0 + 0.1 * 32.0 * 32.0) / 10.0 - 20.0;
        let f2s = (64.0 + 0.1 * 32.0 * 32.0) / 10.0 - 20.0;
        assert!((e.losses[0] - f1s).abs() < 1e-12 && (e.losses[1] - f2s).abs() < 1e-12);
        assert!((e.grads[0][0] - 0.2 * (1.0 - 7.0)).abs() < 1e-12);
        assert!((e.grads[1][0] - 0.2 * 8.0).abs() < 1e-12);
        assert!((e.grads[0][1] - 0.02 * (-32.0)).abs() < 1e-12);
        // Far above (x2 = 40): c1 = 1, c2 = 0, tanh(x2) = 1: a1 = −x1/2 − 2.5, a2 = −x1/2 + 2.5.
        let e = eval([1.0, 40.0]);
        assert!((e.losses[0] - (3f64.ln() + 6.0)).abs() < 1e-12);
        assert!((e.losses[1] - (2f64.ln() + 6.0)).abs() < 1e-12);
        assert!((e.grads[0][0] - (-0.5 / -3.0)).abs() < 1e-12);
        assert!((e.grads[1][0] - (-0.5 / 2.0)).abs() < 1e-12);
        // On the clamp (a1 = 0 at x1 = −7 + 2 tanh(x2)): log(LOWER) + 6 and no x-gradient.
        let x2 = 1.0f64;
        let e = eval([-7.0 + 2.0 * x2.tanh(), x2]);
        let c1 = (0.5f64).tanh();
        assert!((e.losses[0] - (LOWER.ln() + 6.0) * c1).abs() < 1e-9);
        assert_eq!(e.grads[0][0], 0.0);
    }

    #[test]
    fn global_minimum_is_the_published_one_and_below_a_grid() {
        let (x, l) = global_minimum();
        assert!(x[0] == 0.0 && (x[1] + 8.3552).abs() < 1e-4, "{x:?}");
        assert!((l + 15.0916).abs() < 1e-4, "{l}");
        let e = eval(x);
        let g = [
            0.5 * (e.grads[0][0] + e.grads[1][0]),
            0.5 * (e.grads[0][1] + e.grads[1][1]),
        ];
        assert!(g[0].abs() < 1e-15 && g[1].abs() < 1e-15, "{g:?}");
        for i in 0..=440 {
            for j in 0..=440 {
                let p = [-11.0 + 0.05 * i as f64, -11.0 + 0.05 * j as f64];
                assert!(eval(p).mean() >= l - 1e-12, "{p:?}");
            }
        }
    }

    /// Deterministic pseudo-random gradient pairs, with opposite and parallel ones.
    fn pairs() -> Vec<([f64; 2], [f64; 2])> {
        let mut s = 0x9e3779b97f4a7c15u64;
        let mut r = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        };
        let mut v: Vec<([f64; 2], [f64; 2])> = (0..300)
            .map(|i| {
                let k = 10f64.powi(i % 7 - 3);
                ([r(), r()], [k * r(), k * r()])
            })
            .collect();
        v.push(([1.0, 2.0], [-2.0, -4.0]));
        v.push(([1.0, 2.0], [3.0, 6.0]));
        v.push(([1.0, 0.0], [1.0, 0.0]));
        v.push(([1.0, 0.0], [-1.0, 1e-9]));
        v
    }

    /// CAGrad's dual by ternary search on w ∈ [0, 1] (convex), then d; an independent check.
    fn cagrad_by_search(g1: [f64; 2], g2: [f64; 2], c: f64) -> [f64; 2] {
        let g0 = [0.5 * (g1[0] + g2[0]), 0.5 * (g1[1] + g2[1])];
        let r = c * dot(g0, g0).sqrt();
        let gw = |w: f64| [w * g1[0] + (1.0 - w) * g2[0], w * g1[1] + (1.0 - w) * g2[1]];
        let f = |w: f64| dot(gw(w), g0) + r * dot(gw(w), gw(w)).sqrt();
        let (mut a, mut b) = (0.0f64, 1.0f64);
        for _ in 0..300 {
            let (m1, m2) = (a + (b - a) / 3.0, b - (b - a) / 3.0);
            if f(m1) < f(m2) {
                b = m2;
            } else {
                a = m1;
            }
        }
        let v = gw(0.5 * (a + b));
        let n = dot(v, v).sqrt();
        [g0[0] + r / n * v[0], g0[1] + r / n * v[1]]
    }

    #[test]
    fn cagrad_closed_form_matches_a_search_and_the_registry() {
        for c in [0.5, 0.4, 0.9] {
            let params = [
                ("c".to_string(), c.to_string()),
                ("rescale".to_string(), "0".to_string()),
            ];
            let mut reg = Solver::Registry {
                method: registry::build("cagrad", &params).unwrap(),
                scale: 1.0,
            };
            for (g1, g2) in pairs() {
                let d = cagrad_two_tasks(g1, g2, c);
                let n = dot(g1, g1).sqrt().max(dot(g2, g2).sqrt());
                let worst = |d: [f64; 2]| dot(g1, d).min(dot(g2, d));
                // The registry solves the primal by an interior-point method (to ~1e-8): same
                // worst-case value, d inside the ball ‖d − g0‖ ≤ c‖g0‖.
                let r = reg.direction(&[g1, g2]).unwrap();
                assert!(
                    (worst(d) - worst(r)).abs() <= 1e-9 * n * n,
                    "c={c} g1={g1:?} g2={g2:?}: closed {d:?} vs registry {r:?}"
                );
                let g0 = [0.5 * (g1[0] + g2[0]), 0.5 * (g1[1] + g2[1])];
                let dist = (d[0] - g0[0]).hypot(d[1] - g0[1]);
                assert!(dist <= c * dot(g0, g0).sqrt() * (1.0 + 1e-12) + 1e-300);
                // Away from opposite gradients (g_w* = 0, the tie-break), d itself agrees with
                // a direct search of the dual.
                let cross = (g1[0] * g2[1] - g1[1] * g2[0]).abs();
                if cross > 1e-6 * n * n {
                    let s = cagrad_by_search(g1, g2, c);
                    assert!(
                        (d[0] - s[0]).abs() + (d[1] - s[1]).abs() <= 1e-7 * n,
                        "c={c} g1={g1:?} g2={g2:?}: closed {d:?} vs search {s:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn presets_reproduce_toy_py_solvers() {
        let pcg = |g1: [f64; 2], g2: [f64; 2]| {
            let (g11, g12, g22) = (dot(g1, g1), dot(g1, g2), dot(g2, g2));
            if g12 < 0.0 {
                let (a, b) = (1.0 - g12 / g11, 1.0 - g12 / g22);
                [(a * g1[0] + b * g2[0]) / 2.0, (a * g1[1] + b * g2[1]) / 2.0]
            } else {
                [(g1[0] + g2[0]) / 2.0, (g1[1] + g2[1]) / 2.0]
            }
        };
        let mut s = MethodSpec::new("pcgrad", &[])
            .unwrap()
            .build(false)
            .unwrap();
        let mut ew = MethodSpec::new("ew", &[]).unwrap().build(false).unwrap();
        for (g1, g2) in pairs() {
            let d = s.direction(&[g1, g2]).unwrap();
            let e = pcg(g1, g2);
            let n = dot(g1, g1).sqrt() + dot(g2, g2).sqrt();
            assert!(
                (d[0] - e[0]).abs() + (d[1] - e[1]).abs() <= 1e-12 * n,
                "{d:?} {e:?}"
            );
            let m = ew.direction(&[g1, g2]).unwrap();
            assert!((m[0] - 0.5 * (g1[0] + g2[0])).abs() <= 1e-15 * n);
        }
        // cagrad preset: c = 0.5, divided by 1.5.
        let mut c = MethodSpec::new("cagrad", &[])
            .unwrap()
            .build(false)
            .unwrap();
        let d = c.direction(&[[1.0, 0.0], [-1.0, 1.0]]).unwrap();
        let e = cagrad_two_tasks([1.0, 0.0], [-1.0, 1.0], 0.5);
        assert_eq!(d, [e[0] / 1.5, e[1] / 1.5]);
    }

    #[test]
    fn bad_methods_and_params_are_named() {
        let e = MethodSpec::new("pcgard", &[]).unwrap_err().to_string();
        assert!(e.contains("pcgard") && e.contains("known"), "{e}");
        let e = MethodSpec::new("cagrad", &[("c".into(), "-1".into())])
            .unwrap_err()
            .to_string();
        assert!(e.contains("cagrad.c must be >= 0"), "{e}");
        let e = MethodSpec::new("ew", &[("scale".into(), "0".into())])
            .unwrap_err()
            .to_string();
        assert!(e.contains("ew.scale"), "{e}");
        assert!(OptimizerSpec::parse("sgd").is_err());
    }
}
