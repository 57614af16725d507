//! Where the MNIST-family IDX files are looked for, in order: `--data-dir` / `data.data_dir`,
//! `$MTLSCOPE_DATA`, the Debian package `dataset-fashion-mnist`, and the layouts
//! `<root>/FashionMNIST/raw` (torchvision) and `<root>/fashion-mnist` under each of those roots.

use anyhow::{bail, Result};
use std::path::{Path, PathBuf};

/// Folder of the Debian package `dataset-fashion-mnist`.
pub const DEBIAN_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// The four Fashion-MNIST files, by their published names (without `.gz`).
pub const FILES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

/// `dir/name.gz` if present, else `dir/name`.
pub fn file_in(dir: &Path, name: &str) -> PathBuf {
    let gz = dir.join(format!("{name}.gz"));
    if gz.exists() {
        gz
    } else {
        dir.join(name)
    }
}

/// Whether `dir` holds the four files (each raw or `.gz`).
pub fn has_files(dir: &Path) -> bool {
    FILES.iter().all(|f| file_in(dir, f).exists())
}

/// The folder the user named for data: `data_dir`, else `$MTLSCOPE_DATA`; `None` when neither
/// is set (datasets with a system-wide copy then fall back to it, the others ask for one).
pub fn user_root(data_dir: Option<&Path>) -> Option<PathBuf> {
    data_dir
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("MTLSCOPE_DATA").map(PathBuf::from))
}

/// Finds the folder holding the Fashion-MNIST files. The first location given (`data_dir`,
/// else `$MTLSCOPE_DATA`, else the Debian package) must hold them: an explicit location that
/// lacks them is an error naming it, never a silent fall-through to another copy.
pub fn locate(data_dir: Option<&Path>) -> Result<PathBuf> {
    let (root, why) = match (data_dir, std::env::var_os("MTLSCOPE_DATA")) {
        (Some(d), _) => (d.to_path_buf(), "data.data_dir / --data-dir"),
        (None, Some(env)) => (PathBuf::from(env), "$MTLSCOPE_DATA"),
        (None, None) => (
            PathBuf::from(DEBIAN_DIR),
            "the Debian package dataset-fashion-mnist",
        ),
    };
    let torchvision = root.join("FashionMNIST").join("raw");
    for dir in [&root, &torchvision, &root.join("fashion-mnist")] {
        if has_files(dir) {
            return Ok(dir.clone());
        }
    }
    let missing: Vec<String> = FILES
        .iter()
        .filter(|f| !file_in(&root, f).exists())
        .map(|f| format!("{f}[.gz]"))
        .collect();
    bail!(
        "no Fashion-MNIST files in {} nor {} ({why}): missing {}. Install them with \
         `apt-get install dataset-fashion-mnist` (or `make setup`), or pass --data-dir",
        root.display(),
        torchvision.display(),
        missing.join(", ")
    )
}
