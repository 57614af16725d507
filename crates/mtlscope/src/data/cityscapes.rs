//! Cityscapes (Cordts et al. 2016) as MTAN's preprocessed release (specs/mtan_data.md §2):
//! 2,975 training and 500 test (the release's `val/`) street scenes at 128×256, two tasks on
//! shared inputs — `segmentation` over `data.classes` = 7 (default), 19 or 2 classes (folder
//! `label_7/`, `label_19/`, `label_2/`; LibMTL's copy names the 7-class folder `label/`),
//! −1 = ignore — and `depth` (the release's inverse depth, 0 = invalid), read by
//! [`super::mtan`]. Validation: 595 of the 2,975 training samples held out by
//! `data.split_seed` (`data.val_size`).

use std::path::Path;

use anyhow::{bail, Result};

use super::mtan::{self, Map, TaskMap};
use super::{Dataset, TaskData};
use crate::config::DataConfig;
use crate::task::depth::DepthSpec;
use crate::task::segmentation::SegmentationSpec;
use crate::task::{TaskInfo, TaskSpec};

/// The class counts the release labels with.
pub const CLASS_COUNTS: [i64; 3] = [7, 19, 2];

/// The Cityscapes dataset family.
pub struct Cityscapes;

fn maps(classes: i64, label_folder: String) -> Vec<TaskMap> {
    vec![
        TaskMap {
            name: "segmentation",
            folder: label_folder,
            map: Map::Label,
            spec: TaskSpec::Segmentation(SegmentationSpec {
                classes,
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
    ]
}

impl Dataset for Cityscapes {
    fn name(&self) -> &'static str {
        "cityscapes"
    }

    fn about(&self) -> &'static str {
        "Cityscapes (MTAN's preprocessed release): 7/19/2-class segmentation and inverse depth on shared 128x256 inputs"
    }

    fn layout(&self) -> &'static str {
        "data.data_dir = the cityscapes folder of MTAN's release: train/ and val/, each with image/, label_7/ (or label/; label_19/, label_2/ for data.classes = 19, 2), depth/ holding {i}.npy (image (H,W,3), label (H,W) with -1 = ignore, depth (H,W,1) with 0 = invalid; any int/float dtype)"
    }

    fn tasks(&self) -> Vec<TaskInfo> {
        mtan::task_infos(&maps(7, String::new()))
    }

    fn takes_val_size(&self) -> bool {
        true
    }

    fn takes_classes(&self) -> bool {
        true
    }

    fn load(&self, cfg: &DataConfig) -> Result<Vec<TaskData>> {
        let classes = cfg.classes.unwrap_or(7);
        if !CLASS_COUNTS.contains(&classes) {
            bail!("data.classes = {classes}: the Cityscapes release has 7, 19 or 2 classes");
        }
        let folder = match &cfg.data_dir {
            Some(d)
                if classes == 7
                    && !d.join("train").join("label_7").is_dir()
                    && d.join("train").join("label").is_dir() =>
            {
                "label".to_string()
            }
            _ => format!("label_{classes}"),
        };
        mtan::load(cfg, "cityscapes", &maps(classes, folder))
    }
}

/// Writes a miniature Cityscapes in the release's layout under `dir` (tests, demos): `n_train`
/// and `n_test` samples of `h`×`w` with `label_7/` (i32), `label_19/` (f32) and inverse `depth/`
/// (f32), invalid pixels included; `libmtl` names the 7-class folder `label/` instead.
pub fn write_miniature(
    dir: &Path,
    n_train: usize,
    n_test: usize,
    (h, w): (usize, usize),
    libmtl: bool,
) -> Result<()> {
    let l7 = if libmtl { "label" } else { "label_7" };
    for (split, n) in [("train", n_train), ("val", n_test)] {
        for m in ["image", l7, "label_19", "depth"] {
            std::fs::create_dir_all(dir.join(split).join(m))?;
        }
        for i in 0..n {
            let f = |m: &str| dir.join(split).join(m).join(format!("{i}.npy"));
            let (mut img, mut c7, mut c19, mut dep) = (vec![], vec![], vec![], vec![]);
            for y in 0..h {
                for x in 0..w {
                    let band = (y * 7 / h + i) % 7;
                    let v = band as f32 / 7.0;
                    img.extend([v, (x as f32 / w as f32), 0.5]);
                    let invalid = (x * 3 + y + i) % 13 == 0;
                    c7.push(if invalid { -1 } else { band as i32 });
                    c19.push(if invalid {
                        -1.0
                    } else {
                        ((band * 2 + x % 2) % 19) as f32
                    });
                    dep.push(if invalid { 0.0 } else { 0.02 + 0.05 * v });
                }
            }
            let (hh, ww) = (h as u64, w as u64);
            mtan::write_npy(&f("image"), &[hh, ww, 3], &img)?;
            mtan::write_npy(&f(l7), &[hh, ww], &c7)?;
            mtan::write_npy(&f("label_19"), &[hh, ww], &c19)?;
            mtan::write_npy(&f("depth"), &[hh, ww, 1], &dep)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(dir: &Path, classes: Option<i64>) -> DataConfig {
        DataConfig {
            dataset: "cityscapes".into(),
            tasks: vec!["segmentation".into(), "depth".into()],
            data_dir: Some(dir.to_path_buf()),
            classes,
            ..DataConfig::default()
        }
    }

    #[test]
    fn class_versions_and_the_libmtl_folder_name() {
        let d = tempfile::tempdir().unwrap();
        write_miniature(d.path(), 5, 2, (6, 8), false).unwrap();
        let t = Cityscapes.load(&cfg(d.path(), None)).unwrap();
        assert_eq!(
            (t[0].train.len(), t[0].val.len(), t[0].test.len()),
            (4, 1, 2)
        );
        assert_eq!(t[1].train.y.size(), [4, 1, 6, 8]);
        assert!(crate::data::shares_inputs(&t));
        let t19 = Cityscapes.load(&cfg(d.path(), Some(19))).unwrap();
        let TaskSpec::Segmentation(s) = &t19[0].spec else {
            panic!("segmentation")
        };
        assert_eq!(s.classes, 19);
        // The 19-class labels do not fit 7 classes: named, with the key to change.
        std::fs::rename(d.path().join("train/label_7"), d.path().join("train/x")).unwrap();
        std::fs::rename(
            d.path().join("train/label_19"),
            d.path().join("train/label_7"),
        )
        .unwrap();
        let e = format!("{:#}", Cityscapes.load(&cfg(d.path(), None)).unwrap_err());
        assert!(e.contains("label_7") && e.contains("data.classes"), "{e}");
        let e = format!(
            "{:#}",
            Cityscapes.load(&cfg(d.path(), Some(5))).unwrap_err()
        );
        assert!(e.contains("data.classes = 5"), "{e}");

        let l = tempfile::tempdir().unwrap();
        write_miniature(l.path(), 5, 2, (6, 8), true).unwrap();
        assert_eq!(
            Cityscapes.load(&cfg(l.path(), None)).unwrap()[0].test.len(),
            2
        );
    }
}
