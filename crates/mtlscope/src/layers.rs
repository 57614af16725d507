//! Layer constructors with PyTorch's default initialisation, shared by the encoders
//! ([`crate::model`]) and the task heads ([`crate::task::head`]); a leaf module so that both
//! can use it without importing each other.

use tch::{nn, Device, Kind, Tensor};

/// 2×2 max pooling with stride 2 (floor mode): `max_pool2d(2)`, faster on the CPU (issue #17),
/// with the same values and gradients bit for bit (without a gradient, up to a zero's sign and
/// a NaN's payload).
///
/// libtorch's CPU max-pool kernel is slow on LeNet's small planes, and it computes the argmax
/// indices even under `no_grad`: one thread, 128 × 6 × 28 × 28, 3.8 ms (38 % of a FashionMTL
/// training step, torch profiler); 2500 × 6 × 28 × 28, 70 ms. So on the CPU:
/// - when no gradient flows through `x` (evaluation), the output is the elementwise maximum of
///   each row pair, then of each column pair, in libtorch's vectorised kernels (9 ms for the
///   2500 images on 2 threads). The maximum is an exact selection, NaN included, so every value
///   is the same (a window of +0 and -0 may give the other zero, a NaN another payload).
/// - with a gradient, for contiguous f32/f64 inputs, [`first_max_index_2x2`] finds each
///   window's index in one pass by libtorch's rule, and the output is `x.gather(index)` of the
///   flattened planes (0.6 ms in all for the 128 images, one thread). Autograd's backward of a
///   gather sends each output gradient to its index in a zeroed tensor, which is what
///   max-pool's backward does; the windows do not overlap, so no two gradients are summed.
///
/// Other devices, kinds and ranks use `max_pool2d` itself.
pub fn max_pool2x2(x: &Tensor) -> Tensor {
    let size = x.size();
    let whole = matches!(size.len(), 3 | 4) && size.iter().rev().take(2).all(|&n| n >= 2);
    // Other ranks, or planes without a whole window, are libtorch's error to report.
    if x.device() != Device::Cpu || !whole {
        return x.max_pool2d_default(2);
    }
    let d = x.dim() as i64;
    if !x.requires_grad() {
        let (h, w) = (size[d as usize - 2] / 2, size[d as usize - 1] / 2);
        // Floor mode: an odd last row or column is dropped.
        let x = x.narrow(d - 2, 0, 2 * h).narrow(d - 1, 0, 2 * w);
        let rows = x.unflatten(d - 2, [h, 2]);
        let r = rows.select(d - 1, 0).maximum(&rows.select(d - 1, 1));
        let cols = r.unflatten(d - 1, [w, 2]);
        return cols.select(d, 0).maximum(&cols.select(d, 1));
    }
    if !matches!(x.kind(), Kind::Float | Kind::Double) {
        return x.max_pool2d_default(2);
    }
    let x = x.contiguous();
    let index = first_max_index_2x2(&x);
    x.flatten(d - 2, d - 1)
        .gather(d - 2, &index.flatten(d - 2, d - 1), false)
        .view_as(&index)
}

