//! Subcommands of the `mtlscope` binary: one file each, each with an `Args` (clap) and a
//! `run(args) -> Result<ExitCode>`.

pub mod aggregate;
pub mod bench;
pub mod data;
pub mod datasets;
pub mod encoders;
pub mod experiment;
pub mod export;
pub mod hypervolume;
pub mod methods;
pub mod mt2o;
pub mod report;
pub mod toy;
pub mod train;

use clap::{Parser, Subcommand};

/// mtlscope: train single- and multi-task models, trace their trajectories, analyse transfer.
#[derive(Debug, Parser)]
#[command(name = "mtlscope", version, about)]
pub struct Cli {
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train one STL or MTL model from a config file into a run directory.
    Train(train::Args),
    /// Expand an experiment config into runs and execute them as parallel `train` processes.
    Experiment(experiment::Args),
    /// Analyse an experiment directory into EXP_DIR/report/ (HTML, figures, tables).
    Report(report::Args),
    /// Time training steps (UMTG and per-task Jacobian) on LeNet/FashionMTL shapes.
    Bench(bench::Args),
    /// Aggregate a task Jacobian (JSON) with one method; prints the direction and weights.
    Aggregate(aggregate::Args),
    /// List the aggregation methods and their parameters.
    Methods(methods::Args),
    /// Exact hypervolume of a point set (minimisation) w.r.t. a reference point.
    Hypervolume(hypervolume::Args),
    /// Toy studies in pure f64: `cagrad` (optimizer/aggregator grid), `invariance` (loss scales),
    /// `mt2o` (Pareto-set learning with parameter transfer).
    Toy(toy::Args),
    /// MT2O on a run config's network: K preference-weighted models with parameter transfer,
    /// against K independent ones; hypervolume per epoch.
    Mt2o(mt2o::Args),
    /// Write what a run starts from (split, labels, initial weights, batches) for an
    /// independent implementation (scripts/pytorch_reference.py).
    Export(export::Args),
    /// List the datasets with their tasks (kind, metrics and directions) and expected files.
    Datasets(datasets::Args),
    /// List the encoders (`model.encoder`) with their output (vector or spatial) and keys.
    Encoders(encoders::Args),
    /// Dataset copies: `data check NAME --dir DIR` validates one.
    Data(data::Args),
}

impl Command {
    /// Runs the subcommand.
    pub fn run(self) -> anyhow::Result<std::process::ExitCode> {
        match self {
            Command::Train(a) => train::run(a),
            Command::Bench(a) => bench::run(a),
            Command::Aggregate(a) => aggregate::run(a),
            Command::Methods(a) => methods::run(a),
            Command::Hypervolume(a) => hypervolume::run(a),
            Command::Experiment(a) => experiment::run(a),
            Command::Report(a) => report::run(a),
            Command::Toy(a) => toy::run(a),
            Command::Mt2o(a) => mt2o::run(a),
            Command::Export(a) => export::run(a),
            Command::Datasets(a) => datasets::run(a),
            Command::Encoders(a) => encoders::run(a),
            Command::Data(a) => data::run(a),
        }
    }
}

/// The `--set` override that `--data-dir DIR` stands for.
pub fn data_dir_override(dir: &std::path::Path) -> String {
    format!(
        "data.data_dir={}",
        toml::Value::String(dir.display().to_string())
    )
}

/// `--set` overrides followed by `--data-dir`'s, if given (last, so it wins).
pub fn with_data_dir(overrides: &[String], data_dir: Option<&std::path::Path>) -> Vec<String> {
    let mut out = overrides.to_vec();
    out.extend(data_dir.map(data_dir_override));
    out
}

/// `--threads`: libtorch's intra-op threads, when given (at least 1).
pub fn set_threads(threads: Option<i32>) -> anyhow::Result<()> {
    if let Some(n) = threads {
        if n < 1 {
            anyhow::bail!("--threads must be >= 1, got {n}");
        }
        tch::set_num_threads(n);
    }
    Ok(())
}

/// `cpu`, `cuda` or `auto` (CUDA when available).
pub fn parse_device(s: &str) -> anyhow::Result<tch::Device> {
    Ok(match s {
        "cpu" => tch::Device::Cpu,
        "cuda" => {
            if !tch::Cuda::is_available() {
                anyhow::bail!("--device cuda: no CUDA device is available (libtorch sees none)");
            }
            tch::Device::Cuda(0)
        }
        "auto" => tch::Device::cuda_if_available(),
        other => anyhow::bail!("--device: expected cpu, cuda or auto, got `{other}`"),
    })
}
