//! Figure drawing shared by all figures: panels of lines with ±bands, scatters, quadrant
//! shading, log axes; each figure saved as SVG (for papers and the HTML) and PNG.
//!
//! Log axes are drawn by plotting log10 of the values on a linear axis with ticks labelled as
//! the original values; this keeps one chart type for every panel.
pub mod comparable_loss;
pub mod conflict;
pub mod generalization;
pub mod mt2o;
pub mod parallel;
pub mod pareto;
pub mod probes;
pub mod similarity;
pub mod smto;

use std::path::Path;
use std::sync::OnceLock;

use anyhow::{anyhow, Context, Result};
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::analysis::factors::Direction;
use crate::analysis::significance::Spread;

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
    /// A thin dashed line (percentile bounds), not a solid one.
    pub dashed: bool,
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
            dashed: false,
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
            dashed: false,
        }
    }

    /// A thin dashed line without a band.
    pub fn dashed(label: impl Into<String>, color: RGBColor, points: Vec<(f64, f64)>) -> Self {
        Series {
            dashed: true,
            ..Series::line(label, color, points, Vec::new())
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
    /// Shade Fig. 4's quadrants for an x factor with this better side ([`quadrant_rects`]).
    pub quadrants: Option<Direction>,
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

/// Tick positions in plotted units (log10 of the value on a log axis) with their labels, for
/// the plotted range `[lo, hi]`: about `max` ticks or fewer, labels distinct at any range.
///
/// Linear axes (and log axes narrower than a few 1-2-5 steps, e.g. a loss staying in
/// 2.2–2.3) get "nice" steps of 1, 2 or 5 × 10^k in value units; wider log axes get
/// 1-2-5 or decade ticks. Each label is the shortest decimal (or scientific) form that
/// gives back its value to within a millionth of the tick spacing, so two ticks never
/// share a label.
pub fn ticks(lo: f64, hi: f64, log: bool, max: usize) -> Vec<(f64, String)> {
    if !(lo.is_finite() && hi.is_finite() && hi > lo) {
        return Vec::new();
    }
    let max = max.max(2);
    let values = if log {
        let v = log_tick_values(lo, hi, max);
        if v.len() >= 3 {
            v
        } else {
            nice_values(10f64.powf(lo), 10f64.powf(hi), max)
        }
    } else {
        nice_values(lo, hi, max)
    };
    let labels = tick_labels(&values);
    values
        .into_iter()
        .zip(labels)
        .map(|(v, l)| (if log { v.log10() } else { v }, l))
        .collect()
}

/// Multiples of a 1-2-5 step inside `[lo, hi]` (value units), at most `max` of them.
fn nice_values(lo: f64, hi: f64, max: usize) -> Vec<f64> {
    let raw = (hi - lo) / max as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last)
        .map(|k| {
            let v = k as f64 * step;
            if v == 0.0 {
                0.0 // no "-0"
            } else {
                v
            }
        })
        .collect()
}

/// Ticks of a log axis over plotted `[lo, hi]` (log10 units), in value units: the densest of
/// 1–9, 1-2-5, 1-3, 1 × 10^k with at most `max` inside, else every k-th decade.
fn log_tick_values(lo: f64, hi: f64, max: usize) -> Vec<f64> {
    let (d0, d1) = (lo.floor() as i32, hi.ceil() as i32);
    let inside = |v: f64| {
        let l = v.log10();
        l >= lo - 1e-12 && l <= hi + 1e-12
    };
    let sets: [&[f64]; 4] = [
        &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0],
        &[1.0, 2.0, 5.0],
        &[1.0, 3.0],
        &[1.0],
    ];
    for set in sets {
        let v: Vec<f64> = (d0..=d1)
            .flat_map(|d| set.iter().map(move |m| m * 10f64.powi(d)))
            .filter(|v| inside(*v))
            .collect();
        if v.len() <= max {
            return v;
        }
    }
    let every = ((d1 - d0) as usize).div_ceil(max).max(1) as i32;
    (d0..=d1)
        .filter(|d| d.rem_euclid(every) == 0)
        .map(|d| 10f64.powi(d))
        .filter(|v| inside(*v))
        .collect()
}

/// Shortest labels that give each value back to within a millionth of the smallest gap
/// between neighbouring ticks (so labels are distinct); scientific outside [1e-3, 1e5).
fn tick_labels(values: &[f64]) -> Vec<String> {
    let gap = values
        .windows(2)
        .map(|w| (w[1] - w[0]).abs())
        .fold(f64::INFINITY, f64::min);
    let tol = if gap.is_finite() { gap * 1e-6 } else { 0.0 };
    values
        .iter()
        .map(|&v| {
            let a = v.abs();
            let sci = v != 0.0 && !(1e-3..1e5).contains(&a);
            (0..=15)
                .map(|d| {
                    if sci {
                        format!("{v:.d$e}")
                    } else {
                        format!("{v:.d$}")
                    }
                })
                .find(|s| s.parse::<f64>().is_ok_and(|p| (p - v).abs() <= tol))
                .unwrap_or_else(|| format!("{v:e}"))
        })
        .collect()
}

