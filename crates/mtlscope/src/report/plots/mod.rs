//! Figure drawing shared by all figures: panels of lines with ±bands, scatters, quadrant
//! shading, log axes; each figure saved as SVG (for papers and the HTML) and PNG.
//!
//! Log axes are drawn by plotting log10 of the values on a linear axis with ticks labelled as
//! the original values; this keeps one chart type for every panel.
pub mod comparable_loss;
pub mod conflict;
pub mod generalization;
pub mod pareto;
pub mod probes;
pub mod smto;

use std::path::Path;
use std::sync::OnceLock;

use anyhow::{anyhow, Context, Result};
use plotters::coord::Shift;
use plotters::prelude::*;

/// Default font: Debian's fonts-dejavu-core.
pub const DEFAULT_FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

/// Register the font used for all text (`MTLSCOPE_FONT` overrides the path). Plotters'
/// `ab_glyph` backend needs it for text layout in both SVG and PNG output.
pub fn init_font() -> Result<()> {
    static DONE: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        let path = std::env::var("MTLSCOPE_FONT").unwrap_or_else(|_| DEFAULT_FONT.to_string());
        let bytes = std::fs::read(&path).map_err(|e| {
            format!(
                "reading font {path}: {e} (install Debian's fonts-dejavu-core or set MTLSCOPE_FONT \
                 to a .ttf file)"
            )
        })?;
        // plotters keeps fonts for the life of the process.
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
            .map_err(|_| format!("{path} is not a usable TrueType/OpenType font"))
    })
    .clone()
    .map_err(|e| anyhow!(e))
}

/// Tableau-10 colours; a variant's colour is fixed by its index in the plan.
pub fn color(index: usize) -> RGBColor {
    const P: [(u8, u8, u8); 10] = [
        (31, 119, 180),
        (255, 127, 14),
        (44, 160, 44),
        (214, 39, 40),
        (148, 103, 189),
        (140, 86, 75),
        (227, 119, 194),
        (127, 127, 127),
        (188, 189, 34),
        (23, 190, 207),
    ];
    if index == usize::MAX {
        return RGBColor(0, 0, 0);
    }
    let (r, g, b) = P[index % P.len()];
    RGBColor(r, g, b)
}

/// One series of a panel.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend label.
    pub label: String,
    /// Colour.
    pub color: RGBColor,
    /// (x, y) points in data units.
    pub points: Vec<(f64, f64)>,
    /// (x, lo, hi) band in data units (empty: none).
    pub band: Vec<(f64, f64, f64)>,
    /// Markers only, no line.
    pub scatter: bool,
    /// Marker size (0: no markers on lines).
    pub marker: u32,
}

impl Series {
    /// A line with an optional band.
    pub fn line(
        label: impl Into<String>,
        color: RGBColor,
        points: Vec<(f64, f64)>,
        band: Vec<(f64, f64, f64)>,
    ) -> Self {
        Series {
            label: label.into(),
            color,
            points,
            band,
            scatter: false,
            marker: 0,
        }
    }
    /// Markers only.
    pub fn scatter(
        label: impl Into<String>,
        color: RGBColor,
        points: Vec<(f64, f64)>,
        size: u32,
    ) -> Self {
        Series {
            label: label.into(),
            color,
            points,
            band: Vec::new(),
            scatter: true,
            marker: size,
        }
    }
}

/// One chart.
#[derive(Debug, Clone, Default)]
pub struct Panel {
    /// Title above the chart.
    pub title: String,
    /// x axis label (with units).
    pub x_label: String,
    /// y axis label (with units).
    pub y_label: String,
    /// Log10 x axis.
    pub log_x: bool,
    /// Log10 y axis.
    pub log_y: bool,
    /// Series.
    pub series: Vec<Series>,
    /// Horizontal reference lines (data units).
    pub hlines: Vec<f64>,
    /// Vertical reference lines (data units).
    pub vlines: Vec<f64>,
    /// Shade the quadrants (x < 0, y > 0) green and (x > 0, y < 0) red (Fig. 4 of the paper).
    pub quadrants: bool,
    /// Text shown when the panel has no data.
    pub empty_note: String,
    /// Legend corner (default upper right).
    pub legend: Legend,
}

/// Where the legend goes.
#[derive(Debug, Clone, Copy, Default)]
pub enum Legend {
    /// Upper right.
    #[default]
    UpperRight,
    /// Upper left.
    UpperLeft,
    /// Lower left.
    LowerLeft,
    /// Lower right.
    LowerRight,
}

fn tx(v: f64, log: bool) -> Option<f64> {
    if log {
        (v > 0.0 && v.is_finite()).then(|| v.log10())
    } else {
        v.is_finite().then_some(v)
    }
}

