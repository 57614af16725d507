//! Specialised multi-task optimizers inside training: plumbing pinned against UMTG, known
//! directions for identical tasks, loss weightings' fixed points, exact resume of stateful
//! methods.

mod common;

use common::Fixture;
use mtlscope::config::{ModelConfig, ObjectiveConfig, ObjectiveKind, RunConfig};
use mtlscope::model::MultiTaskNet;
use mtlscope::train::objective::weighting::{self, Ctx};
use mtlscope::train::objective::{self, Batch};
use mtlscope::train::store::Status;
use mtlscope::train::train;
use tch::{Device, Kind, Tensor};

fn run(fx: &Fixture, name: &str, ov: &[&str], resume: bool, stop_after: Option<usize>) -> String {
    let out = fx.out(name);
    let o = train(common::run_options(
        &fx.config, &out, ov, resume, stop_after,
    ))
    .unwrap();
    assert_ne!(o.status, Status::Diverged, "{name}: {}", o.message);
    std::fs::read_to_string(out.join("trajectory.csv")).unwrap()
}

/// The `loss` rows' values of a long-form `trajectory.csv` (`epoch,step,task,split,metric,value`),
/// in file order.
fn losses(csv: &str) -> Vec<f64> {
    csv.lines()
        .skip(1)
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|f| f[4] == "loss")
        .map(|f| f[5].parse().unwrap())
        .collect()
}

/// Optimizer settings for the plumbing comparison, per reduction. `sum`: plain SGD, which keeps
/// float rounding at rounding size. `mean`: aggregators give heads their own task's gradient
/// (as LibMTL/TorchJD) while umtg/mean scales heads by 1/K too, so the paths agree only under an
/// optimizer invariant to that per-parameter scale: Adam, over one epoch (once the toy task is
/// learned to loss ~1e-3, Adam's 1/√v turns rounding in near-zero gradients into visible steps).
fn optimizer_for(red: &str) -> [&'static str; 3] {
    if red == "sum" {
        ["optim.name=sgd", "optim.lr=0.05", "train.eval_every=4"]
    } else {
        ["optim.name=adam", "train.epochs=1", "train.eval_every=4"]
    }
}

/// `aggregate/mean` follows `umtg/mean` and `aggregate/sum` follows `umtg/sum`: the per-task
/// Jacobian path and the single backward give the same steps up to float rounding.
#[test]
fn aggregate_mean_and_sum_reproduce_umtg() {
    let fx = Fixture::new("");
    for red in ["mean", "sum"] {
        let opt = optimizer_for(red);
        let u = run(
            &fx,
            &format!("u_{red}"),
            &[
                &format!("objective.reduction={red}"),
                opt[0],
                opt[1],
                opt[2],
            ],
            false,
            None,
        );
        let a = run(
            &fx,
            &format!("a_{red}"),
            &[
                "objective.kind=aggregate",
                &format!("objective.method={red}"),
                opt[0],
                opt[1],
                opt[2],
            ],
            false,
            None,
        );
        let (lu, la) = (losses(&u), losses(&a));
        assert_eq!(lu.len(), la.len());
        for (i, (x, y)) in lu.iter().zip(&la).enumerate() {
            assert!(
                (x - y).abs() <= 1e-4 * x.abs().max(1.0),
                "{red} row {i}: umtg {x} vs aggregate {y}"
            );
        }
    }
}

fn twin_batches(net: &MultiTaskNet) -> Vec<Batch> {
    // Both heads identical, both tasks the same batch: every task gradient is the same g.
    tch::no_grad(|| {
        for (a, b) in net.head_params(0).iter().zip(net.head_params(1)) {
            b.shallow_clone().copy_(a);
        }
    });
    let x = Tensor::randn([16, 1, 28, 28], (Kind::Float, Device::Cpu));
    let y = Tensor::randint(10, [16], (Kind::Int64, Device::Cpu));
    vec![
        Batch {
            x: x.copy(),
            y: y.copy(),
        },
        Batch { x, y },
    ]
}

