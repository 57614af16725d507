//! Benchmark topics and the shared test Jacobian.

pub mod gramian;
pub mod methods;

use criterion::Criterion;
use std::time::Duration;

/// Task counts and parameter counts benchmarked.
pub const TASKS: [usize; 4] = [2, 3, 10, 40];
/// Parameter counts benchmarked.
pub const PARAMS: [usize; 2] = [1_000, 100_000];

/// Short, small-sample runs.
pub fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
}

/// A deterministic m x n Jacobian with conflicts: g_i = s_i (0.5 c + e_i) scaled by 10^u_i,
/// a shared component c, independent noise e_i, random signs s_i (about a third negative) and
/// norms spread over two decades, so the solvers have active constraints to work on.
pub fn jacobian(m: usize, n: usize) -> Vec<f64> {
    let mut state = 0x5EED_u64 ^ ((m as u64) << 32) ^ n as u64;
    let mut uniform = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    };
    let shared: Vec<f64> = (0..n).map(|_| uniform()).collect();
    let mut data = Vec::with_capacity(m * n);
    for _ in 0..m {
        let sign = if uniform() < -0.33 { -1.0 } else { 1.0 };
        let scale = 10f64.powf(uniform());
        data.extend(shared.iter().map(|c| sign * scale * (0.5 * c + uniform())));
    }
    data
}
