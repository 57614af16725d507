//! The run directory: append-only CSVs, `run.json`, and checkpoints.
//!
//! Rows are written whole and flushed at each evaluation. A checkpoint records each CSV's
//! byte length; resuming truncates the CSVs back to it, so a crash between an evaluation and
//! its checkpoint never leaves duplicated or half-written rows.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use tch::Tensor;

/// The long-form CSV files of a run and their headers.
pub const CSVS: [(&str, &str); 3] = [
    ("trajectory.csv", "epoch,step,task,split,loss,accuracy"),
    ("probes.csv", "epoch,step,task,probe,value"),
    ("steps.csv", "step,quantity,task,value"),
];

/// An append-only CSV whose rows reach the disk whole.
pub struct CsvLog {
    path: PathBuf,
    out: BufWriter<File>,
}

impl CsvLog {
    /// Opens `path` for appending, writing `header` if the file is new or empty.
    fn open(path: PathBuf, header: &str) -> Result<Self> {
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        if f.metadata()?.len() == 0 {
            writeln!(f, "{header}")?;
        }
        Ok(Self {
            path,
            out: BufWriter::with_capacity(1 << 16, f),
        })
    }

    /// Appends one row (fields already formatted).
    pub fn row(&mut self, fields: &[&str]) -> Result<()> {
        let line = fields.join(",");
        writeln!(self.out, "{line}").with_context(|| format!("writing {}", self.path.display()))
    }

    /// Flushes to the OS and returns the file's length.
    pub fn flush(&mut self) -> Result<u64> {
        self.out
            .flush()
            .with_context(|| format!("writing {}", self.path.display()))?;
        Ok(self.out.get_ref().metadata()?.len())
    }
}

/// Status of a run, as in `run.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Going on, or the process died without saying.
    Running,
    /// All steps done.
    Completed,
    /// A loss became NaN/inf.
    Diverged,
    /// Stopped by a signal; resumable.
    Interrupted,
}

/// `run.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunInfo {
    /// Status.
    pub status: Status,
    /// What happened, in words (the divergence step and task, the interrupt).
    pub message: String,
    /// Training seed.
    pub seed: u64,
    /// Steps taken.
    pub steps: usize,
    /// Steps planned.
    pub steps_total: usize,
    /// Steps per epoch.
    pub steps_per_epoch: usize,
    /// Epochs planned.
    pub epochs: usize,
    /// Tasks, in head order.
    pub tasks: Vec<String>,
    /// Wall-clock seconds spent training, summed over resumes.
    pub wall_seconds: f64,
    /// Device.
    pub device: String,
    /// Versions of mtlscope and its backend.
    pub versions: BTreeMap<String, String>,
}

/// `checkpoints/last.json`: where the run stood when the checkpoint was taken.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckpointMeta {
    /// Steps taken.
    pub step: usize,
    /// Byte length of each CSV at the checkpoint.
    pub csv_bytes: BTreeMap<String, u64>,
    /// Wall seconds so far.
    pub wall_seconds: f64,
}

/// A run directory being written.
pub struct RunDir {
    /// Its path.
    pub path: PathBuf,
    /// `trajectory.csv`.
    pub trajectory: CsvLog,
    /// `probes.csv`.
    pub probes: CsvLog,
    /// `steps.csv`.
    pub steps: CsvLog,
}

impl RunDir {
    /// Creates a fresh run directory (must be absent or empty).
    pub fn create(path: &Path, config_toml: &str) -> Result<Self> {
        if path.exists() && std::fs::read_dir(path)?.next().is_some() {
            bail!(
                "{} already exists and is not empty: pass --resume to continue it, or choose another --out",
                path.display()
            );
        }
        std::fs::create_dir_all(path.join("checkpoints"))
            .with_context(|| format!("creating {}", path.display()))?;
        write_atomic(&path.join("config.toml"), config_toml.as_bytes())?;
        Self::open(path)
    }

    /// Reopens an existing run directory at its last checkpoint: the CSVs are cut back to
    /// the lengths the checkpoint recorded.
    pub fn reopen(path: &Path, meta: &CheckpointMeta) -> Result<Self> {
        for (name, _) in CSVS {
            let p = path.join(name);
            let len = meta.csv_bytes.get(name).copied().unwrap_or(0);
            if p.exists() {
                let f = OpenOptions::new()
                    .write(true)
                    .open(&p)
                    .with_context(|| format!("opening {}", p.display()))?;
                if f.metadata()?.len() < len {
                    bail!("{} is shorter than its checkpoint says ({len} bytes): the run directory was modified", p.display());
                }
                f.set_len(len)?;
            }
        }
        Self::open(path)
    }

    fn open(path: &Path) -> Result<Self> {
        let [(t, th), (p, ph), (s, sh)] = CSVS;
        Ok(Self {
            path: path.to_path_buf(),
            trajectory: CsvLog::open(path.join(t), th)?,
            probes: CsvLog::open(path.join(p), ph)?,
            steps: CsvLog::open(path.join(s), sh)?,
        })
    }

    /// Flushes every CSV; returns their lengths for a checkpoint.
    pub fn flush(&mut self) -> Result<BTreeMap<String, u64>> {
        let mut out = BTreeMap::new();
        out.insert(CSVS[0].0.to_string(), self.trajectory.flush()?);
        out.insert(CSVS[1].0.to_string(), self.probes.flush()?);
        out.insert(CSVS[2].0.to_string(), self.steps.flush()?);
        Ok(out)
    }

    /// Writes `run.json`.
    pub fn write_info(&self, info: &RunInfo) -> Result<()> {
        write_atomic(
            &self.path.join("run.json"),
            serde_json::to_string_pretty(info)?.as_bytes(),
        )
    }

    /// Writes the checkpoint: tensors first, then the metadata that points at them.
    pub fn save_checkpoint(
        &self,
        tensors: &[(String, Tensor)],
        meta: &CheckpointMeta,
    ) -> Result<()> {
        let dir = self.path.join("checkpoints");
        let tmp = dir.join("last.safetensors.tmp");
        Tensor::write_safetensors(tensors, &tmp)
            .with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, dir.join("last.safetensors"))?;
        write_atomic(
            &dir.join("last.json"),
            serde_json::to_string_pretty(meta)?.as_bytes(),
        )
    }
}

/// Reads `run.json` of a run directory.
pub fn read_info(path: &Path) -> Result<RunInfo> {
    let p = path.join("run.json");
    let text = std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", p.display()))
}

/// Reads the last checkpoint of a run directory.
pub fn read_checkpoint(path: &Path) -> Result<(CheckpointMeta, HashMap<String, Tensor>)> {
    let dir = path.join("checkpoints");
    let mp = dir.join("last.json");
    let text = std::fs::read_to_string(&mp)
        .with_context(|| format!("reading {} (no checkpoint to resume from)", mp.display()))?;
    let meta: CheckpointMeta =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", mp.display()))?;
    let tp = dir.join("last.safetensors");
    let tensors =
        Tensor::read_safetensors(&tp).with_context(|| format!("reading {}", tp.display()))?;
    Ok((meta, tensors.into_iter().collect()))
}

/// Writes a file via a temporary and a rename, so readers never see half of it.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}
