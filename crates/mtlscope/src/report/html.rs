//! `index.html`: plain HTML + CSS, no JavaScript; figures linked relatively (`figures/…svg`),
//! so the folder can be copied anywhere.
use std::fmt::Write;

use super::plots::Figure;
use super::Results;
use crate::analysis::aggregates::{primary, Aggregate};
use crate::analysis::delta_m::{headline as headline_aggregate, DeltaMRow};
use crate::analysis::optimizer_study::OptimizerStudy;
use crate::analysis::significance::{Spread, Summary};
use crate::analysis::transfer::TransferRow;
use crate::experiment::plan::DeltaMAverage;

/// Escape text for HTML.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn num(x: f64) -> String {
    if !x.is_finite() {
        "–".into()
    } else if x == 0.0 {
        "0".into()
    } else if x.abs() >= 1e4 || x.abs() < 1e-3 {
        format!("{x:.3e}")
    } else {
        format!("{x:.4}")
    }
}

/// "mean ± half-width (n=…)", the half-width 2σ or 2 SE by `spread`.
fn ms(s: &Summary, spread: Spread) -> String {
    if s.n == 0 {
        "–".into()
    } else if s.n == 1 {
        format!("{} (n=1)", num(s.mean))
    } else {
        format!(
            "{} ± {} (n={})",
            num(s.mean),
            num(spread.half_width(s)),
            s.n
        )
    }
}

/// The σ convention and significance test, stated once at the top of the page.
fn spread_paragraph(spread: Spread) -> String {
    let base = "σ is the sample standard deviation over seeds (ddof = 1). \
        \"Significant\" means the two mean ± 2σ intervals do not overlap: this is what Mueller et al. \
        (2025, footnote 6) call significance, a descriptive rule and not a hypothesis test with a \
        stated error rate. Δ brackets are Δ ± (half-width A + half-width B), which exclude 0 exactly \
        when the intervals are disjoint.";
    match spread {
        Spread::Std => format!(
            "{base} Intervals here are mean ± 2σ, as in the paper (<code>mtlscope report --spread \
             stderr</code> uses the standard error instead)."
        ),
        Spread::StdErr => format!(
            "{base} <b>This report was made with <code>--spread stderr</code>:</b> every interval, \
             band and significance test uses ± 2 SE, SE = σ/√n (the standard error of the seed \
             mean), which is narrower than the paper's ± 2σ and shrinks as seeds are added."
        ),
    }
}

fn figure_html(h: &mut String, fig: &Figure) {
    let _ = writeln!(
        h,
        "<figure><img src=\"figures/{s}.svg\" alt=\"{t}\"><figcaption><b>{t}.</b> {c} \
         <a href=\"figures/{s}.svg\">SVG</a> · <a href=\"figures/{s}.png\">PNG</a></figcaption></figure>",
        s = esc(&fig.stem),
        t = esc(&fig.title),
        c = esc(&fig.caption)
    );
}

fn transfer_rows_html(h: &mut String, rows: &[&TransferRow], metric_header: &str, spread: Spread) {
    let sym = spread.symbol();
    let _ = writeln!(
        h,
        "<table><tr><th>variant</th><th>task</th><th>{metric_header}</th><th>aggregate</th>\
         <th>STL mean</th><th>MTL mean</th><th>Δ = MTL − STL</th><th>Δ range from ±2{sym}</th><th>verdict</th></tr>"
    );
    for r in rows {
        let mark = match r.transfer.name() {
            "positive" => "<td class=pos>positive ✔</td>",
            "negative" => "<td class=neg>negative ✘</td>",
            "changed" => "<td>changed (no better side)</td>",
            _ => "<td>none</td>",
        };
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>[{}, {}]</td>{mark}</tr>",
            esc(&r.variant),
            esc(&r.task),
            esc(&r.metric),
            esc(&r.aggregate),
            ms(&r.stl, spread),
            ms(&r.mtl, spread),
            num(r.delta),
            num(r.ci_low),
            num(r.ci_high)
        );
    }
    h.push_str("</table>\n");
}

