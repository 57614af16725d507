//! NYUv2 and Cityscapes from miniature copies in the layout of MTAN's preprocessed release:
//! `data check` reads them, the shipped NYUv2 quick experiment trains STL and MTL, evaluates
//! with the LibMTL metrics and reports Δm; the Cityscapes base config trains on its copy.

mod common;

fn run(args: &[&str]) -> String {
    common::mtlscope_ok(args).0
}

#[test]
fn nyuv2_quick_experiment_reports_delta_m_and_cityscapes_trains() {
    let tmp = tempfile::tempdir().unwrap();
    let nyu = tmp.path().join("nyuv2");
    mtlscope::data::nyuv2::write_miniature(&nyu, 12, 4, (32, 64), 1).unwrap();
    let check = run(&["data", "check", "nyuv2", "--dir", nyu.to_str().unwrap()]);
    assert!(check.contains("OK, 3 tasks"), "{check}");
    let out = tmp.path().join("exp");
    let quick = "../../configs/nyuv2/quick.toml";
    let transfer =
        common::experiment_and_report(quick, &out, &["--data-dir", nyu.to_str().unwrap()]);
    let tables = out.join("report").join("tables");
    for m in [
        "mtl_all,segmentation,test_miou,",
        "mtl_all,depth,test_abs_err,",
        "mtl_all,normal,test_angle_mean,",
    ] {
        assert!(transfer.contains(m), "{m}: {transfer}");
    }
    let delta = std::fs::read_to_string(tables.join("delta_m.csv")).unwrap();
    assert!(
        delta.contains("mtl_all") && delta.contains("mgda_all"),
        "{delta}"
    );

    let city = tmp.path().join("cityscapes2");
    mtlscope::data::cityscapes::write_miniature(&city, 6, 2, (32, 64), true).unwrap();
    let run_out = tmp.path().join("city_run");
    run(&[
        "train",
        "--config",
        "../../configs/cityscapes/base.toml",
        "--out",
        run_out.to_str().unwrap(),
        "--data-dir",
        city.to_str().unwrap(),
        "--set",
        "train.epochs=1",
        "--set",
        "data.val_size=1",
        "--set",
        "train.batch_size=2",
    ]);
    let traj = std::fs::read_to_string(run_out.join("trajectory.csv")).unwrap();
    assert!(
        traj.contains(",segmentation,test,miou,") && traj.contains(",depth,test,rel_err,"),
        "{traj}"
    );
}
