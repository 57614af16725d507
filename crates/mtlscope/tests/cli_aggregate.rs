//! `mtlscope aggregate`, `methods` and `hypervolume` run as a binary on tiny JSON files.

use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mtlscope"))
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().unwrap()
}

fn stdout_json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "status {:?}, stderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

#[test]
fn aggregates_a_conflicting_pair() {
    let dir = tempfile::tempdir().unwrap();
    // g1 = (1, 0), g2 = (-1, 1): UPGrad weights (1, 3/4), d = (1/4, 3/4).
    let f = write(dir.path(), "j.json", r#"{"jacobian": [[1, 0], [-1, 1]]}"#);
    let out = stdout_json(&run(&[
        "aggregate",
        "--method",
        "upgrad",
        "--input",
        f.to_str().unwrap(),
    ]));
    assert_eq!(out["method"], "upgrad");
    let d = floats(&out["direction"]);
    let w = floats(&out["weights"]);
    assert!(
        (d[0] - 0.25).abs() < 1e-15 && (d[1] - 0.75).abs() < 1e-15,
        "{d:?}"
    );
    assert!(
        (w[0] - 1.0).abs() < 1e-15 && (w[1] - 0.75).abs() < 1e-15,
        "{w:?}"
    );
}

#[test]
fn params_stdin_and_null_weights() {
    // cagrad with c = 0 is the mean, whatever the rescaling.
    let mut child = bin()
        .args([
            "aggregate",
            "--method",
            "cagrad",
            "--param",
            "c=0",
            "--param",
            "rescale=0",
            "--input",
            "-",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(br#"{"jacobian": [[2, 0], [0, 4]]}"#)
        .unwrap();
    let out = stdout_json(&child.wait_with_output().unwrap());
    assert_eq!(floats(&out["direction"]), vec![1.0, 2.0]);
    // GradDrop is not a weighting: weights is null; with leak = 1 it is the sum.
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "j.json", r#"{"jacobian": [[1, -2], [3, 5]]}"#);
    let out = stdout_json(&run(&[
        "aggregate",
        "--method",
        "graddrop",
        "--param",
        "leak=1",
        "--input",
        f.to_str().unwrap(),
    ]));
    assert_eq!(out["weights"], Value::Null);
    assert_eq!(floats(&out["direction"]), vec![4.0, 3.0]);
}

#[test]
fn unknown_method_exits_2_and_lists_the_known_ones() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "j.json", r#"{"jacobian": [[1]]}"#);
    let out = run(&[
        "aggregate",
        "--method",
        "pcgard",
        "--input",
        f.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("unknown method `pcgard`"), "{err}");
    for name in ["mgda", "pcgrad", "upgrad", "nash_mtl", "graddrop"] {
        assert!(err.contains(name), "{name} missing from: {err}");
    }
}

#[test]
fn bad_params_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "j.json", r#"{"jacobian": [[1]]}"#);
    let f = f.to_str().unwrap();
    let out = run(&[
        "aggregate",
        "--method",
        "cagrad",
        "--param",
        "cc=1",
        "--input",
        f,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("unknown parameter `cc` for method cagrad; known: c, rescale"));
    let out = run(&[
        "aggregate",
        "--method",
        "cagrad",
        "--param",
        "c=-0.5",
        "--input",
        f,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("cagrad.c must be >= 0, got -0.5"));
    let out = run(&[
        "aggregate",
        "--method",
        "cagrad",
        "--param",
        "c",
        "--input",
        f,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--param `c`: expected key=value"));
}

#[test]
fn invalid_jacobians_say_where() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text, want) in [
        (
            "ragged",
            r#"{"jacobian": [[1, 2], [3]]}"#,
            "ragged jacobian: row 1 has 1 entries, expected 2",
        ),
        ("empty", r#"{"jacobian": []}"#, "empty jacobian"),
        ("empty_row", r#"{"jacobian": [[]]}"#, "empty jacobian"),
        (
            "nan",
            r#"{"jacobian": [[1, 2], [3, NaN]]}"#,
            "non-finite value NaN in jacobian at row 1, column 1",
        ),
        (
            "inf",
            r#"{"jacobian": [[-Infinity, 2]]}"#,
            "non-finite value -inf in jacobian at row 0, column 0",
        ),
        (
            "string",
            r#"{"jacobian": [[1, "x"]]}"#,
            "jacobian row 0, column 1",
        ),
        ("no_key", r#"{"jac": [[1]]}"#, "no \"jacobian\" key"),
        ("syntax", r#"{"jacobian": [[1,]]}"#, "invalid JSON"),
    ] {
        let f = write(dir.path(), &format!("{name}.json"), text);
        let out = run(&[
            "aggregate",
            "--method",
            "mean",
            "--input",
            f.to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(1), "{name}");
        let err = stderr(&out);
        assert!(err.contains(want), "{name}: {err}");
    }
}

#[test]
fn methods_lists_every_method_with_parameters() {
    let out = run(&["methods"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for name in mtl_aggregate::registry::names() {
        assert!(
            text.lines().any(|l| l.starts_with(name)),
            "{name} missing from: {text}"
        );
    }
    assert!(text.contains("c=0.4"), "{text}");
    assert!(text.contains("rescale=1"), "{text}");
    let out = stdout_json(&run(&["methods", "--json"]));
    let list = out.as_array().unwrap();
    let aggregators = list.iter().filter(|m| m["family"] == "aggregate").count();
    assert_eq!(aggregators, mtl_aggregate::registry::METHODS.len());
    let weightings: Vec<&str> = list
        .iter()
        .filter(|m| m["family"] == "weighting")
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert!(
        weightings.contains(&"gradnorm") && weightings.contains(&"famo"),
        "{weightings:?}"
    );
    assert!(text.contains("alpha=1.5"), "{text}");
    let graddrop = list.iter().find(|m| m["name"] == "graddrop").unwrap();
    assert_eq!(graddrop["kind"], "jacobian");
}

#[test]
fn hypervolume_cases() {
    let dir = tempfile::tempdir().unwrap();
    // Two points in 2-D: 2x1 + 1x2 - 1x1 = 3; the third is outside the reference box.
    let f = write(
        dir.path(),
        "p.json",
        r#"{"points": [[1, 2], [2, 1], [4, 0]]}"#,
    );
    let out = stdout_json(&run(&[
        "hypervolume",
        "--input",
        f.to_str().unwrap(),
        "--ref",
        "3,3",
    ]));
    assert_eq!(out["hypervolume"].as_f64().unwrap(), 3.0);
    // 3-D, negative reference coordinates.
    let f = write(dir.path(), "p3.json", r#"{"points": [[-2, -2, -2]]}"#);
    let out = stdout_json(&run(&[
        "hypervolume",
        "--input",
        f.to_str().unwrap(),
        "--ref",
        "-1,0,1",
    ]));
    assert_eq!(out["hypervolume"].as_f64().unwrap(), 1.0 * 2.0 * 3.0);
    // Mismatched dimensions.
    let f = write(dir.path(), "bad.json", r#"{"points": [[1, 2], [1, 2, 3]]}"#);
    let out = run(&[
        "hypervolume",
        "--input",
        f.to_str().unwrap(),
        "--ref",
        "3,3",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("point 1 has 3 coordinates, the reference point has 2"));
    let out = run(&[
        "hypervolume",
        "--input",
        f.to_str().unwrap(),
        "--ref",
        "3,x",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--ref value 1 (`x`) is not a number"));
}
