//! CIFAR-100 as 20 tasks (Mueller et al. 2025, App. A; Rosenbaum et al. 2018): one task per
//! superclass, each a 5-way classification over the superclass's fine classes, on disjoint
//! inputs (every image belongs to exactly one superclass).
//!
//! Files: the publisher's binary release `cifar-100-binary` (Krizhevsky 2009), extracted:
//! `train.bin` (50,000 records) and `test.bin` (10,000), each record 1 byte coarse label,
//! 1 byte fine label, then 3,072 bytes of pixels (the red, green and blue 32×32 planes, rows in
//! order); `coarse_label_names.txt`, when present, is checked against the task names.
//! `data.data_dir` names the folder holding them (or its parent holding `cifar-100-binary/`).
//!
//! Splits: a task's test set is its superclass's records of the official `test.bin` (500); its
//! validation set, `data.val_size` (default 500) of its training records drawn with
//! `data.split_seed` (at most half of a superclass's records, for miniature copies), and the
//! rest (2,000) its training set. The paper's App. A sizes ("5,000
//! training samples … 500 validation and test samples") cannot be met by CIFAR-100 (600 images
//! per fine class in all), so the official test set is kept and validation is held out of train.
//!
//! A fine class's index within its task is its rank among the superclass's fine labels (the
//! release numbers fine classes alphabetically), read from `train.bin`, which must hold every
//! superclass with exactly 5 fine classes, each under one superclass only. Pixels stay `u8` and
//! are normalised per batch with the per-channel mean and std of all training-split images
//! (every superclass, validation excluded), so STL and MTL runs see identical inputs.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::Tensor;

use super::{Dataset, Inputs, Split, TaskData};
use crate::config::DataConfig;
use crate::task::multiclass::MulticlassSpec;
use crate::task::{TaskInfo, TaskSpec};

/// The superclasses in label order, as `coarse_label_names.txt` lists them: the task names.
pub const SUPERCLASSES: [&str; 20] = [
    "aquatic_mammals",
    "fish",
    "flowers",
    "food_containers",
    "fruit_and_vegetables",
    "household_electrical_devices",
    "household_furniture",
    "insects",
    "large_carnivores",
    "large_man-made_outdoor_things",
    "large_natural_outdoor_scenes",
    "large_omnivores_and_herbivores",
    "medium_mammals",
    "non-insect_invertebrates",
    "people",
    "reptiles",
    "small_mammals",
    "trees",
    "vehicles_1",
    "vehicles_2",
];

/// Fine classes per superclass.
const PER_TASK: usize = 5;
/// Bytes of one record: two labels and a 3×32×32 image.
pub const RECORD: usize = 2 + 3 * 32 * 32;
/// Default validation examples per task.
pub const VAL_SIZE: usize = 500;

/// The CIFAR-100 dataset family.
pub struct Cifar100;

/// The records of one file.
#[derive(Debug)]
pub struct Records {
    /// Coarse (superclass) labels.
    pub coarse: Vec<u8>,
    /// Fine labels.
    pub fine: Vec<u8>,
    /// Pixels, `RECORD - 2` bytes per record.
    pub pixels: Vec<u8>,
}

impl Records {
    /// Parses a whole file's bytes; `path` names it in errors.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Self> {
        if bytes.is_empty() {
            bail!(
                "{}: empty file (a CIFAR-100 binary file holds 3,074-byte records)",
                path.display()
            );
        }
        if !bytes.len().is_multiple_of(RECORD) {
            bail!(
                "{}: {} bytes is not a whole number of {RECORD}-byte records: record {} is \
                 truncated ({} of {RECORD} bytes)",
                path.display(),
                bytes.len(),
                bytes.len() / RECORD,
                bytes.len() % RECORD
            );
        }
        let n = bytes.len() / RECORD;
        let (mut coarse, mut fine) = (Vec::with_capacity(n), Vec::with_capacity(n));
        let mut pixels = Vec::with_capacity(n * (RECORD - 2));
        for (i, r) in bytes.chunks_exact(RECORD).enumerate() {
            if r[0] as usize >= SUPERCLASSES.len() || r[1] >= 100 {
                bail!(
                    "{}: record {i} has coarse label {} and fine label {} (CIFAR-100: coarse \
                     0–19, fine 0–99)",
                    path.display(),
                    r[0],
                    r[1]
                );
            }
            coarse.push(r[0]);
            fine.push(r[1]);
            pixels.extend_from_slice(&r[2..]);
        }
        Ok(Self {
            coarse,
            fine,
            pixels,
        })
    }

    /// Reads and parses `path`.
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        Self::parse(path, &bytes)
    }

    fn len(&self) -> usize {
        self.coarse.len()
    }

    /// `u8` images `[n, 3, 32, 32]` of the records `rows`.
    fn images(&self, rows: &[usize]) -> Tensor {
        let px = RECORD - 2;
        let mut out = Vec::with_capacity(rows.len() * px);
        for &r in rows {
            out.extend_from_slice(&self.pixels[r * px..(r + 1) * px]);
        }
        Tensor::from_slice(&out).view([rows.len() as i64, 3, 32, 32])
    }
}

