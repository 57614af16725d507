//! Reading a run directory back (docs/run-format.md): the one typed reader of the files
//! [`super::store`] writes. `experiment::store`, the analyses, the report and the runners read
//! `run.json`, `trajectory.csv`, `probes.csv`, `steps.csv` and `similarity.csv` only through here, against the
//! headers and the [`RunInfo`] type the writer uses, so the two cannot drift apart.
//!
//! Run format 2 ([`FORMAT_VERSION`], issue #12) is read as written. Format 1 (no
//! `format_version`, `tasks` a list of names, a wide `trajectory.csv` with `loss,accuracy`
//! columns) is read too, because it is cheap and exact: every format-1 task was a multi-class
//! task whose metrics were exactly `loss` and `accuracy`, so its rows become those two long-form
//! rows and its tasks [`multiclass::metrics`]. A newer format is refused, naming the file and
//! the version.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Deserialize;

use super::store::{RunInfo, Status, CSVS, FORMAT_VERSION};
use crate::task::{multiclass, TaskInfo};

/// Name of the loss in `trajectory.csv`'s `metric` column: every task's first metric.
pub const LOSS: &str = "loss";

/// `trajectory.csv`'s header in run format 1.
pub const V1_TRAJECTORY_HEADER: &str = "epoch,step,task,split,loss,accuracy";

/// Evaluation split of a trajectory row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Split {
    /// Full training set (eval mode).
    Train,
    /// Validation set.
    Val,
    /// Test set.
    Test,
}

impl Split {
    /// Every split, in the order the trainer writes them.
    pub const ALL: [Split; 3] = [Split::Train, Split::Val, Split::Test];

    /// The split named `s` as in the CSVs.
    pub fn parse(s: &str) -> Option<Split> {
        Split::ALL.into_iter().find(|x| x.name() == s)
    }

    /// Name as in the CSVs.
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Val => "val",
            Split::Test => "test",
        }
    }
}

/// One row of `trajectory.csv`: one metric of one task on one split at one evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct TrajectoryRow {
    /// `step / steps_per_epoch` (0 = before training).
    pub epoch: f64,
    /// Optimizer steps taken.
    pub step: u64,
    /// Task name.
    pub task: String,
    /// Split evaluated.
    pub split: Split,
    /// Metric name, one of the task's metrics in `run.json` (`loss` first).
    pub metric: String,
    /// Its value over the whole split (NaN where undefined).
    pub value: f64,
}

/// One row of `probes.csv`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ProbeRow {
    /// Epoch of the evaluation.
    pub epoch: f64,
    /// Step of the evaluation.
    pub step: u64,
    /// Task, empty for values about the set of tasks.
    pub task: String,
    /// Probe name.
    pub probe: String,
    /// Value.
    pub value: f64,
}

/// One row of `steps.csv`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct StepRow {
    /// Step after which the quantity was recorded.
    pub step: u64,
    /// Quantity name.
    pub quantity: String,
    /// Task, empty when not per task.
    pub task: String,
    /// Value.
    pub value: f64,
}

/// One row of `similarity.csv`: Elich et al.'s per-epoch summary of one kind of gradient pair
/// and one measure ([`crate::probe::similarity`]).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SimilaritySummary {
    /// The epoch (1-based) summarised.
    pub epoch: u64,
    /// `inter_task` or `inter_sample`.
    pub pairs: String,
    /// `same_sample`, `same_position` or `same_task`.
    pub pairing: String,
    /// `cos`, `magsim` or `conflict_ratio`.
    pub measure: String,
    /// Pair values summarised.
    pub n: u64,
    /// Their mean.
    pub mean: f64,
    /// Their population standard deviation.
    pub std: f64,
    /// 2.5th percentile.
    #[serde(rename = "p2.5")]
    pub p2_5: f64,
    /// 97.5th percentile.
    #[serde(rename = "p97.5")]
    pub p97_5: f64,
}

