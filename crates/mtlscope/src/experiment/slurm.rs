//! Running a plan on a Slurm cluster: one `sbatch` job array, one array element per run.
//!
//! Submission writes `EXP_DIR/slurm/array-<n>.sh` (the `#SBATCH` header from the experiment's
//! `[slurm]` table, then one `case` branch per run with its exact `mtlscope train` command)
//! and records the job in `EXP_DIR/slurm/jobs.json`. Each element decides at start whether to
//! resume (its run directory holds a `config.toml`) or start fresh, so an element that was
//! preempted, requeued or hit its time limit (Slurm sends SIGTERM first: the trainer
//! checkpoints and exits 130) continues from its checkpoint when it runs again or when the
//! experiment is re-submitted. Re-submitting skips completed and diverged runs and runs whose
//! element is still queued or running.
//!
//! The same run ids, directories and `train` arguments as the local launcher
//! ([`Runner::args`]), so the two launchers produce the same run directories.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::plan::Plan;
use super::runner::{log_path, Runner};
use crate::train::run_files::read_status;
use crate::train::store::Status;

/// `[slurm]` of an experiment config: what every array element asks the scheduler for.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlurmConfig {
    /// `--partition`.
    #[serde(default)]
    pub partition: Option<String>,
    /// `--time`, e.g. `"04:00:00"`.
    #[serde(default)]
    pub time: Option<String>,
    /// `--cpus-per-task` (also the element's libtorch threads). Default 2.
    #[serde(default)]
    pub cpus_per_task: Option<u32>,
    /// `--mem`, e.g. `"8G"`.
    #[serde(default)]
    pub mem: Option<String>,
    /// `--gres=gpu:N`; with N > 0 the runs train with `--device cuda`.
    #[serde(default)]
    pub gpus: Option<u32>,
    /// Extra `#SBATCH` lines, verbatim (e.g. `"--account=abc"`, `"--qos=normal"`).
    #[serde(default)]
    pub extra: Vec<String>,
}

impl SlurmConfig {
    /// Checks values that would only fail at submission.
    pub fn validate(&self) -> Result<()> {
        if self.cpus_per_task == Some(0) {
            bail!("slurm.cpus_per_task must be >= 1");
        }
        for e in &self.extra {
            if !e.starts_with("--") || e.contains('\n') {
                bail!("slurm.extra: `{e}` must be one sbatch option starting with `--`");
            }
        }
        Ok(())
    }

    /// Threads each element gives libtorch.
    pub fn threads(&self) -> u32 {
        self.cpus_per_task.unwrap_or(2)
    }
}

/// One submitted array.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SubmittedJob {
    /// Slurm job id of the array.
    pub job_id: String,
    /// Array index → run id (the index is the run's position in the plan).
    pub runs: BTreeMap<usize, String>,
    /// The job script.
    pub script: String,
}

/// `EXP_DIR/slurm/jobs.json`: every array submitted for this experiment, oldest first.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct JobLedger {
    /// Submitted arrays.
    pub jobs: Vec<SubmittedJob>,
}

impl JobLedger {
    fn path(exp_dir: &Path) -> PathBuf {
        exp_dir.join("slurm").join("jobs.json")
    }

    /// Reads the ledger (empty when nothing was submitted).
    pub fn load(exp_dir: &Path) -> Result<Self> {
        let p = Self::path(exp_dir);
        if !p.exists() {
            return Ok(Self::default());
        }
        let text =
            std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", p.display()))
    }

    fn save(&self, exp_dir: &Path) -> Result<()> {
        let p = Self::path(exp_dir);
        crate::train::store::write_atomic(&p, serde_json::to_string_pretty(self)?.as_bytes())
    }

    /// The job ids of every submitted array, oldest first.
    pub fn job_ids(&self) -> Vec<String> {
        self.jobs.iter().map(|j| j.job_id.clone()).collect()
    }

