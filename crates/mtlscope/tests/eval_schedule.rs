//! `train.eval_schedule = "log"` in a real run: the trajectory is evaluated exactly at the
//! schedule's steps, probes are thinned by evaluation index, and a run interrupted inside the
//! log phase resumes to byte-identical trajectory and probe files.

mod common;

use common::{run_options as options, Fixture};
use mtlscope::config::RunConfig;
use mtlscope::train::run_files::read_run_info;
use mtlscope::train::schedule::Schedule;
use mtlscope::train::store::Status;
use mtlscope::train::train;
use std::collections::BTreeSet;

fn steps_of(csv: &str) -> BTreeSet<usize> {
    csv.lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
        .collect()
}

#[test]
fn log_schedule_evaluates_early_steps_and_resumes_identically() {
    let fx = Fixture::new("");
    let ov = [
        "train.eval_schedule=log",
        "train.eval_per_decade=4",
        "probes.enabled=true",
        "probes.every=2",
        "probes.subset=64",
        "probes.which=[\"fim_trace\"]",
    ];
    train(options(&fx.config, &fx.out("full"), &ov, false, None)).unwrap();
    let info = read_run_info(&fx.out("full")).unwrap();
    // 200 training examples per task, batch 16: 12 steps an epoch, 3 epochs.
    assert_eq!((info.steps_per_epoch, info.steps), (12, 36));
    let traj = std::fs::read_to_string(fx.out("full").join("trajectory.csv")).unwrap();
    // 10^(j/4) rounded below one epoch: 1, 2, 3, 6, 10; then every epoch.
    let expect = vec![0, 1, 2, 3, 6, 10, 12, 24, 36];
    assert_eq!(steps_of(&traj).into_iter().collect::<Vec<_>>(), expect);
    let cfg = RunConfig::load(&fx.config, &ov.map(String::from)).unwrap();
    assert_eq!(Schedule::new(&cfg.train, 12, 36).steps(), expect);
    // Every 2nd evaluation index is probed: indices 0, 2, 4, 6, 8 → steps 0, 2, 6, 12, 36.
    let probes = std::fs::read_to_string(fx.out("full").join("probes.csv")).unwrap();
    assert_eq!(
        steps_of(&probes).into_iter().collect::<Vec<_>>(),
        vec![0, 2, 6, 12, 36]
    );

    // Interrupted between two log points, then resumed: the same files, byte for byte.
    let o = train(options(&fx.config, &fx.out("cut"), &ov, false, Some(4))).unwrap();
    assert_eq!(o.status, Status::Interrupted);
    let o = train(options(&fx.config, &fx.out("cut"), &ov, true, None)).unwrap();
    assert_eq!(o.status, Status::Completed);
    for f in ["trajectory.csv", "probes.csv"] {
        assert_eq!(
            std::fs::read_to_string(fx.out("full").join(f)).unwrap(),
            std::fs::read_to_string(fx.out("cut").join(f)).unwrap(),
            "{f}"
        );
    }
}
