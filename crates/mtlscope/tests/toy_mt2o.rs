//! `mtlscope toy mt2o`: MT2O (as reconstructed from the abstract and MGD) against K independent
//! runs on the bi-objective toy with a known Pareto front. The analytic pieces (gradients by
//! central differences, the front's hypervolume in closed form, the subproblems' optima) are
//! unit-tested beside the code in `toy::mt2o`; here: the update itself, convergence to the
//! front with and without transfer, and the CLI.

use mtl_aggregate::transfer::Transfer;
use mtlscope::toy::mt2o::{self, Config, Init, Problem, Scalarization, Study, TransferSpec};
use mtlscope::toy::optim::OptimizerKind;
use std::process::Command;

fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// One model trained alone: plain SGD on its scalarisation, written without the transfer code.
fn single_run(cfg: &Config, lambda: [f64; 2], x0: &[f64]) -> (Vec<f64>, Vec<[f64; 2]>) {
    let p = Problem::new(cfg.n).unwrap();
    let mut opt = OptimizerKind::Sgd {
        momentum: cfg.momentum,
    }
    .build(cfg.lr, cfg.n);
    let mut x = x0.to_vec();
    let (mut g1, mut g2, mut g, mut scratch) = (
        vec![0.0; cfg.n],
        vec![0.0; cfg.n],
        vec![0.0; cfg.n],
        vec![0.0; cfg.n],
    );
    let mut path = vec![p.values(&x)];
    for _ in 0..cfg.iters {
        let f = p.eval(&x, &mut g1, &mut g2);
        cfg.scalarization.gradient(lambda, f, &g1, &g2, &mut g);
        opt.step(&mut x, &g, &mut scratch);
        path.push(p.values(&x));
    }
    (x, path)
}

#[test]
fn identity_transfer_is_k_independent_runs_bit_for_bit() {
    let cases = [
        Config {
            iters: 300,
            ..Config::default()
        },
        Config {
            iters: 300,
            momentum: 0.9,
            lr: 0.03,
            init: Init::PerModel,
            scalarization: Scalarization::Tchebycheff { ideal: [-0.1, 0.0] },
            transfer_coords: Some(7),
            k: 4,
            n: 9,
            seed: 5,
            ..Config::default()
        },
    ];
    for cfg in cases {
        let x0 = cfg.initial_points();
        let run = mt2o::run(
            &cfg,
            &Transfer::identity(cfg.k).unwrap(),
            &x0,
            "independent",
        )
        .unwrap();
        for (k, lambda) in cfg.lambdas().into_iter().enumerate() {
            let (x, path) = single_run(&cfg, lambda, &x0[k]);
            assert_eq!(bits(&run.x[k]), bits(&x), "model {k}");
            for (t, f) in path.iter().enumerate() {
                assert_eq!(bits(&run.objectives[t][k]), bits(f), "model {k} step {t}");
            }
        }
        // The study's MT2O arm with M = I is its baseline, bit for bit.
        let s = mt2o::study(&Config {
            transfer: TransferSpec::Identity,
            ..cfg.clone()
        })
        .unwrap();
        assert_eq!(s.runs[0].run.objectives, s.runs[1].run.objectives);
        assert_eq!(s.runs[0].measures, s.runs[1].measures);
    }
}

#[test]
fn one_step_is_mgds_update() {
    // K = 2, constant transfer: M = [[1 − w, w], [w, 1 − w]] (MGD's), w = α η; coordinates past
    // the transferred prefix take the plain step.
    let cfg = Config {
        k: 2,
        n: 5,
        iters: 1,
        lr: 0.2,
        alpha: 1.5,
        transfer: TransferSpec::Constant,
        transfer_coords: Some(3),
        init: Init::PerModel,
        ..Config::default()
    };
    let x0 = cfg.initial_points();
    let run = mt2o::run(&cfg, &cfg.transfer().unwrap(), &x0, "mt2o").unwrap();
    let p = Problem::new(5).unwrap();
    let w = 0.3;
    for (k, lambda) in cfg.lambdas().into_iter().enumerate() {
        let (mut g1, mut g2) = (vec![0.0; 5], vec![0.0; 5]);
        p.eval(&x0[k], &mut g1, &mut g2);
        for i in 0..5 {
            let g = lambda[0] * g1[i] + lambda[1] * g2[i];
            let mixed = if i < 3 {
                (1.0 - w) * x0[k][i] + w * x0[1 - k][i]
            } else {
                x0[k][i]
            };
            let want = mixed - 0.2 * g;
            assert!(
                (run.x[k][i] - want).abs() < 1e-15,
                "model {k} coordinate {i}: {} vs {want}",
                run.x[k][i]
            );
        }
    }
}

