//! The toys of `mtlscope toy`: Elich et al.'s qualitative findings on CAGrad's toy (Tab. A3),
//! the loss-scale invariance derivations (App. A1) on the two-head regression (App. A2), and
//! the CLI end to end on narrowed grids.

use mtlscope::toy::cagrad::{self, Criterion, Grid, MethodSpec, OptimizerSpec, PAPER_LRS};
use mtlscope::toy::invariance::{Config, Method, RunSpec, Trainer};
use std::process::Command;

// ---------------------------------------------------------------------------------------------
// Loss-scale invariance (Elich App. A1, checked on the App. A2 toy).

/// Runs the unscaled and the scaled twin in lockstep; calls `check(step, unscaled, scaled)`
/// after every step.
fn twins(
    cfg: &Config,
    method: Method,
    frozen: bool,
    mut check: impl FnMut(usize, &Trainer, &Trainer),
) {
    let mut a = Trainer::new(
        cfg,
        RunSpec {
            method,
            scaled: false,
            frozen,
        },
    )
    .unwrap();
    let mut b = Trainer::new(
        cfg,
        RunSpec {
            method,
            scaled: true,
            frozen,
        },
    )
    .unwrap();
    for step in 0..cfg.epochs * cfg.steps_per_epoch() {
        a.step().unwrap();
        b.step().unwrap();
        check(step, &a, &b);
    }
}

fn rel(a: &[f64], b: &[f64]) -> f64 {
    let d: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f64>()
        .sqrt();
    let n: f64 = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    d / n
}

fn short() -> Config {
    Config {
        epochs: 20,
        ..Config::default()
    }
}

/// Loss scales that are powers of two: multiplying by them is exact in floating point, so an
/// invariance that holds in exact arithmetic holds bit for bit (with ε = 0 for Adam).
fn exact(eps: f64) -> Config {
    Config {
        loss_scales: [8.0, 0.125],
        eps,
        ..short()
    }
}

fn max_rel(cfg: &Config, method: Method, frozen: bool, parts: &[usize], steps: usize) -> f64 {
    let mut worst = 0.0f64;
    twins(cfg, method, frozen, |step, a, b| {
        if step < steps {
            for &p in parts {
                worst = worst.max(rel(&a.last_update[p], &b.last_update[p]));
            }
        }
    });
    worst
}

#[test]
fn adam_head_step_obeys_the_eps_identity() {
    // From the same state, |Δ_α − Δ| = |Δ| ε |1 − 1/α| / (√v̂ + ε/α) coordinate by coordinate
    // (the paper's α = 10 and 0.1; ε at PyTorch's 1e-8 and at 1e-3 to make it visible).
    for eps in [1e-8, 1e-3] {
        let cfg = Config { eps, ..short() };
        let alpha = cfg.loss_scales;
        let mut a = Trainer::new(
            &cfg,
            RunSpec {
                method: Method::EwAdam,
                scaled: false,
                frozen: true,
            },
        )
        .unwrap();
        let mut b = Trainer::new(
            &cfg,
            RunSpec {
                method: Method::EwAdam,
                scaled: true,
                frozen: true,
            },
        )
        .unwrap();
        a.step().unwrap();
        b.step().unwrap();
        let mut largest = 0.0f64;
        for (t, al) in alpha.into_iter().enumerate() {
            let (da, db) = (&a.last_update[t + 1], &b.last_update[t + 1]);
            let opt = a.head_optimizer(t);
            for k in 0..da.len() {
                let (_, sv) = opt.adam_moments(k).unwrap();
                let want = da[k].abs() * eps * (1.0 - 1.0 / al).abs() / (sv + eps / al);
                let got = (db[k] - da[k]).abs();
                // Rounding: the difference of two nearby floats carries ~1 ulp of |Δ|.
                assert!(
                    (got - want).abs() <= 1e-12 * want + 4.0 * f64::EPSILON * da[k].abs(),
                    "ε={eps} head {t} coord {k}: |Δα − Δ| = {got:e}, predicted {want:e}"
                );
                largest = largest.max(want / da[k].abs());
            }
        }
        assert!(largest > 0.0);
    }
}