/// The flat in-plane index (`row × width + column`) of each 2×2 window's maximum in the last
/// two dimensions of a contiguous CPU f32 or f64 tensor, by libtorch's CPU max-pool rule
/// (`aten/src/ATen/native/cpu/MaxPoolKernel.cpp`): windows scanned row by row, a value taking
/// over when it is greater than the current one or NaN, so the first maximum, or the last NaN.
fn first_max_index_2x2(x: &Tensor) -> Tensor {
    let size = x.size();
    let d = size.len();
    let (h, w) = (size[d - 2] as usize, size[d - 1] as usize);
    let mut out_size = size.clone();
    out_size[d - 2] = (h / 2) as i64;
    out_size[d - 1] = (w / 2) as i64;
    let index = Tensor::empty(out_size.as_slice(), (Kind::Int64, Device::Cpu));
    let (n_in, n_out) = (x.numel(), index.numel());
    if n_out == 0 {
        return index;
    }
    // SAFETY: `x` is contiguous on the CPU with `n_in` elements of the matching kind, and
    // `index` was just allocated, contiguous, with `n_out` elements; the slices live only
    // within this call, while `x` is borrowed and `index` owned here.
    let idx = unsafe { std::slice::from_raw_parts_mut(index.data_ptr() as *mut i64, n_out) };
    match x.kind() {
        Kind::Float => {
            let src = unsafe { std::slice::from_raw_parts(x.data_ptr() as *const f32, n_in) };
            first_max_planes(src, idx, (h, w));
        }
        _ => {
            let src = unsafe { std::slice::from_raw_parts(x.data_ptr() as *const f64, n_in) };
            first_max_planes(src, idx, (h, w));
        }
    }
    index
}

