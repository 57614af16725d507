//! Executes a plan as parallel `mtlscope train` child processes.
//!
//! Per run: `completed` in run.json → skipped; `diverged` → kept as is (a resume would diverge
//! again: the trajectory is deterministic) and reported; any other status → `--resume`; no
//! run.json → a fresh start (a directory without run.json holds nothing resumable and is
//! cleared, since `train` refuses a non-empty directory). Children write to
//! `EXP_DIR/logs/<id>.log`; a failed run never stops the others.
use std::collections::VecDeque;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context, Result};

use super::plan::{Plan, PlannedRun};
use super::store::read_status;

/// How the runner starts children.
#[derive(Debug, Clone)]
pub struct RunnerOptions {
    /// The trainer program (`mtlscope`; tests point it at a fake).
    pub program: PathBuf,
    /// Parallel processes.
    pub jobs: usize,
    /// libtorch intra-op threads per child.
    pub threads: usize,
    /// `--device` passed through, if any.
    pub device: Option<String>,
    /// Show an indicatif bar (else plain lines on stderr).
    pub progress_bar: bool,
}

impl RunnerOptions {
    /// Defaults: jobs = cores, threads = max(1, cores / jobs).
    pub fn new(program: PathBuf, jobs: Option<usize>) -> Self {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let jobs = jobs.unwrap_or(cores).max(1);
        RunnerOptions {
            program,
            jobs,
            threads: (cores / jobs).max(1),
            device: None,
            progress_bar: std::io::stderr().is_terminal(),
        }
    }
}

/// What happened to one run.
#[derive(Debug, Clone, PartialEq)]
pub enum RunOutcome {
    /// Already completed before this invocation.
    Skipped,
    /// Completed now.
    Completed,
    /// Diverged (now or before).
    Diverged(String),
    /// Interrupted (exit 130); re-running resumes it.
    Interrupted(String),
    /// Any other failure.
    Failed(String),
}

impl RunOutcome {
    /// Completed now or before.
    pub fn is_ok(&self) -> bool {
        matches!(self, RunOutcome::Skipped | RunOutcome::Completed)
    }
}

/// Runs a plan.
pub struct Runner {
    opts: RunnerOptions,
}

impl Runner {
    /// A runner with these options.
    pub fn new(opts: RunnerOptions) -> Self {
        Runner { opts }
    }

    /// The arguments for one run (without the program).
    pub fn args(&self, plan: &Plan, exp_dir: &Path, run: &PlannedRun, resume: bool) -> Vec<String> {
        let mut a = vec![
            "train".to_string(),
            "--config".into(),
            exp_dir.join(&plan.base_config).display().to_string(),
            "--out".into(),
            exp_dir.join(&run.dir).display().to_string(),
            "--threads".into(),
            self.opts.threads.to_string(),
        ];
        if let Some(d) = &self.opts.device {
            a.push("--device".into());
            a.push(d.clone());
        }
        for o in &run.overrides {
            a.push("--set".into());
            a.push(o.clone());
        }
        if resume {
            a.push("--resume".into());
        }
        a
    }

    /// Run every run of the plan; returns (id, outcome) in plan order.
    pub fn run(&self, plan: &Plan, exp_dir: &Path) -> Result<Vec<(String, RunOutcome)>> {
        std::fs::create_dir_all(exp_dir.join("logs"))
            .with_context(|| format!("creating {}", exp_dir.join("logs").display()))?;
        let n = plan.runs.len();
        let results: Arc<Mutex<Vec<Option<RunOutcome>>>> = Arc::new(Mutex::new(vec![None; n]));
        let mut queue = VecDeque::new();
        for (i, r) in plan.runs.iter().enumerate() {
            let dir = exp_dir.join(&r.dir);
            match read_status(&dir)? {
                Some((s, _)) if s == "completed" => {
                    results.lock().unwrap()[i] = Some(RunOutcome::Skipped)
                }
                Some((s, m)) if s == "diverged" => {
                    results.lock().unwrap()[i] = Some(RunOutcome::Diverged(format!(
                        "diverged in an earlier invocation: {m}"
                    )))
                }
                Some(_) => queue.push_back((i, true)),
                None => queue.push_back((i, false)),
            }
        }
        let pending = queue.len();
        let done_before = n - pending;
        let progress = Progress::new(self.opts.progress_bar, n as u64, done_before as u64);
        let queue = Arc::new(Mutex::new(queue));
        std::thread::scope(|s| {
            for _ in 0..self.opts.jobs.min(pending.max(1)) {
                let queue = Arc::clone(&queue);
                let results = Arc::clone(&results);
                let progress = &progress;
                s.spawn(move || loop {
                    let Some((i, resume)) = queue.lock().unwrap().pop_front() else {
                        break;
                    };
                    let run = &plan.runs[i];
                    let t0 = Instant::now();
                    let outcome = self
                        .run_one(plan, exp_dir, run, resume)
                        .unwrap_or_else(|e| RunOutcome::Failed(format!("{e:#}")));
                    progress.finish_one(&run.id, &outcome, t0.elapsed().as_secs_f64(), resume);
                    results.lock().unwrap()[i] = Some(outcome);
                });
            }
        });
        progress.close();
        let results = Arc::try_unwrap(results).unwrap().into_inner().unwrap();
        Ok(plan
            .runs
            .iter()
            .zip(results)
            .map(|(r, o)| (r.id.clone(), o.expect("every run visited")))
            .collect())
    }