#[test]
fn adam_heads_are_invariant_with_a_frozen_backbone() {
    // Bit for bit with ε = 0 and exact scales, over 160 steps.
    assert_eq!(
        max_rel(&exact(0.0), Method::EwAdam, true, &[1, 2], usize::MAX),
        0.0
    );
    // With ε = 1e-8 only ε's effect separates them. It is not negligible here: Adam normalises
    // every coordinate's step to ~γ, and some head coordinates have √v̂ ≈ 1e-8 ≈ ε (hidden units
    // near zero), so the update vectors differ by a few percent (7% at most in the first epoch).
    let d = max_rel(&exact(1e-8), Method::EwAdam, true, &[1, 2], 8);
    assert!(d > 0.0 && d < 0.1, "{d:e}");
}

#[test]
fn sgd_updates_scale_with_the_loss_weight() {
    for (cfg, tol) in [(short(), 4.0 * f64::EPSILON), (exact(0.0), 0.0)] {
        for frozen in [true, false] {
            let mut a = Trainer::new(
                &cfg,
                RunSpec {
                    method: Method::EwSgd,
                    scaled: false,
                    frozen,
                },
            )
            .unwrap();
            let mut b = Trainer::new(
                &cfg,
                RunSpec {
                    method: Method::EwSgd,
                    scaled: true,
                    frozen,
                },
            )
            .unwrap();
            a.step().unwrap();
            b.step().unwrap();
            for t in 0..2 {
                let (da, db) = (&a.last_update[t + 1], &b.last_update[t + 1]);
                for k in 0..da.len() {
                    assert!(
                        (db[k] - cfg.loss_scales[t] * da[k]).abs() <= tol * db[k].abs(),
                        "head {t}: {} vs α·{}",
                        db[k],
                        da[k]
                    );
                }
            }
            if !frozen {
                // The backbone's first update is Σ_t α_t g_t, not a multiple of Σ_t g_t.
                let (da, db) = (&a.last_update[0], &b.last_update[0]);
                let k = db.iter().map(|x| x.abs()).sum::<f64>()
                    / da.iter().map(|x| x.abs()).sum::<f64>();
                let prop: Vec<f64> = da.iter().map(|x| k * x).collect();
                assert!(rel(db, &prop) > 1e-3);
            }
        }
    }
}

#[test]
fn uwo_updates_are_invariant_everywhere() {
    for frozen in [true, false] {
        // Bit for bit with exact scales: α/(α L) = 1/L exactly.
        assert_eq!(
            max_rel(&exact(1e-8), Method::UwoSgd, frozen, &[0, 1, 2], usize::MAX),
            0.0
        );
        // The paper's 10 and 0.1: one rounding of α/(α L) per step.
        let d = max_rel(&short(), Method::UwoSgd, frozen, &[0, 1, 2], 8);
        assert!(d < 1e-12, "frozen={frozen}: {d:e}");
    }
}

#[test]
fn adam_is_not_invariant_with_a_trained_backbone_but_per_task_adam_is() {
    let cfg = exact(0.0);
    let (mut bb, mut head_later) = (0.0f64, 0.0f64);
    twins(&cfg, Method::EwAdam, false, |step, a, b| {
        bb = bb.max(rel(&a.last_update[0], &b.last_update[0]));
        if step == 0 {
            // The heads' first step still comes from identical states.
            assert_eq!(rel(&a.last_update[1], &b.last_update[1]), 0.0);
        } else {
            head_later = head_later.max(rel(&a.last_update[1], &b.last_update[1]));
        }
    });
    assert!(bb > 0.1, "backbone updates should differ: {bb:e}");
    assert!(
        head_later > 1e-3,
        "heads should drift once the backbone moves: {head_later:e}"
    );
    // One Adam state per task loss: bit for bit everywhere.
    assert_eq!(
        max_rel(&cfg, Method::EwPerTaskAdam, false, &[0, 1, 2], usize::MAX),
        0.0
    );
    let d = max_rel(&exact(1e-8), Method::EwPerTaskAdam, false, &[0, 1, 2], 8);
    assert!(d > 0.0 && d < 0.1, "{d:e}");
}

// ---------------------------------------------------------------------------------------------
// CAGrad's toy against Elich et al., Tab. A3.

