//! MNISTS: three 10-way character/object tasks on 28×28 grey images from three sources, on
//! disjoint inputs: `mnist` (LeCun et al. 1998, handwritten digits), `fashion` (Fashion-MNIST,
//! Xiao et al. 2017) and `notmnist` (letters A–J in many fonts, Bulatov 2011). Mueller et al.
//! (2025, App. A) pair NotMNIST with Fashion-MNIST as the task between "more of the same data"
//! and "noise"; this family lets any of the three be trained alone or with the others.
//!
//! Files, under one folder (`data.data_dir`, else `$MTLSCOPE_DATA`):
//! - `mnist/` (or torchvision's `MNIST/raw/`): the four published IDX files, raw or `.gz`;
//! - Fashion-MNIST's four IDX files in `fashion-mnist/`, `FashionMNIST/raw/` or the folder
//!   itself, else the Debian package `dataset-fashion-mnist`;
//! - `notMNIST_large/` or `notMNIST_small/`, or their published `.tar.gz` ([`super::notmnist`]).
//!
//! Every task has FashionMTL's sizes (Mueller et al. §2.2): 25,000 training and 5,000 validation
//! images drawn from the published training file and 5,000 test images from the test file,
//! with `data.split_seed` (smaller copies in the same proportions, as FashionMTL's Fashion1;
//! NotMNIST, which has no official split, as [`super::notmnist::split`]). Pixels stay `u8` and
//! are normalised per batch with the mean and standard deviation of the task's own training
//! images, so a task's inputs are the same whichever tasks it is trained with.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use super::fashion_mtl::{read_pair, split_indices, Raw};
use super::locate::{has_files, user_root, DEBIAN_DIR};
use super::notmnist::{self, NotMnist};
use super::{Dataset, Inputs, TaskData};
use crate::config::DataConfig;
use crate::task::TaskInfo;

/// Task names.
pub const TASKS: [&str; 3] = ["mnist", "fashion", "notmnist"];

/// The MNISTS dataset family.
pub struct Mnists;

/// The folder the files are looked for in.
fn root(cfg: &DataConfig) -> Result<PathBuf> {
    match user_root(cfg.data_dir.as_deref()) {
        Some(d) => Ok(d),
        None => bail!(
            "data.data_dir: MNISTS needs a folder holding mnist/ (the MNIST IDX files) and \
             notMNIST_small/ or notMNIST_large/ (or their .tar.gz); pass --data-dir or set \
             $MTLSCOPE_DATA"
        ),
    }
}

/// The first of `candidates` holding the four IDX files, or an error naming them all.
fn idx_dir(what: &str, candidates: &[PathBuf]) -> Result<PathBuf> {
    if let Some(d) = candidates.iter().find(|d| has_files(d)) {
        return Ok(d.clone());
    }
    let looked: Vec<String> = candidates.iter().map(|d| d.display().to_string()).collect();
    bail!(
        "no {what} IDX files (train-images-idx3-ubyte, train-labels-idx1-ubyte, \
         t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, each optionally .gz) in {}",
        looked.join(" nor ")
    )
}

/// MNIST's folder under `root`.
pub fn mnist_dir(root: &Path) -> Result<PathBuf> {
    idx_dir(
        "MNIST",
        &[root.join("mnist"), root.join("MNIST").join("raw")],
    )
}

/// Fashion-MNIST's folder under `root`, else the Debian package's.
pub fn fashion_dir(root: &Path) -> Result<PathBuf> {
    idx_dir(
        "Fashion-MNIST",
        &[
            root.join("fashion-mnist"),
            root.join("FashionMNIST").join("raw"),
            root.to_path_buf(),
            PathBuf::from(DEBIAN_DIR),
        ],
    )
}

