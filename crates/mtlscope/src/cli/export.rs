//! `mtlscope export`: everything a run starts from, in files any framework can read, so an
//! independent implementation (`scripts/pytorch_reference.py`) can train the same run step for
//! step and be compared with `mtlscope train` (docs/equivalence.md).
//!
//! `OUT/` holds:
//! - `manifest.json`: the resolved config, the data folder and source files, the task list with
//!   split sizes, the input normalisation, steps per epoch, the evaluation steps, the parameter
//!   list (PyTorch name, shape) and the file names below;
//! - `config.toml`: the resolved config (as `mtlscope train` writes it);
//! - `data.safetensors`: per task and split, `<task>.<split>.index` (I64, rows of the source IDX
//!   file: `train`/`val` index the training file, `test` the t10k file) and `<task>.<split>.label`
//!   (I64, the labels training and evaluation use: NoisyFashion's are permuted), plus
//!   `normalization.pool` (rows of the training file whose pixel mean/std normalise the inputs);
//! - `batches.safetensors`: `<task>` (I64 `[steps, batch]`), the rows of the task's training
//!   split (positions in `<task>.train.index`) of each step's batch, from the trainer's own
//!   [`Sampler`]; all steps of the run unless `--steps N` keeps the first N;
//! - `init.safetensors`: the initial parameters (F32). Names are PyTorch `state_dict` names of a
//!   module with attributes `encoder` (LeNet: `conv1`, `conv2`, `fc1`, `fc2`; MLP: `fc1`…`fcL`)
//!   and `head` (a `ModuleDict` of `nn.Linear` keyed by task), e.g. `encoder.conv1.weight`
//!   `[6, 1, 5, 5]`, `head.fashion1.bias` `[10]`: the same strings as mtlscope's VarStore
//!   names, so the mapping is the identity (weights `[out, in(, kh, kw)]` as in PyTorch).
//!
//! The indices are recomputed from the public split functions and checked against what the
//! trainer's loader actually produces (labels equal, inputs equal to the normalised pixels of
//! the exported rows), so a drift between this file and the loader is an error, not a silent
//! wrong export.

use anyhow::{bail, Context, Result};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tch::{Device, Kind, Tensor};

use mtlscope::config::RunConfig;
use mtlscope::data::fashion_mtl::{noisy_labels, pixel_stats, split_indices};
use mtlscope::data::idx::{read_idx, IdxArray};
use mtlscope::data::locate::{file_in, locate};
use mtlscope::data::{load_tasks, TaskData};
use mtlscope::model::MultiTaskNet;
use mtlscope::train::eval::SPLITS;
use mtlscope::train::sampler::Sampler;

/// Format tag of the manifest; bump when a file's meaning changes.
pub const FORMAT: &str = "mtlscope-export/1";

/// Arguments of `mtlscope export`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Run config (TOML), as given to `mtlscope train`.
    #[arg(long)]
    pub config: PathBuf,
    /// Folder to write (created; must be empty or absent).
    #[arg(long)]
    pub out: PathBuf,
    /// Override a config key, as for `train` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    /// Export the batches of the first N steps only (default: every step of the run).
    #[arg(long)]
    pub steps: Option<usize>,
    /// The dataset's files (overrides data.data_dir; `mtlscope datasets` shows each layout).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

/// Runs `mtlscope export`.
pub fn run(args: Args) -> Result<ExitCode> {
    let overrides = super::with_data_dir(&args.overrides, args.data_dir.as_deref());
    let cfg = RunConfig::load(&args.config, &overrides)?;
    let summary = export(&cfg, &args.out, args.steps)?;
    eprintln!("{}: {summary}", args.out.display());
    Ok(ExitCode::SUCCESS)
}

/// One task's exported rows and labels for one split.
struct SplitRows {
    index: Vec<usize>,
    labels: Vec<i64>,
}

