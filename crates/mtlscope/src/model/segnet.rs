//! SegNet (Badrinarayanan et al. 2017) as MTAN's split multi-task network uses it (Liu et al.
//! 2019, `im2im_pred/model_segnet_split.py`, "standard" type; the network of CAGrad, Nash-MTL,
//! Elich et al. and LibMTL's SegNet results on NYUv2): the whole encoder–decoder is shared and
//! each task adds its last two layers.
//!
//! Widths f = (64, 128, 256, 512, 512); a layer is conv3×3 (padding 1, with bias) – BN – ReLU.
//! Encoder stage i: one layer f[i−1] → f[i] (3 → 64 for i = 0), then one more layer at f[i] for
//! i ≤ 1 and two for i ≥ 2, then a 2×2 max-pool whose indices are kept. Decoder stage
//! j = 4 … 0: max-unpool with stage j's indices, one layer f[j] → f[j−1] (64 → 64 for j = 0),
//! then one more layer at f[j−1] for j ≤ 1 and two for j ≥ 2. Output: the full-resolution
//! `[N, 64, H, W]` map (stride 1), on which each task's decoder head (conv3×3 64 → 64, conv1×1
//! 64 → outputs) predicts. Inputs must be divisible by 32 (five poolings): 288×384 and 128×256
//! are. Initialisation as MTAN: Xavier-normal convolution weights, zero biases, BN weight 1 and
//! bias 0. With one 13-class head it has MTAN's single-task count, 24,981,069 parameters
//! (tested).
//!
//! The task layers are MTAN's too: the feature shape asks per-pixel kinds for
//! [`DenseHead::Mtan`], conv3×3 then conv1×1 with no activation between, Xavier-normal weights
//! and zero biases.

use anyhow::{bail, Result};
use tch::{nn, Tensor};

use super::Encoder;
use crate::layers::batch_norm2d;
use crate::task::{DenseHead, FeatureShape};

/// Stage widths.
const F: [i64; 5] = [64, 128, 256, 512, 512];

/// conv3×3 – BN – ReLU.
#[derive(Debug)]
struct Layer {
    conv: nn::Conv2D,
    bn: nn::BatchNorm,
}

impl Layer {
    fn new(p: nn::Path, cin: i64, cout: i64) -> Self {
        // Xavier normal: std = √(2 / (fan_in + fan_out)), fans counted over the 3×3 kernel.
        let std = (2.0 / ((cin + cout) * 9) as f64).sqrt();
        let cfg = nn::ConvConfig {
            padding: 1,
            ws_init: nn::Init::Randn {
                mean: 0.0,
                stdev: std,
            },
            bs_init: nn::Init::Const(0.0),
            ..Default::default()
        };
        Self {
            conv: nn::conv2d(&p / "conv", cin, cout, 3, cfg),
            bn: batch_norm2d(&p / "bn", cout),
        }
    }

    fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        x.apply(&self.conv).apply_t(&self.bn, train).relu()
    }
}

/// The shared SegNet.
#[derive(Debug)]
pub struct SegNet {
    enc: Vec<Vec<Layer>>,
    dec: Vec<Vec<Layer>>,
}

impl SegNet {
    /// Builds it under `p` for inputs `[C, H, W]`.
    pub fn new(p: nn::Path, [c, h, w]: [i64; 3]) -> Result<Self> {
        if h % 32 != 0 || w % 32 != 0 {
            bail!(
                "model.encoder = \"segnet\": the input size {h}x{w} must be divisible by 32 \
                 (five 2x2 poolings)"
            );
        }
        let extra = |i: usize| if i <= 1 { 1 } else { 2 };
        let mut enc = Vec::new();
        for i in 0..5 {
            let q = &p / format!("enc{i}");
            let cin = if i == 0 { c } else { F[i - 1] };
            let mut stage = vec![Layer::new(&q / "0", cin, F[i])];
            for k in 0..extra(i) {
                stage.push(Layer::new(&q / format!("{}", k + 1), F[i], F[i]));
            }
            enc.push(stage);
        }
        // dec[j] undoes enc[j]; built in the order the forward pass runs them does not
        // matter to the parameters' names.
        let mut dec = Vec::new();
        for j in 0..5 {
            let q = &p / format!("dec{j}");
            let cout = if j == 0 { F[0] } else { F[j - 1] };
            let mut stage = vec![Layer::new(&q / "0", F[j], cout)];
            for k in 0..extra(j) {
                stage.push(Layer::new(&q / format!("{}", k + 1), cout, cout));
            }
            dec.push(stage);
        }
        Ok(Self { enc, dec })
    }
}

