//! `synthetic_scenes`: a small generated shared-input dataset with one task of every kind, so
//! the whole pipeline — spatial encoders, dense heads, shared-input steps, every metric, the
//! report — runs end to end on CPU in seconds, with no files. It is a test bed, not a benchmark.
//!
//! Each 3×16×16 image shows a square of side s ∈ {3, …, 8} at a random position on a tilted
//! background plane, drawn in the colour channel of its class c ∈ {0, 1, 2}, plus uniform
//! noise. One generator (ChaCha8, seeded by `data.split_seed` and the split) draws everything,
//! so the data is a function of the config. Every task labels every image (shared inputs):
//!
//! | task | kind | target |
//! |---|---|---|
//! | `shape` | multiclass (3) | c |
//! | `large` | binary | s ≥ 6 |
//! | `area` | regression (1) | 10·s² / (H·W) |
//! | `segment` | segmentation (4, ignore −1) | c + 1 on the square, 0 elsewhere |
//! | `depth` | depth | 1 on the square, 2 + a·x/W + b·y/H on the plane |
//! | `normal` | normals | (0, 0, 1) on the square, (−a/W, −b/H, 1) normalised on the plane |
//!
//! About 5% of the pixels are marked missing in every dense target (label −1, depth 0, normal
//! all-zero), as in the NYUv2 release, so the ignore/valid-pixel paths are exercised. Images
//! are stored as `u8` (intensity v ↦ round((v + 0.5) / 1.7 · 255)) and normalised per batch
//! with the training split's channel statistics ([`super::Inputs::Pixels`]), as large image
//! datasets are.

