//! `train.deterministic`: libtorch's deterministic-algorithms mode, for bit-reproducible runs on
//! CUDA (CPU runs are deterministic already: the same config and seed give the same trajectory).
//!
//! What it switches, as `torch.use_deterministic_algorithms(True)` does in PyTorch: ops with a
//! deterministic implementation use it (cuDNN convolutions pick deterministic algorithms, no
//! benchmarking; scatter/index_add-style reductions avoid atomics), and ops without one raise an
//! error instead of silently varying. cuBLAS additionally needs `CUBLAS_WORKSPACE_CONFIG`
//! (`:4096:8`) before its first handle; it is set here if the user has not set it. Cost: the
//! deterministic cuDNN/cuBLAS paths are typically 10–30% slower for convolutional nets (NVIDIA's
//! cuDNN documentation; PyTorch's "Reproducibility" notes); on CPU there is no difference.
//!
//! tch exposes no binding for these switches, so the libtorch (`at::Context`) methods are called
//! directly by their symbols; non-virtual C++ member functions take `this` as a first argument
//! under the Itanium ABI that libtorch's Linux builds use.

use std::ffi::c_void;

extern "C" {
    #[link_name = "_ZN2at13globalContextEv"]
    fn at_global_context() -> *mut c_void;
    #[link_name = "_ZN2at7Context26setDeterministicAlgorithmsEbb"]
    fn at_set_deterministic_algorithms(ctx: *mut c_void, on: bool, warn_only: bool);
    #[link_name = "_ZNK2at7Context23deterministicAlgorithmsEv"]
    fn at_deterministic_algorithms(ctx: *const c_void) -> bool;
    #[link_name = "_ZN2at7Context21setDeterministicCuDNNEb"]
    fn at_set_deterministic_cudnn(ctx: *mut c_void, on: bool);
    #[link_name = "_ZNK2at7Context18deterministicCuDNNEv"]
    fn at_deterministic_cudnn(ctx: *const c_void) -> bool;
    #[link_name = "_ZN2at7Context17setBenchmarkCuDNNEb"]
    fn at_set_benchmark_cudnn(ctx: *mut c_void, on: bool);
}

/// Turns libtorch's deterministic mode on or off for this process (it is process-global).
pub fn set(on: bool) {
    if on && std::env::var_os("CUBLAS_WORKSPACE_CONFIG").is_none() {
        // Read by cuBLAS when it creates its first handle, i.e. at the first CUDA matmul.
        std::env::set_var("CUBLAS_WORKSPACE_CONFIG", ":4096:8");
    }
    // SAFETY: the global context lives for the whole process; these setters only store flags.
    unsafe {
        let ctx = at_global_context();
        at_set_deterministic_algorithms(ctx, on, false);
        at_set_deterministic_cudnn(ctx, on);
        if on {
            at_set_benchmark_cudnn(ctx, false);
        }
    }
}

/// Whether deterministic algorithms (and deterministic cuDNN) are on.
pub fn is_on() -> bool {
    // SAFETY: as in `set`; the getters only read flags.
    unsafe {
        let ctx = at_global_context();
        at_deterministic_algorithms(ctx) && at_deterministic_cudnn(ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Kind, Tensor};

    /// The switch reaches libtorch (its flags read back through libtorch's own getters) and
    /// CPU ops keep working while it is on.
    #[test]
    fn the_switch_reaches_libtorch() {
        set(true);
        assert!(is_on());
        let x = Tensor::zeros([4], (Kind::Float, tch::Device::Cpu));
        let idx = Tensor::from_slice(&[0i64, 1, 1, 3]);
        let src = Tensor::ones([4], (Kind::Float, tch::Device::Cpu));
        // index_add is deterministic on CPU, so it must still run.
        let y = x.index_add(0, &idx, &src);
        assert_eq!(Vec::<f32>::try_from(&y).unwrap(), [1.0, 2.0, 0.0, 1.0]);
        set(false);
        assert!(!is_on());
    }
}
