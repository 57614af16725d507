//! `mtlscope hypervolume`: the exact hypervolume of a point set (minimisation).
//!
//! Input `{"points": [[...], ...]}`; `--ref r1,r2,...` the reference point. Points that are
//! not strictly better than the reference in every objective are ignored. Output
//! `{"hypervolume": x}`.

use super::aggregate::{matrix_field, read_json};
use anyhow::{anyhow, Context, Result};
use serde_json::json;
use std::process::ExitCode;

/// Arguments of `mtlscope hypervolume`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// JSON file holding `{"points": [[...], ...]}`; `-` reads stdin.
    #[arg(long, value_name = "FILE")]
    pub input: String,
    /// The reference point, comma-separated (one value per objective).
    #[arg(long = "ref", value_name = "R1,R2,...", allow_hyphen_values = true)]
    pub reference: String,
}

/// Runs `mtlscope hypervolume`.
pub fn run(args: Args) -> Result<ExitCode> {
    let reference = args
        .reference
        .split(',')
        .enumerate()
        .map(|(k, s)| {
            s.trim()
                .parse::<f64>()
                .map_err(|_| anyhow!("--ref value {k} (`{}`) is not a number", s.trim()))
        })
        .collect::<Result<Vec<f64>>>()?;
    let doc = read_json(&args.input)?;
    let points = matrix_field(&doc, "points").with_context(|| format!("in {}", args.input))?;
    let hv = mtl_aggregate::hypervolume(&points, &reference)
        .with_context(|| format!("in {}", args.input))?;
    println!("{}", json!({ "hypervolume": hv }));
    Ok(ExitCode::SUCCESS)
}