/// Writes the export of `cfg` into `out`; returns a one-line summary.
pub fn export(cfg: &RunConfig, out: &Path, steps: Option<usize>) -> Result<String> {
    if cfg.data.dataset != "fashion_mtl" {
        bail!(
            "export: data.dataset `{}` is not supported (fashion_mtl only)",
            cfg.data.dataset
        );
    }
    if out.exists()
        && std::fs::read_dir(out)
            .with_context(|| format!("reading {}", out.display()))?
            .next()
            .is_some()
    {
        bail!("{} exists and is not empty", out.display());
    }
    let dir = locate(cfg.data.data_dir.as_deref())?;
    let sources = [
        ("train_images", "train-images-idx3-ubyte"),
        ("train_labels", "train-labels-idx1-ubyte"),
        ("test_images", "t10k-images-idx3-ubyte"),
        ("test_labels", "t10k-labels-idx1-ubyte"),
    ];
    let files: Vec<PathBuf> = sources.iter().map(|(_, f)| file_in(&dir, f)).collect();
    let read = |p: &PathBuf| read_idx(p).with_context(|| format!("reading {}", p.display()));
    let (train_images, train_labels) = (read(&files[0])?, read(&files[1])?);
    let (test_images, test_labels) = (read(&files[2])?, read(&files[3])?);
    let (n_train, n_test) = (train_labels.dims[0], test_labels.dims[0]);

    // The trainer's own loader: the ground truth the export is checked against.
    let tasks = load_tasks(&cfg.data)?;
    let split = split_indices(n_train, n_test, cfg.data.split_seed);
    let pool: Vec<usize> = split.train1.iter().chain(&split.train2).copied().collect();
    let (mean, std) = pixel_stats(&train_images, &pool);
    let limit = cfg.data.train_limit.unwrap_or(usize::MAX);
    let label_of = |file: &IdxArray, rows: &[usize]| -> Vec<i64> {
        rows.iter().map(|&r| file.data[r] as i64).collect()
    };

    let mut rows: Vec<[SplitRows; 3]> = Vec::new();
    for task in &tasks {
        let (tr, va, te) = match task.name.as_str() {
            "fashion1" => (&split.train1, &split.val1, &split.test1),
            _ => (&split.train2, &split.val2, &split.test2),
        };
        let tr = &tr[..limit.min(tr.len())];
        let mut r = [
            SplitRows {
                index: tr.to_vec(),
                labels: label_of(&train_labels, tr),
            },
            SplitRows {
                index: va.clone(),
                labels: label_of(&train_labels, va),
            },
            SplitRows {
                index: te.clone(),
                labels: label_of(&test_labels, te),
            },
        ];
        if task.name == "noisy_fashion" {
            // The loader permutes the full split's labels and then caps the training set.
            let seed = cfg.data.split_seed;
            let full = noisy_labels(&label_of(&train_labels, &split.train2), seed, 0);
            r[0].labels = full[..tr.len()].to_vec();
            r[1].labels = noisy_labels(&r[1].labels, seed, 1);
            r[2].labels = noisy_labels(&r[2].labels, seed, 2);
        }
        check_task(task, &r, &train_images, &test_images, mean, std)?;
        rows.push(r);
    }

    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let mut data: Vec<(String, Tensor)> = vec![("normalization.pool".into(), i64s(&pool))];
    for (task, r) in tasks.iter().zip(&rows) {
        for (s, split_name) in SPLITS.iter().enumerate() {
            data.push((
                format!("{}.{split_name}.index", task.name),
                i64s(&r[s].index),
            ));
            data.push((
                format!("{}.{split_name}.label", task.name),
                Tensor::from_slice(&r[s].labels),
            ));
        }
    }
    write_st(&data, &out.join("data.safetensors"))?;

    // Batches from the trainer's sampler, as the trainer builds it.
    let mut samplers: Vec<Sampler> = tasks
        .iter()
        .enumerate()
        .map(|(k, t)| Sampler::new(cfg.train.seed, k, t.train.len(), cfg.train.batch_size))
        .collect();
    let steps_per_epoch = samplers[0].batches_per_pass();
    let total = steps_per_epoch * cfg.train.epochs;
    let n_steps = steps.unwrap_or(total);
    if n_steps > total {
        bail!("--steps {n_steps}: the run has only {total} steps");
    }
    let mut batch_sizes = Vec::new();
    let mut batches: Vec<(String, Tensor)> = Vec::new();
    for (task, s) in tasks.iter().zip(samplers.iter_mut()) {
        let b = cfg.train.batch_size.min(task.train.len()).max(1);
        let mut flat: Vec<i64> = Vec::with_capacity(n_steps * b);
        for step in 0..n_steps {
            flat.extend_from_slice(s.batch(step));
        }
        batch_sizes.push(b);
        batches.push((
            task.name.clone(),
            Tensor::from_slice(&flat).view([n_steps as i64, b as i64]),
        ));
    }
    write_st(&batches, &out.join("batches.safetensors"))?;

    // Initial weights, seeded as the trainer seeds them.
    let shape = tasks[0].train.x.size();
    let input = [shape[1], shape[2], shape[3]];
    // The PyTorch reference builds linear classifiers: multiclass tasks only.
    let classes: Vec<i64> = tasks
        .iter()
        .map(|t| match &t.spec {
            mtlscope::task::TaskSpec::Multiclass(m) => Ok(m.classes),
            other => Err(anyhow::anyhow!(
                "export: task `{}` is {}; the PyTorch reference takes multiclass tasks",
                t.name,
                other.kind_name()
            )),
        })
        .collect::<Result<_>>()?;
    let heads = mtlscope::data::heads(&tasks);
    let net = MultiTaskNet::seeded(cfg.train.seed, &cfg.model, &heads, input, Device::Cpu)?;
    let params = net.named_params();
    write_st(&params, &out.join("init.safetensors"))?;

    let eval_every = if cfg.train.eval_every == 0 {
        steps_per_epoch
    } else {
        cfg.train.eval_every
    };
    let eval_steps: Vec<usize> = (0..=total)
        .filter(|s| s.is_multiple_of(eval_every) || *s == total)
        .collect();
    std::fs::write(out.join("config.toml"), cfg.to_toml())
        .with_context(|| format!("writing {}", out.join("config.toml").display()))?;
    let manifest = json!({
        "format": FORMAT,
        "mtlscope_version": env!("CARGO_PKG_VERSION"),
        "config": serde_json::to_value(cfg.clone()).context("config as JSON")?,
        "data_dir": dir.display().to_string(),
        "source_files": sources.iter().zip(&files)
            .map(|((k, _), p)| (k.to_string(), json!(p.display().to_string())))
            .collect::<serde_json::Map<_, _>>(),
        "split_source": {"train": "train", "val": "train", "test": "test"},
        "input_shape": input,
        "normalization": {
            "mean": mean,
            "std": std,
            "pool": "normalization.pool",
            "definition": "x = (float32(pixel) / 255 - mean) / std, mean and std over every pixel \
                           (scaled to [0, 1]) of the training-file rows in the pool, in f64",
        },
        "tasks": tasks.iter().zip(&batch_sizes).zip(&classes).map(|((t, b), c)| json!({
            "name": t.name,
            "classes": c,
            "train": t.train.len(),
            "val": t.val.len(),
            "test": t.test.len(),
            "batch_size": b,
        })).collect::<Vec<_>>(),
        "steps_per_epoch": steps_per_epoch,
        "total_steps": total,
        "exported_steps": n_steps,
        "eval_steps": eval_steps,
        "eval_batch_size": cfg.train.eval_batch_size,
        "parameters": params.iter().map(|(n, t)| json!({"name": n, "shape": t.size()}))
            .collect::<Vec<_>>(),
        "files": {
            "data": "data.safetensors",
            "batches": "batches.safetensors",
            "init": "init.safetensors",
            "config": "config.toml",
        },
    });
    let text = serde_json::to_string_pretty(&manifest)? + "\n";
    std::fs::write(out.join("manifest.json"), text)
        .with_context(|| format!("writing {}", out.join("manifest.json").display()))?;
    Ok(format!(
        "exported {} task(s), {n_steps} of {total} steps, {} parameters",
        tasks.len(),
        params.len()
    ))
}

