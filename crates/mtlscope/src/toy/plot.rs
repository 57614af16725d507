//! The toys' figures, drawn with the report's font and helpers ([`crate::report::plots`]):
//! the CAGrad toy's contour panels with trajectories (drawn here: contour lines by marching
//! squares), and the invariance toy's line panels (the report's [`plots::save`]; dotted lines
//! are drawn as dots, one per epoch).

use std::collections::HashMap;
use std::path::Path;

use anyhow::{anyhow, Context, Result};
use plotters::coord::Shift;
use plotters::prelude::*;

use super::cagrad::{self, CellResult, Grid};
use super::invariance::{Config, Method, RunSpec, StepRecord};
use crate::report::plots::{self, Legend, Panel, Series};

fn pe<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("drawing: {e:?}")
}

/// Half-width of the plotted square (`toy.py`: `xl = 11`).
const HALF: f64 = 11.0;

/// Contour lines of `f` on an n × n grid over [−HALF, HALF]², one list of polylines per level
/// (marching squares, segments chained through the cell edges they share).
pub fn contour_lines(f: impl Fn([f64; 2]) -> f64, n: usize, levels: &[f64]) -> Vec<Lines> {
    let step = 2.0 * HALF / (n - 1) as f64;
    let at = |i: usize| -HALF + step * i as f64;
    let v: Vec<f64> = (0..n * n).map(|k| f([at(k % n), at(k / n)])).collect();
    let val = |i: usize, j: usize| v[j * n + i];
    levels
        .iter()
        .map(|&lv| {
            // An edge key: (horizontal?, i, j) for the edge leaving corner (i, j) along x or y.
            type Key = (bool, usize, usize);
            let point = |k: Key| -> (f64, f64) {
                let (h, i, j) = k;
                let (i2, j2) = if h { (i + 1, j) } else { (i, j + 1) };
                let (a, b) = (val(i, j), val(i2, j2));
                let t = if b == a {
                    0.5
                } else {
                    ((lv - a) / (b - a)).clamp(0.0, 1.0)
                };
                (at(i) + t * (at(i2) - at(i)), at(j) + t * (at(j2) - at(j)))
            };
            let mut segs: Vec<(Key, Key)> = Vec::new();
            for j in 0..n - 1 {
                for i in 0..n - 1 {
                    // Corners counter-clockwise from (i, j); edges bottom, right, top, left.
                    let c = [val(i, j), val(i + 1, j), val(i + 1, j + 1), val(i, j + 1)];
                    let edges: [Key; 4] = [
                        (true, i, j),
                        (false, i + 1, j),
                        (true, i, j + 1),
                        (false, i, j),
                    ];
                    let crossed: Vec<Key> = (0..4)
                        .filter(|&e| (c[e] > lv) != (c[(e + 1) % 4] > lv))
                        .map(|e| edges[e])
                        .collect();
                    match crossed.len() {
                        2 => segs.push((crossed[0], crossed[1])),
                        // Saddle: pair the edges by the centre value.
                        4 => {
                            let centre = c.iter().sum::<f64>() / 4.0;
                            if (centre > lv) == (c[0] > lv) {
                                segs.push((crossed[0], crossed[3]));
                                segs.push((crossed[1], crossed[2]));
                            } else {
                                segs.push((crossed[0], crossed[1]));
                                segs.push((crossed[2], crossed[3]));
                            }
                        }
                        _ => {}
                    }
                }
            }
            let mut at_key: HashMap<Key, Vec<usize>> = HashMap::new();
            for (s, (a, b)) in segs.iter().enumerate() {
                at_key.entry(*a).or_default().push(s);
                at_key.entry(*b).or_default().push(s);
            }
            let mut used = vec![false; segs.len()];
            let mut lines = Vec::new();
            for s0 in 0..segs.len() {
                if used[s0] {
                    continue;
                }
                used[s0] = true;
                // Walk forward from the segment's end, then backward from its start.
                let mut keys = std::collections::VecDeque::from([segs[s0].0, segs[s0].1]);
                for forward in [true, false] {
                    loop {
                        let end = if forward {
                            *keys.back().unwrap()
                        } else {
                            *keys.front().unwrap()
                        };
                        let next = at_key[&end].iter().copied().find(|&s| !used[s]);
                        let Some(s) = next else { break };
                        used[s] = true;
                        let other = if segs[s].0 == end {
                            segs[s].1
                        } else {
                            segs[s].0
                        };
                        if forward {
                            keys.push_back(other);
                        } else {
                            keys.push_front(other);
                        }
                    }
                }
                lines.push(keys.into_iter().map(point).collect());
            }
            lines
        })
        .collect()
}

