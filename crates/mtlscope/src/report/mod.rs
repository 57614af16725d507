//! `mtlscope report`: analyses, figures (`figures/*.svg|png`), long-form tables
//! (`tables/*.csv`) and a self-contained `index.html` (relative links only, no JavaScript).
//!
//! Every figure and table works per metric: the metrics and their better sides come from each
//! run's `run.json`, so nothing here knows a task kind.
pub mod html;
pub mod plots;

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::analysis::aggregates::{
    metric_aggregate, metrics_of, rank_metric, series_aggregate, transfer_metrics, Aggregate,
    Metric, Ranking,
};
use crate::analysis::comparable_loss::{binned, phases, BinRow, PhaseRow};
use crate::analysis::conflict::{conflict_analysis, ConflictCorrelation, ConflictPoint};
use crate::analysis::delta_m::{delta_m_table, DeltaMRow};
use crate::analysis::factors::factor_info;
use crate::analysis::optimizer_study::{optimizer_study, OptimizerStudy};
use crate::analysis::pareto::{pareto_sets, ParetoSet};
use crate::analysis::significance::{Spread, Summary};
use crate::analysis::smto::{smto_table, SmtoRow};
use crate::analysis::transfer::{
    probe_delta_table, probe_phase_table, transfer_table, ProbePhaseRow, TransferRow,
    TRANSFER_AGGREGATES,
};
use crate::analysis::{score_tasks, Groups};
use crate::experiment::plan::SelectMetric;
use crate::experiment::store::{ExperimentData, RunKind, Split};
use plots::Figure;

/// Choices of `mtlscope report`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReportOptions {
    /// The ± of every interval and band: 2σ (default, the paper) or 2 standard errors.
    pub spread: Spread,
}

/// What `write_report` produced.
#[derive(Debug)]
pub struct ReportSummary {
    /// Path of index.html.
    pub index: PathBuf,
    /// Things the reader should know (excluded runs, missing baselines).
    pub warnings: Vec<String>,
}

/// All computed results, handed to the HTML writer.
pub struct Results<'a> {
    /// Loaded data.
    pub data: &'a ExperimentData,
    /// Selected variants.
    pub groups: Groups<'a>,
    /// Transfer table.
    pub transfer: Vec<TransferRow>,
    /// Δm of each multi-task variant against the STL variants, per aggregate.
    pub delta_m: Vec<DeltaMRow>,
    /// Probe Δ at comparable training loss (App. B.4).
    pub probe_phases: Vec<ProbePhaseRow>,
    /// Probe Δ of footnote 6's unbinned aggregates.
    pub probe_transfer: Vec<TransferRow>,
    /// (variant, task, probe, aggregate, summary).
    pub probe_summary: Vec<(String, String, String, Aggregate, Summary)>,
    /// (variant, task, metric, bins).
    pub bins: Vec<(String, String, String, Vec<BinRow>)>,
    /// (variant, task, metric, phases).
    pub phases: Vec<(String, String, String, Vec<PhaseRow>)>,
    /// Conflict points.
    pub conflict_points: Vec<ConflictPoint>,
    /// Conflict correlations.
    pub conflict_corrs: Vec<ConflictCorrelation>,
    /// SMTO rows.
    pub smto: Vec<SmtoRow>,
    /// Pareto sets.
    pub pareto: Vec<ParetoSet>,
    /// Elich et al.'s optimizer study (when the multi-task runs use two optimizer groups).
    pub optimizer_study: Option<OptimizerStudy>,
    /// Figures per section key (`fig1`...).
    pub figures: Vec<(&'static str, Vec<Figure>)>,
    /// Probe names seen.
    pub probes: Vec<String>,
}

fn f(x: f64) -> String {
    if x.is_finite() {
        format!("{x}")
    } else {
        "NaN".into()
    }
}

/// One row of a STL-vs-MTL gap table (comparable-loss bins or training phases).
struct GapRow<'a> {
    key: (&'a String, &'a String, &'a String, String),
    range: (f64, f64),
    stl: &'a Summary,
    mtl: &'a Summary,
    gap: f64,
    significant: bool,
}