/// The folder holding `train.bin`: `dir` itself or `dir/cifar-100-binary`.
pub fn locate(dir: Option<&Path>) -> Result<PathBuf> {
    let Some(dir) = dir else {
        bail!(
            "data.data_dir: CIFAR-100 is not installed system-wide; point data.data_dir (or \
             --data-dir) at the extracted cifar-100-binary folder (train.bin, test.bin)"
        );
    };
    for d in [dir.to_path_buf(), dir.join("cifar-100-binary")] {
        if d.join("train.bin").is_file() {
            return Ok(d);
        }
    }
    bail!(
        "{}: no train.bin here or in cifar-100-binary/ (expected the extracted \
         cifar-100-binary.tar.gz: train.bin, test.bin, coarse_label_names.txt)",
        dir.display()
    )
}

/// Per superclass, its fine labels in ascending order, from `train`; checks that every
/// superclass has exactly 5 and that no fine label is under two superclasses.
pub fn fine_classes(path: &Path, train: &Records) -> Result<Vec<Vec<u8>>> {
    let mut owner: [Option<u8>; 100] = [None; 100];
    for (i, (&c, &f)) in train.coarse.iter().zip(&train.fine).enumerate() {
        match owner[f as usize] {
            Some(o) if o != c => bail!(
                "{}: record {i} puts fine class {f} under superclass {c}, earlier records under {o}",
                path.display()
            ),
            _ => owner[f as usize] = Some(c),
        }
    }
    let mut per: Vec<Vec<u8>> = vec![Vec::new(); SUPERCLASSES.len()];
    for (f, o) in owner.iter().enumerate() {
        if let Some(c) = o {
            per[*c as usize].push(f as u8);
        }
    }
    for (c, fs) in per.iter().enumerate() {
        if fs.len() != PER_TASK {
            bail!(
                "{}: superclass {c} ({}) has {} fine classes ({fs:?}); CIFAR-100 has {PER_TASK} \
                 per superclass",
                path.display(),
                SUPERCLASSES[c],
                fs.len()
            );
        }
    }
    Ok(per)
}

/// Checks `coarse_label_names.txt`, when present, against [`SUPERCLASSES`].
fn check_names(dir: &Path) -> Result<()> {
    let p = dir.join("coarse_label_names.txt");
    if !p.is_file() {
        return Ok(());
    }
    let text = std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
    let names: Vec<&str> = text.split_whitespace().collect();
    if names != SUPERCLASSES {
        bail!(
            "{}: superclass names {names:?} differ from CIFAR-100's {SUPERCLASSES:?}",
            p.display()
        );
    }
    Ok(())
}

/// Record indices of superclass `c` in `r`.
fn rows_of(r: &Records, c: usize) -> Vec<usize> {
    (0..r.len())
        .filter(|&i| r.coarse[i] as usize == c)
        .collect()
}

/// (train, val) rows of superclass `c`: `val_size` held out by a permutation seeded by
/// (`split_seed`, c).
fn split_train(
    r: &Records,
    c: usize,
    val_size: usize,
    split_seed: u64,
) -> (Vec<usize>, Vec<usize>) {
    let mut rows = rows_of(r, c);
    rows.shuffle(&mut ChaCha8Rng::seed_from_u64(
        split_seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (0xc1fa << 8) ^ c as u64,
    ));
    let v = val_size.min(rows.len() / 2);
    let train = rows.split_off(v);
    (train, rows)
}

