//! The CIFAR-100 setting end to end on a miniature copy in the publisher's binary layout:
//! the shipped quick experiment (ResNet-18, STL and a 3-task MTL) trains, evaluates, probes and
//! reports.

mod common;

use std::process::Command;

#[test]
fn quick_experiment_runs_and_reports_on_a_miniature_copy() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("cifar-100-binary");
    mtlscope::data::cifar100::write_miniature(&data, 4, 2, 3).unwrap();
    let out = tmp.path().join("exp");
    let data_set = format!("data.data_dir={:?}", tmp.path().to_str().unwrap());
    let quick = "../../configs/cifar100/quick.toml";
    let transfer = common::experiment_and_report(quick, &out, &["--set", &data_set]);
    assert!(
        transfer.contains("mtl_three,fish,test_accuracy,"),
        "{transfer}"
    );
    // The MTL run recorded all three tasks and ResNet-18's probes.
    let run_dir = common::first_run(&out, "mtl_three");
    let info = mtlscope::train::run_files::read_run_info(&run_dir).unwrap();
    let names: Vec<&str> = info.tasks.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["fish", "aquatic_mammals", "insects"]);
    let probes = mtlscope::train::run_files::read_probes(&run_dir).unwrap();
    assert!(probes
        .iter()
        .any(|p| p.probe == "sharpness" && p.value.is_finite()));
    assert!(probes.iter().any(|p| p.probe == "conflict_cos_umtg"));
}

#[test]
fn unknown_task_and_foreign_keys_are_named() {
    let bad = mtlscope::config::RunConfig::from_toml_str(
        "[data]\ndataset = \"cifar100\"\ntasks = [\"fishes\"]\n",
        &[],
    )
    .unwrap();
    let e = format!("{:#}", mtlscope::resolve::check_run(&bad).unwrap_err());
    assert!(e.contains("fishes") && e.contains("aquatic_mammals"), "{e}");
    let bad = mtlscope::config::RunConfig::from_toml_str(
        "[data]\ndataset = \"fashion_mtl\"\ntasks = [\"fashion1\"]\nval_size = 10\n",
        &[],
    )
    .unwrap();
    let e = format!("{:#}", mtlscope::resolve::check_run(&bad).unwrap_err());
    assert!(e.contains("data.val_size"), "{e}");
    let bad =
        mtlscope::config::RunConfig::from_toml_str("[model]\nvariant = \"tiny\"\n", &[]).unwrap();
    let e = format!("{:#}", mtlscope::resolve::check_run(&bad).unwrap_err());
    assert!(e.contains("model.variant") && e.contains("tiny"), "{e}");
}

/// `mtlscope experiment --dry-run` of a shipped CIFAR-100 config: its output, after checking
/// that it succeeded.
fn dry_run(config: &str) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_mtlscope"))
        .args(["experiment", "--config"])
        .arg(format!("../../configs/cifar100/{config}"))
        .arg("--out")
        .arg(tmp.path().join("exp"))
        .arg("--dry-run")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{text}");
    text
}

/// The shipped paper-protocol experiment plans: 24 variants × 6 grid points in the sweep.
#[test]
fn paper_experiment_plans_both_stages() {
    let text = dry_run("experiment.toml");
    assert!(text.contains("144"), "{text}");
    assert!(text.contains("stl_large_man_made_outdoor_things"), "{text}");
}

/// `mtlscope data check` loads a good copy and names the problem in a bad one.
#[test]
fn data_check_reports_splits_or_the_problem() {
    let tmp = tempfile::tempdir().unwrap();
    mtlscope::data::cifar100::write_miniature(tmp.path(), 2, 1, 0).unwrap();
    let check = || {
        Command::new(env!("CARGO_BIN_EXE_mtlscope"))
            .args([
                "data",
                "check",
                "cifar100",
                "--dir",
                tmp.path().to_str().unwrap(),
            ])
            .output()
            .unwrap()
    };
    let o = check();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success() && text.contains("OK, 20 tasks"),
        "{text}"
    );
    assert!(
        text.contains("vehicles_2: train 5, val 5, test 5"),
        "{text}"
    );
    let f = tmp.path().join("test.bin");
    let bytes = std::fs::read(&f).unwrap();
    std::fs::write(&f, &bytes[..bytes.len() - 1]).unwrap();
    let o = check();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err.contains("test.bin") && err.contains("truncated") && err.contains("a good copy"),
        "{err}"
    );
}

/// The §5 design: auxiliary sets drawn per target become variants of the plan.
#[test]
fn auxiliary_sets_expand_into_variants() {
    let text = dry_run("auxiliary.toml");
    for v in [
        "aux_fish_1",
        "aux_fish_8",
        "aux_people_3",
        "aux_vehicles_1_8",
        "stl_fish",
    ] {
        assert!(text.contains(&format!("{v}/seed3")), "{v}: {text}");
    }
}
