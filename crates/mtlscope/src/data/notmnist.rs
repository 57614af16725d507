//! NotMNIST (Bulatov 2011; Mueller et al. 2025, App. A, "MTL: NotMNIST"): the letters A–J in
//! many fonts, 28×28 grey-level PNGs, one folder per letter, as extracted from the published
//! `notMNIST_small.tar.gz` (18,726 files) or `notMNIST_large.tar.gz` (about 530,000).
//!
//! Read from a folder `notMNIST_large/` or `notMNIST_small/` (holding `A/` … `J/`), or the
//! `.tar.gz` itself, read in place; the large copy is preferred, and an extracted folder over an
//! archive. The published archives contain a few unreadable PNGs (empty or truncated files):
//! they are skipped and counted, and the loader says so once, instead of aborting the load.
//! An image that decodes but is not 28×28 is an error naming it (that is not the published data).
//! Files are ordered by letter, then by name, so the same copy (folder or archive) always gives
//! the same examples in the same order.
//!
//! NotMNIST has no official split: [`split`] draws train, validation and test sets with the
//! split seed, 25,000 / 5,000 / 5,000 when the copy has 35,000 images (FashionMTL's task sizes,
//! §2.2), else 5/7, 1/7, 1/7 of what there is.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::Tensor;

use super::{Inputs, Split, TaskData};
use crate::config::DataConfig;
use crate::task::multiclass::MulticlassSpec;
use crate::task::TaskSpec;

/// Letters, in label order: folder `A` is class 0, … `J` class 9.
pub const LETTERS: [char; 10] = ['A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J'];
/// Image side.
pub const SIDE: usize = 28;
/// The copies looked for in a data folder, in order of preference.
pub const SOURCES: [&str; 4] = [
    "notMNIST_large",
    "notMNIST_small",
    "notMNIST_large.tar.gz",
    "notMNIST_small.tar.gz",
];

/// Task sizes when the copy is large enough (FashionMTL's: 25,000 train, 5,000 val and test).
const FULL: (usize, usize, usize) = (25_000, 5_000, 5_000);

/// The readable images of one copy.
#[derive(Debug)]
pub struct NotMnist {
    /// The folder or archive read.
    pub source: PathBuf,
    /// `SIDE × SIDE` grey levels per image, row-major.
    pub pixels: Vec<u8>,
    /// Class (letter index) per image.
    pub labels: Vec<u8>,
    /// Unreadable files skipped: path inside the copy and the decoder's reason.
    pub skipped: Vec<(String, String)>,
}

impl NotMnist {
    /// Number of readable images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when no image was readable.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The copy in `dir` (see [`SOURCES`]), or an error saying what was looked for.
    pub fn find(dir: &Path) -> Result<PathBuf> {
        for s in SOURCES {
            let p = dir.join(s);
            if (s.ends_with(".tar.gz") && p.is_file()) || (!s.ends_with(".gz") && p.is_dir()) {
                return Ok(p);
            }
        }
        bail!(
            "{}: no NotMNIST copy (looked for {}); download notMNIST_small.tar.gz or \
             notMNIST_large.tar.gz (Bulatov's release) into it, extracted or not",
            dir.display(),
            SOURCES.join(", ")
        )
    }

    /// Reads the copy found in `dir`, saying once on stderr how many files were skipped.
    pub fn load(dir: &Path) -> Result<Self> {
        let source = Self::find(dir)?;
        let files = if source.is_dir() {
            folder_files(&source)?
        } else {
            archive_files(&source)?
        };
        let n = Self::decode(source, files)?;
        if let Some((first, why)) = n.skipped.first() {
            eprintln!(
                "{}: skipped {} unreadable PNG(s) of {} (the published archives hold a few), \
                 e.g. {first}: {why}",
                n.source.display(),
                n.skipped.len(),
                n.skipped.len() + n.len()
            );
        }
        Ok(n)
    }

    /// Decodes `(letter, name, bytes)` files, sorted here by letter and name.
    fn decode(source: PathBuf, mut files: Vec<(u8, String, Vec<u8>)>) -> Result<Self> {
        files.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        let mut out = NotMnist {
            source,
            pixels: Vec::with_capacity(files.len() * SIDE * SIDE),
            labels: Vec::with_capacity(files.len()),
            skipped: Vec::new(),
        };
        for (label, name, bytes) in files {
            let img = match image::load_from_memory_with_format(&bytes, image::ImageFormat::Png) {
                Ok(img) => img.into_luma8(),
                Err(e) => {
                    out.skipped.push((name, e.to_string()));
                    continue;
                }
            };
            if img.dimensions() != (SIDE as u32, SIDE as u32) {
                bail!(
                    "{}: {name} is {}x{} pixels; NotMNIST images are {SIDE}x{SIDE}",
                    out.source.display(),
                    img.width(),
                    img.height()
                );
            }
            out.pixels.extend_from_slice(img.as_raw());
            out.labels.push(label);
        }
        if out.is_empty() {
            bail!(
                "{}: no readable NotMNIST image (expected folders A–J of 28x28 PNGs)",
                out.source.display()
            );
        }
        Ok(out)
    }
}

