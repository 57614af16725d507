//! CelebA (Liu et al. 2015) as 40 binary attribute tasks on shared inputs (Mueller et al. 2025,
//! App. A; Elich et al. §4.2, images resized to 64×64).
//!
//! The publisher's files: `img_align_celeba/NNNNNN.jpg` (202,599 aligned 178×218 JPEGs),
//! `list_attr_celeba.txt` (the image count, a line of the 40 attribute names, then one line per
//! image: its file name and 40 values of −1 or 1) and `list_eval_partition.txt` (file name and
//! 0 = train, 1 = val, 2 = test: 162,770 / 19,867 / 19,962), either side by side (torchvision's
//! `celeba/` folder) or in the Google Drive layout's `Img/`, `Anno/` and `Eval/` folders.
//!
//! Decoding 200k JPEGs every run is wasteful, so `mtlscope data prepare celeba --src DIR --out
//! CACHE` ([`prepare`]) decodes them once, in parallel, resizes each to the cache's size
//! (bilinear with area averaging when shrinking: the `image` crate's triangle filter, like PIL's
//! bilinear resize that torchvision's `Resize` applies to CelebA; the whole aligned image,
//! aspect not kept, as Elich's 64×64), and writes one file ([`CACHE_NAME`]):
//!
//! ```text
//! "MTLSCOPE-CELEBA\n"  u64 LE header length  header (JSON, [`Header`])
//! partition u8 × n   attributes u8 × n × 40 (0/1)   pixels u8 × n × 3 × H × W (RGB planes)
//! ```
//!
//! Records are ordered by partition, then file name, so each split is one contiguous range and
//! training reads the pixels into one tensor without a copy per split or per task. The header
//! records the source files' sizes and modification times and the image count: loading a cache
//! whose source still exists but changed, written by another format version, or shorter or
//! longer than the header says, stops with a message that says how to rebuild it. The
//! per-channel mean and standard deviation of the training partition's pixels (x / 255) are
//! computed while preparing and normalise every batch (as CIFAR-100's).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

use super::{Dataset, Inputs, Split, TaskData};
use crate::config::DataConfig;
use crate::task::binary::BinarySpec;
use crate::task::{TaskInfo, TaskSpec};

/// The 40 attributes in `list_attr_celeba.txt`'s order: the task names.
pub const ATTRIBUTES: [&str; 40] = [
    "5_o_Clock_Shadow",
    "Arched_Eyebrows",
    "Attractive",
    "Bags_Under_Eyes",
    "Bald",
    "Bangs",
    "Big_Lips",
    "Big_Nose",
    "Black_Hair",
    "Blond_Hair",
    "Blurry",
    "Brown_Hair",
    "Bushy_Eyebrows",
    "Chubby",
    "Double_Chin",
    "Eyeglasses",
    "Goatee",
    "Gray_Hair",
    "Heavy_Makeup",
    "High_Cheekbones",
    "Male",
    "Mouth_Slightly_Open",
    "Mustache",
    "Narrow_Eyes",
    "No_Beard",
    "Oval_Face",
    "Pale_Skin",
    "Pointy_Nose",
    "Receding_Hairline",
    "Rosy_Cheeks",
    "Sideburns",
    "Smiling",
    "Straight_Hair",
    "Wavy_Hair",
    "Wearing_Earrings",
    "Wearing_Hat",
    "Wearing_Lipstick",
    "Wearing_Necklace",
    "Wearing_Necktie",
    "Young",
];

/// The cache's file name when `--out` or `data.data_dir` names a folder.
pub const CACHE_NAME: &str = "celeba.mtlcache";
const MAGIC: &[u8; 16] = b"MTLSCOPE-CELEBA\n";
/// Bumped whenever the layout or the preprocessing changes: older caches are then stale.
const VERSION: u32 = 1;
/// Default image side (Elich et al.).
pub const DEFAULT_SIZE: u32 = 64;

/// The cache header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// Format version ([`VERSION`] when written).
    pub version: u32,
    /// The folder prepared from.
    pub source: PathBuf,
    /// Size and modification time of the attribute and partition files when prepared.
    pub fingerprint: Fingerprint,
    /// Image height and width.
    pub height: u32,
    /// Image width.
    pub width: u32,
    /// Records (train, then val, then test).
    pub count: usize,
    /// Records per partition: train, val, test.
    pub partition_counts: [usize; 3],
    /// Attribute names, as the source listed them.
    pub attributes: Vec<String>,
    /// Per-channel mean of x / 255 over the training partition.
    pub train_mean: Vec<f64>,
    /// Per-channel standard deviation of x / 255 over the training partition.
    pub train_std: Vec<f64>,
    /// How images were resized, in words.
    pub resize: String,
}

