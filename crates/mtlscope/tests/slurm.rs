//! `mtlscope experiment --launcher slurm` against a real one-node Slurm cluster brought up by
//! `scripts/slurm_local.sh` (Debian's slurmctld/slurmd/munge, installed by `make setup`):
//! every run completes, a run cancelled mid-way (`scancel`) resumes on re-submission, and the
//! runs and report equal the local launcher's.

mod common;

use common::Fixture;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Starts (or finds) the local cluster; returns its SLURM_CONF.
fn cluster() -> String {
    let o = Command::new("bash")
        .arg(repo().join("scripts/slurm_local.sh"))
        .arg("start")
        .output()
        .expect("running scripts/slurm_local.sh");
    assert!(
        o.status.success(),
        "the local Slurm cluster did not start (make setup installs it): {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout)
        .trim()
        .strip_prefix("export SLURM_CONF=")
        .expect("slurm_local.sh prints the SLURM_CONF")
        .to_string()
}

fn mtlscope(conf: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mtlscope"))
        .args(args)
        .env("SLURM_CONF", conf)
        .env(
            "MTLSCOPE_DATA",
            "/nonexistent-so-tests-never-read-real-data",
        )
        .output()
        .unwrap()
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn slurm_array_completes_resumes_a_cancelled_run_and_matches_the_local_launcher() {
    let conf = cluster();
    let fx = Fixture::new("");
    let exp = fx.dir.path().join("exp.toml");
    std::fs::write(
        &exp,
        "[experiment]\nname = \"slurm test\"\nbase = \"run.toml\"\nseeds = [1]\n\
         set = { \"train.epochs\" = 25 }\n\n\
         [slurm]\ncpus_per_task = 1\nextra = [\"--comment=mtlscope-test\"]\n\n\
         [[variant]]\nname = \"stl\"\nset = { \"data.tasks\" = [\"fashion1\"] }\n\n\
         [[variant]]\nname = \"mtl\"\nset = { \"data.tasks\" = [\"fashion1\", \"fashion2\"] }\n",
    )
    .unwrap();
    let e = exp.to_str().unwrap();

    // The local launcher, 2 jobs × 1 thread: the reference.
    let local = fx.out("local");
    ok(&mtlscope(
        &conf,
        &[
            "experiment",
            "--config",
            e,
            "--out",
            local.to_str().unwrap(),
            "--jobs",
            "2",
        ],
    ));

    // Slurm: submit, cancel the MTL run (array index 1) once it has checkpointed.
    let sl = fx.out("slurm");
    let s = sl.to_str().unwrap();
    let out = ok(&mtlscope(
        &conf,
        &[
            "experiment",
            "--config",
            e,
            "--out",
            s,
            "--launcher",
            "slurm",
            "--jobs",
            "2",
        ],
    ));
    let ledger: serde_json::Value =
        serde_json::from_str(&read(&sl.join("slurm/jobs.json"))).unwrap();
    let job = ledger["jobs"][0]["job_id"].as_str().unwrap().to_string();
    assert!(out.contains(&job), "{out}");
    let mtl = sl.join("runs/mtl/seed1");
    let t0 = Instant::now();
    while !mtl.join("checkpoints/last.json").exists() {
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "the MTL element never checkpointed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let o = Command::new("scancel")
        .arg(format!("{job}_1"))
        .env("SLURM_CONF", &conf)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Wait for the queue to drain, then the status shows the cancelled run as interrupted.
    let t0 = Instant::now();
    loop {
        let st = ok(&mtlscope(&conf, &["experiment", "status", s]));
        if !st.contains("queued") && !st.contains("running") {
            assert!(
                st.contains("mtl/seed1") && st.contains("interrupted"),
                "{st}"
            );
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(180),
            "queue never drained: {st}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let info: serde_json::Value = serde_json::from_str(&read(&mtl.join("run.json"))).unwrap();
    let stopped_at = info["steps"].as_u64().unwrap();
    assert!(
        stopped_at < info["steps_total"].as_u64().unwrap(),
        "cancelled before the end"
    );

    // Re-submission resumes the cancelled run only, and waits.
    let out = ok(&mtlscope(
        &conf,
        &[
            "experiment",
            "--config",
            e,
            "--out",
            s,
            "--launcher",
            "slurm",
            "--jobs",
            "2",
            "--wait",
        ],
    ));
    assert!(out.contains("1 submitted"), "{out}");
    let log = read(&sl.join("logs/mtl__seed1.log"));
    assert!(log.contains("--resume"), "{log}");
    let st = ok(&mtlscope(&conf, &["experiment", "status", s]));
    assert!(st.contains("2 runs: 2 completed"), "{st}");

    // Same runs, same report.
    for id in ["stl/seed1", "mtl/seed1"] {
        assert_eq!(
            read(&sl.join("runs").join(id).join("trajectory.csv")),
            read(&local.join("runs").join(id).join("trajectory.csv")),
            "{id}"
        );
    }
    ok(&mtlscope(&conf, &["report", local.to_str().unwrap()]));
    ok(&mtlscope(&conf, &["report", s]));
    let tables = local.join("report/tables");
    let mut compared = 0;
    for entry in std::fs::read_dir(&tables).unwrap() {
        let name = entry.unwrap().file_name();
        let a = read(&tables.join(&name));
        let b = read(&sl.join("report/tables").join(&name));
        assert_eq!(a, b, "report table {name:?} differs between launchers");
        compared += 1;
    }
    assert!(compared > 0);

    // Nothing left to submit; cancel has nothing queued.
    let out = ok(&mtlscope(
        &conf,
        &[
            "experiment",
            "--config",
            e,
            "--out",
            s,
            "--launcher",
            "slurm",
        ],
    ));
    assert!(out.contains("0 submitted"), "{out}");
    ok(&mtlscope(&conf, &["experiment", "cancel", s]));
}