/// An IDX task: FashionMTL's first-task split of the published files (module docs).
fn idx_task(name: &str, dir: &Path, cfg: &DataConfig) -> Result<TaskData> {
    let train = read_pair(dir, "train-images-idx3-ubyte", "train-labels-idx1-ubyte")?;
    let test = read_pair(dir, "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")?;
    for (what, raw) in [("training", &train), ("test", &test)] {
        if raw.images.dims[1..] != [28, 28] {
            bail!(
                "{}: {what} images are {:?} pixels; the MNIST family's are 28x28",
                dir.display(),
                &raw.images.dims[1..]
            );
        }
    }
    let (n_train, n_test) = (train.labels.dims[0], test.labels.dims[0]);
    if n_train < 12 || n_test < 2 {
        bail!(
            "{}: too few examples to split ({n_train} train, {n_test} test)",
            dir.display()
        );
    }
    let s = split_indices(n_train, n_test, cfg.split_seed);
    let mut tr = s.train1;
    if let Some(l) = cfg.train_limit {
        tr.truncate(l);
    }
    let part =
        |raw: &Raw, rows: &[usize]| notmnist::gray_split(&raw.images.data, &raw.labels.data, rows);
    let train_split = part(&train, &tr);
    let inputs = Inputs::pixel_stats(&train_split.x);
    Ok(TaskData::new(
        name,
        notmnist::ten_classes(),
        train_split,
        part(&train, &s.val1),
        part(&test, &s.test1),
    )?
    .with_inputs(inputs))
}

impl Dataset for Mnists {
    fn name(&self) -> &'static str {
        "mnists"
    }

    fn about(&self) -> &'static str {
        "MNIST, Fashion-MNIST and NotMNIST as three 10-way tasks on disjoint 28x28 inputs (Mueller et al. 2025, App. A)"
    }

    fn layout(&self) -> &'static str {
        "DATA_DIR/mnist/ (or MNIST/raw/) with MNIST's four IDX files [.gz]; Fashion-MNIST's IDX files in DATA_DIR/fashion-mnist/, DATA_DIR/FashionMNIST/raw/, DATA_DIR or the Debian package; DATA_DIR/notMNIST_large/ or notMNIST_small/ (folders A-J of 28x28 PNGs) or their .tar.gz"
    }

    fn tasks(&self) -> Vec<TaskInfo> {
        let kind = notmnist::ten_classes().build().expect("a valid spec");
        TASKS
            .iter()
            .map(|n| TaskInfo::new(n, kind.as_ref()))
            .collect()
    }

    fn load(&self, cfg: &DataConfig) -> Result<Vec<TaskData>> {
        let root = root(cfg)?;
        let mut tasks = Vec::new();
        for name in &cfg.tasks {
            tasks.push(match name.as_str() {
                "mnist" => idx_task(name, &mnist_dir(&root)?, cfg)?,
                "fashion" => idx_task(name, &fashion_dir(&root)?, cfg)?,
                "notmnist" => notmnist::task(name, &NotMnist::load(&root)?, cfg)?,
                other => bail!(
                    "data.tasks: unknown mnists task `{other}`; known: {}",
                    TASKS.join(", ")
                ),
            });
        }
        Ok(tasks)
    }
}

