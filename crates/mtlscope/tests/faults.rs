//! Crashes, concurrent writers and hostile input (issue 10): every kill is resumable to the
//! byte, a run directory has one writer, divergence is an outcome under every objective,
//! and bad input is an error naming what is wrong, never a panic.

mod common;

use common::{mtlscope, Fixture};
use mtlscope::train::run_files::{read_run_info, read_trajectory};
use mtlscope::train::store::{read_checkpoint, RunLock, Status};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `mtlscope train` with `MTLSCOPE_FAULT` set (None: unset).
fn train_with_fault(fx: &Fixture, out: &Path, fault: Option<&str>, extra: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mtlscope"));
    cmd.args([
        "train",
        "--config",
        fx.config.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
        "--threads",
        "1",
    ])
    .args(extra)
    .env(
        "MTLSCOPE_DATA",
        "/nonexistent-so-tests-never-read-real-data",
    );
    match fault {
        Some(f) => cmd.env("MTLSCOPE_FAULT", f),
        None => cmd.env_remove("MTLSCOPE_FAULT"),
    };
    cmd.output().unwrap()
}

fn resume(out: &Path) -> Output {
    mtlscope(&[
        "train",
        "--out",
        out.to_str().unwrap(),
        "--resume",
        "--quiet",
        "--threads",
        "1",
    ])
}

/// Kills at every kind of point chosen from the step count (12 steps an epoch, evaluations at
/// 0, 12, 24, 36), then resumes: trajectory and steps logs equal an uninterrupted run's.
#[test]
fn a_kill_anywhere_resumes_to_a_byte_identical_trajectory() {
    let fx =
        Fixture::new("[objective]\nkind = \"aggregate\"\nmethod = \"nash_mtl\"\nlog_every = 5\n");
    let reference = fx.out("reference");
    let o = train_with_fault(&fx, &reference, None, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let want_traj = read(&reference.join("trajectory.csv"));
    let want_steps = read(&reference.join("steps.csv"));
    for fault in [
        "start:0",       // before the first checkpoint
        "eval:0",        // during the step-0 evaluation
        "step:1",        // right after the first step (checkpoint at step 0 only)
        "step:17",       // mid-epoch
        "eval:12",       // during an evaluation
        "checkpoint:24", // tensors written, metadata not
        "checkpoint:0",  // the very first checkpoint half-written
    ] {
        let out = fx.out(&format!("kill-{}", fault.replace(':', "-")));
        let o = train_with_fault(&fx, &out, Some(fault), &[]);
        assert_eq!(
            o.status.signal(),
            Some(9),
            "{fault}: not killed: {}",
            stderr(&o)
        );
        let o = resume(&out);
        assert!(o.status.success(), "{fault}: resume failed: {}", stderr(&o));
        assert_eq!(
            read(&out.join("trajectory.csv")),
            want_traj,
            "{fault}: trajectory"
        );
        assert_eq!(read(&out.join("steps.csv")), want_steps, "{fault}: steps");
        assert_eq!(read_run_info(&out).unwrap().status, Status::Completed);
    }
}

/// An interrupt before the first step leaves a step-0 checkpoint whose evaluation rows are
/// already written; resuming must not write them again.
#[test]
fn resume_from_a_step_zero_checkpoint_does_not_repeat_its_evaluation() {
    let fx = Fixture::new("");
    let reference = fx.out("reference");
    assert!(train_with_fault(&fx, &reference, None, &[])
        .status
        .success());
    let out = fx.out("r");
    // SIGTERM-like stop at step 0 in-process: stop_after = 0 via the library.
    let cfg = mtlscope::config::RunConfig::load(&fx.config, &[]).unwrap();
    let stopped = mtlscope::train::train(mtlscope::train::RunOptions {
        config: cfg,
        out: out.clone(),
        resume: false,
        device: tch::Device::Cpu,
        progress_bar: false,
        verbose: false,
        interrupt: Default::default(),
        stop_after: Some(0),
    })
    .unwrap();
    assert_eq!(stopped.status, Status::Interrupted);
    let o = resume(&out);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        read(&out.join("trajectory.csv")),
        read(&reference.join("trajectory.csv"))
    );
}

