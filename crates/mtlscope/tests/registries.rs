//! The registries seen from the command line: `mtlscope datasets`, and every run of an
//! experiment resolved against them before anything starts.

use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mtlscope"))
}

#[test]
fn datasets_lists_tasks_with_kinds_and_metric_directions() {
    let out = bin().args(["datasets", "--json"]).output().unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let fm = v
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "fashion_mtl")
        .expect("fashion_mtl is registered");
    assert!(fm["layout"]
        .as_str()
        .unwrap()
        .contains("train-images-idx3-ubyte"));
    let tasks: Vec<&str> = fm["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(tasks, ["fashion1", "fashion2", "noisy_fashion", "notmnist"]);
    let m = &fm["tasks"][0]["metrics"];
    assert_eq!(m[0]["name"], "loss");
    assert_eq!(m[0]["direction"], "lower");
    assert_eq!(m[1]["name"], "accuracy");
    assert_eq!(m[1]["direction"], "higher");
    let text = bin().arg("datasets").output().unwrap();
    assert!(
        String::from_utf8_lossy(&text.stdout).contains("fashion1 (multiclass): loss↓, accuracy↑")
    );
}

/// A misspelt method in one variant's final stage fails the experiment at once, naming the
/// run and the method, before the experiment directory exists.
#[test]
fn experiment_resolves_every_run_before_starting() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::copy("../../configs/fashion_mtl/base.toml", dir.join("base.toml")).unwrap();
    let exp = |variant_set: &str| {
        format!(
            "[experiment]\nname = \"t\"\nbase = \"base.toml\"\nseeds = [1]\n\
             [sweep]\nseeds = [7]\n\
             [grid]\n\"optim.lr\" = [0.1, 0.01]\n\
             [[variant]]\nname = \"stl\"\nset = {{ \"data.tasks\" = [\"fashion1\"] }}\n\
             [[variant]]\nname = \"smto\"\nset = {variant_set}\n"
        )
    };
    let good = exp(r#"{ "objective.kind" = "aggregate", "objective.method" = "mgda" }"#);
    std::fs::write(dir.join("good.toml"), good).unwrap();
    let out = bin()
        .args(["experiment", "--dry-run", "--config"])
        .arg(dir.join("good.toml"))
        .arg("--out")
        .arg(dir.join("good"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let bad = exp(r#"{ "objective.kind" = "aggregate", "objective.method" = "mgdaa" }"#);
    std::fs::write(dir.join("bad.toml"), bad).unwrap();
    let out = bin()
        .args(["experiment", "--config"])
        .arg(dir.join("bad.toml"))
        .arg("--out")
        .arg(dir.join("bad"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("run `sweep/smto/lr0.1/seed7`") && err.contains("mgdaa"),
        "{err}"
    );
    assert!(!dir.join("bad").exists(), "nothing may be written");
}
