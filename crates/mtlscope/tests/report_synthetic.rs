//! `mtlscope report` on a synthetic experiment directory with known trajectories.
//!
//! Tasks a, b; variants stl_a, stl_b, mtl_ab (UMTG), mgda_ab (SMTO); seeds 1–3; epochs 0..=30,
//! 10 steps per epoch. Training loss of a: 2.3 at epoch 0, then 2·10^(−e/10) (STL) or
//! 2·10^(−e/15) (multi-task). Validation/test accuracy of a run is a constant c after epoch 0
//! (0.1 at epoch 0), val/test loss = 1 − c (2.3 at epoch 0). So every aggregate of a run's
//! metric is c, and each Δ is a difference of the constants below.
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

const A: [(&str, [f64; 3]); 3] = [
    ("stl_a", [0.80, 0.81, 0.82]),
    ("mtl_ab", [0.85, 0.86, 0.87]),
    ("mgda_ab", [0.80, 0.83, 0.86]),
];
const B: [(&str, [f64; 3]); 3] = [
    ("stl_b", [0.70, 0.71, 0.72]),
    ("mtl_ab", [0.66, 0.67, 0.68]),
    ("mgda_ab", [0.72, 0.73, 0.74]),
];

fn acc(variant: &str, task: &str, seed: usize) -> Option<f64> {
    let table = if task == "a" { &A } else { &B };
    table
        .iter()
        .find(|(v, _)| *v == variant)
        .map(|(_, c)| c[seed])
}

fn write_run(dir: &Path, variant: &str, tasks: &[&str], kind: &str, seed: usize) {
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
    let mut traj = String::from("epoch,step,task,split,loss,accuracy\n");
    let mut probes = String::from("epoch,step,task,probe,value\n");
    for e in 0..=30u32 {
        let step = e * 10;
        for t in tasks {
            let c = acc(variant, t, seed).unwrap();
            let rate = if multi { 15.0 } else { 10.0 };
            let train = if e == 0 {
                2.3
            } else {
                2.0 * 10f64.powf(-(e as f64) / rate)
            };
            let (l, a) = if e == 0 { (2.3, 0.1) } else { (1.0 - c, c) };
            writeln!(traj, "{e},{step},{t},train,{train},{}", 1.0 - train / 3.0).unwrap();
            writeln!(traj, "{e},{step},{t},val,{l},{a}").unwrap();
            writeln!(traj, "{e},{step},{t},test,{l},{a}").unwrap();
            writeln!(probes, "{e},{step},{t},sharpness,{}", 0.1 * train).unwrap();
            writeln!(probes, "{e},{step},{t},fim_trace,{e}").unwrap();
            writeln!(probes, "{e},{step},{t},coherence,{}", 5.0 * train).unwrap();
            if multi {
                let cos = if kind == "umtg" { 0.5 } else { 0.7 };
                writeln!(probes, "{e},{step},{t},conflict_cos_umtg,{cos}").unwrap();
            }
        }
    }
    std::fs::write(dir.join("trajectory.csv"), traj).unwrap();
    std::fs::write(dir.join("probes.csv"), probes).unwrap();
    std::fs::write(
        dir.join("run.json"),
        format!(
            "{{\"status\": \"completed\", \"seed\": {}, \"message\": \"\"}}",
            seed + 1
        ),
    )
    .unwrap();
}

