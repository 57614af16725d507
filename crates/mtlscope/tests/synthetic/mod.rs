//! Synthetic experiment directories with known trajectories, for the report tests
//! (`report_synthetic.rs`, `chromium_render.rs`).
//!
//! Tasks a, b; variants stl_a, stl_b, mtl_ab (UMTG), mgda_ab (SMTO); seeds 1–3; epochs 0..=30,
//! 10 steps per epoch. Training loss of a task: 2.3 at epoch 0, then 2·10^(−e/10) (STL) or
//! 2·10^(−e/15) (multi-task). Validation/test accuracy of a run is a constant c after epoch 0
//! (0.1 at epoch 0), val/test loss = 1 − c (2.3 at epoch 0). So every aggregate of a run's
//! metric is c, and each Δ is a difference of the constants below. Probes: sharpness =
//! 0.1 × training loss, coherence = 5 × training loss, Fisher trace = the epoch; multi-task runs
//! also have conflict_cos_umtg = 0.5 (UMTG) or 0.7 (SMTO).
//!
//! Runs are written in the current run format (long `trajectory.csv`, `run.json` through the
//! writer's own [`RunInfo`]), or in format 1 ([`write_run_format`]) to check that old run
//! directories still read to the same numbers.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::path::Path;

use mtlscope::task::{multiclass, TaskInfo};
use mtlscope::train::store::{RunInfo, Status, FORMAT_VERSION};

/// Accuracy constants of task a per variant and seed.
pub const A: [(&str, [f64; 3]); 3] = [
    ("stl_a", [0.80, 0.81, 0.82]),
    ("mtl_ab", [0.85, 0.86, 0.87]),
    ("mgda_ab", [0.80, 0.83, 0.86]),
];
/// Accuracy constants of task b per variant and seed.
pub const B: [(&str, [f64; 3]); 3] = [
    ("stl_b", [0.70, 0.71, 0.72]),
    ("mtl_ab", [0.66, 0.67, 0.68]),
    ("mgda_ab", [0.72, 0.73, 0.74]),
];

fn acc(variant: &str, task: &str, seed: usize) -> f64 {
    let table = if task == "a" { &A } else { &B };
    table
        .iter()
        .find(|(v, _)| *v == variant)
        .map(|(_, c)| c[seed])
        .unwrap()
}

/// The training loss of a run at epoch `e`.
pub fn train_loss(multi: bool, e: u32) -> f64 {
    let rate = if multi { 15.0 } else { 10.0 };
    if e == 0 {
        2.3
    } else {
        2.0 * 10f64.powf(-(e as f64) / rate)
    }
}

/// `tasks` as multi-class tasks (loss, accuracy), the only kind of run format 1.
pub fn multiclass_tasks(tasks: &[&str]) -> Vec<TaskInfo> {
    tasks
        .iter()
        .map(|t| TaskInfo {
            name: t.to_string(),
            kind: "multiclass".into(),
            metrics: multiclass::metrics(),
        })
        .collect()
}

/// `run.json` of a completed run of multi-class `tasks` (loss, accuracy), as the trainer writes
/// it: format 2 through [`RunInfo`], or format 1 (no `format_version`, task names only).
pub fn run_json(tasks: &[&str], seed: usize, format: u32) -> String {
    let mut v = serde_json::to_value(run_info(multiclass_tasks(tasks), seed)).unwrap();
    if format == 1 {
        let o = v.as_object_mut().unwrap();
        o.remove("format_version");
        o.insert("tasks".into(), serde_json::json!(tasks));
    }
    serde_json::to_string_pretty(&v).unwrap()
}

/// `run.json`'s contents for a completed 30-epoch run of `tasks`.
pub fn run_info(tasks: Vec<TaskInfo>, seed: usize) -> RunInfo {
    RunInfo {
        format_version: FORMAT_VERSION,
        status: Status::Completed,
        message: String::new(),
        seed: seed as u64 + 1,
        steps: 300,
        steps_total: 300,
        steps_per_epoch: 10,
        epochs: 30,
        tasks,
        wall_seconds: 1.0,
        device: "cpu".into(),
        versions: Default::default(),
        phases: Default::default(),
    }
}