/// Writes a miniature MNISTS folder in the published layouts (tests, demos): `mnist/` and
/// `fashion-mnist/` IDX files (`per_class` training and `per_class_test` test images per
/// class, gzip for MNIST as it is published), and a NotMNIST folder with `per_class` images
/// per letter and two unreadable files.
pub fn write_miniature(
    dir: &Path,
    per_class: usize,
    per_class_test: usize,
    seed: u64,
) -> Result<()> {
    use rand::{Rng, SeedableRng};
    use std::io::Write;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    for (sub, gz, offset) in [("mnist", true, 0usize), ("fashion-mnist", false, 3)] {
        let d = dir.join(sub);
        std::fs::create_dir_all(&d)?;
        for (prefix, per) in [("train", per_class), ("t10k", per_class_test)] {
            let n = 10 * per;
            let mut px = Vec::with_capacity(n * 784);
            let mut labels = Vec::with_capacity(n);
            for k in 0..n {
                let c = k % 10;
                labels.push(c as u8);
                for y in 0..28 {
                    for x in 0..28 {
                        let on = (x / 3 + offset) % 10 == c || y / 3 == c;
                        let base: u8 = if on { 160 } else { 0 };
                        px.push(base.saturating_add(rng.random_range(0..70u8)));
                    }
                }
            }
            for (file, bytes) in [
                (
                    format!("{prefix}-images-idx3-ubyte"),
                    super::idx::encode_idx(&[n, 28, 28], &px),
                ),
                (
                    format!("{prefix}-labels-idx1-ubyte"),
                    super::idx::encode_idx(&[n], &labels),
                ),
            ] {
                if gz {
                    let f = std::fs::File::create(d.join(format!("{file}.gz")))?;
                    let mut e = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
                    e.write_all(&bytes)?;
                    e.finish()?;
                } else {
                    std::fs::write(d.join(file), bytes)?;
                }
            }
        }
    }
    notmnist::write_miniature(dir, per_class, 2, false, seed ^ 0x5eed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(dir: &Path, tasks: &[&str]) -> DataConfig {
        DataConfig {
            dataset: "mnists".into(),
            tasks: tasks.iter().map(|t| t.to_string()).collect(),
            data_dir: Some(dir.to_path_buf()),
            ..DataConfig::default()
        }
    }

    #[test]
    fn miniature_loads_all_three_tasks() {
        let d = tempfile::tempdir().unwrap();
        write_miniature(d.path(), 12, 4, 0).unwrap();
        let t = Mnists
            .load(&cfg(d.path(), &["notmnist", "mnist", "fashion"]))
            .unwrap();
        let names: Vec<&str> = t.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["notmnist", "mnist", "fashion"]);
        // 120 training images: 5/12 train, 1/12 val; 40 test: half.
        assert_eq!(
            (t[1].train.len(), t[1].val.len(), t[1].test.len()),
            (50, 10, 20)
        );
        // NotMNIST: 120 readable of 122 files, 5/7, 1/7, 1/7.
        assert_eq!(
            (t[0].train.len(), t[0].val.len(), t[0].test.len()),
            (85, 17, 17)
        );
        for task in &t {
            assert_eq!(task.train.x.size()[1..], [1, 28, 28]);
            assert_eq!(task.train.x.kind(), tch::Kind::Uint8);
            let y = Vec::<i64>::try_from(&task.train.y).unwrap();
            assert!(y.iter().all(|&c| (0..10).contains(&c)));
        }
        assert!(!crate::data::shares_inputs(&t));
        let mut c = cfg(d.path(), &["mnist"]);
        c.train_limit = Some(7);
        assert_eq!(Mnists.load(&c).unwrap()[0].train.len(), 7);
    }

    #[test]
    fn missing_and_corrupt_files_are_named() {
        let d = tempfile::tempdir().unwrap();
        write_miniature(d.path(), 2, 1, 0).unwrap();
        let p = d.path().join("mnist").join("train-labels-idx1-ubyte.gz");
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() - 6]).unwrap();
        let e = format!("{:#}", Mnists.load(&cfg(d.path(), &["mnist"])).unwrap_err());
        assert!(e.contains("train-labels-idx1-ubyte.gz"), "{e}");
        std::fs::remove_dir_all(d.path().join("mnist")).unwrap();
        let e = format!("{:#}", Mnists.load(&cfg(d.path(), &["mnist"])).unwrap_err());
        assert!(
            e.contains("no MNIST IDX files") && e.contains("mnist"),
            "{e}"
        );
        std::fs::remove_dir_all(d.path().join("notMNIST_small")).unwrap();
        let e = format!(
            "{:#}",
            Mnists.load(&cfg(d.path(), &["notmnist"])).unwrap_err()
        );
        assert!(e.contains("no NotMNIST copy"), "{e}");
    }
}