fn make_experiment(root: &Path) {
    let variants: [(&str, &[&str], &str); 4] = [
        ("stl_a", &["a"], "umtg"),
        ("stl_b", &["b"], "umtg"),
        ("mtl_ab", &["a", "b"], "umtg"),
        ("mgda_ab", &["a", "b"], "aggregate"),
    ];
    for (v, tasks, kind) in variants {
        for s in 0..3 {
            write_run(
                &root.join(format!("runs/{v}/seed{}", s + 1)),
                v,
                tasks,
                kind,
                s,
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

fn read_csv(path: &Path) -> Vec<std::collections::HashMap<String, String>> {
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

fn get(
    rows: &[std::collections::HashMap<String, String>],
    keys: &[(&str, &str)],
    col: &str,
) -> f64 {
    let row = rows
        .iter()
        .find(|r| keys.iter().all(|(k, v)| r[*k] == *v))
        .unwrap_or_else(|| panic!("no row {keys:?}"));
    row[col].parse().unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn report_gives_known_numbers_and_valid_figures() {
    let tmp = tempfile::tempdir().unwrap();
    let exp = tmp.path().join("exp");
    make_experiment(&exp);
    let o = Command::new(env!("CARGO_BIN_EXE_mtlscope"))
        .arg("report")
        .arg(&exp)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let index = exp.join("report/index.html");
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        index.display().to_string()
    );
    assert!(err.contains("stl_a/seed4 not used: running"), "{err}");

    // Transfer: header, Δ, ±2σ-derived range, direction-aware verdicts.
    let tables = exp.join("report/tables");
    let text = std::fs::read_to_string(tables.join("transfer.csv")).unwrap();
    assert_eq!(
        text.lines().next().unwrap(),
        "variant,task,metric,aggregate,stl_mean,mtl_mean,delta,ci_low,ci_high,transfer"
    );
    let t = read_csv(&tables.join("transfer.csv"));
    let key = |v: &'static str, task: &'static str, m: &'static str| {
        vec![
            ("variant", v),
            ("task", task),
            ("metric", m),
            ("aggregate", "top10_val"),
        ]
    };
    // a, MTL: Δ = 0.86 − 0.81 = 0.05; σ = 0.01 each → [0.01, 0.09] → positive.
    let k = key("mtl_ab", "a", "test_accuracy");
    assert!(close(get(&t, &k, "delta"), 0.05));
    assert!(close(get(&t, &k, "ci_low"), 0.01) && close(get(&t, &k, "ci_high"), 0.09));
    assert!(t.iter().any(|r| r["variant"] == "mtl_ab"
        && r["task"] == "a"
        && r["metric"] == "test_accuracy"
        && r["transfer"] == "positive"));
    // Same as a loss: Δ = −0.05, lower is better → still positive.
    let k = key("mtl_ab", "a", "test_loss");
    assert!(close(get(&t, &k, "delta"), -0.05));
    assert!(t.iter().any(|r| r["variant"] == "mtl_ab"
        && r["task"] == "a"
        && r["metric"] == "test_loss"
        && r["aggregate"] == "final"
        && r["transfer"] == "positive"));
    // b, MTL: Δ = 0.67 − 0.71 = −0.04, range [−0.08, 0] touches 0 → overlap → none.
    let k = key("mtl_ab", "b", "val_accuracy");
    assert!(close(get(&t, &k, "delta"), -0.04) && close(get(&t, &k, "ci_high"), 0.0));
    // a, MGDA: Δ = 0.83 − 0.81 = 0.02, σ = 0.03 → [−0.06, 0.10] → none.
    let k = key("mgda_ab", "a", "val_accuracy");
    assert!(close(get(&t, &k, "delta"), 0.02));
    assert!(close(get(&t, &k, "ci_low"), -0.06) && close(get(&t, &k, "ci_high"), 0.10));
    assert!(t
        .iter()
        .filter(|r| r["variant"] == "mgda_ab" && r["task"] == "a")
        .all(|r| r["transfer"] == "none"));
    // b, MGDA: Δ = 0.02, σ = 0.01 → [−0.02, 0.06] → none.
    assert!(close(
        get(&t, &key("mgda_ab", "b", "val_accuracy"), "delta"),
        0.02
    ));
    assert_eq!(t.len(), 2 * 2 * 4 * 3);

    // Comparable-loss bins over [0.002, 2.3]: MTL reaches 0.02 (bin 14), STL all 20 bins.
    let b = read_csv(&tables.join("comparable_loss.csv"));
    let bins: Vec<_> = b
        .iter()
        .filter(|r| r["variant"] == "mtl_ab" && r["task"] == "a" && r["metric"] == "val_accuracy")
        .collect();
    assert_eq!(bins.len(), 20);
    assert!(close(bins[0]["loss_high"].parse().unwrap(), 2.3));
    assert!(close(bins[19]["loss_low"].parse().unwrap(), 0.002));
    let with_both: Vec<_> = bins.iter().filter(|r| r["gap"] != "NaN").collect();
    assert_eq!(with_both.len(), 14);
    // Bin 1 = [1.617, 2.3]: STL has only epoch 0 (0.1); MTL epochs 0 and 1 (0.1, 0.86) → 0.48.
    assert!(close(bins[0]["gap"].parse().unwrap(), 0.48 - 0.1));
    for r in &with_both[1..] {
        assert!(close(r["gap"].parse().unwrap(), 0.05), "{r:?}");
    }
    let g = read_csv(&tables.join("generalization_gap.csv"));
    for phase in ["early", "end"] {
        let k = [
            ("variant", "mtl_ab"),
            ("task", "a"),
            ("metric", "val_accuracy"),
            ("phase", phase),
        ];
        assert!(close(get(&g, &k, "gap"), 0.05), "{phase}");
    }
    // End phase: the 3 lowest of 20 bins over the MTL range [0.02, 2.3].
    let k = [
        ("variant", "mtl_ab"),
        ("task", "a"),
        ("metric", "val_accuracy"),
        ("phase", "end"),
    ];
    assert!(close(get(&g, &k, "loss_low"), 0.02));
    assert!(close(
        get(&g, &k, "loss_high"),
        0.02 * 115f64.powf(3.0 / 20.0)
    ));

    // Probes: Fisher trace = epoch, max-20 over epochs 1..30 = mean(11..30) = 20.5.
    let p = read_csv(&tables.join("probe_aggregates.csv"));
    assert!(close(
        get(
            &p,
            &[("variant", "stl_a"), ("task", "a"), ("probe", "fim_trace")],
            "mean"
        ),
        20.5
    ));

    // Pareto: final val losses (1 − c): MTL (0.14, 0.33), MGDA (0.17, 0.27), STL (0.19, 0.29).
    // Reference 1.1 × 2.3 (untrained val loss) per task. Front = MTL, MGDA (STL dominated).
    let r = 1.1 * 2.3;
    let hv = (r - 0.14) * (r - 0.33) + (r - 0.17) * (0.33 - 0.27);
    let h = read_csv(&tables.join("hypervolume.csv"));
    assert!((h[0]["front_hypervolume"].parse::<f64>().unwrap() - hv).abs() < 1e-9);
    let pr = read_csv(&tables.join("pareto.csv"));
    let on = |v: &str| pr.iter().find(|x| x["variant"] == v).unwrap()["on_front"].clone();
    assert_eq!(
        (on("mtl_ab"), on("mgda_ab"), on("stl")),
        ("true".into(), "true".into(), "false".into())
    );

    // SMTO: MGDA vs UMTG on a: test accuracy %Δ = 100 (0.83 − 0.86)/0.86.
    let s = read_csv(&tables.join("smto.csv"));
    let k = [
        ("variant", "mgda_ab"),
        ("task", "a"),
        ("factor", "fim_trace"),
    ];
    assert!(close(
        get(&s, &k, "test_accuracy_pct_change"),
        100.0 * (0.83 - 0.86) / 0.86
    ));
    assert!(close(get(&s, &k, "factor_pct_change"), 0.0));

    // Figures: valid SVG and PNG, not blank.
    let figs = exp.join("report/figures");
    let stems = [
        "fig1_generalization_a",
        "fig1_generalization_b",
        "fig2_comparable_loss_a",
        "fig3_probes_a",
        "fig4_smto_mgda_ab",
        "fig5_conflict_a",
        "fig7_pareto_a_b",
    ];
    for stem in stems {
        let svg = std::fs::read_to_string(figs.join(format!("{stem}.svg"))).unwrap();
        assert!(
            svg.trim_start().starts_with("<svg") && svg.trim_end().ends_with("</svg>"),
            "{stem}"
        );
        assert!(
            svg.contains("<text") && (svg.contains("<polyline") || svg.contains("<circle")),
            "{stem}"
        );
        let decoder = png::Decoder::new(std::io::BufReader::new(
            std::fs::File::open(figs.join(format!("{stem}.png"))).unwrap(),
        ));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert!(info.width >= 500 && info.height >= 380);
        let px = info.color_type.samples();
        let colours: std::collections::HashSet<&[u8]> =
            buf[..info.buffer_size()].chunks(px).collect();
        assert!(colours.len() > 20, "{stem}: only {} colours", colours.len());
        let html = std::fs::read_to_string(&index).unwrap();
        assert!(
            html.contains(&format!("figures/{stem}.svg")),
            "{stem} not in index.html"
        );
    }
    let html = std::fs::read_to_string(&index).unwrap();
    assert!(!html.contains("<script"));
    assert!(html.contains("mtl_ab: 3 runs"));
    // For looking at the output (e.g. scripts/check_report.sh): keep the directory.
    if let Ok(dest) = std::env::var("MTLSCOPE_KEEP_SYNTHETIC") {
        let _ = Command::new("cp").arg("-r").arg(&exp).arg(dest).status();
    }
}

#[test]
fn malformed_csv_names_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let exp = tmp.path().join("exp");
    make_experiment(&exp);
    let bad = exp.join("runs/mtl_ab/seed2/trajectory.csv");
    std::fs::write(
        &bad,
        "epoch,step,task,split,loss,accuracy\n1,10,a,train,notanumber,0.5\n",
    )
    .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_mtlscope"))
        .arg("report")
        .arg(&exp)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("runs/mtl_ab/seed2/trajectory.csv") && err.contains("row 2"),
        "{err}"
    );
}