/// Viridis, approximated by linear interpolation between 5 of its colours; t ∈ [0, 1].
fn viridis(t: f64) -> RGBColor {
    const C: [(f64, f64, f64); 5] = [
        (68.0, 1.0, 84.0),
        (59.0, 82.0, 139.0),
        (33.0, 145.0, 140.0),
        (94.0, 201.0, 98.0),
        (253.0, 231.0, 37.0),
    ];
    let x = t.clamp(0.0, 1.0) * 4.0;
    let k = (x.floor() as usize).min(3);
    let f = x - k as f64;
    let mix = |a: f64, b: f64| (a + f * (b - a)).round() as u8;
    RGBColor(
        mix(C[k].0, C[k + 1].0),
        mix(C[k].1, C[k + 1].1),
        mix(C[k].2, C[k + 1].2),
    )
}

/// Red (first step) → yellow (last step), as `toy.py`'s `plot_contour`.
fn red_yellow(s: f64) -> RGBColor {
    RGBColor(255, (255.0 * s.clamp(0.0, 1.0)).round() as u8, 0)
}

/// At most `cap` points of a trajectory, evenly by index (the last kept).
fn cap_points(t: &[(usize, [f64; 2])], cap: usize) -> Vec<(usize, [f64; 2])> {
    if t.len() <= cap {
        return t.to_vec();
    }
    let k = t.len().div_ceil(cap);
    let mut v: Vec<_> = t.iter().step_by(k).copied().collect();
    if v.last() != t.last() {
        v.push(*t.last().expect("non-empty"));
    }
    v
}

/// The mean-loss landscape's contour lines at the levels drawn (−15, −13.5, …, 7.5).
fn landscape() -> Vec<(f64, Lines)> {
    let levels: Vec<f64> = (0..16).map(|k| -15.0 + 1.5 * k as f64).collect();
    let lines = contour_lines(|x| cagrad::eval(x).mean(), 161, &levels);
    levels.into_iter().zip(lines).collect()
}

fn draw_contour_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    contours: &Contours,
    runs: &[&CellResult],
    iters: usize,
) -> Result<()> {
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 15).into_font())
        .margin(6)
        .x_label_area_size(22)
        .y_label_area_size(28)
        .build_cartesian_2d(-HALF..HALF, -HALF..HALF)
        .map_err(pe)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(5)
        .y_labels(5)
        .label_style(("sans-serif", 11).into_font())
        .draw()
        .map_err(pe)?;
    let (lo, hi) = (contours[0].0, contours[contours.len() - 1].0);
    for (lv, lines) in contours {
        let c = viridis((lv - lo) / (hi - lo));
        for line in lines {
            chart
                .draw_series(std::iter::once(PathElement::new(
                    line.clone(),
                    c.stroke_width(1),
                )))
                .map_err(pe)?;
        }
    }
    let (xs, _) = cagrad::global_minimum();
    chart
        .draw_series(std::iter::once(PathElement::new(
            vec![(-7.0, xs[1]), (7.0, xs[1])],
            RGBColor(150, 150, 150).stroke_width(5),
        )))
        .map_err(pe)?;
    let inside = |p: [f64; 2]| p[0].abs() <= HALF && p[1].abs() <= HALF;
    for r in runs {
        let pts = cap_points(&r.trajectory, 1200);
        chart
            .draw_series(pts.iter().filter(|(_, p)| inside(*p)).map(|&(k, p)| {
                Circle::new(
                    (p[0], p[1]),
                    1,
                    red_yellow(k as f64 / iters.max(1) as f64).filled(),
                )
            }))
            .map_err(pe)?;
    }
    chart
        .draw_series(
            cagrad::STARTS
                .iter()
                .map(|s| Circle::new((s[0], s[1]), 4, BLACK.filled())),
        )
        .map_err(pe)?;
    chart
        .draw_series(std::iter::once(Cross::new(
            (xs[0], xs[1]),
            6,
            BLACK.stroke_width(2),
        )))
        .map_err(pe)?;
    Ok(())
}

/// `contours.svg` and `contours.png` in `dir`: one panel per (method, optimizer) row and
/// learning-rate column, the mean loss's contours, the Pareto set (grey), x* (cross), the
/// starts (black) and each start's trajectory coloured red → yellow over the iterations.
pub fn contour_figure(dir: &Path, grid: &Grid, results: &[CellResult]) -> Result<()> {
    plots::init_font()?;
    let contours = landscape();
    let rows: Vec<(usize, usize)> = (0..grid.methods.len())
        .flat_map(|m| (0..grid.optimizers.len()).map(move |o| (m, o)))
        .collect();
    let cols = grid.lrs.len();
    let side = 330u32;
    let size = (side * cols as u32, side * rows.len() as u32);
    let svg = dir.join("contours.svg");
    draw_contours(
        SVGBackend::new(&svg, size).into_drawing_area(),
        grid,
        results,
        &rows,
        &contours,
    )
    .with_context(|| format!("writing {}", svg.display()))?;
    let png = dir.join("contours.png");
    draw_contours(
        BitMapBackend::new(&png, size).into_drawing_area(),
        grid,
        results,
        &rows,
        &contours,
    )
    .with_context(|| format!("writing {}", png.display()))?;
    Ok(())
}

/// Polylines of one contour level.
type Lines = Vec<Vec<(f64, f64)>>;

