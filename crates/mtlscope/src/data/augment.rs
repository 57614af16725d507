//! Geometric augmentation of training batches, applied alike to an image and its dense
//! targets: horizontal flip (probability 1/2; the normals' x component changes sign),
//! pad-and-crop (pad by p on every side, crop a random H × W window: the standard CIFAR
//! augmentation, Krizhevsky 2009 / He et al. 2016) and scale-crop (MTAN's `RandomScaleCrop`,
//! specs/mtan_data.md §1: s drawn from {1, 1.2, 1.5}, a ⌊H/s⌋ × ⌊W/s⌋ window at a uniformly
//! drawn offset resized back to H × W — bilinear with align_corners for images and normals,
//! nearest for labels and depth — and depth divided by s). Padded pixels are 0 in the
//! (normalised) inputs — the mean — and the kind's "missing" marker in dense targets
//! ([`crate::task::SpatialTarget`]), so they enter no loss or metric. Image-level targets are
//! left as they are. Order: scale-crop, pad-and-crop, flip (MTAN flips after scaling).
//!
//! A step's draw is a function of (`train.seed`, step, stream) alone, so a resumed run sees the
//! same batches; tasks on shared inputs share one draw, so every target moves with its image.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::Tensor;

use crate::config::{Augmentation, TrainConfig};
use crate::task::{Resize, SpatialTarget};

/// MTAN's scales.
pub const SCALES: [f64; 3] = [1.0, 1.2, 1.5];

/// The configured augmentations.
#[derive(Debug, Clone, PartialEq)]
pub struct Augment {
    flip: bool,
    crop_pad: Option<i64>,
    scale_crop: bool,
}

/// One batch's random choices: per example, a flip and a crop offset (dy, dx) in [0, 2p].
#[derive(Debug, Clone, PartialEq)]
pub struct Draw {
    /// Flip example i.
    pub flip: Vec<bool>,
    /// Crop offsets of example i (all 0 without `crop`).
    pub offset: Vec<(i64, i64)>,
    /// Scale-crop of example i: the scale and the window's offset as fractions in [0, 1) of
    /// the free rows and columns (empty without `scale_crop`).
    pub scale: Vec<(f64, f64, f64)>,
}

impl Augment {
    /// The augmentations `cfg.augment` names, or `None` when it names none.
    pub fn from_config(cfg: &TrainConfig) -> Option<Self> {
        if cfg.augment.is_empty() {
            return None;
        }
        Some(Self {
            flip: cfg.augment.contains(&Augmentation::Hflip),
            crop_pad: cfg
                .augment
                .contains(&Augmentation::Crop)
                .then_some(cfg.crop_pad),
            scale_crop: cfg.augment.contains(&Augmentation::ScaleCrop),
        })
    }

