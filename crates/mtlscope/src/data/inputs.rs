//! How a task's stored inputs become the network's inputs, per batch.
//!
//! Image datasets too large to hold as `f32` (CelebA: 200k × 3 × 64 × 64 is 9.8 GB in f32,
//! 2.5 GB in u8) keep their pixels as `u8` and convert each batch — training batches, evaluation
//! chunks, probe subsets — when it is drawn, on the device, so memory holds the compact copy
//! only. Converting per batch gives the same values as converting the whole split at once (the
//! conversion is elementwise), so where the data lives does not change the trajectory.

use tch::{Kind, Tensor};

/// The conversion from stored inputs to network inputs.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Inputs {
    /// Stored as network inputs already (f32), used as they are.
    #[default]
    Float,
    /// Stored as `u8` pixels `[N, C, H, W]`; a batch becomes (x / 255 − mean_c) / std_c in f32
    /// with one mean and standard deviation per channel (torchvision's `ToTensor` followed by
    /// `Normalize(mean, std)`).
    Pixels {
        /// Per-channel mean of x / 255.
        mean: Vec<f64>,
        /// Per-channel standard deviation of x / 255 (each > 0).
        std: Vec<f64>,
    },
    /// Token sequences stored as `i32` `[N, 3, L]`: per example its token ids, token types
    /// (segment A 0, segment B 1) and attention mask (1 on tokens, 0 on padding), padded at the
    /// end to the split's longest sequence. A batch becomes `i64` `[B, 3, L_b]` cut to the
    /// batch's own longest sequence (dynamic padding, as Hugging Face's
    /// `DataCollatorWithPadding`): the padding it drops is masked out of attention and read by
    /// no head, so the encoder's output does not depend on it.
    Tokens,
}

impl Inputs {
    /// The network inputs for a batch of stored inputs `x`.
    pub fn prepare(&self, x: &Tensor) -> Tensor {
        match self {
            Inputs::Float => x.shallow_clone(),
            Inputs::Pixels { mean, std } => {
                let c = mean.len() as i64;
                let dev = x.device();
                let m = Tensor::from_slice(mean)
                    .to_kind(Kind::Float)
                    .to_device(dev)
                    .view([1, c, 1, 1]);
                let s = Tensor::from_slice(std)
                    .to_kind(Kind::Float)
                    .to_device(dev)
                    .view([1, c, 1, 1]);
                (x.to_kind(Kind::Float) / 255.0 - m) / s
            }
            Inputs::Tokens => {
                let longest = if x.size()[0] == 0 {
                    0
                } else {
                    x.select(1, 2)
                        .sum_dim_intlist(1, false, Kind::Int64)
                        .max()
                        .int64_value(&[])
                };
                x.narrow(2, 0, longest.max(1)).to_kind(Kind::Int64)
            }
        }
    }

    /// Per-channel mean and standard deviation of x / 255 over `pixels` (`u8` `[N, C, H, W]`),
    /// in f64: the statistics [`Inputs::Pixels`] normalises with, computed on a training set.
    pub fn pixel_stats(pixels: &Tensor) -> Inputs {
        let x = pixels.to_kind(Kind::Double) / 255.0;
        let dims = [0i64, 2, 3];
        let mean = x.mean_dim(&dims[..], false, Kind::Double);
        let std = x.std_dim(&dims[..], false, false).clamp_min(1e-12);
        Inputs::Pixels {
            mean: Vec::<f64>::try_from(&mean).expect("f64 vector"),
            std: Vec::<f64>::try_from(&std).expect("f64 vector"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn pixels_by_hand_and_per_batch_equals_whole() {
        // One channel holding 0 and 255, one holding 51 and 102.
        let x = Tensor::from_slice(&[0u8, 255, 51, 102]).view([1, 2, 1, 2]);
        let inputs = Inputs::pixel_stats(&x);
        let Inputs::Pixels { mean, std } = &inputs else {
            panic!("pixel stats")
        };
        assert!((mean[0] - 0.5).abs() < 1e-12 && (std[0] - 0.5).abs() < 1e-12);
        assert!((mean[1] - 0.3).abs() < 1e-12 && (std[1] - 0.1).abs() < 1e-12);
        let y = Vec::<f32>::try_from(&inputs.prepare(&x).reshape([-1])).unwrap();
        for (a, b) in y.iter().zip([-1.0f32, 1.0, -1.0, 1.0]) {
            assert!((a - b).abs() < 1e-6, "{y:?}");
        }
        let big = Tensor::randint(256, [10, 3, 4, 4], (Kind::Uint8, Device::Cpu));
        let inputs = Inputs::pixel_stats(&big);
        let whole = inputs.prepare(&big);
        let parts = Tensor::cat(
            &[
                inputs.prepare(&big.narrow(0, 0, 3)),
                inputs.prepare(&big.narrow(0, 3, 7)),
            ],
            0,
        );
        assert!(whole.equal(&parts));
        assert!(Inputs::Float.prepare(&whole).equal(&whole));
    }

    #[test]
    fn tokens_are_cut_to_the_batch_longest_sequence() {
        // Two examples padded to 5: lengths 2 and 3.
        let ids = [[0i32, 7, 1, 1, 1], [0, 8, 9, 1, 1]];
        let mut rows = Vec::new();
        for (i, len) in ids.iter().zip([2, 3]) {
            rows.extend_from_slice(i);
            rows.extend([0i32; 5]);
            rows.extend((0..5).map(|j| i32::from(j < len)));
        }
        let x = Tensor::from_slice(&rows).view([2, 3, 5]);
        let both = Inputs::Tokens.prepare(&x);
        assert_eq!(both.size(), [2, 3, 3]);
        assert_eq!(both.kind(), Kind::Int64);
        assert!(both.equal(&x.narrow(2, 0, 3).to_kind(Kind::Int64)));
        assert_eq!(Inputs::Tokens.prepare(&x.narrow(0, 0, 1)).size(), [1, 3, 2]);
    }
}
