//! The MNISTS setting end to end on a miniature copy in the publishers' layouts (MNIST's
//! gzipped IDX files, Fashion-MNIST's IDX files, a NotMNIST folder with unreadable PNGs): the
//! shipped quick experiment trains, evaluates, probes and reports; FashionMTL's "MTL: NotMNIST"
//! run config trains on the same folder.

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

    let out = tmp.path().join("exp");
    let out_s = out.to_str().unwrap();
    let data_set = format!("data.data_dir={data_s:?}");
    run(&[
        "experiment",
        "--config",
        "../../configs/mnists/quick.toml",
        "--out",
        out_s,
        "--jobs",
        "2",
        "--set",
        &data_set,
    ]);
    run(&["report", out_s]);
    let transfer =
        std::fs::read_to_string(out.join("report").join("tables").join("transfer.csv")).unwrap();
    assert!(
        transfer.contains("mtl_notmnist,fashion,test_accuracy,"),
        "{transfer}"
    );
    assert!(
        transfer.contains("mtl_all,fashion,test_accuracy,"),
        "{transfer}"
    );

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