/// For two identical tasks: MGDA and UPGrad return g itself, PCGrad (no conflict) 2g.
#[test]
fn identical_tasks_give_known_directions() {
    let tasks = mtlscope::task::multiclass::heads(&["a", "b"], 10);
    let net = MultiTaskNet::seeded(
        11,
        &ModelConfig::default(),
        &tasks,
        [1, 28, 28],
        Device::Cpu,
    )
    .unwrap();
    let batches = twin_batches(&net);
    let n_shared = net.shared_params().len();
    let flat = |g: &[Tensor]| {
        Tensor::cat(
            &g[..n_shared]
                .iter()
                .map(|t| t.reshape([-1]))
                .collect::<Vec<_>>(),
            0,
        )
    };
    let cfg = |m: &str| ObjectiveConfig {
        kind: ObjectiveKind::Aggregate,
        method: Some(m.into()),
        ..Default::default()
    };
    let g = {
        let mut mean = objective::build(&cfg("mean"), 2, 1).unwrap();
        flat(&mean.step(&net, &batches, 0).unwrap().grads)
    };
    for (m, factor) in [
        ("mgda", 1.0),
        ("upgrad", 1.0),
        ("pcgrad", 2.0),
        ("sum", 2.0),
    ] {
        let mut obj = objective::build(&cfg(m), 2, 1).unwrap();
        let d = flat(&obj.step(&net, &batches, 0).unwrap().grads);
        let err = (&d - &g * factor).norm().double_value(&[]) / g.norm().double_value(&[]);
        assert!(err < 1e-4, "{m}: relative error {err}");
    }
}

fn constant_losses(values: &[f64]) -> Vec<Tensor> {
    values.iter().map(|v| Tensor::from(*v as f32)).collect()
}

/// UW's learned weights converge to its stationary point 1/(2 L_k); UW-O sets it directly.
#[test]
fn uncertainty_weights_reach_one_over_two_l() {
    let net = MultiTaskNet::seeded(
        0,
        &ModelConfig::default(),
        &mtlscope::task::multiclass::heads(&["a"], 10),
        [1, 28, 28],
        Device::Cpu,
    )
    .unwrap();
    let l = [0.5, 2.0, 0.1];
    let ctx = Ctx {
        net: &net,
        step: 0,
        steps_per_epoch: 1,
    };
    let mut uw = weighting::build("uw", &[("weight_lr".into(), "0.01".into())], 3).unwrap();
    let mut w = vec![];
    for _ in 0..4000 {
        let (total, weights) = uw.combine(&constant_losses(&l), &ctx).unwrap();
        let g = Tensor::run_backward(&[total], &uw.learnable(), false, false);
        uw.update(&g);
        w = weights;
    }
    for (wk, lk) in w.iter().zip(l) {
        assert!(
            (wk - 1.0 / (2.0 * lk)).abs() < 1e-3 * (1.0 / (2.0 * lk)),
            "uw weight {wk} vs {}",
            1.0 / (2.0 * lk)
        );
    }
    let mut uwo = weighting::build("uw_o", &[], 3).unwrap();
    let (_, w) = uwo.combine(&constant_losses(&l), &ctx).unwrap();
    for (wk, lk) in w.iter().zip(l) {
        assert!((wk - 1.0 / (2.0 * lk)).abs() < 1e-6);
    }
}

