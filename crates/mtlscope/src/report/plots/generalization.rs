//! Figure 1 of Mueller et al. 2025 (§3): per task, validation loss and each validation metric
//! of the task (`run.json`: accuracy for FashionMTL, mIoU, depth error, …) against the task's
//! full-training-set loss (log axis) for STL and every MTL variant.
use std::path::Path;

use anyhow::Result;

use super::{color, mean_band, runs_note, save, slug, spread_note, Figure, Legend, Panel, Series};
use crate::analysis::aggregates::{metrics_of, Metric};
use crate::analysis::Groups;
use crate::experiment::store::Split;

/// One figure per task.
pub fn figures(groups: &Groups, dir: &Path) -> Result<Vec<Figure>> {
    let mut out = Vec::new();
    for task in &groups.tasks {
        let Some(info) = groups.info(task) else {
            continue;
        };
        let vs: Vec<_> = groups
            .stl_for(task)
            .into_iter()
            .chain(groups.mtl_with(task))
            .collect();
        if vs.is_empty() {
            continue;
        }
        // The loss on the left (log scale), then the task's own metrics.
        let mut metrics = vec![Metric::loss(Split::Val)];
        metrics.extend(
            metrics_of(info, Split::Val)
                .into_iter()
                .filter(|m| !m.is_loss()),
        );
        let mut panels = Vec::new();
        for m in &metrics {
            let mut series = Vec::new();
            for v in &vs {
                let per_run: Vec<Vec<(u64, f64, f64)>> = v
                    .runs
                    .iter()
                    .map(|r| {
                        m.series(r, task)
                            .iter()
                            .filter_map(|p| {
                                let x = r.train_loss_at(task, p.step)?;
                                Some((p.step, x, p.value))
                            })
                            .collect()
                    })
                    .collect();
                let (pts, band, _) = mean_band(&per_run, groups.spread);
                series.push(Series::line(v.label.clone(), color(v.index), pts, band));
            }
            let loss = m.is_loss();
            panels.push(Panel {
                title: format!("{task}: validation {}", m.metric),
                x_label: format!("training loss of {task} (full training set, log scale)"),
                y_label: if loss {
                    "validation loss (the task's training loss, log scale)".into()
                } else {
                    format!(
                        "validation {} ({} is better)",
                        m.metric,
                        m.direction().name()
                    )
                },
                log_x: true,
                log_y: loss,
                // Training runs right to left: the corner the curves leave empty is low-right
                // for a metric that falls (loss, errors) and low-left for one that rises.
                legend: if m.higher_is_better() {
                    Legend::LowerLeft
                } else {
                    Legend::LowerRight
                },
                series,
                ..Default::default()
            });
        }
        let others: Vec<&str> = metrics[1..].iter().map(|m| m.metric.as_str()).collect();
        let stem = format!("fig1_generalization_{}", slug(task));
        save(dir, &stem, &panels, panels.len().min(3))?;
        out.push(Figure {
            stem,
            title: format!("Generalization vs training loss — {task}"),
            caption: format!(
                "Validation loss (left, log scale) and validation {} of task {task} \
                 against its loss on the full training set (log scale), at every evaluation \
                 including epoch 0. Lines: mean over seeds at each evaluation step (x and y both \
                 averaged); bands: {} of the y value. Training proceeds from right to left. \
                 Runs: {}.",
                if others.is_empty() {
                    "– (the task reports only its loss)".to_string()
                } else {
                    others.join(", ")
                },
                spread_note(groups.spread),
                runs_note(&vs)
            ),
        });
    }
    Ok(out)
}
