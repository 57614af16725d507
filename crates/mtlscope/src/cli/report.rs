//! `mtlscope report EXP_DIR` → `EXP_DIR/report/`.
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use mtlscope::analysis::significance::Spread;
use mtlscope::report::ReportOptions;

/// Arguments of `mtlscope report`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Experiment directory (plan.json and runs/, or just runs/<variant>/.../seedK/).
    pub exp_dir: PathBuf,
    /// Output folder [default: EXP_DIR/report].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The ± of every interval and band: `std` = mean ± 2σ, σ the sample standard deviation
    /// over seeds (the paper's significance test); `stderr` = mean ± 2σ/√n.
    #[arg(long, default_value = "std", value_parser = parse_spread)]
    pub spread: Spread,
}

fn parse_spread(s: &str) -> Result<Spread, String> {
    Spread::parse(s).ok_or_else(|| {
        let known: Vec<&str> = Spread::ALL.iter().map(|x| x.name()).collect();
        format!("unknown spread `{s}`; known: {}", known.join(", "))
    })
}

/// Run `mtlscope report`.
pub fn run(args: Args) -> Result<ExitCode> {
    let out = args.out.unwrap_or_else(|| args.exp_dir.join("report"));
    let opts = ReportOptions {
        spread: args.spread,
    };
    let summary = mtlscope::report::write_report(&args.exp_dir, &out, &opts)?;
    for w in &summary.warnings {
        eprintln!("warning: {w}");
    }
    println!("{}", summary.index.display());
    Ok(ExitCode::SUCCESS)
}
