//! `mtlscope mt2o`: MT2O (as reconstructed from the abstract and MGD) on a run config's real
//! network and data, against the same K models trained independently; the engine is
//! `mtlscope::train::mt2o`.

use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::process::ExitCode;

use mtlscope::train::mt2o::{self, Options};

const AFTER: &str = "\
The config is an ordinary run config (as `mtlscope train`) plus an [mt2o] table: divisions \
(Das-Dennis H; K = C(H+m-1, m-1)) or lambdas = [[..], ..], scalarization (linear | tchebycheff, \
ideal point 0), transfer (none | constant | decaying | neighbourhood) with alpha (w = alpha x \
optim.lr), rho (MGD's w = alpha lr rho+/(1+rho+)), gamma, neighbours, tau, transfer_params \
(all | shared), baseline (also train the K independent models), reference (hypervolume \
reference; default 1.1 x the largest initial test loss per task), fraction (0.99). Outputs in \
--out DIR: mt2o.csv (method,epoch,step,model,task,split,metric,value), lambdas.csv, \
hypervolume.csv (method,epoch,split,hv), summary.json (epochs to fraction x the best final \
test hypervolume), run.json, config.toml, checkpoints/mt2o.safetensors, figures/.";

/// Arguments of `mtlscope mt2o`.
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER)]
pub struct Args {
    /// Config (TOML): a run config plus [mt2o]. With --resume it may be omitted.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Output directory (new, or continued with --resume).
    #[arg(long)]
    pub out: PathBuf,
    /// Override a key, e.g. --set train.epochs=2 --set mt2o.transfer=none (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    /// The dataset's files (overrides data.data_dir).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Continue DIR from its checkpoint (the last finished epoch).
    #[arg(long)]
    pub resume: bool,
    /// cpu, cuda or auto.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// libtorch intra-op threads (default: libtorch's choice).
    #[arg(long)]
    pub threads: Option<i32>,
    /// No per-epoch log lines.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Runs `mtlscope mt2o`.
pub fn run(args: Args) -> Result<ExitCode> {
    super::set_threads(args.threads)?;
    let overrides = super::with_data_dir(&args.overrides, args.data_dir.as_deref());
    let saved = args.out.join("config.toml");
    let text = match (&args.config, args.resume) {
        (Some(p), _) => {
            std::fs::read_to_string(p).with_context(|| format!("reading config {}", p.display()))?
        }
        (None, true) => std::fs::read_to_string(&saved)
            .with_context(|| format!("--resume: reading {}", saved.display()))?,
        (None, false) => bail!("--config is required (unless --resume)"),
    };
    let (run, cfg, resolved) = mt2o::parse_config(&text, &overrides).with_context(|| {
        format!(
            "in config {}",
            args.config.as_ref().unwrap_or(&saved).display()
        )
    })?;
    if args.resume && saved.exists() {
        let then = std::fs::read_to_string(&saved)
            .with_context(|| format!("reading {}", saved.display()))?;
        if then != resolved {
            let keys = mtlscope::config::differing_keys(&then, &resolved);
            bail!(
                "--resume: the config differs from {} (keys: {}); resume with the run's own config",
                saved.display(),
                keys.join(", ")
            );
        }
    }
    let device = super::parse_device(&args.device)?;
    let summary = mt2o::run(&Options {
        run,
        mt2o: cfg,
        config_text: resolved,
        out: args.out.clone(),
        resume: args.resume,
        device,
        verbose: !args.quiet,
    })?;
    for m in &summary.methods {
        let per: Vec<String> = m.hv_per_epoch.iter().map(|h| format!("{h:.4}")).collect();
        println!(
            "{}: test hypervolume per epoch {}; reaches {:.4} ({} x best final) at epoch {}",
            m.method,
            per.join(" "),
            summary.target_hv,
            summary.fraction,
            m.epochs_to_target
                .map_or("never".to_string(), |e| e.to_string())
        );
    }
    eprintln!("{}: done", args.out.display());
    Ok(ExitCode::SUCCESS)
}
