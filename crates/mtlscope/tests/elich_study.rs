//! Elich et al.'s optimizer study end to end on a miniature NYUv2 (`configs/elich/tiny.toml`):
//! early stopping on the validation Δm, Δm over metrics, Pareto-optimal counts and the
//! parallel-coordinates figure, each checked against a computation written here from the run
//! files alone.
mod common;

use std::collections::HashMap;
use std::path::Path;

use common::{mtlscope, mtlscope_ok};

type Row = HashMap<String, String>;
/// (task, split, metric) → [(step, value)].
type Trajectory = HashMap<(String, String, String), Vec<(u64, f64)>>;

fn read_csv(path: &Path) -> Vec<Row> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let h = r.headers().unwrap().clone();
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            h.iter()
                .zip(rec.iter())
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// (task, split, metric) → [(step, value)] of a run's trajectory.csv.
fn trajectory(run: &Path) -> Trajectory {
    let mut t = Trajectory::new();
    for r in read_csv(&run.join("trajectory.csv")) {
        t.entry((r["task"].clone(), r["split"].clone(), r["metric"].clone()))
            .or_default()
            .push((r["step"].parse().unwrap(), r["value"].parse().unwrap()));
    }
    t
}

fn at(t: &Trajectory, k: (&str, &str, &str), step: u64) -> f64 {
    t[&(k.0.to_string(), k.1.to_string(), k.2.to_string())]
        .iter()
        .find(|p| p.0 == step)
        .unwrap()
        .1
}

