//! Pareto front of final per-task validation losses across variants.
use std::path::Path;

use anyhow::Result;

use super::{color, save, slug, Figure, Panel, Series};
use crate::analysis::pareto::ParetoSet;

/// One figure per task set (the first two tasks are the axes).
pub fn figures(sets: &[ParetoSet], dir: &Path) -> Result<Vec<Figure>> {
    let mut out = Vec::new();
    for set in sets.iter().filter(|s| s.tasks.len() >= 2) {
        let (a, b) = (0, 1);
        let mut series = Vec::new();
        for p in &set.points {
            let c = color(p.index);
            if !p.seeds.is_empty() {
                series.push(Series::scatter(
                    "",
                    c,
                    p.seeds.iter().map(|s| (s[a], s[b])).collect(),
                    3,
                ));
            }
            series.push(Series::scatter(
                format!("{}{}", p.label, if p.on_front { " (front)" } else { "" }),
                c,
                vec![(p.losses[a], p.losses[b])],
                7,
            ));
        }
        // Staircase of the non-dominated means, drawn to just past the plotted points (the
        // reference point is usually far out and would squeeze the points into a corner).
        let ext = |k: usize| {
            let vals = set
                .points
                .iter()
                .flat_map(|p| std::iter::once(p.losses[k]).chain(p.seeds.iter().map(|s| s[k])));
            let (lo, hi) = vals.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
                (l.min(v), h.max(v))
            });
            (hi + 0.15 * (hi - lo).max(1e-3 * hi.abs())).min(set.reference[k])
        };
        let (end_a, end_b) = (ext(a), ext(b));
        let mut front: Vec<(f64, f64)> = set
            .points
            .iter()
            .filter(|p| p.on_front)
            .map(|p| (p.losses[a], p.losses[b]))
            .collect();
        front.sort_by(|x, y| x.0.partial_cmp(&y.0).unwrap());
        let mut stair = Vec::new();
        if let Some(first) = front.first() {
            stair.push((first.0, end_b));
        }
        for (i, q) in front.iter().enumerate() {
            stair.push(*q);
            let next_x = front.get(i + 1).map(|n| n.0).unwrap_or(end_a);
            stair.push((next_x, q.1));
        }
        series.push(Series::line(
            "front (dominates above/right)",
            plotters::style::RGBColor(90, 90, 90),
            stair,
            Vec::new(),
        ));
        let name = if set.tasks.len() > 4 {
            format!(
                "{} tasks ({}, {}, …, {})",
                set.tasks.len(),
                set.tasks[0],
                set.tasks[1],
                set.tasks[set.tasks.len() - 1]
            )
        } else {
            set.tasks.join("+")
        };
        let stem = format!("fig7_pareto_{}", slug(&name));
        save(
            dir,
            &stem,
            &[Panel {
                title: format!("{name}: final validation losses"),
                x_label: format!("final validation loss of {} (nats)", set.tasks[a]),
                y_label: format!("final validation loss of {} (nats)", set.tasks[b]),
                series,
                ..Default::default()
            }],
            1,
        )?;
        let n_runs: usize = set.points.iter().map(|p| p.seeds.len()).sum();
        out.push(Figure {
            stem,
            title: format!("Pareto front — {name}"),
            caption: format!(
                "Final validation loss per task (last evaluation); large markers: mean over \
                 seeds per variant, small: single seeds ({n_runs} multi-task runs); \"STL \
                 (separate models)\" combines the STL variants' means. Line: the non-dominated \
                 means as a staircase (drawn only near the points; reference point: {}). Hypervolume of the front \
                 (minimisation, reference as given): {:.4}; per-variant values in the table.{}",
                set.reference.iter().map(|r| format!("{r:.3}")).collect::<Vec<_>>().join(", "),
                set.hypervolume,
                if set.tasks.len() > 2 { " Only the first two tasks are drawn; the hypervolume uses all." } else { "" }
            ),
        });
    }
    Ok(out)
}