/// The verdict cell of a comparison row.
fn verdict_cell(r: &TransferRow) -> &'static str {
    match r.transfer.name() {
        "positive" => "<td class=pos>MTL better ✔</td>",
        "negative" => "<td class=neg>MTL worse ✘</td>",
        "changed" => "<td>changed (no better side)</td>",
        _ => "<td>none</td>",
    }
}

/// Δm per multi-task variant and aggregate, below the transfer table.
fn delta_m_html(h: &mut String, rows: &[DeltaMRow], average: DeltaMAverage) {
    if rows.is_empty() {
        return;
    }
    h.push_str(match average {
        DeltaMAverage::Tasks => {
            "<h3>Δm: mean relative change vs STL</h3><p>Δm = (1/T) Σ<sub>tasks</sub> \
             (1/M<sub>t</sub>) Σ<sub>metrics</sub> (−1)<sup>h</sup> (M<sub>MTL</sub> − \
             M<sub>STL</sub>)/M<sub>STL</sub> × 100 (averaged over tasks first)"
        }
        DeltaMAverage::Metrics => {
            "<h3>Δm: mean relative change vs STL</h3><p>Δm = (1/K) Σ<sub>metrics</sub> \
             (−1)<sup>h</sup> (M<sub>MTL</sub> − M<sub>STL</sub>)/M<sub>STL</sub> × 100 \
             (flat mean over the K metrics, as Elich et al. 2025)"
        }
    });
    h.push_str(
        ", h = 1 where higher is better (Maninis et al. \
         2019; Vandenhende et al. 2021): <b>positive = MTL worse</b>. Over the test metrics of \
         every task with an STL variant, except the loss; M are seed means of the aggregate \
         (<code>best_val</code>: at each run's early-stopping checkpoint). \
         <a href=\"tables/delta_m.csv\">delta_m.csv</a>, each term: \
         <a href=\"tables/delta_m_terms.csv\">delta_m_terms.csv</a>.</p>\n\
         <table><tr><th>variant</th><th>aggregate</th><th>tasks</th><th>metrics</th>\
         <th>Δm (%)</th><th>tasks without STL (left out)</th></tr>\n",
    );
    for r in rows {
        let metrics: Vec<String> = r
            .changes
            .iter()
            .map(|c| format!("{} {}", c.task, c.metric))
            .collect();
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&r.variant),
            esc(&r.aggregate),
            esc(&r.tasks().join(", ")),
            esc(&metrics.join(", ")),
            num(r.delta_m),
            if r.without_stl.is_empty() {
                "–".to_string()
            } else {
                esc(&r.without_stl.join(", "))
            }
        );
    }
    h.push_str("</table>\n");
}

/// Elich et al.'s optimizer study: Pareto-optimal counts (their Tab. 2), the parallel
/// coordinates (Fig. 2) and every point.
fn optimizer_study_html(h: &mut String, st: &OptimizerStudy, figs: &[Figure]) {
    h.push_str(
        "<h2>9. Optimizer study (Elich et al. 2025, Tab. 2 and Fig. 2)</h2>\n<p>Every \
         multi-task (variant, grid point) as a point of seed-mean test metrics at each run's \
         early-stopping checkpoint. <b>PO (full)</b>: dominated by no point; <b>PO w.r.t. G</b>: \
         dominated by no point of optimizer G. <a href=\"tables/pareto_counts.csv\">\
         pareto_counts.csv</a>, <a href=\"tables/optimizer_study.csv\">optimizer_study.csv</a>.\
         </p>\n<table><tr><th>optimizer</th><th>points</th><th>PO (full)</th>\
         <th>PO w.r.t. each other optimizer</th></tr>\n",
    );
    for c in &st.counts {
        let vs: Vec<String> = c
            .po_vs
            .iter()
            .map(|(g, n)| format!("{n} w.r.t. {g}"))
            .collect();
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&c.family),
            c.points,
            c.po_full,
            esc(&vs.join(", "))
        );
    }
    h.push_str("</table>\n");
    if !st.left_out.is_empty() {
        let _ = writeln!(
            h,
            "<p class=note>Left out for lacking a test metric at early stopping: {}.</p>",
            esc(&st.left_out.join(", "))
        );
    }
    for f in figs {
        figure_html(h, f);
    }
    let _ = writeln!(
        h,
        "<table><tr><th>variant</th><th>grid point</th><th>optimizer</th><th>seeds</th>{}\
         <th>Δm (%)</th><th>PO (full)</th></tr>",
        st.axes
            .iter()
            .map(|a| format!("<th>{}</th>", esc(&a.label())))
            .collect::<String>()
    );
    for p in &st.points {
        let _ = writeln!(
            h,
            "<tr{}><td>{}</td><td>{}{}</td><td>{}</td><td>{}</td>{}<td>{}</td><td>{}</td></tr>",
            if p.po_full {
                " style=\"font-weight:bold\""
            } else {
                ""
            },
            esc(&p.label),
            esc(&p.grid_tag),
            if p.selected { " (selected)" } else { "" },
            esc(&p.optimizer),
            p.seeds,
            p.values
                .iter()
                .map(|v| format!("<td>{}</td>", num(*v)))
                .collect::<String>(),
            num(p.delta_m),
            if p.po_full { "yes" } else { "no" }
        );
    }
    h.push_str("</table>\n");
}