/// Writes a gap table: `variant,task,metric,<key_name>,loss_low,loss_high,stl_*,mtl_*,gap,significant`.
fn write_gap_table<'a>(
    path: &Path,
    key_name: &str,
    rows: impl Iterator<Item = GapRow<'a>>,
) -> Result<()> {
    let mut w = csv_writer(path)?;
    w.write_record([
        "variant",
        "task",
        "metric",
        key_name,
        "loss_low",
        "loss_high",
        "stl_mean",
        "stl_std",
        "stl_n",
        "mtl_mean",
        "mtl_std",
        "mtl_n",
        "gap",
        "significant",
    ])?;
    for r in rows {
        let (v, t, m, key) = r.key;
        w.write_record([
            v.clone(),
            t.clone(),
            m.clone(),
            key,
            f(r.range.0),
            f(r.range.1),
            f(r.stl.mean),
            f(r.stl.std),
            r.stl.n.to_string(),
            f(r.mtl.mean),
            f(r.mtl.std),
            r.mtl.n.to_string(),
            f(r.gap),
            r.significant.to_string(),
        ])?;
    }
    w.flush()?;
    Ok(())
}

fn csv_writer(path: &Path) -> Result<csv::Writer<std::fs::File>> {
    csv::Writer::from_path(path).with_context(|| format!("writing {}", path.display()))
}

/// Analyse `exp_dir` and write the report into `out`.
pub fn write_report(exp_dir: &Path, out: &Path, opts: &ReportOptions) -> Result<ReportSummary> {
    plots::init_font()?;
    let data = ExperimentData::load(exp_dir)?;
    if data.runs.is_empty() {
        let ex: Vec<String> = data
            .excluded
            .iter()
            .take(10)
            .map(|e| format!("{} ({}: {})", e.id, e.status, e.message))
            .collect();
        bail!(
            "no completed run in {} ({} planned): {}",
            exp_dir.display(),
            data.plan.runs.len(),
            ex.join("; ")
        );
    }
    let groups = Groups::build_with(&data, opts.spread)?;
    let mut warnings: Vec<String> = data
        .excluded
        .iter()
        .map(|e| format!("run {} not used: {} {}", e.id, e.status, e.message))
        .collect();
    for t in &groups.tasks {
        if groups.stl_for(t).is_none() && !groups.mtl_with(t).is_empty() {
            warnings.push(format!(
                "task {t} has no STL variant: no transfer figures for it"
            ));
        }
    }
    let figs_dir = out.join("figures");
    let tables_dir = out.join("tables");
    std::fs::create_dir_all(&figs_dir)
        .with_context(|| format!("creating {}", figs_dir.display()))?;
    std::fs::create_dir_all(&tables_dir)
        .with_context(|| format!("creating {}", tables_dir.display()))?;

    let mut probes: Vec<String> = Vec::new();
    for r in &data.runs {
        for (_, p) in r.probes.keys() {
            if !probes.contains(p) {
                probes.push(p.clone());
            }
        }
    }

    let transfer = transfer_table(&groups);
    let delta_m = delta_m_table(&groups);
    let probe_phases = probe_phase_table(&groups, &probes);
    let probe_transfer = probe_delta_table(&groups, &probes);
    let mut probe_summary = Vec::new();
    for v in &groups.variants {
        for t in &v.tasks {
            for p in &probes {
                let agg = factor_info(p).footnote6;
                let s = Summary::of(&v.probe_values(t, p, agg));
                if s.n > 0 {
                    probe_summary.push((v.name.clone(), t.clone(), p.clone(), agg, s));
                }
            }
        }
    }
    let mut bins = Vec::new();
    let mut phase_rows = Vec::new();
    for t in &groups.tasks {
        let (Some(stl), Some(info)) = (groups.stl_for(t), groups.info(t)) else {
            continue;
        };
        for v in groups.mtl_with(t) {
            for m in metrics_of(info, Split::Val) {
                bins.push((
                    v.name.clone(),
                    t.clone(),
                    m.name(),
                    binned(&stl.runs, &v.runs, t, &m, groups.spread),
                ));
                phase_rows.push((
                    v.name.clone(),
                    t.clone(),
                    m.name(),
                    phases(&stl.runs, &v.runs, t, &m, groups.spread),
                ));
            }
        }
    }
    let (conflict_points, conflict_corrs) = conflict_analysis(&groups, &probes);
    let smto = smto_table(&groups, &probes);
    let pareto = pareto_sets(&groups)?;
    let study = optimizer_study(&data, &groups);

    let figures = vec![
        ("fig1", plots::generalization::figures(&groups, &figs_dir)?),
        ("fig2", plots::comparable_loss::figures(&groups, &figs_dir)?),
        ("fig3", plots::probes::figures(&groups, &figs_dir)?),
        (
            "fig5",
            plots::conflict::figures(&groups, &conflict_points, &conflict_corrs, &figs_dir)?,
        ),
        ("fig4", plots::smto::figures(&groups, &smto, &figs_dir)?),
        ("fig7", plots::pareto::figures(&pareto, &figs_dir)?),
        ("elich4", plots::similarity::figures(&groups, &figs_dir)?),
        (
            "elich2",
            plots::parallel::figures(study.as_ref(), &figs_dir)?,
        ),
    ];

    let res = Results {
        data: &data,
        groups,
        transfer,
        delta_m,
        probe_phases,
        probe_transfer,
        probe_summary,
        bins,
        phases: phase_rows,
        conflict_points,
        conflict_corrs,
        smto,
        pareto,
        optimizer_study: study,
        figures,
        probes,
    };
    write_tables(&res, &tables_dir)?;
    let index = out.join("index.html");
    let html = html::render(&res, &warnings);
    std::fs::File::create(&index)
        .and_then(|mut fh| fh.write_all(html.as_bytes()))
        .with_context(|| format!("writing {}", index.display()))?;
    Ok(ReportSummary { index, warnings })
}

