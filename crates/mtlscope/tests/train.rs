//! End-to-end training runs on a small generated dataset: the loss falls, runs are
//! deterministic, resume equals an uninterrupted run, bad input stops with a clear error.

mod common;

use common::{mtlscope, run_options as options, Fixture};
use mtlscope::config::RunConfig;
use mtlscope::train::run_files::{read_run_info, read_trajectory, Split};
use mtlscope::train::store::Status;
use mtlscope::train::train;
use std::path::Path;

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap()
}

/// Training loss of `task` on the full training set at each evaluation, through the run-file
/// reader.
fn train_losses(run: &Path, task: &str) -> Vec<f64> {
    read_trajectory(run)
        .unwrap()
        .into_iter()
        .filter(|r| r.task == task && r.split == Split::Train && r.metric == "loss")
        .map(|r| r.value)
        .collect()
}

#[test]
fn mtl_run_lowers_training_loss_and_writes_the_run_directory() {
    let fx = Fixture::new("");
    let out = fx.out("run");
    let t0 = std::time::Instant::now();
    let o = train(options(&fx.config, &out, &["train.epochs=4"], false, None)).unwrap();
    let elapsed = t0.elapsed().as_secs_f64();
    assert_eq!(o.status, Status::Completed);
    let csv = read(&out.join("trajectory.csv"));
    assert!(csv.starts_with("epoch,step,task,split,metric,value\n"));
    // 2 tasks x 3 splits x 2 metrics (loss, accuracy) x (epoch 0 + 4 epochs).
    assert_eq!(csv.lines().count(), 1 + 2 * 3 * 2 * 5);
    for task in ["fashion1", "fashion2"] {
        let l = train_losses(&out, task);
        assert_eq!(l.len(), 5);
        assert!(
            l[4] < 0.5 * l[0],
            "{task}: training loss {l:?} did not fall"
        );
    }
    let info = read_run_info(&out).unwrap();
    assert_eq!(info.status, Status::Completed);
    assert_eq!(info.format_version, mtlscope::train::store::FORMAT_VERSION);
    let metrics: Vec<&str> = info.tasks[0]
        .metrics
        .iter()
        .map(|m| m.name.as_str())
        .collect();
    assert_eq!(
        (info.tasks[1].name.as_str(), metrics),
        ("fashion2", vec!["loss", "accuracy"])
    );
    // 200 training examples per task, batch 16: 12 steps an epoch.
    assert_eq!((info.steps, info.steps_per_epoch), (48, 12));
    // Where the time went: every phase of a run without probes, none negative, together
    // within the time `train` took.
    let phases: Vec<&str> = info.phases.keys().map(String::as_str).collect();
    assert_eq!(
        phases,
        ["checkpoints", "data", "evaluation", "setup", "steps"],
        "{:?}",
        info.phases
    );
    assert!(info.phases.values().all(|v| *v >= 0.0));
    let total: f64 = info.phases.values().sum();
    assert!(
        total <= elapsed && info.phases["evaluation"] > 0.0 && info.phases["steps"] > 0.0,
        "{:?} vs {elapsed} s",
        info.phases
    );
    let resolved = RunConfig::load(&out.join("config.toml"), &[]).unwrap();
    assert_eq!(resolved.train.epochs, 4);
    let (meta, _) = mtlscope::train::store::read_checkpoint(&out)
        .unwrap()
        .unwrap();
    assert_eq!(meta.step, 48);
    assert!(out.join("checkpoints").join(&meta.tensors).exists());
}

#[test]
fn same_seed_gives_byte_identical_trajectory_and_other_seed_differs() {
    let fx = Fixture::new("");
    for name in ["a", "b"] {
        train(options(&fx.config, &fx.out(name), &[], false, None)).unwrap();
    }
    train(options(
        &fx.config,
        &fx.out("c"),
        &["train.seed=2"],
        false,
        None,
    ))
    .unwrap();
    let a = read(&fx.out("a").join("trajectory.csv"));
    assert_eq!(a, read(&fx.out("b").join("trajectory.csv")));
    assert_ne!(a, read(&fx.out("c").join("trajectory.csv")));
}

#[test]
fn resume_mid_epoch_equals_an_uninterrupted_run() {
    for optim in ["optim.name=adam", "optim.name=sgd"] {
        let fx = Fixture::new("");
        let ov = [optim, "optim.momentum=0.0", "train.eval_every=5"];
        let ov: Vec<&str> = if optim.ends_with("sgd") {
            vec![optim, "optim.momentum=0.9", "optim.lr=0.05"]
        } else {
            ov.to_vec()
        };
        train(options(&fx.config, &fx.out("full"), &ov, false, None)).unwrap();
        let o = train(options(&fx.config, &fx.out("cut"), &ov, false, Some(7))).unwrap();
        assert_eq!(o.status, Status::Interrupted);
        assert_eq!(
            read_run_info(&fx.out("cut")).unwrap().status,
            Status::Interrupted
        );
        let o = train(options(&fx.config, &fx.out("cut"), &ov, true, None)).unwrap();
        assert_eq!(o.status, Status::Completed);
        assert_eq!(
            read(&fx.out("full").join("trajectory.csv")),
            read(&fx.out("cut").join("trajectory.csv")),
            "{optim}"
        );
    }
}