fn last(s: &Study, arm: usize) -> mt2o::Measures {
    *s.runs[arm].measures.last().unwrap()
}

#[test]
fn with_transfer_the_models_land_on_the_analytic_front() {
    // The reconstruction's default: neighbourhood transfer (T = 2), w = α η = 0.1, linear
    // scalarisation, 1000 steps of GD at lr 0.1 from one shared U(−0.6, 0.6)^20 draw.
    let s = mt2o::study(&Config::default()).unwrap();
    let (ind, mt) = (last(&s, 0), last(&s, 1));
    let r = &s.reference;
    // Both arms end on the front (generational distance to rounding)...
    assert!(ind.gd < 1e-12 && mt.gd < 1e-12, "{ind:?} {mt:?}");
    // ... the independent models at their own optima, so at the optima's hypervolume and IGD;
    assert!(ind.dist_optima < 1e-12);
    assert!((ind.hypervolume - r.hv_optima).abs() < 1e-12);
    assert!((ind.igd - r.igd_optima).abs() < 1e-9);
    // ... while a constant transfer moves the fixed point: the coupled models sit at other
    // points of the front, further into its concave middle than linear scalarisation can
    // reach, so they cover more of it (higher HV, lower IGD) but do not solve their own
    // subproblems. A finding about this reconstruction, not a claim of the paper.
    assert!(mt.dist_optima > 0.1, "{mt:?}");
    assert!(mt.hypervolume > 4.0 * r.hv_optima && mt.igd < 0.5 * r.igd_optima);
    assert!(mt.hypervolume < r.hv_front);

    // A decaying transfer (w_t = w_0 0.99^t) reaches the subproblems' own optima.
    let s = mt2o::study(&Config {
        transfer: TransferSpec::Decaying { gamma: 0.99 },
        ..Config::default()
    })
    .unwrap();
    let mt = last(&s, 1);
    assert!(mt.gd < 1e-12 && mt.dist_optima < 1e-4, "{mt:?}");
    assert!((mt.hypervolume - s.reference.hv_optima).abs() < 1e-5);
    assert!((mt.igd - s.reference.igd_optima).abs() < 1e-4);

    // Tchebycheff reaches the concave middle by itself: IGD to the front within 0.005 of the
    // K exact optima's (the floor for K points), HV within 2% of theirs (constant-step
    // subgradient descent zigzags across the kink λ1 f1 = λ2 f2).
    let s = mt2o::study(&Config {
        scalarization: Scalarization::Tchebycheff { ideal: [0.0, 0.0] },
        ..Config::default()
    })
    .unwrap();
    let r = &s.reference;
    for arm in 0..2 {
        let m = last(&s, arm);
        assert!(m.gd < 1e-12, "arm {arm}: {m:?}");
        assert!(
            m.igd < r.igd_optima + 5e-3,
            "arm {arm}: {m:?} vs {}",
            r.igd_optima
        );
        assert!(
            (m.hypervolume / r.hv_optima - 1.0).abs() < 0.03,
            "arm {arm}: {m:?} vs {}",
            r.hv_optima
        );
    }
}

#[test]
fn transfer_changes_the_trajectory_yet_converges() {
    for (transfer, momentum) in [
        (TransferSpec::Neighbourhood { t: 1, tau: None }, 0.0),
        (TransferSpec::Constant, 0.9),
        (TransferSpec::Decaying { gamma: 0.99 }, 0.5),
    ] {
        let cfg = Config {
            transfer,
            momentum,
            lr: 0.05,
            alpha: 0.5,
            iters: 1500,
            ..Config::default()
        };
        let s = mt2o::study(&cfg).unwrap();
        let (a, b) = (&s.runs[0].run.objectives, &s.runs[1].run.objectives);
        let gap = a
            .iter()
            .zip(b)
            .flat_map(|(p, q)| p.iter().zip(q))
            .map(|(p, q)| (p[0] - q[0]).abs().max((p[1] - q[1]).abs()))
            .fold(0.0f64, f64::max);
        assert!(
            gap > 1e-3,
            "{transfer:?}: trajectories differ by at most {gap}"
        );
        let m = last(&s, 1);
        assert!(m.gd < 1e-9, "{transfer:?}: {m:?}");
        assert!(
            m.hypervolume >= 0.99 * s.reference.hv_optima,
            "{transfer:?}: {m:?}"
        );
        // Converged: the last 100 steps move no objective by more than 1e-7 ...
        let tail = &b[b.len() - 101..];
        for (k, (p, q)) in tail[0].iter().zip(&tail[100]).enumerate() {
            let moved = (p[0] - q[0]).abs().max((p[1] - q[1]).abs());
            assert!(moved < 1e-7, "{transfer:?}: model {k} still moves {moved}");
        }
        // ... and once the transfer has decayed, to the subproblems' own optima.
        if let TransferSpec::Decaying { .. } = transfer {
            assert!(m.dist_optima < 1e-6, "{transfer:?}: {m:?}");
        }
    }
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mtlscope"))
}

