//! The CelebA setting end to end on a miniature copy in the publisher's layout: `data prepare`
//! decodes it into a cache, `data check` reads it, the shipped quick experiment (ResNet-18, STL,
//! 3 tasks and all 40) trains, evaluates, probes and reports, and every aggregator and loss
//! weighting trains at m = 40.

mod common;

fn run(args: &[&str]) -> String {
    common::mtlscope_ok(args).0
}

/// A miniature CelebA (40 images of 36x44: 32 train, 4 val, 4 test) prepared at 16x16.
fn cache(tmp: &std::path::Path) -> std::path::PathBuf {
    let src = tmp.join("celeba");
    mtlscope::data::celeba::write_miniature(&src, 40, (36, 44), 5).unwrap();
    let cache = tmp.join("celeba.mtlcache");
    let out = run(&[
        "data",
        "prepare",
        "celeba",
        "--src",
        src.to_str().unwrap(),
        "--out",
        cache.to_str().unwrap(),
        "--size",
        "16",
    ]);
    assert!(
        out.contains("40 images (32 train, 4 val, 4 test) at 16x16"),
        "{out}"
    );
    cache
}

#[test]
fn quick_experiment_runs_and_reports_on_a_miniature_copy() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = cache(tmp.path());
    let check = run(&["data", "check", "celeba", "--dir", cache.to_str().unwrap()]);
    assert!(
        check.contains("OK, 40 tasks") && check.contains("Smiling: train 32, val 4, test 4"),
        "{check}"
    );
    let out = tmp.path().join("exp");
    let data_set = format!("data.data_dir={:?}", cache.to_str().unwrap());
    let quick = "../../configs/celeba/quick.toml";
    let transfer = common::experiment_and_report(quick, &out, &["--set", &data_set]);
    assert!(
        transfer.contains("mtl_three,Smiling,test_accuracy,"),
        "{transfer}"
    );
    assert!(
        transfer.contains("mtl_all,Smiling,test_accuracy,"),
        "{transfer}"
    );
    let run_dir = common::first_run(&out, "mtl_all");
    let info = mtlscope::train::run_files::read_run_info(&run_dir).unwrap();
    assert_eq!(info.tasks.len(), 40);
    let run_dir = common::first_run(&out, "mtl_three");
    let probes = mtlscope::train::run_files::read_probes(&run_dir).unwrap();
    assert!(probes
        .iter()
        .any(|p| p.probe == "conflict_cos_umtg" && p.value.is_finite()));
}

#[test]
fn every_aggregator_and_weighting_trains_at_40_tasks() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = cache(tmp.path());
    let attrs: Vec<String> = mtlscope::data::celeba::ATTRIBUTES
        .iter()
        .map(|a| format!("{a:?}"))
        .collect();
    let cfg = tmp.path().join("m40.toml");
    std::fs::write(
        &cfg,
        format!(
            "[data]\ndataset = \"celeba\"\ntasks = [{}]\ndata_dir = {:?}\ntrain_limit = 16\n\n\
             [model]\nencoder = \"convnet\"\nchannels = [4, 8]\n\n\
             [optim]\nname = \"adam\"\nlr = 0.001\n\n\
             [train]\nepochs = 1\nbatch_size = 8\nseed = 1\n\n[probes]\nenabled = false\n",
            attrs.join(", "),
            cache.to_str().unwrap()
        ),
    )
    .unwrap();
    let mut methods: Vec<(&str, &str)> = mtl_aggregate::registry::names()
        .into_iter()
        .map(|n| ("aggregate", n))
        .collect();
    methods.extend(
        mtlscope::train::objective::weighting::WEIGHTINGS
            .iter()
            .map(|w| ("weighting", w.name)),
    );
    assert!(methods.len() >= 20, "{methods:?}");
    for (kind, method) in methods {
        let out = tmp.path().join(format!("{kind}_{method}"));
        let ov = [
            format!("objective.kind={kind:?}"),
            format!("objective.method={method:?}"),
        ];
        let ov: Vec<&str> = ov.iter().map(String::as_str).collect();
        let o = mtlscope::train::train(common::run_options(&cfg, &out, &ov, false, None))
            .unwrap_or_else(|e| panic!("{kind}/{method} at m = 40: {e:#}"));
        assert_eq!(
            o.status,
            mtlscope::train::store::Status::Completed,
            "{kind}/{method} at m = 40: {}",
            o.message
        );
        let traj = std::fs::read_to_string(out.join("trajectory.csv")).unwrap();
        let last = traj.lines().last().unwrap();
        assert!(
            traj.contains(",Young,") && !traj.contains("NaN"),
            "{kind}/{method}: {last}"
        );
    }
}
