//! The run directory: append-only CSVs, `run.json`, and checkpoints.
//!
//! Rows are written whole and flushed at each evaluation. A checkpoint records each CSV's
//! byte length; resuming truncates the CSVs back to it, so a crash between an evaluation and
//! its checkpoint never leaves duplicated or half-written rows.
//!
//! A run directory has one owner at a time: [`RunLock`] holds an OS lock on `RUN_DIR/.lock`
//! for the life of the process, which the kernel releases on any death, so a second writer
//! is refused while a crashed owner never blocks a resume.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use tch::Tensor;

/// The version of the run-directory format this build writes (`run.json`'s
/// `format_version`); see docs/run-format.md. Version 1 (no `format_version` key) had a wide
/// `trajectory.csv` with `loss,accuracy` columns.
pub const FORMAT_VERSION: u32 = 2;

/// The long-form CSV files of a run and their headers.
pub const CSVS: [(&str, &str); 4] = [
    ("trajectory.csv", "epoch,step,task,split,metric,value"),
    ("probes.csv", "epoch,step,task,probe,value"),
    ("steps.csv", "step,quantity,task,value"),
    ("similarity.csv", crate::probe::similarity::HEADER),
];

/// A float as CSV text that pandas and polars read back to the same f64: the shortest
/// round-trip digits (Rust's `Display`), in scientific form where plain digits would be long
/// (|v| ≥ 1e16 or < 1e-5), e.g. `1e300` rather than 301 digits; `NaN`, `inf`, `-inf`.
pub fn fmt_float(v: f64) -> String {
    let a = v.abs();
    if v.is_finite() && a != 0.0 && !(1e-5..1e16).contains(&a) {
        format!("{v:e}")
    } else {
        v.to_string()
    }
}

/// The lock file inside a run (or experiment) directory.
pub const LOCK_FILE: &str = ".lock";

/// Exclusive ownership of a directory, held until dropped or the process dies.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
}

impl RunLock {
    /// Takes the lock on `dir/.lock` (creating the file), or says who holds it. The holder's
    /// pid is written into the file for that message.
    pub fn acquire(dir: &Path) -> Result<Self> {
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(&path).unwrap_or_default();
                let holder = holder.trim();
                bail!(
                    "{} is in use by another process{}: one writer per run directory (wait for it, or stop it, then resume)",
                    dir.display(),
                    if holder.is_empty() { String::new() } else { format!(" (pid {holder})") }
                );
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("locking {}", path.display()))
            }
        }
        file.set_len(0)?;
        write!(file, "{}", std::process::id())?;
        file.flush()?;
        Ok(Self { _file: file })
    }

    /// Whether some live process holds the lock of `dir` (without keeping it).
    pub fn is_held(dir: &Path) -> bool {
        let path = dir.join(LOCK_FILE);
        let Ok(file) = OpenOptions::new().read(true).write(true).open(&path) else {
            return false;
        };
        matches!(file.try_lock(), Err(std::fs::TryLockError::WouldBlock))
    }
}

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

impl Status {
    /// Name as in `run.json`.
    pub fn name(self) -> &'static str {
        match self {
            Status::Running => "running",
            Status::Completed => "completed",
            Status::Diverged => "diverged",
            Status::Interrupted => "interrupted",
        }
    }
}

/// `run.json` (read back by [`super::run_files::read_run_info`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunInfo {
    /// [`FORMAT_VERSION`] of the writer (absent, read as 1, in older runs).
    #[serde(default = "format_v1")]
    pub format_version: u32,
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
    /// Tasks, in head order, each with its kind and its metrics (name, direction), so readers
    /// need no knowledge of task kinds.
    pub tasks: Vec<crate::task::TaskInfo>,
    /// Wall-clock seconds spent training, summed over resumes.
    pub wall_seconds: f64,
    /// Device.
    pub device: String,
    /// Versions of mtlscope and its backend.
    pub versions: BTreeMap<String, String>,
    /// Where the last session's wall time went, in seconds: `data` (reading and decoding the
    /// dataset), `setup` (network, optimizer, probes' subsets, run directory), `steps`,
    /// `evaluation`, `probes`, `checkpoints` (absent in older runs).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub phases: BTreeMap<String, f64>,
}

fn format_v1() -> u32 {
    1
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
    /// The resolved config (TOML) the run was made with, so a resume can refuse a
    /// `config.toml` edited since (absent in checkpoints of older versions).
    #[serde(default)]
    pub config: Option<String>,
    /// FNV-1a 64-bit hash of `config`, in hex, for a quick look.
    #[serde(default)]
    pub config_hash: Option<String>,
    /// The tensors file in `checkpoints/` this metadata belongs to (named by step, so a
    /// death between writing the tensors and this file leaves the pair consistent). Set by
    /// [`RunDir::save_checkpoint`]; older checkpoints used `last.safetensors`.
    #[serde(default = "legacy_tensors")]
    pub tensors: String,
}

