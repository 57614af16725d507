//! Elich et al. (2024) Fig. 4: inter-task against inter-sample gradient similarity over
//! training, from the runs' `similarity.csv` (`probes.similarity_every`; see
//! [`crate::probe::similarity`]). One figure per variant that recorded it, three panels (cosine,
//! magnitude similarity, conflicting-parameter ratio); inter-sample red, inter-task blue; per
//! epoch the mean (solid), mean ± std (band) and the 2.5 / 97.5 percentiles (dashed), as in the
//! paper. With several seeds each statistic is averaged over them.
use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;
use plotters::style::RGBColor;

use super::{save, slug, Figure, Legend, Panel, Series};
use crate::analysis::Groups;
use crate::train::run_files::SimilaritySummary;

/// Elich's colours.
const RED: RGBColor = RGBColor(214, 39, 40);
const BLUE: RGBColor = RGBColor(31, 119, 180);

/// The panels: measure name in `similarity.csv`, y label.
const MEASURES: [(&str, &str); 3] = [
    ("cos", "cosine similarity"),
    ("magsim", "magnitude similarity"),
    ("conflict_ratio", "ratio of conflicting parameters"),
];

/// Per epoch the seed-mean of (mean, std, p2.5, p97.5) of one (pairs, measure).
fn per_epoch(rows: &[&SimilaritySummary]) -> BTreeMap<u64, [f64; 4]> {
    let mut acc: BTreeMap<u64, ([f64; 4], usize)> = BTreeMap::new();
    for r in rows {
        let e = acc.entry(r.epoch).or_default();
        for (a, v) in e.0.iter_mut().zip([r.mean, r.std, r.p2_5, r.p97_5]) {
            *a += v;
        }
        e.1 += 1;
    }
    acc.into_iter()
        .map(|(ep, (s, n))| (ep, s.map(|v| v / n as f64)))
        .collect()
}

/// One figure per variant whose runs recorded the similarity summaries.
pub fn figures(groups: &Groups, dir: &Path) -> Result<Vec<Figure>> {
    let mut out = Vec::new();
    for v in &groups.variants {
        let rows: Vec<&SimilaritySummary> = v.runs.iter().flat_map(|r| &r.similarity).collect();
        if rows.is_empty() {
            continue;
        }
        let seeds = v.runs.iter().filter(|r| !r.similarity.is_empty()).count();
        let mut panels = Vec::new();
        for (i, (measure, label)) in MEASURES.iter().enumerate() {
            // One legend, on the first panel: the others would only hide more data.
            let name_if = |s: String| if i == 0 { s } else { String::new() };
            let mut series = Vec::new();
            for (pairs, name, color) in [
                ("inter_sample", "inter-sample", RED),
                ("inter_task", "inter-task", BLUE),
            ] {
                let sel: Vec<&SimilaritySummary> = rows
                    .iter()
                    .copied()
                    .filter(|r| r.pairs == pairs && r.measure == *measure)
                    .collect();
                let stats = per_epoch(&sel);
                if stats.is_empty() {
                    continue;
                }
                let x = |e: &u64| *e as f64;
                series.push(Series::line(
                    name_if(format!("{name} mean ± std")),
                    color,
                    stats.iter().map(|(e, s)| (x(e), s[0])).collect(),
                    stats
                        .iter()
                        .map(|(e, s)| (x(e), s[0] - s[1], s[0] + s[1]))
                        .collect(),
                ));
                series.push(Series::dashed(
                    name_if(format!("{name} 2.5 / 97.5 %")),
                    color,
                    stats.iter().map(|(e, s)| (x(e), s[2])).collect(),
                ));
                series.push(Series::dashed(
                    "",
                    color,
                    stats.iter().map(|(e, s)| (x(e), s[3])).collect(),
                ));
            }
            panels.push(Panel {
                title: format!("{}: {label}", v.label),
                x_label: "epoch".into(),
                y_label: label.to_string(),
                legend: Legend::LowerRight,
                hlines: if *measure == "cos" { vec![0.0] } else { vec![] },
                series,
                ..Default::default()
            });
        }
        let pairing = rows
            .iter()
            .find(|r| r.pairs == "inter_task")
            .map(|r| r.pairing.as_str());
        let task_pairs = match pairing {
            Some("same_sample") => {
                "inter-task pairs compare two tasks' gradients on the very same example (the tasks \
                 share their inputs)"
            }
            Some(_) => {
                "the tasks have their own inputs, so inter-task pairs compare task a's gradient on \
                 its i-th drawn example with task b's on its i-th drawn example (different \
                 images; the only pairing such data allows)"
            }
            None => "a single task: no inter-task pairs",
        };
        let n: u64 = rows
            .iter()
            .filter(|r| r.epoch == 1)
            .map(|r| r.n)
            .max()
            .unwrap_or(0);
        let stem = format!("elich_fig4_similarity_{}", slug(&v.name));
        save(dir, &stem, &panels, 3)?;
        out.push(Figure {
            stem,
            title: format!(
                "Inter-task vs inter-sample gradient similarity — {}",
                v.label
            ),
            caption: format!(
                "Elich et al. (2024) Fig. 4 protocol: per-example gradients on the shared \
                 parameters of a few examples and tasks of every N-th training batch \
                 (<code>probes.similarity_every</code>), compared pairwise; per epoch, over all \
                 pairs of its measured steps: mean (solid), mean ± std (band), 2.5th and 97.5th \
                 percentiles (dashed). Inter-sample (red): pairs of examples of one task, pooled \
                 over tasks; inter-task (blue): {task_pairs}. Up to {n} pair values per line and \
                 epoch per run; {seeds} run{} (statistics averaged over runs). Data: \
                 <code>similarity.csv</code> of each run, <code>tables/similarity.csv</code>.",
                if seeds == 1 { "" } else { "s" }
            ),
        });
    }
    Ok(out)
}
