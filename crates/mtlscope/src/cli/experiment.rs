//! `mtlscope experiment --config EXP.toml --out EXP_DIR [--jobs N] [--set k=v]... [--dry-run]`
//!
//! One invocation runs the whole protocol: stage 1 (the sweep, or every run of a one-stage
//! plan), then, per variant whose sweep runs are all settled, the selection and stage 2 (the
//! final seeds at the selected grid point). Re-running skips completed runs and resumes the
//! rest in either stage; the selection is recomputed from the sweep runs and must match the one
//! recorded in plan.json.
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{ensure, Context, Result};

use mtlscope::analysis::aggregates::{Aggregate, Ranking};
use mtlscope::analysis::factors::Direction;
use mtlscope::analysis::{run_score, score_direction};
use mtlscope::experiment::plan::{
    parse_set, select_from_sweep, ExperimentConfig, Plan, PlannedRun, SelectionConfig, Stage,
    SweepState, BASE_FILE, PLAN_FILE,
};
use mtlscope::experiment::runner::{RunOutcome, Runner, RunnerOptions};
use mtlscope::experiment::slurm;
use mtlscope::experiment::store::load_run;
use mtlscope::train::run_files::{read_run_info, read_status};
use mtlscope::train::store::Status;

/// Where the runs of an experiment execute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Launcher {
    /// Parallel `mtlscope train` processes on this machine (`--jobs`).
    Local,
    /// One Slurm job array (`sbatch`), at most `--jobs` elements at once; returns once
    /// submitted (`--wait` blocks). Settings from the config's `[slurm]` table.
    Slurm,
}

/// `experiment status` / `experiment cancel`.
#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Every run's state (queued, running, completed, failed, diverged, interrupted, new),
    /// from the run directories and, for Slurm experiments, the scheduler.
    Status {
        /// Experiment directory.
        exp_dir: PathBuf,
    },
    /// Cancel this experiment's queued Slurm elements (`--running`: running ones too; they
    /// checkpoint and resume on re-submission).
    Cancel {
        /// Experiment directory.
        exp_dir: PathBuf,
        /// Also stop the running elements.
        #[arg(long)]
        running: bool,
    },
}

/// Arguments of `mtlscope experiment`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct Args {
    /// `status` or `cancel` an experiment instead of running it.
    #[command(subcommand)]
    pub action: Option<Action>,
    /// Experiment config (TOML).
    #[arg(long, required = true)]
    pub config: Option<PathBuf>,
    /// Experiment directory (plan.json, base.toml, runs/, logs/).
    #[arg(long, required = true)]
    pub out: Option<PathBuf>,
    /// Where the runs execute.
    #[arg(long, value_enum, default_value = "local")]
    pub launcher: Launcher,
    /// With `--launcher slurm`: wait until the submitted elements have left the queue.
    #[arg(long)]
    pub wait: bool,
    /// With `--launcher slurm`: this invocation is the controller job that submits the final
    /// stage after the sweep's array (internal).
    #[arg(long, hide = true)]
    pub controller: bool,
    /// Parallel training processes [default: number of cores]; each gets
    /// max(1, cores / jobs) libtorch threads.
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Override `section.key=value` (TOML value, else string). Keys in `experiment.`,
    /// `selection.`, `sweep.` or `grid.` edit the experiment config (`grid.optim.lr=[0.001]`);
    /// any other section is an override for every run (e.g. `train.epochs=2`).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// List the runs of both stages (and their state) without running anything.
    #[arg(long)]
    pub dry_run: bool,
    /// Device passed to every `train` (cpu, cuda, auto).
    #[arg(long)]
    pub device: Option<String>,
    /// The dataset's files for every run (the same as `--set data.data_dir=DIR`).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Trainer program (default: this executable); for tests.
    #[arg(long, hide = true)]
    pub trainer: Option<PathBuf>,
}

