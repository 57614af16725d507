//! `mtlscope experiment --config EXP.toml --out EXP_DIR [--jobs N] [--set k=v]... [--dry-run]`
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{ensure, Context, Result};

use crate::experiment::plan::{parse_set, ExperimentConfig, Plan, BASE_FILE, PLAN_FILE};
use crate::experiment::runner::{log_path, RunOutcome, Runner, RunnerOptions};
use crate::experiment::store::read_status;

/// Arguments of `mtlscope experiment`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Experiment config (TOML).
    #[arg(long)]
    pub config: PathBuf,
    /// Experiment directory (plan.json, base.toml, runs/, logs/).
    #[arg(long)]
    pub out: PathBuf,
    /// Parallel training processes [default: number of cores]; each gets
    /// max(1, cores / jobs) libtorch threads.
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Override `section.key=value` (TOML value, else string). Keys in `experiment.`,
    /// `selection.` or `grid.` edit the experiment config; any other section is an override
    /// for every run (e.g. `train.epochs=2`).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// List the runs (and their state) without running anything.
    #[arg(long)]
    pub dry_run: bool,
    /// Device passed to every `train` (cpu, cuda, auto).
    #[arg(long)]
    pub device: Option<String>,
    /// Trainer program (default: this executable); for tests.
    #[arg(long, hide = true)]
    pub trainer: Option<PathBuf>,
}

/// Run `mtlscope experiment`.
pub fn run(args: Args) -> Result<ExitCode> {
    let text = std::fs::read_to_string(&args.config)
        .with_context(|| format!("reading {}", args.config.display()))?;
    let (exp_sets, run_sets): (Vec<String>, Vec<String>) =
        args.set.iter().cloned().partition(|s| {
            ["experiment.", "selection.", "grid."]
                .iter()
                .any(|p| s.starts_with(p))
        });
    let text = ExperimentConfig::apply_sets(&text, &exp_sets)?;
    let mut cfg = ExperimentConfig::from_text(&text, &args.config)?;
    for s in &run_sets {
        let (k, v) = parse_set(s)?;
        ensure!(
            k.split('.').count() == 2 && k != "train.seed",
            "--set `{s}`: a run override must be `section.key` (not train.seed)"
        );
        cfg.experiment.set.insert(k, v);
    }

    let cfg_dir = args.config.parent().unwrap_or(std::path::Path::new("."));
    let base_src = cfg_dir.join(&cfg.experiment.base);
    let base_text = std::fs::read_to_string(&base_src)
        .with_context(|| format!("reading base run config {}", base_src.display()))?;
    toml::from_str::<toml::Table>(&base_text)
        .with_context(|| format!("parsing base run config {}", base_src.display()))?;
    let plan = cfg.expand(BASE_FILE);
    let exp_dir = &args.out;
    let base_dst = exp_dir.join(BASE_FILE);
    if exp_dir.join(PLAN_FILE).exists() {
        let previous = Plan::load(exp_dir)?;
        plan.check_compatible(&previous)?;
        if let Ok(old) = std::fs::read_to_string(&base_dst) {
            ensure!(
                old == base_text,
                "{} differs from {}: the runs there were made from another base config; \
                 use a new experiment directory",
                base_dst.display(),
                base_src.display()
            );
        }
    }

    if args.dry_run {
        println!(
            "{} runs ({} variants × {} grid points × {} seeds)",
            plan.runs.len(),
            plan.variants.len(),
            plan.grid.values().map(|v| v.len()).product::<usize>(),
            plan.seeds.len()
        );
        for r in &plan.runs {
            let state = read_status(&exp_dir.join(&r.dir))
                .ok()
                .flatten()
                .map(|s| s.0)
                .unwrap_or_else(|| "new".into());
            println!("{:<40} {:<12} {}", r.id, state, r.overrides.join(" "));
        }
        return Ok(ExitCode::SUCCESS);
    }

    std::fs::create_dir_all(exp_dir).with_context(|| format!("creating {}", exp_dir.display()))?;
    std::fs::write(&base_dst, &base_text)
        .with_context(|| format!("writing {}", base_dst.display()))?;
    plan.save(exp_dir)?;

    let program = match args.trainer {
        Some(p) => p,
        None => std::env::current_exe().context("locating the mtlscope executable")?,
    };
    let mut opts = RunnerOptions::new(program, args.jobs);
    opts.device = args.device;
    eprintln!(
        "experiment `{}`: {} runs, {} jobs × {} threads, in {}",
        plan.name,
        plan.runs.len(),
        opts.jobs,
        opts.threads,
        exp_dir.display()
    );
    let results = Runner::new(opts).run(&plan, exp_dir)?;
    let count = |f: fn(&RunOutcome) -> bool| results.iter().filter(|(_, o)| f(o)).count();
    let skipped = count(|o| matches!(o, RunOutcome::Skipped));
    let completed = count(|o| matches!(o, RunOutcome::Completed));
    let bad: Vec<&(String, RunOutcome)> = results.iter().filter(|(_, o)| !o.is_ok()).collect();
    eprintln!(
        "experiment: {completed} completed now, {skipped} were already complete, {} not completed",
        bad.len()
    );
    for (id, o) in &bad {
        let (what, msg) = match o {
            RunOutcome::Diverged(m) => ("diverged", m),
            RunOutcome::Interrupted(m) => ("interrupted (re-run to resume)", m),
            RunOutcome::Failed(m) => ("failed", m),
            _ => unreachable!(),
        };
        eprintln!("  {id}: {what}: {msg}");
        let _ = log_path(exp_dir, id);
    }
    eprintln!("next: mtlscope report {}", exp_dir.display());
    Ok(if bad.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
