//! Figures of `mtlscope mt2o` ([`crate::train::mt2o`]): the K models' test-loss front per epoch
//! (2-task runs) and the hypervolume against epochs, MT2O against the independent models.
use std::path::Path;

use anyhow::Result;
use plotters::style::RGBColor;

use super::{color, save, Legend, Panel, Series};

/// One method's K test-loss points per evaluated epoch.
#[derive(Debug, Clone)]
pub struct Front {
    /// `mt2o` or `independent`.
    pub method: String,
    /// (epoch, the K models' (loss of task 1, loss of task 2)), by epoch.
    pub epochs: Vec<(usize, Vec<(f64, f64)>)>,
}

/// One method's hypervolume per epoch.
#[derive(Debug, Clone)]
pub struct Curve {
    /// `mt2o` or `independent`.
    pub method: String,
    /// (epoch, test hypervolume).
    pub test: Vec<(f64, f64)>,
    /// (epoch, val hypervolume).
    pub val: Vec<(f64, f64)>,
}

/// A colour from light to dark along the epochs (a single hue, so the order reads at once).
fn epoch_color(i: usize, n: usize) -> RGBColor {
    let t = if n <= 1 {
        1.0
    } else {
        i as f64 / (n - 1) as f64
    };
    let mix = |a: u8, b: u8| (a as f64 + t * (b as f64 - a as f64)).round() as u8;
    RGBColor(mix(158, 8), mix(202, 48), mix(225, 107))
}

/// `mt2o_front.{svg,png}`: one panel per method; per epoch the K models' test losses joined in
/// λ order, coloured light (early) to dark (late); the first epoch in grey and the last in the
/// method's colour, both with large markers.
pub fn fronts(dir: &Path, tasks: [&str; 2], fronts: &[Front]) -> Result<()> {
    let mut panels = Vec::new();
    for (mi, f) in fronts.iter().enumerate() {
        let n = f.epochs.len();
        let mut series = Vec::new();
        for (i, (epoch, pts)) in f.epochs.iter().enumerate() {
            let (first, last) = (i == 0, i + 1 == n);
            let c = if first {
                RGBColor(120, 120, 120)
            } else if last {
                color(mi)
            } else {
                epoch_color(i, n)
            };
            let label = if first || last {
                format!("epoch {epoch}")
            } else if i == 1 {
                "later epochs (light → dark)".to_string()
            } else {
                String::new()
            };
            series.push(Series::line(label, c, pts.clone(), Vec::new()));
            series.push(Series::scatter(
                "",
                c,
                pts.clone(),
                if first || last { 5 } else { 2 },
            ));
        }
        panels.push(Panel {
            title: format!("{}: the K models' test losses per epoch", f.method),
            x_label: format!("test loss of {}", tasks[0]),
            y_label: format!("test loss of {}", tasks[1]),
            series,
            legend: Legend::UpperRight,
            ..Default::default()
        });
    }
    save(dir, "mt2o_front", &panels, panels.len())
}

/// `mt2o_hypervolume.{svg,png}`: test and val hypervolume against epochs per method, with the
/// summary's target (`fraction` × the best final test hypervolume) on the test panel.
pub fn hypervolume(dir: &Path, curves: &[Curve], target: f64, fraction: f64) -> Result<()> {
    let panel = |split: &str, pick: &dyn Fn(&Curve) -> Vec<(f64, f64)>, hlines: Vec<f64>| Panel {
        title: if hlines.is_empty() {
            format!("{split} hypervolume")
        } else {
            format!("{split} hypervolume (line: {fraction} × best final)")
        },
        x_label: "epoch".into(),
        y_label: "hypervolume of the K models' losses".into(),
        series: curves
            .iter()
            .enumerate()
            .map(|(i, c)| Series::line(c.method.clone(), color(i), pick(c), Vec::new()))
            .collect(),
        hlines,
        legend: Legend::LowerRight,
        ..Default::default()
    };
    let target_line = if target.is_finite() {
        vec![target]
    } else {
        Vec::new()
    };
    save(
        dir,
        "mt2o_hypervolume",
        &[
            panel("test", &|c: &Curve| c.test.clone(), target_line),
            panel("val", &|c: &Curve| c.val.clone(), Vec::new()),
        ],
        2,
    )
}