/// A completed run of any `tasks` (their kinds and metrics as given), epochs 0..=30, 10 steps
/// an epoch: every metric on every split is `value(task, split, metric, epoch)`, in the current
/// run format; no probes.
pub fn write_general_run(
    dir: &Path,
    tasks: &[TaskInfo],
    objective: &str,
    seed: usize,
    value: &dyn Fn(&str, &str, &str, u32) -> f64,
) {
    std::fs::create_dir_all(dir).unwrap();
    let names: Vec<String> = tasks.iter().map(|t| format!("\"{}\"", t.name)).collect();
    std::fs::write(
        dir.join("config.toml"),
        format!(
            "[data]\ndataset = \"synthetic\"\ntasks = [{}]\n[objective]\nkind = \"{objective}\"\n",
            names.join(", ")
        ),
    )
    .unwrap();
    let mut traj = String::from("epoch,step,task,split,metric,value\n");
    for e in 0..=30u32 {
        for t in tasks {
            for split in ["train", "val", "test"] {
                for m in &t.metrics {
                    let v = value(&t.name, split, &m.name, e);
                    writeln!(traj, "{e},{},{},{split},{},{v}", e * 10, t.name, m.name).unwrap();
                }
            }
        }
    }
    std::fs::write(dir.join("trajectory.csv"), traj).unwrap();
    let info = run_info(tasks.to_vec(), seed);
    std::fs::write(
        dir.join("run.json"),
        serde_json::to_string_pretty(&info).unwrap(),
    )
    .unwrap();
}

/// One run: `acc(task)` its accuracy constant, `cos` its conflict_cos_umtg (multi-task only).
pub fn write_run(
    dir: &Path,
    tasks: &[&str],
    kind: &str,
    seed: usize,
    acc: &dyn Fn(&str) -> f64,
    cos: f64,
) {
    write_run_format(dir, tasks, kind, seed, acc, cos, FORMAT_VERSION)
}

/// [`write_run`] in run format `format` (1 or 2).
pub fn write_run_format(
    dir: &Path,
    tasks: &[&str],
    kind: &str,
    seed: usize,
    acc: &dyn Fn(&str) -> f64,
    cos: f64,
    format: u32,
) {
    std::fs::create_dir_all(dir).unwrap();
    let method = if kind == "aggregate" {
        "method = \"mgda\"\n"
    } else {
        ""
    };
    std::fs::write(
        dir.join("config.toml"),
        format!(
            "[data]\ndataset = \"synthetic\"\ntasks = [{}]\n[objective]\nkind = \"{kind}\"\n{method}",
            tasks.iter().map(|t| format!("\"{t}\"")).collect::<Vec<_>>().join(", ")
        ),
    )
    .unwrap();
    let multi = tasks.len() > 1;
    let mut traj = String::from(if format == 1 {
        "epoch,step,task,split,loss,accuracy\n"
    } else {
        "epoch,step,task,split,metric,value\n"
    });
    let mut probes = String::from("epoch,step,task,probe,value\n");
    for e in 0..=30u32 {
        let step = e * 10;
        for t in tasks {
            let c = acc(t);
            let train = train_loss(multi, e);
            let (l, a) = if e == 0 { (2.3, 0.1) } else { (1.0 - c, c) };
            for (split, loss, accuracy) in [
                ("train", train, 1.0 - train / 3.0),
                ("val", l, a),
                ("test", l, a),
            ] {
                if format == 1 {
                    writeln!(traj, "{e},{step},{t},{split},{loss},{accuracy}").unwrap();
                } else {
                    writeln!(traj, "{e},{step},{t},{split},loss,{loss}").unwrap();
                    writeln!(traj, "{e},{step},{t},{split},accuracy,{accuracy}").unwrap();
                }
            }
            writeln!(probes, "{e},{step},{t},sharpness,{}", 0.1 * train).unwrap();
            writeln!(probes, "{e},{step},{t},fim_trace,{e}").unwrap();
            writeln!(probes, "{e},{step},{t},coherence,{}", 5.0 * train).unwrap();
            if multi {
                writeln!(probes, "{e},{step},{t},conflict_cos_umtg,{cos}").unwrap();
            }
        }
    }
    std::fs::write(dir.join("trajectory.csv"), traj).unwrap();
    std::fs::write(dir.join("probes.csv"), probes).unwrap();
    std::fs::write(dir.join("run.json"), run_json(tasks, seed, format)).unwrap();
}

/// The experiment of the module docs under `root` (runs/<variant>/seed<k>/), plus a fourth
/// STL seed that crashed.
pub fn make_experiment(root: &Path) {
    make_experiment_format(root, FORMAT_VERSION)
}

/// [`make_experiment`] with every run in run format `format`.
pub fn make_experiment_format(root: &Path, format: u32) {
    let variants: [(&str, &[&str], &str); 4] = [
        ("stl_a", &["a"], "umtg"),
        ("stl_b", &["b"], "umtg"),
        ("mtl_ab", &["a", "b"], "umtg"),
        ("mgda_ab", &["a", "b"], "aggregate"),
    ];
    for (v, tasks, kind) in variants {
        for s in 0..3 {
            let cos = if kind == "umtg" { 0.5 } else { 0.7 };
            write_run_format(
                &root.join(format!("runs/{v}/seed{}", s + 1)),
                tasks,
                kind,
                s,
                &|t| acc(v, t, s),
                cos,
                format,
            );
        }
    }
    // A fourth STL seed that crashed: listed as not used, never averaged.
    let d = root.join("runs/stl_a/seed4");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(
        d.join("run.json"),
        r#"{"status": "running", "message": "killed"}"#,
    )
    .unwrap();
}
