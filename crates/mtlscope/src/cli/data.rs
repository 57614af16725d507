//! `mtlscope data check NAME --dir DIR`: validates a user's copy of a dataset by loading every
//! task from it exactly as training would (file presence, record counts and sizes, label
//! ranges, the dataset's own consistency checks), then prints each task's split sizes and
//! input shape — or what is wrong, naming the file and record, and what a good copy looks like.

use anyhow::Result;
use std::path::PathBuf;
use std::process::ExitCode;

use mtlscope::config::DataConfig;
use mtlscope::data::dataset;

/// Arguments of `mtlscope data`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to do.
    #[command(subcommand)]
    pub action: Action,
}

/// `data` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Load every task of dataset NAME from DIR and report its splits, or what is wrong.
    Check {
        /// Dataset name (`mtlscope datasets` lists them).
        name: String,
        /// The folder `data.data_dir` would name.
        #[arg(long)]
        dir: PathBuf,
    },
}

/// Runs `mtlscope data`.
pub fn run(args: Args) -> Result<ExitCode> {
    let Action::Check { name, dir } = args.action;
    let d = dataset(&name)?;
    let cfg = DataConfig {
        dataset: name.clone(),
        tasks: d.tasks().into_iter().map(|t| t.name).collect(),
        data_dir: Some(dir.clone()),
        ..DataConfig::default()
    };
    match d.load(&cfg) {
        Ok(tasks) => {
            println!("{name} at {}: OK, {} tasks", dir.display(), tasks.len());
            for t in &tasks {
                println!(
                    "  {}: train {}, val {}, test {}; inputs {:?} ({:?})",
                    t.name,
                    t.train.len(),
                    t.val.len(),
                    t.test.len(),
                    &t.train.x.size()[1..],
                    t.train.x.kind()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("{name} at {}: not usable\n  problem: {e:#}", dir.display());
            eprintln!("  a good copy: {}", d.layout());
            Ok(ExitCode::from(1))
        }
    }
}