/// Header of `tables/transfer.csv` (and `probe_transfer.csv`).
pub const TRANSFER_HEADER: [&str; 10] = [
    "variant",
    "task",
    "metric",
    "aggregate",
    "stl_mean",
    "mtl_mean",
    "delta",
    "ci_low",
    "ci_high",
    "transfer",
];

fn write_transfer(path: &Path, rows: &[TransferRow]) -> Result<()> {
    let mut w = csv_writer(path)?;
    w.write_record(TRANSFER_HEADER)?;
    for r in rows {
        w.write_record([
            r.variant.clone(),
            r.task.clone(),
            r.metric.clone(),
            r.aggregate.clone(),
            f(r.stl.mean),
            f(r.mtl.mean),
            f(r.delta),
            f(r.ci_low),
            f(r.ci_high),
            r.transfer.name().into(),
        ])?;
    }
    w.flush()?;
    Ok(())
}

/// Header of `tables/probe_comparable_loss.csv` and `tables/probe_transfer.csv`.
pub const PROBE_HEADER: [&str; 17] = [
    "variant",
    "task",
    "probe",
    "aggregate",
    "loss_low",
    "loss_high",
    "stl_mean",
    "stl_std",
    "stl_n",
    "mtl_mean",
    "mtl_std",
    "mtl_n",
    "delta",
    "ci_low",
    "ci_high",
    "better",
    "verdict",
];

/// A probe table: the comparison, and the phase's loss range where binned (else empty).
fn write_probe_table<'a>(
    path: &Path,
    rows: impl Iterator<Item = (&'a TransferRow, Option<(f64, f64)>)>,
) -> Result<()> {
    let mut w = csv_writer(path)?;
    w.write_record(PROBE_HEADER)?;
    for (r, range) in rows {
        let (lo, hi) = range.map(|x| (f(x.0), f(x.1))).unwrap_or_default();
        w.write_record([
            r.variant.clone(),
            r.task.clone(),
            r.metric.clone(),
            r.aggregate.clone(),
            lo,
            hi,
            f(r.stl.mean),
            f(r.stl.std),
            r.stl.n.to_string(),
            f(r.mtl.mean),
            f(r.mtl.std),
            r.mtl.n.to_string(),
            f(r.delta),
            f(r.ci_low),
            f(r.ci_high),
            r.direction.map(|d| d.name()).unwrap_or("none").into(),
            r.transfer.name().into(),
        ])?;
    }
    w.flush()?;
    Ok(())
}