use anyhow::{bail, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::Tensor;

use super::{Dataset, Split, TaskData};
use crate::config::DataConfig;
use crate::task::depth::DepthSpec;
use crate::task::multiclass::MulticlassSpec;
use crate::task::normals::NormalsSpec;
use crate::task::regression::RegressionSpec;
use crate::task::segmentation::SegmentationSpec;
use crate::task::{binary::BinarySpec, TaskInfo, TaskSpec};

/// Image side.
const SIDE: usize = 16;
/// Examples per split: train, val, test.
const SIZES: [usize; 3] = [256, 64, 64];

/// The dataset.
pub struct SyntheticScenes;

/// The task names and kinds, in the order the table above lists them.
fn specs() -> Vec<(&'static str, TaskSpec)> {
    vec![
        ("shape", TaskSpec::Multiclass(MulticlassSpec::new(3))),
        ("large", TaskSpec::Binary(BinarySpec {})),
        ("area", TaskSpec::Regression(RegressionSpec::new(1))),
        (
            "segment",
            TaskSpec::Segmentation(SegmentationSpec {
                classes: 4,
                ignore_index: -1,
                decoder_channels: None,
            }),
        ),
        (
            "depth",
            TaskSpec::Depth(DepthSpec {
                decoder_channels: None,
            }),
        ),
        (
            "normal",
            TaskSpec::Normals(NormalsSpec {
                decoder_channels: None,
            }),
        ),
    ]
}

/// One generated split: the shared images and each task's targets, by task name.
struct Generated {
    x: Tensor,
    targets: Vec<(&'static str, Tensor)>,
}

/// Draws `n` scenes from `rng`.
fn generate(n: usize, rng: &mut ChaCha8Rng) -> Generated {
    let hw = SIDE * SIDE;
    let mut img = vec![0u8; n * 3 * hw];
    let (mut shape, mut large, mut area) = (vec![0i64; n], vec![0f32; n], vec![0f32; n]);
    let mut seg = vec![0i64; n * hw];
    let mut depth = vec![0f32; n * hw];
    let mut normal = vec![0f32; n * 3 * hw];
    for i in 0..n {
        let c = rng.random_range(0..3usize);
        let s = rng.random_range(3..=8usize);
        let (r0, c0) = (
            rng.random_range(0..=SIDE - s),
            rng.random_range(0..=SIDE - s),
        );
        let (a, b) = (
            rng.random_range(-0.5..0.5f32),
            rng.random_range(-0.5..0.5f32),
        );
        shape[i] = c as i64;
        large[i] = if s >= 6 { 1.0 } else { 0.0 };
        area[i] = 10.0 * (s * s) as f32 / hw as f32;
        let plane_n = {
            let v = [-a / SIDE as f32, -b / SIDE as f32, 1.0];
            let len = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
            [v[0] / len, v[1] / len, v[2] / len]
        };
        for y in 0..SIDE {
            for x in 0..SIDE {
                let p = y * SIDE + x;
                let on = (r0..r0 + s).contains(&y) && (c0..c0 + s).contains(&x);
                let plane = 2.0 + a * x as f32 / SIDE as f32 + b * y as f32 / SIDE as f32;
                for ch in 0..3 {
                    let base = if on && ch == c {
                        1.0
                    } else {
                        0.2 * (plane - 2.0)
                    };
                    let v = base + rng.random_range(-0.1..0.1f32);
                    img[(i * 3 + ch) * hw + p] =
                        ((v + 0.5) / 1.7 * 255.0).round().clamp(0.0, 255.0) as u8;
                }
                let missing = rng.random_range(0.0..1.0f32) < 0.05;
                let q = i * hw + p;
                seg[q] = match (missing, on) {
                    (true, _) => -1,
                    (false, true) => c as i64 + 1,
                    (false, false) => 0,
                };
                if !missing {
                    depth[q] = if on { 1.0 } else { plane };
                    let nv = if on { [0.0, 0.0, 1.0] } else { plane_n };
                    for (ch, v) in nv.iter().enumerate() {
                        normal[(i * 3 + ch) * hw + p] = *v;
                    }
                }
            }
        }
    }
    let (n, side) = (n as i64, SIDE as i64);
    Generated {
        x: Tensor::from_slice(&img).view([n, 3, side, side]),
        targets: vec![
            ("shape", Tensor::from_slice(&shape)),
            ("large", Tensor::from_slice(&large)),
            ("area", Tensor::from_slice(&area)),
            ("segment", Tensor::from_slice(&seg).view([n, side, side])),
            ("depth", Tensor::from_slice(&depth).view([n, 1, side, side])),
            (
                "normal",
                Tensor::from_slice(&normal).view([n, 3, side, side]),
            ),
        ],
    }
}

impl Dataset for SyntheticScenes {
    fn name(&self) -> &'static str {
        "synthetic_scenes"
    }

    fn about(&self) -> &'static str {
        "generated 3x16x16 scenes with one task of every kind on shared inputs (a test bed for the pipeline, no files)"
    }

    fn layout(&self) -> &'static str {
        "no files: generated from data.split_seed (256 train, 64 val, 64 test images)"
    }

    fn tasks(&self) -> Vec<TaskInfo> {
        specs()
            .into_iter()
            .map(|(name, spec)| {
                let kind = spec.build().expect("the built-in specs are valid");
                TaskInfo::new(name, kind.as_ref())
            })
            .collect()
    }

    fn load(&self, cfg: &DataConfig) -> Result<Vec<TaskData>> {
        let mut splits: Vec<Generated> = SIZES
            .iter()
            .enumerate()
            .map(|(i, &n)| {
                let seed = cfg.split_seed ^ (0x5ce9e5 << 8) ^ i as u64;
                generate(n, &mut ChaCha8Rng::seed_from_u64(seed))
            })
            .collect();
        if let Some(limit) = cfg.train_limit {
            let n = limit.min(SIZES[0]) as i64;
            let g = &mut splits[0];
            g.x = g.x.narrow(0, 0, n);
            for (_, t) in &mut g.targets {
                *t = t.narrow(0, 0, n);
            }
        }
        let inputs = super::Inputs::pixel_stats(&splits[0].x);
        let all = specs();
        let mut tasks = Vec::new();
        for name in &cfg.tasks {
            let Some((_, spec)) = all.iter().find(|(n, _)| n == name) else {
                bail!("data.tasks: unknown synthetic_scenes task `{name}`");
            };
            let pick = |g: &Generated| Split {
                // Shallow clones of one tensor: the tasks share their inputs.
                x: g.x.shallow_clone(),
                y: g.targets
                    .iter()
                    .find(|(n, _)| n == name)
                    .expect("every task has targets")
                    .1
                    .shallow_clone(),
            };
            tasks.push(
                TaskData::new(
                    name,
                    spec.clone(),
                    pick(&splits[0]),
                    pick(&splits[1]),
                    pick(&splits[2]),
                )?
                .with_inputs(inputs.clone()),
            );
        }
        Ok(tasks)
    }
}