/// A run file that does not have the format this build reads; each variant names the file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RunFileError {
    /// Written by a later mtlscope.
    #[error(
        "{path}: written by a newer mtlscope (run format {found}); this build reads run formats \
         1 to {FORMAT_VERSION}: update mtlscope to read it"
    )]
    Newer {
        /// The file.
        path: PathBuf,
        /// Its `format_version`.
        found: u64,
    },
    /// A version that never existed (0, not an integer).
    #[error("{path}: `format_version` must be an integer from 1 to {FORMAT_VERSION}, got {found}")]
    BadVersion {
        /// The file.
        path: PathBuf,
        /// What it holds.
        found: String,
    },
    /// A CSV header of no known format.
    #[error(
        "{path}: header `{got}` is not run format {FORMAT_VERSION}'s `{expected}`{older}; \
         is it a file of a run directory?"
    )]
    Header {
        /// The file.
        path: PathBuf,
        /// The header this build writes.
        expected: &'static str,
        /// What the file starts with.
        got: String,
        /// The format-1 header where there was one, for the message.
        older: String,
    },
    /// A row that does not parse or breaks the format's order.
    #[error("{path}: row {line}: {message}")]
    Row {
        /// The file.
        path: PathBuf,
        /// 1-based line number (the header is line 1).
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A task whose metrics do not start with the loss.
    #[error("{path}: task `{task}` lists metrics [{metrics}]; every task's first metric must be `{LOSS}`")]
    NoLoss {
        /// `run.json`.
        path: PathBuf,
        /// Task.
        task: String,
        /// Its metric names.
        metrics: String,
    },
}

/// Reads `run.json`. Format 1 gets its tasks as multi-class tasks with `loss` and `accuracy`
/// (what every format-1 task was) and keeps `format_version = 1`.
pub fn read_run_info(dir: &Path) -> Result<RunInfo> {
    let path = dir.join("run.json");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut v: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let version = match v.get("format_version") {
        None => 1,
        Some(x) => x
            .as_u64()
            .filter(|n| *n >= 1)
            .ok_or_else(|| RunFileError::BadVersion {
                path: path.clone(),
                found: x.to_string(),
            })?,
    };
    if version > FORMAT_VERSION as u64 {
        return Err(RunFileError::Newer {
            path,
            found: version,
        }
        .into());
    }
    if version == 1 {
        upgrade_v1_tasks(&mut v);
    }
    let info: RunInfo =
        serde_json::from_value(v).with_context(|| format!("parsing {}", path.display()))?;
    for t in &info.tasks {
        if t.metrics.first().map(|m| m.name.as_str()) != Some(LOSS) {
            let metrics = t
                .metrics
                .iter()
                .map(|m| m.name.as_str())
                .collect::<Vec<_>>();
            return Err(RunFileError::NoLoss {
                path,
                task: t.name.clone(),
                metrics: metrics.join(", "),
            }
            .into());
        }
    }
    Ok(info)
}

/// Format 1's `"tasks": ["a", "b"]` as format 2's task records (left alone when not names).
fn upgrade_v1_tasks(v: &mut serde_json::Value) {
    let Some(tasks) = v.get_mut("tasks").and_then(|t| t.as_array_mut()) else {
        return;
    };
    for t in tasks.iter_mut() {
        if let Some(name) = t.as_str() {
            let info = TaskInfo {
                name: name.to_string(),
                kind: "multiclass".into(),
                metrics: multiclass::metrics(),
            };
            *t = serde_json::to_value(info).expect("a TaskInfo serializes");
        }
    }
}

/// Status and message of `run.json`, `None` without one. Reads only those two keys, which every
/// format has, so runners can follow runs of any version (and runs still being written).
pub fn read_status(dir: &Path) -> Result<Option<(Status, String)>> {
    #[derive(Deserialize)]
    struct StatusOnly {
        status: Status,
        #[serde(default)]
        message: String,
    }
    let path = dir.join("run.json");
    if !path.exists() {
        return Ok(None);
    }
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let s: StatusOnly =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    Ok(Some((s.status, s.message)))
}

