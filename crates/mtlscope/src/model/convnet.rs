//! A small convolutional encoder with batch normalisation: blocks of conv3×3 – BN – ReLU with
//! widths `model.channels`, each block after the first halving the resolution (stride 2). Two
//! outputs, registered as two encoders:
//! - `convnet`: global average pooling to a vector `[N, C_last]` (image classification);
//! - `convnet_dense`: the feature map `[N, C_last, H/s, W/s]`, s = 2^(blocks−1), for dense
//!   heads (segmentation, depth, normals).
//!
//! It is the cheapest architecture that exercises what ResNets and SegNet need from the core:
//! batch-norm buffers, train/eval modes, spatial features and the general per-example probe path.

use anyhow::{bail, Result};
use tch::{nn, Tensor};

use super::Encoder;
use crate::layers::{batch_norm2d, conv2d_strided};
use crate::task::{DenseHead, FeatureShape};

/// The conv–BN–ReLU encoder.
#[derive(Debug)]
pub struct ConvNet {
    convs: Vec<nn::Conv2D>,
    norms: Vec<nn::BatchNorm>,
    dense: bool,
}

impl ConvNet {
    /// Builds the blocks under `p` for inputs `[C, H, W]`; `dense` keeps the feature map.
    pub fn new(p: nn::Path, input: [i64; 3], channels: &[i64], dense: bool) -> Result<Self> {
        if channels.is_empty() {
            bail!("model.channels: the convnet encoders need at least one width");
        }
        let stride = 1i64 << (channels.len() - 1);
        let [c, h, w] = input;
        if h % stride != 0 || w % stride != 0 {
            bail!(
                "model.channels: {} blocks downsample by {stride}, which must divide the input size {h}x{w}",
                channels.len()
            );
        }
        let (mut convs, mut norms) = (Vec::new(), Vec::new());
        let mut cin = c;
        for (i, &cout) in channels.iter().enumerate() {
            let s = if i == 0 { 1 } else { 2 };
            convs.push(conv2d_strided(
                &p / format!("conv{}", i + 1),
                cin,
                cout,
                3,
                1,
                s,
            ));
            norms.push(batch_norm2d(&p / format!("bn{}", i + 1), cout));
            cin = cout;
        }
        Ok(Self {
            convs,
            norms,
            dense,
        })
    }
}

impl Encoder for ConvNet {
    fn forward(&self, xs: &Tensor, train: bool) -> Tensor {
        let z = self
            .convs
            .iter()
            .zip(&self.norms)
            .fold(xs.shallow_clone(), |h, (c, bn)| {
                h.apply(c).apply_t(bn, train).relu()
            });
        if self.dense {
            z
        } else {
            z.mean_dim(&[2i64, 3][..], false, None::<tch::Kind>)
        }
    }

    fn output(&self) -> FeatureShape {
        let channels = self.convs.last().expect("at least one block").ws.size()[0];
        if self.dense {
            FeatureShape::Spatial {
                channels,
                stride: 1 << (self.convs.len() - 1),
                head: DenseHead::Decoder,
            }
        } else {
            FeatureShape::Vector { dim: channels }
        }
    }

    fn last_weight(&self) -> Tensor {
        self.convs
            .last()
            .expect("at least one block")
            .ws
            .shallow_clone()
    }
}
