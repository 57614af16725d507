//! `mtlscope encoders`: every registered encoder with its output kind (vector or spatial
//! feature map) and the `[model]` keys it reads.

use anyhow::Result;
use serde_json::json;
use std::process::ExitCode;

use mtlscope::model::ENCODERS;

/// Arguments of `mtlscope encoders`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print JSON (name, about, output, keys) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs `mtlscope encoders`.
pub fn run(args: Args) -> Result<ExitCode> {
    if args.json {
        let list: Vec<_> = ENCODERS
            .iter()
            .map(|e| {
                json!({
                    "name": e.name,
                    "about": e.about,
                    "output": e.output,
                    "keys": e.keys.split(',').map(str::trim).filter(|k| !k.is_empty()).collect::<Vec<_>>(),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(ExitCode::SUCCESS);
    }
    for e in ENCODERS {
        let keys = if e.keys.is_empty() {
            String::new()
        } else {
            format!("; reads model.{}", e.keys)
        };
        println!("{} ({} output{keys}): {}", e.name, e.output, e.about);
    }
    Ok(ExitCode::SUCCESS)
}
