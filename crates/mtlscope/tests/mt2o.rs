//! `mtlscope mt2o` on a tiny generated FashionMTL copy: with M = I every model follows exactly
//! the trajectory of a 1-model run with its λ (bit for bit), with transfer the models differ
//! from the independent ones and still learn, a killed run resumes to the same files, the
//! outputs have their documented shapes, and a misspelt `[mt2o]` key is named.

mod common;

use common::{mtlscope, mtlscope_ok, write_dataset};
use std::path::{Path, PathBuf};

/// 2 epochs of 13 steps (216 training images per task, batch 16), K = 3 (H = 2).
fn setup(extra: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    write_dataset(&data, 480, 80);
    let cfg = dir.path().join("mt2o.toml");
    std::fs::write(
        &cfg,
        format!(
            "[data]\ntasks = [\"fashion1\", \"fashion2\"]\ndata_dir = {data:?}\n\n\
             [optim]\nname = \"adam\"\nlr = 0.003\n\n\
             [train]\nepochs = 2\nbatch_size = 16\nseed = 1\n\n\
             [probes]\nenabled = false\n\n\
             [mt2o]\ndivisions = 2\n{extra}"
        ),
    )
    .unwrap();
    (dir, cfg)
}

fn run(cfg: &Path, out: &Path, sets: &[&str]) {
    let mut args = vec![
        "mt2o",
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
        "--threads",
        "1",
    ];
    for s in sets {
        args.extend(["--set", s]);
    }
    mtlscope_ok(&args);
}