    /// The choices for a batch of `n` at `step` of `stream` (a task index, or 0 for shared
    /// inputs), from `seed`.
    pub fn draw(&self, n: usize, seed: u64, step: usize, stream: u64) -> Draw {
        let s = seed
            ^ 0xa06_u64.rotate_left(40)
            ^ (stream << 48)
            ^ (step as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut rng = ChaCha8Rng::seed_from_u64(s);
        let p = self.crop_pad.unwrap_or(0);
        let mut draw = Draw {
            flip: Vec::with_capacity(n),
            offset: Vec::with_capacity(n),
            scale: Vec::new(),
        };
        for _ in 0..n {
            draw.flip.push(self.flip && rng.random::<bool>());
            draw.offset
                .push((rng.random_range(0..=2 * p), rng.random_range(0..=2 * p)));
            // Drawn only when configured, so runs without it keep their draws.
            if self.scale_crop {
                let s = SCALES[rng.random_range(0..SCALES.len())];
                draw.scale
                    .push((s, rng.random::<f64>(), rng.random::<f64>()));
            }
        }
        draw
    }

    /// Applies `draw` to a batch of inputs `[N, C, H, W]`.
    pub fn inputs(&self, x: &Tensor, draw: &Draw) -> Tensor {
        self.apply(
            x,
            draw,
            SpatialTarget {
                fill: 0.0,
                flip_negates: None,
                resize: Resize::Bilinear,
                divide_by_scale: false,
            },
        )
    }

    /// Applies `draw` to a batch of targets: dense ones (`[N, H, W]` or `[N, C, H, W]`) move with
    /// their images, image-level ones (`spatial` = `None`) stay.
    pub fn targets(&self, y: &Tensor, draw: &Draw, spatial: Option<SpatialTarget>) -> Tensor {
        match spatial {
            Some(s) => self.apply(y, draw, s),
            None => y.shallow_clone(),
        }
    }

    fn apply(&self, t: &Tensor, draw: &Draw, how: SpatialTarget) -> Tensor {
        let size = t.size();
        let (h, w) = (size[size.len() - 2], size[size.len() - 1]);
        let p = self.crop_pad.unwrap_or(0);
        let rows: Vec<Tensor> = (0..size[0])
            .map(|i| {
                let mut e = t.get(i);
                if let Some(&(s, u, v)) = draw.scale.get(i as usize) {
                    e = scale_crop(&e, s, u, v, how);
                }
                let (dy, dx) = draw.offset[i as usize];
                if p > 0 {
                    e = e
                        .constant_pad_nd([p, p, p, p])
                        .narrow(-2, dy, h)
                        .narrow(-1, dx, w);
                    // constant_pad_nd pads with 0; dense targets need their own marker.
                    if how.fill != 0.0 {
                        let inside = Tensor::ones([h, w], (tch::Kind::Bool, t.device()))
                            .constant_pad_nd([p, p, p, p])
                            .narrow(-2, dy, h)
                            .narrow(-1, dx, w);
                        e = e.where_self(&inside, &Tensor::from(how.fill).to_kind(e.kind()));
                    }
                }
                if draw.flip[i as usize] {
                    e = e.flip([-1]);
                    if let Some(c) = how.flip_negates {
                        let channels = e.size()[0];
                        let mut sign = vec![1f32; channels as usize];
                        sign[c as usize] = -1.0;
                        let sign = Tensor::from_slice(&sign)
                            .to_device(e.device())
                            .to_kind(e.kind())
                            .view([channels, 1, 1]);
                        e = e.g_mul(&sign);
                    }
                }
                e
            })
            .collect();
        Tensor::stack(&rows, 0)
    }
}

/// One example `[H, W]` or `[C, H, W]` scale-cropped by `s` at fractional offset (u, v).
fn scale_crop(e: &Tensor, s: f64, u: f64, v: f64, how: SpatialTarget) -> Tensor {
    let size = e.size();
    let (h, w) = (size[size.len() - 2], size[size.len() - 1]);
    // int(H / s) as MTAN; offsets uniform over 0 ..= H − h', as random.randint.
    let (ch, cw) = (((h as f64) / s) as i64, ((w as f64) / s) as i64);
    let top = ((u * (h - ch + 1) as f64) as i64).min(h - ch);
    let left = ((v * (w - cw + 1) as f64) as i64).min(w - cw);
    let crop = e.narrow(-2, top, ch).narrow(-1, left, cw);
    let four = if size.len() == 2 {
        crop.unsqueeze(0).unsqueeze(0)
    } else {
        crop.unsqueeze(0)
    };
    let kind = four.kind();
    let f = four.to_kind(tch::Kind::Float);
    let r = match how.resize {
        Resize::Bilinear => f.upsample_bilinear2d([h, w], true, None, None),
        Resize::Nearest => f.upsample_nearest2d([h, w], None, None),
    };
    let r = if how.divide_by_scale { r / s } else { r };
    r.to_kind(kind).view(size.as_slice())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    fn aug(flip: bool, pad: Option<i64>) -> Augment {
        Augment {
            flip,
            crop_pad: pad,
            scale_crop: false,
        }
    }

    #[test]
    fn flip_by_hand_negates_normals_x_and_twice_is_identity() {
        let a = aug(true, None);
        let x = Tensor::arange(6, (Kind::Float, Device::Cpu)).view([1, 1, 2, 3]);
        let d = Draw {
            flip: vec![true],
            offset: vec![(0, 0)],
            scale: vec![],
        };
        let y = a.inputs(&x, &d);
        assert_eq!(
            Vec::<f32>::try_from(&y.reshape([-1])).unwrap(),
            [2.0, 1.0, 0.0, 5.0, 4.0, 3.0]
        );
        assert!(a.inputs(&y, &d).equal(&x));
        let normals = Tensor::from_slice(&[0.6f32, 0.0, 0.0, 0.8, 0.8, 0.6]).view([1, 3, 1, 2]);
        let how = SpatialTarget {
            fill: 0.0,
            flip_negates: Some(0),
            resize: Resize::Bilinear,
            divide_by_scale: false,
        };
        let f = a.targets(&normals, &d, Some(how));
        // Pixel order reversed, then n_x negated.
        let want = [-0.0f32, -0.6, 0.8, 0.0, 0.6, 0.8];
        assert_eq!(Vec::<f32>::try_from(&f.reshape([-1])).unwrap(), want);
    }

    #[test]
    fn crop_moves_image_and_labels_together_and_fills_with_the_marker() {
        let a = aug(false, Some(1));
        // Label = pixel value: after a shifted crop they still agree wherever the label is
        // not the padding marker, and padded label pixels are the ignore label.
        let labels = Tensor::arange(16, (Kind::Int64, Device::Cpu)).view([1, 4, 4]);
        let x = labels.to_kind(Kind::Float).unsqueeze(1) + 1.0;
        let d = Draw {
            flip: vec![false],
            offset: vec![(0, 2)],
            scale: vec![],
        };
        let xs = a.inputs(&x, &d);
        let ys = a.targets(
            &labels,
            &d,
            Some(SpatialTarget {
                fill: -1.0,
                flip_negates: None,
                resize: Resize::Nearest,
                divide_by_scale: false,
            }),
        );
        // Offset (0, 2) with pad 1: rows shift down by one, columns left by one.
        let ys_v = Vec::<i64>::try_from(&ys.reshape([-1])).unwrap();
        assert_eq!(
            ys_v,
            [-1, -1, -1, -1, 1, 2, 3, -1, 5, 6, 7, -1, 9, 10, 11, -1]
        );
        let xs_v = Vec::<f32>::try_from(&xs.reshape([-1])).unwrap();
        for (xv, yv) in xs_v.iter().zip(&ys_v) {
            if *yv >= 0 {
                assert_eq!(*xv, *yv as f32 + 1.0);
            } else {
                assert_eq!(*xv, 0.0);
            }
        }
        // Image-level targets stay.
        let cls = Tensor::from_slice(&[3i64]);
        assert!(a.targets(&cls, &d, None).equal(&cls));
    }

    #[test]
    fn draws_are_a_function_of_seed_step_and_stream() {
        let a = aug(true, Some(4));
        assert_eq!(a.draw(8, 1, 5, 0), a.draw(8, 1, 5, 0));
        assert_ne!(a.draw(8, 1, 5, 0), a.draw(8, 1, 6, 0));
        assert_ne!(a.draw(8, 1, 5, 0), a.draw(8, 1, 5, 1));
        let d = a.draw(64, 2, 0, 0);
        assert!(d
            .offset
            .iter()
            .all(|&(y, x)| (0..=8).contains(&y) && (0..=8).contains(&x)));
        assert!(d.flip.iter().any(|f| *f) && d.flip.iter().any(|f| !*f));
    }

    #[test]
    fn scale_crop_by_hand_moves_targets_with_the_image() {
        let a = Augment {
            flip: false,
            crop_pad: None,
            scale_crop: true,
        };
        // 6x6, scale 1.5: a 4x4 window at (u, v) = (0.99, 0.0) → top 2, left 0, resized back.
        let d = Draw {
            flip: vec![false],
            offset: vec![(0, 0)],
            scale: vec![(1.5, 0.99, 0.0)],
        };
        let labels = Tensor::arange(36, (Kind::Int64, Device::Cpu)).view([1, 6, 6]);
        let nearest = SpatialTarget {
            fill: -1.0,
            flip_negates: None,
            resize: Resize::Nearest,
            divide_by_scale: false,
        };
        let y = a.targets(&labels, &d, Some(nearest));
        // Nearest 4 → 6: source index ⌊i · 4/6⌋ = 0,0,1,2,2,3; rows start at 2.
        let src = [0i64, 0, 1, 2, 2, 3];
        let want: Vec<i64> = (0..6)
            .flat_map(|r| src.iter().map(move |&c| (2 + src[r]) * 6 + c))
            .collect();
        assert_eq!(Vec::<i64>::try_from(&y.reshape([-1])).unwrap(), want);
        // Depth: the same window, values divided by the scale.
        let depth = (labels.to_kind(Kind::Float) + 1.0).unsqueeze(1);
        let dz = a.targets(
            &depth,
            &d,
            Some(SpatialTarget {
                fill: 0.0,
                flip_negates: None,
                resize: Resize::Nearest,
                divide_by_scale: true,
            }),
        );
        let got = Vec::<f32>::try_from(&dz.reshape([-1])).unwrap();
        for (g, w) in got.iter().zip(&want) {
            assert!((g - (*w as f32 + 1.0) / 1.5).abs() < 1e-6);
        }
        // Image, bilinear with align_corners: the window's corners land on the corners.
        let x = labels.to_kind(Kind::Float).unsqueeze(1);
        let xi = a.inputs(&x, &d);
        let v = Vec::<f32>::try_from(&xi.reshape([-1])).unwrap();
        assert_eq!((v[0], v[5], v[30], v[35]), (12.0, 15.0, 30.0, 33.0));
        // Scale 1 leaves everything as it was.
        let one = Draw {
            flip: vec![false],
            offset: vec![(0, 0)],
            scale: vec![(1.0, 0.5, 0.5)],
        };
        assert!(a.targets(&labels, &one, Some(nearest)).equal(&labels));
        assert!(a
            .draw(16, 3, 2, 0)
            .scale
            .iter()
            .all(|s| SCALES.contains(&s.0)));
    }
}
