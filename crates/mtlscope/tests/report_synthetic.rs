//! `mtlscope report` on synthetic experiment directories with known trajectories
//! (`synthetic/mod.rs` describes them).
mod synthetic;

use std::path::Path;
use std::process::Command;

use synthetic::{make_experiment, make_experiment_format, train_loss, write_run};

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
    assert_eq!(t.len(), 2 * 2 * 4 * 4); // variants × tasks × metrics × aggregates

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

    // Probes at comparable training loss (App. B.4), mtl_ab vs stl_a on a. Every seed has the
    // same trajectory, so σ = 0 and any non-zero Δ is significant.
    let pc = read_csv(&tables.join("probe_comparable_loss.csv"));
    let row = |probe: &str| {
        pc.iter()
            .find(|r| r["variant"] == "mtl_ab" && r["task"] == "a" && r["probe"] == probe)
            .unwrap_or_else(|| panic!("no {probe} row"))
            .clone()
    };
    // The mean of `value(e)` over the epochs whose training loss lies in [lo, hi].
    let phase_mean = |multi: bool, lo: f64, hi: f64, value: &dyn Fn(u32) -> f64| {
        let v: Vec<f64> = (0..=30)
            .filter(|&e| (lo..=hi).contains(&train_loss(multi, e)))
            .map(value)
            .collect();
        v.iter().sum::<f64>() / v.len() as f64
    };
    // Fisher trace (= epoch) in the early phase: bins 2–5 of 20 over [0.002, 2.3], i.e. the
    // ascending edges 15..19 of 0.002 · 1150^(i/20): STL epochs 1..=7, MTL epochs 2..=10.
    let edge = |i: f64| 0.002 * 1150f64.powf(i / 20.0);
    let (lo, hi) = (edge(15.0), edge(19.0));
    let fim = row("fim_trace");
    assert_eq!(fim["aggregate"], "early_bins");
    assert!(close(fim["loss_low"].parse().unwrap(), lo));
    assert!(close(fim["loss_high"].parse().unwrap(), hi));
    let (s_fim, m_fim) = (
        phase_mean(false, lo, hi, &|e| e as f64),
        phase_mean(true, lo, hi, &|e| e as f64),
    );
    assert_eq!((s_fim, m_fim), (4.0, 6.0));
    assert!(close(fim["stl_mean"].parse().unwrap(), 4.0));
    assert!(close(fim["delta"].parse().unwrap(), 2.0));
    assert_eq!(fim["stl_n"], "3");
    // Higher Fisher trace in MTL: worse, significantly.
    assert_eq!(
        (fim["better"].as_str(), fim["verdict"].as_str()),
        ("lower", "negative")
    );
    // Sharpness (0.1 × training loss) at the end: the 3 lowest of 20 bins over the MTL range
    // [0.02, 2.3]. MTL's points there are lower in loss than STL's, so MTL is flatter.
    let (lo, hi) = (0.02, 0.02 * 115f64.powf(3.0 / 20.0));
    let sh = row("sharpness");
    assert_eq!(sh["aggregate"], "end_bins");
    let s_sh = phase_mean(false, lo, hi, &|e| 0.1 * train_loss(false, e));
    let m_sh = phase_mean(true, lo, hi, &|e| 0.1 * train_loss(true, e));
    assert!(close(sh["stl_mean"].parse().unwrap(), s_sh));
    assert!(close(sh["mtl_mean"].parse().unwrap(), m_sh));
    assert!(close(sh["delta"].parse().unwrap(), m_sh - s_sh) && m_sh < s_sh);
    assert_eq!(sh["verdict"], "positive");
    let co = row("coherence");
    assert!(close(co["delta"].parse().unwrap(), 50.0 * (m_sh - s_sh)));
    // Only probes with a B.4 phase are binned.
    assert!(pc.iter().all(|r| r["probe"] != "conflict_cos_umtg"));
    // Footnote 6's unbinned aggregates stay, as a second table: Fisher trace max-20 is the
    // same (20.5) for both, so Δ = 0 there although the binned Δ is 2.
    let pt = read_csv(&tables.join("probe_transfer.csv"));
    let k = [("variant", "mtl_ab"), ("task", "a"), ("probe", "fim_trace")];
    assert!(close(get(&pt, &k, "delta"), 0.0));
    assert_eq!(
        pt.iter().find(|r| r["probe"] == "fim_trace").unwrap()["aggregate"],
        "max20"
    );

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

    // SMTO: MGDA vs UMTG on a: test accuracy (a's primary metric) %Δ = 100 (0.83 − 0.86)/0.86.
    let s = read_csv(&tables.join("smto.csv"));
    let k = [
        ("variant", "mgda_ab"),
        ("task", "a"),
        ("factor", "fim_trace"),
    ];
    assert!(close(
        get(&s, &k, "generalization_pct_change"),
        100.0 * (0.83 - 0.86) / 0.86
    ));
    assert!(s
        .iter()
        .all(|r| r["generalization_metric"] == "test_accuracy"
            && r["generalization_better"] == "higher"));
    assert!(close(get(&s, &k, "factor_pct_change"), 0.0));
    // Generalization change vs UMTG: a: Δ = −0.03 ± 2(0.03 + 0.01) → not significant;
    // b: Δ = 0.73 − 0.67 = 0.06 ± 2(0.01 + 0.01) → significant (coloured in the figure).
    let sig = |task: &str| {
        s.iter()
            .find(|r| r["variant"] == "mgda_ab" && r["task"] == task)
            .unwrap()["generalization_significant"]
            .clone()
    };
    assert_eq!(
        (sig("a"), sig("b")),
        ("false".to_string(), "true".to_string())
    );
    assert!(s
        .iter()
        .filter(|r| r["factor"] == "sharpness")
        .all(|r| r["better"] == "lower"));

    // Conflict (§5): UMTG variants only — MGDA's cosine to the UMTG (0.7) is not a point — and
    // with one auxiliary set the correlation is undefined, not a number.
    let c = read_csv(&tables.join("conflict.csv"));
    assert!(
        !c.is_empty() && c.iter().all(|r| r["variant"] == "mtl_ab"),
        "{c:?}"
    );
    let cc = read_csv(&tables.join("conflict_correlation.csv"));
    assert!(!cc.is_empty());
    for r in &cc {
        assert_eq!(r["pearson_r"], "");
        assert_eq!(r["n_aux_sets"], "1");
        assert!(r["note"].starts_with("undefined: 1 auxiliary set"), "{r:?}");
    }

    // Δm (top-10-val test accuracy; positive = MTL worse): a improves 0.81 → 0.86, b drops
    // 0.71 → 0.67: ((−0.05/0.81) + (0.04/0.71)) / 2 × 100.
    let dm = read_csv(&tables.join("delta_m.csv"));
    let k = [("variant", "mtl_ab"), ("aggregate", "top10_val")];
    let want = (-(0.86 - 0.81) / 0.81 - (0.67 - 0.71) / 0.71) / 2.0 * 100.0;
    assert!(close(get(&dm, &k, "delta_m_pct"), want), "{dm:?}");
    let row = dm
        .iter()
        .find(|r| r["variant"] == "mtl_ab" && r["aggregate"] == "top10_val")
        .unwrap();
    assert_eq!(
        (row["tasks"].as_str(), row["metrics"].as_str()),
        ("a+b", "a:accuracy+b:accuracy")
    );
    // MGDA: a 0.81 → 0.83, b 0.71 → 0.73, both better: Δm < 0.
    let k = [("variant", "mgda_ab"), ("aggregate", "top10_val")];
    let want = (-(0.83 - 0.81) / 0.81 - (0.73 - 0.71) / 0.71) / 2.0 * 100.0;
    assert!(close(get(&dm, &k, "delta_m_pct"), want) && want < 0.0);
    assert_eq!(dm.len(), 2 * 4);

    // selection.csv: the aggregate's config name, the metric each score used (the default
    // `primary` is a multi-class task's accuracy) and the tasks it averaged.
    let sel = read_csv(&tables.join("selection.csv"));
    let tasks_of = |v: &str| sel.iter().find(|r| r["variant"] == v).unwrap()["tasks"].clone();
    assert!(sel.iter().all(|r| r["aggregate"] == "top10_val"), "{sel:?}");
    assert!(sel.iter().all(|r| r["metric"] == "val_accuracy"), "{sel:?}");
    assert_eq!(
        (tasks_of("stl_b"), tasks_of("mtl_ab")),
        ("b".into(), "a+b".into())
    );

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
    // The σ convention and the significance rule are stated.
    assert!(html.contains("sample standard deviation over seeds"));
    assert!(html.contains("what Mueller et al."));
    assert!(html.contains("Probes at comparable training loss (App. B.4)"));
    assert!(html.contains("Unbinned probe aggregates (footnote 6)"));
    assert!(html.contains("Δm: mean relative change vs STL"));
    // For looking at the output (e.g. scripts/check_report.sh): keep the directory.
    if let Ok(dest) = std::env::var("MTLSCOPE_KEEP_SYNTHETIC") {
        let _ = Command::new("cp").arg("-r").arg(&exp).arg(dest).status();
    }
}

