//! `mtlscope experiment` against a fake trainer (a shell script): expansion, skip of completed
//! runs, resume of an interrupted one, failed and diverged runs reported without stopping the
//! others.
use std::path::{Path, PathBuf};
use std::process::Command;

const FAKE: &str = r#"#!/bin/sh
# Fake `mtlscope train`: behaviour chosen by a `train.fake=...` override.
out=""; resume=0; mode=ok; threads=""
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; shift ;;
    --threads) threads="$2"; shift ;;
    --resume) resume=1 ;;
    --set) case "$2" in train.fake=*) mode=$(echo "$2" | sed 's/.*="\(.*\)"/\1/') ;; esac; shift ;;
  esac
  shift
done
echo "$out resume=$resume threads=$threads" >> "$FAKE_LOG"
echo "fake trainer writing $out"
complete() {
  mkdir -p "$out"
  printf '[data]\ntasks = ["a"]\n[objective]\nkind = "umtg"\n' > "$out/config.toml"
  printf 'epoch,step,task,split,loss,accuracy\n0,0,a,train,2.3,0.1\n1,10,a,train,0.5,0.8\n0,0,a,val,2.3,0.1\n1,10,a,val,0.6,0.7\n' > "$out/trajectory.csv"
  echo '{"status": "completed", "message": ""}' > "$out/run.json"
  exit 0
}
case "$mode" in
  ok) complete ;;
  fail) echo "error: config is broken" >&2; exit 1 ;;
  diverge) mkdir -p "$out"; echo '{"status": "diverged", "message": "NaN loss at step 3"}' > "$out/run.json"; exit 3 ;;
  interrupt)
    if [ "$resume" = 1 ] && [ -f "$out/partial" ]; then complete; fi
    mkdir -p "$out"; touch "$out/partial"
    echo '{"status": "interrupted", "message": "SIGTERM at step 5"}' > "$out/run.json"; exit 130 ;;
esac
"#;

const EXP: &str = r#"
[experiment]
name = "runner-test"
base = "base.toml"
seeds = [1, 2]

[grid]
"optim.lr" = [0.1, 0.01]

[[variant]]
name = "ok"
set = { "data.tasks" = ["a"] }

[[variant]]
name = "crash"
set = { "train.fake" = "fail" }

[[variant]]
name = "nan"
set = { "train.fake" = "diverge" }

[[variant]]
name = "flaky"
set = { "train.fake" = "interrupt" }
"#;

fn setup(dir: &Path) -> (PathBuf, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let fake = dir.join("fake-train.sh");
    std::fs::write(&fake, FAKE).unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(dir.join("base.toml"), "[train]\nepochs = 1\n").unwrap();
    let cfg = dir.join("exp.toml");
    std::fs::write(&cfg, EXP).unwrap();
    (fake, cfg)
}

fn run(cfg: &Path, out: &Path, fake: &Path, log: &Path, extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mtlscope"))
        .args(["experiment", "--config"])
        .arg(cfg)
        .arg("--out")
        .arg(out)
        .arg("--trainer")
        .arg(fake)
        .args(["--jobs", "2"])
        .args(extra)
        .env("FAKE_LOG", log)
        .output()
        .unwrap()
}

