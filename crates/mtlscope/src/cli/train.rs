//! `mtlscope train`: one run from a config file.

use anyhow::{bail, Context, Result};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use mtlscope::config::RunConfig;
use mtlscope::train::run_files::read_run_info;
use mtlscope::train::store::Status;
use mtlscope::train::{train, RunOptions};

/// Exit code of a diverged run.
pub const EXIT_DIVERGED: u8 = 3;
/// Exit code of an interrupted (resumable) run, as a shell reports SIGINT.
pub const EXIT_INTERRUPTED: u8 = 130;

/// Arguments of `mtlscope train`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Run config (TOML). With --resume it may be omitted: RUN_DIR/config.toml is used.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Run directory to create (or continue, with --resume).
    #[arg(long)]
    pub out: PathBuf,
    /// Override a config key, e.g. --set train.epochs=2 --set optim.lr=0.01 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    /// cpu, cuda or auto (cuda when available).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// libtorch intra-op threads (default: libtorch's choice, the number of cores).
    #[arg(long)]
    pub threads: Option<i32>,
    /// Continue RUN_DIR from its last checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// The dataset's files (overrides data.data_dir; `mtlscope datasets` shows each layout).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// No per-evaluation log lines.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Runs `mtlscope train`.
pub fn run(args: Args) -> Result<ExitCode> {
    super::set_threads(args.threads)?;
    let overrides = super::with_data_dir(&args.overrides, args.data_dir.as_deref());
    let config = resolve_config(&args, &overrides)?;
    let device = super::parse_device(&args.device)?;
    let interrupt = Arc::new(AtomicBool::new(false));
    let flag = interrupt.clone();
    // Ctrl-C / SIGTERM finish the current step and leave a resumable checkpoint.
    ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst))
        .context("installing the signal handler")?;
    let tty = std::io::stderr().is_terminal();
    let outcome = train(RunOptions {
        config,
        out: args.out.clone(),
        resume: args.resume,
        device,
        progress_bar: tty && !args.quiet,
        verbose: !args.quiet,
        interrupt,
        stop_after: None,
    })?;
    eprintln!("{}: {}", args.out.display(), outcome.message);
    Ok(match outcome.status {
        Status::Completed => ExitCode::SUCCESS,
        Status::Diverged => ExitCode::from(EXIT_DIVERGED),
        Status::Interrupted => ExitCode::from(EXIT_INTERRUPTED),
        Status::Running => ExitCode::FAILURE,
    })
}

/// The config to run: the file plus overrides; on --resume, the run directory's own resolved
/// config, which a given --config must agree with.
fn resolve_config(args: &Args, overrides: &[String]) -> Result<RunConfig> {
    if !args.resume {
        let Some(path) = &args.config else {
            bail!("--config is required (unless --resume)")
        };
        return RunConfig::load(path, overrides);
    }
    // run.json is written just after the directory is created; a run that died before it
    // still restarts from its config.toml.
    if args.out.join("run.json").exists() {
        let info = read_run_info(&args.out)?;
        if info.status == Status::Completed {
            bail!(
                "{}: run already completed ({} steps); nothing to resume",
                args.out.display(),
                info.steps
            );
        }
    } else if !args.out.join("config.toml").exists() {
        bail!(
            "--resume: {} is not a run directory (no run.json, no config.toml)",
            args.out.display()
        );
    }
    let saved_path = args.out.join("config.toml");
    let saved = RunConfig::load(&saved_path, &[])?;
    if let Some(path) = &args.config {
        let given = RunConfig::load(path, overrides)?;
        if given != saved {
            bail!(
                "--resume: {} with the given --set overrides differs from {}; resume with the run's own config (omit --config)",
                path.display(),
                saved_path.display()
            );
        }
    } else if !args.overrides.is_empty() {
        bail!("--resume without --config takes no --set overrides (the run's config is fixed)");
    }
    Ok(saved)
}
