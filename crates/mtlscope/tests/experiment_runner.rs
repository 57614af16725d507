//! `mtlscope experiment` against a fake trainer (a shell script): expansion, skip of completed
//! runs, resume of an interrupted one, failed and diverged runs reported without stopping the
//! others.
use std::path::{Path, PathBuf};
use std::process::Command;

const FAKE: &str = r#"#!/bin/sh
# Fake `mtlscope train`: behaviour chosen by a `train.fake=...` override; validation accuracy
# 0.9 at the grid point `train.fake_best="<lr>-<batch size>"`, else 0.6.
out=""; resume=0; mode=ok; threads=""; seed=""; lr=""; bs=""; best=""
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; shift ;;
    --threads) threads="$2"; shift ;;
    --resume) resume=1 ;;
    --set)
      case "$2" in
        train.fake=*) mode=$(echo "$2" | sed 's/.*="\(.*\)"/\1/') ;;
        train.fake_best=*) best=$(echo "$2" | sed 's/.*="\(.*\)"/\1/') ;;
        optim.lr=*) lr="${2#optim.lr=}" ;;
        train.batch_size=*) bs="${2#train.batch_size=}" ;;
        train.seed=*) seed="${2#train.seed=}" ;;
      esac
      shift ;;
  esac
  shift
