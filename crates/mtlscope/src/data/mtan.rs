//! The preprocessed release of MTAN (Liu et al. 2019, lorenmt/mtan), which LibMTL, CAGrad,
//! Nash-MTL and Elich et al. reuse for NYUv2 and Cityscapes (specs/mtan_data.md §1–2): per split
//! a folder `train/` or `val/` holding one folder per map (`image/`, `label/`, `depth/`,
//! `normal/`, …), each with one `{i}.npy` per sample, i = 0 … n − 1.
//!
//! Maps are read in any integer or float dtype the `.npy` header declares (every reference
//! loader casts with `.float()`), in C order, and stored as the task kinds take them:
//! images `(H, W, 3)` → `[3, H, W]` f32 as they are (no normalisation: the references feed the
//! released values), labels `(H, W)` → `[H, W]` i64 (−1 = ignore), depth `(H, W, 1)` or `(H, W)`
//! → `[1, H, W]` f32 (0 = invalid), normals `(H, W, 3)` → `[3, H, W]` f32 (all-zero = invalid).
//!
//! Splits: the official `val/` is the test split; validation is held out of `train/` by a
//! permutation seeded by `data.split_seed`, `data.val_size` samples (default: a fifth, the
//! references' 159 of 795 for NYUv2 and 595 of 2,975 for Cityscapes).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use npyz::{DType, NpyFile, TypeChar};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::{Kind, Tensor};

use super::{Split, TaskData};
use crate::config::DataConfig;
use crate::task::TaskSpec;

/// How a map is laid out on disk and stored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Map {
    /// `(H, W, 3)` RGB → `[3, H, W]` f32.
    Image,
    /// `(H, W)` class labels → `[H, W]` i64.
    Label,
    /// `(H, W, 1)` or `(H, W)` → `[1, H, W]` f32.
    Depth,
    /// `(H, W, 3)` → `[3, H, W]` f32.
    Normal,
}

/// One `.npy` file: its shape and values as f32 (exact for the releases' dtypes: labels are
/// small integers, the rest are floats).
pub fn read_npy(path: &Path) -> Result<(Vec<usize>, Vec<f32>)> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let npy =
        NpyFile::new(&bytes[..]).with_context(|| format!("{}: not a .npy file", path.display()))?;
    if npy.order() != npyz::Order::C {
        bail!(
            "{}: Fortran-order array; the releases are C order",
            path.display()
        );
    }
    let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
    let DType::Plain(ts) = npy.dtype() else {
        bail!(
            "{}: structured dtype; expected a plain number type",
            path.display()
        );
    };
    let bad = |e: std::io::Error| anyhow::anyhow!("{}: {e} (truncated file?)", path.display());
    let v: Vec<f32> = match (ts.type_char(), ts.size_field()) {
        (TypeChar::Float, 4) => npy.into_vec::<f32>().map_err(bad)?,
        (TypeChar::Float, 8) => npy
            .into_vec::<f64>()
            .map_err(bad)?
            .into_iter()
            .map(|x| x as f32)
            .collect(),
        (TypeChar::Int, 8) => npy
            .into_vec::<i64>()
            .map_err(bad)?
            .into_iter()
            .map(|x| x as f32)
            .collect(),
        (TypeChar::Int, 4) => npy
            .into_vec::<i32>()
            .map_err(bad)?
            .into_iter()
            .map(|x| x as f32)
            .collect(),
        (TypeChar::Int, 2) => npy
            .into_vec::<i16>()
            .map_err(bad)?
            .into_iter()
            .map(|x| x as f32)
            .collect(),
        (TypeChar::Int, 1) => npy
            .into_vec::<i8>()
            .map_err(bad)?
            .into_iter()
            .map(|x| x as f32)
            .collect(),
        (TypeChar::Uint, 1) => npy
            .into_vec::<u8>()
            .map_err(bad)?
            .into_iter()
            .map(|x| x as f32)
            .collect(),
        (TypeChar::Uint, 2) => npy
            .into_vec::<u16>()
            .map_err(bad)?
            .into_iter()
            .map(|x| x as f32)
            .collect(),
        (TypeChar::Uint, 4) => npy
            .into_vec::<u32>()
            .map_err(bad)?
            .into_iter()
            .map(|x| x as f32)
            .collect(),
        _ => bail!(
            "{}: dtype {} is not an integer or float type",
            path.display(),
            ts
        ),
    };
    Ok((shape, v))
}