/// The letter index of a folder name `A`–`J`.
fn letter(name: &str) -> Option<u8> {
    let mut c = name.chars();
    match (c.next(), c.next()) {
        (Some(l), None) => LETTERS.iter().position(|&x| x == l).map(|i| i as u8),
        _ => None,
    }
}

/// `(letter, "L/name.png", bytes)` of every PNG under `root/A` … `root/J`.
fn folder_files(root: &Path) -> Result<Vec<(u8, String, Vec<u8>)>> {
    let mut files = Vec::new();
    for (i, l) in LETTERS.iter().enumerate() {
        let d = root.join(l.to_string());
        let entries = std::fs::read_dir(&d).with_context(|| {
            format!(
                "{}: missing (NotMNIST has one folder per letter A–J)",
                d.display()
            )
        })?;
        for e in entries {
            let e = e.with_context(|| format!("listing {}", d.display()))?;
            let name = e.file_name().to_string_lossy().to_string();
            if !name.ends_with(".png") {
                continue;
            }
            let bytes = std::fs::read(e.path())
                .with_context(|| format!("reading {}", e.path().display()))?;
            files.push((i as u8, format!("{l}/{name}"), bytes));
        }
    }
    Ok(files)
}

/// The same from the published `.tar.gz`, whose members are `notMNIST_*/L/name.png`.
fn archive_files(path: &Path) -> Result<Vec<(u8, String, Vec<u8>)>> {
    let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(std::io::BufReader::new(f)));
    let mut files = Vec::new();
    let mut letters = [false; 10];
    let entries = ar
        .entries()
        .with_context(|| format!("{}: not a .tar.gz archive", path.display()))?;
    for (k, e) in entries.enumerate() {
        let mut e = e.with_context(|| {
            format!(
                "{}: member {k} unreadable (truncated or corrupt archive)",
                path.display()
            )
        })?;
        if e.header().entry_type() != tar::EntryType::Regular {
            continue;
        }
        let name = e.path()?.to_string_lossy().to_string();
        let parts: Vec<&str> = name.trim_start_matches("./").split('/').collect();
        let [_, l, file] = parts[..] else { continue };
        let (Some(label), true) = (letter(l), file.ends_with(".png")) else {
            continue;
        };
        let mut bytes = Vec::with_capacity(e.size() as usize);
        e.read_to_end(&mut bytes).with_context(|| {
            format!(
                "{}: member {name} truncated (corrupt archive)",
                path.display()
            )
        })?;
        letters[label as usize] = true;
        files.push((label, format!("{l}/{file}"), bytes));
    }
    if let Some(i) = letters.iter().position(|&seen| !seen) {
        bail!(
            "{}: no images of letter {} (expected members notMNIST_*/A … J/*.png)",
            path.display(),
            LETTERS[i]
        );
    }
    Ok(files)
}

/// Train, validation and test indices into `n` images, drawn with `split_seed` (module docs).
pub fn split(n: usize, split_seed: u64) -> (Vec<usize>, Vec<usize>, Vec<usize>) {
    let (tr, va, te) = if n >= FULL.0 + FULL.1 + FULL.2 {
        FULL
    } else {
        (n * 5 / 7, n / 7, n / 7)
    };
    let mut p: Vec<usize> = (0..n).collect();
    p.shuffle(&mut ChaCha8Rng::seed_from_u64(
        split_seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x6e07_3d15,
    ));
    (
        p[..tr].to_vec(),
        p[tr..tr + va].to_vec(),
        p[tr + va..tr + va + te].to_vec(),
    )
}

/// The task `name` on NotMNIST: [`split`]'s sets (train capped by `data.train_limit`), `u8`
/// pixels normalised with the mean and standard deviation of its own training images, so its
/// inputs are the same in STL and MTL runs whatever it is trained with.
pub fn task(name: &str, nm: &NotMnist, cfg: &DataConfig) -> Result<TaskData> {
    let (mut tr, va, te) = split(nm.len(), cfg.split_seed);
    if let Some(l) = cfg.train_limit {
        tr.truncate(l);
    }
    let part = |rows: &[usize]| gray_split(&nm.pixels, &nm.labels, rows);
    let train = part(&tr);
    let inputs = Inputs::pixel_stats(&train.x);
    Ok(TaskData::new(name, ten_classes(), train, part(&va), part(&te))?.with_inputs(inputs))
}

/// The split of images `rows` of 28×28 grey images stored row after row in `pixels` (`u8`
/// `[n, 1, 28, 28]`) with their class `labels`: NotMNIST's and the MNIST family's layout.
pub fn gray_split(pixels: &[u8], labels: &[u8], rows: &[usize]) -> Split {
    let d = SIDE * SIDE;
    let mut px = Vec::with_capacity(rows.len() * d);
    for &r in rows {
        px.extend_from_slice(&pixels[r * d..(r + 1) * d]);
    }
    let y: Vec<i64> = rows.iter().map(|&r| labels[r] as i64).collect();
    Split {
        x: Tensor::from_slice(&px).view([rows.len() as i64, 1, SIDE as i64, SIDE as i64]),
        y: Tensor::from_slice(&y),
    }
}