/// The header this build writes for `name` (one of [`CSVS`]).
fn header_of(name: &str) -> &'static str {
    CSVS.iter()
        .find(|(n, _)| *n == name)
        .map(|(_, h)| *h)
        .expect("a run CSV")
}

/// A CSV reader over `dir/name` and its header, or `None` when the file is absent.
fn open_csv(
    dir: &Path,
    name: &str,
) -> Result<Option<(PathBuf, csv::Reader<std::fs::File>, String)>> {
    let path = dir.join(name);
    if !path.exists() {
        return Ok(None);
    }
    let mut rdr =
        csv::Reader::from_path(&path).with_context(|| format!("reading {}", path.display()))?;
    let header = rdr
        .headers()
        .with_context(|| format!("reading {}", path.display()))?
        .iter()
        .collect::<Vec<_>>()
        .join(",");
    Ok(Some((path, rdr, header)))
}

fn row_error(path: &Path, line: usize, message: impl std::fmt::Display) -> RunFileError {
    RunFileError::Row {
        path: path.to_path_buf(),
        line,
        message: message.to_string(),
    }
}

/// Rows of `trajectory.csv` in file order. Checks the format's invariant: each (task, split,
/// metric) is evaluated at increasing steps, once per step; anything else means two writers or
/// a hand-edited file, and is refused with both rows named.
pub fn read_trajectory(dir: &Path) -> Result<Vec<TrajectoryRow>> {
    let name = CSVS[0].0;
    let expected = header_of(name);
    let Some((path, mut rdr, header)) = open_csv(dir, name)? else {
        anyhow::bail!("{}: no such file", dir.join(name).display());
    };
    let rows = if header == expected {
        #[derive(Deserialize)]
        struct Raw {
            epoch: f64,
            step: u64,
            task: String,
            split: String,
            metric: String,
            value: f64,
        }
        let mut rows = Vec::new();
        for (i, r) in rdr.deserialize::<Raw>().enumerate() {
            let r = r.map_err(|e| row_error(&path, i + 2, e))?;
            rows.push((i + 2, r.epoch, r.step, r.task, r.split, r.metric, r.value));
        }
        rows
    } else if header == V1_TRAJECTORY_HEADER {
        #[derive(Deserialize)]
        struct RawV1 {
            epoch: f64,
            step: u64,
            task: String,
            split: String,
            loss: f64,
            accuracy: Option<f64>,
        }
        let mut rows = Vec::new();
        for (i, r) in rdr.deserialize::<RawV1>().enumerate() {
            let r = r.map_err(|e| row_error(&path, i + 2, e))?;
            let acc = r.accuracy.unwrap_or(f64::NAN);
            for (metric, value) in [(LOSS, r.loss), ("accuracy", acc)] {
                let (task, split) = (r.task.clone(), r.split.clone());
                rows.push((
                    i + 2,
                    r.epoch,
                    r.step,
                    task,
                    split,
                    metric.to_string(),
                    value,
                ));
            }
        }
        rows
    } else {
        return Err(RunFileError::Header {
            path,
            expected,
            got: header,
            older: format!(" or format 1's `{V1_TRAJECTORY_HEADER}`"),
        }
        .into());
    };
    let mut out = Vec::with_capacity(rows.len());
    let mut last: BTreeMap<(String, Split, String), (u64, usize)> = BTreeMap::new();
    for (line, epoch, step, task, split, metric, value) in rows {
        let split = Split::parse(&split).ok_or_else(|| {
            row_error(
                &path,
                line,
                format!("unknown split `{split}` (train/val/test)"),
            )
        })?;
        let key = (task, split, metric);
        if let Some(&(prev, prev_line)) = last.get(&key) {
            if step <= prev {
                return Err(row_error(
                    &path,
                    line,
                    format!(
                        "{} `{}` `{}` at step {step} after step {prev} (row {prev_line}): \
                         duplicated or out-of-order evaluations (two processes wrote this run?)",
                        key.0,
                        split.name(),
                        key.2
                    ),
                )
                .into());
            }
        }
        last.insert(key.clone(), (step, line));
        let (task, split, metric) = key;
        out.push(TrajectoryRow {
            epoch,
            step,
            task,
            split,
            metric,
            value,
        });
    }
    Ok(out)
}

