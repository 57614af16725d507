//! Parallel coordinates of the optimizer study (Elich et al. 2025, Fig. 2 and A4): one vertical
//! axis per test metric, one polyline per (method, optimizer, learning rate), coloured by
//! optimizer group, Pareto-optimal points (PO full) bold and saturated, the others thin and
//! faded. Each axis is scaled to the points' range and turned so that better is up; its best and
//! worst values are written at its ends.
use std::path::Path;

use anyhow::{anyhow, Context, Result};
use plotters::coord::Shift;
use plotters::prelude::*;

use super::{color, init_font, Figure};
use crate::analysis::optimizer_study::OptimizerStudy;

const SIZE: (u32, u32) = (1040, 560);

/// Colour of an optimizer group: Adam blue and SGD orange as in Elich's figures, then the
/// palette.
fn family_color(family: &str, families: &[String]) -> RGBColor {
    match family {
        "adam" => color(0),
        "sgd" => color(1),
        "signsgd" => color(2),
        f => color(3 + families.iter().position(|g| g == f).unwrap_or(0)),
    }
}

/// Draws the study's figure (`elich2_parallel.svg|png`), or nothing without points.
pub fn figures(study: Option<&OptimizerStudy>, dir: &Path) -> Result<Vec<Figure>> {
    let Some(s) = study.filter(|s| !s.points.is_empty() && s.axes.len() >= 2) else {
        return Ok(Vec::new());
    };
    init_font()?;
    let stem = "elich2_parallel";
    let svg = dir.join(format!("{stem}.svg"));
    draw(&SVGBackend::new(&svg, SIZE).into_drawing_area(), s)
        .with_context(|| format!("writing {}", svg.display()))?;
    let png = dir.join(format!("{stem}.png"));
    draw(&BitMapBackend::new(&png, SIZE).into_drawing_area(), s)
        .with_context(|| format!("writing {}", png.display()))?;
    let po = s.points.iter().filter(|p| p.po_full).count();
    Ok(vec![Figure {
        stem: stem.into(),
        title: "Optimizer study: parallel coordinates of every multi-task run".into(),
        caption: format!(
            "One line per (variant, grid point): the seed mean of each test metric at each run's \
             early-stopping checkpoint ({} points). Each axis spans the points' range with the \
             better value at the top (written at both ends). Colour: optimizer (per-task Adam \
             counts as Adam); bold: Pareto-optimal among all points ({po}). As Elich et al. \
             2025, Fig. 2 and A4.",
            s.points.len()
        ),
    }])
}

fn draw<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, s: &OptimizerStudy) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("{e:?}");
    area.fill(&WHITE).map_err(err)?;
    let (w, h) = (SIZE.0 as f64, SIZE.1 as f64);
    let (left, right, top, bottom) = (70.0, 150.0, 50.0, 80.0);
    let k = s.axes.len();
    let x_of = |i: usize| left + (w - left - right) * i as f64 / (k - 1) as f64;
    let (y_top, y_bottom) = (top, h - bottom);
    // Per axis: (worst, best) over the points.
    let ranges: Vec<(f64, f64)> = s
        .axes
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let vals = s.points.iter().map(|p| p.values[i]);
            let (lo, hi) = vals.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
                (l.min(v), h.max(v))
            });
            if a.higher_is_better {
                (lo, hi)
            } else {
                (hi, lo)
            }
        })
        .collect();
    let y_of = |i: usize, v: f64| {
        let (worst, best) = ranges[i];
        let frac = if best != worst {
            (v - worst) / (best - worst)
        } else {
            0.5
        };
        y_bottom - (y_bottom - y_top) * frac
    };
    let font = |size: f64| ("sans-serif", size).into_font();
    let title = "Test metrics at early stopping, per (variant, grid point)";
    area.draw(&Text::new(
        title,
        (left as i32, 16),
        font(18.0).color(&BLACK),
    ))
    .map_err(err)?;
    for (i, a) in s.axes.iter().enumerate() {
        let x = x_of(i) as i32;
        area.draw(&PathElement::new(
            vec![(x, y_top as i32), (x, y_bottom as i32)],
            RGBColor(160, 160, 160).stroke_width(1),
        ))
        .map_err(err)?;
        let (worst, best) = ranges[i];
        let t = font(12.0).color(&RGBColor(60, 60, 60));
        area.draw(&Text::new(
            format!("{best:.4}"),
            (x - 20, y_top as i32 - 16),
            t.clone(),
        ))
        .map_err(err)?;
        area.draw(&Text::new(
            format!("{worst:.4}"),
            (x - 20, y_bottom as i32 + 4),
            t,
        ))
        .map_err(err)?;
        let t = font(13.0).color(&BLACK);
        area.draw(&Text::new(
            a.task.clone(),
            (x - 24, y_bottom as i32 + 24),
            t.clone(),
        ))
        .map_err(err)?;
        let arrow = if a.higher_is_better { "↑" } else { "↓" };
        area.draw(&Text::new(
            format!("{} {arrow}", a.metric),
            (x - 24, y_bottom as i32 + 42),
            t,
        ))
        .map_err(err)?;
    }
    let families: Vec<String> = s.counts.iter().map(|c| c.family.clone()).collect();
    // Faded lines first, bold Pareto-optimal ones on top.
    for bold in [false, true] {
        for p in s.points.iter().filter(|p| p.po_full == bold) {
            let c = family_color(&p.family, &families);
            let style = if bold {
                c.stroke_width(3)
            } else {
                c.mix(0.3).stroke_width(1)
            };
            let pts: Vec<(i32, i32)> = p
                .values
                .iter()
                .enumerate()
                .map(|(i, v)| (x_of(i) as i32, y_of(i, *v) as i32))
                .collect();
            area.draw(&PathElement::new(pts, style)).map_err(err)?;
        }
    }
    // Legend at the right.
    let lx = (w - right + 20.0) as i32;
    for (j, f) in families.iter().enumerate() {
        let y = (top + 10.0 + 22.0 * j as f64) as i32;
        let c = family_color(f, &families);
        area.draw(&PathElement::new(
            vec![(lx, y), (lx + 24, y)],
            c.stroke_width(3),
        ))
        .map_err(err)?;
        area.draw(&Text::new(
            f.clone(),
            (lx + 30, y - 7),
            font(13.0).color(&BLACK),
        ))
        .map_err(err)?;
    }
    let y = (top + 10.0 + 22.0 * families.len() as f64 + 8.0) as i32;
    area.draw(&Text::new(
        "bold: Pareto-optimal",
        (lx, y),
        font(12.0).color(&BLACK),
    ))
    .map_err(err)?;
    area.present().map_err(err)?;
    Ok(())
}
