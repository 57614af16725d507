//! FashionMTL (Mueller et al. 2025, §2.2 and App. B.1): Fashion-MNIST split into two tasks of
//! the same distribution, plus NoisyFashion, random labels that can only be memorised.
//!
//! With the published 60,000 training and 10,000 test images, and a fixed `split_seed`:
//! - the training images are permuted; the first 25,000 are Fashion1, the next 25,000
//!   Fashion2, the remaining 10,000 give 5,000 validation examples to each task;
//! - the test images are permuted; 5,000 test examples each;
//! - NoisyFashion has Fashion2's images (train, val and test) with its labels permuted across
//!   examples (a seed derived from `split_seed`).
//!
//! - NotMNIST (the paper's "MTL: NotMNIST", App. A): letters A–J, read from `notMNIST_large/`,
//!   `notMNIST_small/` or their `.tar.gz` in `data.data_dir` (else `$MTLSCOPE_DATA`), split as
//!   [`super::notmnist::split`] (25,000 / 5,000 / 5,000 from the large copy) and normalised
//!   with its own training images' statistics.
//!
//! Smaller files (the tests' synthetic datasets) are split in the same proportions
//! (5/12 train per task, 1/12 val per task, half the test set each).
//! Pixels are scaled to [0, 1] and normalised with the mean and standard deviation of the
//! 50,000 training-split images, so STL and MTL runs see identical inputs.

