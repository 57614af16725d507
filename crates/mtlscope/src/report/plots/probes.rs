//! Figure 3 of Mueller et al. 2025 (§4.1): trajectory probes against the task's training loss.
use std::path::Path;

use anyhow::Result;

use super::{color, mean_band, runs_note, save, slug, spread_note, Figure, Legend, Panel, Series};
use crate::analysis::Groups;

/// The probes of Fig. 3, with axis labels.
pub const FIG3_PROBES: [(&str, &str); 3] = [
    ("sharpness", "adaptive worst-case ρ-sharpness (Δ loss)"),
    ("fim_trace", "Fisher information trace"),
    ("coherence", "gradient covariance trace (coherence)"),
];

/// One figure per task that has any of the probes.
pub fn figures(groups: &Groups, dir: &Path) -> Result<Vec<Figure>> {
    let mut out = Vec::new();
    for task in &groups.tasks {
        let vs: Vec<_> = groups
            .stl_for(task)
            .into_iter()
            .chain(groups.mtl_with(task))
            .collect();
        let mut panels = Vec::new();
        let mut used = Vec::new();
        for (probe, label) in FIG3_PROBES {
            let mut series = Vec::new();
            let mut all_pos = true;
            for v in &vs {
                let per_run: Vec<Vec<(u64, f64, f64)>> = v
                    .runs
                    .iter()
                    .map(|r| {
                        r.probe(task, probe)
                            .iter()
                            .filter_map(|&(s, val)| Some((s, r.train_loss_at(task, s)?, val)))
                            .collect()
                    })
                    .collect();
                all_pos &= per_run.iter().flatten().all(|p| p.2 > 0.0);
                let (pts, band, n) = mean_band(&per_run, groups.spread);
                if n > 0 {
                    series.push(Series::line(v.label.clone(), color(v.index), pts, band));
                }
            }
            if series.is_empty() {
                continue;
            }
            used.push(probe);
            panels.push(Panel {
                title: format!("{task}: {probe}"),
                x_label: format!("training loss of {task} (log scale)"),
                y_label: format!("{label}{}", if all_pos { ", log scale" } else { "" }),
                log_x: true,
                log_y: all_pos,
                legend: Legend::UpperLeft,
                series,
                ..Default::default()
            });
        }
        if panels.is_empty() {
            continue;
        }
        let stem = format!("fig3_probes_{}", slug(task));
        save(dir, &stem, &panels, 3)?;
        out.push(Figure {
            stem,
            title: format!("Trajectory probes vs training loss — {task}"),
            caption: format!(
                "Probes {} of task {task} at each probe evaluation, against the task's \
                 full-training-set loss at the same step (log scale). Lines: mean over seeds per \
                 step; bands: {}. Tables below: the probes compared at comparable training \
                 loss (App. B.4: Fisher trace in the early phase, sharpness and coherence at \
                 the end of training), then footnote 6's unbinned aggregates. Runs: {}.",
                used.join(", "),
                spread_note(groups.spread),
                runs_note(&vs)
            ),
        });
    }
    Ok(out)
}
