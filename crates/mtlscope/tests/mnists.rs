//! The MNISTS setting end to end on a miniature copy in the publishers' layouts (MNIST's
//! gzipped IDX files, Fashion-MNIST's IDX files, a NotMNIST folder with unreadable PNGs): the
//! shipped quick experiment trains, evaluates, probes and reports; FashionMTL's "MTL: NotMNIST"
//! run config trains on the same folder; the evaluation chunk size leaves the transfer table
//! the same up to float rounding.

mod common;

use common::mtlscope_ok as run;

#[test]
fn quick_experiment_and_fashion_notmnist_run_on_a_miniature_copy() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("mnists");
    mtlscope::data::mnists::write_miniature(&data, 40, 10, 2).unwrap();
    let data_s = data.to_str().unwrap();
    let (check, err) = run(&["data", "check", "mnists", "--dir", data_s]);
    assert!(check.contains("OK, 3 tasks"), "{check}");
    assert!(
        check.contains("notmnist: train 285, val 57, test 57"),
        "{check}"
    );
    // The two unreadable PNGs are skipped and said once.
    assert_eq!(err.matches("skipped 2 unreadable PNG").count(), 1, "{err}");

    let data_set = format!("data.data_dir={data_s:?}");
    let quick = "../../configs/mnists/quick.toml";
    let transfer =
        common::experiment_and_report(quick, &tmp.path().join("exp"), &["--set", &data_set]);
    assert!(
        transfer.contains("mtl_notmnist,fashion,test_accuracy,"),
        "{transfer}"
    );
    assert!(
        transfer.contains("mtl_all,fashion,test_accuracy,"),
        "{transfer}"
    );

    // The evaluation chunk changes evaluation sums by float rounding only (issue #17 moved its
    // default): the same experiment evaluated in chunks of 7 instead of 128 gives the same
    // transfer table, every number within 1e-6 (relative above 1) and every verdict equal.
    let out7 = tmp.path().join("exp7");
    let chunk7 = ["--set", &data_set, "--set", "train.eval_batch_size=7"];
    let transfer7 = common::experiment_and_report(quick, &out7, &chunk7);
    let cfg7 = std::fs::read_to_string(out7.join("runs/mtl_all/seed1/config.toml")).unwrap();
    assert!(cfg7.contains("eval_batch_size = 7"), "{cfg7}");
    assert_eq!(transfer.lines().count(), transfer7.lines().count());
    let mut numbers = 0;
    for (a, b) in transfer.lines().zip(transfer7.lines()) {
        for (x, y) in a.split(',').zip(b.split(',')) {
            match (x.parse::<f64>(), y.parse::<f64>()) {
                (Ok(x), Ok(y)) if x.is_finite() => {
                    assert!((x - y).abs() <= 1e-6 * x.abs().max(1.0), "{a}\n{b}");
                    numbers += 1;
                }
                _ => assert_eq!(x, y, "{a}\n{b}"),
            }
        }
    }
    assert!(numbers > 10, "{transfer}");

    // FashionMTL's fashion1 + notmnist, Fashion-MNIST found in the folder's fashion-mnist/.
    let run_out = tmp.path().join("fashion_notmnist");
    run(&[
        "train",
        "--config",
        "../../configs/fashion_mtl/mtl_notmnist.toml",
        "--out",
        run_out.to_str().unwrap(),
        "--data-dir",
        data_s,
        "--set",
        "train.epochs=1",
        "--set",
        "probes.enabled=false",
    ]);
    let info = mtlscope::train::run_files::read_run_info(&run_out).unwrap();
    let names: Vec<&str> = info.tasks.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["fashion1", "notmnist"]);
}