done
echo "$out resume=$resume seed=$seed lr=$lr bs=$bs threads=$threads" >> "$FAKE_LOG"
echo "fake trainer writing $out"
acc=0.6; [ "$lr-$bs" = "$best" ] && acc=0.9
complete() {
  mkdir -p "$out"
  printf '[data]\ntasks = ["a"]\n[objective]\nkind = "umtg"\n' > "$out/config.toml"
  printf 'epoch,step,task,split,metric,value\n0,0,a,train,loss,2.3\n0,0,a,train,accuracy,0.1\n0,0,a,val,loss,2.3\n0,0,a,val,accuracy,0.1\n1,10,a,train,loss,0.5\n1,10,a,train,accuracy,0.8\n1,10,a,val,loss,0.6\n1,10,a,val,accuracy,%s\n' "$acc" > "$out/trajectory.csv"
  printf '{"format_version": 2, "status": "completed", "message": "", "seed": %s, "steps": 10, "steps_total": 10, "steps_per_epoch": 10, "epochs": 1, "tasks": [{"name": "a", "kind": "multiclass", "metrics": [{"name": "loss", "direction": "lower"}, {"name": "accuracy", "direction": "higher"}]}], "wall_seconds": 0.1, "device": "cpu", "versions": {}}\n' "${seed:-0}" > "$out/run.json"
  exit 0
}
interrupt() {
  if [ "$resume" = 1 ] && [ -f "$out/partial" ]; then complete; fi
  mkdir -p "$out"; touch "$out/partial"
  echo '{"status": "interrupted", "message": "SIGTERM at step 5"}' > "$out/run.json"; exit 130
}
case "$mode" in
  ok) complete ;;
  fail) echo "error: config is broken" >&2; exit 1 ;;
  diverge) mkdir -p "$out"; echo '{"status": "diverged", "message": "NaN loss at step 3"}' > "$out/run.json"; exit 3 ;;
  interrupt) interrupt ;;
  interrupt_final) case "$out" in */runs/sweep/*) complete ;; *) interrupt ;; esac ;;
esac
"#;

const EXP: &str = r#"
[experiment]
name = "runner-test"
base = "base.toml"
seeds = [1, 2]

[selection]
same_runs = true

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
    let dry = |file: &str| {
        let o = Command::new(env!("CARGO_BIN_EXE_mtlscope"))
            .args(["experiment", "--dry-run", "--config"])
            .arg(format!("{configs}/{file}"))
            .arg("--out")
            .arg(tmp.path().join(file))
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{file}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    // The demo: two stages, a 2-point sweep of 5 variants, 2 final seeds.
    let out = dry("quick.toml");
    assert!(
        out.starts_with(
            "two stages: 10 sweep runs (5 variants × 2 grid points × 1 seeds), then 10 final runs"
        ),
        "{out}"
    );
    assert!(out.contains("sweep/mtl_noisy/lr0.001/seed101"), "{out}");
    // The protocol: 6 variants (STL, 2 UMTG, MGDA, PCGrad, GradNorm) × lr × batch size, one sweep
    // seed, 3 final seeds; the omitted grid values are listed with a reason.
    let out = dry("experiment.toml");
    assert!(
        out.starts_with("two stages: 72 sweep runs (6 variants × 12 grid points × 1 seeds), then 18 final runs (6 variants × 3 seeds)"),
        "{out}"
    );
    for id in [
        "sweep/stl_fashion1/lr0.001-bs128/seed101",
        "sweep/gradnorm_noisy/lr0.01-bs256/seed101",
        "mgda_noisy/<selected>/seed3",
    ] {
        assert!(out.contains(id), "{id}: {out}");
    }
    assert!(
        out.contains("omitted from the grid: train.batch_size = [4, 16, 32]"),
        "{out}"
    );
    // No sweep seed is a final seed (checked by the config), and probes stay off in the sweep.
    assert!(out
        .lines()
        .filter(|l| l.starts_with("sweep/"))
        .all(|l| l.contains("probes.enabled=false")));
    // The ~20-minute version: one stage, no grid.
    let out = dry("medium.toml");
    assert!(
        out.starts_with("9 runs (3 variants × 1 grid points × 3 seeds)"),
        "{out}"
    );
}

const TWO_STAGE: &str = r#"
[experiment]
name = "two-stage"
base = "base.toml"
seeds = [1, 2, 3]

[sweep]
seeds = [7]
set = { "probes.enabled" = false }

[selection]
metric = "val_accuracy"
aggregate = "top10_val"

[grid]
"optim.lr" = [0.1, 0.01]
"train.batch_size" = [16, 64]

[[omitted]]
key = "train.batch_size"
values = [4]
reason = "6,250 steps an epoch"

[[variant]]
name = "stl"
set = { "data.tasks" = ["a"], "train.fake_best" = "0.01-64" }

[[variant]]
name = "mtl"
set = { "train.fake_best" = "0.1-16", "train.fake" = "interrupt_final" }

[[variant]]
name = "late"
set = { "train.fake_best" = "0.1-64", "train.fake" = "interrupt" }
"#;

fn plan_json(out: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("plan.json")).unwrap()).unwrap()
}

/// Two-stage selection (Mueller et al. 2025 §2.2) end to end against the fake trainer: the sweep
/// over learning rate × batch size selects per variant, the final seeds run at that point, an
/// interruption in either stage resumes, completed runs are skipped, and the report's data hold
/// only final-stage runs.
#[test]
fn two_stage_sweep_selects_then_final_seeds_run_and_resume() {
    let tmp = tempfile::tempdir().unwrap();
    let (fake, _) = setup(tmp.path());
    let cfg = tmp.path().join("two.toml");
    std::fs::write(&cfg, TWO_STAGE).unwrap();
    let out = tmp.path().join("exp");
    let log = tmp.path().join("calls.log");

    // Dry run: both stages, the second "after selection"; omissions listed; nothing written.
    let o = run(&cfg, &out, &fake, &log, &["--dry-run"]);
    let listing = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        listing.starts_with(
            "two stages: 12 sweep runs (3 variants × 4 grid points × 1 seeds), then 9 final runs"
        ),
        "{listing}"
    );
    assert!(listing.contains("sweep/stl/lr0.01-bs64/seed7"), "{listing}");
    assert!(listing.contains("stl/<selected>/seed3"), "{listing}");
    assert!(listing.contains("after selection"), "{listing}");
    assert!(
        listing.contains("omitted from the grid: train.batch_size = [4]: 6,250 steps an epoch"),
        "{listing}"
    );
    assert!(!out.exists() && calls(&log).is_empty());

    // 1st: the sweep runs; `late` is interrupted, so stage 2 does not start.
    let o = run(&cfg, &out, &fake, &log, &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    let c = calls(&log);
    assert_eq!(c.len(), 12, "{c:?}");
    assert!(c
        .iter()
        .all(|l| l.contains("/runs/sweep/") && l.contains("seed=7")));
    // The batch size is a grid key: every sweep run got one of its values.
    assert!(c
        .iter()
        .all(|l| l.contains("bs=16 ") || l.contains("bs=64 ")));
    assert!(err.contains("stage 2 not started"), "{err}");
    let plan = plan_json(&out);
    assert_eq!(plan["protocol"]["mode"], "two_stage");
    assert_eq!(plan["protocol"]["omitted"][0]["values"][0], "4");
    assert!(plan["runs"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["stage"] == "sweep"));
    assert_eq!(
        plan["runs"][0]["overrides"],
        serde_json::json!([
            "data.tasks=[\"a\"]",
            "train.fake_best=\"0.01-64\"",
            "probes.enabled=false",
            "optim.lr=0.1",
            "train.batch_size=16",
            "train.seed=7"
        ])
    );

    // 2nd: `late`'s sweep resumes; every variant is selected; the final stage starts and
    // `mtl`'s and `late`'s final runs are interrupted.
    std::fs::remove_file(&log).unwrap();
    let o = run(&cfg, &out, &fake, &log, &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    let c = calls(&log);
    assert_eq!(c.len(), 4 + 9, "{c:?}");
    assert!(c[..4]
        .iter()
        .all(|l| l.contains("/runs/sweep/late/") && l.contains("resume=1")));
    assert!(
        err.contains("stage 1 (sweep): 4 completed now, 8 were already complete, 0 not completed"),
        "{err}"
    );
    assert!(
        err.contains("stage 2 (final): 3 completed now, 0 were already complete, 6 not completed"),
        "{err}"
    );
    assert!(err.contains("`stl` selected lr0.01-bs64"), "{err}");
    let plan = plan_json(&out);
    let selected: Vec<(String, String)> = plan["protocol"]["selected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["variant"].as_str().unwrap().to_string(),
                s["grid_tag"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expect = [
        ("stl", "lr0.01-bs64"),
        ("mtl", "lr0.1-bs16"),
        ("late", "lr0.1-bs64"),
    ];
    assert_eq!(
        selected,
        expect.map(|(a, b)| (a.to_string(), b.to_string())).to_vec()
    );
    let finals: Vec<&serde_json::Value> = plan["runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["stage"] == "final")
        .collect();
    assert_eq!(finals.len(), 9);
    for (v, tag) in expect {
        for seed in 1..=3 {
            let id = format!("{v}/{tag}/seed{seed}");
            let r = finals.iter().find(|r| r["id"] == id.as_str()).expect(&id);
            let ov: Vec<&str> = r["overrides"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o.as_str().unwrap())
                .collect();
            // The final stage has no sweep overrides.
            assert!(!ov.iter().any(|o| o.starts_with("probes.")), "{ov:?}");
            assert_eq!(ov.last().unwrap(), &format!("train.seed={seed}"));
        }
    }
    assert!(c[4..]
        .iter()
        .all(|l| !l.contains("/runs/sweep/") && !l.contains("seed=7") && l.contains("resume=0")));

    // 3rd: stage 1 and `stl`'s final runs are skipped; the interrupted final runs resume.
    std::fs::remove_file(&log).unwrap();
    let o = run(&cfg, &out, &fake, &log, &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let c = calls(&log);
    assert_eq!(c.len(), 6, "{c:?}");
    assert!(c
        .iter()
        .all(|l| l.contains("resume=1") && !l.contains("/stl/")));
    assert!(
        err.contains("stage 2 (final): 6 completed now, 3 were already complete, 0 not completed"),
        "{err}"
    );

    // 4th: nothing left to do.
    std::fs::remove_file(&log).unwrap();
    let o = run(&cfg, &out, &fake, &log, &[]);
    assert!(o.status.success());
    assert!(calls(&log).is_empty());

    // The report's data: final-stage runs only, at the selected point, seeds 1–3.
    let data = mtlscope::experiment::ExperimentData::load(&out).unwrap();
    assert_eq!(data.runs.len(), 9);
    assert!(data
        .runs
        .iter()
        .all(|r| r.seed != 7 && !r.id.starts_with("sweep/")));
    let groups = mtlscope::analysis::Groups::build(&data).unwrap();
    for (v, tag) in expect {
        let g = groups.variants.iter().find(|g| g.name == v).unwrap();
        assert_eq!(g.grid_tag, tag);
        let seeds: Vec<u64> = g.runs.iter().map(|r| r.seed).collect();
        assert_eq!(seeds, vec![1, 2, 3], "{v}");
    }
    // The selection shown is the sweep's: 4 grid points, 1 sweep seed each.
    let s = groups
        .selections
        .iter()
        .find(|s| s.variant == "stl")
        .unwrap();
    assert_eq!(s.scores.len(), 4);
    assert!(s.scores.iter().all(|p| p.2 == 1));

    // A dry run now shows the concrete final runs with their state.
    let o = run(&cfg, &out, &fake, &log, &["--dry-run"]);
    let listing = String::from_utf8_lossy(&o.stdout);
    assert!(listing.contains("mtl/lr0.1-bs16/seed2"), "{listing}");
    assert!(!listing.contains("<selected>"), "{listing}");

    // Another selection rule under the same directory is refused.
    let o = run(
        &cfg,
        &out,
        &fake,
        &log,
        &["--set", "selection.metric=val_loss"],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("plan.json recorded"), "{err}");
}

#[test]
fn duplicate_grid_values_are_refused_before_anything_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let (fake, cfg) = setup(tmp.path());
    let out = tmp.path().join("exp");
    let log = tmp.path().join("calls.log");
    std::fs::write(&cfg, EXP.replace("[0.1, 0.01]", "[0.001, 0.001]")).unwrap();
    let o = run(&cfg, &out, &fake, &log, &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("grid key `optim.lr` lists the value 0.001 twice"),
        "{err}"
    );
    assert!(!out.exists() && calls(&log).is_empty());
}