/// What identifies a source copy cheaply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// (bytes, seconds since the epoch of the last modification) of `list_attr_celeba.txt`.
    pub attr_file: (u64, u64),
    /// The same for `list_eval_partition.txt`.
    pub partition_file: (u64, u64),
    /// Images listed.
    pub images: usize,
}

/// The source files of a CelebA copy.
#[derive(Debug, Clone)]
pub struct Source {
    /// The folder given.
    pub root: PathBuf,
    /// `img_align_celeba/`.
    pub images: PathBuf,
    /// `list_attr_celeba.txt`.
    pub attr: PathBuf,
    /// `list_eval_partition.txt`.
    pub partition: PathBuf,
}

impl Source {
    /// Finds the three parts under `root`, in either published layout.
    pub fn find(root: &Path) -> Result<Self> {
        let first = |cands: &[PathBuf], what: &str| -> Result<PathBuf> {
            cands.iter().find(|p| p.exists()).cloned().with_context(|| {
                let l: Vec<String> = cands.iter().map(|p| p.display().to_string()).collect();
                format!(
                    "CelebA source {}: no {what} (looked for {})",
                    root.display(),
                    l.join(", ")
                )
            })
        };
        Ok(Self {
            root: root.to_path_buf(),
            images: first(
                &[
                    root.join("img_align_celeba"),
                    root.join("Img").join("img_align_celeba"),
                ],
                "image folder",
            )?,
            attr: first(
                &[
                    root.join("list_attr_celeba.txt"),
                    root.join("Anno").join("list_attr_celeba.txt"),
                ],
                "attribute list",
            )?,
            partition: first(
                &[
                    root.join("list_eval_partition.txt"),
                    root.join("Eval").join("list_eval_partition.txt"),
                ],
                "partition list",
            )?,
        })
    }

    fn fingerprint(&self, images: usize) -> Result<Fingerprint> {
        let stat = |p: &Path| -> Result<(u64, u64)> {
            let m = std::fs::metadata(p).with_context(|| format!("reading {}", p.display()))?;
            let t = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_secs());
            Ok((m.len(), t))
        };
        Ok(Fingerprint {
            attr_file: stat(&self.attr)?,
            partition_file: stat(&self.partition)?,
            images,
        })
    }
}

/// One line of the attribute list: the image's file name and its 40 values as 0/1.
pub type AttributeRow = (String, [u8; 40]);

/// The attribute list: names, and per image its file name and 40 values as 0/1.
pub fn read_attributes(path: &Path) -> Result<(Vec<String>, Vec<AttributeRow>)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut lines = text.lines();
    let count: usize = lines
        .next()
        .and_then(|l| l.trim().parse().ok())
        .with_context(|| format!("{}: line 1 must be the number of images", path.display()))?;
    let names: Vec<String> = lines
        .next()
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    if names.len() != 40 {
        bail!(
            "{}: line 2 lists {} attribute names; CelebA has 40",
            path.display(),
            names.len()
        );
    }
    let mut rows = Vec::with_capacity(count);
    for (i, line) in lines.enumerate() {
        let lineno = i + 3;
        let mut f = line.split_whitespace();
        let Some(file) = f.next() else { continue };
        let vals: Vec<&str> = f.collect();
        if vals.len() != 40 {
            bail!(
                "{}: line {lineno} ({file}) has {} attribute values, expected 40",
                path.display(),
                vals.len()
            );
        }
        let mut a = [0u8; 40];
        for (k, v) in vals.iter().enumerate() {
            a[k] = match *v {
                "1" => 1,
                "-1" | "0" => 0,
                other => bail!(
                    "{}: line {lineno} ({file}), attribute {} is `{other}`, expected -1 or 1",
                    path.display(),
                    names[k]
                ),
            };
        }
        rows.push((file.to_string(), a));
    }
    if rows.len() != count {
        bail!(
            "{}: line 1 announces {count} images but {} are listed (truncated file?)",
            path.display(),
            rows.len()
        );
    }
    Ok((names, rows))
}