/// The number of samples in `dir` (`{i}.npy`, i = 0 … n − 1, no gaps).
pub fn count(dir: &Path) -> Result<usize> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("{}: missing folder", dir.display()))?;
    let mut idx = Vec::new();
    for e in entries {
        let name = e?.file_name().to_string_lossy().to_string();
        if let Some(i) = name
            .strip_suffix(".npy")
            .and_then(|s| s.parse::<usize>().ok())
        {
            idx.push(i);
        }
    }
    idx.sort_unstable();
    if let Some(gap) = (0..idx.len()).find(|&k| idx[k] != k) {
        bail!(
            "{}: {gap}.npy missing (samples are numbered 0 … n − 1)",
            dir.display()
        );
    }
    if idx.is_empty() {
        bail!("{}: no {{i}}.npy samples", dir.display());
    }
    Ok(idx.len())
}

/// Reads samples `rows` of the map in `dir` as one tensor (`Map` docs), checking that every
/// sample has the shape of the first and, for images, the expected (H, W) `hw` when given.
pub fn read_map(
    dir: &Path,
    map: Map,
    rows: &[usize],
    hw: Option<(usize, usize)>,
) -> Result<Tensor> {
    let mut data: Vec<f32> = Vec::new();
    let mut first: Option<Vec<usize>> = None;
    for &i in rows {
        let p = dir.join(format!("{i}.npy"));
        let (shape, v) = read_npy(&p)?;
        let (h, w) = match (map, shape.as_slice()) {
            (Map::Image | Map::Normal, &[h, w, 3]) => (h, w),
            (Map::Label, &[h, w]) => (h, w),
            (Map::Depth, &[h, w, 1]) | (Map::Depth, &[h, w]) => (h, w),
            _ => bail!(
                "{}: shape {shape:?}; {:?} maps are {}",
                p.display(),
                map,
                match map {
                    Map::Image | Map::Normal => "(H, W, 3)",
                    Map::Label => "(H, W)",
                    Map::Depth => "(H, W, 1) or (H, W)",
                }
            ),
        };
        if let Some((eh, ew)) = hw {
            if (h, w) != (eh, ew) {
                bail!(
                    "{}: {h}x{w} pixels, but the images are {eh}x{ew}",
                    p.display()
                );
            }
        }
        match &first {
            None => {
                data.reserve(rows.len() * v.len());
                first = Some(shape.clone());
            }
            Some(f) if *f != shape => {
                bail!(
                    "{}: shape {shape:?}, but sample {} has {f:?}",
                    p.display(),
                    rows[0]
                )
            }
            _ => {}
        }
        if map == Map::Label {
            if let Some(bad) = v.iter().find(|&&x| x.fract() != 0.0 || x < -1.0) {
                bail!(
                    "{}: label value {bad}; labels are classes 0 … C − 1 or −1 (ignore)",
                    p.display()
                );
            }
        }
        data.extend_from_slice(&v);
    }
    let first = first.context("no samples")?;
    let (n, h, w) = (rows.len() as i64, first[0] as i64, first[1] as i64);
    let t = Tensor::from_slice(&data);
    drop(data);
    Ok(match map {
        Map::Image | Map::Normal => t.view([n, h, w, 3]).permute([0, 3, 1, 2]).contiguous(),
        Map::Label => t.view([n, h, w]).to_kind(Kind::Int64),
        Map::Depth => t.view([n, 1, h, w]),
    })
}

/// `train/` and `val/` under `dir`, or an error naming what is missing.
pub fn split_dirs(dir: Option<&Path>, dataset: &str) -> Result<(PathBuf, PathBuf)> {
    let Some(dir) = dir else {
        bail!(
            "data.data_dir: point data.data_dir (or --data-dir) at the {dataset} folder of MTAN's \
             preprocessed release (holding train/ and val/)"
        );
    };
    let (t, v) = (dir.join("train"), dir.join("val"));
    for d in [&t, &v] {
        if !d.is_dir() {
            bail!(
                "{}: missing; {dataset} (MTAN's preprocessed release) holds train/ and val/, each \
                 with image/, label…/, depth/ (and normal/) folders of {{i}}.npy",
                d.display()
            );
        }
    }
    Ok((t, v))
}

