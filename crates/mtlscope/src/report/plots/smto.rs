//! Figure 4 of Mueller et al. 2025 (§4.2): SMTO vs UMTG quadrant plots.
use std::path::Path;

use anyhow::Result;

use super::{color, save, slug, Figure, Panel, Series};
use crate::analysis::smto::SmtoRow;
use crate::analysis::Groups;

/// One figure per SMTO variant.
pub fn figures(groups: &Groups, rows: &[SmtoRow], dir: &Path) -> Result<Vec<Figure>> {
    let mut out = Vec::new();
    let mut variants: Vec<&str> = Vec::new();
    for r in rows {
        if !variants.contains(&r.variant.as_str()) {
            variants.push(&r.variant);
        }
    }
    for name in variants {
        let vr: Vec<&SmtoRow> = rows.iter().filter(|r| r.variant == name).collect();
        let Some(v) = groups.variants.iter().find(|g| g.name == name) else {
            continue;
        };
        let base = groups.variants.iter().find(|g| g.name == vr[0].baseline);
        let mut factors: Vec<&str> = Vec::new();
        for r in &vr {
            if !factors.contains(&r.factor.as_str()) {
                factors.push(&r.factor);
            }
        }
        let tasks: Vec<&str> = {
            let mut t: Vec<&str> = Vec::new();
            for r in &vr {
                if !t.contains(&r.task.as_str()) {
                    t.push(&r.task);
                }
            }
            t
        };
        let panels: Vec<Panel> = factors
            .iter()
            .map(|f| Panel {
                title: format!("{}: {f}", v.label),
                x_label: format!("%Δ {f} vs UMTG (lower = better)"),
                y_label: "%Δ top-10-val test accuracy vs UMTG".into(),
                quadrants: true,
                hlines: vec![0.0],
                vlines: vec![0.0],
                series: tasks
                    .iter()
                    .enumerate()
                    .filter_map(|(k, t)| {
                        let r = vr.iter().find(|r| r.factor == *f && r.task == *t)?;
                        Some(Series::scatter(
                            t.to_string(),
                            color(k + 5),
                            vec![(r.factor_pct, r.generalization_pct)],
                            6,
                        ))
                    })
                    .collect(),
                ..Default::default()
            })
            .collect();
        let stem = format!("fig4_smto_{}", slug(name));
        save(dir, &stem, &panels, 4)?;
        out.push(Figure {
            stem,
            title: format!("SMTO vs UMTG — {}", v.label),
            caption: format!(
                "One point per task of {} (colours: tasks). x: %Δ = 100 (SMTO − UMTG)/|UMTG| of \
                 each optimization factor (minimum training loss; sharpness and coherence: mean of \
                 the last 20 checkpoints; Fisher trace: mean of the 20 largest values), y: %Δ of \
                 the top-10-validation test accuracy; values are seed means. Green: both improve \
                 (x < 0, y > 0); red: both degrade. Baseline: {} ({} runs); SMTO: {} runs.",
                v.label,
                base.map(|b| b.label.as_str()).unwrap_or("?"),
                base.map(|b| b.runs.len()).unwrap_or(0),
                v.runs.len()
            ),
        });
    }
    Ok(out)
}
