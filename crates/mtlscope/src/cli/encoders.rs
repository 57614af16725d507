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
                    "keys": e.keys,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(ExitCode::SUCCESS);
    }
    for e in ENCODERS {
        let keys: String = e
            .keys
            .iter()
            .map(|k| format!("; reads model.{k}"))
            .collect();
        println!("{} ({} output{keys}): {}", e.name, e.output, e.about);
    }
    Ok(ExitCode::SUCCESS)
}