/// Elich's grid: EW, PCGrad, CAGrad (toy.py's conventions) × GD, Adam × Tab. A3's learning
/// rates × the three starts × 100k steps, with the default criterion (L̄ − L* ≤ 0.1, first hit).
fn elich_grid() -> (Grid, Vec<cagrad::CellResult>) {
    let grid = Grid {
        methods: ["ew", "pcgrad", "cagrad"]
            .iter()
            .map(|m| MethodSpec::new(m, &[]).unwrap())
            .collect(),
        optimizers: vec![
            OptimizerSpec::parse("gd").unwrap(),
            OptimizerSpec::parse("adam").unwrap(),
        ],
        lrs: PAPER_LRS.to_vec(),
        starts: vec![0, 1, 2],
        iters: cagrad::PAPER_ITERS,
        criterion: Criterion::default(),
        force_registry: false,
        record: false,
    };
    let results = grid.run(2).unwrap();
    (grid, results)
}

#[test]
fn toy_table_reproduces_elich_tab_a3() {
    let (grid, results) = elich_grid();
    let rows = cagrad::table(&grid, &results);
    let mut status_mismatch = Vec::new();
    let mut log_ratios = Vec::new();
    for r in &rows {
        for (li, &(_, _, ours)) in r.cells.iter().enumerate() {
            let lr = grid.lrs[li];
            let paper = cagrad::elich_reference(&r.optimizer, &r.method, lr).unwrap();
            match (ours, paper) {
                (Some(o), Some(p)) => {
                    let q = (o as f64 / p as f64).log10().abs();
                    log_ratios.push(q);
                    if r.optimizer == "adam" && lr >= 1.0 {
                        // Large steps: the same iteration counts (within 5%).
                        assert!(
                            q < 1.05f64.log10(),
                            "{} {} lr {lr}: {o} vs {p}",
                            r.optimizer,
                            r.method
                        );
                    }
                }
                (None, None) => {}
                _ => status_mismatch.push(format!("{}/{}/{lr}", r.optimizer, r.method)),
            }
        }
    }
    // Which starts converge agrees in 52 of 54 cells; the two exceptions are GD + CAGrad at
    // the largest steps, where a start's first few steps decide whether it escapes onto the
    // flat plateau x2 ≫ 0 (float32 in the paper, f64 here; toy.py's regularised CAGrad).
    assert_eq!(status_mismatch, ["gd/cagrad/10", "gd/cagrad/5"]);
    log_ratios.sort_by(f64::total_cmp);
    let median = log_ratios[log_ratios.len() / 2];
    assert!(median < 0.05, "median |log10(ours/paper)| = {median}");

    let cell = |opt: &str, m: &str, lr: f64| {
        let r = rows
            .iter()
            .find(|r| r.optimizer == opt && r.method == m)
            .unwrap();
        r.cells[grid.lrs.iter().position(|&l| l == lr).unwrap()].2
    };
    // "With Adam and a higher lr, even EW reaches the global optimum": every lr ≥ 0.005, not
    // at CAGrad's 0.001; CAGrad + Adam at 0.001 (the setup of Liu et al.) does.
    for &lr in &PAPER_LRS[..8] {
        assert!(cell("adam", "ew", lr).is_some(), "EW + Adam at {lr}");
    }
    assert!(cell("adam", "ew", 0.001).is_none());
    assert!(cell("adam", "cagrad", 0.001).is_some());
    // EW + Adam is faster than PCGrad + Adam wherever both converge (as fast at lr 10).
    for &lr in &PAPER_LRS {
        if let (Some(e), Some(p)) = (cell("adam", "ew", lr), cell("adam", "pcgrad", lr)) {
            assert!(e as f64 <= 1.05 * p as f64, "lr {lr}: EW {e} vs PCGrad {p}");
        }
    }
    // GD: EW only at lr 5; PCGrad never.
    for &lr in &PAPER_LRS {
        assert_eq!(cell("gd", "ew", lr).is_some(), lr == 5.0, "GD + EW at {lr}");
        assert!(cell("gd", "pcgrad", lr).is_none());
    }
    // "PCGrad often stops somewhere on the Pareto front": with Adam at lr ≤ 0.01 every start
    // ends on the segment x1 ∈ [−7, 7], x2 ≈ x2*, away from x*.
    let (xs, _) = cagrad::global_minimum();
    let pc = grid
        .methods
        .iter()
        .position(|m| m.label == "pcgrad")
        .unwrap();
    for r in results
        .iter()
        .filter(|r| r.cell.method == pc && r.cell.optimizer == 1 && grid.lrs[r.cell.lr] <= 0.01)
    {
        let [x1, x2] = r.last;
        assert!(
            x1.abs() <= 7.0 && x1.abs() > 1.0 && (x2 - xs[1]).abs() < 0.1,
            "PCGrad + Adam lr {} start {}: ends at {:?}",
            grid.lrs[r.cell.lr],
            r.cell.start,
            r.last
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The CLI.

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mtlscope"))
}

fn png_size(path: &std::path::Path) -> (u32, u32) {
    let dec = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let r = dec.read_info().unwrap();
    (r.info().width, r.info().height)
}

#[test]
fn cli_cagrad_writes_csv_table_and_figure() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args([
            "toy",
            "cagrad",
            "--methods",
            "ew,cagrad",
            "--optimizers",
            "adam",
            "--lrs",
            "1,0.05",
            "--iters",
            "3000",
            "--threads",
            "2",
            "--out",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv = std::fs::read_to_string(dir.path().join("iterations.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("method,optimizer,lr,start,iterations,converged")
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 2 * 2 * 3);
    assert_eq!(rows[0][..4], ["ew", "adam", "1", "0"]);
    for r in &rows {
        let it: usize = r[4].parse().unwrap();
        match r[5] {
            "true" => assert!(it <= 3000),
            "false" => assert_eq!(it, 3000),
            o => panic!("converged = {o}"),
        }
    }
    let md = std::fs::read_to_string(dir.path().join("table.md")).unwrap();
    assert!(
        md.contains("| adam | ew |") && md.contains("| adam | cagrad |"),
        "{md}"
    );
    assert!(std::fs::read_to_string(dir.path().join("table.csv"))
        .unwrap()
        .starts_with("optimizer,method,lr,"));
    assert!(
        std::fs::metadata(dir.path().join("contours.svg"))
            .unwrap()
            .len()
            > 10_000
    );
    // 2 methods × 1 optimizer rows, 2 learning-rate columns of 330 px.
    assert_eq!(png_size(&dir.path().join("contours.png")), (660, 660));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("12 runs x 3000 steps"), "{stdout}");
}

#[test]
fn cli_rejects_bad_grids_naming_the_flag() {
    for (args, needle) in [
        (vec!["--methods", "ew,pcgard"], "pcgard"),
        (vec!["--optimizers", "sgd"], "unknown optimizer `sgd`"),
        (vec!["--lrs", "0.1,-1"], "--lrs"),
        (vec!["--starts", "3"], "--starts"),
        (vec!["--param", "cagrad.c=-1"], "cagrad.c must be >= 0"),
        (vec!["--param", "upgrad.x=1"], "not in --methods"),
        (vec!["--criterion", "dist"], "--criterion"),
        (vec!["--tol", "0"], "--tol"),
    ] {
        let out = bin()
            .args(["toy", "cagrad", "--iters", "10"])
            .args(&args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} should fail");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

#[test]
fn cli_invariance_writes_series_and_figures() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args([
            "toy",
            "invariance",
            "--epochs",
            "3",
            "--samples",
            "64",
            "--out",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv = std::fs::read_to_string(dir.path().join("series.csv")).unwrap();
    assert!(csv.starts_with("run,method,scaled,backbone,step,epoch,part,metric,value\n"));
    // 16 runs × 6 steps; per step 4 losses + 3 gradient norms + 3 (trained) or 2 (frozen)
    // update norms.
    assert_eq!(csv.lines().count() - 1, 8 * 6 * 10 + 8 * 6 * 9);
    assert!(csv.contains("uwo_sgd/scaled/trained,uwo_sgd,true,trained,0,"));
    let summary = std::fs::read_to_string(dir.path().join("summary.csv")).unwrap();
    assert_eq!(summary.lines().count(), 1 + 4 * 2 + 4 * 3);
    for stem in ["invariance_frozen", "invariance_trained"] {
        assert!(dir.path().join(format!("{stem}.svg")).exists());
        let (w, _) = png_size(&dir.path().join(format!("{stem}.png")));
        assert_eq!(w, 4 * 520);
    }
    let bad = bin()
        .args(["toy", "invariance", "--loss-scales", "10"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--loss-scales"));
}
