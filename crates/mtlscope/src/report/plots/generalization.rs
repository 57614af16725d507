//! Figure 1 of Mueller et al. 2025 (§3): per task, validation loss and accuracy against the
//! task's full-training-set loss (log axis) for STL and every MTL variant.
use std::path::Path;

use anyhow::Result;

use super::{color, mean_band, runs_note, save, slug, spread_note, Figure, Legend, Panel, Series};
use crate::analysis::Groups;
use crate::experiment::store::Split;

/// One figure per task.
pub fn figures(groups: &Groups, dir: &Path) -> Result<Vec<Figure>> {
    let mut out = Vec::new();
    for task in &groups.tasks {
        let vs: Vec<_> = groups
            .stl_for(task)
            .into_iter()
            .chain(groups.mtl_with(task))
            .collect();
        if vs.is_empty() {
            continue;
        }
        let mut panels = Vec::new();
        for (acc, name) in [(false, "validation loss"), (true, "validation accuracy")] {
            let mut series = Vec::new();
            for v in &vs {
                let per_run: Vec<Vec<(u64, f64, f64)>> = v
                    .runs
                    .iter()
                    .map(|r| {
                        r.series(task, Split::Val)
                            .iter()
                            .filter_map(|p| {
                                let x = r.train_loss_at(task, p.step)?;
                                Some((p.step, x, if acc { p.accuracy } else { p.loss }))
                            })
                            .collect()
                    })
                    .collect();
                let (pts, band, _) = mean_band(&per_run, groups.spread);
                series.push(Series::line(v.label.clone(), color(v.index), pts, band));
            }
            panels.push(Panel {
                title: format!("{task}: {name}"),
                x_label: format!("training loss of {task} (full training set, log scale)"),
                y_label: if acc {
                    "validation accuracy (fraction)".into()
                } else {
                    "validation loss (cross-entropy, log scale)".into()
                },
                log_x: true,
                log_y: !acc,
                // Training runs right to left: low-right is empty for loss, low-left for accuracy.
                legend: if acc {
                    Legend::LowerLeft
                } else {
                    Legend::LowerRight
                },
                series,
                ..Default::default()
            });
        }
        let stem = format!("fig1_generalization_{}", slug(task));
        save(dir, &stem, &panels, 2)?;
        out.push(Figure {
            stem,
            title: format!("Generalization vs training loss — {task}"),
            caption: format!(
                "Validation loss (left, log scale) and validation accuracy (right) of task {task} \
                 against its loss on the full training set (log scale), at every evaluation \
                 including epoch 0. Lines: mean over seeds at each evaluation step (x and y both \
                 averaged); bands: {} of the y value. Training proceeds from right to left. \
                 Runs: {}.",
                spread_note(groups.spread),
                runs_note(&vs)
            ),
        });
    }
    Ok(out)
}
