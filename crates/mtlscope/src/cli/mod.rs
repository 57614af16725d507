//! Subcommands (clap + anyhow only).
pub mod experiment;
pub mod report;

use clap::{Parser, Subcommand};

/// Multi-task learning research toolkit.
#[derive(Parser)]
#[command(name = "mtlscope", version)]
pub struct Cli {
    #[command(subcommand)]
    cmd: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Expand an experiment config into runs and execute them as parallel `train` processes.
    Experiment(experiment::Args),
    /// Analyse an experiment directory into EXP_DIR/report/ (HTML, figures, tables).
    Report(report::Args),
}

/// Dispatch.
pub fn run(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    match cli.cmd {
        Command::Experiment(a) => experiment::run(a),
        Command::Report(a) => report::run(a),
    }
}