impl Dataset for Cifar100 {
    fn name(&self) -> &'static str {
        "cifar100"
    }

    fn about(&self) -> &'static str {
        "CIFAR-100 as 20 superclass tasks, each 5-way over its fine classes, disjoint inputs (Mueller et al. 2025, App. A)"
    }

    fn layout(&self) -> &'static str {
        "data.data_dir = the extracted cifar-100-binary folder: train.bin, test.bin (records of coarse label, fine label, 3072 pixel bytes), coarse_label_names.txt"
    }

    fn tasks(&self) -> Vec<TaskInfo> {
        let kind = spec().build().expect("a valid spec");
        SUPERCLASSES
            .iter()
            .map(|n| TaskInfo::new(n, kind.as_ref()))
            .collect()
    }

    fn takes_val_size(&self) -> bool {
        true
    }

    fn load(&self, cfg: &DataConfig) -> Result<Vec<TaskData>> {
        let dir = locate(cfg.data_dir.as_deref())?;
        check_names(&dir)?;
        let (train_path, test_path) = (dir.join("train.bin"), dir.join("test.bin"));
        let train = Records::read(&train_path)?;
        if !test_path.is_file() {
            bail!("{}: missing (the official test set)", test_path.display());
        }
        let test = Records::read(&test_path)?;
        let fine = fine_classes(&train_path, &train)?;
        for (i, (&c, &f)) in test.coarse.iter().zip(&test.fine).enumerate() {
            if !fine[c as usize].contains(&f) {
                bail!(
                    "{}: record {i} has fine class {f} under superclass {c}, which train.bin \
                     does not",
                    test_path.display()
                );
            }
        }
        let val_size = cfg.val_size.unwrap_or(VAL_SIZE);
        let splits: Vec<(Vec<usize>, Vec<usize>)> = (0..SUPERCLASSES.len())
            .map(|c| split_train(&train, c, val_size, cfg.split_seed))
            .collect();
        // Normalisation statistics of every training-split image, whichever tasks are loaded.
        let pool: Vec<usize> = splits.iter().flat_map(|(t, _)| t.iter().copied()).collect();
        let inputs = Inputs::pixel_stats(&train.images(&pool));
        let mut tasks = Vec::new();
        for name in &cfg.tasks {
            let Some(c) = SUPERCLASSES.iter().position(|s| s == name) else {
                bail!("data.tasks: unknown cifar100 task `{name}`");
            };
            let (mut tr, va) = splits[c].clone();
            if let Some(l) = cfg.train_limit {
                tr.truncate(l);
            }
            let te = rows_of(&test, c);
            let split = |r: &Records, rows: &[usize]| Split {
                x: r.images(rows),
                y: Tensor::from_slice(
                    &rows
                        .iter()
                        .map(|&i| {
                            fine[c]
                                .iter()
                                .position(|&f| f == r.fine[i])
                                .expect("checked") as i64
                        })
                        .collect::<Vec<i64>>(),
                ),
            };
            tasks.push(
                TaskData::new(
                    name,
                    spec(),
                    split(&train, &tr),
                    split(&train, &va),
                    split(&test, &te),
                )?
                .with_inputs(inputs.clone()),
            );
        }
        Ok(tasks)
    }
}

fn spec() -> TaskSpec {
    TaskSpec::Multiclass(MulticlassSpec::new(PER_TASK as i64))
}