/// DWA weighs tasks uniformly in its first two epochs, then by the loss-ratio softmax.
#[test]
fn dwa_starts_uniform_then_follows_loss_ratios() {
    let net = MultiTaskNet::seeded(
        0,
        &ModelConfig::default(),
        &mtlscope::task::multiclass::heads(&["a"], 10),
        [1, 28, 28],
        Device::Cpu,
    )
    .unwrap();
    let mut dwa = weighting::build("dwa", &[], 2).unwrap();
    let epochs = [[1.0, 1.0], [0.5, 1.0], [0.25, 1.0]];
    for (e, l) in epochs.iter().enumerate() {
        let ctx = Ctx {
            net: &net,
            step: e * 2,
            steps_per_epoch: 2,
        };
        let (_, w) = dwa.combine(&constant_losses(l), &ctx).unwrap();
        let ctx = Ctx {
            net: &net,
            step: e * 2 + 1,
            steps_per_epoch: 2,
        };
        let (_, w2) = dwa.combine(&constant_losses(l), &ctx).unwrap();
        assert_eq!(w, w2);
        if e < 2 {
            assert_eq!(w, vec![1.0, 1.0], "epoch {e}");
        } else {
            // r = (0.5, 1.0), T = 2: w = 2 softmax(r / 2).
            let (a, b) = ((0.25f64).exp(), (0.5f64).exp());
            assert!(
                (w[0] - 2.0 * a / (a + b)).abs() < 1e-9 && (w[1] - 2.0 * b / (a + b)).abs() < 1e-9
            );
        }
    }
}

/// GradNorm on a two-task problem where one task's gradient is 10x the other's: the weighted
/// gradient norms at the last shared layer are driven together.
#[test]
fn gradnorm_equalises_weighted_gradient_norms() {
    tch::manual_seed(5);
    let cfg = ModelConfig {
        encoder: "mlp".into(),
        hidden: vec![8],
        ..Default::default()
    };
    let tasks = mtlscope::task::multiclass::heads(&["a", "b"], 2);
    let net = MultiTaskNet::seeded(0, &cfg, &tasks, [1, 2, 2], Device::Cpu).unwrap();
    let x = Tensor::randn([32, 1, 2, 2], (Kind::Float, Device::Cpu));
    let last = net.last_shared_weight();
    // Quadratic task losses with fixed scales: L_b = 100 L_a's shape, frozen network.
    let losses = || {
        let f = net.features(&x, true);
        let a = f.pow_tensor_scalar(2).mean(Kind::Float) * 0.5;
        let b = f.pow_tensor_scalar(2).mean(Kind::Float) * 5.0;
        vec![a, b]
    };
    let mut gn = weighting::build(
        "gradnorm",
        &[
            ("weight_lr".into(), "0.01".into()),
            ("alpha".into(), "0.0".into()),
        ],
        2,
    )
    .unwrap();
    let ctx = Ctx {
        net: &net,
        step: 0,
        steps_per_epoch: 1,
    };
    let mut w = vec![];
    for _ in 0..600 {
        w = gn.combine(&losses(), &ctx).unwrap().1;
    }
    let norms: Vec<f64> = losses()
        .iter()
        .map(|l| {
            Tensor::run_backward(&[l], &[&last], true, false)[0]
                .norm()
                .double_value(&[])
        })
        .collect();
    let (ga, gb) = (w[0] * norms[0], w[1] * norms[1]);
    assert!(
        (ga - gb).abs() < 0.05 * ga.max(gb),
        "weighted norms {ga} vs {gb} (weights {w:?})"
    );
    assert!(
        (w[0] + w[1] - 2.0).abs() < 1e-9,
        "weights renormalised to K"
    );
}

/// Stateful aggregators and weightings resume exactly mid-epoch.
#[test]
fn resume_stateful_methods_equals_uninterrupted() {
    let fx = Fixture::new("");
    for (kind, method) in [
        ("aggregate", "nash_mtl"),
        ("aggregate", "gradvac"),
        ("weighting", "famo"),
        ("weighting", "uw"),
    ] {
        let ov = [
            format!("objective.kind={kind}"),
            format!("objective.method={method}"),
            "train.epochs=2".into(),
        ];
        let ov: Vec<&str> = ov.iter().map(|s| s.as_str()).collect();
        let full = run(&fx, &format!("{method}_full"), &ov, false, None);
        run(&fx, &format!("{method}_cut"), &ov, false, Some(17));
        let resumed = run(&fx, &format!("{method}_cut"), &ov, true, None);
        assert_eq!(full, resumed, "{method}");
        let steps = |name: &str| std::fs::read_to_string(fx.out(name).join("steps.csv")).unwrap();
        assert_eq!(
            steps(&format!("{method}_full")),
            steps(&format!("{method}_cut")),
            "{method} steps.csv"
        );
    }
}