fn legacy_tensors() -> String {
    "last.safetensors".into()
}

/// FNV-1a (64 bit) of `bytes` in hex: a fingerprint, not a cryptographic hash.
pub fn fnv1a_hex(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
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
    /// `similarity.csv` (header only unless `probes.similarity_every > 0`).
    pub similarity: CsvLog,
    /// Ownership of the directory while this process writes it.
    _lock: RunLock,
}

/// Refuses to append to a CSV that another run format wrote (a format-1 `trajectory.csv` has
/// `loss,accuracy` columns): the resumed rows would not match its header.
fn check_resumable_header(p: &Path, header: &str) -> Result<()> {
    let mut first = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(
            File::open(p).with_context(|| format!("opening {}", p.display()))?,
        ),
        &mut first,
    )
    .with_context(|| format!("reading {}", p.display()))?;
    let first = first.trim_end();
    if !first.is_empty() && first != header {
        bail!(
            "{}: header `{first}` is not run format {FORMAT_VERSION}'s `{header}`: the run was \
             written by an older mtlscope (run format 1); it can be analysed but not resumed, \
             so re-run it in a new directory",
            p.display()
        );
    }
    Ok(())
}

/// Fails unless `path` is absent or a directory, naming it.
fn check_dir_path(path: &Path) -> Result<()> {
    if path.exists() && !path.is_dir() {
        bail!(
            "{} exists and is not a directory: --out must name a run directory",
            path.display()
        );
    }
    Ok(())
}

impl RunDir {
    /// Creates a fresh run directory (must be absent or empty) and takes ownership of it.
    pub fn create(path: &Path, config_toml: &str) -> Result<Self> {
        check_dir_path(path)?;
        std::fs::create_dir_all(path).with_context(|| format!("creating {}", path.display()))?;
        let lock = RunLock::acquire(path)?;
        let mut entries = std::fs::read_dir(path)
            .with_context(|| format!("listing {}", path.display()))?
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name() != LOCK_FILE);
        if entries.next().is_some() {
            bail!(
                "{} already exists and is not empty: pass --resume to continue it, or choose another --out",
                path.display()
            );
        }
        std::fs::create_dir_all(path.join("checkpoints"))
            .with_context(|| format!("creating {}", path.display()))?;
        write_atomic(&path.join("config.toml"), config_toml.as_bytes())?;
        Self::open(path, lock)
    }

    /// Reopens an existing run directory at its last checkpoint (`None`: a run that died
    /// before its first checkpoint, which restarts from step 0): the CSVs are cut back to the
    /// lengths the checkpoint recorded. `lock` is the ownership taken before the checkpoint
    /// was read.
    pub fn reopen(path: &Path, meta: Option<&CheckpointMeta>, lock: RunLock) -> Result<Self> {
        std::fs::create_dir_all(path.join("checkpoints"))
            .with_context(|| format!("creating {}", path.join("checkpoints").display()))?;
        for (name, header) in CSVS {
            let p = path.join(name);
            let len = meta
                .and_then(|m| m.csv_bytes.get(name).copied())
                .unwrap_or(0);
            if p.exists() {
                check_resumable_header(&p, header)?;
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
        Self::open(path, lock)
    }

    fn open(path: &Path, lock: RunLock) -> Result<Self> {
        let [(t, th), (p, ph), (s, sh), (g, gh)] = CSVS;
        Ok(Self {
            path: path.to_path_buf(),
            trajectory: CsvLog::open(path.join(t), th)?,
            probes: CsvLog::open(path.join(p), ph)?,
            steps: CsvLog::open(path.join(s), sh)?,
            similarity: CsvLog::open(path.join(g), gh)?,
            _lock: lock,
        })
    }

    /// Flushes every CSV; returns their lengths for a checkpoint.
    pub fn flush(&mut self) -> Result<BTreeMap<String, u64>> {
        let mut out = BTreeMap::new();
        out.insert(CSVS[0].0.to_string(), self.trajectory.flush()?);
        out.insert(CSVS[1].0.to_string(), self.probes.flush()?);
        out.insert(CSVS[2].0.to_string(), self.steps.flush()?);
        out.insert(CSVS[3].0.to_string(), self.similarity.flush()?);
        Ok(out)
    }

    /// Writes `run.json`.
    pub fn write_info(&self, info: &RunInfo) -> Result<()> {
        write_atomic(
            &self.path.join("run.json"),
            serde_json::to_string_pretty(info)?.as_bytes(),
        )
    }

    /// Writes the checkpoint: tensors to a file named by the step, then the metadata that
    /// points at them (atomically), then removes older tensor files. A death at any point
    /// leaves `last.json` naming a complete tensors file of its own step.
    pub fn save_checkpoint(
        &self,
        tensors: &[(String, Tensor)],
        meta: &CheckpointMeta,
    ) -> Result<()> {
        let dir = self.path.join("checkpoints");
        let name = format!("step-{:012}.safetensors", meta.step);
        let tmp = dir.join(format!("{name}.tmp"));
        Tensor::write_safetensors(tensors, &tmp)
            .with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, dir.join(&name))
            .with_context(|| format!("writing {}", dir.join(&name).display()))?;
        super::fault::hit("checkpoint", meta.step);
        let meta = CheckpointMeta {
            tensors: name.clone(),
            ..meta.clone()
        };
        write_atomic(
            &dir.join("last.json"),
            serde_json::to_string_pretty(&meta)?.as_bytes(),
        )?;
        for e in std::fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))? {
            let e = e?;
            let f = e.file_name();
            let f = f.to_string_lossy();
            if f.ends_with(".safetensors") && f != name {
                std::fs::remove_file(e.path())
                    .with_context(|| format!("removing {}", e.path().display()))?;
            }
        }
        Ok(())
    }

    /// The step of the last row of `trajectory.csv` as it is on disk now, if any.
    pub fn last_trajectory_step(&mut self) -> Result<Option<usize>> {
        self.trajectory.flush()?;
        let p = &self.trajectory.path;
        let text =
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
        Ok(text
            .lines()
            .skip(1)
            .last()
            .and_then(|l| l.split(',').nth(1))
            .and_then(|s| s.parse().ok()))
    }
}