/// The partition list: file name → 0 (train), 1 (val) or 2 (test).
pub fn read_partition(path: &Path) -> Result<std::collections::HashMap<String, u8>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut map = std::collections::HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let f: Vec<&str> = line.split_whitespace().collect();
        match f[..] {
            [] => {}
            [file, p @ ("0" | "1" | "2")] => {
                map.insert(file.to_string(), p.as_bytes()[0] - b'0');
            }
            _ => bail!(
                "{}: line {} is `{line}`, expected `<file> <0|1|2>`",
                path.display(),
                i + 1
            ),
        }
    }
    Ok(map)
}

/// Parses `--size`: `N` (N×N) or `HxW`.
pub fn parse_size(s: &str) -> Result<(u32, u32)> {
    let parse = |v: &str| -> Result<u32> {
        match v.trim().parse::<u32>() {
            Ok(n) if (8..=1024).contains(&n) => Ok(n),
            _ => bail!("--size: `{s}` is not N or HxW with sides 8 to 1024"),
        }
    };
    match s.split_once(['x', 'X']) {
        Some((h, w)) => Ok((parse(h)?, parse(w)?)),
        None => parse(s).map(|n| (n, n)),
    }
}

/// The cache file `path` names: itself, or [`CACHE_NAME`] inside it when it is a folder.
pub fn cache_path(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join(CACHE_NAME)
    } else {
        path.to_path_buf()
    }
}

/// Decodes the copy at `src` into the cache `out` at `size` (module docs) with `threads`
/// decoders, showing a progress bar when `progress`. Returns the header written.
pub fn prepare(
    src: &Path,
    out: &Path,
    size: (u32, u32),
    threads: usize,
    progress: bool,
) -> Result<Header> {
    let source = Source::find(src)?;
    let (names, rows) = read_attributes(&source.attr)?;
    let part = read_partition(&source.partition)?;
    let mut records: Vec<(u8, String, [u8; 40])> = Vec::with_capacity(rows.len());
    for (file, a) in rows {
        let Some(&p) = part.get(&file) else {
            bail!(
                "{}: {file} is in {} but has no partition",
                source.partition.display(),
                source.attr.display()
            );
        };
        records.push((p, file, a));
    }
    records.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    let n = records.len();
    if n == 0 {
        bail!("{}: lists no image", source.attr.display());
    }
    let (h, w) = size;
    let img = 3 * h as usize * w as usize;
    let mut pixels = vec![0u8; n * img];
    let bar = if progress {
        let b = indicatif::ProgressBar::new(n as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "decoding CelebA {bar:30} {pos}/{len} images [{elapsed_precise}, ETA {eta}]",
            )
            .expect("valid template"),
        );
        b
    } else {
        indicatif::ProgressBar::hidden()
    };
    // Workers take chunks of records from a shared queue; the first error stops them all.
    const CHUNK: usize = 64;
    let queue = Mutex::new(pixels.chunks_mut(CHUNK * img).enumerate());
    let failed = AtomicBool::new(false);
    let first_error: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| loop {
                if failed.load(Ordering::Relaxed) {
                    return;
                }
                let Some((c, chunk)) = queue.lock().expect("queue").next() else {
                    return;
                };
                for (k, dst) in chunk.chunks_mut(img).enumerate() {
                    let file = &records[c * CHUNK + k].1;
                    if let Err(e) = decode_into(&source.images.join(file), (h, w), dst) {
                        failed.store(true, Ordering::Relaxed);
                        first_error.lock().expect("error slot").get_or_insert(e);
                        return;
                    }
                }
                bar.inc(chunk.len() as u64 / img as u64);
            });
        }
    });
    bar.finish_and_clear();
    if let Some(e) = first_error.into_inner().expect("error slot") {
        return Err(e);
    }
    let mut counts = [0usize; 3];
    for r in &records {
        counts[r.0 as usize] += 1;
    }
    if counts[0] == 0 {
        bail!(
            "{}: no training image (partition 0)",
            source.partition.display()
        );
    }
    let (train_mean, train_std) =
        channel_stats(&pixels[..counts[0] * img], h as usize * w as usize);
    let images_listed = std::fs::read_dir(&source.images)
        .with_context(|| format!("listing {}", source.images.display()))?
        .count();
    let header = Header {
        version: VERSION,
        source: std::fs::canonicalize(src).unwrap_or_else(|_| src.to_path_buf()),
        fingerprint: source.fingerprint(images_listed)?,
        height: h,
        width: w,
        count: n,
        partition_counts: counts,
        attributes: names,
        train_mean,
        train_std,
        resize: "whole aligned image to HxW, triangle (bilinear, area-averaging) filter".into(),
    };
    let out = cache_path(out);
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    // Write next to the target and rename: an interrupted prepare leaves no half cache.
    let tmp = out.with_extension("mtlcache.partial");
    let write = || -> Result<()> {
        let f = std::fs::File::create(&tmp)?;
        let mut f = std::io::BufWriter::new(f);
        let json = serde_json::to_vec(&header)?;
        f.write_all(MAGIC)?;
        f.write_all(&(json.len() as u64).to_le_bytes())?;
        f.write_all(&json)?;
        f.write_all(&records.iter().map(|r| r.0).collect::<Vec<u8>>())?;
        for r in &records {
            f.write_all(&r.2)?;
        }
        f.write_all(&pixels)?;
        f.into_inner()?.sync_all()?;
        Ok(())
    };
    write().with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &out)
        .with_context(|| format!("renaming {} to {}", tmp.display(), out.display()))?;
    Ok(header)
}