/// Every weighting trains a few steps without diverging and logs its weights.
#[test]
fn every_weighting_and_a_few_aggregators_train() {
    let fx = Fixture::new("");
    let mut names: Vec<(&str, &str)> = weighting::WEIGHTINGS
        .iter()
        .map(|w| ("weighting", w.name))
        .collect();
    names.extend([
        ("aggregate", "mgda_ub"),
        ("aggregate", "cagrad"),
        ("aggregate", "imtl_g"),
        ("aggregate", "aligned_mtl"),
        ("aggregate", "graddrop"),
    ]);
    for (kind, m) in names {
        let ov = [
            format!("objective.kind={kind}"),
            format!("objective.method={m}"),
            "train.epochs=1".into(),
            "objective.log_every=1".into(),
        ];
        let ov: Vec<&str> = ov.iter().map(|s| s.as_str()).collect();
        let csv = run(&fx, m, &ov, false, None);
        assert!(losses(&csv).iter().all(|v| v.is_finite()), "{m}");
        let steps = std::fs::read_to_string(fx.out(m).join("steps.csv")).unwrap();
        assert!(
            steps.lines().count() > 12,
            "{m}: steps.csv has {} lines",
            steps.lines().count()
        );
    }
}

#[test]
fn bad_objective_keys_are_named() {
    let err = |ov: &[&str]| {
        let ov: Vec<String> = ov.iter().map(|s| s.to_string()).collect();
        // Method names are checked against the registries when a run config is resolved.
        let checked = RunConfig::from_toml_str("", &ov)
            .and_then(|c| mtlscope::resolve::check_run(&c).map(|()| c));
        format!("{:#}", checked.unwrap_err())
    };
    let e = err(&["objective.kind=aggregate", "objective.method=pcgard"]);
    assert!(e.contains("pcgard") && e.contains("mgda"), "{e}");
    let e = err(&[
        "objective.kind=aggregate",
        "objective.method=cagrad",
        "objective.cc=0.3",
    ]);
    assert!(e.contains("cc"), "{e}");
    let e = err(&[
        "objective.kind=aggregate",
        "objective.method=cagrad",
        "objective.c=-1",
    ]);
    assert!(e.contains("cagrad.c"), "{e}");
    let e = err(&[
        "objective.kind=weighting",
        "objective.method=gradnorm",
        "objective.alpha=-1",
    ]);
    assert!(e.contains("gradnorm.alpha"), "{e}");
    let e = err(&["objective.method=mgda"]);
    assert!(e.contains("objective.kind"), "{e}");
    let e = err(&["objective.c=0.3"]);
    assert!(e.contains("objective.c"), "{e}");
}

