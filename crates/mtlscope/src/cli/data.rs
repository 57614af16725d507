//! `mtlscope data check NAME --dir DIR`: validates a user's copy of a dataset by loading every
//! task from it exactly as training would (file presence, record counts and sizes, label
//! ranges, the dataset's own consistency checks), then prints each task's split sizes and
//! input shape — or what is wrong, naming the file and record, and what a good copy looks like.
//!
//! `mtlscope data prepare celeba --src DIR --out CACHE [--size 64]`: decodes a dataset whose
//! publisher ships compressed images (CelebA's JPEGs) once into the cache training reads.

use anyhow::Result;
use std::path::{Path, PathBuf};
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
        /// Text datasets (glue): the tokenizer `data.tokenizer` would name (a model folder or
        /// tokenizer.json).
        #[arg(long)]
        tokenizer: Option<PathBuf>,
    },
    /// Decode dataset NAME (celeba) from its published files into the cache training reads.
    Prepare {
        /// Dataset name: `celeba`.
        name: String,
        /// The publisher's files (CelebA: img_align_celeba/, list_attr_celeba.txt,
        /// list_eval_partition.txt).
        #[arg(long)]
        src: PathBuf,
        /// The cache file to write (a folder: celeba.mtlcache inside it).
        #[arg(long)]
        out: PathBuf,
        /// Image size, N or HxW (Elich et al.: 64).
        #[arg(long, default_value = "64")]
        size: String,
        /// Decoding threads (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
    },
    /// Write a miniature copy of dataset NAME in its publisher's layout (a few small synthetic
    /// samples, the tests' fixtures) to try configs and the pipeline without the real data.
    Miniature {
        /// Dataset name: `nyuv2`, `cityscapes` or `glue` (with a tiny random RoBERTa and its
        /// 50-id tokenizer in OUT/tiny-roberta/).
        name: String,
        /// The folder to write (it becomes `data.data_dir`).
        #[arg(long)]
        out: PathBuf,
        /// Seed of the synthetic samples.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

/// The model folder `data miniature glue` writes beside the GLUE files.
pub const TINY_ROBERTA: &str = "tiny-roberta";

/// Rows of every miniature GLUE file: 4 validation examples held out of 40 by default.
const GLUE_ROWS: usize = 40;

/// `mtlscope data miniature`: the tests' fixture writers, at the tests' sizes.
fn miniature(name: &str, out: &Path, seed: u64) -> Result<ExitCode> {
    if out.exists() && std::fs::read_dir(out)?.next().is_some() {
        anyhow::bail!(
            "{} exists and is not empty; name a new folder",
            out.display()
        );
    }
    match name {
        "nyuv2" => mtlscope::data::nyuv2::write_miniature(out, 12, 4, (32, 64), seed)?,
        // Cityscapes' writer draws nothing at random: the seed does not apply.
        "cityscapes" => mtlscope::data::cityscapes::write_miniature(out, 12, 4, (32, 64), false)?,
        // Text and labels draw nothing at random either; the tokenizer is a 50-id byte-level
        // BPE, so a test-sized model can embed its ids.
        "glue" => {
            mtlscope::data::glue::write_miniature(out, GLUE_ROWS)?;
            // A model folder as users bring one: tokenizer, config.json, model.safetensors.
            let model = out.join(TINY_ROBERTA);
            mtlscope::data::tokenize::write_tiny_tokenizer(&model)?;
            mtlscope::model::transformer::write_random_folder(
                &model,
                &mtlscope::model::transformer::TransformerConfig::tiny_roberta(),
                seed,
            )?;
            println!("{}", out.display());
            println!(
                "model folder (tiny random RoBERTa, 50-id tokenizer): {}; train with --set model.pretrained={:?}",
                model.display(),
                model.display().to_string()
            );
            return Ok(ExitCode::SUCCESS);
        }
        other => {
            anyhow::bail!("no miniature writer for `{other}`; known: nyuv2, cityscapes, glue")
        }
    }
    println!("{}", out.display());
    Ok(ExitCode::SUCCESS)
}

/// Runs `mtlscope data`.
pub fn run(args: Args) -> Result<ExitCode> {
    let (name, dir, tokenizer) = match args.action {
        Action::Check {
            name,
            dir,
            tokenizer,
        } => (name, dir, tokenizer),
        Action::Prepare {
            name,
            src,
            out,
            size,
            threads,
        } => return prepare(&name, &src, &out, &size, threads),
        Action::Miniature { name, out, seed } => return miniature(&name, &out, seed),
    };
    let d = dataset(&name)?;
    let cfg = DataConfig {
        dataset: name.clone(),
        tasks: d.tasks().into_iter().map(|t| t.name).collect(),
        data_dir: Some(dir.clone()),
        tokenizer,
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

fn prepare(
    name: &str,
    src: &std::path::Path,
    out: &std::path::Path,
    size: &str,
    threads: Option<usize>,
) -> Result<ExitCode> {
    use mtlscope::data::celeba;
    if name != "celeba" {
        anyhow::bail!(
            "data prepare: `{name}` needs no preparation (only celeba is decoded into a cache); \
             `mtlscope data check {name} --dir DIR` checks a copy"
        );
    }
    let size = celeba::parse_size(size)?;
    let threads =
        threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let t0 = std::time::Instant::now();
    let h = celeba::prepare(src, out, size, threads, true)?;
    let path = celeba::cache_path(out);
    println!(
        "celeba: {} images ({} train, {} val, {} test) at {}x{} in {:.1} s -> {} ({:.1} MB); \
         train with data.data_dir = {:?}",
        h.count,
        h.partition_counts[0],
        h.partition_counts[1],
        h.partition_counts[2],
        h.height,
        h.width,
        t0.elapsed().as_secs_f64(),
        path.display(),
        std::fs::metadata(&path).map_or(0, |m| m.len()) as f64 / 1e6,
        path.display().to_string()
    );
    Ok(ExitCode::SUCCESS)
}