/// Decodes one JPEG, resizes it and stores its RGB planes in `dst` (3 × h × w bytes).
fn decode_into(path: &Path, (h, w): (u32, u32), dst: &mut [u8]) -> Result<()> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let img = image::load_from_memory_with_format(&bytes, image::ImageFormat::Jpeg)
        .with_context(|| format!("{}: unreadable JPEG", path.display()))?
        .into_rgb8();
    let img = if img.dimensions() == (w, h) {
        img
    } else {
        image::imageops::resize(&img, w, h, image::imageops::FilterType::Triangle)
    };
    let plane = (h * w) as usize;
    for (i, px) in img.pixels().enumerate() {
        for c in 0..3 {
            dst[c * plane + i] = px.0[c];
        }
    }
    Ok(())
}

/// Per-channel mean and standard deviation of x / 255 over `[n, 3, plane]` pixels, summed
/// exactly in integers.
fn channel_stats(pixels: &[u8], plane: usize) -> (Vec<f64>, Vec<f64>) {
    let (mut s, mut s2) = ([0u64; 3], [0u64; 3]);
    for img in pixels.chunks_exact(3 * plane) {
        for c in 0..3 {
            for &v in &img[c * plane..(c + 1) * plane] {
                s[c] += v as u64;
                s2[c] += (v as u64) * (v as u64);
            }
        }
    }
    let n = (pixels.len() / 3) as f64;
    let mean: Vec<f64> = (0..3).map(|c| s[c] as f64 / n / 255.0).collect();
    let std: Vec<f64> = (0..3)
        .map(|c| {
            let m = s[c] as f64 / n;
            ((s2[c] as f64 / n - m * m).max(1e-12)).sqrt() / 255.0
        })
        .collect();
    (mean, std)
}

/// A loaded cache.
pub struct Cache {
    /// Its header.
    pub header: Header,
    /// Partition per record.
    pub partition: Vec<u8>,
    /// 40 attribute values (0/1) per record.
    pub attrs: Vec<u8>,
    /// Pixels `[n, 3, H, W]`, `u8`.
    pub pixels: Tensor,
}