/// (train, val) indices into `n` training samples: `val_size` (default n / 5, at least 1)
/// held out by a permutation seeded by `split_seed`.
pub fn hold_out(
    n: usize,
    val_size: Option<usize>,
    split_seed: u64,
) -> Result<(Vec<usize>, Vec<usize>)> {
    let v = val_size.unwrap_or((n / 5).max(1));
    if v >= n {
        bail!("data.val_size = {v} leaves no training sample of {n}");
    }
    let mut p: Vec<usize> = (0..n).collect();
    p.shuffle(&mut ChaCha8Rng::seed_from_u64(
        split_seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x4d7a_2019,
    ));
    // Sample order within a split does not matter to training (the sampler shuffles); sorted
    // keeps file reads sequential.
    let (mut val, mut train) = (p[..v].to_vec(), p[v..].to_vec());
    train.sort_unstable();
    val.sort_unstable();
    Ok((train, val))
}

/// A task of a release: its name, the map folder it reads, the map's layout, its kind.
pub struct TaskMap {
    /// Task name.
    pub name: &'static str,
    /// Folder of its targets under each split (`label`, `label_7`, `depth`, `normal`).
    pub folder: String,
    /// Layout of the folder's maps.
    pub map: Map,
    /// The task's kind.
    pub spec: TaskSpec,
}

/// What a run records about each task of `maps` (`Dataset::tasks` of a release).
pub fn task_infos(maps: &[TaskMap]) -> Vec<crate::task::TaskInfo> {
    maps.iter()
        .map(|m| crate::task::TaskInfo::new(m.name, m.spec.build().expect("valid").as_ref()))
        .collect()
}

/// Loads the tasks `cfg.tasks` names from the release at `cfg.data_dir`, `available` telling
/// each task's folder: shared inputs (one image tensor per split), every folder checked to
/// hold as many samples as `image/`.
pub fn load(cfg: &DataConfig, dataset: &str, available: &[TaskMap]) -> Result<Vec<TaskData>> {
    let (train_dir, test_dir) = split_dirs(cfg.data_dir.as_deref(), dataset)?;
    let wanted: Vec<&TaskMap> = cfg
        .tasks
        .iter()
        .map(|t| {
            available
                .iter()
                .find(|m| m.name == t)
                .with_context(|| format!("data.tasks: unknown {dataset} task `{t}`"))
        })
        .collect::<Result<_>>()?;
    let sizes = |split: &Path| -> Result<usize> {
        let n = count(&split.join("image"))?;
        for m in &wanted {
            let d = split.join(&m.folder);
            let k = count(&d)?;
            if k != n {
                bail!(
                    "{}: {k} samples, but {} has {n}",
                    d.display(),
                    split.join("image").display()
                );
            }
        }
        Ok(n)
    };
    let (n_train, n_test) = (sizes(&train_dir)?, sizes(&test_dir)?);
    let (mut tr, va) = hold_out(n_train, cfg.val_size, cfg.split_seed)?;
    if let Some(l) = cfg.train_limit {
        tr.truncate(l);
    }
    let te: Vec<usize> = (0..n_test).collect();
    let parts = [(&train_dir, &tr), (&train_dir, &va), (&test_dir, &te)];
    let mut x = Vec::new();
    let mut hw = None;
    for (dir, rows) in parts {
        let img = read_map(&dir.join("image"), Map::Image, rows, hw)?;
        hw = Some((img.size()[2] as usize, img.size()[3] as usize));
        x.push(img);
    }
    let mut tasks = Vec::new();
    for m in wanted {
        let mut y = Vec::new();
        for (dir, rows) in parts {
            y.push(read_map(&dir.join(&m.folder), m.map, rows, hw)?);
        }
        if let TaskSpec::Segmentation(s) = &m.spec {
            for (t, (dir, _)) in y.iter().zip(parts) {
                let max = t.max().int64_value(&[]);
                if max >= s.classes {
                    bail!(
                        "{}: label {max} out of range for {} classes (data.classes?)",
                        dir.join(&m.folder).display(),
                        s.classes
                    );
                }
            }
        }
        let mut y = y.into_iter();
        let mut split = |i: usize| Split {
            x: x[i].shallow_clone(),
            y: y.next().expect("three splits"),
        };
        let (a, b, c) = (split(0), split(1), split(2));
        tasks.push(TaskData::new(m.name, m.spec.clone(), a, b, c)?);
    }
    Ok(tasks)
}