#[test]
fn cli_writes_the_stated_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args([
            "toy", "mt2o", "--k", "3", "--n", "4", "--iters", "50", "--out",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap();
    let traj = read("trajectory.csv");
    let mut lines = traj.lines();
    assert_eq!(lines.next(), Some("method,iteration,model,f1,f2"));
    assert_eq!(traj.lines().count(), 1 + 2 * 51 * 3);
    assert!(traj.contains("\nindependent,0,0,") && traj.contains("\nmt2o,50,2,"));
    let hv = read("hypervolume.csv");
    assert!(hv.starts_with("method,iteration,hypervolume,igd,gd,dist_optima,ref_f1,ref_f2\n"));
    assert_eq!(hv.lines().count(), 1 + 2 * 51);
    assert!(hv.lines().nth(1).unwrap().ends_with(",1,1"));
    let summary = read("summary.csv");
    assert!(summary.starts_with(
        "method,transfer,scalarization,ref_f1,ref_f2,criterion,threshold,first_iteration,\
         stay_iteration,final_value\n"
    ));
    assert_eq!(summary.lines().count(), 1 + 2 * 4);
    assert!(summary.contains("\nmt2o,neighbourhood,linear,1,1,hv_optima,"));
    assert!(summary.contains("\nindependent,identity,linear,1,1,hv_front,"));
    let optima = read("optima.csv");
    assert!(optima.starts_with("model,lambda1,lambda2,u,f1,f2\n0,0,1,-1,"));
    // K = 3: λ = (½, ½) has two mirror-image optima under linear scalarisation.
    assert_eq!(optima.lines().count(), 1 + 4);
    for stem in ["mt2o_front", "mt2o_hypervolume"] {
        assert!(dir.path().join(format!("{stem}.svg")).exists(), "{stem}");
        assert!(dir.path().join(format!("{stem}.png")).exists(), "{stem}");
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("as reconstructed from the abstract and MGD"),
        "{stdout}"
    );
}

#[test]
fn cli_rejects_bad_arguments_naming_the_flag() {
    for (args, needle) in [
        (vec!["--k", "1"], "--k must be >= 2"),
        (vec!["--k", "-3"], "--k must be >= 2"),
        (vec!["--lr", "-0.1"], "--lr must be a number > 0"),
        (vec!["--lr", "0"], "--lr"),
        (vec!["--transfer", "mgd"], "--transfer: unknown `mgd`"),
        (vec!["--scalarization", "pbi"], "--scalarization"),
        (vec!["--momentum", "1"], "--momentum"),
        (vec!["--alpha", "20"], "--alpha x --lr"),
        (
            vec!["--neighbours", "5"],
            "--neighbours must be in [1, K - 1]",
        ),
        (
            vec!["--gamma", "0.9"],
            "--gamma applies to --transfer decaying",
        ),
        (
            vec!["--transfer", "decaying", "--gamma", "1.5"],
            "--gamma must be in (0, 1]",
        ),
        (vec!["--transfer-coords", "30"], "--transfer-coords"),
        (vec!["--ideal", "0,0"], "--ideal applies to"),
        (
            vec!["--scalarization", "tchebycheff", "--ideal", "0.2,0"],
            "--ideal must be",
        ),
        (vec!["--init", "random"], "--init"),
        (vec!["--reference", "1"], "--reference"),
        (vec!["--fraction", "0"], "--fraction"),
        (vec!["--tol", "-1"], "--tol"),
    ] {
        let out = bin()
            .args(["toy", "mt2o", "--iters", "5"])
            .args(&args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} should fail");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}
