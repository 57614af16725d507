//! Trajectory probes in real runs: they never change the trajectory, resume writes the same
//! rows, `probes.every` thins them. (Parameters and libtorch's RNG: tests/probe_state.rs.)

mod common;

use common::{run_options as options, Fixture};
use mtlscope::train::store::Status;
use mtlscope::train::train;
use std::path::Path;

/// Small but complete probe settings: every probe, a 64-example subset, 3 ascent steps.
const SMALL: [&str; 6] = [
    "probes.enabled=true",
    "probes.subset=64",
    "probes.sharpness_steps=3",
    "probes.sharpness_batch=32",
    "probes.conflict_batch=16",
    "probes.conflict_samples=8",
];

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap()
}

fn with(extra: &[&str]) -> Vec<&'static str> {
    let mut v: Vec<&'static str> = SMALL.to_vec();
    for e in extra {
        v.push(Box::leak(e.to_string().into_boxed_str()));
    }
    v
}

#[test]
fn probes_leave_the_trajectory_unchanged_and_write_every_probe() {
    let fx = Fixture::new("");
    let on = with(&["train.epochs=2"]);
    train(options(&fx.config, &fx.out("on"), &on, false, None)).unwrap();
    train(options(
        &fx.config,
        &fx.out("off"),
        &["train.epochs=2"],
        false,
        None,
    ))
    .unwrap();
    assert_eq!(
        read(&fx.out("on").join("trajectory.csv")),
        read(&fx.out("off").join("trajectory.csv"))
    );
    assert_eq!(
        read(&fx.out("off").join("probes.csv")),
        "epoch,step,task,probe,value\n"
    );
    let csv = read(&fx.out("on").join("probes.csv"));
    let rows: Vec<Vec<&str>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    // Evaluations at epochs 0, 1, 2.
    let steps: std::collections::BTreeSet<&str> = rows.iter().map(|r| r[1]).collect();
    assert_eq!(steps.into_iter().collect::<Vec<_>>(), vec!["0", "12", "24"]);
    for task in ["fashion1", "fashion2"] {
        for probe in [
            "sharpness",
            "fim_trace",
            "fim_trace_empirical",
            "coherence",
            "coherence_grad_sq",
            "conflict_cos_umtg",
            "intersample_cos_mean",
            "intersample_conflict_ratio_p97.5",
        ] {
            let n = rows
                .iter()
                .filter(|r| r[2] == task && r[3] == probe)
                .count();
            assert_eq!(n, 3, "{task} {probe}");
        }
    }
    for probe in [
        "conflict_neg_pairs",
        "intertask_magsim_std",
        "intertask_cos_p2.5",
    ] {
        assert_eq!(
            rows.iter()
                .filter(|r| r[2].is_empty() && r[3] == probe)
                .count(),
            3
        );
    }
    for r in &rows {
        let v: f64 = r[4].parse().unwrap();
        assert!(v.is_finite(), "{r:?}");
        if ["sharpness", "fim_trace", "fim_trace_empirical"].contains(&r[3]) {
            assert!(v >= 0.0, "{r:?}");
        }
    }
}

#[test]
fn resume_writes_the_same_probe_rows_and_every_thins_them() {
    let fx = Fixture::new("");
    let ov = with(&[
        "train.eval_every=5",
        "probes.every=2",
        "probes.which=[\"sharpness\",\"fim_trace\"]",
    ]);
    train(options(&fx.config, &fx.out("full"), &ov, false, None)).unwrap();
    let o = train(options(&fx.config, &fx.out("cut"), &ov, false, Some(12))).unwrap();
    assert_eq!(o.status, Status::Interrupted);
    train(options(&fx.config, &fx.out("cut"), &ov, true, None)).unwrap();
    let full = read(&fx.out("full").join("probes.csv"));
    assert_eq!(full, read(&fx.out("cut").join("probes.csv")));
    // 36 steps, evaluations at 0, 5, …, 35, 36 (indices 0..=8); every 2nd: 0, 10, 20, 30, 36.
    let steps: std::collections::BTreeSet<usize> = full
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
        .collect();
    assert_eq!(
        steps.into_iter().collect::<Vec<_>>(),
        vec![0, 10, 20, 30, 36]
    );
    assert!(!full.contains("coherence") && full.contains("fim_trace_empirical"));
}

/// `probes.early_which`: between the `every`-th evaluations, the first epoch's evaluations run
/// those probes only; later ones run none.
#[test]
fn early_probes_run_between_due_evaluations_of_the_first_epoch() {
    let fx = Fixture::new("");
    let cfg = mtlscope::config::RunConfig::load(&fx.config, &[]).unwrap();
    let tasks = mtlscope::data::load_tasks(&cfg.data).unwrap();
    let heads = mtlscope::data::heads(&tasks);
    // Seeded: it takes the lock training runs initialise under, so the parallel tests in this
    // file, which check trajectories bit for bit, never see libtorch's generator move.
    let net = mtlscope::model::MultiTaskNet::seeded(
        3,
        &mtlscope::config::ModelConfig::default(),
        &heads,
        [1, 28, 28],
        tch::Device::Cpu,
    )
    .unwrap();
    let pcfg = mtlscope::config::ProbesConfig {
        subset: 32,
        every: 3,
        which: vec!["sharpness".into(), "fim_trace".into()],
        early_which: vec!["fim_trace".into()],
        sharpness_steps: 1,
        ..mtlscope::config::ProbesConfig::default()
    };
    let mut set = mtlscope::probe::ProbeSet::new(&pcfg, &net, &tasks, tch::Device::Cpu).unwrap();
    let probes = |rows: Vec<mtlscope::probe::ProbeRow>| {
        let mut p: Vec<String> = rows.into_iter().map(|r| r.probe).collect();
        p.sort();
        p.dedup();
        p
    };
    assert_eq!(
        probes(set.record(&net, 3, false).unwrap()),
        ["fim_trace", "fim_trace_empirical", "sharpness"]
    );
    assert_eq!(
        probes(set.record(&net, 1, true).unwrap()),
        ["fim_trace", "fim_trace_empirical"]
    );
    assert!(set.record(&net, 1, false).unwrap().is_empty());
}