/// Render the whole page.
pub fn render(res: &Results, warnings: &[String]) -> String {
    let plan = &res.data.plan;
    let g = &res.groups;
    let sp = g.spread;
    let sym = sp.symbol();
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>mtlscope report: {name}</title>\n<style>\
         body{{font-family:DejaVu Sans,Helvetica,Arial,sans-serif;max-width:1300px;margin:1.5em auto;padding:0 1em;color:#222;line-height:1.4}}\
         table{{border-collapse:collapse;margin:.6em 0 1.2em;font-size:.88em}}\
         td,th{{border:1px solid #bbb;padding:.2em .5em;text-align:left}}th{{background:#eee}}\
         figure{{margin:1em 0 2em}}figure img{{max-width:100%;border:1px solid #ddd}}\
         figcaption{{font-size:.9em;color:#333;max-width:1100px}}\
         .pos{{background:#dff0d8}}.neg{{background:#f2dede}}.note{{background:#fcf8e3;padding:.5em;border:1px solid #e0d8a8}}\
         code{{background:#f4f4f4;padding:0 .2em}}</style></head><body>\n\
         <h1>mtlscope report: {name}</h1>\n",
        name = esc(&plan.name)
    );
    if !plan.description.is_empty() {
        let _ = writeln!(h, "<p>{}</p>", esc(&plan.description));
    }
    let _ = writeln!(
        h,
        "<p>{} completed runs of {} planned; {} variants. All tables are in <code>tables/</code> as \
         long-form CSV (<a href=\"tables/trajectories.csv\">trajectories.csv</a>, \
         <a href=\"tables/probes.csv\">probes.csv</a>, <a href=\"tables/aggregates.csv\">aggregates.csv</a>, \
         <a href=\"tables/runs.csv\">runs.csv</a>). {}</p>",
        res.data.runs.len(),
        plan.runs.len(),
        g.variants.len(),
        spread_paragraph(sp)
    );
    if !warnings.is_empty() {
        h.push_str("<div class=note><b>Notes:</b><ul>");
        for w in warnings.iter().take(30) {
            let _ = write!(h, "<li>{}</li>", esc(w));
        }
        if warnings.len() > 30 {
            let _ = write!(
                h,
                "<li>… and {} more (see tables/runs.csv)</li>",
                warnings.len() - 30
            );
        }
        h.push_str("</ul></div>\n");
    }

    // Headline: what the data say about transfer, per task and MTL variant.
    h.push_str("<h2>Summary: transfer measured in this experiment</h2>\n<ul>\n");
    let mut any = false;
    // Per task its primary metric (accuracy for FashionMTL); every metric is in section 3.
    let head_agg = headline_aggregate(g);
    let head_what = match head_agg {
        Aggregate::BestVal => "at the early-stopping checkpoint",
        _ => "mean of the 10 best-validation checkpoints",
    };
    let headline = |r: &&TransferRow| {
        g.info(&r.task)
            .is_some_and(|i| r.metric == format!("test_{}", primary(i).name))
            && r.aggregate == head_agg.name()
    };
    let label = |variant: &str| {
        g.variants
            .iter()
            .find(|v| v.name == variant)
            .map(|v| v.label.clone())
            .unwrap_or_default()
    };
    for r in res.transfer.iter().filter(headline) {
        any = true;
        let _ = writeln!(
            h,
            "<li><b>{}</b> on <b>{}</b>: {} ({head_what}) \
             STL {} vs MTL {}; Δ = {} → <b>{}</b> transfer{}.</li>",
            esc(&label(&r.variant)),
            esc(&r.task),
            esc(&r.metric.replacen('_', " ", 1)),
            ms(&r.stl, sp),
            ms(&r.mtl, sp),
            num(r.delta),
            r.transfer.name(),
            if r.transfer.name() == "none" {
                format!(" (±2{sym} intervals overlap or < 2 seeds)")
            } else {
                format!(" (±2{sym} intervals disjoint)")
            }
        );
    }
    for d in res
        .delta_m
        .iter()
        .filter(|d| d.aggregate == head_agg.name())
    {
        let _ = writeln!(
            h,
            "<li><b>{}</b>: Δm = <b>{}</b> % over {} ({} test metrics vs STL; positive = \
             MTL worse, see section 3).</li>",
            head_agg.name(),
            esc(&label(&d.variant)),
            num(d.delta_m),
            esc(&d.tasks().join(", "))
        );
    }
    if !any {
        h.push_str("<li>No task has both an STL and an MTL variant with test data.</li>");
    }
    h.push_str("</ul>\n");

    // Variants and selection.
    h.push_str("<h2>Variants and hyper-parameter selection</h2>\n<table><tr><th>variant</th><th>label</th><th>kind</th><th>objective</th><th>tasks</th><th>selected grid point</th><th>seeds used</th></tr>\n");
    for v in &g.variants {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&v.name),
            esc(&v.label),
            v.kind.name(),
            esc(&v.objective),
            esc(&v.tasks.join(" + ")),
            if v.grid_tag.is_empty() { "–".into() } else { esc(&v.grid_tag) },
            v.runs.iter().map(|r| r.seed.to_string()).collect::<Vec<_>>().join(", ")
        );
    }
    h.push_str("</table>\n");
    let sel = &plan.selection;
    if g.selections.iter().any(|s| s.scores.len() > 1) {
        let _ = writeln!(
            h,
            "<p>Per variant, the grid point with the best mean over seeds of the {} aggregate of \
             <code>{}</code> (averaged over tasks: {}; a variant without them uses its own tasks) is used for everything below. Scores: \
             <a href=\"tables/selection.csv\">selection.csv</a>.</p>",
            sel.aggregate.name(),
            sel.metric.name(),
            esc(&sel
                .tasks
                .as_ref()
                .map(|t| t.join(", "))
                .unwrap_or_else(|| "all of the variant's tasks".into()))
        );
        h.push_str("<table><tr><th>variant</th><th>grid point</th><th>score (mean)</th><th>seeds scored</th></tr>\n");
        for s in &g.selections {
            for (tag, score, n) in &s.scores {
                let chosen = *tag == s.grid_tag;
                let _ = writeln!(
                    h,
                    "<tr{}><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    if chosen { " class=pos" } else { "" },
                    esc(&s.variant),
                    esc(tag),
                    num(*score),
                    n
                );
            }
        }
        h.push_str("</table>\n");
    }

    let figs = |key: &str| -> &[Figure] {
        res.figures
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, f)| f.as_slice())
            .unwrap_or(&[])
    };

    h.push_str("<h2>1. Generalization vs training loss (paper Fig. 1)</h2>\n");
    for f in figs("fig1") {
        figure_html(&mut h, f);
    }

    h.push_str("<h2>2. Generalization gap at comparable training loss</h2>\n");
    for f in figs("fig2") {
        figure_html(&mut h, f);
    }
    h.push_str(
        &"<p>Phases (20 geometric bins, numbered from the highest loss): <b>early</b> = bins 2–5 over \
         the pair's joint training-loss range (after the first, abnormally high-loss bin); \
         <b>end</b> = the 3 lowest of 20 bins over the range of the single run with the highest \
         minimum training loss. Per seed: mean validation metric of its evaluations in the phase; \
         then mean ± 2{sym} over seeds. <a href=\"tables/generalization_gap.csv\">generalization_gap.csv</a>, \
         per bin: <a href=\"tables/comparable_loss.csv\">comparable_loss.csv</a>.</p>\n\
         <table><tr><th>variant</th><th>task</th><th>metric</th><th>phase</th><th>training-loss range</th><th>STL</th><th>MTL</th><th>gap MTL − STL</th><th>±2{sym} disjoint</th></tr>\n"
            .replace("{sym}", sym),
    );
    for (v, t, m, rows) in &res.phases {
        for p in rows {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>[{}, {}]</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(v), esc(t), esc(m), p.phase.name(), num(p.loss_low), num(p.loss_high), ms(&p.stl, sp), ms(&p.mtl, sp), num(p.gap),
                if p.significant { "yes" } else { "no" }
            );
        }
    }
    h.push_str("</table>\n");

    h.push_str(&"<h2>3. Transfer table (paper Table 1)</h2>\n<p>Δ = mean over MTL seeds − mean over STL seeds of each per-run aggregate: <i>final</i> = last evaluation, <i>top10_val</i> = mean at the 10 checkpoints with the best validation value of the selection metric (<code>{}</code>), one checkpoint set per run and task shared by every metric (paper's generalization measure), <i>last20</i> = mean of the last 20 checkpoints. The bracket is Δ ± 2({sym}_STL + {sym}_MTL): it excludes 0 exactly when the two mean ± 2{sym} intervals do not overlap, the paper's significance test. Rows cover every metric each task reports (<code>run.json</code>) on the validation and test splits, and transfer is direction-aware by each metric's better side (lower loss and errors, higher accuracy, mIoU, F1, …). <a href=\"tables/transfer.csv\">transfer.csv</a>.</p>\n".replace("{}", &g.rank_label()).replace("{sym}", sym));
    let rows: Vec<&TransferRow> = res.transfer.iter().collect();
    transfer_rows_html(&mut h, &rows, "metric", sp);
    delta_m_html(&mut h, &res.delta_m, res.groups.delta_m_average);

    h.push_str("<h2>4. Trajectory probes vs training loss (paper Fig. 3)</h2>\n");
    if figs("fig3").is_empty() {
        h.push_str("<p class=note>No run recorded sharpness, Fisher trace or coherence probes (probes.csv absent or without these probes).</p>\n");
    }
    for f in figs("fig3") {
        figure_html(&mut h, f);
    }
    if !res.probe_phases.is_empty() {
        let _ = writeln!(
            h,
            "<h3>Probes at comparable training loss (App. B.4)</h3><p>As the paper compares \
             them: \"we compare values over similar loss by comparing points that fall within a \
             loss bin\". Fisher trace over the <b>early</b> phase (bins 2–5 of 20 geometric bins \
             over the pair's training-loss range), sharpness and coherence over the <b>end</b> \
             phase (the 3 lowest of 20 bins over the run with the highest minimum training loss) — \
             the same ranges as the generalization gap above. Per seed: mean probe value over its \
             probe evaluations whose training loss falls in the range; then Δ = MTL − STL with \
             the ±2{sym} test. The verdict follows each probe's better side (lower sharpness, \
             Fisher trace, covariance). <a href=\"tables/probe_comparable_loss.csv\">probe_comparable_loss.csv</a>.</p>"
        );
        let _ = writeln!(
            h,
            "<table><tr><th>variant</th><th>task</th><th>probe</th><th>phase</th><th>training-loss range</th>\
             <th>STL</th><th>MTL</th><th>Δ = MTL − STL</th><th>Δ range from ±2{sym}</th><th>verdict</th></tr>"
        );
        for p in &res.probe_phases {
            let r = &p.row;
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>[{}, {}]</td><td>{}</td><td>{}</td><td>{}</td><td>[{}, {}]</td>{}</tr>",
                esc(&r.variant),
                esc(&r.task),
                esc(&r.metric),
                p.phase.name(),
                num(p.loss_low),
                num(p.loss_high),
                ms(&r.stl, sp),
                ms(&r.mtl, sp),
                num(r.delta),
                num(r.ci_low),
                num(r.ci_high),
                verdict_cell(r)
            );
        }
        h.push_str("</table>\n");
    }
    if !res.probe_summary.is_empty() {
        let _ = writeln!(h, "<h3>Unbinned probe aggregates (footnote 6)</h3><p>Per variant, the paper's whole-trajectory aggregates (sharpness and coherence: mean of the last 20 checkpoints; Fisher trace: mean of its 20 largest values; similarities: mean over training), mean ± 2{sym} over seeds: <a href=\"tables/probe_aggregates.csv\">probe_aggregates.csv</a>.</p>");
        h.push_str("<table><tr><th>variant</th><th>task</th><th>probe</th><th>aggregate</th><th>value</th></tr>\n");
        for (v, t, p, a, s) in &res.probe_summary {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(v),
                esc(t),
                esc(p),
                a.name(),
                ms(s, sp)
            );
        }
        h.push_str("</table>\n");
    }
    if !res.probe_transfer.is_empty() {
        let _ = writeln!(h, "<p>Unbinned probe Δ MTL − STL of those aggregates (footnote 6). Unlike the table at comparable loss, these also carry the difference in the training loss the trajectories reach (a lower loss typically means smaller gradients and covariance; App. B.4), so they are the secondary comparison. \"positive\" means MTL moved the probe to its better side (lower sharpness, Fisher trace, covariance; higher similarity) beyond the ±2{sym} intervals. <a href=\"tables/probe_transfer.csv\">probe_transfer.csv</a>.</p>");
        let rows: Vec<&TransferRow> = res.probe_transfer.iter().collect();
        transfer_rows_html(&mut h, &rows, "probe", sp);
    }

    h.push_str("<h2>5. Gradient conflict (paper Fig. 5–6)</h2>\n");
    if figs("fig5").is_empty() {
        h.push_str("<p class=note>No multi-task run recorded the conflict probe <code>conflict_cos_umtg</code>.</p>\n");
    }
    for f in figs("fig5") {
        figure_html(&mut h, f);
    }
    if !res.conflict_corrs.is_empty() {
        h.push_str("<p>Correlations across auxiliary sets: each UMTG variant that trains the task is one auxiliary set (SMTO variants are left out: Eq. 6 measures conflict against the gradient actually followed, which for an SMTO is not the UMTG). Pearson r needs at least 3 auxiliary sets; with fewer it is undefined. <a href=\"tables/conflict_correlation.csv\">conflict_correlation.csv</a>.</p>\n");
        h.push_str("<table><tr><th>task</th><th>effect</th><th>auxiliary sets</th><th>Pearson r (conflict vs effect)</th></tr>\n");
        for c in &res.conflict_corrs {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&c.task),
                esc(&c.effect),
                c.n,
                esc(&c.describe())
            );
        }
        h.push_str("</table>\n");
    }

    h.push_str("<h2>6. SMTO vs UMTG (paper Fig. 4)</h2>\n");
    if res.smto.is_empty() {
        h.push_str("<p class=note>No SMTO runs (objective.kind ≠ \"umtg\") with a UMTG baseline on the same task set: nothing to compare.</p>\n");
    }
    for f in figs("fig4") {
        figure_html(&mut h, f);
    }
    if !res.smto.is_empty() {
        let _ = writeln!(h, "<p>All factors and tasks. <i>better</i>: the factor's better side; generalization: the top-10-val value of the task's primary test metric (its better side in brackets); <i>significant</i>: the SMTO's and the UMTG's ±2{sym} intervals of it are disjoint (only these tasks are coloured in the figure, as in the paper); <i>quadrant</i>: both improve / both degrade (the shaded quadrants) or opposite. <a href=\"tables/smto.csv\">smto.csv</a>.</p>");
        h.push_str("<table><tr><th>SMTO</th><th>baseline</th><th>task</th><th>factor</th><th>better</th><th>SMTO</th><th>UMTG</th><th>%Δ factor</th><th>%Δ generalization</th><th>significant</th><th>quadrant</th></tr>\n");
        for r in &res.smto {
            let _ = writeln!(
                h,
                "<tr{}><td>{}</td><td>{}</td><td>{}</td><td>{} ({})</td><td>{}</td><td>{}</td><td>{}</td><td>{:.2}</td><td>{:.2} ({}, {} is better)</td><td>{}</td><td>{}</td></tr>",
                if r.generalization_significant { "" } else { " style=\"color:#888\"" },
                esc(&r.variant), esc(&r.baseline), esc(&r.task), esc(&r.factor), esc(&r.aggregate),
                r.direction.map(|d| d.name()).unwrap_or("none"),
                num(r.smto), num(r.umtg), r.factor_pct, r.generalization_pct,
                esc(&r.generalization_metric), r.generalization_direction.name(),
                if r.generalization_significant { "yes" } else { "no" },
                r.quadrant.name().replace('_', " ")
            );
        }
        h.push_str("</table>\n");
    }

    h.push_str("<h2>7. Pareto front and hypervolume</h2>\n");
    if res.pareto.is_empty() {
        h.push_str("<p class=note>No multi-task variant: no Pareto comparison.</p>\n");
    }
    for f in figs("fig7") {
        figure_html(&mut h, f);
    }
    for s in &res.pareto {
        let _ = writeln!(
            h,
            "<p>Task set {}: reference point ({}) = 1.1 × the largest final or untrained validation loss per task; front hypervolume {}.</p>\
             <table><tr><th>variant</th>{}<th>on front</th><th>hypervolume alone</th></tr>",
            esc(&s.tasks.join(" + ")),
            s.reference.iter().map(|r| num(*r)).collect::<Vec<_>>().join(", "),
            num(s.hypervolume),
            s.tasks.iter().map(|t| format!("<th>final val loss {}</th>", esc(t))).collect::<String>()
        );
        for p in &s.points {
            let _ = writeln!(
                h,
                "<tr><td>{}</td>{}<td>{}</td><td>{}</td></tr>",
                esc(&p.label),
                p.losses
                    .iter()
                    .map(|l| format!("<td>{}</td>", num(*l)))
                    .collect::<String>(),
                if p.on_front { "yes" } else { "no" },
                num(p.hypervolume)
            );
        }
        h.push_str("</table>\n");
    }

    if !figs("elich4").is_empty() {
        h.push_str("<h2>8. Inter-task vs inter-sample gradient similarity (Elich et al. 2024, Fig. 4)</h2>\n");
        h.push_str("<p>Elich et al. ask whether gradients of different tasks on one example differ more than gradients of one task on different examples. Their finding to compare with: the spread of the cosine and the share of conflicting parameters are similar for both kinds of pair, while the magnitude similarity is consistently lower between tasks than between samples.</p>\n");
        for f in figs("elich4") {
            figure_html(&mut h, f);
        }
    }

    if let Some(st) = &res.optimizer_study {
        optimizer_study_html(&mut h, st, figs("elich2"));
    }

    if !res.data.excluded.is_empty() {
        h.push_str(
            "<h2>Runs not used</h2><table><tr><th>run</th><th>status</th><th>message</th></tr>\n",
        );
        for e in &res.data.excluded {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&e.id),
                esc(&e.status),
                esc(&e.message)
            );
        }
        h.push_str("</table>\n");
    }
    h.push_str("<hr><p style=\"font-size:.85em\">Generated by mtlscope report. Definitions: <code>docs/formulas.md</code> in the mtlscope repository (\"Analyses\") and Mueller, Dredze &amp; Andrews, <i>Can Optimization Trajectories Explain Multi-Task Transfer?</i>, TMLR 2025 (§3–5, App. B.4).</p>\n</body></html>\n");
    h
}