/// A 10-way classification task (NotMNIST's letters, the MNIST family's classes).
pub fn ten_classes() -> TaskSpec {
    TaskSpec::Multiclass(MulticlassSpec::new(10))
}

/// Writes a miniature NotMNIST in the published layout under `dir` (tests, demos): `per`
/// PNGs per letter, each a letter-dependent bar on noise (learnable), plus `bad` unreadable
/// files in `A/` (as the published archives have); as a folder `notMNIST_small/`, or as the
/// archive `notMNIST_small.tar.gz` when `archive` is set.
pub fn write_miniature(dir: &Path, per: usize, bad: usize, archive: bool, seed: u64) -> Result<()> {
    use rand::Rng;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for (i, l) in LETTERS.iter().enumerate() {
        for k in 0..per {
            let img = image::GrayImage::from_fn(SIDE as u32, SIDE as u32, |x, y| {
                let on = (x as usize / 3) == i || (y as usize / 3) == (9 - i);
                let base: u8 = if on { 170 } else { 0 };
                image::Luma([base.saturating_add(rng.random_range(0..60u8))])
            });
            let mut png = Vec::new();
            img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)?;
            files.push((format!("{l}/font{k:03}.png"), png));
        }
    }
    for k in 0..bad {
        let bytes = if k % 2 == 0 {
            Vec::new()
        } else {
            b"\x89PNG\r\n\x1a\n truncated".to_vec()
        };
        files.push((format!("A/broken{k}.png"), bytes));
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    if archive {
        let path = dir.join("notMNIST_small.tar.gz");
        let f =
            std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        let gz = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
        let mut tb = tar::Builder::new(gz);
        for (name, bytes) in &files {
            let mut h = tar::Header::new_gnu();
            h.set_size(bytes.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            tb.append_data(&mut h, format!("notMNIST_small/{name}"), bytes.as_slice())?;
        }
        tb.into_inner()?.finish()?;
    } else {
        let root = dir.join("notMNIST_small");
        for l in LETTERS {
            std::fs::create_dir_all(root.join(l.to_string()))?;
        }
        for (name, bytes) in &files {
            std::fs::write(root.join(name), bytes)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_and_archive_give_the_same_images_and_skip_bad_files() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        write_miniature(a.path(), 3, 2, false, 7).unwrap();
        write_miniature(b.path(), 3, 2, true, 7).unwrap();
        let fa = NotMnist::load(a.path()).unwrap();
        let fb = NotMnist::load(b.path()).unwrap();
        assert_eq!(fa.len(), 30);
        assert_eq!(fa.skipped.len(), 2);
        assert_eq!((fa.pixels.len(), fa.labels.len()), (30 * 784, 30));
        assert_eq!(fa.pixels, fb.pixels);
        assert_eq!(fa.labels, fb.labels);
        assert_eq!(fb.skipped.len(), 2);
        // Letter order, three of each.
        assert_eq!(&fa.labels[..4], &[0, 0, 0, 1]);
        assert!(fb.source.ends_with("notMNIST_small.tar.gz"));
    }

    #[test]
    fn wrong_sizes_missing_letters_and_truncated_archives_are_named() {
        let d = tempfile::tempdir().unwrap();
        write_miniature(d.path(), 1, 0, false, 1).unwrap();
        let big = image::GrayImage::new(32, 32);
        big.save(d.path().join("notMNIST_small/C/odd.png")).unwrap();
        let e = format!("{:#}", NotMnist::load(d.path()).unwrap_err());
        assert!(e.contains("C/odd.png") && e.contains("32x32"), "{e}");
        std::fs::remove_dir_all(d.path().join("notMNIST_small/J")).unwrap();
        let e = format!("{:#}", NotMnist::load(d.path()).unwrap_err());
        assert!(e.contains("notMNIST_small/J"), "{e}");

        let t = tempfile::tempdir().unwrap();
        write_miniature(t.path(), 2, 0, true, 1).unwrap();
        let p = t.path().join("notMNIST_small.tar.gz");
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
        let e = format!("{:#}", NotMnist::load(t.path()).unwrap_err());
        assert!(e.contains("notMNIST_small.tar.gz"), "{e}");
        let e = format!("{:#}", NotMnist::load(&t.path().join("x")).unwrap_err());
        assert!(e.contains("no NotMNIST copy"), "{e}");
    }

    #[test]
    fn split_sizes_and_disjointness() {
        let (tr, va, te) = split(40_000, 0);
        assert_eq!((tr.len(), va.len(), te.len()), (25_000, 5_000, 5_000));
        let (tr, va, te) = split(18_724, 0);
        assert_eq!((tr.len(), va.len(), te.len()), (13_374, 2_674, 2_674));
        let mut all: Vec<usize> = tr.iter().chain(&va).chain(&te).copied().collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 13_374 + 2 * 2_674);
        assert_eq!(split(100, 3), split(100, 3));
        assert_ne!(split(100, 3), split(100, 4));
    }
}