/// Rows of `probes.csv` in file order (none when the run has no such file: probes off, or a
/// run that never evaluated).
pub fn read_probes(dir: &Path) -> Result<Vec<ProbeRow>> {
    read_rows(dir, CSVS[1].0)
}

/// Rows of `steps.csv` in file order (none when absent).
pub fn read_steps(dir: &Path) -> Result<Vec<StepRow>> {
    read_rows(dir, CSVS[2].0)
}

/// Rows of `similarity.csv` in file order (none when absent: measurement off, or a run written
/// before the file existed).
pub fn read_similarity(dir: &Path) -> Result<Vec<SimilaritySummary>> {
    read_rows(dir, CSVS[3].0)
}

/// The rows of the headed CSV `name` in `dir`, each deserialised as `T` (none when absent).
fn read_rows<T: serde::de::DeserializeOwned>(dir: &Path, name: &str) -> Result<Vec<T>> {
    let Some((path, mut rdr, header)) = open_csv(dir, name)? else {
        return Ok(Vec::new());
    };
    check_header(&path, name, &header)?;
    rdr.deserialize::<T>()
        .enumerate()
        .map(|(i, r)| r.map_err(|e| row_error(&path, i + 2, e).into()))
        .collect()
}

/// Probes and steps have had one header since format 1.
fn check_header(path: &Path, name: &str, header: &str) -> Result<()> {
    let expected = header_of(name);
    if header != expected {
        return Err(RunFileError::Header {
            path: path.to_path_buf(),
            expected,
            got: header.to_string(),
            older: String::new(),
        }
        .into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::{Direction, MetricSpec};

    const V1_INFO: &str = r#"{"status": "completed", "message": "done", "seed": 1,
        "steps": 20, "steps_total": 20, "steps_per_epoch": 10, "epochs": 2,
        "tasks": ["a", "b"], "wall_seconds": 1.5, "device": "cpu",
        "versions": {"mtlscope": "0.1.0"}}"#;

    fn info_v2(tasks: &str) -> String {
        V1_INFO.replace(
            r#""tasks": ["a", "b"]"#,
            &format!(r#""format_version": 2, "tasks": {tasks}"#),
        )
    }

    #[test]
    fn reads_format_2_as_written() {
        let d = tempfile::tempdir().unwrap();
        let tasks = r#"[{"name": "seg", "kind": "segmentation", "metrics": [
            {"name": "loss", "direction": "lower"}, {"name": "miou", "direction": "higher"}]}]"#;
        std::fs::write(d.path().join("run.json"), info_v2(tasks)).unwrap();
        let info = read_run_info(d.path()).unwrap();
        assert_eq!(info.format_version, 2);
        assert_eq!(info.tasks[0].kind, "segmentation");
        assert_eq!(
            info.tasks[0].metrics[1],
            MetricSpec::new("miou", Direction::Higher)
        );
        std::fs::write(
            d.path().join("trajectory.csv"),
            "epoch,step,task,split,metric,value\n0,0,seg,val,loss,2.5\n0,0,seg,val,miou,NaN\n\
             0.5,5,seg,val,loss,1e-7\n",
        )
        .unwrap();
        let t = read_trajectory(d.path()).unwrap();
        assert_eq!(t.len(), 3);
        assert_eq!(
            (t[2].epoch, t[2].step, t[2].split, t[2].metric.as_str()),
            (0.5, 5, Split::Val, "loss")
        );
        assert_eq!(t[2].value, 1e-7);
        assert!(t[1].value.is_nan());
        assert!(read_probes(d.path()).unwrap().is_empty());
        let (status, message) = read_status(d.path()).unwrap().unwrap();
        assert_eq!((status, message.as_str()), (Status::Completed, "done"));
    }

    #[test]
    fn reads_format_1_as_multiclass_loss_and_accuracy() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("run.json"), V1_INFO).unwrap();
        let info = read_run_info(d.path()).unwrap();
        assert_eq!(info.format_version, 1);
        assert_eq!(info.tasks[1].name, "b");
        assert_eq!(info.tasks[1].kind, "multiclass");
        assert_eq!(info.tasks[1].metrics, multiclass::metrics());
        std::fs::write(
            d.path().join("trajectory.csv"),
            "epoch,step,task,split,loss,accuracy\n0,0,a,train,2.3,0.1\n1,10,a,train,0.5,\n",
        )
        .unwrap();
        let t = read_trajectory(d.path()).unwrap();
        let got: Vec<(u64, &str, f64)> = t
            .iter()
            .map(|r| (r.step, r.metric.as_str(), r.value))
            .collect();
        assert_eq!(
            got[..3],
            [(0, "loss", 2.3), (0, "accuracy", 0.1), (10, "loss", 0.5)]
        );
        assert!(got[3].2.is_nan());
    }

    #[test]
    fn errors_name_the_file_the_row_and_the_version() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        std::fs::write(p.join("run.json"), info_v2("[]").replace(": 2,", ": 3,")).unwrap();
        let e = format!("{:#}", read_run_info(p).unwrap_err());
        assert!(e.contains("run.json") && e.contains("run format 3"), "{e}");
        let no_loss = r#"[{"name": "a", "kind": "binary", "metrics": [
            {"name": "f1", "direction": "higher"}]}]"#;
        std::fs::write(p.join("run.json"), info_v2(no_loss)).unwrap();
        let e = format!("{:#}", read_run_info(p).unwrap_err());
        assert!(e.contains("task `a`") && e.contains("[f1]"), "{e}");

        std::fs::write(p.join("trajectory.csv"), "garbage\n1,2\n").unwrap();
        let e = format!("{:#}", read_trajectory(p).unwrap_err());
        assert!(
            e.contains("trajectory.csv") && e.contains("`garbage`"),
            "{e}"
        );
        let head = "epoch,step,task,split,metric,value\n";
        std::fs::write(
            p.join("trajectory.csv"),
            format!("{head}1,10,a,train,loss,x\n"),
        )
        .unwrap();
        let e = format!("{:#}", read_trajectory(p).unwrap_err());
        assert!(e.contains("row 2"), "{e}");
        std::fs::write(
            p.join("trajectory.csv"),
            format!("{head}1,10,a,dev,loss,1\n"),
        )
        .unwrap();
        let e = format!("{:#}", read_trajectory(p).unwrap_err());
        assert!(e.contains("unknown split `dev`"), "{e}");
        let dup = format!("{head}1,10,a,val,loss,1\n1,10,a,val,accuracy,1\n1,10,a,val,loss,1\n");
        std::fs::write(p.join("trajectory.csv"), dup).unwrap();
        let e = format!("{:#}", read_trajectory(p).unwrap_err());
        assert!(
            e.contains("row 4")
                && e.contains("(row 2)")
                && e.contains("duplicated or out-of-order"),
            "{e}"
        );
        std::fs::write(p.join("probes.csv"), "step,probe\n").unwrap();
        let e = format!("{:#}", read_probes(p).unwrap_err());
        assert!(
            e.contains("probes.csv") && e.contains("epoch,step,task,probe,value"),
            "{e}"
        );
    }
}
