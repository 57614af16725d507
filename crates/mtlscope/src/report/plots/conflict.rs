//! Figures 5–6 of Mueller et al. 2025 (§5): conflict along training and its relation to the
//! optimization and generalization effects of MTL across auxiliary sets (UMTG variants only:
//! Eq. 6 measures conflict against the gradient actually followed).
use std::path::Path;

use anyhow::Result;

use super::{color, mean_band, runs_note, save, slug, spread_note, Figure, Panel, Series};
use crate::analysis::aggregates::{primary, Metric};
use crate::analysis::conflict::{
    generalization_effect, ConflictCorrelation, ConflictPoint, CONFLICT_PROBE,
};
use crate::analysis::Groups;
use crate::experiment::store::{RunKind, Split};

/// One figure per task with conflict data.
pub fn figures(
    groups: &Groups,
    points: &[ConflictPoint],
    corrs: &[ConflictCorrelation],
    dir: &Path,
) -> Result<Vec<Figure>> {
    let mut out = Vec::new();
    for task in &groups.tasks {
        let vs: Vec<_> = groups
            .mtl_with(task)
            .into_iter()
            .filter(|v| v.kind == RunKind::Umtg)
            .collect();
        let mut series = Vec::new();
        for v in &vs {
            let per_run: Vec<Vec<(u64, f64, f64)>> = v
                .runs
                .iter()
                .map(|r| {
                    r.probe(task, CONFLICT_PROBE)
                        .iter()
                        .filter_map(|&(s, val)| Some((s, r.train_loss_at(task, s)?, val)))
                        .collect()
                })
                .collect();
            let (pts, band, n) = mean_band(&per_run, groups.spread);
            if n > 0 {
                series.push(Series::line(v.label.clone(), color(v.index), pts, band));
            }
        }
        if series.is_empty() {
            continue;
        }
        let mut panels = vec![Panel {
            title: format!("{task}: cos(g_task, g_UMTG)"),
            x_label: format!("training loss of {task} (log scale)"),
            y_label: "cosine similarity (lower = more conflict)".into(),
            log_x: true,
            series,
            ..Default::default()
        }];
        let tp: Vec<&ConflictPoint> = points.iter().filter(|p| &p.task == task).collect();
        // Generalization: the task's primary metric (the other metrics are in the tables).
        let gen = groups
            .info(task)
            .map(|i| Metric::new(Split::Test, primary(i)))
            .unwrap_or_else(|| Metric::loss(Split::Test));
        let gen_effect = generalization_effect(&gen);
        let gen_label = format!(
            "top-10-val {}, MTL − STL ({} is better)",
            gen.name(),
            gen.direction().name()
        );
        for (effect, ylabel) in [
            ("min_train_loss_pct", "min. training loss, %Δ MTL vs STL"),
            (gen_effect.as_str(), gen_label.as_str()),
        ] {
            let r = corrs
                .iter()
                .find(|c| &c.task == task && c.effect == effect)
                .map(|c| c.r.clone())
                .unwrap_or_else(|| Err("no auxiliary set".into()));
            let series = tp
                .iter()
                .filter_map(|p| {
                    let e = p.effects.iter().find(|(n, _)| n == effect)?.1;
                    Some(Series::scatter(
                        p.label.clone(),
                        color(p.index),
                        vec![(p.conflict.mean, e)],
                        6,
                    ))
                })
                .collect();
            panels.push(Panel {
                title: format!(
                    "{task}: {} (Pearson r = {})",
                    if effect.starts_with("min") {
                        "optimization"
                    } else {
                        "generalization"
                    },
                    match r {
                        Ok(r) => format!("{r:.2}"),
                        Err(_) => "undefined".into(),
                    }
                ),
                x_label: "mean cos(g_task, g_UMTG) over training".into(),
                y_label: ylabel.into(),
                hlines: vec![0.0],
                series,
                ..Default::default()
            });
        }
        let stem = format!("fig5_conflict_{}", slug(task));
        save(dir, &stem, &panels, 3)?;
        out.push(Figure {
            stem,
            title: format!("Gradient conflict — {task}"),
            caption: format!(
                "Left: cosine similarity between the gradient of {task} and the UMTG gradient on \
                 the shared parameters (probe {CONFLICT_PROBE}, Eq. 6 of the paper) against the \
                 task's training loss, for the UMTG variants (an SMTO follows another direction, \
                 so its cosine to the UMTG is not the conflict it experienced); mean over seeds \
                 per step, bands {}. Middle and right: one point per auxiliary set (UMTG \
                 variant), mean conflict over training and seeds against the %Δ of the minimum \
                 training loss (optimization) and the Δ of the top-10-validation {} \
                 (generalization) relative to STL; Pearson r across auxiliary sets, undefined \
                 with fewer than 3. Runs: {}.",
                spread_note(groups.spread),
                gen.name().replace('_', " "),
                runs_note(&vs)
            ),
        });
    }
    Ok(out)
}