/// `loss_scale = "imtl_l"` with `imtl_g` is LibMTL's IMTL: the step at scales s aggregates the
/// Jacobian of e^{s_k} L_k − s_k (rows e^{s_k} ∇L_k, heads e^{s_k} ∇φ_k L_k), and the scales take
/// one Adam step on e^{s_k} L_k − 1. Checked against the same quantities formed by hand from
/// the unscaled task gradients and `mtl-aggregate`'s IMTL-G.
#[test]
fn imtl_loss_scales_follow_libmtl() {
    use mtl_aggregate::{Gramian, Method};
    use mtlscope::aggregate::jacobian::task_gradients;
    let tasks = mtlscope::task::multiclass::heads(&["a", "b"], 10);
    let net =
        MultiTaskNet::seeded(5, &ModelConfig::default(), &tasks, [1, 28, 28], Device::Cpu).unwrap();
    let batch = |seed| {
        tch::manual_seed(seed);
        Batch {
            x: Tensor::randn([16, 1, 28, 28], (Kind::Float, Device::Cpu)),
            y: Tensor::randint(10, [16], (Kind::Int64, Device::Cpu)),
        }
    };
    let batches = vec![batch(1), batch(2)];
    let lr = 0.01;
    let cfg = ObjectiveConfig {
        kind: ObjectiveKind::Aggregate,
        method: Some("imtl_g".into()),
        loss_scale: Some("imtl_l".into()),
        loss_scale_lr: lr,
        log_every: 0,
        ..Default::default()
    };
    let mut obj = objective::build(&cfg, 2, 1).unwrap();
    let scales = |obj: &dyn objective::Objective| -> Vec<f64> {
        let st = obj.state();
        let s = &st.iter().find(|(k, _)| k == "loss_scale.s").unwrap().1;
        Vec::try_from(s.to_kind(Kind::Double)).unwrap()
    };
    assert_eq!(scales(obj.as_ref()), vec![0.0, 0.0]);
    let tg = task_gradients(&net, &batches);
    let n = net.shared_params().len();
    let flat = |g: &[Tensor]| {
        Tensor::cat(&g.iter().map(|t| t.reshape([-1])).collect::<Vec<_>>(), 0).to_kind(Kind::Double)
    };
    // The expected step at scales s: IMTL-G on diag(e^s) J, heads times e^{s_k}.
    let expect = |s: &[f64]| -> (Tensor, Vec<Tensor>) {
        let c: Vec<f64> = s.iter().map(|x| x.exp()).collect();
        let j = tg.jacobian.to_kind(Kind::Double) * Tensor::from_slice(&c).unsqueeze(1);
        let g: Vec<f64> = Vec::try_from(j.matmul(&j.tr()).reshape([-1])).unwrap();
        let Method::Gramian(mut w) = mtl_aggregate::registry::build("imtl_g", &[]).unwrap() else {
            panic!("imtl_g is a Gramian method")
        };
        let wts = w.weights(&Gramian::from_row_major(2, g).unwrap()).unwrap();
        let d = Tensor::from_slice(&wts)
            .unsqueeze(0)
            .matmul(&j)
            .squeeze_dim(0);
        let heads = (0..2).map(|k| flat(&tg.heads[k]) * c[k]).collect();
        (d, heads)
    };
    let check = |out: &objective::StepOutput, s: &[f64]| {
        let (d, heads) = expect(s);
        let got = flat(&out.grads[..n]);
        assert!(
            got.allclose(&d, 1e-4, 1e-7, false),
            "shared direction at s = {s:?}"
        );
        let hn = net.head_params(0).len();
        for (k, h) in heads.iter().enumerate() {
            let got = flat(&out.grads[n + k * hn..n + (k + 1) * hn]);
            assert!(got.allclose(h, 1e-5, 1e-8, false), "head {k} at s = {s:?}");
        }
    };
    // Step 1 at s = 0 (plain IMTL-G), then Adam's first step on e^0 L_k − 1 = L_k − 1:
    // s_k = −lr · g / (|g| + ε) (bias-corrected moments m̂ = g, v̂ = g²).
    let out = obj.step(&net, &batches, 0).unwrap();
    check(&out, &[0.0, 0.0]);
    let l: Vec<f64> = Vec::try_from(tg.losses.to_kind(Kind::Double)).unwrap();
    let s1 = scales(obj.as_ref());
    for k in 0..2 {
        let g = l[k] - 1.0;
        assert!((s1[k] + lr * g / (g.abs() + 1e-8)).abs() < 1e-9, "{s1:?}");
    }
    // Step 2 (same weights, same batches) at s1 ≠ 0.
    let out = obj.step(&net, &batches, 1).unwrap();
    check(&out, &s1);
    // The scales are checkpoint state: a fresh objective resumes them.
    let state: std::collections::HashMap<String, Tensor> = obj.state().into_iter().collect();
    let mut again = objective::build(&cfg, 2, 1).unwrap();
    again.load_state(&state).unwrap();
    assert_eq!(scales(again.as_ref()), scales(obj.as_ref()));
}