/// Reads and checks the cache header at `path` (magic, version, length, staleness).
pub fn read_header(path: &Path) -> Result<(Header, u64)> {
    let rebuild =
        "rebuild it with `mtlscope data prepare celeba --src <CelebA folder> --out <cache>`";
    let mut f = std::fs::File::open(path)
        .with_context(|| format!("{}: no CelebA cache here; {rebuild}", path.display()))?;
    let mut magic = [0u8; 16];
    let mut len = [0u8; 8];
    f.read_exact(&mut magic)
        .and_then(|_| f.read_exact(&mut len))
        .ok()
        .filter(|_| &magic == MAGIC)
        .with_context(|| {
            format!(
                "{}: not a CelebA cache written by mtlscope; {rebuild}",
                path.display()
            )
        })?;
    let hlen = u64::from_le_bytes(len);
    let file_len = f.metadata()?.len();
    if hlen > file_len {
        bail!("{}: truncated header; {rebuild}", path.display());
    }
    let mut json = vec![0u8; hlen as usize];
    f.read_exact(&mut json)
        .with_context(|| format!("{}: truncated header; {rebuild}", path.display()))?;
    let header: Header = serde_json::from_slice(&json)
        .with_context(|| format!("{}: unreadable header; {rebuild}", path.display()))?;
    if header.version != VERSION {
        bail!(
            "{}: stale cache (format version {}, this mtlscope writes {VERSION}); {rebuild}",
            path.display(),
            header.version
        );
    }
    let data_start = 24 + hlen;
    let n = header.count as u64;
    let want = data_start + n + 40 * n + n * 3 * header.height as u64 * header.width as u64;
    if file_len != want {
        bail!(
            "{}: {} bytes, but its header describes {want} ({} images of {}x{}): truncated or \
             damaged; {rebuild}",
            path.display(),
            file_len,
            n,
            header.height,
            header.width
        );
    }
    // A source that still exists must be the one prepared from.
    if let Ok(src) = Source::find(&header.source) {
        let images = std::fs::read_dir(&src.images).map_or(0, |d| d.count());
        let now = src.fingerprint(images)?;
        if now != header.fingerprint {
            bail!(
                "{}: stale cache: the source {} changed since it was prepared ({:?} then, {:?} \
                 now); {rebuild}",
                path.display(),
                header.source.display(),
                header.fingerprint,
                now
            );
        }
    }
    Ok((header, data_start))
}

impl Cache {
    /// Loads the cache at `path` ([`cache_path`]), pixels read straight into one tensor.
    pub fn load(path: &Path) -> Result<Self> {
        let path = cache_path(path);
        let (header, start) = read_header(&path)?;
        let mut f = std::io::BufReader::with_capacity(
            1 << 20,
            std::fs::File::open(&path).with_context(|| format!("opening {}", path.display()))?,
        );
        std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(start))?;
        let n = header.count;
        let mut partition = vec![0u8; n];
        let mut attrs = vec![0u8; 40 * n];
        let (h, w) = (header.height as i64, header.width as i64);
        let pixels = Tensor::empty([n as i64, 3, h, w], (Kind::Uint8, tch::Device::Cpu));
        let bytes = n * 3 * (h * w) as usize;
        // SAFETY: `pixels` is a fresh, contiguous CPU u8 tensor of exactly `bytes` bytes that
        // nothing else references until this function returns it.
        let dst = unsafe { std::slice::from_raw_parts_mut(pixels.data_ptr() as *mut u8, bytes) };
        f.read_exact(&mut partition)
            .and_then(|_| f.read_exact(&mut attrs))
            .and_then(|_| f.read_exact(dst))
            .with_context(|| format!("reading {}", path.display()))?;
        if let Some(i) = partition.iter().position(|&p| p > 2) {
            bail!(
                "{}: record {i} has partition {}: damaged cache",
                path.display(),
                partition[i]
            );
        }
        if !partition.is_sorted() {
            bail!(
                "{}: records not ordered by partition: damaged cache",
                path.display()
            );
        }
        Ok(Self {
            header,
            partition,
            attrs,
            pixels,
        })
    }
}

/// The CelebA dataset family.
pub struct Celeba;

