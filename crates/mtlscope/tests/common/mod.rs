//! Helpers shared by the integration tests: small Fashion-MNIST-like IDX files and configs.
#![allow(dead_code)]

use mtlscope::config::RunConfig;
use mtlscope::data::idx::encode_idx;
use mtlscope::train::RunOptions;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// Writes a learnable 10-class dataset in the Fashion-MNIST file layout (gzip like the Debian
/// package): class c is a bright 6×6 square at a class-specific place on noise.
pub fn write_dataset(dir: &Path, n_train: usize, n_test: usize) {
    std::fs::create_dir_all(dir).unwrap();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut rnd = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for (prefix, n) in [("train", n_train), ("t10k", n_test)] {
        let mut px = Vec::with_capacity(n * 784);
        let mut labels = Vec::with_capacity(n);
        for i in 0..n {
            let c = (i * 7 + (rnd() % 3) as usize) % 10;
            labels.push(c as u8);
            let (r0, c0) = ((c / 5) * 12 + 4, (c % 5) * 5 + 1);
            for r in 0..28 {
                for col in 0..28 {
                    let on = (r0..r0 + 6).contains(&r) && (c0..c0 + 6).contains(&col);
                    let noise = (rnd() % 90) as u8;
                    px.push(if on { 160 + noise } else { noise });
                }
            }
        }
        write_gz(
            &dir.join(format!("{prefix}-images-idx3-ubyte.gz")),
            &encode_idx(&[n, 28, 28], &px),
        );
        write_gz(
            &dir.join(format!("{prefix}-labels-idx1-ubyte.gz")),
            &encode_idx(&[n], &labels),
        );
    }
}

fn write_gz(path: &Path, bytes: &[u8]) {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    std::fs::write(path, enc.finish().unwrap()).unwrap();
}

/// A quick run config over the dataset in `data`. Probes are off (tests/probes.rs turns
/// them on with `--set`) so the training tests stay fast.
pub fn quick_config(data: &Path, extra: &str) -> String {
    format!(
        "[data]\ntasks = [\"fashion1\", \"fashion2\"]\ndata_dir = {data:?}\n\n\
         [optim]\nname = \"adam\"\nlr = 0.003\n\n\
         [train]\nepochs = 3\nbatch_size = 16\nseed = 1\n\n\
         [probes]\nenabled = false\n\n{extra}"
    )
}

/// A temp dir holding a dataset (480 train / 80 test images) and a config file.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub data: PathBuf,
    pub config: PathBuf,
}

impl Fixture {
    pub fn new(extra: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        write_dataset(&data, 480, 80);
        let config = dir.path().join("run.toml");
        std::fs::write(&config, quick_config(&data, extra)).unwrap();
        Self { dir, data, config }
    }

    pub fn out(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// Runs the `mtlscope` binary.
pub fn mtlscope(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_mtlscope"))
        .args(args)
        .env(
            "MTLSCOPE_DATA",
            "/nonexistent-so-tests-never-read-real-data",
        )
        .output()
        .expect("running mtlscope")
}

/// `mtlscope experiment --config CONFIG --out OUT --jobs 2 ARGS...`, then `mtlscope report
/// OUT`, each asserted to succeed; returns the report's transfer table
/// (`OUT/report/tables/transfer.csv`). Two jobs of one libtorch thread each: OpenMP threads
/// spinning on a shared core cost several times their work.
#[allow(dead_code)]
pub fn experiment_and_report(config: &str, out: &Path, args: &[&str]) -> String {
    let out_s = out.to_str().unwrap();
    let mut all = vec![
        "experiment",
        "--config",
        config,
        "--out",
        out_s,
        "--jobs",
        "2",
    ];
    all.extend(args);
    mtlscope_ok(&all);
    mtlscope_ok(&["report", out_s]);
    let table = out.join("report").join("tables").join("transfer.csv");
    std::fs::read_to_string(&table).unwrap_or_else(|e| panic!("{}: {e}", table.display()))
}

/// Runs `mtlscope args`, asserts that it succeeded (printing its stderr if not), and returns
/// its stdout and stderr.
pub fn mtlscope_ok(args: &[&str]) -> (String, String) {
    let o = mtlscope(args);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(o.status.success(), "{args:?}: {err}");
    (String::from_utf8_lossy(&o.stdout).to_string(), err)
}

/// The run directory of the first seed of `variant` in experiment directory `exp`.
pub fn first_run(exp: &Path, variant: &str) -> PathBuf {
    std::fs::read_dir(exp.join("runs").join(variant))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
}

/// Options of a CPU run of the config at `cfg` with `overrides` into `out`, quiet, optionally
/// resuming or stopping after `stop_after` steps (as an interrupt would).
pub fn run_options(
    cfg: &Path,
    out: &Path,
    overrides: &[&str],
    resume: bool,
    stop_after: Option<usize>,
) -> RunOptions {
    let ov: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    RunOptions {
        config: RunConfig::load(cfg, &ov).unwrap(),
        out: out.to_path_buf(),
        resume,
        device: tch::Device::Cpu,
        progress_bar: false,
        verbose: false,
        interrupt: Arc::new(AtomicBool::new(false)),
        stop_after,
    }
}

/// The project venv's python (`scripts/setup.sh` creates it under `$MTLSCOPE_CACHE`, default
/// `~/.cache/mtlscope`; `make test` runs setup first); `who` (the test file) and `needs` (the
/// packages it imports) go into the message when it is missing.
#[allow(dead_code)]
pub fn venv_python(who: &str, needs: &str) -> std::path::PathBuf {
    use std::path::PathBuf;
    let cache = std::env::var_os("MTLSCOPE_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache/mtlscope")
        });
    let py = cache.join("venv/bin/python");
    assert!(
        py.exists(),
        "{who} needs the project's Python venv with {needs} at {} (created by `make setup`, \
         which `make test` runs first; set $MTLSCOPE_CACHE if it lives elsewhere)",
        py.display()
    );
    py
}

/// Runs `scripts/<script> DIR` with the project's venv (one libtorch thread) into a new
/// temporary directory and returns it; panics with the script's output if it fails. `who` and
/// `needs` are [`venv_python`]'s.
#[allow(dead_code)]
pub fn reference_outputs(script: &str, who: &str, needs: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scripts")
        .join(script);
    run_ok(
        std::process::Command::new(venv_python(who, needs))
            .arg(path)
            .arg(dir.path())
            .env("OMP_NUM_THREADS", "1"),
        script,
    );
    dir
}

/// Runs `cmd`; panics naming `what`, with its exit status, stdout and stderr, unless it
/// succeeds.
#[allow(dead_code)]
pub fn run_ok(cmd: &mut std::process::Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every tensor of a safetensors file, in file order; panics naming the file.
#[allow(dead_code)]
pub fn read_safetensors(file: &std::path::Path) -> Vec<(String, tch::Tensor)> {
    tch::Tensor::read_safetensors(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}
