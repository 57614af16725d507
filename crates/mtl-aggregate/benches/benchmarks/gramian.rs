//! G = J Jᵀ, the floor of every method, and d = Jᵀw.

use super::{config, jacobian, PARAMS, TASKS};
use criterion::{criterion_group, BenchmarkId, Criterion};
use mtl_aggregate::{Gramian, JacobianRef};
use std::hint::black_box;

fn gramian(c: &mut Criterion) {
    let mut group = c.benchmark_group("gramian");
    for n in PARAMS {
        for m in TASKS {
            let data = jacobian(m, n);
            let j = JacobianRef::new(&data, m, n).unwrap();
            group.bench_function(BenchmarkId::from_parameter(format!("m={m}/n={n}")), |b| {
                b.iter(|| Gramian::from_jacobian(black_box(j)).unwrap())
            });
        }
    }
    group.finish();
    let mut group = c.benchmark_group("combine");
    for n in PARAMS {
        for m in TASKS {
            let data = jacobian(m, n);
            let j = JacobianRef::new(&data, m, n).unwrap();
            let w = vec![1.0 / m as f64; m];
            group.bench_function(BenchmarkId::from_parameter(format!("m={m}/n={n}")), |b| {
                b.iter(|| j.combine(black_box(&w)).unwrap())
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = gramian
}