impl Dataset for Celeba {
    fn name(&self) -> &'static str {
        "celeba"
    }

    fn about(&self) -> &'static str {
        "CelebA: 40 binary face attributes on shared inputs, official partition, from a `data prepare` cache (Mueller et al. 2025, App. A; Elich et al.)"
    }

    fn layout(&self) -> &'static str {
        "data.data_dir = the cache `mtlscope data prepare celeba --src SRC --out CACHE` wrote (the file, or the folder holding celeba.mtlcache); SRC holds img_align_celeba/*.jpg, list_attr_celeba.txt and list_eval_partition.txt (side by side, or in Img/, Anno/, Eval/)"
    }

    fn tasks(&self) -> Vec<TaskInfo> {
        let kind = spec().build().expect("a valid spec");
        ATTRIBUTES
            .iter()
            .map(|n| TaskInfo::new(n, kind.as_ref()))
            .collect()
    }

    fn load(&self, cfg: &DataConfig) -> Result<Vec<TaskData>> {
        let Some(dir) = &cfg.data_dir else {
            bail!(
                "data.data_dir: CelebA trains from a cache; write one with `mtlscope data \
                 prepare celeba --src <CelebA folder> --out <cache>` and point data.data_dir \
                 (or --data-dir) at it"
            );
        };
        let c = Cache::load(dir)?;
        if c.header.attributes != ATTRIBUTES {
            bail!(
                "{}: attributes {:?} are not CelebA's 40",
                cache_path(dir).display(),
                c.header.attributes
            );
        }
        let [tr, va, te] = c.header.partition_counts;
        let mut ranges = [(0, tr), (tr, va), (tr + va, te)];
        if let Some(l) = cfg.train_limit {
            ranges[0].1 = ranges[0].1.min(l);
        }
        let x: Vec<Tensor> = ranges
            .iter()
            .map(|&(s, len)| c.pixels.narrow(0, s as i64, len as i64))
            .collect();
        let inputs = Inputs::Pixels {
            mean: c.header.train_mean.clone(),
            std: c.header.train_std.iter().map(|s| s.max(1e-12)).collect(),
        };
        let mut tasks = Vec::new();
        for name in &cfg.tasks {
            let Some(k) = ATTRIBUTES.iter().position(|a| a == name) else {
                bail!("data.tasks: unknown celeba task `{name}`");
            };
            let split = |i: usize| {
                let (s, len) = ranges[i];
                let y: Vec<f32> = (s..s + len).map(|r| c.attrs[r * 40 + k] as f32).collect();
                Split {
                    x: x[i].shallow_clone(),
                    y: Tensor::from_slice(&y),
                }
            };
            tasks.push(
                TaskData::new(name, spec(), split(0), split(1), split(2))?
                    .with_inputs(inputs.clone()),
            );
        }
        Ok(tasks)
    }
}

fn spec() -> TaskSpec {
    TaskSpec::Binary(BinarySpec {})
}