/// For tests elsewhere in the crate: the named tasks and a `convnet_dense` network of block
/// widths `channels` on them, initialised from `seed`.
#[cfg(test)]
pub(crate) fn tasks_and_net(
    tasks: &[&str],
    channels: &[i64],
    seed: u64,
) -> (Vec<TaskData>, crate::model::MultiTaskNet) {
    let cfg = DataConfig {
        dataset: "synthetic_scenes".into(),
        tasks: tasks.iter().map(|t| t.to_string()).collect(),
        ..DataConfig::default()
    };
    let tasks = super::load_tasks(&cfg).unwrap();
    let model = crate::config::ModelConfig {
        encoder: "convnet_dense".into(),
        channels: channels.to_vec(),
        ..Default::default()
    };
    let heads = super::heads(&tasks);
    let side = SIDE as i64;
    let net =
        crate::model::MultiTaskNet::seeded(seed, &model, &heads, [3, side, side], tch::Device::Cpu)
            .unwrap();
    (tasks, net)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(tasks: &[&str]) -> Vec<TaskData> {
        let cfg = DataConfig {
            dataset: "synthetic_scenes".into(),
            tasks: tasks.iter().map(|t| t.to_string()).collect(),
            ..DataConfig::default()
        };
        SyntheticScenes.load(&cfg).unwrap()
    }

    #[test]
    fn tasks_share_inputs_and_targets_are_consistent() {
        let t = load(&["shape", "segment", "depth", "normal", "large", "area"]);
        assert!(super::super::shares_inputs(&t));
        assert_eq!(t[0].train.len(), 256);
        // Segment labels are the class + 1 on the square: the labels present in an image are
        // {0, c + 1} plus the ignore label.
        let shape = Vec::<i64>::try_from(&t[0].train.y).unwrap();
        let seg = &t[1].train.y;
        for (i, &c) in shape.iter().enumerate().take(20) {
            let labels = Vec::<i64>::try_from(&seg.get(i as i64).reshape([-1])).unwrap();
            assert!(labels.iter().all(|&l| l == -1 || l == 0 || l == c + 1));
            assert!(labels.contains(&(c + 1)));
        }
        // Missing pixels agree across the dense targets.
        let invalid_seg = seg.eq(-1);
        let invalid_depth = t[2].train.y.squeeze_dim(1).eq(0.0);
        assert!(invalid_seg.equal(&invalid_depth));
        let norm = t[3]
            .train
            .y
            .square()
            .sum_dim_intlist(1, false, None::<tch::Kind>);
        assert!(norm.eq(0.0).equal(&invalid_seg));
        // Valid normals are unit vectors.
        let valid = norm.masked_select(&invalid_seg.logical_not());
        assert!((valid - 1.0).abs().max().double_value(&[]) < 1e-5);
    }

    #[test]
    fn data_is_a_function_of_the_split_seed() {
        let a = load(&["shape"]);
        let b = load(&["shape"]);
        assert!(a[0].train.x.equal(&b[0].train.x));
        let cfg = DataConfig {
            dataset: "synthetic_scenes".into(),
            tasks: vec!["shape".into()],
            split_seed: 1,
            ..DataConfig::default()
        };
        let c = SyntheticScenes.load(&cfg).unwrap();
        assert!(!a[0].train.x.equal(&c[0].train.x));
    }
}