/// Writes one array as `.npy` of dtype `T` (tests' miniature copies).
pub fn write_npy<T: npyz::Serialize + npyz::AutoSerialize + Copy>(
    path: &Path,
    shape: &[u64],
    data: &[T],
) -> Result<()> {
    use npyz::WriterBuilder;
    let mut f = std::io::BufWriter::new(
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
    );
    let mut w = npyz::WriteOptions::new()
        .default_dtype()
        .shape(shape)
        .writer(&mut f)
        .begin_nd()?;
    w.extend(data.iter().copied())?;
    w.finish()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_dtype_reads_as_f32_and_maps_take_their_layouts() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("0.npy");
        write_npy(&p, &[2, 3], &[0i64, 1, 2, -1, 4, 5]).unwrap();
        let (s, v) = read_npy(&p).unwrap();
        assert_eq!((s, v), (vec![2, 3], vec![0.0, 1.0, 2.0, -1.0, 4.0, 5.0]));
        let l = read_map(d.path(), Map::Label, &[0], None).unwrap();
        assert_eq!(l.size(), [1, 2, 3]);
        assert_eq!(l.kind(), Kind::Int64);
        // HWC → CHW: pixel (y, x) channel c is element c·H·W + y·W + x.
        let hwc: Vec<f64> = (0..12).map(|i| i as f64).collect();
        write_npy(&p, &[2, 2, 3], &hwc).unwrap();
        let img = read_map(d.path(), Map::Image, &[0], None).unwrap();
        assert_eq!(img.size(), [1, 3, 2, 2]);
        let chw = Vec::<f32>::try_from(img.reshape([-1])).unwrap();
        assert_eq!(
            chw,
            [0.0, 3.0, 6.0, 9.0, 1.0, 4.0, 7.0, 10.0, 2.0, 5.0, 8.0, 11.0]
        );
        let e = format!(
            "{:#}",
            read_map(d.path(), Map::Label, &[0], None).unwrap_err()
        );
        assert!(e.contains("0.npy") && e.contains("[2, 2, 3]"), "{e}");
        write_npy(&p, &[2, 2], &[0.5f32, 1.0, 2.0, 3.0]).unwrap();
        let e = format!(
            "{:#}",
            read_map(d.path(), Map::Label, &[0], None).unwrap_err()
        );
        assert!(e.contains("label value 0.5"), "{e}");
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() - 3]).unwrap();
        let e = format!("{:#}", read_npy(&p).unwrap_err());
        assert!(e.contains("0.npy"), "{e}");
    }

    #[test]
    fn counting_and_holding_out() {
        let d = tempfile::tempdir().unwrap();
        for i in [0, 1, 3] {
            write_npy(&d.path().join(format!("{i}.npy")), &[1], &[0u8]).unwrap();
        }
        let e = format!("{:#}", count(d.path()).unwrap_err());
        assert!(e.contains("2.npy missing"), "{e}");
        let (t, v) = hold_out(795, None, 0).unwrap();
        assert_eq!((t.len(), v.len()), (636, 159));
        let (t, v) = hold_out(2975, None, 0).unwrap();
        assert_eq!((t.len(), v.len()), (2380, 595));
        assert!(t.iter().all(|i| !v.contains(i)));
        assert_eq!(
            hold_out(10, Some(3), 1).unwrap(),
            hold_out(10, Some(3), 1).unwrap()
        );
        assert!(hold_out(3, Some(3), 0).is_err());
    }
}