    /// The latest (job id, index) that ran or runs each run id.
    pub fn latest(&self) -> BTreeMap<String, (String, usize)> {
        let mut out = BTreeMap::new();
        for j in &self.jobs {
            for (i, id) in &j.runs {
                out.insert(id.clone(), (j.job_id.clone(), *i));
            }
        }
        out
    }
}

/// Scheduler state of array elements, `"<job>_<index>"` → Slurm state (`PENDING`,
/// `RUNNING`, ...), from `squeue`; elements that left the queue are absent.
pub fn queue_states(jobs: &[String]) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    if jobs.is_empty() {
        return Ok(out);
    }
    let o = Command::new("squeue")
        .args(["-h", "-r", "-o", "%i %T", "-j", &jobs.join(",")])
        .output()
        .context("running squeue (is Slurm installed and SLURM_CONF set?)")?;
    // squeue exits non-zero when every listed job has left the queue.
    for line in String::from_utf8_lossy(&o.stdout).lines() {
        if let Some((id, state)) = line.trim().split_once(' ') {
            out.insert(id.to_string(), state.trim().to_string());
        }
    }
    Ok(out)
}

/// Quotes `s` for a POSIX shell.
pub fn sh(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// What a submission did.
#[derive(Debug, Clone)]
pub struct Submission {
    /// The array's job id (None when nothing needed submitting).
    pub job_id: Option<String>,
    /// Runs submitted.
    pub submitted: Vec<String>,
    /// Runs skipped because completed or diverged.
    pub done: Vec<String>,
    /// Runs skipped because their element is still queued or running.
    pub in_queue: Vec<String>,
}

/// Submits the runs of `plan` that are neither finished nor in the queue as one job array
/// of at most `max_parallel` concurrent elements. `runner` supplies each run's `train`
/// arguments (as the local launcher would run them).
pub fn submit(
    plan: &Plan,
    exp_dir: &Path,
    runner: &Runner,
    cfg: &SlurmConfig,
    max_parallel: usize,
    dependency: Option<&str>,
) -> Result<Submission> {
    cfg.validate()?;
    let exp_dir =
        std::path::absolute(exp_dir).with_context(|| format!("resolving {}", exp_dir.display()))?;
    let mut ledger = JobLedger::load(&exp_dir)?;
    let latest = ledger.latest();
    let queued_jobs: Vec<String> = ledger.job_ids();
    let states = queue_states(&queued_jobs)?;
    let mut sub = Submission {
        job_id: None,
        submitted: Vec::new(),
        done: Vec::new(),
        in_queue: Vec::new(),
    };
    let mut branches = String::new();
    let mut indices = Vec::new();
    for (i, run) in plan.runs.iter().enumerate() {
        let dir = exp_dir.join(&run.dir);
        if let Some((Status::Completed | Status::Diverged, _)) = read_status(&dir)? {
            sub.done.push(run.id.clone());
            continue;
        }
        if let Some((job, idx)) = latest.get(&run.id) {
            if states.contains_key(&format!("{job}_{idx}")) {
                sub.in_queue.push(run.id.clone());
                continue;
            }
        }
        let args = runner.args(plan, &exp_dir, run, false);
        let log = log_path(&exp_dir, &run.id);
        let cmd: Vec<String> = args.iter().map(|a| sh(a)).collect();
        writeln!(
            branches,
            "  {i}) dir={}; log={}; set -- {} ;;",
            sh(&dir.display().to_string()),
            sh(&log.display().to_string()),
            cmd.join(" ")
        )?;
        indices.push(i);
        sub.submitted.push(run.id.clone());
    }
    if indices.is_empty() {
        return Ok(sub);
    }
    let slurm_dir = exp_dir.join("slurm");
    std::fs::create_dir_all(exp_dir.join("logs"))
        .with_context(|| format!("creating {}", exp_dir.join("logs").display()))?;
    std::fs::create_dir_all(&slurm_dir)
        .with_context(|| format!("creating {}", slurm_dir.display()))?;
    let script_path = slurm_dir.join(format!("array-{}.sh", ledger.jobs.len()));
    let script = job_script(plan, &exp_dir, runner, cfg, &branches);
    std::fs::write(&script_path, &script)
        .with_context(|| format!("writing {}", script_path.display()))?;
    let array = format!(
        "--array={}%{}",
        indices
            .iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(","),
        max_parallel.max(1)
    );
    let mut cmd = Command::new("sbatch");
    cmd.args(["--parsable", &array]);
    if let Some(d) = dependency {
        cmd.arg(format!("--dependency={d}"));
    }
    let o = cmd
        .arg(&script_path)
        .output()
        .context("running sbatch (is Slurm installed and SLURM_CONF set?)")?;
    if !o.status.success() {
        bail!(
            "sbatch {} failed: {}",
            script_path.display(),
            String::from_utf8_lossy(&o.stderr).trim()
        );
    }
    let out = String::from_utf8_lossy(&o.stdout);
    // --parsable prints `jobid` or `jobid;cluster`.
    let job_id = out.trim().split(';').next().unwrap_or("").to_string();
    if job_id.is_empty() || !job_id.chars().all(|c| c.is_ascii_digit()) {
        bail!("sbatch printed no job id: `{}`", out.trim());
    }
    ledger.jobs.push(SubmittedJob {
        job_id: job_id.clone(),
        runs: indices
            .iter()
            .map(|&i| (i, plan.runs[i].id.clone()))
            .collect(),
        script: script_path.display().to_string(),
    });
    ledger.save(&exp_dir)?;
    sub.job_id = Some(job_id);
    Ok(sub)
}

/// The array job script.
fn job_script(
    plan: &Plan,
    exp_dir: &Path,
    runner: &Runner,
    cfg: &SlurmConfig,
    branches: &str,
) -> String {
    let mut s = String::from("#!/bin/bash\n");
    let name: String = plan
        .name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .take(40)
        .collect();
    let _ = writeln!(s, "#SBATCH --job-name=mtlscope-{name}");
    let _ = writeln!(
        s,
        "#SBATCH --output={}",
        exp_dir.join("logs").join("slurm-%A_%a.out").display()
    );
    let _ = writeln!(s, "#SBATCH --cpus-per-task={}", cfg.threads());
    if let Some(p) = &cfg.partition {
        let _ = writeln!(s, "#SBATCH --partition={p}");
    }
    if let Some(t) = &cfg.time {
        let _ = writeln!(s, "#SBATCH --time={t}");
    }
    if let Some(m) = &cfg.mem {
        let _ = writeln!(s, "#SBATCH --mem={m}");
    }
    if let Some(g) = cfg.gpus.filter(|&g| g > 0) {
        let _ = writeln!(s, "#SBATCH --gres=gpu:{g}");
    }
    for e in &cfg.extra {
        let _ = writeln!(s, "#SBATCH {e}");
    }
    let _ = writeln!(
        s,
        "# Generated by `mtlscope experiment --launcher slurm` for {}.\n\
         # Element i trains run i of plan.json; a run directory that holds a config.toml is\n\
         # resumed (after preemption, a time limit or an scancel), else started fresh.\n\
         set -u\n\
         case \"$SLURM_ARRAY_TASK_ID\" in\n{branches}  *) echo \"no run for array index $SLURM_ARRAY_TASK_ID\" >&2; exit 2 ;;\nesac\n\
         if [ -e \"$dir/config.toml\" ]; then set -- \"$@\" --resume; fi\n\
         mkdir -p \"$(dirname \"$dir\")\" \"$(dirname \"$log\")\"\n\
         echo \"### [slurm job $SLURM_ARRAY_JOB_ID element $SLURM_ARRAY_TASK_ID] {} $*\" >> \"$log\"\n\
         exec {} \"$@\" >> \"$log\" 2>&1",
        exp_dir.display(),
        runner.program().display(),
        sh(&runner.program().display().to_string())
    );
    s
}

/// One run's state for `experiment status`.
#[derive(Debug, Clone, PartialEq)]
pub struct RunState {
    /// Run id.
    pub id: String,
    /// `queued`, `running`, `completed`, `failed`, `diverged`, `interrupted`, `new`.
    pub state: String,
    /// The scheduler element, if any (`job_index`).
    pub element: Option<String>,
}

/// Every planned run's state, from its run directory and (where jobs were submitted) the
/// scheduler.
pub fn status(plan: &Plan, exp_dir: &Path) -> Result<Vec<RunState>> {
    let ledger = JobLedger::load(exp_dir)?;
    let latest = ledger.latest();
    let jobs: Vec<String> = ledger.job_ids();
    let states = if jobs.is_empty() {
        BTreeMap::new()
    } else {
        queue_states(&jobs)?
    };
    let mut out = Vec::new();
    for run in &plan.runs {
        let dir = exp_dir.join(&run.dir);
        let element = latest.get(&run.id).map(|(j, i)| format!("{j}_{i}"));
        let queue = element.as_ref().and_then(|e| states.get(e));
        let disk = read_status(&dir)?.map(|(s, _)| s.name());
        let state = match (disk, queue.map(String::as_str)) {
            (Some("completed"), _) => "completed",
            (Some("diverged"), _) => "diverged",
            (_, Some("PENDING")) | (_, Some("CONFIGURING")) => "queued",
            (_, Some(_)) => "running",
            (Some("interrupted"), None) => "interrupted",
            // Left the queue without finishing: the process died or failed.
            (Some("running"), None) if element.is_some() => "failed",
            (Some(s), None) => s,
            (None, None) if element.is_some() => "failed",
            (None, None) => "new",
        }
        .to_string();
        out.push(RunState {
            id: run.id.clone(),
            state,
            element,
        });
    }
    Ok(out)
}

/// Cancels the queued (not yet running) elements of this experiment's arrays; with
/// `running`, the running ones too (they checkpoint on Slurm's SIGTERM). Returns the job ids
/// asked.
pub fn cancel(exp_dir: &Path, running: bool) -> Result<Vec<String>> {
    let ledger = JobLedger::load(exp_dir)?;
    let all: Vec<String> = ledger.job_ids();
    // Only arrays still in the queue: scancel fails on ids that have left it.
    let queued = queue_states(&all)?;
    let jobs: Vec<String> = all
        .into_iter()
        .filter(|j| {
            queued
                .keys()
                .any(|e| e.split('_').next() == Some(j.as_str()))
        })
        .collect();
    if jobs.is_empty() {
        return Ok(jobs);
    }
    let mut cmd = Command::new("scancel");
    if !running {
        cmd.arg("--state=PENDING");
    }
    let o = cmd
        .args(&jobs)
        .output()
        .context("running scancel (is Slurm installed and SLURM_CONF set?)")?;
    if !o.status.success() {
        bail!(
            "scancel failed: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        );
    }
    Ok(jobs)
}

/// Blocks until none of this experiment's elements is queued or running (for `--wait`:
/// tests and interactive use; a cluster workflow submits and leaves).
pub fn wait(exp_dir: &Path, poll: std::time::Duration) -> Result<()> {
    let ledger = JobLedger::load(exp_dir)?;
    let jobs: Vec<String> = ledger.job_ids();
    while !queue_states(&jobs)?.is_empty() {
        std::thread::sleep(poll);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quoting_survives_quotes_and_spaces() {
        assert_eq!(sh("a b"), "'a b'");
        assert_eq!(sh("it's"), r"'it'\''s'");
    }

    #[test]
    fn extra_lines_must_be_single_options() {
        let mut c = SlurmConfig {
            extra: vec!["--qos=normal".into()],
            ..Default::default()
        };
        c.validate().unwrap();
        c.extra = vec!["qos=normal".into()];
        assert!(c.validate().is_err());
        c.extra = vec!["--a\n#SBATCH --b".into()];
        assert!(c.validate().is_err());
    }
}
