//! A probe pass leaves parameters and libtorch's global RNG as it found them. Alone in its
//! file: libtorch's generator is process-wide, and tests running in parallel threads of one
//! process (training runs seed and draw from it) would race with the check.

mod common;

use common::Fixture;
use mtlscope::config::{ModelConfig, ProbesConfig, RunConfig};
use mtlscope::data::load_tasks;
use mtlscope::model::MultiTaskNet;
use mtlscope::probe::ProbeSet;
use tch::{Device, Kind, Tensor};

/// A probe pass restores every parameter bit for bit and draws nothing from libtorch's RNG.
#[test]
fn probes_restore_parameters_and_leave_the_global_rng_alone() {
    let fx = Fixture::new("");
    let cfg = RunConfig::load(&fx.config, &[]).unwrap();
    let tasks = load_tasks(&cfg.data).unwrap();
    let heads = mtlscope::data::heads(&tasks);
    let net =
        MultiTaskNet::seeded(3, &ModelConfig::default(), &heads, [1, 28, 28], Device::Cpu).unwrap();
    tch::manual_seed(3);
    let before: Vec<Tensor> = net.params().iter().map(|p| p.detach().copy()).collect();
    let pcfg = ProbesConfig {
        subset: 64,
        sharpness_steps: 3,
        conflict_samples: 8,
        ..ProbesConfig::default()
    };
    let mut set = ProbeSet::new(&pcfg, &net, &tasks, Device::Cpu).unwrap();
    tch::manual_seed(9);
    let a = set.record(&net, 0, false).unwrap();
    let after_probe = Tensor::randn([4], (Kind::Float, Device::Cpu));
    tch::manual_seed(9);
    let fresh = Tensor::randn([4], (Kind::Float, Device::Cpu));
    assert!(after_probe.equal(&fresh), "libtorch RNG was advanced");
    for (p, b) in net.params().iter().zip(&before) {
        assert!(p.equal(b), "parameter changed");
    }
    // Same evaluation index, same rows; another index reorders batches and labels.
    assert_eq!(a, set.record(&net, 0, false).unwrap());
    let c = set.record(&net, 1, false).unwrap();
    let fim = |rows: &[mtlscope::probe::ProbeRow]| {
        rows.iter().find(|r| r.probe == "fim_trace").unwrap().value
    };
    assert_ne!(fim(&a), fim(&c));
    let sharp = |rows: &[mtlscope::probe::ProbeRow]| {
        rows.iter().find(|r| r.probe == "sharpness").unwrap().value
    };
    assert_eq!(sharp(&a), sharp(&c), "sharpness has no randomness");
}