use anyhow::{bail, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::{Kind, Tensor};

use super::idx::{read_idx, IdxArray};
use super::locate::{file_in, locate};
use super::{Dataset, Split, TaskData};
use crate::config::DataConfig;
use crate::task::multiclass::MulticlassSpec;
use crate::task::{TaskInfo, TaskSpec};

/// Task names of FashionMTL.
pub const TASKS: [&str; 4] = ["fashion1", "fashion2", "noisy_fashion", "notmnist"];

/// Fashion-MNIST has ten classes.
const CLASSES: i64 = 10;

/// The FashionMTL dataset family.
pub struct FashionMtl;

/// Index sets of the split, into the training file (`train_*`, `val_*`) or the test file.
#[derive(Debug, Clone, PartialEq)]
pub struct SplitIndices {
    /// Fashion1's training examples.
    pub train1: Vec<usize>,
    /// Fashion2's (and NoisyFashion's) training examples.
    pub train2: Vec<usize>,
    /// Fashion1's validation examples.
    pub val1: Vec<usize>,
    /// Fashion2's validation examples.
    pub val2: Vec<usize>,
    /// Fashion1's test examples (indices into the test file).
    pub test1: Vec<usize>,
    /// Fashion2's test examples.
    pub test2: Vec<usize>,
}

/// Seeds derived from `split_seed` for each random choice, so they never coincide.
fn sub_seed(split_seed: u64, what: u64) -> u64 {
    split_seed
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(what)
}

fn permutation(n: usize, seed: u64) -> Vec<usize> {
    let mut v: Vec<usize> = (0..n).collect();
    v.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    v
}

/// The FashionMTL split of `n_train` training and `n_test` test images.
pub fn split_indices(n_train: usize, n_test: usize, split_seed: u64) -> SplitIndices {
    let per_task = n_train * 5 / 12;
    let per_val = n_train / 12;
    let p = permutation(n_train, sub_seed(split_seed, 1));
    let t = permutation(n_test, sub_seed(split_seed, 2));
    let half = n_test / 2;
    SplitIndices {
        train1: p[..per_task].to_vec(),
        train2: p[per_task..2 * per_task].to_vec(),
        val1: p[2 * per_task..2 * per_task + per_val].to_vec(),
        val2: p[2 * per_task + per_val..2 * per_task + 2 * per_val].to_vec(),
        test1: t[..half].to_vec(),
        test2: t[half..2 * half].to_vec(),
    }
}

/// NoisyFashion's labels: `labels` permuted across examples with a seed from `split_seed`.
pub fn noisy_labels(labels: &[i64], split_seed: u64, which: u64) -> Vec<i64> {
    let perm = permutation(labels.len(), sub_seed(split_seed, 10 + which));
    perm.iter().map(|&i| labels[i]).collect()
}

/// An MNIST-family IDX pair: images `[N, rows, cols]` and their labels `[N]`.
pub struct Raw {
    /// The images.
    pub images: IdxArray,
    /// The labels, each checked to be < 10.
    pub labels: IdxArray,
}

/// Reads `dir`'s IDX pair `images`/`labels` (each optionally `.gz`), checking their shapes,
/// that they agree in length, and that every label is one of the ten classes.
pub fn read_pair(dir: &std::path::Path, images: &str, labels: &str) -> Result<Raw> {
    let ip = file_in(dir, images);
    let lp = file_in(dir, labels);
    let images = read_idx(&ip)?;
    let labels = read_idx(&lp)?;
    if images.dims.len() != 3 {
        bail!(
            "{}: expected 3 dimensions [N, rows, cols], header says {:?}",
            ip.display(),
            images.dims
        );
    }
    if labels.dims.len() != 1 {
        bail!(
            "{}: expected 1 dimension [N], header says {:?}",
            lp.display(),
            labels.dims
        );
    }
    if images.dims[0] != labels.dims[0] {
        bail!(
            "{} has {} images but {} has {} labels",
            ip.display(),
            images.dims[0],
            lp.display(),
            labels.dims[0]
        );
    }
    if let Some(bad) = labels.data.iter().find(|&&l| l as i64 >= CLASSES) {
        bail!("{}: label {bad} out of range 0..{CLASSES}", lp.display());
    }
    Ok(Raw { images, labels })
}

/// Mean and standard deviation of the pixels (scaled to [0, 1]) of the given images.
pub fn pixel_stats(images: &IdxArray, rows: &[usize]) -> (f64, f64) {
    let d = images.dims[1] * images.dims[2];
    let (mut s, mut s2, mut n) = (0.0f64, 0.0f64, 0usize);
    for &r in rows {
        for &b in &images.data[r * d..(r + 1) * d] {
            let v = b as f64 / 255.0;
            s += v;
            s2 += v * v;
        }
        n += d;
    }
    let mean = s / n as f64;
    let var = (s2 / n as f64 - mean * mean).max(1e-12);
    (mean, var.sqrt())
}

/// Normalised `[n, 1, rows, cols]` inputs of the selected images.
fn select(raw: &Raw, rows: &[usize], mean: f64, std: f64, labels: Option<Vec<i64>>) -> Split {
    let (h, w) = (raw.images.dims[1], raw.images.dims[2]);
    let d = h * w;
    let mut px = Vec::with_capacity(rows.len() * d);
    for &r in rows {
        px.extend_from_slice(&raw.images.data[r * d..(r + 1) * d]);
    }
    let x = Tensor::from_slice(&px)
        .view([rows.len() as i64, 1, h as i64, w as i64])
        .to_kind(Kind::Float)
        / 255.0;
    let x = (x - mean) / std;
    let y = labels.unwrap_or_else(|| rows.iter().map(|&r| raw.labels.data[r] as i64).collect());
    Split {
        x,
        y: Tensor::from_slice(&y),
    }
}

impl Dataset for FashionMtl {
    fn name(&self) -> &'static str {
        "fashion_mtl"
    }

    fn about(&self) -> &'static str {
        "Fashion-MNIST split into two same-distribution tasks plus NoisyFashion (random labels); Mueller et al. (2025), §2.2"
    }

    fn layout(&self) -> &'static str {
        "the four published Fashion-MNIST IDX files (train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte; each optionally .gz) in DATA_DIR, DATA_DIR/FashionMNIST/raw, DATA_DIR/fashion-mnist, $MTLSCOPE_DATA, or the Debian package dataset-fashion-mnist (/usr/share/datasets/fashion-mnist); task notmnist: DATA_DIR/notMNIST_large/ or notMNIST_small/ (folders A-J of 28x28 PNGs) or their .tar.gz"
    }

    fn tasks(&self) -> Vec<TaskInfo> {
        TASKS
            .iter()
            .map(|name| TaskInfo {
                name: name.to_string(),
                kind: "multiclass".into(),
                metrics: crate::task::multiclass::metrics(),
            })
            .collect()
    }

    fn load(&self, cfg: &DataConfig) -> Result<Vec<TaskData>> {
        let spec = || TaskSpec::Multiclass(MulticlassSpec::new(CLASSES));
        let dir = locate(cfg.data_dir.as_deref())?;
        let train = read_pair(&dir, "train-images-idx3-ubyte", "train-labels-idx1-ubyte")?;
        let test = read_pair(&dir, "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")?;
        if train.images.dims[1..] != test.images.dims[1..] {
            bail!(
                "{}: test images are {:?} pixels but the training images ({}) are {:?}",
                file_in(&dir, "t10k-images-idx3-ubyte").display(),
                &test.images.dims[1..],
                file_in(&dir, "train-images-idx3-ubyte").display(),
                &train.images.dims[1..]
            );
        }
        let (n_train, n_test) = (train.labels.dims[0], test.labels.dims[0]);
        if n_train < 12 || n_test < 2 {
            bail!(
                "{}: too few examples for the FashionMTL split ({n_train} train, {n_test} test)",
                dir.display()
            );
        }
        let s = split_indices(n_train, n_test, cfg.split_seed);
        let pool: Vec<usize> = s.train1.iter().chain(&s.train2).copied().collect();
        let (mean, std) = pixel_stats(&train.images, &pool);
        let limit = |v: &[usize]| v[..cfg.train_limit.unwrap_or(usize::MAX).min(v.len())].to_vec();
        let label_of = |raw: &Raw, rows: &[usize]| -> Vec<i64> {
            rows.iter().map(|&r| raw.labels.data[r] as i64).collect()
        };
        let mut tasks = Vec::new();
        for name in &cfg.tasks {
            let task = match name.as_str() {
                "fashion1" => TaskData::new(
                    name,
                    spec(),
                    select(&train, &limit(&s.train1), mean, std, None),
                    select(&train, &s.val1, mean, std, None),
                    select(&test, &s.test1, mean, std, None),
                )?,
                "fashion2" => TaskData::new(
                    name,
                    spec(),
                    select(&train, &limit(&s.train2), mean, std, None),
                    select(&train, &s.val2, mean, std, None),
                    select(&test, &s.test2, mean, std, None),
                )?,
                "noisy_fashion" => {
                    // Permute the full split's labels, then cap: the noise does not depend
                    // on train_limit.
                    let ytr = noisy_labels(&label_of(&train, &s.train2), cfg.split_seed, 0);
                    let tr = limit(&s.train2);
                    let ytr = ytr[..tr.len()].to_vec();
                    let yva = noisy_labels(&label_of(&train, &s.val2), cfg.split_seed, 1);
                    let yte = noisy_labels(&label_of(&test, &s.test2), cfg.split_seed, 2);
                    TaskData::new(
                        name,
                        spec(),
                        select(&train, &tr, mean, std, Some(ytr)),
                        select(&train, &s.val2, mean, std, Some(yva)),
                        select(&test, &s.test2, mean, std, Some(yte)),
                    )?
                }
                "notmnist" => {
                    let root = match super::locate::user_root(cfg.data_dir.as_deref()) {
                        Some(d) => d,
                        None => bail!(
                            "data.tasks: `notmnist` needs NotMNIST (notMNIST_small/ or \
                             notMNIST_large/, or their .tar.gz) in data.data_dir (or \
                             $MTLSCOPE_DATA), beside the Fashion-MNIST files or a fashion-mnist/ \
                             folder holding them"
                        ),
                    };
                    super::notmnist::task(name, &super::notmnist::NotMnist::load(&root)?, cfg)?
                }
                other => bail!(
                    "data.tasks: unknown FashionMTL task `{other}`; known: {}",
                    TASKS.join(", ")
                ),
            };
            tasks.push(task);
        }
        Ok(tasks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn paper_split_sizes_and_disjointness() {
        let s = split_indices(60_000, 10_000, 0);
        assert_eq!((s.train1.len(), s.train2.len()), (25_000, 25_000));
        assert_eq!((s.val1.len(), s.val2.len()), (5_000, 5_000));
        assert_eq!((s.test1.len(), s.test2.len()), (5_000, 5_000));
        let all: HashSet<usize> = s
            .train1
            .iter()
            .chain(&s.train2)
            .chain(&s.val1)
            .chain(&s.val2)
            .copied()
            .collect();
        assert_eq!(all.len(), 60_000, "train/val parts overlap");
        let test: HashSet<usize> = s.test1.iter().chain(&s.test2).copied().collect();
        assert_eq!(test.len(), 10_000);
    }

    #[test]
    fn split_depends_only_on_split_seed() {
        assert_eq!(split_indices(600, 100, 3), split_indices(600, 100, 3));
        assert_ne!(split_indices(600, 100, 3), split_indices(600, 100, 4));
    }

    #[test]
    fn noisy_labels_are_a_permutation_that_moves_labels() {
        let labels: Vec<i64> = (0..5000).map(|i| i % 10).collect();
        let noisy = noisy_labels(&labels, 0, 0);
        let mut a = labels.clone();
        let mut b = noisy.clone();
        a.sort();
        b.sort();
        assert_eq!(a, b, "same label multiset");
        let same = labels.iter().zip(&noisy).filter(|(x, y)| x == y).count();
        // Random relabelling keeps about 1/10 of the labels.
        assert!(same < 700, "{same} of 5000 labels unchanged");
    }
}
