//! `mtlscope report EXP_DIR` → `EXP_DIR/report/`.
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

/// Arguments of `mtlscope report`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Experiment directory (plan.json and runs/, or just runs/<variant>/.../seedK/).
    pub exp_dir: PathBuf,
    /// Output folder [default: EXP_DIR/report].
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Run `mtlscope report`.
pub fn run(args: Args) -> Result<ExitCode> {
    let out = args.out.unwrap_or_else(|| args.exp_dir.join("report"));
    let summary = crate::report::write_report(&args.exp_dir, &out)?;
    for w in &summary.warnings {
        eprintln!("warning: {w}");
    }
    println!("{}", summary.index.display());
    Ok(ExitCode::SUCCESS)
}