/// Writes a miniature CelebA in the publisher's layout under `dir` (tests, demos): `n` aligned
/// JPEGs of `w`×`h` whose attribute k is 1 when a band k of the image is bright (learnable),
/// the attribute list and the partition list (80% train, 10% val, 10% test, at least one
/// each).
pub fn write_miniature(dir: &Path, n: usize, (w, h): (u32, u32), seed: u64) -> Result<()> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let imgs = dir.join("img_align_celeba");
    std::fs::create_dir_all(&imgs).with_context(|| format!("creating {}", imgs.display()))?;
    let mut attr = format!("{n}\n{}\n", ATTRIBUTES.join(" "));
    let mut part = String::new();
    let (n_val, n_test) = ((n / 10).max(1), (n / 10).max(1));
    for i in 0..n {
        let file = format!("{:06}.jpg", i + 1);
        let a: Vec<bool> = (0..40).map(|_| rng.random_bool(0.5)).collect();
        let img = image::RgbImage::from_fn(w, h, |x, y| {
            // Attribute k lights column band k % 8 (channel k / 8 % 3) in row band k / 8.
            let on = (0..40)
                .any(|k| a[k] && (x * 8 / w) as usize == k % 8 && (y * 5 / h) as usize == k / 8);
            let v = if on { 200 } else { 30 };
            image::Rgb([v, v / 2 + 20, 255 - v])
        });
        img.save_with_format(imgs.join(&file), image::ImageFormat::Jpeg)
            .with_context(|| format!("writing {file}"))?;
        let vals: Vec<&str> = a.iter().map(|&b| if b { " 1" } else { "-1" }).collect();
        attr += &format!("{file} {}\n", vals.join(" "));
        let p = if i >= n - n_test {
            2
        } else if i >= n - n_test - n_val {
            1
        } else {
            0
        };
        part += &format!("{file} {p}\n");
    }
    std::fs::write(dir.join("list_attr_celeba.txt"), attr)?;
    std::fs::write(dir.join("list_eval_partition.txt"), part)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(dir: &Path, tasks: &[&str]) -> DataConfig {
        DataConfig {
            dataset: "celeba".into(),
            tasks: tasks.iter().map(|t| t.to_string()).collect(),
            data_dir: Some(dir.to_path_buf()),
            ..DataConfig::default()
        }
    }

    #[test]
    fn prepare_then_load_gives_shapes_labels_splits_and_shared_inputs() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("celeba");
        write_miniature(&src, 20, (36, 44), 1).unwrap();
        let cache = d.path().join("cache");
        std::fs::create_dir_all(&cache).unwrap();
        let h = prepare(&src, &cache, (16, 16), 2, false).unwrap();
        assert_eq!(h.partition_counts, [16, 2, 2]);
        let t = Celeba
            .load(&cfg(&cache, &["Smiling", "5_o_Clock_Shadow"]))
            .unwrap();
        assert_eq!(
            (t[0].train.len(), t[0].val.len(), t[0].test.len()),
            (16, 2, 2)
        );
        assert_eq!(t[0].train.x.size(), [16, 3, 16, 16]);
        assert!(crate::data::shares_inputs(&t));
        // The labels are the attribute list's, in file order within each partition.
        let (_, rows) = read_attributes(&src.join("list_attr_celeba.txt")).unwrap();
        let y = Vec::<f32>::try_from(&t[0].train.y).unwrap();
        let k = ATTRIBUTES.iter().position(|a| *a == "Smiling").unwrap();
        let want: Vec<f32> = rows[..16].iter().map(|r| r.1[k] as f32).collect();
        assert_eq!(y, want);
        // The pixels are the resized JPEG's planes.
        let img = image::open(src.join("img_align_celeba/000001.jpg"))
            .unwrap()
            .into_rgb8();
        let small = image::imageops::resize(&img, 16, 16, image::imageops::FilterType::Triangle);
        let got = Vec::<u8>::try_from(&t[0].train.x.get(0).get(1).reshape([-1])).unwrap();
        let want: Vec<u8> = small.pixels().map(|p| p.0[1]).collect();
        assert_eq!(got, want);
        // Parallel decoding gives the same cache as one thread.
        let one = d.path().join("one.mtlcache");
        prepare(&src, &one, (16, 16), 1, false).unwrap();
        assert_eq!(
            std::fs::read(&one).unwrap(),
            std::fs::read(cache.join(CACHE_NAME)).unwrap()
        );
    }

    #[test]
    fn bad_sources_and_caches_are_named() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("celeba");
        write_miniature(&src, 10, (20, 24), 2).unwrap();
        let cache = d.path().join("c.mtlcache");
        let e = |r: Result<Header>| format!("{:#}", r.unwrap_err());

        // An unreadable image names its file.
        let jpg = src.join("img_align_celeba/000004.jpg");
        let good = std::fs::read(&jpg).unwrap();
        std::fs::write(&jpg, b"not a jpeg").unwrap();
        let m = e(prepare(&src, &cache, (8, 8), 2, false));
        assert!(m.contains("000004.jpg") && m.contains("unreadable"), "{m}");
        std::fs::write(&jpg, &good).unwrap();

        // A missing attribute column names the line.
        let attr = src.join("list_attr_celeba.txt");
        let text = std::fs::read_to_string(&attr).unwrap();
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        lines[4] = lines[4].rsplit_once(' ').unwrap().0.to_string();
        std::fs::write(&attr, lines.join("\n") + "\n").unwrap();
        let m = e(prepare(&src, &cache, (8, 8), 2, false));
        assert!(
            m.contains("line 5") && m.contains("39 attribute values"),
            "{m}"
        );
        std::fs::write(&attr, &text).unwrap();

        // A truncated cache, and a stale one, say how to rebuild.
        prepare(&src, &cache, (8, 8), 2, false).unwrap();
        let bytes = std::fs::read(&cache).unwrap();
        std::fs::write(&cache, &bytes[..bytes.len() - 5]).unwrap();
        let m = format!("{:#}", Celeba.load(&cfg(&cache, &["Young"])).err().unwrap());
        assert!(m.contains("truncated") && m.contains("data prepare"), "{m}");
        std::fs::write(&cache, &bytes).unwrap();
        assert!(Celeba.load(&cfg(&cache, &["Young"])).is_ok());
        std::fs::write(&attr, text.replace("000002.jpg  1", "000002.jpg -1") + " ").unwrap();
        let m = format!("{:#}", Celeba.load(&cfg(&cache, &["Young"])).err().unwrap());
        assert!(m.contains("stale"), "{m}");
        let m = format!(
            "{:#}",
            Celeba
                .load(&cfg(&d.path().join("none"), &["Young"]))
                .err()
                .unwrap()
        );
        assert!(m.contains("no CelebA cache"), "{m}");
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("64").unwrap(), (64, 64));
        assert_eq!(parse_size("72x64").unwrap(), (72, 64));
        assert!(parse_size("4").is_err() && parse_size("a").is_err());
    }
}
