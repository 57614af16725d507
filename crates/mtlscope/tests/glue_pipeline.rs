//! The GLUE setting end to end on a miniature copy: `mtlscope data miniature glue` writes the
//! GLUE files and a tiny random RoBERTa folder (config.json, model.safetensors, tokenizer.json),
//! `configs/glue/quick.toml` trains STL on RTE, STS-B and CoLA and MTL over all 8 tasks through
//! the binary, and the report's tables carry every GLUE metric; a run is deterministic and a
//! run cut mid-way and resumed writes the same trajectory (the encoder's dropout masks are
//! keyed by the batch, not drawn from a running generator).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use mtlscope::train::{store::Status, train};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_mtlscope")
}

fn configs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/glue")
}

fn run(args: &[&str], extra: &[&Path]) -> String {
    let o = Command::new(bin()).args(args).args(extra).output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        o.status.success(),
        "mtlscope {args:?}: {out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

/// `(task, split, metric)` of every row of a trajectory.
fn rows(file: &Path) -> Vec<(String, String, String)> {
    let text = std::fs::read_to_string(file).unwrap();
    text.lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[2].to_string(), f[3].to_string(), f[4].to_string())
        })
        .collect()
}

#[test]
fn quick_glue_experiment_trains_evaluates_every_metric_and_reports() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("glue");
    run(&["data", "miniature", "glue", "--out"], &[&data]);
    let model = data.join("tiny-roberta");
    let exp = tmp.path().join("exp");
    let pretrained = format!("model.pretrained={}", model.display());
    run(
        &[
            "experiment",
            "--config",
            configs().join("quick.toml").to_str().unwrap(),
            "--jobs",
            "2",
            "--set",
            &pretrained,
            "--out",
        ],
        &[&exp, Path::new("--data-dir"), &data],
    );
    // The tokenizer defaulted to the model folder, and the run's config says so.
    let cfg = std::fs::read_to_string(exp.join("runs/mtl_all/seed1/config.toml")).unwrap();
    assert!(
        cfg.contains("tokenizer = ") && cfg.contains("tiny-roberta"),
        "{cfg}"
    );

    // Every GLUE metric of every task on every split, in the MTL run.
    let traj = rows(&exp.join("runs/mtl_all/seed1/trajectory.csv"));
    let expect: [(&str, &[&str]); 8] = [
        ("cola", &["loss", "mcc", "accuracy"]),
        ("sst2", &["loss", "accuracy"]),
        ("mrpc", &["loss", "accuracy", "f1"]),
        ("stsb", &["loss", "pearson", "spearman", "mse", "mae"]),
        ("qqp", &["loss", "accuracy", "f1"]),
        ("mnli", &["loss", "accuracy", "accuracy_m", "accuracy_mm"]),
        ("qnli", &["loss", "accuracy"]),
        ("rte", &["loss", "accuracy"]),
    ];
    for (task, metrics) in expect {
        for split in ["train", "val", "test"] {
            for m in metrics {
                let hit = (task.to_string(), split.to_string(), m.to_string());
                assert!(traj.contains(&hit), "no {hit:?} in the MTL trajectory");
            }
        }
    }
    let run_json = std::fs::read_to_string(exp.join("runs/mtl_all/seed1/run.json")).unwrap();
    assert!(run_json.contains("\"completed\""), "{run_json}");

    run(&["report"], &[&exp]);
    let transfer = std::fs::read_to_string(exp.join("report/tables/transfer.csv")).unwrap();
    for hit in [
        "mtl_all,cola,test_mcc,",
        "mtl_all,stsb,test_pearson,",
        "mtl_all,stsb,test_spearman,",
        "mtl_all,rte,test_accuracy,",
    ] {
        assert!(
            transfer.contains(hit),
            "{hit} missing from transfer.csv:\n{transfer}"
        );
    }
    // Selection ran on each STL task's primary metric: CoLA's MCC, STS-B's Pearson.
    let selection = std::fs::read_to_string(exp.join("report/tables/selection.csv")).unwrap();
    assert!(!selection.trim().is_empty());
    let delta_m = std::fs::read_to_string(exp.join("report/tables/delta_m.csv")).unwrap();
    assert!(delta_m.contains("mtl_all"), "{delta_m}");
    let html = std::fs::read_to_string(exp.join("report/index.html")).unwrap();
    assert!(html.contains("mcc") && html.contains("pearson"));
}

/// Two runs of one config write the same trajectory, and a run cut after 3 steps and resumed
/// writes it too: dropout is on (0.1) in the encoder and its masks repeat.
#[test]
fn glue_runs_are_deterministic_and_resume_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("glue");
    mtlscope::data::glue::write_miniature(&data, 24).unwrap();
    let model = data.join("tiny-roberta");
    mtlscope::data::tokenize::write_tiny_tokenizer(&model).unwrap();
    mtlscope::model::transformer::write_random_folder(
        &model,
        &mtlscope::model::transformer::TransformerConfig::tiny_roberta(),
        3,
    )
    .unwrap();
    let cfg = configs().join("base.toml");
    let d = format!("data.data_dir={:?}", data.to_str().unwrap());
    let m = format!("model.pretrained={:?}", model.to_str().unwrap());
    let ov = [
        d.as_str(),
        m.as_str(),
        "data.tasks=[\"rte\", \"stsb\", \"mnli\"]",
        "data.max_length=24",
        "train.epochs=1",
        "train.batch_size=4",
        "train.eval_every=2",
        "optim.lr=0.001",
        "objective.kind=aggregate",
        "objective.method=upgrad",
    ];
    let dirs: Vec<PathBuf> = ["a", "b", "cut"]
        .iter()
        .map(|d| tmp.path().join(d))
        .collect();
    for d in &dirs[..2] {
        let o = train(common::run_options(&cfg, d, &ov, false, None)).unwrap();
        assert_eq!(o.status, Status::Completed);
    }
    let o = train(common::run_options(&cfg, &dirs[2], &ov, false, Some(3))).unwrap();
    assert_eq!(o.status, Status::Interrupted);
    let o = train(common::run_options(&cfg, &dirs[2], &ov, true, None)).unwrap();
    assert_eq!(o.status, Status::Completed);
    let read = |d: &Path| std::fs::read_to_string(d.join("trajectory.csv")).unwrap();
    let a = read(&dirs[0]);
    assert!(a.contains(",mnli,test,accuracy_mm,"), "{a}");
    // Training moved the loss (the run is not a no-op whose trajectories agree trivially).
    let losses: Vec<&str> = a
        .lines()
        .filter(|l| l.contains(",rte,train,loss,"))
        .collect();
    assert!(losses.len() >= 2 && losses[0].split(',').nth(5) != losses[1].split(',').nth(5));
    assert_eq!(a, read(&dirs[1]), "two runs of one config differ");
    assert_eq!(a, read(&dirs[2]), "the resumed run differs");
}
