//! Layer constructors with PyTorch's default initialisation, shared by the encoders
//! ([`crate::model`]) and the task heads ([`crate::task::head`]); a leaf module so that both
//! can use it without importing each other.

use tch::nn;

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
