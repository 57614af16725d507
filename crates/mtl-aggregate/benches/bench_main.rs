//! `cargo bench -p mtl-aggregate [-- FILTER]`: the Gramian (the floor), each method end to end
//! given J, and each weighting's solve alone given G. Sizes: m ∈ {2, 3, 10, 40},
//! n ∈ {1e3, 1e5}. Short runs by default (10 samples, 1 s), the machine being small.

mod benchmarks;

criterion::criterion_main!(benchmarks::gramian::benches, benchmarks::methods::benches);