fn fmt_tick(v: f64, log: bool) -> String {
    let x = if log { 10f64.powf(v) } else { v };
    let a = x.abs();
    if x == 0.0 || (!log && a < 1e-12) {
        return "0".into();
    }
    if !(1e-3..1e4).contains(&a) {
        return format!("{x:.1e}");
    }
    // Two significant digits on log axes (ticks fall on fractional decades), else up to 4.
    let sig = if log { 2 } else { 4 };
    let decimals = (sig - 1 - a.log10().floor() as i32).max(0) as usize;
    let s = format!("{x:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

fn range(vals: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in vals.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return None;
    }
    let span = hi - lo;
    let pad = if span > 0.0 {
        0.08 * span
    } else {
        0.5f64.max(lo.abs() * 0.1)
    };
    Some((lo - pad, hi + pad))
}

fn pe<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("drawing: {e:?}")
}

/// Draw one panel into `area`.
pub fn draw_panel<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, p: &Panel) -> Result<()> {
    let xs = p.series.iter().flat_map(|s| {
        s.points
            .iter()
            .map(|q| q.0)
            .chain(s.band.iter().map(|b| b.0))
    });
    let ys = p.series.iter().flat_map(|s| {
        s.points
            .iter()
            .map(|q| q.1)
            .chain(s.band.iter().flat_map(|b| [b.1, b.2]))
    });
    let xr = range(
        xs.filter_map(|v| tx(v, p.log_x))
            .chain(p.vlines.iter().filter_map(|v| tx(*v, p.log_x))),
    );
    let yr = range(
        ys.filter_map(|v| tx(v, p.log_y))
            .chain(p.hlines.iter().filter_map(|v| tx(*v, p.log_y))),
    );
    let (Some(xr), Some(yr)) = (xr, yr) else {
        area.draw(&Text::new(
            format!(
                "{}: {}",
                p.title,
                if p.empty_note.is_empty() {
                    "no data"
                } else {
                    &p.empty_note
                }
            ),
            (20, 40),
            ("sans-serif", 16).into_font(),
        ))
        .map_err(pe)?;
        return Ok(());
    };
    let mut chart = ChartBuilder::on(area)
        .caption(&p.title, ("sans-serif", 17).into_font())
        .margin(12)
        .x_label_area_size(48)
        .y_label_area_size(72)
        .build_cartesian_2d(xr.0..xr.1, yr.0..yr.1)
        .map_err(pe)?;
    let (lx, ly) = (p.log_x, p.log_y);
    let xfmt = move |v: &f64| fmt_tick(*v, lx);
    let yfmt = move |v: &f64| fmt_tick(*v, ly);
    chart
        .configure_mesh()
        .x_desc(&p.x_label)
        .y_desc(&p.y_label)
        .x_label_formatter(&xfmt)
        .y_label_formatter(&yfmt)
        .x_labels(8)
        .y_labels(8)
        .label_style(("sans-serif", 13).into_font())
        .axis_desc_style(("sans-serif", 14).into_font())
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.08))
        .draw()
        .map_err(pe)?;
    if p.quadrants {
        let (x0, y0) = (0.0f64.max(xr.0).min(xr.1), 0.0f64.max(yr.0).min(yr.1));
        chart
            .draw_series([
                Rectangle::new(
                    [(xr.0, y0), (x0, yr.1)],
                    RGBColor(44, 160, 44).mix(0.12).filled(),
                ),
                Rectangle::new(
                    [(x0, yr.0), (xr.1, y0)],
                    RGBColor(214, 39, 40).mix(0.12).filled(),
                ),
            ])
            .map_err(pe)?;
    }
    for &h in &p.hlines {
        if let Some(h) = tx(h, ly) {
            chart
                .draw_series(LineSeries::new(
                    [(xr.0, h), (xr.1, h)],
                    BLACK.mix(0.5).stroke_width(1),
                ))
                .map_err(pe)?;
        }
    }
    for &v in &p.vlines {
        if let Some(v) = tx(v, lx) {
            chart
                .draw_series(LineSeries::new(
                    [(v, yr.0), (v, yr.1)],
                    BLACK.mix(0.5).stroke_width(1),
                ))
                .map_err(pe)?;
        }
    }
    for s in &p.series {
        // Band: polygon along lo then back along hi (points with a non-plottable edge dropped).
        let band: Vec<(f64, f64, f64)> = s
            .band
            .iter()
            .filter_map(|(x, lo, hi)| {
                let lo = if ly && *lo <= 0.0 { hi / 1e3 } else { *lo };
                Some((tx(*x, lx)?, tx(lo, ly)?, tx(*hi, ly)?))
            })
            .collect();
        if band.len() >= 2 {
            let poly: Vec<(f64, f64)> = band
                .iter()
                .map(|b| (b.0, b.1.max(yr.0)))
                .chain(band.iter().rev().map(|b| (b.0, b.2.min(yr.1))))
                .collect();
            chart
                .draw_series(std::iter::once(Polygon::new(
                    poly,
                    s.color.mix(0.18).filled(),
                )))
                .map_err(pe)?;
        }
        let pts: Vec<(f64, f64)> = s
            .points
            .iter()
            .filter_map(|(x, y)| Some((tx(*x, lx)?, tx(*y, ly)?)))
            .collect();
        let c = s.color;
        let legend_line = move |(x, y): (i32, i32)| {
            PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(3))
        };
        let legend_dot = move |(x, y): (i32, i32)| Circle::new((x + 9, y), 4, c.filled());
        if s.scatter {
            let ann = chart
                .draw_series(pts.iter().map(|&q| Circle::new(q, s.marker, c.filled())))
                .map_err(pe)?;
            if !s.label.is_empty() {
                ann.label(&s.label).legend(legend_dot);
            }
        } else {
            let ann = chart
                .draw_series(LineSeries::new(pts.clone(), c.stroke_width(2)))
                .map_err(pe)?;
            if !s.label.is_empty() {
                ann.label(&s.label).legend(legend_line);
            }
            if s.marker > 0 {
                chart
                    .draw_series(pts.iter().map(|&q| Circle::new(q, s.marker, c.filled())))
                    .map_err(pe)?;
            }
        }
    }
    if p.series.iter().any(|s| !s.label.is_empty()) {
        chart
            .configure_series_labels()
            .position(match p.legend {
                Legend::UpperRight => SeriesLabelPosition::UpperRight,
                Legend::UpperLeft => SeriesLabelPosition::UpperLeft,
                Legend::LowerLeft => SeriesLabelPosition::LowerLeft,
                Legend::LowerRight => SeriesLabelPosition::LowerRight,
            })
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .label_font(("sans-serif", 13).into_font())
            .draw()
            .map_err(pe)?;
    }
    Ok(())
}