    fn run_one(
        &self,
        plan: &Plan,
        exp_dir: &Path,
        run: &PlannedRun,
        resume: bool,
    ) -> Result<RunOutcome> {
        let dir = exp_dir.join(&run.dir);
        if !resume && dir.exists() {
            // No run.json: the trainer never recorded state, so nothing is lost.
            std::fs::remove_dir_all(&dir)
                .with_context(|| format!("clearing {} (no run.json)", dir.display()))?;
        }
        if let Some(parent) = dir.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        let log_path = log_path(exp_dir, &run.id);
        if let Some(parent) = log_path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("opening {}", log_path.display()))?;
        let args = self.args(plan, exp_dir, run, resume);
        writeln!(
            log,
            "### {} {}",
            self.opts.program.display(),
            args.iter()
                .map(|a| shell_quote(a))
                .collect::<Vec<_>>()
                .join(" ")
        )?;
        let status = Command::new(&self.opts.program)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log.try_clone()?)
            .status()
            .with_context(|| format!("starting {}", self.opts.program.display()))?;
        let message = read_status(&dir)
            .ok()
            .flatten()
            .map(|(_, m)| m)
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| last_line(&log_path));
        let where_ = format!("(log: {})", log_path.display());
        Ok(match status.code() {
            Some(0) => match read_status(&dir)? {
                Some((s, _)) if s == "completed" => RunOutcome::Completed,
                other => RunOutcome::Failed(format!(
                    "exit 0 but run.json status is {:?} {where_}",
                    other.map(|o| o.0)
                )),
            },
            Some(3) => RunOutcome::Diverged(format!("{message} {where_}")),
            Some(130) => RunOutcome::Interrupted(format!("{message} {where_}")),
            Some(c) => RunOutcome::Failed(format!("exit {c}: {message} {where_}")),
            None => RunOutcome::Interrupted(format!("killed by a signal {where_}")),
        })
    }
}

/// `EXP_DIR/logs/<id with / → __>.log`.
pub fn log_path(exp_dir: &Path, id: &str) -> PathBuf {
    exp_dir
        .join("logs")
        .join(format!("{}.log", id.replace('/', "__")))
}

fn last_line(path: &Path) -> String {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| {
            t.lines()
                .rev()
                .find(|l| !l.trim().is_empty() && !l.starts_with("### "))
                .map(str::to_string)
        })
        .unwrap_or_default()
}

fn shell_quote(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "_-./=:+,".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

struct Progress {
    bar: Option<indicatif::ProgressBar>,
    state: Mutex<(u64, u64, u64)>, // (done, total, failures)
}

impl Progress {
    fn new(bar: bool, total: u64, done: u64) -> Self {
        let bar = bar.then(|| {
            let b = indicatif::ProgressBar::new(total);
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:40} {pos}/{len} runs  {msg}  [{elapsed_precise}]",
                )
                .unwrap(),
            );
            b.set_position(done);
            b.set_message("0 failed");
            b
        });
        if bar.is_none() {
            eprintln!("experiment: {total} runs, {done} already done");
        }
        Progress {
            bar,
            state: Mutex::new((done, total, 0)),
        }
    }

    fn finish_one(&self, id: &str, outcome: &RunOutcome, secs: f64, resumed: bool) {
        let mut st = self.state.lock().unwrap();
        st.0 += 1;
        if !outcome.is_ok() {
            st.2 += 1;
        }
        let what = match outcome {
            RunOutcome::Completed if resumed => "completed (resumed)",
            RunOutcome::Completed | RunOutcome::Skipped => "completed",
            RunOutcome::Diverged(_) => "DIVERGED",
            RunOutcome::Interrupted(_) => "INTERRUPTED",
            RunOutcome::Failed(_) => "FAILED",
        };
        match &self.bar {
            Some(b) => {
                b.set_position(st.0);
                b.set_message(format!("{} failed", st.2));
                if !outcome.is_ok() {
                    b.println(format!("{id}: {what}"));
                }
            }
            None => eprintln!("[{}/{}] {id}: {what} ({secs:.0} s)", st.0, st.1),
        }
    }

    fn close(&self) {
        if let Some(b) = &self.bar {
            b.finish();
        }
    }
}
