//! Fully connected ReLU encoder: flatten, then `hidden` linear+ReLU layers.

use tch::{nn, Tensor};

use super::Encoder;
use crate::layers::linear;
use crate::task::FeatureShape;

/// MLP encoder.
#[derive(Debug)]
pub struct Mlp {
    layers: Vec<nn::Linear>,
    out: i64,
}

impl Mlp {
    /// Builds the layers under `p` for inputs `[C, H, W]`.
    pub fn new(p: nn::Path, input: [i64; 3], hidden: &[i64]) -> Self {
        let mut fan_in = input.iter().product::<i64>();
        let mut layers = Vec::new();
        for (i, &w) in hidden.iter().enumerate() {
            layers.push(linear(&p / format!("fc{}", i + 1), fan_in, w));
            fan_in = w;
        }
        Self {
            layers,
            out: fan_in,
        }
    }
}

impl Encoder for Mlp {
    fn forward(&self, xs: &Tensor, _train: bool) -> Tensor {
        self.layers
            .iter()
            .fold(xs.flatten(1, -1), |h, l| h.apply(l).relu())
    }

    fn output(&self) -> FeatureShape {
        FeatureShape::Vector { dim: self.out }
    }

    fn last_weight(&self) -> Tensor {
        self.layers
            .last()
            .expect("at least one layer")
            .ws
            .shallow_clone()
    }
}