/// A checkpoint's metadata and tensors.
pub type Checkpoint = (CheckpointMeta, HashMap<String, Tensor>);

/// Reads the last checkpoint of a run directory; `None` when the run never wrote one (it
/// died before its first evaluation finished).
pub fn read_checkpoint(path: &Path) -> Result<Option<Checkpoint>> {
    let dir = path.join("checkpoints");
    let mp = dir.join("last.json");
    if !mp.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&mp).with_context(|| format!("reading {}", mp.display()))?;
    let meta: CheckpointMeta =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", mp.display()))?;
    let tp = dir.join(&meta.tensors);
    let tensors =
        Tensor::read_safetensors(&tp).with_context(|| format!("reading {}", tp.display()))?;
    Ok(Some((meta, tensors.into_iter().collect())))
}

/// Writes a file via a temporary and a rename, so readers never see half of it.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_round_trip_and_stay_short() {
        for (v, text) in [
            (1e300, "1e300"),
            (-2.5e-7, "-2.5e-7"),
            (123456789012345680000.0, "1.2345678901234568e20"),
            (0.1, "0.1"),
            (2.75, "2.75"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1234.5, "1234.5"),
            (0.0, "0"),
            (1e15, "1000000000000000"),
        ] {
            assert_eq!(fmt_float(v), text);
            assert_eq!(fmt_float(v).parse::<f64>().unwrap(), v);
        }
        assert_eq!(fmt_float(f64::NAN), "NaN");
        assert_eq!(fmt_float(f64::INFINITY), "inf");
        assert_eq!(fmt_float(f64::NEG_INFINITY), "-inf");
    }

    #[test]
    fn a_held_lock_refuses_a_second_owner_and_frees_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let a = RunLock::acquire(dir.path()).unwrap();
        assert!(RunLock::is_held(dir.path()));
        let err = RunLock::acquire(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("in use") && err.contains(&std::process::id().to_string()),
            "{err}"
        );
        drop(a);
        assert!(!RunLock::is_held(dir.path()));
        RunLock::acquire(dir.path()).unwrap();
    }

    #[test]
    fn a_format_1_run_is_not_resumed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("trajectory.csv"),
            "epoch,step,task,split,loss,accuracy\n0,0,a,train,2.3,0.1\n",
        )
        .unwrap();
        let lock = RunLock::acquire(dir.path()).unwrap();
        let err = RunDir::reopen(dir.path(), None, lock).err().unwrap();
        let err = format!("{err:#}");
        assert!(
            err.contains("trajectory.csv") && err.contains("run format 1"),
            "{err}"
        );
    }

    #[test]
    fn fnv1a_matches_the_published_test_vectors() {
        // FNV-1a 64 of "" and "a" (Fowler, Noll, Vo; IETF draft-eastlake-fnv).
        assert_eq!(fnv1a_hex(b""), "cbf29ce484222325");
        assert_eq!(fnv1a_hex(b"a"), "af63dc4c8601ec8c");
    }
}
