//! Layer constructors with PyTorch's default initialisation, shared by the encoders
//! ([`crate::model`]) and the task heads ([`crate::task::head`]); a leaf module so that both
//! can use it without importing each other.

use tch::{nn, Device, Tensor};

/// 2×2 max pooling with stride 2 (floor mode): `max_pool2d(2)`, the same values bit for bit.
///
/// When no gradient flows through `x` on the CPU (evaluation under `no_grad`), it is the
/// elementwise maximum of each row pair, then of each column pair: libtorch's CPU max-pool
/// kernel also computes the argmax indices the backward pass needs and is slow (on LeNet's
/// activations, 60 % of an evaluation's forward time); the row pairs' maximum runs on
/// contiguous rows, vectorised. Measured here (2 threads, 2500 × 6 × 28 × 28): 64 ms for
/// `max_pool2d`, 13 ms for the maximum of the four strided quarters, 9 ms for this (issue
/// #17). The maximum is an exact selection, NaN included, so every value is the same. With a
/// gradient it is `max_pool2d` itself, whose backward sends the gradient to the window's first
/// maximum.
pub fn max_pool2x2(x: &Tensor) -> Tensor {
    if x.requires_grad() || x.device() != Device::Cpu {
        return x.max_pool2d_default(2);
    }
    let d = x.dim() as i64;
    let size = x.size();
    let (h, w) = (size[d as usize - 2] / 2, size[d as usize - 1] / 2);
    // Floor mode: an odd last row or column is dropped.
    let x = x.narrow(d - 2, 0, 2 * h).narrow(d - 1, 0, 2 * w);
    let rows = x.unflatten(d - 2, [h, 2]);
    let r = rows.select(d - 1, 0).maximum(&rows.select(d - 1, 1));
    let cols = r.unflatten(d - 1, [w, 2]);
    cols.select(d, 0).maximum(&cols.select(d, 1))
}

/// PyTorch's default initialisation of `nn.Linear` and `nn.Conv2d` (`reset_parameters`:
/// kaiming_uniform with a = √5 for weights, i.e. U(±1/√fan_in), and U(±1/√fan_in) for biases),
/// so runs start where the reference PyTorch code starts; tch's own default is Kaiming-uniform
/// with the ReLU gain, √6 ≈ 2.45 times wider, which starts LeNet at a loss near 4 instead of ln 10.
pub fn torch_default_init(fan_in: i64) -> nn::Init {
    let b = 1.0 / (fan_in as f64).sqrt();
    nn::Init::Uniform { lo: -b, up: b }
}

/// A linear layer with PyTorch's default initialisation.
pub fn linear(p: nn::Path, fan_in: i64, out: i64) -> nn::Linear {
    let init = torch_default_init(fan_in);
    nn::linear(
        p,
        fan_in,
        out,
        nn::LinearConfig {
            ws_init: init,
            bs_init: Some(init),
            bias: true,
        },
    )
}

/// A 2-D convolution (stride 1) with PyTorch's default initialisation.
pub fn conv2d(p: nn::Path, cin: i64, cout: i64, k: i64, padding: i64) -> nn::Conv2D {
    conv2d_strided(p, cin, cout, k, padding, 1)
}

/// A 2-D convolution with a stride, PyTorch's default initialisation.
pub fn conv2d_strided(
    p: nn::Path,
    cin: i64,
    cout: i64,
    k: i64,
    padding: i64,
    stride: i64,
) -> nn::Conv2D {
    let init = torch_default_init(cin * k * k);
    let cfg = nn::ConvConfig {
        padding,
        stride,
        ws_init: init,
        bs_init: init,
        ..Default::default()
    };
    nn::conv2d(p, cin, cout, k, cfg)
}

/// Batch normalisation over channels as `nn.BatchNorm2d` (weight 1, bias 0, momentum 0.1,
/// ε = 1e-5). Its running mean and variance are buffers (created without gradients), so they
/// stay out of every parameter list (see [`crate::model::MultiTaskNet`]).
pub fn batch_norm2d(p: nn::Path, channels: i64) -> nn::BatchNorm {
    // tch draws the weight from U(0, 1); PyTorch starts it at 1.
    let cfg = nn::BatchNormConfig {
        ws_init: nn::Init::Const(1.0),
        bs_init: nn::Init::Const(0.0),
        ..Default::default()
    };
    nn::batch_norm2d(p, channels, cfg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Kind;

    fn bits(t: &Tensor) -> Vec<u32> {
        Vec::<f32>::try_from(t.flatten(0, -1))
            .unwrap()
            .iter()
            .map(|v| v.to_bits())
            .collect()
    }

    /// The quarters' maximum equals libtorch's max pool bit for bit: odd sizes (floor mode),
    /// ties, signed zeros next to positives, NaN and infinities, 3-D and 4-D inputs.
    #[test]
    fn max_pool2x2_equals_max_pool2d() {
        tch::manual_seed(7);
        for shape in [
            &[5i64, 3, 28, 28][..],
            &[2, 4, 9, 7],
            &[3, 5, 6],
            &[1, 1, 2, 2],
        ] {
            // Few distinct values, so windows hold ties.
            let x = (Tensor::randn(shape, (Kind::Float, Device::Cpu)) * 2.0).round();
            let flat = x.view(-1);
            let n = flat.size()[0];
            let _ = flat.narrow(0, 0, 1).fill_(f64::NAN);
            let _ = flat.narrow(0, n / 2, 1).fill_(f64::INFINITY);
            let _ = flat.narrow(0, n - 1, 1).fill_(f64::NEG_INFINITY);
            let fast = max_pool2x2(&x);
            let slow = x.max_pool2d_default(2);
            assert_eq!(fast.size(), slow.size(), "{shape:?}");
            let (f, s) = (bits(&fast), bits(&slow));
            for (i, (a, b)) in f.iter().zip(&s).enumerate() {
                let (fa, fb) = (f32::from_bits(*a), f32::from_bits(*b));
                assert!(
                    a == b || (fa.is_nan() && fb.is_nan()) || (fa == 0.0 && fb == 0.0),
                    "{shape:?} at {i}: {fa} vs {fb}"
                );
            }
        }
    }

    /// With a gradient it is max_pool2d (the argmax goes to the window's first maximum).
    #[test]
    fn max_pool2x2_with_gradient_is_max_pool2d() {
        let x = Tensor::from_slice(&[1.0f32, 3.0, 3.0, 2.0])
            .view([1, 1, 2, 2])
            .set_requires_grad(true);
        max_pool2x2(&x).sum(Kind::Float).backward();
        let g = Vec::<f32>::try_from(x.grad().view(-1)).unwrap();
        assert_eq!(g, [0.0, 1.0, 0.0, 0.0]);
    }
}
