//! Every registry method end to end given J (G, weights, d = Jᵀw), and each weighting's solve
//! alone given G (the part that must stay under 10% of the Gramian's cost).

use super::{config, jacobian, PARAMS, TASKS};
use criterion::{criterion_group, BenchmarkId, Criterion};
use mtl_aggregate::registry::{self, Kind, METHODS};
use mtl_aggregate::{Gramian, JacobianRef};
use std::hint::black_box;

fn end_to_end(c: &mut Criterion) {
    for info in METHODS {
        let mut group = c.benchmark_group(format!("e2e/{}", info.name));
        for n in PARAMS {
            for m in TASKS {
                let data = jacobian(m, n);
                let j = JacobianRef::new(&data, m, n).unwrap();
                let mut method = registry::build(info.name, &[]).unwrap();
                group.bench_function(BenchmarkId::from_parameter(format!("m={m}/n={n}")), |b| {
                    b.iter(|| method.aggregate(black_box(j)).unwrap())
                });
            }
        }
        group.finish();
    }
}

fn solve_only(c: &mut Criterion) {
    for info in METHODS.iter().filter(|i| i.kind == Kind::Gramian) {
        let mut group = c.benchmark_group(format!("solve/{}", info.name));
        for m in TASKS {
            let n = PARAMS[PARAMS.len() - 1];
            let data = jacobian(m, n);
            let g = Gramian::from_jacobian(JacobianRef::new(&data, m, n).unwrap()).unwrap();
            let mut method = registry::build(info.name, &[]).unwrap();
            let w = method.as_weighting_mut().unwrap();
            group.bench_function(BenchmarkId::from_parameter(format!("m={m}/n={n}")), |b| {
                b.iter(|| w.weights(black_box(&g)).unwrap())
            });
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = config();
    targets = end_to_end, solve_only
}