type Contours = [(f64, Lines)];

fn draw_contours<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    grid: &Grid,
    results: &[CellResult],
    rows: &[(usize, usize)],
    contours: &Contours,
) -> Result<()> {
    let cols = grid.lrs.len();
    root.fill(&WHITE).map_err(pe)?;
    let areas = root.split_evenly((rows.len(), cols));
    for (ri, &(m, o)) in rows.iter().enumerate() {
        for li in 0..cols {
            let runs: Vec<&CellResult> = results
                .iter()
                .filter(|r| r.cell.method == m && r.cell.optimizer == o && r.cell.lr == li)
                .collect();
            let title = format!(
                "{} · {} · lr {}",
                grid.methods[m].label,
                grid.optimizers[o].label,
                cagrad::fmt_lr(grid.lrs[li])
            );
            draw_contour_panel(&areas[ri * cols + li], &title, contours, &runs, grid.iters)?;
        }
    }
    root.present().map_err(pe)
}

fn method_color(m: Method) -> RGBColor {
    match m {
        Method::EwSgd => plots::color(0),
        Method::EwAdam => plots::color(3),
        Method::UwoSgd => plots::color(2),
        Method::EwPerTaskAdam => RGBColor(0, 0, 0),
    }
}

/// `invariance_frozen.{svg,png}` (heads only; per-task Adam left out as it equals Adam there,
/// as in Elich's Fig. A1) and `invariance_trained.{svg,png}` (backbone and heads, Fig. A2):
/// rows = parts, columns = loss, scaled loss, gradient norm, update norm, over epochs; solid
/// unscaled, dotted (one dot per epoch) scaled.
pub fn invariance_figures(
    dir: &Path,
    cfg: &Config,
    specs: &[RunSpec],
    records: &[Vec<StepRecord>],
) -> Result<()> {
    let per_epoch = cfg.steps_per_epoch();
    for frozen in [true, false] {
        let parts: Vec<usize> = if frozen { vec![1, 2] } else { vec![0, 1, 2] };
        let mut panels = Vec::new();
        for (pi, &part) in parts.iter().enumerate() {
            let part_name = ["backbone", "head 1", "head 2"][part];
            let metrics: [(&str, &str); 4] = [
                ("loss", "L1 loss"),
                ("scaled loss", "α · L1 loss"),
                ("gradient norm", "‖g‖₂"),
                ("update norm", "‖θ_i − θ_{i−1}‖₂"),
            ];
            for (mi, (metric, ylabel)) in metrics.iter().enumerate() {
                let mut series = Vec::new();
                for (spec, recs) in specs.iter().zip(records) {
                    if spec.frozen != frozen || (frozen && spec.method == Method::EwPerTaskAdam) {
                        continue;
                    }
                    let value = |r: &StepRecord| -> f64 {
                        match (mi, part) {
                            (0, 0) => r.loss[0] + r.loss[1],
                            (1, 0) => r.scaled_loss[0] + r.scaled_loss[1],
                            (0, p) => r.loss[p - 1],
                            (1, p) => r.scaled_loss[p - 1],
                            (2, p) => r.grad_norm[p],
                            (_, p) => r.update_norm[p],
                        }
                    };
                    let pts: Vec<(f64, f64)> = recs
                        .iter()
                        .filter(|r| !spec.scaled || (r.step + 1) % per_epoch == 0)
                        .map(|r| ((r.step + 1) as f64 / per_epoch as f64, value(r)))
                        .collect();
                    let label = if pi == 0 && mi == 0 {
                        format!(
                            "{}{}",
                            spec.method.label(),
                            if spec.scaled { " (scaled, dots)" } else { "" }
                        )
                    } else {
                        String::new()
                    };
                    let c = method_color(spec.method);
                    series.push(if spec.scaled {
                        Series::scatter(label, c, pts, 2)
                    } else {
                        Series::line(label, c, pts, Vec::new())
                    });
                }
                panels.push(Panel {
                    title: format!("{part_name}: {metric}"),
                    x_label: "epoch".into(),
                    y_label: if part == 0 && mi < 2 {
                        format!("sum, {ylabel}")
                    } else {
                        ylabel.to_string()
                    },
                    log_y: true,
                    series,
                    legend: Legend::UpperRight,
                    ..Default::default()
                });
            }
        }
        let stem = if frozen {
            "invariance_frozen"
        } else {
            "invariance_trained"
        };
        plots::save(dir, stem, &panels, 4)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contours_of_a_paraboloid_are_circles() {
        let lines = contour_lines(|p| p[0] * p[0] + p[1] * p[1], 101, &[25.0]);
        assert_eq!(lines[0].len(), 1, "one closed line");
        let l = &lines[0][0];
        assert!(l.len() > 50);
        for &(x, y) in l {
            let r = (x * x + y * y).sqrt();
            assert!((r - 5.0).abs() < 0.02, "r = {r}");
        }
        assert_eq!(l.first(), l.last(), "closed");
    }
}
