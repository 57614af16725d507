//! Reductions shared by the per-pixel kinds: a per-pixel loss `[N, H, W]` and a validity mask
//! `[N, H, W]` to the batch loss and the per-image losses.
//!
//! The batch loss is the mean over the batch's valid pixels, Σ ℓ·m / Σ m, as in MTAN's
//! `model_fit` and LibMTL's `examples/nyu/utils.py` (specs/mtan_data.md §3). The per-example
//! loss is each image's mean over its own valid pixels (Elich et al.). The two agree — the
//! batch loss is the mean of the per-example losses — only when every image has the same number
//! of valid pixels; otherwise the batch loss weights images by their valid-pixel counts. With no
//! valid pixel the loss is 0 (and so is its gradient) instead of MTAN's 0/0 = NaN, so an image
//! or batch without labels does not poison training.

use tch::{Kind, Tensor};

/// Valid pixels of a target `[N, C, H, W]`: Σ_c target ≠ 0, `[N, H, W]` (LibMTL's
/// `binary_mask`; for depth, target ≠ 0; for normals, not the zero vector — a unit normal
/// whose components sum to exactly 0 is masked too, as in LibMTL).
pub(crate) fn valid_mask(target: &Tensor) -> Tensor {
    target.sum_dim_intlist(1, false, None::<Kind>).ne(0.0)
}

/// Σ ℓ·m / max(Σ m, 1) over the whole batch: a scalar.
pub(crate) fn batch_mean(per_pixel: &Tensor, mask: &Tensor) -> Tensor {
    let m = mask.to_kind(per_pixel.kind());
    (per_pixel * &m).sum(per_pixel.kind()) / m.sum(per_pixel.kind()).clamp_min(1.0)
}

/// Σ ℓ·m / max(Σ m, 1) per image: `[N]`.
pub(crate) fn image_means(per_pixel: &Tensor, mask: &Tensor) -> Tensor {
    let m = mask.to_kind(per_pixel.kind());
    let dims = [1i64, 2].as_slice();
    (per_pixel * &m).sum_dim_intlist(dims, false, None::<Kind>)
        / m.sum_dim_intlist(dims, false, None::<Kind>).clamp_min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_and_image_means() {
        // Image 0: losses 1, 3 valid (mean 2); image 1: 6 valid, 100 masked (mean 6);
        // image 2: nothing valid (0).
        let l = Tensor::from_slice(&[1f64, 3.0, 6.0, 100.0, 5.0, 5.0]).view([3, 1, 2]);
        let m = Tensor::from_slice(&[true, true, true, false, false, false]).view([3, 1, 2]);
        assert_eq!(batch_mean(&l, &m).double_value(&[]), 10.0 / 3.0);
        let per = Vec::<f64>::try_from(&image_means(&l, &m)).unwrap();
        assert_eq!(per, vec![2.0, 6.0, 0.0]);
        let none = Tensor::zeros([3, 1, 2], (Kind::Bool, tch::Device::Cpu));
        assert_eq!(batch_mean(&l, &none).double_value(&[]), 0.0);
    }

    #[test]
    fn mask_is_nonzero_channel_sum() {
        let t = Tensor::from_slice(&[0f32, 0.0, 1.0, 2.0, 0.0, -2.0]).view([1, 2, 1, 3]);
        // pixel 0: (0, 2) valid; pixel 1: (0, 0) invalid; pixel 2: (1, −2) valid.
        let m = Vec::<bool>::try_from(&valid_mask(&t).reshape([-1])).unwrap();
        assert_eq!(m, vec![true, false, true]);
    }
}
