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

use crate::analysis::aggregates::{Aggregate, Metric, Quantity};
use crate::analysis::run_score;
use crate::experiment::plan::{
    parse_set, select_from_sweep, ExperimentConfig, Plan, PlannedRun, SelectAggregate,
    SelectMetric, SelectionConfig, Stage, SweepState, BASE_FILE, PLAN_FILE,
};
use crate::experiment::runner::{RunOutcome, Runner, RunnerOptions};
use crate::experiment::store::{load_run, read_status, Split};

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
            ["experiment.", "selection.", "grid.", "sweep."]
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
        ensure!(
            !cfg.grid.contains_key(&k),
            "--set `{s}`: `{k}` is a [grid] key; change the grid with --set 'grid.{k}=[...]'"
        );
        cfg.experiment.set.insert(k, v);
    }

    let cfg_dir = args.config.parent().unwrap_or(Path::new("."));
    let base_src = cfg_dir.join(&cfg.experiment.base);
    let base_text = std::fs::read_to_string(&base_src)
        .with_context(|| format!("reading base run config {}", base_src.display()))?;
    toml::from_str::<toml::Table>(&base_text)
        .with_context(|| format!("parsing base run config {}", base_src.display()))?;
    let exp_dir = &args.out;
    let mut plan = cfg
        .expand(BASE_FILE)
        .with_context(|| format!("expanding {}", args.config.display()))?;
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

    let program = match args.trainer {
        Some(p) => p,
        None => std::env::current_exe().context("locating the mtlscope executable")?,
    };
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
    let higher = metric(&plan.selection).higher_is_better();
    let names: Vec<String> = plan.variants.iter().map(|v| v.name.clone()).collect();
    for v in names {
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

/// The selection metric as the report's analysis defines it.
fn metric(sel: &SelectionConfig) -> Metric {
    match sel.metric {
        SelectMetric::ValAccuracy => Metric::new(Split::Val, Quantity::Accuracy),
        SelectMetric::ValLoss => Metric::new(Split::Val, Quantity::Loss),
    }
}

fn aggregate(sel: &SelectionConfig) -> Aggregate {
    match sel.aggregate {
        SelectAggregate::Final => Aggregate::Final,
        SelectAggregate::Top10Val => Aggregate::Top10Val,
        SelectAggregate::Last20 => Aggregate::Last20,
    }
}

/// A sweep run's state read from its directory, with its selection score when completed
/// (the same score the report's one-stage selection uses: `analysis::run_score`).
fn sweep_state(exp_dir: &Path, r: &PlannedRun, sel: &SelectionConfig) -> SweepState {
    let dir = exp_dir.join(&r.dir);
    match read_status(&dir) {
        Ok(Some((s, _))) if s == "completed" => match load_run(r, &dir) {
            Ok(run) => SweepState::Completed(run_score(
                &run,
                metric(sel),
                aggregate(sel),
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
        Ok(Some((s, _))) if s == "diverged" => SweepState::Diverged,
        _ => SweepState::Pending,
    }
}

fn describe_score(sel: &SelectionConfig, s: &crate::experiment::plan::SelectedPoint) -> String {
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
            Ok(Some((s, _))) if s == "completed" => SweepState::Completed(None),
            Ok(Some((s, _))) if s == "diverged" => SweepState::Diverged,
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
            .map(|s| s.0)
            .unwrap_or_else(|| "new".into())
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