#[test]
fn tiny_optimizer_study_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("nyu");
    let exp = tmp.path().join("exp");
    let data_s = data.to_str().unwrap();
    mtlscope_ok(&["data", "miniature", "nyuv2", "--out", data_s]);
    // A second write into the same folder is refused rather than mixing two copies.
    let o = mtlscope(&["data", "miniature", "nyuv2", "--out", data_s]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("not empty"));
    let cfg = concat!(env!("CARGO_MANIFEST_DIR"), "/../../configs/elich/tiny.toml");
    let exp_s = exp.to_str().unwrap();
    mtlscope_ok(&[
        "experiment",
        "--config",
        cfg,
        "--out",
        exp_s,
        "--data-dir",
        data_s,
        "--jobs",
        "2",
    ]);
    mtlscope_ok(&["report", exp_s]);
    let tables = exp.join("report/tables");

    // Selection: the STL baselines on their validation loss, the multi-task runs on val Δm.
    let sel = read_csv(&tables.join("selection.csv"));
    for r in &sel {
        let want = if r["variant"].starts_with("stl_") {
            "val_loss"
        } else {
            "val_delta_m"
        };
        assert_eq!(r["metric"], want, "{r:?}");
        assert_eq!(r["aggregate"], "best_val");
    }

    // The axes, in the study's order, with their better sides.
    let study = read_csv(&tables.join("optimizer_study.csv"));
    let mut axes: Vec<(String, String, bool)> = Vec::new();
    for r in &study {
        let a = (
            r["task"].clone(),
            r["metric"].clone(),
            r["higher_is_better"] == "true",
        );
        if !axes.contains(&a) {
            axes.push(a);
        }
    }
    assert_eq!(axes.len(), 9, "{axes:?}"); // mIoU, pixAcc, 2 depth errors, 5 normal metrics

    // Baseline by hand: each STL variant's selected run, its validation metrics at its lowest
    // validation loss (one seed, so the seed mean is that run).
    let selected = |v: &str| {
        sel.iter()
            .find(|r| r["variant"] == v && r["selected"] == "true")
            .unwrap()["grid"]
            .clone()
    };
    let mut base: HashMap<(String, String), f64> = HashMap::new();
    for task in ["segmentation", "depth", "normal"] {
        let v = format!("stl_{task}");
        let t = trajectory(&exp.join("runs").join(&v).join(selected(&v)).join("seed1"));
        let loss = &t[&(task.to_string(), "val".to_string(), "loss".to_string())];
        let best = loss
            .iter()
            .filter(|p| p.0 > 0)
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap()
            .0;
        for (at_task, m, _) in axes.iter().filter(|a| a.0 == task) {
            base.insert((at_task.clone(), m.clone()), at(&t, (task, "val", m), best));
        }
    }
    // Early stopping by hand for every multi-task point: the checkpoint of lowest validation Δm
    // (task-first, LibMTL's rule) and its test metrics; Δm over the 9 metrics against the STL
    // test values at their own early stops.
    let signed =
        |v: f64, b: f64, higher: bool| (if higher { -1.0 } else { 1.0 }) * (v - b) / b * 100.0;
    let mut points: Vec<(String, String, Vec<f64>)> = Vec::new();
    for r in study
        .iter()
        .filter(|r| r["task"] == "segmentation" && r["metric"] == "miou")
    {
        let (v, tag) = (&r["variant"], &r["grid_tag"]);
        let t = trajectory(&exp.join("runs").join(v).join(tag).join("seed1"));
        let steps: Vec<u64> = t[&("segmentation".into(), "val".into(), "miou".into())]
            .iter()
            .map(|p| p.0)
            .filter(|s| *s > 0)
            .collect();
        let val_dm = |s: u64| {
            let mut per_task = Vec::new();
            for task in ["segmentation", "depth", "normal"] {
                let terms: Vec<f64> = axes
                    .iter()
                    .filter(|a| a.0 == task)
                    .map(|(_, m, h)| {
                        signed(
                            at(&t, (task, "val", m), s),
                            base[&(task.into(), m.clone())],
                            *h,
                        )
                    })
                    .collect();
                per_task.push(terms.iter().sum::<f64>() / terms.len() as f64);
            }
            per_task.iter().sum::<f64>() / 3.0
        };
        let mut best = steps[0];
        for &s in &steps {
            if val_dm(s) < val_dm(best) {
                best = s;
            }
        }
        let values: Vec<f64> = axes
            .iter()
            .map(|(task, m, _)| at(&t, (task, "test", m), best))
            .collect();
        for (a, want) in axes.iter().zip(&values) {
            let got: f64 = study
                .iter()
                .find(|x| {
                    &x["variant"] == v
                        && &x["grid_tag"] == tag
                        && x["task"] == a.0
                        && x["metric"] == a.1
                })
                .unwrap()["value"]
                .parse()
                .unwrap();
            assert!(
                (got - want).abs() <= 1e-12 * want.abs().max(1.0),
                "{v}/{tag} {a:?}: {got} vs {want}"
            );
        }
        points.push((v.clone(), tag.clone(), values));
    }
    assert_eq!(points.len(), 12, "6 multi-task variants x 2 learning rates");

    // Δm of each selected variant (best_val) = flat mean over the 9 metrics vs STL test values.
    let mut stl_test: HashMap<(String, String), f64> = HashMap::new();
    for task in ["segmentation", "depth", "normal"] {
        let v = format!("stl_{task}");
        let t = trajectory(&exp.join("runs").join(&v).join(selected(&v)).join("seed1"));
        let loss = &t[&(task.to_string(), "val".to_string(), "loss".to_string())];
        let best = loss
            .iter()
            .filter(|p| p.0 > 0)
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap()
            .0;
        for (_, m, _) in axes.iter().filter(|a| a.0 == task) {
            stl_test.insert((task.into(), m.clone()), at(&t, (task, "test", m), best));
        }
    }
    let dm = read_csv(&tables.join("delta_m.csv"));
    for (v, tag, values) in &points {
        if selected(v) != *tag {
            continue;
        }
        let want: f64 = axes
            .iter()
            .zip(values)
            .map(|((task, m, h), x)| signed(*x, stl_test[&(task.clone(), m.clone())], *h))
            .sum::<f64>()
            / 9.0;
        let got: f64 = dm
            .iter()
            .find(|r| &r["variant"] == v && r["aggregate"] == "best_val")
            .unwrap()["delta_m_pct"]
            .parse()
            .unwrap();
        assert!(
            (got - want).abs() < 1e-9 * want.abs().max(1.0),
            "{v}: Δm {got} vs {want}"
        );
    }

    // Pareto-optimal counts by brute force over the points.
    let family = |v: &str| {
        let o = study.iter().find(|r| r["variant"] == v).unwrap()["optimizer"].clone();
        if o == "adatask" {
            "adam".to_string()
        } else {
            o
        }
    };
    let dominates = |a: &[f64], b: &[f64]| {
        let mut strictly = false;
        for ((x, y), ax) in a.iter().zip(b).zip(&axes) {
            let (x, y) = if ax.2 { (-x, -y) } else { (*x, *y) };
            if x > y {
                return false;
            }
            strictly |= x < y;
        }
        strictly
    };
    let counts = read_csv(&tables.join("pareto_counts.csv"));
    assert!(!counts.is_empty());
    for c in &counts {
        let (f, g) = (&c["optimizer"], &c["versus"]);
        let mine: Vec<&Vec<f64>> = points
            .iter()
            .filter(|p| family(&p.0) == *f)
            .map(|p| &p.2)
            .collect();
        let po_full = mine
            .iter()
            .filter(|p| !points.iter().any(|q| dominates(&q.2, p)))
            .count();
        let po_vs = mine
            .iter()
            .filter(|p| {
                !points
                    .iter()
                    .filter(|q| family(&q.0) == *g)
                    .any(|q| dominates(&q.2, p))
            })
            .count();
        assert_eq!(c["points"].parse::<usize>().unwrap(), mine.len(), "{c:?}");
        assert_eq!(c["po_full"].parse::<usize>().unwrap(), po_full, "{c:?}");
        assert_eq!(c["po_versus"].parse::<usize>().unwrap(), po_vs, "{c:?}");
    }
    let families: Vec<&String> = counts.iter().map(|c| &c["optimizer"]).collect();
    for f in ["adam", "sgd", "signsgd"] {
        assert!(families.iter().any(|g| *g == f), "{families:?}");
    }

    // The figure and the report section.
    let png = exp.join("report/figures/elich2_parallel.png");
    assert!(std::fs::metadata(&png).unwrap().len() > 5000);
    let html = std::fs::read_to_string(exp.join("report/index.html")).unwrap();
    assert!(html.contains("Optimizer study") && html.contains("elich2_parallel"));

    // Without STL runs there is no baseline: the report says so instead of leaving every
    // multi-task variant out.
    for task in ["segmentation", "depth", "normal"] {
        std::fs::remove_dir_all(exp.join("runs").join(format!("stl_{task}"))).unwrap();
    }
    let o = mtlscope(&["report", exp_s]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("val_delta_m") && err.contains("STL"),
        "{err}"
    );
}
