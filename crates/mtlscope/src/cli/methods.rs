//! `mtlscope methods`: the aggregation methods (`objective.kind = "aggregate"`) and the loss
//! weightings (`objective.kind = "weighting"`), one line each, with their parameters.

use anyhow::Result;
use mtl_aggregate::registry::{Input, METHODS};

use mtlscope::train::objective::weighting::WEIGHTINGS;
use serde_json::json;
use std::process::ExitCode;

/// Arguments of `mtlscope methods`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print JSON (name, kind, input, description, params) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs `mtlscope methods`.
pub fn run(args: Args) -> Result<ExitCode> {
    if args.json {
        let list: Vec<_> = METHODS
            .iter()
            .map(|m| {
                json!({
                    "name": m.name,
                    "family": "aggregate",
                    "kind": m.kind.as_str(),
                    "input": input_name(m.input),
                    "description": m.description,
                    "params": m.params.iter().map(|p| json!({
                        "name": p.name, "default": p.default, "description": p.description,
                    })).collect::<Vec<_>>(),
                })
            })
            .chain(WEIGHTINGS.iter().map(|w| {
                json!({
                    "name": w.name,
                    "family": "weighting",
                    "kind": "loss",
                    "input": "losses",
                    "description": w.description,
                    "params": w.params.iter().map(|(n, d, desc)| json!({
                        "name": n, "default": d, "description": desc,
                    })).collect::<Vec<_>>(),
                })
            }))
            .collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(ExitCode::SUCCESS);
    }
    let width = METHODS
        .iter()
        .map(|m| m.name.len())
        .chain(WEIGHTINGS.iter().map(|w| w.name.len()))
        .max()
        .unwrap_or(0);
    println!("# aggregators: objective.kind = \"aggregate\", objective.method = NAME, params as keys of [objective]");
    for m in METHODS {
        let input = match m.input {
            Input::Parameters => String::new(),
            Input::Representation => " [input: representation gradients]".to_string(),
        };
        println!(
            "{:width$}  {:8}  {}{input}",
            m.name,
            m.kind.as_str(),
            m.description
        );
        for p in m.params {
            println!(
                "{:width$}    {}={}  {}",
                "", p.name, p.default, p.description
            );
        }
    }
    println!();
    println!("# loss weightings: objective.kind = \"weighting\", objective.method = NAME");
    for w in WEIGHTINGS {
        println!("{:width$}  {:8}  {}", w.name, "loss", w.description);
        for (n, d, desc) in w.params {
            println!("{:width$}    {n}={d}  {desc}", "");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn input_name(input: Input) -> &'static str {
    match input {
        Input::Parameters => "parameters",
        Input::Representation => "representation",
    }
}
