//! Executes a plan as parallel `mtlscope train` child processes.
//!
//! Per run: `completed` in run.json → skipped; `diverged` → kept as is (a resume would diverge
//! again: the trajectory is deterministic) and reported; any other status → `--resume`; no
//! run.json → a fresh start (a directory without run.json holds nothing resumable and is
//! cleared, since `train` refuses a non-empty directory). Children write to
//! `EXP_DIR/logs/<id>.log`; a failed run never stops the others.
//!
//! Ownership: the runner holds `EXP_DIR/.lock` while it runs (a second runner on the same
//! directory is refused), checks each run directory's lock before touching it (a run still
//! trained by an orphan of an earlier runner is reported, never resumed beside it), and its
//! children die with it: each gets SIGTERM, which checkpoints it, when the runner dies by any
//! means (Linux's parent-death signal), and SIGINT/SIGTERM to the runner stop new runs and
//! are passed on to the running ones.
use std::collections::VecDeque;
use std::io::{IsTerminal, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use anyhow::{Context, Result};

use super::plan::{Plan, PlannedRun};
use crate::train::run_files::read_status;
use crate::train::store::{RunLock, Status};

/// Set by SIGINT/SIGTERM to the runner (the handler is installed once per process).
fn interrupted() -> &'static AtomicBool {
    static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();
    FLAG.get_or_init(|| {
        let flag = Arc::new(AtomicBool::new(false));
        let f = flag.clone();
        // A process that already has a handler (a test harness) keeps its own.
        let _ = ctrlc::set_handler(move || f.store(true, Ordering::SeqCst));
        flag
    })
}

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

    /// The trainer program.
    pub fn program(&self) -> &Path {
        &self.opts.program
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
        let _owner = RunLock::acquire(exp_dir)
            .context("another `mtlscope experiment` is running in this directory")?;
        let stop = interrupted();
        let children: Mutex<Vec<u32>> = Mutex::new(Vec::new());
        let watcher_done = AtomicBool::new(false);
        let n = plan.runs.len();
        let results: Arc<Mutex<Vec<Option<RunOutcome>>>> = Arc::new(Mutex::new(vec![None; n]));
        let mut queue = VecDeque::new();
        for (i, r) in plan.runs.iter().enumerate() {
            let dir = exp_dir.join(&r.dir);
            match read_status(&dir)? {
                Some((Status::Completed, _)) => {
                    results.lock().unwrap()[i] = Some(RunOutcome::Skipped)
                }
                Some((Status::Diverged, m)) => {
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
            // Pass a stop on to the children (a terminal's Ctrl-C reaches them anyway; a
            // SIGTERM to the runner alone does not).
            let children_ref = &children;
            let done_ref = &watcher_done;
            s.spawn(move || {
                let mut forwarded = false;
                while !done_ref.load(Ordering::SeqCst) {
                    if stop.load(Ordering::SeqCst) && !forwarded {
                        for &pid in children_ref.lock().unwrap().iter() {
                            // SAFETY: kill(2) with a pid this runner started and still waits on.
                            unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
                        }
                        forwarded = true;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
            });
            let workers: Vec<_> = (0..self.opts.jobs.min(pending.max(1)))
                .map(|_| {
                    let queue = Arc::clone(&queue);
                    let results = Arc::clone(&results);
                    let progress = &progress;
                    let children = &children;
                    s.spawn(move || loop {
                        let Some((i, resume)) = queue.lock().unwrap().pop_front() else {
                            break;
                        };
                        let run = &plan.runs[i];
                        if stop.load(Ordering::SeqCst) {
                            results.lock().unwrap()[i] = Some(RunOutcome::Interrupted(
                                "not started: the experiment was interrupted".into(),
                            ));
                            continue;
                        }
                        let t0 = Instant::now();
                        let outcome = self
                            .run_one(plan, exp_dir, run, resume, children)
                            .unwrap_or_else(|e| RunOutcome::Failed(format!("{e:#}")));
                        progress.finish_one(&run.id, &outcome, t0.elapsed().as_secs_f64(), resume);
                        results.lock().unwrap()[i] = Some(outcome);
                    })
                })
                .collect();
            for w in workers {
                let _ = w.join();
            }
            watcher_done.store(true, Ordering::SeqCst);
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
        children: &Mutex<Vec<u32>>,
    ) -> Result<RunOutcome> {
        let dir = exp_dir.join(&run.dir);
        if dir.exists() {
            // Never touch a directory another process is training (an orphan of a runner
            // killed earlier): the child would be refused anyway, but say why here.
            let lock = match RunLock::acquire(&dir) {
                Ok(l) => l,
                Err(e) => return Ok(RunOutcome::Failed(format!("{e:#}"))),
            };
            if !resume {
                // No run.json: the trainer never recorded state, so nothing is lost.
                std::fs::remove_dir_all(&dir)
                    .with_context(|| format!("clearing {} (no run.json)", dir.display()))?;
            }
            drop(lock);
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
        let parent = std::process::id();
        let mut cmd = Command::new(&self.opts.program);
        cmd.args(&args)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log.try_clone()?);
        // SAFETY: only async-signal-safe calls (prctl, getppid, raise) between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                // The child gets SIGTERM (a checkpoint and a clean exit) when the runner dies.
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                // The runner may have died before prctl took effect.
                if libc::getppid() as u32 != parent {
                    libc::raise(libc::SIGTERM);
                }
                Ok(())
            });
        }
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {}", self.opts.program.display()))?;
        children.lock().unwrap().push(child.id());
        let status = child.wait();
        children.lock().unwrap().retain(|&p| p != child.id());
        let status = status.with_context(|| format!("waiting for {}", run.id))?;
        let message = read_status(&dir)
            .ok()
            .flatten()
            .map(|(_, m)| m)
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| error_text(&log_path));
        let where_ = format!("(log: {})", log_path.display());
        Ok(match status.code() {
            Some(0) => match read_status(&dir)? {
                Some((Status::Completed, _)) => RunOutcome::Completed,
                other => RunOutcome::Failed(format!(
                    "exit 0 but run.json status is {:?} {where_}",
                    other.map(|o| o.0.name())
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

/// What the last attempt in a run's log said went wrong: from its `Error:` line to the end
/// (an error and its causes span several lines), else its last line.
fn error_text(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let last = text.rsplit("\n### ").next().unwrap_or("");
    let lines: Vec<&str> = last
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .collect();
    match lines.iter().position(|l| l.starts_with("Error:")) {
        Some(i) => lines[i..]
            .iter()
            .map(|l| l.trim())
            .collect::<Vec<_>>()
            .join(" "),
        None => lines.last().map(|l| l.to_string()).unwrap_or_default(),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_text_keeps_every_line_of_the_last_attempts_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.log");
        std::fs::write(
            &p,
            "### mtlscope train --out a\nError: old failure\n\n\
             ### mtlscope train --out a --resume\nloading data\n\
             Error: reading /d/train-labels-idx1-ubyte\n\nCaused by:\n    truncated: 450 of 480 bytes\n",
        )
        .unwrap();
        let t = error_text(&p);
        assert_eq!(
            t,
            "Error: reading /d/train-labels-idx1-ubyte Caused by: truncated: 450 of 480 bytes"
        );
        std::fs::write(&p, "### x\nsome output\nlast words\n").unwrap();
        assert_eq!(error_text(&p), "last words");
    }
}