/// Run `mtlscope experiment`.
pub fn run(mut args: Args) -> Result<ExitCode> {
    if let Some(d) = args.data_dir.take() {
        // Absolute: runs may resolve paths elsewhere (Slurm elements, the controller).
        let d = std::path::absolute(&d).unwrap_or(d);
        args.set.push(super::data_dir_override(&d));
    }
    match &args.action {
        Some(Action::Status { exp_dir }) => return status(exp_dir),
        Some(Action::Cancel { exp_dir, running }) => {
            let jobs = slurm::cancel(exp_dir, *running)?;
            eprintln!(
                "experiment: asked Slurm to cancel the {} elements of job(s) {}",
                if *running {
                    "queued and running"
                } else {
                    "queued"
                },
                if jobs.is_empty() {
                    "(none submitted)".to_string()
                } else {
                    jobs.join(", ")
                }
            );
            return Ok(ExitCode::SUCCESS);
        }
        None => {}
    }
    let (Some(config), Some(out)) = (args.config.clone(), args.out.clone()) else {
        anyhow::bail!("--config and --out are required");
    };
    let text = std::fs::read_to_string(&config)
        .with_context(|| format!("reading {}", config.display()))?;
    let (exp_sets, run_sets): (Vec<String>, Vec<String>) =
        args.set.iter().cloned().partition(|s| {
            ["experiment.", "selection.", "grid.", "sweep."]
                .iter()
                .any(|p| s.starts_with(p))
        });
    let text = ExperimentConfig::apply_sets(&text, &exp_sets)?;
    let mut cfg = ExperimentConfig::from_text(&text, &config)?;
    for s in &run_sets {
        let (k, v) = parse_set(s)?;
        ensure!(
            k.split('.').count() == 2 && k != "train.seed",
            "--set `{s}`: a run override must be `section.key` (not train.seed)"
        );
        ensure!(
            !cfg.grid.contains_key(&k),
            "--set `{s}`: `{k}` is a [grid] key; change the grid with --set 'grid.{k}=[...]'"
        );
        cfg.experiment.set.insert(k, v);
    }

    let cfg_dir = config.parent().unwrap_or(Path::new("."));
    let base_src = cfg_dir.join(&cfg.experiment.base);
    let base_text = std::fs::read_to_string(&base_src)
        .with_context(|| format!("reading base run config {}", base_src.display()))?;
    toml::from_str::<toml::Table>(&base_text)
        .with_context(|| format!("parsing base run config {}", base_src.display()))?;
    // Another trainer program (`--trainer`, tests' fakes) has its own config keys and tasks,
    // which mtlscope's registries cannot check.
    if args.trainer.is_none() {
        check_every_run(&cfg, &base_text, &base_src)?;
    }
    let exp_dir = &out;
    let mut plan = cfg
        .expand(BASE_FILE)
        .with_context(|| format!("expanding {}", config.display()))?;
    let previous = if exp_dir.join(PLAN_FILE).exists() {
        Some(Plan::load(exp_dir)?)
    } else {
        None
    };
    // Variants whose sweep is already settled (a re-run) get their final runs now, so the plan
    // written before stage 1 keeps them.
    select_settled(&cfg, &mut plan, exp_dir)?;
    let base_dst = exp_dir.join(BASE_FILE);
    if let Some(previous) = &previous {
        plan.check_compatible(previous)?;
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
        print_dry_run(&cfg, &plan, exp_dir);
        return Ok(ExitCode::SUCCESS);
    }

    std::fs::create_dir_all(exp_dir).with_context(|| format!("creating {}", exp_dir.display()))?;
    std::fs::write(&base_dst, &base_text)
        .with_context(|| format!("writing {}", base_dst.display()))?;
    plan.save(exp_dir)?;

    let program = match &args.trainer {
        Some(p) => p.clone(),
        None => std::env::current_exe().context("locating the mtlscope executable")?,
    };
    if args.launcher == Launcher::Slurm {
        return run_slurm(&args, &cfg, plan, exp_dir, program);
    }
    let mut opts = RunnerOptions::new(program, args.jobs);
    opts.device = args.device;
    let (jobs, threads) = (opts.jobs, opts.threads);
    let runner = Runner::new(opts);
    let two_stage = plan.is_two_stage();
    let first = stage_plan(
        &plan,
        if two_stage {
            Stage::Sweep
        } else {
            Stage::Final
        },
    );
    eprintln!(
        "experiment `{}`: {} runs{}, {jobs} jobs × {threads} threads, in {}",
        plan.name,
        first.runs.len(),
        if two_stage {
            " in stage 1 (sweep), then the final stage per variant"
        } else {
            ""
        },
        exp_dir.display()
    );
    let mut bad = Vec::new();
    let results = runner.run(&first, exp_dir)?;
    summarize(
        if two_stage { "stage 1 (sweep)" } else { "" },
        &results,
        &mut bad,
    );

    let mut unselected = Vec::new();
    if two_stage {
        let interrupted = results
            .iter()
            .any(|(_, o)| matches!(o, RunOutcome::Interrupted(_)));
        if interrupted {
            eprintln!(
                "experiment: stage 2 not started (stage 1 was interrupted); re-run to resume"
            );
        } else {
            select_settled(&cfg, &mut plan, exp_dir)?;
            if let Some(previous) = &previous {
                plan.check_compatible(previous)?;
            }
            plan.save(exp_dir)?;
            for s in &plan.protocol.selected {
                eprintln!(
                    "experiment: `{}` selected {} ({})",
                    s.variant,
                    s.grid_tag,
                    describe_score(&plan.selection, s)
                );
            }
            let second = stage_plan(&plan, Stage::Final);
            let results = runner.run(&second, exp_dir)?;
            summarize("stage 2 (final)", &results, &mut bad);
        }
        for v in &plan.variants {
            if !plan.protocol.selected.iter().any(|s| s.variant == v.name) {
                unselected.push(v.name.clone());
            }
        }
    }
    for (id, what, msg) in &bad {
        eprintln!("  {id}: {what}: {msg}");
    }
    for v in &unselected {
        eprintln!(
            "  {v}: no final stage: {}",
            unselected_reason(&plan, v, exp_dir)
        );
    }
    eprintln!("next: mtlscope report {}", exp_dir.display());
    Ok(if bad.is_empty() && unselected.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `experiment status`: one line per run, then the count per state.
fn status(exp_dir: &Path) -> Result<ExitCode> {
    let plan = Plan::load(exp_dir)?;
    let states = slurm::status(&plan, exp_dir)?;
    let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
    for s in &states {
        println!(
            "{:<44} {:<12} {}",
            s.id,
            s.state,
            s.element.as_deref().unwrap_or("")
        );
        *counts.entry(s.state.as_str()).or_default() += 1;
    }
    let summary: Vec<String> = counts.iter().map(|(k, v)| format!("{v} {k}")).collect();
    println!("{} runs: {}", states.len(), summary.join(", "));
    Ok(ExitCode::SUCCESS)
}

/// `--launcher slurm`: submits the runs still to do as one job array. A two-stage plan whose
/// sweep is not settled gets a controller job, run by Slurm once the sweep's elements have
/// ended, that selects and submits the final stage (no polling from a login shell).
fn run_slurm(
    args: &Args,
    cfg: &ExperimentConfig,
    plan: Plan,
    exp_dir: &Path,
    program: PathBuf,
) -> Result<ExitCode> {
    let sl = &cfg.slurm;
    sl.validate()?;
    let mut opts = RunnerOptions::new(program.clone(), Some(1));
    opts.threads = sl.threads() as usize;
    opts.device = if sl.gpus.unwrap_or(0) > 0 {
        Some("cuda".into())
    } else {
        args.device.clone()
    };
    let runner = Runner::new(opts);
    let max_parallel = args.jobs.unwrap_or(plan.runs.len().max(1));
    let two_stage = plan.is_two_stage();
    let mut submitted_jobs = Vec::new();
    let report = |what: &str, s: &slurm::Submission| {
        eprintln!(
            "experiment `{}`{what}: {} submitted{}, {} already finished, {} still in the queue",
            plan.name,
            s.submitted.len(),
            s.job_id
                .as_ref()
                .map(|j| format!(" as Slurm job array {j}"))
                .unwrap_or_default(),
            s.done.len(),
            s.in_queue.len()
        );
    };
    let first = stage_plan(
        &plan,
        if two_stage {
            Stage::Sweep
        } else {
            Stage::Final
        },
    );
    if !args.controller {
        let s = slurm::submit(&first, exp_dir, &runner, sl, max_parallel, None)?;
        report(if two_stage { ", stage 1 (sweep)" } else { "" }, &s);
        submitted_jobs.extend(s.job_id.clone());
    }
    if two_stage {
        let second = stage_plan(&plan, Stage::Final);
        if !second.runs.is_empty() {
            let s = slurm::submit(&second, exp_dir, &runner, sl, max_parallel, None)?;
            report(", stage 2 (final, selected)", &s);
            submitted_jobs.extend(s.job_id.clone());
        }
        let all_selected = plan
            .variants
            .iter()
            .all(|v| plan.protocol.selected.iter().any(|s| s.variant == v.name));
        if !all_selected && !args.controller {
            let ledger = slurm::JobLedger::load(exp_dir)?;
            let after: Vec<String> = ledger.job_ids();
            let job = submit_controller(args, exp_dir, &program, &after)?;
            eprintln!(
                "experiment: controller job {job} submits the final stage once the sweep's elements end"
            );
        }
    }
    if args.wait {
        // The controller's own submissions land in the ledger; wait until nothing is queued.
        loop {
            slurm::wait(exp_dir, std::time::Duration::from_secs(1))?;
            let ledger = slurm::JobLedger::load(exp_dir)?;
            let jobs: Vec<String> = ledger.job_ids();
            if slurm::queue_states(&jobs)?.is_empty() && !controller_pending(exp_dir)? {
                break;
            }
            std::thread::sleep(std::time::Duration::from_secs(1));
        }
        let states = slurm::status(&Plan::load(exp_dir)?, exp_dir)?;
        let bad: Vec<&slurm::RunState> = states.iter().filter(|s| s.state != "completed").collect();
        for s in &bad {
            eprintln!("  {}: {}", s.id, s.state);
        }
        eprintln!("next: mtlscope report {}", exp_dir.display());
        return Ok(if bad.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    eprintln!(
        "next: mtlscope experiment status {0}; when done, mtlscope report {0}",
        exp_dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// The controller job: `mtlscope experiment ... --launcher slurm --controller` after `after`.
fn submit_controller(
    args: &Args,
    exp_dir: &Path,
    program: &Path,
    after: &[String],
) -> Result<String> {
    let config = std::path::absolute(args.config.as_ref().expect("checked"))?;
    let out = std::path::absolute(exp_dir)?;
    let mut cmd = vec![
        program.display().to_string(),
        "experiment".into(),
        "--config".into(),
        config.display().to_string(),
        "--out".into(),
        out.display().to_string(),
        "--launcher".into(),
        "slurm".into(),
        "--controller".into(),
    ];
    if let Some(j) = args.jobs {
        cmd.extend(["--jobs".into(), j.to_string()]);
    }
    for s in &args.set {
        cmd.extend(["--set".into(), s.clone()]);
    }
    let quoted: Vec<String> = cmd.iter().map(|a| slurm::sh(a)).collect();
    let o = std::process::Command::new("sbatch")
        .args([
            "--parsable",
            "--job-name=mtlscope-controller",
            "--cpus-per-task=1",
            &format!(
                "--output={}",
                out.join("logs").join("slurm-controller-%j.out").display()
            ),
            &format!("--dependency=afterany:{}", after.join(":")),
            "--wrap",
            &quoted.join(" "),
        ])
        .output()
        .context("running sbatch for the controller job")?;
    anyhow::ensure!(
        o.status.success(),
        "sbatch (controller) failed: {}",
        String::from_utf8_lossy(&o.stderr).trim()
    );
    let id = String::from_utf8_lossy(&o.stdout)
        .trim()
        .split(';')
        .next()
        .unwrap_or("")
        .to_string();
    std::fs::write(out.join("slurm").join("controller"), &id)?;
    Ok(id)
}

/// Whether the controller job recorded in EXP_DIR/slurm/controller is still queued or running.
fn controller_pending(exp_dir: &Path) -> Result<bool> {
    let p = exp_dir.join("slurm").join("controller");
    let Ok(id) = std::fs::read_to_string(&p) else {
        return Ok(false);
    };
    Ok(!slurm::queue_states(&[id.trim().to_string()])?.is_empty())
}

/// The plan restricted to one stage's runs (what the runner executes).
fn stage_plan(plan: &Plan, stage: Stage) -> Plan {
    Plan {
        runs: plan
            .runs
            .iter()
            .filter(|r| r.stage == stage)
            .cloned()
            .collect(),
        ..plan.clone()
    }
}

/// Counts one stage's outcomes on stderr and collects the runs that did not complete.
fn summarize(
    stage: &str,
    results: &[(String, RunOutcome)],
    bad: &mut Vec<(String, &'static str, String)>,
) {
    let count = |f: fn(&RunOutcome) -> bool| results.iter().filter(|(_, o)| f(o)).count();
    let skipped = count(|o| matches!(o, RunOutcome::Skipped));
    let completed = count(|o| matches!(o, RunOutcome::Completed));
    let failed = results.iter().filter(|(_, o)| !o.is_ok()).count();
    let prefix = if stage.is_empty() {
        "experiment".to_string()
    } else {
        format!("experiment, {stage}")
    };
    eprintln!(
        "{prefix}: {completed} completed now, {skipped} were already complete, {failed} not completed"
    );
    for (id, o) in results {
        let (what, msg) = match o {
            RunOutcome::Diverged(m) => ("diverged", m),
            RunOutcome::Interrupted(m) => ("interrupted (re-run to resume)", m),
            RunOutcome::Failed(m) => ("failed", m),
            RunOutcome::Skipped | RunOutcome::Completed => continue,
        };
        bad.push((id.clone(), what, msg.clone()));
    }
}

/// Records the selection of every variant whose sweep runs are all settled and adds its
/// final-stage runs. Nothing for a one-stage plan.
fn select_settled(cfg: &ExperimentConfig, plan: &mut Plan, exp_dir: &Path) -> Result<()> {
    if !plan.is_two_stage() {
        return Ok(());
    }
    let names: Vec<String> = plan.variants.iter().map(|v| v.name.clone()).collect();
    for v in names {
        let higher = score_higher(plan, &v, exp_dir)?;
        let sel = select_from_sweep(plan, &v, higher, |r| {
            sweep_state(exp_dir, r, &plan.selection)
        });
        if let Some(sel) = sel {
            let runs = cfg.final_runs(&v, &sel.grid_tag)?;
            plan.record_selection(sel, runs)?;
        }
    }
    Ok(())
}

/// Whether a higher selection score is better for `variant`: the direction of its selection
/// metric, from the `run.json` of one of its completed sweep runs (true when none has completed:
/// then nothing is scored). A metric its tasks lack, or metrics of mixed directions, is an error.
fn score_higher(plan: &Plan, variant: &str, exp_dir: &Path) -> Result<bool> {
    let sel = &plan.selection;
    for r in plan.sweep_runs().filter(|r| r.variant == variant) {
        let dir = exp_dir.join(&r.dir);
        if !matches!(read_status(&dir), Ok(Some((Status::Completed, _)))) {
            continue;
        }
        let Ok(info) = read_run_info(&dir) else {
            continue; // unreadable: sweep_state reports it and leaves it unscored
        };
        let d = score_direction(&sel.metric, &info.tasks, sel.tasks.as_deref())
            .with_context(|| format!("variant `{variant}` (run {})", r.id))?;
        return Ok(d == Direction::HigherIsBetter);
    }
    Ok(true)
}

/// A sweep run's state read from its directory, with its selection score when completed
/// (the same score the report's one-stage selection uses: `analysis::run_score`).
fn sweep_state(exp_dir: &Path, r: &PlannedRun, sel: &SelectionConfig) -> SweepState {
    let dir = exp_dir.join(&r.dir);
    match read_status(&dir) {
        Ok(Some((Status::Completed, _))) => match load_run(r, &dir) {
            Ok(run) => SweepState::Completed(run_score(
                &run,
                &Ranking::Metric(sel.metric.clone()),
                Aggregate::from(sel.aggregate),
                sel.tasks.as_deref(),
            )),
            Err(e) => {
                eprintln!(
                    "experiment: sweep run {} is completed but unreadable, left unscored: {e:#}",
                    r.id
                );
                SweepState::Completed(None)
            }
        },
        Ok(Some((Status::Diverged, _))) => SweepState::Diverged,
        _ => SweepState::Pending,
    }
}

fn describe_score(sel: &SelectionConfig, s: &mtlscope::experiment::plan::SelectedPoint) -> String {
    let best = s.scores.iter().find(|p| p.grid_tag == s.grid_tag);
    match best {
        Some(p) => format!(
            "{} {} {:.4} over {} sweep seed(s), best of {} grid points",
            sel.metric.name(),
            sel.aggregate.name(),
            p.score.unwrap_or(f64::NAN),
            p.seeds_scored,
            s.scores.len()
        ),
        None => String::new(),
    }
}

/// Why a variant of a two-stage plan has no final stage yet.
fn unselected_reason(plan: &Plan, variant: &str, exp_dir: &Path) -> String {
    let states: Vec<SweepState> = plan
        .sweep_runs()
        .filter(|r| r.variant == variant)
        .map(|r| match read_status(&exp_dir.join(&r.dir)) {
            Ok(Some((Status::Completed, _))) => SweepState::Completed(None),
            Ok(Some((Status::Diverged, _))) => SweepState::Diverged,
            _ => SweepState::Pending,
        })
        .collect();
    let pending = states.iter().filter(|s| **s == SweepState::Pending).count();
    if pending > 0 {
        format!(
            "{pending} of its {} sweep runs did not complete; re-run to resume the sweep",
            states.len()
        )
    } else {
        "no sweep run of it produced a selection score (all diverged?)".to_string()
    }
}

/// `--dry-run`: both stages, with each run's state; stage 2 of a variant whose sweep is not
/// settled is shown as "after selection".
fn print_dry_run(cfg: &ExperimentConfig, plan: &Plan, exp_dir: &Path) {
    let state = |r: &PlannedRun| {
        read_status(&exp_dir.join(&r.dir))
            .ok()
            .flatten()
            .map(|s| s.0.name())
            .unwrap_or("new")
    };
    let line = |r: &PlannedRun| {
        println!("{:<44} {:<12} {}", r.id, state(r), r.overrides.join(" "));
    };
    let points = cfg.grid_size();
    let nv = plan.variants.len();
    if !plan.is_two_stage() {
        println!(
            "{} runs ({nv} variants × {points} grid points × {} seeds)",
            plan.runs.len(),
            plan.seeds.len()
        );
        if points > 1 {
            println!("one stage: the grid point is selected on the reported runs themselves (selection.same_runs)");
        }
        plan.runs.iter().for_each(line);
    } else {
        let sweep_seeds = plan.protocol.sweep.as_ref().map_or(0, |s| s.seeds.len());
        println!(
            "two stages: {} sweep runs ({nv} variants × {points} grid points × {sweep_seeds} \
             seeds), then {} final runs ({nv} variants × {} seeds) at each variant's selected \
             point",
            plan.sweep_runs().count(),
            nv * plan.seeds.len(),
            plan.seeds.len()
        );
        println!(
            "stage 1, sweep (selection: {} {}, mean over sweep seeds):",
            plan.selection.metric.name(),
            plan.selection.aggregate.name()
        );
        plan.sweep_runs().for_each(line);
        println!("stage 2, final (after selection):");
        for v in &plan.variants {
            match plan.protocol.selected.iter().find(|s| s.variant == v.name) {
                Some(_) => plan
                    .report_runs()
                    .filter(|r| r.variant == v.name)
                    .for_each(line),
                None => {
                    for seed in &plan.seeds {
                        println!(
                            "{:<44} {:<12} at the point its sweep selects",
                            format!("{}/<selected>/seed{seed}", v.name),
                            "after selection"
                        );
                    }
                }
            }
        }
    }
    for o in &plan.protocol.omitted {
        println!(
            "omitted from the grid: {} = [{}]: {}",
            o.key,
            o.values.join(", "),
            o.reason
        );
    }
}

/// Resolves the run config of every configuration the experiment can start (base config +
/// experiment, variant, sweep and grid overrides), so a misspelt key, task or method fails
/// now, naming the run, rather than hours later when that run starts.
fn check_every_run(cfg: &ExperimentConfig, base_text: &str, base_src: &Path) -> Result<()> {
    for r in cfg.every_configuration() {
        let run = mtlscope::config::RunConfig::from_toml_str(base_text, &r.overrides)
            .and_then(|c| mtlscope::resolve::check_run(&c).map(|()| c))
            .with_context(|| {
                format!(
                    "run `{}` ({} with overrides {})",
                    r.id,
                    base_src.display(),
                    r.overrides.join(" ")
                )
            });
        run?;
    }
    Ok(())
}
