//! `mtlscope datasets`: every registered dataset with its tasks (name, kind, metrics with
//! their directions) and the files it expects.

use anyhow::Result;
use serde_json::json;
use std::process::ExitCode;

use mtlscope::data::DATASETS;
use mtlscope::task::Direction;

/// Arguments of `mtlscope datasets`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print JSON (name, about, layout, tasks with kind and metrics) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs `mtlscope datasets`.
pub fn run(args: Args) -> Result<ExitCode> {
    if args.json {
        let list: Vec<_> = DATASETS
            .iter()
            .map(|d| {
                json!({
                    "name": d.name(),
                    "about": d.about(),
                    "layout": d.layout(),
                    "tasks": d.tasks(),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(ExitCode::SUCCESS);
    }
    for d in DATASETS {
        println!("{}: {}", d.name(), d.about());
        println!("  files: {}", d.layout());
        for t in d.tasks() {
            let metrics: Vec<String> = t
                .metrics
                .iter()
                .map(|m| {
                    let arrow = match m.direction {
                        Direction::Higher => "↑",
                        Direction::Lower => "↓",
                    };
                    format!("{}{arrow}", m.name)
                })
                .collect();
            println!("  - {} ({}): {}", t.name, t.kind, metrics.join(", "));
        }
    }
    Ok(ExitCode::SUCCESS)
}