/// Header of `tables/delta_m.csv`.
pub const DELTA_M_HEADER: [&str; 7] = [
    "variant",
    "aggregate",
    "tasks",
    "metrics",
    "tasks_without_stl",
    "delta_m_pct",
    "note",
];

/// `delta_m.csv`: one row per multi-task variant and aggregate, and `delta_m_terms.csv`: each
/// metric's signed relative change (what Δm averages).
fn write_delta_m(dir: &Path, rows: &[DeltaMRow]) -> Result<()> {
    let mut w = csv_writer(&dir.join("delta_m.csv"))?;
    w.write_record(DELTA_M_HEADER)?;
    for r in rows {
        let metrics: Vec<String> = r
            .changes
            .iter()
            .map(|c| format!("{}:{}", c.task, c.metric))
            .collect();
        w.write_record([
            r.variant.clone(),
            r.aggregate.clone(),
            r.tasks().join("+"),
            metrics.join("+"),
            r.without_stl.join("+"),
            f(r.delta_m),
            "positive = MTL worse".into(),
        ])?;
    }
    w.flush()?;
    let mut w = csv_writer(&dir.join("delta_m_terms.csv"))?;
    w.write_record([
        "variant",
        "aggregate",
        "task",
        "metric",
        "better",
        "stl_mean",
        "mtl_mean",
        "signed_pct_change",
    ])?;
    for r in rows {
        for c in &r.changes {
            w.write_record([
                r.variant.clone(),
                r.aggregate.clone(),
                c.task.clone(),
                format!("test_{}", c.metric),
                if c.higher_is_better {
                    "higher"
                } else {
                    "lower"
                }
                .into(),
                f(c.stl),
                f(c.mtl),
                f(c.signed_change()),
            ])?;
        }
    }
    w.flush()?;
    Ok(())
}

/// `optimizer_study.csv`: one row per point and axis (long form), and `pareto_counts.csv`:
/// Elich's Tab. 2, one row per optimizer group and other group.
fn write_optimizer_study(dir: &Path, st: &OptimizerStudy) -> Result<()> {
    let mut w = csv_writer(&dir.join("optimizer_study.csv"))?;
    w.write_record([
        "variant",
        "grid_tag",
        "optimizer",
        "family",
        "seeds",
        "selected",
        "task",
        "metric",
        "higher_is_better",
        "value",
        "delta_m_pct",
        "po_full",
        "po_vs",
    ])?;
    for p in &st.points {
        let vs: Vec<String> = p.po_vs.iter().map(|(g, b)| format!("{g}:{b}")).collect();
        for (a, v) in st.axes.iter().zip(&p.values) {
            w.write_record([
                p.variant.clone(),
                p.grid_tag.clone(),
                p.optimizer.clone(),
                p.family.clone(),
                p.seeds.to_string(),
                p.selected.to_string(),
                a.task.clone(),
                a.metric.clone(),
                a.higher_is_better.to_string(),
                f(*v),
                f(p.delta_m),
                p.po_full.to_string(),
                vs.join(";"),
            ])?;
        }
    }
    w.flush()?;
    let mut w = csv_writer(&dir.join("pareto_counts.csv"))?;
    w.write_record(["optimizer", "points", "po_full", "versus", "po_versus"])?;
    for c in &st.counts {
        for (g, n) in &c.po_vs {
            w.write_record([
                c.family.clone(),
                c.points.to_string(),
                c.po_full.to_string(),
                g.clone(),
                n.to_string(),
            ])?;
        }
    }
    w.flush()?;
    Ok(())
}