/// While one process trains a directory, a second writer (a resume, a fresh run) is refused;
/// once the owner is killed, the stale lock does not block a resume.
#[test]
fn a_run_directory_has_one_writer_and_a_dead_owner_never_blocks_resume() {
    let fx = Fixture::new("");
    let out = fx.out("r");
    let mut owner = Command::new(env!("CARGO_BIN_EXE_mtlscope"))
        .args([
            "train",
            "--config",
            fx.config.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--quiet",
            "--threads",
            "1",
            "--set",
            "train.epochs=100000",
        ])
        .env("MTLSCOPE_DATA", "/nonexistent")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the owner has checkpointed once (and so holds the directory).
    let t0 = Instant::now();
    while !out.join("checkpoints/last.json").exists() {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "owner never checkpointed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(RunLock::is_held(&out));
    let second = resume(&out);
    assert_eq!(second.status.code(), Some(1), "{}", stderr(&second));
    let msg = stderr(&second);
    assert!(
        msg.contains("in use by another process") && msg.contains(&owner.id().to_string()),
        "{msg}"
    );
    let fresh = train_with_fault(&fx, &out, None, &[]);
    assert_eq!(fresh.status.code(), Some(1));
    assert!(stderr(&fresh).contains("in use"), "{}", stderr(&fresh));
    owner.kill().unwrap();
    owner.wait().unwrap();
    assert!(
        !RunLock::is_held(&out),
        "the kernel releases a dead owner's lock"
    );
    // The resume is accepted and trains: stop it by the fault hook one step after its
    // checkpoint (the run's own config asks for 100000 epochs).
    let (meta, _) = read_checkpoint(&out).unwrap().expect("a checkpoint");
    let o = Command::new(env!("CARGO_BIN_EXE_mtlscope"))
        .args([
            "train",
            "--out",
            out.to_str().unwrap(),
            "--resume",
            "--quiet",
        ])
        .env("MTLSCOPE_DATA", "/nonexistent")
        .env("MTLSCOPE_FAULT", format!("step:{}", meta.step + 1))
        .output()
        .unwrap();
    assert_eq!(o.status.signal(), Some(9), "{}", stderr(&o));
}

/// Divergence is an outcome (exit 3, `diverged`, step and task named) under every objective
/// kind, never "bad input"; the trajectory and checkpoint keep only finite values.
#[test]
fn divergence_is_reported_as_diverged_under_every_objective_kind() {
    for (objective, expect_task) in [
        ("", true),
        (
            "[objective]\nkind = \"aggregate\"\nmethod = \"mgda\"\n",
            true,
        ),
        (
            "[objective]\nkind = \"aggregate\"\nmethod = \"upgrad\"\n",
            true,
        ),
        (
            "[objective]\nkind = \"aggregate\"\nmethod = \"pcgrad\"\n",
            true,
        ),
        (
            "[objective]\nkind = \"aggregate\"\nmethod = \"mgda_ub\"\n",
            true,
        ),
        (
            "[objective]\nkind = \"weighting\"\nmethod = \"db_mtl\"\n",
            true,
        ),
        ("[objective]\nkind = \"weighting\"\nmethod = \"uw\"\n", true),
    ] {
        let fx = Fixture::new(objective);
        let out = fx.out("nan");
        let o = train_with_fault(
            &fx,
            &out,
            None,
            &[
                "--set",
                "optim.name=sgd",
                "--set",
                "optim.lr=1e30",
                "--set",
                "train.eval_every=1",
            ],
        );
        assert_eq!(o.status.code(), Some(3), "{objective}: {}", stderr(&o));
        let info = read_run_info(&out).unwrap();
        assert_eq!(info.status, Status::Diverged, "{objective}");
        assert!(
            info.message.contains("step"),
            "{objective}: {}",
            info.message
        );
        if expect_task {
            assert!(
                info.message.contains("fashion") || info.message.contains("parameter"),
                "{objective}: {}",
                info.message
            );
        }
        // Every recorded value is finite, and so is the last checkpoint.
        for row in read_trajectory(&out).unwrap() {
            assert!(row.value.is_finite(), "{objective}: non-finite row {row:?}");
        }
        let (meta, tensors) = read_checkpoint(&out).unwrap().expect("a checkpoint");
        for (name, t) in &tensors {
            let finite = t.isfinite().all().int64_value(&[]) == 1;
            assert!(
                finite,
                "{objective}: checkpoint tensor {name} is not finite"
            );
        }
        assert!(meta.step <= info.steps + 1);
    }
}

/// Shapes that disagree across splits are named before any model is built (tch panicked).
#[test]
fn test_images_of_another_size_are_an_error_naming_the_file() {
    let fx = Fixture::new("");
    // Replace the test images with 20x20 ones.
    let n = 80;
    let bytes = mtlscope::data::idx::encode_idx(&[n, 20, 20], &vec![7u8; n * 400]);
    std::fs::remove_file(fx.data.join("t10k-images-idx3-ubyte.gz")).unwrap();
    std::fs::write(fx.data.join("t10k-images-idx3-ubyte"), bytes).unwrap();
    let out = fx.out("r");
    let o = train_with_fault(&fx, &out, None, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let msg = stderr(&o);
    assert!(
        msg.contains("t10k-images-idx3-ubyte") && msg.contains("[20, 20]"),
        "{msg}"
    );
    assert!(!msg.contains("panicked"), "{msg}");
    assert!(!out.exists(), "nothing written");
}

#[test]
fn a_run_that_died_before_its_first_checkpoint_restarts_on_resume() {
    let fx = Fixture::new("");
    let out = fx.out("r");
    let o = train_with_fault(&fx, &out, Some("start:0"), &[]);
    assert_eq!(o.status.signal(), Some(9));
    assert!(out.join("config.toml").exists());
    assert!(read_checkpoint(&out).unwrap().is_none());
    let o = resume(&out);
    assert!(o.status.success(), "{}", stderr(&o));
    // Also when even run.json was never written.
    let out2 = fx.out("r2");
    std::fs::create_dir_all(&out2).unwrap();
    std::fs::copy(out.join("config.toml"), out2.join("config.toml")).unwrap();
    let o = resume(&out2);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        read(&out2.join("trajectory.csv")),
        read(&out.join("trajectory.csv"))
    );
}

#[test]
fn a_hand_edited_config_is_refused_on_resume_naming_the_keys() {
    let fx = Fixture::new("");
    let out = fx.out("r");
    let o = train_with_fault(&fx, &out, Some("step:3"), &[]);
    assert_eq!(o.status.signal(), Some(9));
    let cfg = out.join("config.toml");
    let edited = read(&cfg).replace("lr = 0.003", "lr = 0.004");
    assert_ne!(edited, read(&cfg));
    std::fs::write(&cfg, edited).unwrap();
    let o = resume(&out);
    assert_eq!(o.status.code(), Some(1));
    let msg = stderr(&o);
    assert!(
        msg.contains("optim.lr") && msg.contains("config.toml"),
        "{msg}"
    );
}

#[test]
fn overflowing_and_degenerate_settings_are_errors() {
    let fx = Fixture::new("");
    let o = train_with_fault(
        &fx,
        &fx.out("a"),
        None,
        &["--set", "train.epochs=4611686018427387904"],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("train.epochs"), "{}", stderr(&o));
    let o = train_with_fault(
        &fx,
        &fx.out("b"),
        None,
        &["--set", "probes.enabled=true", "--set", "probes.subset=1"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("probes.subset"), "{}", stderr(&o));
    // --out naming an existing file says which.
    let file = fx.out("a-file");
    std::fs::write(&file, "x").unwrap();
    let o = train_with_fault(&fx, &file, None, &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains(file.to_str().unwrap()),
        "{}",
        stderr(&o)
    );
    // A hypervolume that overflows is an error, not `null`.
    let pts = fx.out("p.json");
    std::fs::write(&pts, r#"{"points": [[0.0, 0.0]]}"#).unwrap();
    let o = mtlscope(&[
        "hypervolume",
        "--input",
        pts.to_str().unwrap(),
        "--ref",
        "1e300,1e300",
    ]);
    assert_ne!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("overflows"), "{}", stderr(&o));
}

/// `kill -9` of an experiment takes its children with it (they checkpoint on the parent-death
/// signal); re-running it resumes them to the same trajectories as an uninterrupted
/// experiment, and never trains a directory beside a live owner.
#[test]
fn a_killed_experiment_leaves_no_orphans_and_resumes_exactly() {
    let fx = Fixture::new("");
    let exp = fx.dir.path().join("exp.toml");
    std::fs::write(
        &exp,
        "[experiment]\nname = \"kill\"\nbase = \"run.toml\"\nseeds = [1]\n\
         set = { \"train.epochs\" = 40 }\n\n\
         [[variant]]\nname = \"stl\"\nset = { \"data.tasks\" = [\"fashion1\"] }\n\n\
         [[variant]]\nname = \"mtl\"\nset = { \"data.tasks\" = [\"fashion1\", \"fashion2\"] }\n",
    )
    .unwrap();
    let run_exp = |out: &Path| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_mtlscope"));
        c.args(["experiment", "--config", exp.to_str().unwrap(), "--out"])
            .arg(out)
            .args(["--jobs", "2"])
            .env("MTLSCOPE_DATA", "/nonexistent")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        c
    };
    let reference = fx.out("exp-ref");
    let o = run_exp(&reference).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));

    let out = fx.out("exp");
    let mut runner = run_exp(&out).spawn().unwrap();
    let dirs = [out.join("runs/stl/seed1"), out.join("runs/mtl/seed1")];
    let t0 = Instant::now();
    // Both children past their first checkpoint, neither finished.
    while !dirs
        .iter()
        .all(|d| d.join("checkpoints/last.json").exists())
    {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "children never checkpointed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    runner.kill().unwrap(); // SIGKILL: no chance to clean up
    runner.wait().unwrap();
    let t0 = Instant::now();
    while dirs.iter().any(|d| RunLock::is_held(d)) {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "a child outlived its killed experiment"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let statuses: Vec<Status> = dirs
        .iter()
        .map(|d| read_run_info(d).unwrap().status)
        .collect();
    assert!(
        statuses.contains(&Status::Interrupted),
        "children should have been stopped mid-run: {statuses:?}"
    );
    let o = run_exp(&out).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    for id in ["stl/seed1", "mtl/seed1"] {
        assert_eq!(
            read(&out.join("runs").join(id).join("trajectory.csv")),
            read(&reference.join("runs").join(id).join("trajectory.csv")),
            "{id}"
        );
    }
}

/// The report names and skips a run whose trajectory has duplicated or out-of-order rows (two
/// writers) or is unreadable, and reports the rest.
#[test]
fn report_skips_damaged_runs_and_names_them() {
    let fx = Fixture::new("");
    let exp = fx.dir.path().join("exp.toml");
    std::fs::write(
        &exp,
        "[experiment]\nname = \"dmg\"\nbase = \"run.toml\"\nseeds = [1, 2]\n\
         set = { \"train.epochs\" = 2 }\n\n\
         [[variant]]\nname = \"stl\"\nset = { \"data.tasks\" = [\"fashion1\"] }\n\n\
         [[variant]]\nname = \"mtl\"\nset = { \"data.tasks\" = [\"fashion1\", \"fashion2\"] }\n",
    )
    .unwrap();
    let out = fx.out("exp");
    let o = mtlscope(&[
        "experiment",
        "--config",
        exp.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--jobs",
        "2",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    // Duplicate the rows of one run (what two writers produced), corrupt another.
    let t = out.join("runs/mtl/seed1/trajectory.csv");
    let text = read(&t);
    let body: String = text.lines().skip(1).map(|l| format!("{l}\n")).collect();
    std::fs::write(&t, format!("{text}{body}")).unwrap();
    std::fs::write(out.join("runs/stl/seed2/trajectory.csv"), "garbage\n1,2\n").unwrap();
    let o = mtlscope(&["report", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let msg = stderr(&o);
    assert!(
        msg.contains("mtl/seed1") && msg.contains("duplicated or out-of-order"),
        "{msg}"
    );
    assert!(msg.contains("stl/seed2"), "{msg}");
}