/// Writes a miniature CIFAR-100 in the published binary layout into `dir` (tests, demos):
/// `per_fine` training and `per_fine_test` test records of each of the 100 fine classes, fine
/// class f under superclass f / 5, with a class-dependent bright patch on noise so that the
/// tasks are learnable, and `coarse_label_names.txt`.
pub fn write_miniature(dir: &Path, per_fine: usize, per_fine_test: usize, seed: u64) -> Result<()> {
    use rand::Rng;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for (file, per) in [("train.bin", per_fine), ("test.bin", per_fine_test)] {
        let mut bytes = Vec::with_capacity(100 * per * RECORD);
        for _ in 0..per {
            for f in 0..100u8 {
                bytes.push(f / 5);
                bytes.push(f);
                let (r0, c0) = ((f as usize % 5) * 6, (f as usize / 5 % 4) * 7);
                for ch in 0..3 {
                    for y in 0..32 {
                        for x in 0..32 {
                            let on = (r0..r0 + 6).contains(&y) && (c0..c0 + 6).contains(&x);
                            let base: u8 = if on { 150 + 30 * ch as u8 } else { 0 };
                            bytes.push(base.saturating_add(rng.random_range(0..80u8)));
                        }
                    }
                }
            }
        }
        std::fs::write(dir.join(file), bytes)
            .with_context(|| format!("writing {}", dir.join(file).display()))?;
    }
    std::fs::write(
        dir.join("coarse_label_names.txt"),
        SUPERCLASSES.join("\n") + "\n",
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(dir: &Path, tasks: &[&str]) -> DataConfig {
        DataConfig {
            dataset: "cifar100".into(),
            tasks: tasks.iter().map(|t| t.to_string()).collect(),
            data_dir: Some(dir.to_path_buf()),
            val_size: Some(2),
            ..DataConfig::default()
        }
    }

    fn err(dir: &Path) -> String {
        format!("{:#}", Cifar100.load(&cfg(dir, &["fish"])).unwrap_err())
    }

    #[test]
    fn miniature_loads_with_shapes_labels_and_splits() {
        let d = tempfile::tempdir().unwrap();
        write_miniature(d.path(), 2, 1, 0).unwrap();
        let t = Cifar100
            .load(&cfg(d.path(), &["fish", "vehicles_2"]))
            .unwrap();
        assert_eq!(t.len(), 2);
        // 5 fine classes x 2 = 10 training records per superclass: 2 to validation.
        assert_eq!(
            (t[0].train.len(), t[0].val.len(), t[0].test.len()),
            (8, 2, 5)
        );
        assert_eq!(t[0].train.x.size(), [8, 3, 32, 32]);
        assert_eq!(t[0].train.x.kind(), tch::Kind::Uint8);
        // Fine class 5k + j of superclass k is class j; the test set has one of each.
        let y = Vec::<i64>::try_from(&t[1].test.y).unwrap();
        let mut s = y.clone();
        s.sort_unstable();
        assert_eq!(s, [0, 1, 2, 3, 4]);
        assert!(!crate::data::shares_inputs(&t));
        // Same split every time; another seed, another validation set.
        let again = Cifar100.load(&cfg(d.path(), &["fish"])).unwrap();
        assert!(again[0].val.x.equal(&t[0].val.x));
        let mut c = cfg(d.path(), &["fish"]);
        c.split_seed = 9;
        assert!(!Cifar100.load(&c).unwrap()[0].val.x.equal(&t[0].val.x));
        // Also found under cifar-100-binary/.
        let parent = tempfile::tempdir().unwrap();
        write_miniature(&parent.path().join("cifar-100-binary"), 1, 1, 0).unwrap();
        assert_eq!(
            Cifar100.load(&cfg(parent.path(), &["fish"])).unwrap()[0]
                .test
                .len(),
            5
        );
    }

    #[test]
    fn corrupt_copies_name_the_file_and_record() {
        let d = tempfile::tempdir().unwrap();
        write_miniature(d.path(), 1, 1, 0).unwrap();
        let train = d.path().join("train.bin");
        let good = std::fs::read(&train).unwrap();

        std::fs::write(&train, &good[..good.len() - 10]).unwrap();
        let e = err(d.path());
        assert!(
            e.contains("train.bin") && e.contains("record 99 is truncated"),
            "{e}"
        );

        let mut bad = good.clone();
        bad[3 * RECORD] = 25;
        std::fs::write(&train, &bad).unwrap();
        let e = err(d.path());
        assert!(e.contains("record 3 has coarse label 25"), "{e}");

        let mut bad = good.clone();
        bad[7 * RECORD] = 0; // fine class 7 (superclass 1) moved under superclass 0
        std::fs::write(&train, &bad).unwrap();
        let e = err(d.path());
        assert!(
            e.contains("fine classes") || e.contains("fine class 7"),
            "{e}"
        );

        std::fs::write(&train, &good).unwrap();
        std::fs::write(d.path().join("coarse_label_names.txt"), "a\nb\n").unwrap();
        let e = err(d.path());
        assert!(e.contains("coarse_label_names.txt"), "{e}");
        std::fs::remove_file(d.path().join("coarse_label_names.txt")).unwrap();
        std::fs::remove_file(d.path().join("test.bin")).unwrap();
        assert!(err(d.path()).contains("test.bin"));
        let e = format!(
            "{:#}",
            Cifar100
                .load(&cfg(&d.path().join("nope"), &["fish"]))
                .unwrap_err()
        );
        assert!(e.contains("no train.bin"), "{e}");
    }
}
