//! NYUv2 (Silberman et al. 2012) as MTAN's preprocessed release (specs/mtan_data.md §1): 795
//! training and 654 test (the release's `val/`) indoor scenes at 288×384, three tasks on shared
//! inputs — `segmentation` (13 classes, −1 = ignore), `depth` (metres, 0 = invalid) and
//! `normal` (unit normals, all-zero = invalid) — read by [`super::mtan`]. Validation: 159 of
//! the 795 training samples held out by `data.split_seed` (`data.val_size`), as the references.

use std::path::Path;

use anyhow::Result;

use super::mtan::{self, Map, TaskMap};
use super::{Dataset, TaskData};
use crate::config::DataConfig;
use crate::task::depth::DepthSpec;
use crate::task::normals::NormalsSpec;
use crate::task::segmentation::SegmentationSpec;
use crate::task::{TaskInfo, TaskSpec};

/// NYUv2's 13 classes (SceneNet's definitions).
pub const CLASSES: i64 = 13;

/// The NYUv2 dataset family.
pub struct Nyuv2;

fn maps() -> Vec<TaskMap> {
    vec![
        TaskMap {
            name: "segmentation",
            folder: "label".into(),
            map: Map::Label,
            spec: TaskSpec::Segmentation(SegmentationSpec {
                classes: CLASSES,
                ignore_index: -1,
                decoder_channels: None,
            }),
        },
        TaskMap {
            name: "depth",
            folder: "depth".into(),
            map: Map::Depth,
            spec: TaskSpec::Depth(DepthSpec {
                decoder_channels: None,
            }),
        },
        TaskMap {
            name: "normal",
            folder: "normal".into(),
            map: Map::Normal,
            spec: TaskSpec::Normals(NormalsSpec {
                decoder_channels: None,
            }),
        },
    ]
}

impl Dataset for Nyuv2 {
    fn name(&self) -> &'static str {
        "nyuv2"
    }

    fn about(&self) -> &'static str {
        "NYUv2 (MTAN's preprocessed release): 13-class segmentation, depth and surface normals on shared 288x384 inputs"
    }

    fn layout(&self) -> &'static str {
        "data.data_dir = the nyuv2 folder of MTAN's release: train/ and val/, each with image/, label/, depth/, normal/ holding {i}.npy (image (H,W,3), label (H,W) with -1 = ignore, depth (H,W,1) with 0 = invalid, normal (H,W,3) with 0 = invalid; any int/float dtype)"
    }

    fn tasks(&self) -> Vec<TaskInfo> {
        mtan::task_infos(&maps())
    }

    fn takes_val_size(&self) -> bool {
        true
    }

    fn load(&self, cfg: &DataConfig) -> Result<Vec<TaskData>> {
        mtan::load(cfg, "nyuv2", &maps())
    }
}

/// Writes a miniature NYUv2 in the release's layout under `dir` (tests, demos): `n_train` and
/// `n_test` samples of `h`×`w` whose label is the image's brightest channel band, whose depth
/// and normals follow the image, with invalid pixels of every kind, in the dtypes a release
/// may use (f32 images, f64 depth, i64 labels, f32 normals).
pub fn write_miniature(
    dir: &Path,
    n_train: usize,
    n_test: usize,
    (h, w): (usize, usize),
    seed: u64,
) -> Result<()> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    for (split, n) in [("train", n_train), ("val", n_test)] {
        for m in ["image", "label", "depth", "normal"] {
            std::fs::create_dir_all(dir.join(split).join(m))?;
        }
        for i in 0..n {
            let f = |m: &str| dir.join(split).join(m).join(format!("{i}.npy"));
            let (mut img, mut lab, mut dep, mut nor) = (vec![], vec![], vec![], vec![]);
            let shift = rng.random_range(0..w);
            for y in 0..h {
                for x in 0..w {
                    let class = ((x + shift) * CLASSES as usize / w) as i64 % CLASSES;
                    let v = class as f32 / CLASSES as f32;
                    img.extend([v, 1.0 - v, rng.random_range(0.0..1.0f32)]);
                    let invalid = (x + y + i) % 11 == 0;
                    lab.push(if invalid { -1 } else { class });
                    dep.push(if invalid {
                        0.0
                    } else {
                        1.0 + 3.0 * v as f64 + y as f64 / h as f64
                    });
                    let (a, b) = (v - 0.5, 0.5f32);
                    let norm = (a * a + b * b + 1.0).sqrt();
                    nor.extend(if invalid {
                        [0.0; 3]
                    } else {
                        [a / norm, b / norm, 1.0 / norm]
                    });
                }
            }
            let (hh, ww) = (h as u64, w as u64);
            mtan::write_npy(&f("image"), &[hh, ww, 3], &img)?;
            mtan::write_npy(&f("label"), &[hh, ww], &lab)?;
            mtan::write_npy(&f("depth"), &[hh, ww, 1], &dep)?;
            mtan::write_npy(&f("normal"), &[hh, ww, 3], &nor)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(dir: &Path) -> DataConfig {
        DataConfig {
            dataset: "nyuv2".into(),
            tasks: vec!["segmentation".into(), "depth".into(), "normal".into()],
            data_dir: Some(dir.to_path_buf()),
            ..DataConfig::default()
        }
    }

    #[test]
    fn miniature_loads_with_shapes_splits_and_shared_inputs() {
        let d = tempfile::tempdir().unwrap();
        write_miniature(d.path(), 10, 3, (8, 12), 0).unwrap();
        let t = Nyuv2.load(&cfg(d.path())).unwrap();
        assert_eq!(
            (t[0].train.len(), t[0].val.len(), t[0].test.len()),
            (8, 2, 3)
        );
        assert_eq!(t[0].train.x.size(), [8, 3, 8, 12]);
        assert_eq!(t[0].train.y.size(), [8, 8, 12]);
        assert_eq!(t[1].train.y.size(), [8, 1, 8, 12]);
        assert_eq!(t[2].test.y.size(), [3, 3, 8, 12]);
        assert!(crate::data::shares_inputs(&t));
        // Invalid pixels keep their markers.
        let lab = Vec::<i64>::try_from(t[0].test.y.reshape([-1])).unwrap();
        assert!(lab.contains(&-1) && lab.iter().all(|&l| (-1..13).contains(&l)));
    }

    #[test]
    fn mismatched_counts_missing_folders_and_shapes_are_named() {
        let d = tempfile::tempdir().unwrap();
        write_miniature(d.path(), 4, 2, (4, 6), 0).unwrap();
        std::fs::remove_file(d.path().join("train/depth/3.npy")).unwrap();
        let e = format!("{:#}", Nyuv2.load(&cfg(d.path())).unwrap_err());
        assert!(e.contains("train/depth") && e.contains("3 samples"), "{e}");
        mtan::write_npy(
            &d.path().join("train/depth/3.npy"),
            &[4, 5, 1],
            &[1.0f32; 20],
        )
        .unwrap();
        let e = format!("{:#}", Nyuv2.load(&cfg(d.path())).unwrap_err());
        assert!(e.contains("train/depth/3.npy") && e.contains("4x5"), "{e}");
        std::fs::remove_dir_all(d.path().join("val")).unwrap();
        let e = format!("{:#}", Nyuv2.load(&cfg(d.path())).unwrap_err());
        assert!(e.contains("val") && e.contains("missing"), "{e}");
    }
}
