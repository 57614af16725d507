//! Generalization gap at comparable training loss (Mueller et al. 2025 §3, App. B.4), one panel
//! per validation metric of the task (its own metrics, then its loss).
use std::path::Path;

use anyhow::Result;

use super::{color, runs_note, save, slug, spread_note, Figure, Panel, Series};
use crate::analysis::aggregates::metrics_of;
use crate::analysis::comparable_loss::{binned, N_BINS};
use crate::analysis::Groups;
use crate::experiment::store::Split;

/// One figure per task with an STL baseline and an MTL variant.
pub fn figures(groups: &Groups, dir: &Path) -> Result<Vec<Figure>> {
    let mut out = Vec::new();
    for task in &groups.tasks {
        let (Some(stl), Some(info)) = (groups.stl_for(task), groups.info(task)) else {
            continue;
        };
        let mtl = groups.mtl_with(task);
        if mtl.is_empty() {
            continue;
        }
        let mut panels = Vec::new();
        for metric in metrics_of(info, Split::Val) {
            let mut series = Vec::new();
            for v in &mtl {
                let rows = binned(&stl.runs, &v.runs, task, &metric, groups.spread);
                let mut pts = Vec::new();
                let mut band = Vec::new();
                for b in rows.iter().filter(|b| b.gap.is_finite()) {
                    let x = (b.loss_low * b.loss_high).sqrt();
                    pts.push((x, b.gap));
                    let half = groups.spread.half_width(&b.stl) + groups.spread.half_width(&b.mtl);
                    if half.is_finite() {
                        band.push((x, b.gap - half, b.gap + half));
                    }
                }
                let mut s = Series::line(format!("{} − STL", v.label), color(v.index), pts, band);
                s.marker = 3;
                series.push(s);
            }
            panels.push(Panel {
                title: format!("{task}: gap in {}", metric.name()),
                x_label: format!("training loss of {task}, bin centre (log scale)"),
                y_label: format!(
                    "{} MTL − STL ({} is better)",
                    metric.name(),
                    metric.direction().name()
                ),
                log_x: true,
                hlines: vec![0.0],
                series,
                ..Default::default()
            });
        }
        let stem = format!("fig2_comparable_loss_{}", slug(task));
        save(dir, &stem, &panels, panels.len().min(3))?;
        let mut all = vec![stl];
        all.extend(mtl.iter().copied());
        out.push(Figure {
            stem,
            title: format!("Generalization gap at comparable training loss — {task}"),
            caption: format!(
                "{N_BINS} geometrically spaced bins over the training-loss range of each STL/MTL \
                 pair (all evaluations of all seeds). Per bin: each seed's mean validation metric \
                 over its evaluations in the bin, then MTL mean − STL mean over seeds; bands: \
                 gap ± (half-width STL + half-width MTL) of the {} intervals, which excludes 0 \
                 exactly when the two intervals are disjoint. Only bins both trajectories visit are drawn. \
                 Early-phase and end-of-training gaps are in the table below. Runs: {}.",
                spread_note(groups.spread),
                runs_note(&all)
            ),
        });
    }
    Ok(out)
}