fn draw_all<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    panels: &[Panel],
    cols: usize,
) -> Result<()> {
    root.fill(&WHITE).map_err(pe)?;
    let rows = panels.len().div_ceil(cols);
    let areas = root.split_evenly((rows, cols));
    for (a, p) in areas.iter().zip(panels) {
        draw_panel(a, p)?;
    }
    root.present().map_err(pe)?;
    Ok(())
}

/// Save panels in a grid as `<dir>/<stem>.svg` and `<dir>/<stem>.png`.
pub fn save(dir: &Path, stem: &str, panels: &[Panel], cols: usize) -> Result<()> {
    init_font()?;
    let cols = cols.clamp(1, panels.len().max(1));
    let rows = panels.len().div_ceil(cols).max(1);
    let size = (520 * cols as u32, 400 * rows as u32);
    let svg = dir.join(format!("{stem}.svg"));
    draw_all(
        SVGBackend::new(&svg, size).into_drawing_area(),
        panels,
        cols,
    )
    .with_context(|| format!("writing {}", svg.display()))?;
    let png = dir.join(format!("{stem}.png"));
    draw_all(
        BitMapBackend::new(&png, size).into_drawing_area(),
        panels,
        cols,
    )
    .with_context(|| format!("writing {}", png.display()))?;
    Ok(())
}

/// (mean points, ±2σ band as (x, lo, hi), largest number of seeds at a step).
pub type MeanBand = (Vec<(f64, f64)>, Vec<(f64, f64, f64)>, usize);

/// Mean ± 2σ over seeds aligned by evaluation step: for each step seen in any run,
/// x = mean of `x(run, step)`, y = mean of `y(run, step)`, band = y ± 2σ_y (sample std, only
/// where ≥ 2 seeds have the step). Returns (points, band, max seeds at a step).
pub fn mean_band(per_run: &[Vec<(u64, f64, f64)>]) -> MeanBand {
    use crate::analysis::significance::Summary;
    let mut by_step: std::collections::BTreeMap<u64, (Vec<f64>, Vec<f64>)> = Default::default();
    for run in per_run {
        for &(s, x, y) in run {
            if x.is_finite() && y.is_finite() {
                let e = by_step.entry(s).or_default();
                e.0.push(x);
                e.1.push(y);
            }
        }
    }
    let mut pts = Vec::new();
    let mut band = Vec::new();
    let mut nmax = 0;
    for (xs, ys) in by_step.values() {
        let (sx, sy) = (Summary::of(xs), Summary::of(ys));
        nmax = nmax.max(sy.n);
        pts.push((sx.mean, sy.mean));
        if sy.n >= 2 {
            band.push((sx.mean, sy.mean - 2.0 * sy.std, sy.mean + 2.0 * sy.std));
        }
    }
    (pts, band, nmax)
}

/// A saved figure and what the HTML says about it.
#[derive(Debug, Clone)]
pub struct Figure {
    /// File stem under figures/.
    pub stem: String,
    /// Heading.
    pub title: String,
    /// Exactly what is plotted and from how many runs.
    pub caption: String,
}

/// "STL fashion1: 3 seeds; MTL ...: 3 seeds".
pub fn runs_note(groups: &[&crate::analysis::VariantGroup]) -> String {
    groups
        .iter()
        .map(|g| {
            format!(
                "{}: {} run{}",
                g.label,
                g.runs.len(),
                if g.runs.len() == 1 { "" } else { "s" }
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Stem-safe version of a name.
pub fn slug(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