/// AdaTask and Signum under a step schedule that halves the rate every epoch: a run cut
/// mid-epoch and resumed (past the next decay) equals the uninterrupted one, and the
/// schedule changes the trajectory.
#[test]
fn new_optimizers_and_step_schedule_resume_identically() {
    let step = [
        "optim.lr_schedule=step",
        "optim.lr_step_epochs=1",
        "optim.lr_gamma=0.5",
    ];
    for name in ["adatask", "signsgd"] {
        let fx = Fixture::new("");
        let opt = format!("optim.name={name}");
        let mut ov = vec![opt.as_str()];
        if name == "signsgd" {
            ov.extend([
                "optim.momentum=0.9",
                "optim.lr=0.001",
                "optim.weight_decay=0.01",
            ]);
        }
        let constant = ov.clone();
        ov.extend(step);
        let o = train(options(&fx.config, &fx.out("full"), &ov, false, None)).unwrap();
        assert_eq!(o.status, Status::Completed, "{name}: {}", o.message);
        let o = train(options(&fx.config, &fx.out("cut"), &ov, false, Some(7))).unwrap();
        assert_eq!(o.status, Status::Interrupted);
        train(options(&fx.config, &fx.out("cut"), &ov, true, None)).unwrap();
        let full = read(&fx.out("full").join("trajectory.csv"));
        assert_eq!(full, read(&fx.out("cut").join("trajectory.csv")), "{name}");
        let l = train_losses(&fx.out("full"), "fashion1");
        assert!(
            l[l.len() - 1] < l[0],
            "{name}: training loss {l:?} did not fall"
        );
        train(options(
            &fx.config,
            &fx.out("const"),
            &constant,
            false,
            None,
        ))
        .unwrap();
        assert_ne!(
            full,
            read(&fx.out("const").join("trajectory.csv")),
            "{name}"
        );
    }
}

#[test]
fn noisy_fashion_keeps_images_and_permutes_labels() {
    let fx = Fixture::new("");
    let mut cfg = RunConfig::load(&fx.config, &[]).unwrap();
    cfg.data.tasks = vec!["fashion2".into(), "noisy_fashion".into()];
    let t = mtlscope::data::load_tasks(&cfg.data).unwrap();
    assert!(t[0].train.x.equal(&t[1].train.x));
    assert!(!t[0].train.y.equal(&t[1].train.y));
    let mut a = Vec::<i64>::try_from(&t[0].train.y).unwrap();
    let mut b = Vec::<i64>::try_from(&t[1].train.y).unwrap();
    a.sort();
    b.sort();
    assert_eq!(a, b, "same labels, permuted");
}

#[test]
fn cli_unknown_config_key_names_key_and_file() {
    let fx = Fixture::new("[train]\nepoch = 3\n");
    // The fixture already has [train]; write a config with a misspelt key instead.
    std::fs::write(&fx.config, "[train]\nepoch = 3\n").unwrap();
    let out = mtlscope(&[
        "train",
        "--config",
        fx.config.to_str().unwrap(),
        "--out",
        fx.out("r").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("train.epoch") && err.contains("run.toml"),
        "{err}"
    );
    assert!(!fx.out("r").exists(), "nothing is written for a bad config");
    let out = mtlscope(&[
        "train",
        "--config",
        fx.config.to_str().unwrap(),
        "--out",
        fx.out("r").to_str().unwrap(),
        "--set",
        "optim.lrr=0.1",
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("optim.lrr"));
}

#[test]
fn cli_nan_loss_stops_with_diverged_status_naming_the_step() {
    let fx = Fixture::new("");
    let out_dir = fx.out("nan");
    let out = mtlscope(&[
        "train",
        "--config",
        fx.config.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
        "--set",
        "optim.name=sgd",
        "--set",
        "optim.lr=1e30",
        "--quiet",
    ]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let info = read_run_info(&out_dir).unwrap();
    assert_eq!(info.status, Status::Diverged);
    assert!(
        info.message.contains("at step") && info.message.contains("fashion"),
        "{}",
        info.message
    );
    // The epoch-0 evaluation is kept: 2 tasks x 3 splits x 2 metrics.
    assert_eq!(
        read(&out_dir.join("trajectory.csv")).lines().count(),
        1 + 2 * 3 * 2
    );
}

#[test]
fn cli_corrupt_dataset_names_the_file_and_writes_nothing() {
    let fx = Fixture::new("");
    let bad = fx.data.join("train-labels-idx1-ubyte.gz");
    let bytes = std::fs::read(&bad).unwrap();
    // Replace with a raw IDX file whose data is cut short.
    std::fs::remove_file(&bad).unwrap();
    let raw = mtlscope::data::idx::encode_idx(&[480], &vec![1u8; 480]);
    std::fs::write(
        fx.data.join("train-labels-idx1-ubyte"),
        &raw[..raw.len() - 30],
    )
    .unwrap();
    drop(bytes);
    let out_dir = fx.out("r");
    let out = mtlscope(&[
        "train",
        "--config",
        fx.config.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("train-labels-idx1-ubyte") && err.contains("480") && err.contains("450"),
        "{err}"
    );
    assert!(!out_dir.exists());
}

#[test]
fn cli_resume_refuses_a_completed_run_and_an_existing_dir() {
    let fx = Fixture::new("");
    let out_dir = fx.out("r");
    let cfg = fx.config.to_str().unwrap();
    let run = |extra: &[&str]| {
        let mut a = vec![
            "train",
            "--config",
            cfg,
            "--out",
            out_dir.to_str().unwrap(),
            "--quiet",
            "--set",
            "train.epochs=1",
        ];
        a.extend_from_slice(extra);
        mtlscope(&a)
    };
    assert!(run(&[]).status.success());
    let again = run(&[]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("--resume"));
    let resumed = run(&["--resume"]);
    assert!(String::from_utf8_lossy(&resumed.stderr).contains("already completed"));
}