fn write_tables(res: &Results, dir: &Path) -> Result<()> {
    let data = res.data;
    // A run ranks its checkpoints as its variant does (`val_delta_m`: STL and multi-task
    // variants differ); runs of a variant without a group by the selection metric.
    let rank_of = |r: &crate::experiment::store::RunData| {
        res.groups
            .variants
            .iter()
            .find(|v| v.name == r.variant)
            .map(|v| v.rank.clone())
            .unwrap_or_else(|| Ranking::Metric(res.groups.select.clone()))
    };
    let used: std::collections::HashSet<&str> = res
        .groups
        .variants
        .iter()
        .flat_map(|v| v.runs.iter().map(|r| r.id.as_str()))
        .collect();

    // runs.csv: every planned run, its state, and whether the report uses it.
    let mut w = csv_writer(&dir.join("runs.csv"))?;
    w.write_record([
        "run_id",
        "variant",
        "seed",
        "grid",
        "kind",
        "objective",
        "tasks",
        "status",
        "used",
    ])?;
    for r in &data.runs {
        w.write_record([
            r.id.clone(),
            r.variant.clone(),
            r.seed.to_string(),
            r.grid_tag.clone(),
            r.kind.name().into(),
            r.objective.clone(),
            r.task_names().join("+"),
            "completed".into(),
            used.contains(r.id.as_str()).to_string(),
        ])?;
    }
    for e in &data.excluded {
        let pr = data.plan.runs.iter().find(|p| p.id == e.id);
        w.write_record([
            e.id.clone(),
            pr.map(|p| p.variant.clone()).unwrap_or_default(),
            pr.map(|p| p.seed.to_string()).unwrap_or_default(),
            pr.map(|p| p.grid_tag.clone()).unwrap_or_default(),
            String::new(),
            String::new(),
            String::new(),
            e.status.clone(),
            "false".into(),
        ])?;
    }
    w.flush()?;

    // Long-form trajectories and probes of every completed run (pandas/polars-ready).
    let mut w = csv_writer(&dir.join("trajectories.csv"))?;
    w.write_record([
        "run_id", "variant", "seed", "grid", "epoch", "step", "task", "split", "metric", "value",
    ])?;
    for r in &data.runs {
        for ((task, split, metric), pts) in &r.trajectory {
            for p in pts {
                w.write_record([
                    r.id.clone(),
                    r.variant.clone(),
                    r.seed.to_string(),
                    r.grid_tag.clone(),
                    f(p.epoch),
                    p.step.to_string(),
                    task.clone(),
                    split.name().into(),
                    metric.clone(),
                    f(p.value),
                ])?;
            }
        }
    }
    w.flush()?;
    let mut w = csv_writer(&dir.join("probes.csv"))?;
    w.write_record([
        "run_id", "variant", "seed", "grid", "step", "task", "probe", "value",
    ])?;
    for r in &data.runs {
        for ((task, probe), pts) in &r.probes {
            for (s, v) in pts {
                w.write_record([
                    r.id.clone(),
                    r.variant.clone(),
                    r.seed.to_string(),
                    r.grid_tag.clone(),
                    s.to_string(),
                    task.clone(),
                    probe.clone(),
                    f(*v),
                ])?;
            }
        }
    }
    w.flush()?;

    // Per-run aggregates: what every mean in the other tables is computed from.
    let mut w = csv_writer(&dir.join("aggregates.csv"))?;
    w.write_record([
        "run_id",
        "variant",
        "seed",
        "grid",
        "task",
        "metric",
        "aggregate",
        "value",
    ])?;
    for r in &data.runs {
        let select = &rank_of(r);
        for info in &r.tasks {
            let t = &info.name;
            let mut rows: Vec<(String, Aggregate, Option<f64>)> = Vec::new();
            for m in transfer_metrics(info) {
                for a in TRANSFER_AGGREGATES {
                    rows.push((m.name(), a, metric_aggregate(r, t, &m, a, select)));
                }
            }
            let tl = Metric::loss(Split::Train);
            rows.push((
                tl.name(),
                Aggregate::Min,
                metric_aggregate(r, t, &tl, Aggregate::Min, select),
            ));
            rows.push((
                tl.name(),
                Aggregate::Final,
                metric_aggregate(r, t, &tl, Aggregate::Final, select),
            ));
            for p in r.probe_names(t) {
                let a = factor_info(&p).footnote6;
                rows.push((p.clone(), a, series_aggregate(r.probe(t, &p), a)));
            }
            for (m, a, v) in rows {
                if let Some(v) = v {
                    w.write_record([
                        r.id.clone(),
                        r.variant.clone(),
                        r.seed.to_string(),
                        r.grid_tag.clone(),
                        t.clone(),
                        m,
                        a.name().into(),
                        f(v),
                    ])?;
                }
            }
        }
    }
    w.flush()?;

    // similarity.csv: every run's Elich et al. summaries, one row per epoch, pairs and measure.
    let mut w = csv_writer(&dir.join("similarity.csv"))?;
    w.write_record([
        "run_id", "variant", "seed", "grid", "epoch", "pairs", "pairing", "measure", "n", "mean",
        "std", "p2.5", "p97.5",
    ])?;
    for r in &data.runs {
        for s in &r.similarity {
            w.write_record([
                r.id.clone(),
                r.variant.clone(),
                r.seed.to_string(),
                r.grid_tag.clone(),
                s.epoch.to_string(),
                s.pairs.clone(),
                s.pairing.clone(),
                s.measure.clone(),
                s.n.to_string(),
                f(s.mean),
                f(s.std),
                f(s.p2_5),
                f(s.p97_5),
            ])?;
        }
    }
    w.flush()?;

    let sel = &data.plan.selection;
    let mut w = csv_writer(&dir.join("selection.csv"))?;
    w.write_record([
        "variant",
        "grid",
        "metric",
        "aggregate",
        "tasks",
        "score_mean",
        "seeds_scored",
        "selected",
    ])?;
    for s in &res.groups.selections {
        // The tasks the score averaged: the selection tasks the variant has, else all its tasks;
        // and the metric each of them was scored on.
        let run = data.runs.iter().find(|r| r.variant == s.variant);
        let vtasks: Vec<String> = run.map(|r| r.task_names()).unwrap_or_default();
        let used: Vec<&String> = score_tasks(&vtasks, sel.tasks.as_deref());
        // Under `val_delta_m` the STL baselines are scored on their validation loss.
        let select = match run {
            Some(r) if sel.metric == SelectMetric::DeltaM && r.kind == RunKind::Stl => {
                SelectMetric::Val(crate::train::run_files::LOSS.into())
            }
            _ => sel.metric.clone(),
        };
        let mut metrics: Vec<String> = Vec::new();
        for t in &used {
            let m = run
                .and_then(|r| r.task(t))
                .and_then(|i| rank_metric(&select, i))
                .map(|m| m.name())
                .unwrap_or_else(|| select.name());
            if !metrics.contains(&m) {
                metrics.push(m);
            }
        }
        let metric = if metrics.is_empty() {
            sel.metric.name()
        } else {
            metrics.join("+")
        };
        let used_tasks = used
            .iter()
            .map(|t| t.as_str())
            .collect::<Vec<_>>()
            .join("+");
        for (tag, score, n) in &s.scores {
            w.write_record([
                s.variant.clone(),
                tag.clone(),
                metric.clone(),
                sel.aggregate.name().into(),
                used_tasks.clone(),
                f(*score),
                n.to_string(),
                (*tag == s.grid_tag).to_string(),
            ])?;
        }
    }
    w.flush()?;

    write_transfer(&dir.join("transfer.csv"), &res.transfer)?;
    write_delta_m(dir, &res.delta_m)?;
    let phase_rows = res
        .probe_phases
        .iter()
        .map(|p| (&p.row, Some((p.loss_low, p.loss_high))));
    write_probe_table(&dir.join("probe_comparable_loss.csv"), phase_rows)?;
    write_probe_table(
        &dir.join("probe_transfer.csv"),
        res.probe_transfer.iter().map(|r| (r, None)),
    )?;

    let mut w = csv_writer(&dir.join("probe_aggregates.csv"))?;
    w.write_record(["variant", "task", "probe", "aggregate", "mean", "std", "n"])?;
    for (v, t, p, a, s) in &res.probe_summary {
        w.write_record([
            v.clone(),
            t.clone(),
            p.clone(),
            a.name().into(),
            f(s.mean),
            f(s.std),
            s.n.to_string(),
        ])?;
    }
    w.flush()?;

    let bins = res.bins.iter().flat_map(|(v, t, m, rows)| {
        rows.iter().map(move |b| GapRow {
            key: (v, t, m, b.bin.to_string()),
            range: (b.loss_low, b.loss_high),
            stl: &b.stl,
            mtl: &b.mtl,
            gap: b.gap,
            significant: b.significant,
        })
    });
    write_gap_table(&dir.join("comparable_loss.csv"), "bin", bins)?;
    let phases = res.phases.iter().flat_map(|(v, t, m, rows)| {
        rows.iter().map(move |p| GapRow {
            key: (v, t, m, p.phase.name().to_string()),
            range: (p.loss_low, p.loss_high),
            stl: &p.stl,
            mtl: &p.mtl,
            gap: p.gap,
            significant: p.significant,
        })
    });
    write_gap_table(&dir.join("generalization_gap.csv"), "phase", phases)?;

    let mut w = csv_writer(&dir.join("conflict.csv"))?;
    w.write_record([
        "task",
        "variant",
        "conflict_mean",
        "conflict_std",
        "n",
        "effect",
        "value",
    ])?;
    for p in &res.conflict_points {
        for (e, v) in &p.effects {
            w.write_record([
                p.task.clone(),
                p.variant.clone(),
                f(p.conflict.mean),
                f(p.conflict.std),
                p.conflict.n.to_string(),
                e.clone(),
                f(*v),
            ])?;
        }
    }
    w.flush()?;
    let mut w = csv_writer(&dir.join("conflict_correlation.csv"))?;
    // `pearson_r` is empty where the correlation is undefined; `note` says why.
    w.write_record(["task", "effect", "n_aux_sets", "pearson_r", "note"])?;
    for c in &res.conflict_corrs {
        let (r, note) = match &c.r {
            Ok(r) => (f(*r), String::new()),
            Err(why) => (String::new(), format!("undefined: {why}")),
        };
        w.write_record([c.task.clone(), c.effect.clone(), c.n.to_string(), r, note])?;
    }
    w.flush()?;

    let mut w = csv_writer(&dir.join("smto.csv"))?;
    w.write_record([
        "variant",
        "baseline",
        "task",
        "factor",
        "aggregate",
        "better",
        "smto_mean",
        "umtg_mean",
        "factor_pct_change",
        "generalization_metric",
        "generalization_better",
        "generalization_pct_change",
        "generalization_delta",
        "generalization_significant",
        "quadrant",
    ])?;
    for r in &res.smto {
        w.write_record([
            r.variant.clone(),
            r.baseline.clone(),
            r.task.clone(),
            r.factor.clone(),
            r.aggregate.clone(),
            r.direction.map(|d| d.name()).unwrap_or("none").into(),
            f(r.smto),
            f(r.umtg),
            f(r.factor_pct),
            r.generalization_metric.clone(),
            r.generalization_direction.name().into(),
            f(r.generalization_pct),
            f(r.generalization_delta),
            r.generalization_significant.to_string(),
            r.quadrant.name().into(),
        ])?;
    }
    w.flush()?;

    let mut w = csv_writer(&dir.join("pareto.csv"))?;
    w.write_record([
        "task_set",
        "variant",
        "task",
        "final_val_loss",
        "reference",
        "on_front",
        "hypervolume",
    ])?;
    for s in &res.pareto {
        for p in &s.points {
            for (k, t) in s.tasks.iter().enumerate() {
                w.write_record([
                    s.tasks.join("+"),
                    p.variant.clone(),
                    t.clone(),
                    f(p.losses[k]),
                    f(s.reference[k]),
                    p.on_front.to_string(),
                    f(p.hypervolume),
                ])?;
            }
        }
    }
    w.flush()?;
    if let Some(st) = &res.optimizer_study {
        write_optimizer_study(dir, st)?;
    }
    let mut w = csv_writer(&dir.join("hypervolume.csv"))?;
    w.write_record(["task_set", "reference", "front_hypervolume", "points"])?;
    for s in &res.pareto {
        w.write_record([
            s.tasks.join("+"),
            s.reference
                .iter()
                .map(|r| f(*r))
                .collect::<Vec<_>>()
                .join(";"),
            f(s.hypervolume),
            s.points.len().to_string(),
        ])?;
    }
    w.flush()?;
    Ok(())
}