/// A run with an unreadable trajectory is skipped (the report covers the rest) and the warning
/// names its file and row.
#[test]
fn malformed_csv_names_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let exp = tmp.path().join("exp");
    make_experiment(&exp);
    let bad = exp.join("runs/mtl_ab/seed2/trajectory.csv");
    std::fs::write(
        &bad,
        "epoch,step,task,split,metric,value\n1,10,a,train,loss,notanumber\n",
    )
    .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_mtlscope"))
        .arg("report")
        .arg(&exp)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("runs/mtl_ab/seed2/trajectory.csv") && err.contains("row 2"),
        "{err}"
    );
    // The other two MTL seeds are still reported.
    let runs = read_csv(&exp.join("report/tables/runs.csv"));
    let used = |id: &str| runs.iter().find(|r| r["run_id"] == id).unwrap()["used"].clone();
    assert_eq!(used("mtl_ab/seed1"), "true");
    assert_eq!(used("mtl_ab/seed2"), "false");
}

#[test]
fn standard_error_option_changes_intervals_only() {
    let tmp = tempfile::tempdir().unwrap();
    let exp = tmp.path().join("exp");
    make_experiment(&exp);
    let o = Command::new(env!("CARGO_BIN_EXE_mtlscope"))
        .args(["report", "--spread", "stderr"])
        .arg(&exp)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let t = read_csv(&exp.join("report/tables/transfer.csv"));
    // b, MTL: Δ = −0.04 with σ = 0.01 each; SE = 0.01/√3 → bracket −0.04 ± 4·0.01/√3.
    let k = [
        ("variant", "mtl_ab"),
        ("task", "b"),
        ("metric", "val_accuracy"),
        ("aggregate", "top10_val"),
    ];
    assert!(close(get(&t, &k, "delta"), -0.04));
    assert!(close(get(&t, &k, "ci_high"), -0.04 + 0.04 / 3f64.sqrt()));
    // Overlapping at ±2σ (touching), disjoint at ±2 SE: now negative transfer.
    let row = t
        .iter()
        .find(|r| k.iter().all(|(c, v)| r[*c] == *v))
        .unwrap();
    assert_eq!(row["transfer"], "negative");
    let html = std::fs::read_to_string(exp.join("report/index.html")).unwrap();
    assert!(html.contains("--spread stderr"));
    let bad = Command::new(env!("CARGO_BIN_EXE_mtlscope"))
        .args(["report", "--spread", "sem"])
        .arg(&exp)
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("known: std, stderr"));
}

