//! A combined direction d ∈ ℝⁿ of the shared parameters back into per-parameter tensors.

use tch::Tensor;

/// Splits flat `d` into tensors shaped like `params` (the inverse of `jacobian::flatten`).
pub fn unflatten(d: &Tensor, params: &[Tensor]) -> Vec<Tensor> {
    let mut start = 0;
    params
        .iter()
        .map(|p| {
            let n = p.numel() as i64;
            let part = d.narrow(0, start, n).view(p.size().as_slice());
            start += n;
            part
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::jacobian::flatten;

    #[test]
    fn unflatten_inverts_flatten() {
        let ps = vec![
            Tensor::randn([2, 3], tch::kind::FLOAT_CPU),
            Tensor::randn([4], tch::kind::FLOAT_CPU),
        ];
        let back = unflatten(&flatten(&ps), &ps);
        for (a, b) in ps.iter().zip(&back) {
            assert!(a.equal(b));
        }
    }
}
