//! LeNet-5 style encoder (LeCun et al. 1998), PyTorch-default initialisation, the FashionMTL architecture of Mueller et al.
//! (2025, App. B.1): conv(6, 5×5, pad 2)–ReLU–maxpool(2)–conv(16, 5×5)–ReLU–maxpool(2)–
//! fc(120)–ReLU–fc(84)–ReLU. The 84-wide penultimate representation feeds the task heads.

use anyhow::{bail, Result};
use tch::{nn, Tensor};

use super::Encoder;
use crate::layers::{conv2d, linear, max_pool2x2};
use crate::task::FeatureShape;

/// LeNet-5 encoder.
#[derive(Debug)]
pub struct LeNet {
    conv1: nn::Conv2D,
    conv2: nn::Conv2D,
    fc1: nn::Linear,
    fc2: nn::Linear,
}

impl LeNet {
    /// Builds the layers under `p` for inputs `[C, H, W]`.
    pub fn new(p: nn::Path, input: [i64; 3]) -> Result<Self> {
        let [c, h, w] = input;
        // conv1 keeps H×W (pad 2), pool halves, conv2 removes 4, pool halves.
        let (h2, w2) = ((h / 2 - 4) / 2, (w / 2 - 4) / 2);
        if h2 < 1 || w2 < 1 {
            bail!("lenet needs inputs of at least 12x12, got {h}x{w}");
        }
        let conv1 = conv2d(&p / "conv1", c, 6, 5, 2);
        let conv2 = conv2d(&p / "conv2", 6, 16, 5, 0);
        let fc1 = linear(&p / "fc1", 16 * h2 * w2, 120);
        let fc2 = linear(&p / "fc2", 120, 84);
        Ok(Self {
            conv1,
            conv2,
            fc1,
            fc2,
        })
    }
}

impl Encoder for LeNet {
    fn forward(&self, xs: &Tensor, _train: bool) -> Tensor {
        // Pooling before the ReLU: max and ReLU commute (ReLU is monotone), so values and
        // gradients are those of ReLU-then-pool bit for bit (tested), with a quarter of the
        // ReLU's work.
        let h = max_pool2x2(&xs.apply(&self.conv1)).relu();
        max_pool2x2(&h.apply(&self.conv2))
            .relu()
            .flatten(1, -1)
            .apply(&self.fc1)
            .relu()
            .apply(&self.fc2)
            .relu()
    }

    fn output(&self) -> FeatureShape {
        FeatureShape::Vector { dim: 84 }
    }

    fn last_weight(&self) -> Tensor {
        self.fc2.ws.shallow_clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    /// The textbook order (ReLU, then `max_pool2d`), the reference for the pooled-first one.
    fn textbook(net: &LeNet, xs: &Tensor) -> Tensor {
        xs.apply(&net.conv1)
            .relu()
            .max_pool2d_default(2)
            .apply(&net.conv2)
            .relu()
            .max_pool2d_default(2)
            .flatten(1, -1)
            .apply(&net.fc1)
            .relu()
            .apply(&net.fc2)
            .relu()
    }

    /// Outputs without a gradient and parameter gradients equal the textbook order's bit for
    /// bit.
    #[test]
    fn forward_and_gradients_equal_relu_then_max_pool() {
        // Under the initialisation lock: these draws must not interleave with a network
        // being seeded on another test thread.
        crate::model::with_seed(3, || {
            let vs = nn::VarStore::new(Device::Cpu);
            let net = LeNet::new(vs.root(), [1, 28, 28]).unwrap();
            let xs = Tensor::randn([64, 1, 28, 28], (Kind::Float, Device::Cpu));
            let (a, b) = tch::no_grad(|| (net.forward(&xs, false), textbook(&net, &xs)));
            assert!(a.equal(&b), "no-grad outputs differ");
            let grads = |out: Tensor| {
                for mut v in vs.trainable_variables() {
                    v.zero_grad();
                }
                (out * 1.7).sum(Kind::Float).backward();
                vs.trainable_variables()
                    .iter()
                    .map(|v| v.grad().copy())
                    .collect::<Vec<_>>()
            };
            let ga = grads(net.forward(&xs, true));
            let gb = grads(textbook(&net, &xs));
            for (x, y) in ga.iter().zip(&gb) {
                assert!(x.equal(y), "gradients differ");
            }
        })
    }
}