#[test]
fn conflict_correlation_over_umtg_auxiliary_sets_only() {
    // Target task a with three auxiliary sets (UMTG with b, c or d) of conflict 0.2, 0.5, 0.9,
    // and an SMTO on a + b with an outlying conflict (−0.9) and accuracy (0.99) that would
    // change r if it were (wrongly) counted.
    let tmp = tempfile::tempdir().unwrap();
    let exp = tmp.path().join("exp");
    for (s, acc) in [0.80, 0.81, 0.82].into_iter().enumerate() {
        let d = exp.join(format!("runs/stl_a/seed{}", s + 1));
        write_run(&d, &["a"], "umtg", s, &|_| acc, 0.0);
    }
    let aux: [(&str, &str, &str, f64, f64); 4] = [
        ("mtl_ab", "b", "umtg", 0.2, 0.78),
        ("mtl_ac", "c", "umtg", 0.5, 0.84),
        ("mtl_ad", "d", "umtg", 0.9, 0.83),
        ("mgda_ab", "b", "aggregate", -0.9, 0.99),
    ];
    for (v, other, kind, cos, acc_a) in aux {
        for s in 0..3 {
            let d = exp.join(format!("runs/{v}/seed{}", s + 1));
            let acc = move |t: &str| if t == "a" { acc_a } else { 0.5 };
            write_run(&d, &["a", other], kind, s, &acc, cos);
        }
    }
    let o = Command::new(env!("CARGO_BIN_EXE_mtlscope"))
        .arg("report")
        .arg(&exp)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let tables = exp.join("report/tables");
    let c = read_csv(&tables.join("conflict.csv"));
    let mut variants: Vec<&str> = c.iter().map(|r| r["variant"].as_str()).collect();
    variants.dedup();
    assert_eq!(variants, ["mtl_ab", "mtl_ac", "mtl_ad"]);
    // Pearson r of conflict (0.2, 0.5, 0.9) against Δ test accuracy vs STL (0.81):
    // (−0.03, 0.03, 0.02), computed here directly.
    let (x, y) = ([0.2, 0.5, 0.9], [0.78 - 0.81, 0.84 - 0.81, 0.83 - 0.81]);
    let (mx, my) = (x.iter().sum::<f64>() / 3.0, y.iter().sum::<f64>() / 3.0);
    let sxy: f64 = (0..3).map(|i| (x[i] - mx) * (y[i] - my)).sum();
    let sxx: f64 = x.iter().map(|a| (a - mx).powi(2)).sum();
    let syy: f64 = y.iter().map(|b| (b - my).powi(2)).sum();
    let r = sxy / (sxx * syy).sqrt();
    let cc = read_csv(&tables.join("conflict_correlation.csv"));
    let k = [("task", "a"), ("effect", "test_accuracy_delta")];
    assert!(close(get(&cc, &k, "pearson_r"), r), "{cc:?}");
    let row = cc
        .iter()
        .find(|x| x["task"] == "a" && x["effect"] == "test_accuracy_delta")
        .unwrap();
    assert_eq!(
        (row["n_aux_sets"].as_str(), row["note"].as_str()),
        ("3", "")
    );
    // Every auxiliary set has the same training loss: no spread, r undefined (not NaN).
    let row = cc
        .iter()
        .find(|x| x["task"] == "a" && x["effect"] == "min_train_loss_pct")
        .unwrap();
    assert_eq!(row["pearson_r"], "");
    assert!(row["note"].contains("no spread"), "{row:?}");
}