/// A linear axis over `range` whose tick marks are exactly `ticks` (plotted units), so the
/// labels come from [`ticks`] and not from plotters' own key-point choice.
struct TickedAxis {
    range: std::ops::Range<f64>,
    ticks: Vec<f64>,
}

impl Ranged for TickedAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let span = self.range.end - self.range.start;
        let frac = if span > 0.0 {
            (v - self.range.start) / span
        } else {
            0.5
        };
        limit.0 + ((limit.1 - limit.0) as f64 * frac).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        // Light (minor) mesh lines are not drawn; bold points are the ticks.
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.range.clone()
    }
}

/// The label of the tick at plotted position `v` (plotters hands back the positions given).
fn label_at(ticks: &[(f64, String)], v: f64) -> String {
    ticks
        .iter()
        .min_by(|a, b| (a.0 - v).abs().total_cmp(&(b.0 - v).abs()))
        .map(|t| t.1.clone())
        .unwrap_or_default()
}

/// A shaded rectangle of a Fig. 4 panel, in plotted units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shade {
    /// One corner.
    pub from: (f64, f64),
    /// The opposite corner.
    pub to: (f64, f64),
    /// Green (factor and generalization both improve) or red (both degrade).
    pub both_improve: bool,
}

/// The two shaded quadrants of a Fig. 4 panel over the plotted ranges: green where the factor
/// (x) moves to its better side while generalization (y) rises, red where both move to their
/// worse sides. `direction` is the factor's better side; y (generalization) is plotted so that up
/// is better.
pub fn quadrant_rects(xr: (f64, f64), yr: (f64, f64), direction: Direction) -> [Shade; 2] {
    let (x0, y0) = (0.0f64.clamp(xr.0, xr.1), 0.0f64.clamp(yr.0, yr.1));
    // x interval on the factor's better side, and on its worse side.
    let (better, worse) = match direction {
        Direction::LowerIsBetter => ((xr.0, x0), (x0, xr.1)),
        Direction::HigherIsBetter => ((x0, xr.1), (xr.0, x0)),
    };
    [
        Shade {
            from: (better.0, y0),
            to: (better.1, yr.1),
            both_improve: true,
        },
        Shade {
            from: (worse.0, yr.0),
            to: (worse.1, y0),
            both_improve: false,
        },
    ]
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
    let (lx, ly) = (p.log_x, p.log_y);
    let (xt, yt) = (ticks(xr.0, xr.1, lx, 8), ticks(yr.0, yr.1, ly, 8));
    let pos = |t: &[(f64, String)]| t.iter().map(|t| t.0).collect::<Vec<f64>>();
    let mut chart = ChartBuilder::on(area)
        .caption(&p.title, ("sans-serif", 17).into_font())
        .margin(12)
        .x_label_area_size(48)
        .y_label_area_size(72)
        .build_cartesian_2d(
            TickedAxis {
                range: xr.0..xr.1,
                ticks: pos(&xt),
            },
            TickedAxis {
                range: yr.0..yr.1,
                ticks: pos(&yt),
            },
        )
        .map_err(pe)?;
    let xfmt = |v: &f64| label_at(&xt, *v);
    let yfmt = |v: &f64| label_at(&yt, *v);
    chart
        .configure_mesh()
        .x_desc(&p.x_label)
        .y_desc(&p.y_label)
        .x_label_formatter(&xfmt)
        .y_label_formatter(&yfmt)
        .label_style(("sans-serif", 13).into_font())
        .axis_desc_style(("sans-serif", 14).into_font())
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.08))
        .draw()
        .map_err(pe)?;
    if let Some(dir) = p.quadrants {
        chart
            .draw_series(quadrant_rects(xr, yr, dir).map(|q| {
                let c = if q.both_improve {
                    RGBColor(44, 160, 44)
                } else {
                    RGBColor(214, 39, 40)
                };
                Rectangle::new([q.from, q.to], c.mix(0.12).filled())
            }))
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
        } else if s.dashed {
            let ann = chart
                .draw_series(DashedLineSeries::new(pts.clone(), 4, 4, c.stroke_width(1)))
                .map_err(pe)?;
            if !s.label.is_empty() {
                ann.label(&s.label).legend(move |(x, y): (i32, i32)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(1))
                });
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

/// Mean ± 2σ (or ± 2 SE, `spread`) over seeds aligned by evaluation step: for each step seen
/// in any run, x = mean of `x(run, step)`, y = mean of `y(run, step)`, band = y ± 2σ_y (sample
/// std, only where ≥ 2 seeds have the step). Returns (points, band, max seeds at a step).
pub fn mean_band(per_run: &[Vec<(u64, f64, f64)>], spread: Spread) -> MeanBand {
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
            let (lo, hi) = sy.interval_with(spread);
            band.push((sx.mean, lo, hi));
        }
    }
    (pts, band, nmax)
}