impl Encoder for SegNet {
    fn forward(&self, xs: &Tensor, train: bool) -> Tensor {
        let mut h = xs.shallow_clone();
        let mut pools = Vec::with_capacity(5);
        for stage in &self.enc {
            for l in stage {
                h = l.forward(&h, train);
            }
            let size = h.size();
            let (pooled, idx) = h.max_pool2d_with_indices([2, 2], [2, 2], [0, 0], [1, 1], false);
            pools.push((idx, [size[2], size[3]]));
            h = pooled;
        }
        for (stage, (idx, size)) in self.dec.iter().zip(pools).rev() {
            h = h.max_unpool2d(&idx, size);
            for l in stage {
                h = l.forward(&h, train);
            }
        }
        h
    }

    fn output(&self) -> FeatureShape {
        FeatureShape::Spatial {
            channels: F[0],
            stride: 1,
            head: DenseHead::Mtan,
        }
    }

    fn last_weight(&self) -> Tensor {
        self.dec[0].last().expect("a layer").conv.ws.shallow_clone()
    }
}

#[cfg(test)]
mod tests {
    use crate::config::ModelConfig;
    use crate::model::MultiTaskNet;
    use crate::task::segmentation::SegmentationSpec;
    use crate::task::TaskSpec;
    use tch::{Device, Kind, Tensor};

    fn net(hw: [i64; 2]) -> anyhow::Result<MultiTaskNet> {
        let kind = TaskSpec::Segmentation(SegmentationSpec {
            classes: 13,
            ignore_index: -1,
            decoder_channels: None,
        })
        .build()
        .unwrap();
        let model = ModelConfig {
            encoder: "segnet".into(),
            ..ModelConfig::default()
        };
        // Seeded, under the init lock: an unseeded build of these 25M parameters moves libtorch's
        // global generator while parallel tests initialise their networks from it.
        MultiTaskNet::seeded(
            0,
            &model,
            &[("seg".into(), kind.into())],
            [3, hw[0], hw[1]],
            Device::Cpu,
        )
    }

    #[test]
    fn single_task_parameter_count_is_mtans_and_shapes_round_trip() {
        let n = net([32, 64]).unwrap();
        let total: i64 = n.params().iter().map(|p| p.numel() as i64).sum();
        // MTAN's model_segnet_split.py divides by this count: its single-task SegNet.
        assert_eq!(total, 24_981_069);
        let x = Tensor::randn([2, 3, 32, 64], (Kind::Float, Device::Cpu));
        assert_eq!(n.features(&x, false).size(), [2, 64, 32, 64]);
        assert_eq!(n.forward(0, &x, false).size(), [2, 13, 32, 64]);
        let e = format!("{:#}", net([30, 64]).unwrap_err());
        assert!(e.contains("divisible by 32"), "{e}");
    }

    #[test]
    fn task_layers_are_mtans_linear_pair() {
        // MTAN's conv3x3 then conv1x1 with no activation and zero biases: the head is linear
        // in the feature map, h(z1 + z2) = h(z1) + h(z2); a ReLU between them would break this
        // for signed inputs.
        let n = net([32, 64]).unwrap();
        let z1 = Tensor::randn([1, 64, 32, 64], (Kind::Float, Device::Cpu));
        let z2 = Tensor::randn([1, 64, 32, 64], (Kind::Float, Device::Cpu));
        let h = |z: &Tensor| n.head(0, z, false);
        let sum = h(&(&z1 + &z2));
        assert!(sum.allclose(&(h(&z1) + h(&z2)), 1e-4, 1e-4, false));
        for p in n.head_params(0).iter().filter(|p| p.dim() == 1) {
            assert_eq!(p.abs().max().double_value(&[]), 0.0, "biases start at 0");
        }
    }
}