/// [`first_max_index_2x2`] over whole `h × w` planes: `src` holds the planes, `idx` their
/// `(h/2) × (w/2)` outputs. Written so that it compiles to vector code without a branch in a
/// row (comparisons select each value and window offset; the indices are written in a second
/// loop): which of the four wins is a coin toss on real activations, and a first version
/// with branches took 4–5 ns an element, this one about 1 (one thread, 128 × 6 × 28 × 28).
fn first_max_planes<T: PartialOrd + Copy>(src: &[T], idx: &mut [i64], (h, w): (usize, usize)) {
    let (oh, ow) = (h / 2, w / 2);
    let wi = w as i32;
    let mut offset = vec![0i32; ow];
    for (plane, at) in src.chunks_exact(h * w).zip(idx.chunks_exact_mut(oh * ow)) {
        for oy in 0..oh {
            let top = &plane[2 * oy * w..][..2 * ow];
            let bottom = &plane[(2 * oy + 1) * w..][..2 * ow];
            for (ox, k_out) in offset.iter_mut().enumerate() {
                let (a, b) = (top[2 * ox], top[2 * ox + 1]);
                let (c, d) = (bottom[2 * ox], bottom[2 * ox + 1]);
                // libtorch's rule in window order: a value takes over when greater or NaN
                // (`v != v`); `|`, not `||`, so that nothing branches.
                #[allow(clippy::eq_op)]
                let take = |v: T, best: T| (v > best) | (v != v);
                let t = take(b, a);
                let (best, k) = (if t { b } else { a }, t as i32);
                let t = take(c, best);
                let (best, k) = (if t { c } else { best }, if t { wi } else { k });
                *k_out = if take(d, best) { wi + 1 } else { k };
            }
            let row = (2 * oy * w) as i64;
            for ((at, k), ox) in at[oy * ow..][..ow].iter_mut().zip(&offset).zip(0..) {
                *at = row + 2 * ox + i64::from(*k);
            }
        }
    }
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

    /// Bit patterns, so that -0 differs from +0 and a NaN is compared by its payload.
    fn bits(t: &Tensor) -> Vec<u64> {
        let t = t.flatten(0, -1);
        match t.kind() {
            Kind::Float => Vec::<f32>::try_from(t)
                .unwrap()
                .iter()
                .map(|v| u64::from(v.to_bits()))
                .collect(),
            _ => Vec::<f64>::try_from(t)
                .unwrap()
                .iter()
                .map(|v| v.to_bits())
                .collect(),
        }
    }

    /// Few distinct values (windows hold ties), signed zeros, NaN (two in one window, so the
    /// last-NaN rule shows), +inf and -inf.
    fn awkward(shape: &[i64], kind: Kind) -> Tensor {
        let x = (Tensor::randn(shape, (kind, Device::Cpu)) * 2.0).round();
        let flat = x.view(-1);
        let n = flat.size()[0];
        for (at, v) in [
            (0, f64::NAN),
            (shape[shape.len() - 1], f64::NAN), // below the first, in the same window
            (n / 2, f64::INFINITY),
            (n - 1, f64::NEG_INFINITY),
        ] {
            let _ = flat.narrow(0, at, 1).fill_(v);
        }
        x
    }

    const SHAPES: [&[i64]; 4] = [&[5, 3, 28, 28], &[2, 4, 9, 7], &[3, 5, 6], &[1, 1, 2, 2]];

    /// Without a gradient the output equals libtorch's max pool bit for bit, but for the sign
    /// of a zero and a NaN's payload: odd sizes (floor mode), ties, signed zeros, NaN and
    /// infinities, 3-D and 4-D inputs, f32 and f64, contiguous or not.
    #[test]
    fn max_pool2x2_equals_max_pool2d() {
        // Under the initialisation lock: these draws must not interleave with a network
        // being seeded on another test thread.
        crate::model::with_seed(7, || {
            for kind in [Kind::Float, Kind::Double] {
                for shape in SHAPES {
                    let x = awkward(shape, kind);
                    for x in [x.shallow_clone(), x.transpose(-1, -2)] {
                        let (fast, slow) = (max_pool2x2(&x), x.max_pool2d_default(2));
                        assert_eq!(fast.size(), slow.size(), "{shape:?}");
                        let f = Vec::<f64>::try_from(fast.flatten(0, -1)).unwrap();
                        let s = Vec::<f64>::try_from(slow.flatten(0, -1)).unwrap();
                        let same = |(a, b): (&f64, &f64)| a == b || (a.is_nan() && b.is_nan());
                        assert!(f.iter().zip(&s).all(same), "{kind:?} {shape:?}");
                    }
                }
            }
        })
    }

    /// With a gradient, the output and the input's gradient are max_pool2d's bit for bit
    /// (each output's gradient at its window's first maximum, or its last NaN).
    #[test]
    fn max_pool2x2_gradient_equals_max_pool2d() {
        // Under the initialisation lock: these draws must not interleave with a network
        // being seeded on another test thread.
        crate::model::with_seed(8, || {
            for kind in [Kind::Float, Kind::Double] {
                for shape in SHAPES {
                    let x = awkward(shape, kind);
                    // Signed zeros in the upstream gradient as well.
                    let out = x.max_pool2d_default(2).size();
                    let g = (Tensor::randn(out.as_slice(), (kind, Device::Cpu)) * 2.0).round();
                    let run = |pool: &dyn Fn(&Tensor) -> Tensor| {
                        let x = x.copy().set_requires_grad(true);
                        let y = pool(&x);
                        (&y * &g).sum(kind).backward();
                        (y.detach(), x.grad())
                    };
                    let (y_fast, g_fast) = run(&|x| max_pool2x2(x));
                    let (y_slow, g_slow) = run(&|x| x.max_pool2d_default(2));
                    assert_eq!(bits(&y_fast), bits(&y_slow), "{kind:?} {shape:?} values");
                    assert_eq!(bits(&g_fast), bits(&g_slow), "{kind:?} {shape:?} gradients");
                }
            }
        })
    }

    /// By hand: a tie sends the gradient to the first maximum, NaNs to the last NaN.
    #[test]
    fn max_pool2x2_picks_the_first_maximum_and_the_last_nan() {
        let x = Tensor::from_slice(&[1.0f32, 3.0, 3.0, 2.0, f32::NAN, 1.0, f32::NAN, 5.0])
            .view([1, 2, 2, 2])
            .set_requires_grad(true);
        let y = max_pool2x2(&x);
        let v = Vec::<f32>::try_from(y.view(-1)).unwrap();
        assert!(v[0] == 3.0 && v[1].is_nan());
        y.sum(Kind::Float).backward();
        let g = Vec::<f32>::try_from(x.grad().view(-1)).unwrap();
        assert_eq!(g[..4], [0.0, 1.0, 0.0, 0.0]);
        assert_eq!(g[4..], [0.0, 0.0, 1.0, 0.0]);
    }
}