/// How the bands of a figure are made, for its caption: "±2σ (σ = …)" or "±2 SE (…)".
pub fn spread_note(spread: Spread) -> &'static str {
    match spread {
        Spread::Std => "±2σ (σ = sample standard deviation over seeds, ddof = 1, as in the paper)",
        Spread::StdErr => {
            "±2 SE (SE = σ/√n, the standard error of the seed mean; not the paper's ±2σ)"
        }
    }
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

/// Stem-safe version of a name. Long names (a Pareto set of 40 CelebA attributes) keep their
/// first 60 characters and a hash of the whole, so file names stay under file systems' 255-byte
/// limit and distinct names stay distinct.
pub fn slug(s: &str) -> String {
    let safe: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if safe.len() <= 80 {
        return safe;
    }
    // FNV-1a, 64 bit: stable across runs and platforms, unlike std's hasher.
    let h = s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    });
    format!("{}_{h:016x}", &safe[..60])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_safe_short_and_distinct() {
        assert_eq!(slug("fish+a b"), "fish_a_b");
        let long: Vec<String> = (0..40).map(|k| format!("attribute_{k}")).collect();
        let a = slug(&long.join("+"));
        let b = slug(&long[..39].join("+"));
        assert_eq!(a.len(), 77);
        assert_ne!(a, b);
        assert_eq!(a, slug(&long.join("+")));
    }

    fn check(lo: f64, hi: f64, log: bool) -> Vec<String> {
        let t = ticks(lo, hi, log, 8);
        assert!(t.len() >= 2, "[{lo}, {hi}] log={log}: {t:?}");
        assert!(t.len() <= 10, "[{lo}, {hi}] log={log}: {t:?}");
        let labels: Vec<String> = t.iter().map(|x| x.1.clone()).collect();
        let set: std::collections::HashSet<&String> = labels.iter().collect();
        assert_eq!(set.len(), labels.len(), "duplicate labels {labels:?}");
        for (pos, label) in &t {
            assert!(
                *pos >= lo - 1e-9 && *pos <= hi + 1e-9,
                "{pos} outside [{lo}, {hi}]"
            );
            // The label is the value (to display precision).
            let v = if log { 10f64.powf(*pos) } else { *pos };
            let back: f64 = label.parse().unwrap();
            assert!(
                (back - v).abs() <= 1e-6 * v.abs().max(1e-300) + 1e-12,
                "{label} vs {v}"
            );
            assert!(label.len() <= 9, "unreadable label {label}");
        }
        labels
    }

    #[test]
    fn tick_labels_are_distinct_at_any_range() {
        // The reported case: NoisyFashion's training loss stays in 2.2–2.3 on a log axis.
        let l = check(2.2f64.log10(), 2.3f64.log10(), true);
        assert!(l.contains(&"2.22".to_string()), "{l:?}");
        // Wide log ranges: 1-2-5 and decades.
        let l = check(0.002f64.log10(), 2.3f64.log10(), true);
        assert!(
            l.contains(&"0.01".to_string()) && l.contains(&"1".to_string()),
            "{l:?}"
        );
        check(-9.0, 6.0, true);
        check(-30.0, 30.0, true);
        check(0.3f64.log10(), 0.9f64.log10(), true);
        check(1e5f64.log10(), 1.0001e5f64.log10(), true);
        // Linear ranges, including narrow ones far from 0 and ones crossing 0.
        let l = check(-3.0, 7.0, false);
        assert!(l.contains(&"0".to_string()), "{l:?}");
        check(0.95, 1.05, false);
        check(0.8601, 0.8602, false);
        check(-1e-7, 3e-7, false);
        check(123456.0, 987654.0, false);
        // Empty or reversed ranges give no ticks rather than garbage.
        assert!(ticks(1.0, 1.0, false, 8).is_empty());
        assert!(ticks(f64::NAN, 1.0, false, 8).is_empty());
    }

    #[test]
    fn quadrant_shading_follows_the_factors_direction() {
        let (xr, yr) = ((-5.0, 10.0), (-2.0, 3.0));
        // Lower is better (sharpness): green = x < 0, y > 0; red = x > 0, y < 0 (the paper).
        let shade = |from, to, both_improve| Shade {
            from,
            to,
            both_improve,
        };
        let q = quadrant_rects(xr, yr, Direction::LowerIsBetter);
        assert_eq!(q[0], shade((-5.0, 0.0), (0.0, 3.0), true));
        assert_eq!(q[1], shade((0.0, -2.0), (10.0, 0.0), false));
        // Higher is better (cosine similarity): green = x > 0, y > 0; red = x < 0, y < 0.
        let q = quadrant_rects(xr, yr, Direction::HigherIsBetter);
        assert_eq!(q[0], shade((0.0, 0.0), (10.0, 3.0), true));
        assert_eq!(q[1], shade((-5.0, -2.0), (0.0, 0.0), false));
    }
}