fn calls(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn expands_skips_resumes_and_reports_failures() {
    let tmp = tempfile::tempdir().unwrap();
    let (fake, cfg) = setup(tmp.path());
    let out = tmp.path().join("exp");
    let log = tmp.path().join("calls.log");

    // Dry run: 4 variants × 2 grid points × 2 seeds, nothing executed or written.
    let o = run(&cfg, &out, &fake, &log, &["--dry-run"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let listing = String::from_utf8_lossy(&o.stdout);
    assert!(
        listing.starts_with("16 runs (4 variants × 2 grid points × 2 seeds)"),
        "{listing}"
    );
    assert!(
        listing.contains("ok/lr0.1/seed1") && listing.contains("flaky/lr0.01/seed2"),
        "{listing}"
    );
    assert!(!out.exists() && calls(&log).is_empty());

    // First run: 4 ok, 4 failed, 4 diverged, 4 interrupted; failures don't stop the others.
    let o = run(&cfg, &out, &fake, &log, &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(calls(&log).len(), 16, "{err}");
    assert!(
        err.contains("4 completed now, 0 were already complete, 12 not completed"),
        "{err}"
    );
    assert!(
        err.contains("crash/lr0.1/seed1: failed: exit 1: error: config is broken"),
        "{err}"
    );
    assert!(
        err.contains("nan/lr0.01/seed2: diverged: NaN loss at step 3"),
        "{err}"
    );
    assert!(
        err.contains("flaky/lr0.1/seed2: interrupted (re-run to resume): SIGTERM at step 5"),
        "{err}"
    );
    // Children get threads = max(1, cores / jobs) and write to per-run logs.
    let cores = std::thread::available_parallelism().unwrap().get();
    assert!(calls(&log)[0].ends_with(&format!("threads={}", (cores / 2).max(1))));
    let child_log = std::fs::read_to_string(out.join("logs/crash__lr0.1__seed1.log")).unwrap();
    assert!(child_log.contains("error: config is broken"), "{child_log}");
    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("plan.json")).unwrap()).unwrap();
    let runs = plan["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 16);
    assert_eq!(runs[0]["id"], "ok/lr0.1/seed1");
    assert_eq!(runs[0]["dir"], "runs/ok/lr0.1/seed1");
    assert_eq!(runs[0]["grid"]["optim.lr"], "0.1");
    assert_eq!(
        runs[0]["overrides"],
        serde_json::json!(["data.tasks=[\"a\"]", "optim.lr=0.1", "train.seed=1"])
    );
    assert!(out.join("base.toml").exists());

    // Second run: completed skipped, diverged kept, interrupted resumed, failed retried.
    std::fs::remove_file(&log).unwrap();
    let o = run(&cfg, &out, &fake, &log, &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    let c = calls(&log);
    assert_eq!(c.len(), 8, "{c:?}");
    assert!(
        c.iter()
            .filter(|l| l.contains("/flaky/"))
            .all(|l| l.contains("resume=1")),
        "{c:?}"
    );
    assert!(
        c.iter()
            .filter(|l| l.contains("/crash/"))
            .all(|l| l.contains("resume=0")),
        "{c:?}"
    );
    assert!(
        !c.iter().any(|l| l.contains("/ok/") || l.contains("/nan/")),
        "{c:?}"
    );
    assert!(
        err.contains("4 completed now, 4 were already complete, 8 not completed"),
        "{err}"
    );
    assert!(
        err.contains("nan/lr0.1/seed1: diverged: diverged in an earlier invocation"),
        "{err}"
    );
    for s in ["lr0.1/seed1", "lr0.01/seed2"] {
        let st = std::fs::read_to_string(out.join(format!("runs/flaky/{s}/run.json"))).unwrap();
        assert!(st.contains("completed"), "{st}");
    }
}

#[test]
fn bad_config_key_is_named_and_plan_change_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (fake, cfg) = setup(tmp.path());
    let log = tmp.path().join("calls.log");
    std::fs::write(
        &cfg,
        EXP.replace("seeds = [1, 2]", "seeds = [1, 2]\nseedz = 3"),
    )
    .unwrap();
    let o = run(&cfg, &tmp.path().join("e"), &fake, &log, &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1));
    assert!(err.contains("seedz") && err.contains("exp.toml"), "{err}");

    // A run id whose overrides change under an existing experiment directory is refused.
    std::fs::write(&cfg, EXP).unwrap();
    let out = tmp.path().join("e2");
    run(&cfg, &out, &fake, &log, &["--set", "experiment.seeds=[1]"]);
    let o = run(
        &cfg,
        &out,
        &fake,
        &log,
        &["--set", "experiment.seeds=[1]", "--set", "train.epochs=9"],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err.contains("ok/lr0.1/seed1") && err.contains("new experiment directory"),
        "{err}"
    );
}

#[test]
fn shipped_fashion_configs_expand() {
    let tmp = tempfile::tempdir().unwrap();
    let configs = concat!(env!("CARGO_MANIFEST_DIR"), "/../../configs/fashion_mtl");
    for (file, n) in [("quick.toml", 5 * 2 * 2), ("experiment.toml", 6 * 5 * 3)] {
        let o = Command::new(env!("CARGO_BIN_EXE_mtlscope"))
            .args(["experiment", "--dry-run", "--config"])
            .arg(format!("{configs}/{file}"))
            .arg("--out")
            .arg(tmp.path().join(file))
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success(),
            "{file}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(out.starts_with(&format!("{n} runs")), "{file}: {out}");
        assert!(out.contains("mtl_noisy/lr0.001/seed2"), "{file}: {out}");
    }
}