fn report(exp: &Path) {
    let o = Command::new(env!("CARGO_BIN_EXE_mtlscope"))
        .arg("report")
        .arg(exp)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Run directories of run format 1 (wide `trajectory.csv`, task names in `run.json`) are read
/// to the same numbers: every table, the page and every figure equal those of the same
/// experiment written in the current format.
#[test]
fn format_1_runs_give_the_same_report() {
    let tmp = tempfile::tempdir().unwrap();
    let (old, new) = (tmp.path().join("v1/exp"), tmp.path().join("v2/exp"));
    make_experiment_format(&old, 1);
    make_experiment(&new);
    assert!(
        std::fs::read_to_string(old.join("runs/mtl_ab/seed1/trajectory.csv"))
            .unwrap()
            .starts_with("epoch,step,task,split,loss,accuracy\n")
    );
    report(&old);
    report(&new);
    let mut compared = 0;
    for sub in ["tables", "figures", "."] {
        for e in std::fs::read_dir(new.join("report").join(sub)).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                continue;
            }
            let rel = p.strip_prefix(new.join("report")).unwrap();
            let a = std::fs::read(old.join("report").join(rel)).unwrap();
            assert!(a == std::fs::read(&p).unwrap(), "{} differs", rel.display());
            compared += 1;
        }
    }
    assert!(compared > 30, "{compared}");
}