fn i64s(v: &[usize]) -> Tensor {
    Tensor::from_slice(&v.iter().map(|&i| i as i64).collect::<Vec<_>>())
}

fn write_st(tensors: &[(String, Tensor)], path: &Path) -> Result<()> {
    Tensor::write_safetensors(tensors, path).with_context(|| format!("writing {}", path.display()))
}

/// The exported rows reproduce the loader's tensors: same labels, and inputs equal to the
/// normalised pixels of the exported rows.
fn check_task(
    task: &TaskData,
    rows: &[SplitRows; 3],
    train_images: &IdxArray,
    test_images: &IdxArray,
    mean: f64,
    std: f64,
) -> Result<()> {
    for (s, name) in SPLITS.iter().enumerate() {
        let split = task.split(name);
        let images = if *name == "test" {
            test_images
        } else {
            train_images
        };
        let y = Vec::<i64>::try_from(&split.y)?;
        if y != rows[s].labels || rows[s].index.len() != split.len() {
            bail!(
                "export: {}.{name}: recomputed rows disagree with the loader (labels or size); \
                 data/fashion_mtl.rs and cli/export.rs have drifted apart",
                task.name
            );
        }
        let d = images.dims[1] * images.dims[2];
        let mut px = Vec::with_capacity(rows[s].index.len() * d);
        for &r in &rows[s].index {
            px.extend_from_slice(&images.data[r * d..(r + 1) * d]);
        }
        let x = (Tensor::from_slice(&px).to_kind(Kind::Float) / 255.0 - mean) / std;
        let diff = (x.view([-1]) - split.x.view([-1]))
            .abs()
            .max()
            .double_value(&[]);
        if diff > 1e-5 {
            bail!(
                "export: {}.{name}: inputs of the recomputed rows differ from the loader's by {diff}; \
                 data/fashion_mtl.rs and cli/export.rs have drifted apart",
                task.name
            );
        }
    }
    Ok(())
}