/// The rows of a CSV (header dropped), split on commas.
fn rows(path: &Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

/// (epoch, step, task, split, metric, value) of `method`'s model `k`.
fn model_rows(all: &[Vec<String>], method: &str, k: usize) -> Vec<Vec<String>> {
    all.iter()
        .filter(|r| r[0] == method && r[3] == k.to_string())
        .map(|r| [&r[1..3], &r[4..]].concat())
        .collect()
}

#[test]
fn identity_transfer_is_k_independent_single_lambda_runs_bit_for_bit() {
    let (dir, cfg) = setup("transfer = \"none\"\nbaseline = true\n");
    let all_out = dir.path().join("all");
    run(&cfg, &all_out, &[]);
    let all = rows(&all_out.join("mt2o.csv"));
    let lambdas = rows(&all_out.join("lambdas.csv"));
    assert_eq!(lambdas.len(), 3);
    for (k, l) in lambdas.iter().enumerate() {
        let mine = model_rows(&all, "mt2o", k);
        assert!(!mine.is_empty());
        // The baseline arm is the same K independent runs.
        assert_eq!(mine, model_rows(&all, "independent", k), "model {k}");
        let one = dir.path().join(format!("one{k}"));
        let set = format!("mt2o.lambdas=[[{}, {}]]", l[1], l[2]);
        run(&cfg, &one, &[&set, "mt2o.baseline=false"]);
        let single = rows(&one.join("mt2o.csv"));
        assert_eq!(
            model_rows(&single, "mt2o", 0),
            mine,
            "model {k}, lambda {l:?}"
        );
    }
}

#[test]
fn transfer_changes_the_models_learns_and_resumes_exactly() {
    // w = alpha × lr = 0.09 per step: strong enough to show on 26 steps.
    let (dir, cfg) = setup("transfer = \"constant\"\nalpha = 30.0\nbaseline = true\n");
    let out = dir.path().join("full");
    run(&cfg, &out, &[]);
    let all = rows(&out.join("mt2o.csv"));
    // Shapes: 2 methods × 3 evaluations × 3 models × 2 tasks × 2 splits × (loss, accuracy).
    assert_eq!(all.len(), 2 * 3 * 3 * 2 * 2 * 2);
    let header = std::fs::read_to_string(out.join("mt2o.csv")).unwrap();
    assert!(header.starts_with("method,epoch,step,model,task,split,metric,value\n"));
    let hv = rows(&out.join("hypervolume.csv"));
    assert_eq!(hv.len(), 2 * 3 * 2);
    assert!(hv.iter().all(|r| r[3].parse::<f64>().unwrap() >= 0.0));
    let run_json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    assert_eq!(run_json["status"], "completed");
    assert_eq!(run_json["k"], 3);
    assert_eq!(run_json["reference"].as_array().unwrap().len(), 2);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["methods"].as_array().unwrap().len(), 2);
    for f in ["mt2o_front", "mt2o_hypervolume"] {
        for ext in ["svg", "png"] {
            assert!(
                out.join("figures").join(format!("{f}.{ext}")).exists(),
                "{f}.{ext}"
            );
        }
    }
    let loss = |method: &str, k: usize, epoch: &str, task: &str| -> f64 {
        all.iter()
            .find(|r| {
                r[0] == method
                    && r[1] == epoch
                    && r[3] == k.to_string()
                    && r[4] == task
                    && r[5] == "test"
                    && r[6] == "loss"
            })
            .unwrap()[7]
            .parse()
            .unwrap()
    };
    for k in 0..3 {
        assert_ne!(
            model_rows(&all, "mt2o", k)[8..],
            model_rows(&all, "independent", k)[8..],
            "model {k}"
        );
        for task in ["fashion1", "fashion2"] {
            let (a, b) = (loss("mt2o", k, "0", task), loss("mt2o", k, "2", task));
            assert!(b < a, "model {k} {task}: {a} -> {b}");
        }
    }

    // Killed after epoch 1's checkpoint, then after epoch 2's CSVs but before its checkpoint:
    // each resume ends with the uninterrupted run's files.
    let cut = dir.path().join("cut");
    let bin = env!("CARGO_BIN_EXE_mtlscope");
    let killed = |fault: &str, resume: bool| {
        let mut c = std::process::Command::new(bin);
        c.args([
            "mt2o",
            "--out",
            cut.to_str().unwrap(),
            "--quiet",
            "--threads",
            "1",
        ]);
        if resume {
            c.arg("--resume");
        } else {
            c.args(["--config", cfg.to_str().unwrap()]);
        }
        let o = c.env("MTLSCOPE_FAULT", fault).output().unwrap();
        assert!(!o.status.success(), "{fault}: should have been killed");
    };
    killed("mt2o_epoch:1", false);
    killed("mt2o_csv:2", true);
    assert_eq!(rows(&cut.join("hypervolume.csv")).len(), hv.len());
    let resumed = mtlscope(&[
        "mt2o",
        "--out",
        cut.to_str().unwrap(),
        "--resume",
        "--quiet",
        "--threads",
        "1",
    ]);
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    for f in ["mt2o.csv", "hypervolume.csv", "lambdas.csv", "summary.json"] {
        assert_eq!(
            std::fs::read_to_string(cut.join(f)).unwrap(),
            std::fs::read_to_string(out.join(f)).unwrap(),
            "{f}"
        );
    }
}

#[test]
fn a_misspelt_mt2o_key_is_named() {
    let (dir, cfg) = setup("transfr = \"none\"\n");
    let o = mtlscope(&[
        "mt2o",
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        dir.path().join("x").to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("mt2o.transfr"), "{err}");
    // A parameter of another transfer kind is refused, named.
    let o = mtlscope(&[
        "mt2o",
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        dir.path().join("y").to_str().unwrap(),
        "--set",
        "mt2o.transfr=none",
        "--set",
        "mt2o.transfer=constant",
    ]);
    assert!(!o.status.success());
    let (dir, cfg) = setup("transfer = \"constant\"\ngamma = 0.5\n");
    let o = mtlscope(&[
        "mt2o",
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        dir.path().join("z").to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("mt2o.gamma applies to transfer = \"decaying\""),
        "{err}"
    );
}

#[test]
fn a_nan_loss_stops_naming_step_model_and_task() {
    let (dir, cfg) = setup("transfer = \"none\"\nbaseline = false\n");
    let out = dir.path().join("nan");
    let o = mtlscope(&[
        "mt2o",
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--threads",
        "1",
        "--set",
        "optim.name=sgd",
        "--set",
        "optim.lr=1e30",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("loss of task `") && err.contains("at step ") && err.contains("model "),
        "{err}"
    );
    let info = std::fs::read_to_string(out.join("run.json")).unwrap();
    assert!(info.contains("\"status\": \"failed\""), "{info}");
}
