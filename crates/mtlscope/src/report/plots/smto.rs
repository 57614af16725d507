//! Figure 4 of Mueller et al. 2025 (§4.2): SMTO vs UMTG quadrant plots, shaded per factor by
//! its better side; tasks whose generalization does not change significantly are grey. The y
//! axis is the %Δ of each task's primary test metric, signed so that up is better (as is for a
//! higher-is-better metric such as accuracy, negated for an error), so one shading fits every
//! task.
use std::path::Path;

use anyhow::Result;

use super::{color, save, slug, Figure, Panel, Series};
use crate::analysis::factors::Direction;
use crate::analysis::smto::SmtoRow;
use crate::analysis::Groups;

/// Grey for tasks without a significant change in generalization.
const GREY: plotters::style::RGBColor = plotters::style::RGBColor(170, 170, 170);

/// One figure per SMTO variant.
pub fn figures(groups: &Groups, rows: &[SmtoRow], dir: &Path) -> Result<Vec<Figure>> {
    let mut out = Vec::new();
    let mut variants: Vec<&str> = Vec::new();
    for r in rows {
        if !variants.contains(&r.variant.as_str()) {
            variants.push(&r.variant);
        }
    }
    let sym = groups.spread.symbol();
    for name in variants {
        let vr: Vec<&SmtoRow> = rows
            .iter()
            .filter(|r| r.variant == name && r.panel)
            .collect();
        let Some(v) = groups.variants.iter().find(|g| g.name == name) else {
            continue;
        };
        if vr.is_empty() {
            continue;
        }
        let base = groups.variants.iter().find(|g| g.name == vr[0].baseline);
        let mut factors: Vec<(&str, Direction)> = Vec::new();
        for r in &vr {
            if let Some(d) = r.direction {
                if !factors.iter().any(|f| f.0 == r.factor) {
                    factors.push((&r.factor, d));
                }
            }
        }
        let mut tasks: Vec<(&str, bool)> = Vec::new();
        for r in &vr {
            if !tasks.iter().any(|t| t.0 == r.task) {
                tasks.push((&r.task, r.generalization_significant));
            }
        }
        let mut gen: Vec<&str> = Vec::new();
        for r in &vr {
            if !gen.contains(&r.generalization_metric.as_str()) {
                gen.push(&r.generalization_metric);
            }
        }
        let all_higher = vr
            .iter()
            .all(|r| r.generalization_direction == Direction::HigherIsBetter);
        let y_label = if all_higher && gen.len() == 1 {
            format!("%Δ top-10-val {} vs UMTG", gen[0])
        } else {
            "%Δ top-10-val primary test metric vs UMTG, + = better".into()
        };
        let panels: Vec<Panel> = factors
            .iter()
            .map(|&(f, dir)| Panel {
                title: format!("{}: {f}", v.label),
                x_label: format!("%Δ {f} vs UMTG ({} is better)", dir.name()),
                y_label: y_label.clone(),
                quadrants: Some(dir),
                hlines: vec![0.0],
                vlines: vec![0.0],
                series: tasks
                    .iter()
                    .enumerate()
                    .filter_map(|(k, &(t, sig))| {
                        let r = vr.iter().find(|r| r.factor == f && r.task == t)?;
                        let (label, c) = if sig {
                            (t.to_string(), color(k + 5))
                        } else {
                            (format!("{t} (n.s.)"), GREY)
                        };
                        let up = match r.generalization_direction {
                            Direction::HigherIsBetter => r.generalization_pct,
                            Direction::LowerIsBetter => -r.generalization_pct,
                        };
                        Some(Series::scatter(label, c, vec![(r.factor_pct, up)], 6))
                    })
                    .collect(),
                ..Default::default()
            })
            .collect();
        let stem = format!("fig4_smto_{}", slug(name));
        save(dir, &stem, &panels, 4)?;
        let shown: Vec<&str> = tasks.iter().filter(|t| t.1).map(|t| t.0).collect();
        out.push(Figure {
            stem,
            title: format!("SMTO vs UMTG — {}", v.label),
            caption: format!(
                "One point per task of {} (colours: tasks). x: %Δ = 100 (SMTO − UMTG)/|UMTG| of \
                 each optimization factor (minimum training loss; sharpness and coherence: mean of \
                 the last 20 checkpoints; Fisher trace: mean of the 20 largest values; \
                 similarities: mean over training), y: %Δ of the top-10-validation value of the \
                 task's primary test metric ({}), negated for a metric that is better low so that \
                 up is better; values are seed means. Each panel is shaded by its factor's better side: green \
                 where the factor and generalization both improve, red where both degrade (for a \
                 similarity, higher is better, so green is on the right). As in the paper, only \
                 tasks whose generalization changes significantly (SMTO and UMTG ±2{sym} \
                 intervals disjoint) are coloured: {}; the others are grey, marked (n.s.). \
                 Baseline: {} ({} runs); SMTO: {} runs.",
                v.label,
                gen.join(", "),
                if shown.is_empty() {
                    "none here".to_string()
                } else {
                    shown.join(", ")
                },
                base.map(|b| b.label.as_str()).unwrap_or("?"),
                base.map(|b| b.runs.len()).unwrap_or(0),
                v.runs.len()
            ),
        });
    }
    Ok(out)
}
