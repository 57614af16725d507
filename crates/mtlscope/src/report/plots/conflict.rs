//! Figures 5–6 of Mueller et al. 2025 (§5): conflict along training and its relation to the
//! optimization and generalization effects of MTL across variants.
use std::path::Path;

use anyhow::Result;

use super::{color, mean_band, runs_note, save, slug, Figure, Panel, Series};
use crate::analysis::conflict::{ConflictCorrelation, ConflictPoint, CONFLICT_PROBE};
use crate::analysis::Groups;

/// One figure per task with conflict data.
pub fn figures(
    groups: &Groups,
    points: &[ConflictPoint],
    corrs: &[ConflictCorrelation],
    dir: &Path,
) -> Result<Vec<Figure>> {
    let mut out = Vec::new();
    for task in &groups.tasks {
        let vs: Vec<_> = groups.mtl_with(task);
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
            let (pts, band, n) = mean_band(&per_run);
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
        for (effect, ylabel) in [
            ("min_train_loss_pct", "min. training loss, %Δ MTL vs STL"),
            ("test_accuracy_delta", "top-10-val test accuracy, MTL − STL"),
        ] {
            let r = corrs
                .iter()
                .find(|c| &c.task == task && c.effect == effect)
                .map(|c| c.r)
                .unwrap_or(f64::NAN);
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
                    if r.is_finite() {
                        format!("{r:.2}")
                    } else {
                        "n/a, < 3 variants".into()
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
                 task's training loss; mean over seeds per step, ±2σ bands (sample std). Middle \
                 and right: one point per multi-task variant, mean conflict over training and \
                 seeds against the %Δ of the minimum training loss (optimization) and the Δ of \
                 the top-10-validation test accuracy (generalization) relative to STL; Pearson r \
                 across variants (needs ≥ 3). Runs: {}.",
                runs_note(&vs)
            ),
        });
    }
    Ok(out)
}