/// Tasks of other kinds: every analysis works per metric with the directions of `run.json` —
/// a segmentation task (mIoU, pixel accuracy: higher is better) and a depth task (absolute and
/// relative error: lower is better), trained alone and together.
#[test]
fn transfer_and_delta_m_per_metric_with_each_metrics_direction() {
    use mtlscope::task::{Direction, MetricSpec, TaskInfo};
    let task = |name: &str, kind: &str, metrics: &[(&str, Direction)]| TaskInfo {
        name: name.into(),
        kind: kind.into(),
        metrics: std::iter::once(("loss", Direction::Lower))
            .chain(metrics.iter().copied())
            .map(|(m, d)| MetricSpec::new(m, d))
            .collect(),
    };
    let seg = task(
        "seg",
        "segmentation",
        &[
            ("miou", Direction::Higher),
            ("pixel_accuracy", Direction::Higher),
        ],
    );
    let dep = task(
        "dep",
        "depth",
        &[("abs_err", Direction::Lower), ("rel_err", Direction::Lower)],
    );
    // After epoch 0 every value is a constant of the variant (and seed, for mIoU and abs err):
    // MTL improves mIoU (0.41 → 0.47), pixel accuracy (0.70 → 0.72) and rel err (0.20 → 0.18),
    // and worsens abs err (0.51 → 0.61).
    let value = |multi: bool, seed: usize| {
        move |t: &str, split: &str, m: &str, e: u32| -> f64 {
            let s = seed as f64 * 0.01;
            if split == "train" && m == "loss" {
                return train_loss(multi, e);
            }
            match (t, m, e, multi) {
                (_, "loss", 0, _) => 2.3,
                (_, _, 0, _) => 0.05,
                ("seg", "miou", _, false) => 0.40 + s,
                ("seg", "miou", _, true) => 0.46 + s,
                ("seg", "pixel_accuracy", _, false) => 0.70,
                ("seg", "pixel_accuracy", _, true) => 0.72,
                ("dep", "abs_err", _, false) => 0.50 + s,
                ("dep", "abs_err", _, true) => 0.60 + s,
                ("dep", "rel_err", _, false) => 0.20,
                ("dep", "rel_err", _, true) => 0.18,
                (_, "loss", _, _) => 0.3,
                _ => unreachable!("{t} {m}"),
            }
        }
    };
    let tmp = tempfile::tempdir().unwrap();
    let exp = tmp.path().join("exp");
    for s in 0..3 {
        let dir = |v: &str| exp.join(format!("runs/{v}/seed{}", s + 1));
        let (stl, mtl) = (value(false, s), value(true, s));
        synthetic::write_general_run(&dir("stl_seg"), std::slice::from_ref(&seg), "umtg", s, &stl);
        synthetic::write_general_run(&dir("stl_dep"), std::slice::from_ref(&dep), "umtg", s, &stl);
        synthetic::write_general_run(&dir("mtl"), &[seg.clone(), dep.clone()], "umtg", s, &mtl);
    }
    report(&exp);
    let tables = exp.join("report/tables");
    let t = read_csv(&tables.join("transfer.csv"));
    let row = |task: &str, metric: &str| {
        t.iter()
            .find(|r| r["task"] == task && r["metric"] == metric && r["aggregate"] == "top10_val")
            .unwrap_or_else(|| panic!("no {task} {metric}"))
            .clone()
    };
    let verdict = |task: &str, metric: &str| row(task, metric)["transfer"].clone();
    // Δ = 0.06 ± 2(0.01 + 0.01) excludes 0.
    assert!(close(
        row("seg", "test_miou")["delta"].parse().unwrap(),
        0.06
    ));
    assert_eq!(verdict("seg", "test_miou"), "positive");
    // A higher depth error is negative transfer; a lower one positive.
    assert!(close(
        row("dep", "test_abs_err")["delta"].parse().unwrap(),
        0.10
    ));
    assert_eq!(verdict("dep", "test_abs_err"), "negative");
    assert_eq!(verdict("dep", "test_rel_err"), "positive");
    // Each task's metrics, then its loss, on val and test, × 4 aggregates.
    assert_eq!(t.len(), 2 * (3 * 2) * 4);
    assert!(t
        .iter()
        .all(|r| !r["metric"].contains("accuracy") || r["task"] == "seg"));

    // Δm over the test metrics but the loss, per task first:
    // seg: (−0.06/0.41 − 0.02/0.70)/2, dep: (+0.10/0.51 − 0.02/0.20)/2, × 100, mean of the two.
    let seg_m = (-(0.06 / 0.41) - 0.02 / 0.70) / 2.0;
    let dep_m = (0.10 / 0.51 + (0.18 - 0.20) / 0.20) / 2.0;
    let want = (seg_m + dep_m) / 2.0 * 100.0;
    let dm = read_csv(&tables.join("delta_m.csv"));
    let k = [("variant", "mtl"), ("aggregate", "top10_val")];
    assert!(close(get(&dm, &k, "delta_m_pct"), want), "{dm:?} vs {want}");
    let terms = read_csv(&tables.join("delta_m_terms.csv"));
    let k = [
        ("variant", "mtl"),
        ("aggregate", "top10_val"),
        ("metric", "test_abs_err"),
    ];
    assert!(close(
        get(&terms, &k, "signed_pct_change"),
        100.0 * 0.10 / 0.51
    ));

    // Comparable loss per validation metric, and the selection by each task's primary metric.
    let b = read_csv(&tables.join("comparable_loss.csv"));
    for m in [
        "val_miou",
        "val_pixel_accuracy",
        "val_loss",
        "val_abs_err",
        "val_rel_err",
    ] {
        assert!(b.iter().any(|r| r["metric"] == m), "{m}");
    }
    let sel = read_csv(&tables.join("selection.csv"));
    let metric_of = |v: &str| sel.iter().find(|r| r["variant"] == v).unwrap()["metric"].clone();
    assert_eq!(metric_of("stl_dep"), "val_abs_err");
    assert_eq!(metric_of("mtl"), "val_miou+val_abs_err");
    let c = read_csv(&tables.join("aggregates.csv"));
    assert!(c.iter().any(|r| r["metric"] == "test_rel_err"));
    let html = std::fs::read_to_string(exp.join("report/index.html")).unwrap();
    assert!(html.contains("test miou (mean of the 10 best-validation checkpoints)"));
    for stem in [
        "fig1_generalization_dep",
        "fig2_comparable_loss_seg",
        "fig7_pareto_seg_dep",
    ] {
        assert!(
            exp.join(format!("report/figures/{stem}.svg")).exists(),
            "{stem}"
        );
    }
}
