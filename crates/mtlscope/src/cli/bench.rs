//! `mtlscope bench step`: median wall time of one training step with K tasks at a given batch
//! size — the UMTG path (one backward of the summed loss) and the per-task Jacobian path
//! (K backwards, J Jᵀ, d = Jᵀw written back) — split into batch gathering, forward+backward,
//! aggregation and the optimizer update, and the process's peak resident memory after each
//! path. `--setting` picks the network and shapes: `fashion` (LeNet-5, 1×28×28, 10 classes,
//! disjoint inputs), `cifar` (ResNet-18 CIFAR stem, 3×32×32, 5 classes, disjoint inputs: the
//! CIFAR-100 setting at m = 20), `celeba` (ResNet-18 ImageNet stem, 3×64×64, 2-class heads,
//! one batch shared by every task: the CelebA setting at m = 40), or NYUv2's three dense tasks
//! on shared 3×288×384 inputs (13-class segmentation, depth, normals, with their kinds' heads
//! and losses; default batch 8): `nyuv2-segnet` (MTAN's SegNet, decoder heads) and
//! `nyuv2-deeplab` (DeepLabV3+: dilated ResNet-50, ASPP heads), or `glue-roberta`: GLUE's
//! tasks (up to 8, in `glue`'s order: 2-class heads with cross-entropy, STS-B's regression with
//! MSE, MNLI's 3 classes) on RoBERTa-base with random weights, disjoint batches of full-length
//! token sequences (default 32 × 128). Inputs and targets are random tensors of those shapes
//! (labels with some ignored pixels, positive depths, unit normals, token ids): the cost of a
//! step does not depend on their values. `scripts/bench_step.py` times the same steps
//! written plainly in PyTorch on the same wheel.
//!
//! `mtlscope bench probes`: wall time of each trajectory probe at the `[probes]` defaults on
//! the same LeNet, K tasks of 2048 random examples (the probe subsets), as throughput in
//! examples per second (one example through one gradient evaluation) next to a training
//! forward+backward at the probe's batch size, and the probes' time over a FashionMTL epoch
//! (195 UMTG steps of K×128 with the Adam update).
//!
//! What the user waits for, a whole run or experiment as processes against the same job
//! written plainly in PyTorch, is timed by `scripts/bench_run.sh` (with `scripts/bench_run.py`);
//! a run's own breakdown is `run.json`'s `phases`.

use anyhow::{bail, Result};
use std::process::ExitCode;
use std::time::Instant;
use tch::{Device, Kind, Tensor};

use mtlscope::aggregate::{apply::unflatten, jacobian::task_gradients};
use mtlscope::config::{ModelConfig, ObjectiveConfig, ObjectiveKind, OptimConfig, ProbesConfig};
use mtlscope::data::{Split, TaskData};
use mtlscope::model::{MultiTaskNet, TaskHead};
use mtlscope::probe::ProbeSet;
use mtlscope::task::TaskSpec;
use mtlscope::train::objective::{self, weighting};
use mtlscope::train::optim;
use mtlscope::train::sampler::{self, Sampler};

/// Arguments of `mtlscope bench`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to time: `step`, `probes` or `toy` (the full CAGrad-toy grid; `--threads` workers).
    #[arg(default_value = "step")]
    pub what: String,
    /// Number of tasks.
    #[arg(long, default_value_t = 3)]
    pub tasks: usize,
    /// Batch size per task (default: 8 for the nyuv2 settings, else 128).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Timed steps per path.
    #[arg(long, default_value_t = 100)]
    pub steps: usize,
    /// Untimed warm-up steps per path.
    #[arg(long, default_value_t = 10)]
    pub warmup: usize,
    /// cpu, cuda or auto.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// libtorch intra-op threads.
    #[arg(long)]
    pub threads: Option<i32>,
    /// Also time a full step of every aggregator and loss weighting at default parameters
    /// (`all`), or of the comma-separated methods named.
    #[arg(long, value_name = "all|NAME,...")]
    pub methods: Option<String>,
    /// Timed repetitions of each probe (`bench probes`).
    #[arg(long, default_value_t = 3)]
    pub reps: usize,
    /// Network and shapes of `bench step`: fashion (LeNet), cifar or celeba (ResNet-18),
    /// nyuv2-segnet or nyuv2-deeplab (NYUv2's three dense tasks at 288×384), glue-roberta
    /// (RoBERTa-base, GLUE's heads; --tasks up to 8, default batch 32).
    #[arg(long, default_value = "fashion")]
    pub setting: String,
    /// Tokens per sequence of `--setting glue-roberta`.
    #[arg(long, default_value_t = 128)]
    pub seq_len: i64,
}

/// The tasks of a `--setting`.
#[derive(Clone, Copy)]
enum BenchTasks {
    /// `--tasks` multiclass heads with this many classes.
    Classes(i64),
    /// NYUv2's 13-class segmentation, depth and normals.
    Nyuv2,
    /// GLUE's first `--tasks` tasks on token sequences.
    Glue,
}

/// What `--setting` stands for.
struct Setting {
    encoder: &'static str,
    variant: &'static str,
    shape: [i64; 3],
    tasks: BenchTasks,
    shared_inputs: bool,
    batch_size: usize,
}

/// The `--setting` names, in `--help` order.
const SETTINGS: [&str; 6] = [
    "fashion",
    "cifar",
    "celeba",
    "nyuv2-segnet",
    "nyuv2-deeplab",
    "glue-roberta",
];

fn setting(name: &str) -> Result<Setting> {
    let (encoder, variant, shape, tasks, shared_inputs, batch_size) = match name {
        "fashion" => (
            "lenet",
            "auto",
            [1, 28, 28],
            BenchTasks::Classes(10),
            false,
            128,
        ),
        "cifar" => (
            "resnet18",
            "cifar",
            [3, 32, 32],
            BenchTasks::Classes(5),
            false,
            128,
        ),
        "celeba" => (
            "resnet18",
            "auto",
            [3, 64, 64],
            BenchTasks::Classes(2),
            true,
            128,
        ),
        "nyuv2-segnet" => ("segnet", "auto", [3, 288, 384], BenchTasks::Nyuv2, true, 8),
        "nyuv2-deeplab" => (
            "deeplabv3plus",
            "auto",
            [3, 288, 384],
            BenchTasks::Nyuv2,
            true,
            8,
        ),
        // The "shape" of a token example is [3, L]; L comes from --seq-len.
        "glue-roberta" => ("roberta", "auto", [1, 3, 0], BenchTasks::Glue, false, 32),
        other => bail!(
            "--setting: unknown `{other}`; known: {}",
            SETTINGS.join(", ")
        ),
    };
    Ok(Setting {
        encoder,
        variant,
        shape,
        tasks,
        shared_inputs,
        batch_size,
    })
}

/// NYUv2's tasks as the `nyuv2` dataset defines them, and `pool` random targets of each for
/// `h × w` inputs: labels in 0..13 with about 1 in 14 pixels ignored (−1), depths in (0, 10]
/// with about 1 in 20 invalid (0), unit normals.
fn nyuv2_tasks(pool: i64, h: i64, w: i64, device: Device) -> Result<(Vec<TaskHead>, Vec<Tensor>)> {
    use mtlscope::task::{depth::DepthSpec, normals::NormalsSpec, segmentation::SegmentationSpec};
    let specs = [
        (
            "segmentation",
            TaskSpec::Segmentation(SegmentationSpec {
                classes: 13,
                ignore_index: -1,
                decoder_channels: None,
            }),
        ),
        ("depth", TaskSpec::Depth(DepthSpec::default())),
        ("normal", TaskSpec::Normals(NormalsSpec::default())),
    ];
    let heads = specs
        .into_iter()
        .map(|(n, s)| Ok((n.to_string(), s.build()?.into())))
        .collect::<Result<Vec<TaskHead>>>()?;
    let f = (Kind::Float, device);
    let labels = Tensor::randint(14, [pool, h, w], (Kind::Int64, device)) - 1;
    let valid = Tensor::rand([pool, 1, h, w], f)
        .ge(0.05)
        .to_kind(Kind::Float);
    let depth = (Tensor::rand([pool, 1, h, w], f) * 9.99 + 0.01) * valid;
    let n = Tensor::randn([pool, 3, h, w], f);
    let normals = &n / n.square().sum_dim_intlist(1, true, None::<Kind>).sqrt();
    Ok((heads, vec![labels, depth, normals]))
}

/// GLUE's task heads in the `glue` dataset's order (2-class cross-entropy, STS-B's regression,
/// MNLI's 3 classes), the first `k`, with `pool` random targets each.
fn glue_tasks(k: usize, pool: i64, device: Device) -> Result<(Vec<TaskHead>, Vec<Tensor>)> {
    use mtlscope::task::multiclass::MulticlassSpec;
    use mtlscope::task::regression::RegressionSpec;
    const TASKS: [(&str, i64); 8] = [
        ("cola", 2),
        ("sst2", 2),
        ("mrpc", 2),
        ("stsb", 1),
        ("qqp", 2),
        ("mnli", 3),
        ("qnli", 2),
        ("rte", 2),
    ];
    if k > TASKS.len() {
        bail!("--tasks: --setting glue-roberta has at most 8 tasks, got {k}");
    }
    let mut heads = Vec::new();
    let mut targets = Vec::new();
    for &(name, outputs) in &TASKS[..k] {
        let spec = if outputs == 1 {
            TaskSpec::Regression(RegressionSpec::new(1))
        } else {
            TaskSpec::Multiclass(MulticlassSpec::new(outputs))
        };
        heads.push((name.to_string(), spec.build()?.into()));
        targets.push(if outputs == 1 {
            Tensor::rand([pool], (Kind::Float, device)) * 5.0
        } else {
            Tensor::randint(outputs, [pool], (Kind::Int64, device))
        });
    }
    Ok((heads, targets))
}

/// `pool` random full-length token sequences `[pool, 3, len]` (ids in RoBERTa's vocabulary
/// past its special tokens, token types 0, every position a real token).
fn token_batch(pool: i64, len: i64, device: Device) -> Tensor {
    let ids = Tensor::randint_low(3, 50265, [pool, 1, len], (Kind::Int64, device));
    let types = Tensor::zeros([pool, 1, len], (Kind::Int64, device));
    let mask = Tensor::ones([pool, 1, len], (Kind::Int64, device));
    Tensor::cat(&[ids, types, mask], 1)
}

/// The process's peak resident memory so far (Linux `VmHWM`), in MB; NaN where unknown.
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Median, 10th and 90th percentile of a sample, in milliseconds.
fn summary(ms: &mut [f64]) -> (f64, f64, f64) {
    ms.sort_by(f64::total_cmp);
    let q = |p: f64| ms[((ms.len() - 1) as f64 * p).round() as usize];
    (q(0.5), q(0.1), q(0.9))
}

fn sync(device: Device) {
    if let Device::Cuda(i) = device {
        tch::Cuda::synchronize(i as i64);
    }
}

/// Runs the benchmark.
pub fn run(args: Args) -> Result<ExitCode> {
    if args.tasks == 0 || args.batch_size == Some(0) || args.steps == 0 || args.reps == 0 {
        bail!("bench: --tasks, --batch-size, --steps and --reps must be >= 1");
    }
    if let Some(n) = args.threads {
        tch::set_num_threads(n);
    }
    let device = super::parse_device(&args.device)?;
    match args.what.as_str() {
        "step" => run_step(args, device),
        "probes" => run_probes(args, device),
        "toy" => super::toy::bench(args.reps, args.threads.map(|n| n.max(1) as usize)),
        other => bail!("bench: unknown target `{other}`; known: step, probes, toy"),
    }
}

fn run_step(args: Args, device: Device) -> Result<ExitCode> {
    let Setting {
        encoder,
        variant,
        mut shape,
        tasks,
        shared_inputs,
        batch_size,
    } = setting(&args.setting)?;
    if matches!(tasks, BenchTasks::Glue) {
        if !(1..=512).contains(&args.seq_len) {
            bail!("--seq-len must be in 1..=512, got {}", args.seq_len);
        }
        shape[2] = args.seq_len;
    }
    let batch_size = args.batch_size.unwrap_or(batch_size);
    if matches!(tasks, BenchTasks::Nyuv2) && args.tasks != 3 {
        bail!(
            "--tasks: --setting {} has NYUv2's 3 tasks, got {}",
            args.setting,
            args.tasks
        );
    }
    // Enough examples for distinct batches without holding K × 4096 ResNet inputs.
    let pool = (8 * batch_size).clamp(batch_size, 4096) as i64;
    tch::manual_seed(0);
    let [c, h, w] = shape;
    let inputs: Vec<Tensor> = (0..if shared_inputs { 1 } else { args.tasks })
        .map(|_| match tasks {
            BenchTasks::Glue => token_batch(pool, w, device),
            _ => Tensor::randn([pool, c, h, w], (Kind::Float, device)),
        })
        .collect();
    let (names, targets) = match tasks {
        BenchTasks::Classes(classes) => {
            let task_names: Vec<String> = (0..args.tasks).map(|k| format!("task{k}")).collect();
            let task_refs: Vec<&str> = task_names.iter().map(String::as_str).collect();
            let targets = (0..args.tasks)
                .map(|_| Tensor::randint(classes, [pool], (Kind::Int64, device)))
                .collect();
            (
                mtlscope::task::multiclass::heads(&task_refs, classes),
                targets,
            )
        }
        BenchTasks::Nyuv2 => nyuv2_tasks(pool, h, w, device)?,
        BenchTasks::Glue => glue_tasks(args.tasks, pool, device)?,
    };
    let data: Vec<(Tensor, Tensor)> = targets
        .into_iter()
        .enumerate()
        .map(|(k, y)| (inputs[if shared_inputs { 0 } else { k }].shallow_clone(), y))
        .collect();
    let model = ModelConfig {
        encoder: encoder.into(),
        variant: variant.into(),
        ..ModelConfig::default()
    };
    let net = match tasks {
        // Random weights at RoBERTa-base's size: the timing does not depend on them.
        BenchTasks::Glue => MultiTaskNet::with_encoder(&model, &names, [3, w], device, |p| {
            let enc = mtlscope::model::transformer::Transformer::new(
                p,
                &mtlscope::model::transformer::TransformerConfig::roberta_base(),
            )?;
            Ok(Box::new(enc) as Box<dyn mtlscope::model::Encoder>)
        })?,
        _ => MultiTaskNet::new(&model, &names, shape, device)?,
    };
    let params = net.params();
    let shared = net.shared_params();
    let mut samplers: Vec<Sampler> = (0..args.tasks)
        .map(|k| Sampler::new(0, k, pool as usize, batch_size))
        .collect();
    let pairs: Vec<(&Tensor, &Tensor)> = data.iter().map(|(x, y)| (x, y)).collect();
    let mut gather = |step: usize| {
        if shared_inputs {
            // One draw of examples labelled by every task: one input tensor, K targets.
            let idx = Tensor::from_slice(samplers[0].batch(step)).to_device(device);
            let x = pairs[0].0.index_select(0, &idx);
            pairs
                .iter()
                .map(|(_, y)| mtlscope::data::Batch {
                    x: x.shallow_clone(),
                    y: y.index_select(0, &idx),
                })
                .collect()
        } else {
            sampler::batches(&mut samplers, &pairs, step)
        }
    };
    println!(
        "mtlscope bench step: {} ({encoder}, {c}x{h}x{w}, {}), {} tasks, batch {} per task, {} shared parameters, device {:?}, {} threads",
        args.setting,
        if shared_inputs { "shared inputs" } else { "disjoint inputs" },
        args.tasks,
        batch_size,
        net.n_shared(),
        device,
        tch::get_num_threads()
    );
    println!(
        "{:<10} {:<22} {:>10} {:>10} {:>10}",
        "path", "part", "median ms", "p10 ms", "p90 ms"
    );

    // UMTG: one concatenated forward, one backward.
    let mut umtg = objective::build(&ObjectiveConfig::default(), args.tasks, 1)?;
    let mut opt = optim::build(&OptimConfig::default());
    let mut parts: Vec<[f64; 3]> = Vec::new();
    for step in 0..args.warmup + args.steps {
        let t0 = Instant::now();
        let batches = gather(step);
        sync(device);
        let t1 = Instant::now();
        let out = umtg.step(&net, &batches, step)?;
        let _ = out.losses.double_value(&[0]);
        sync(device);
        let t2 = Instant::now();
        opt.step(&params, &out.grads);
        sync(device);
        let t3 = Instant::now();
        if step >= args.warmup {
            parts.push([
                (t1 - t0).as_secs_f64(),
                (t2 - t1).as_secs_f64(),
                (t3 - t2).as_secs_f64(),
            ]);
        }
    }
    report("umtg", &["gather", "forward+backward", "optimizer"], &parts);
    let rss_umtg = peak_rss_mb();

    // Jacobian: K forwards/backwards, Gramian to f64, d = Jᵀw, heads' own gradients.
    let mut opt = optim::build(&OptimConfig::default());
    let mut parts: Vec<[f64; 4]> = Vec::new();
    for step in 0..args.warmup + args.steps {
        let t0 = Instant::now();
        let batches = gather(step);
        sync(device);
        let t1 = Instant::now();
        let tg = task_gradients(&net, &batches);
        let _ = tg.losses.double_value(&[0]);
        sync(device);
        let t2 = Instant::now();
        let gram = tg
            .jacobian
            .matmul(&tg.jacobian.tr())
            .to_kind(Kind::Double)
            .to_device(Device::Cpu);
        let g: Vec<f64> = Vec::<f64>::try_from(gram.reshape([-1]))?;
        let w: Vec<f32> = vec![1.0; args.tasks];
        debug_assert_eq!(g.len(), args.tasks * args.tasks);
        let d = Tensor::from_slice(&w)
            .to_device(device)
            .matmul(&tg.jacobian);
        let mut grads = unflatten(&d, &shared);
        grads.extend(tg.heads.into_iter().flatten());
        sync(device);
        let t3 = Instant::now();
        opt.step(&params, &grads);
        sync(device);
        let t4 = Instant::now();
        if step >= args.warmup {
            parts.push([
                (t1 - t0).as_secs_f64(),
                (t2 - t1).as_secs_f64(),
                (t3 - t2).as_secs_f64(),
                (t4 - t3).as_secs_f64(),
            ]);
        }
    }
    report(
        "jacobian",
        &[
            "gather",
            "forward+K backward",
            "gramian+direction",
            "optimizer",
        ],
        &parts,
    );
    println!(
        "peak resident memory: {rss_umtg:.0} MB after the UMTG path, {:.0} MB after the Jacobian path (m = {})",
        peak_rss_mb(),
        args.tasks
    );

    if let Some(list) = &args.methods {
        println!();
        println!(
            "{:<22} {:>10} {:>10} {:>10}",
            "objective (full step)", "median ms", "p10 ms", "p90 ms"
        );
        for (kind, name) in method_list(list)? {
            let cfg = ObjectiveConfig {
                kind,
                method: Some(name.clone()),
                log_every: 0,
                ..Default::default()
            };
            let mut obj = objective::build(&cfg, args.tasks, 1000)?;
            let mut opt = optim::build(&OptimConfig::default());
            let mut ms = Vec::new();
            for step in 0..args.warmup + args.steps {
                let batches = gather(step);
                let t0 = Instant::now();
                let out = obj.step(&net, &batches, step)?;
                opt.step(&params, &out.grads);
                obj.after_step(&net, &batches, &out.losses)?;
                sync(device);
                if step >= args.warmup {
                    ms.push(t0.elapsed().as_secs_f64() * 1e3);
                }
            }
            let (m, lo, hi) = summary(&mut ms);
            println!(
                "{:<22} {m:>10.2} {lo:>10.2} {hi:>10.2}",
                format!("{}/{name}", kind_name(kind))
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn kind_name(k: ObjectiveKind) -> &'static str {
    match k {
        ObjectiveKind::Umtg => "umtg",
        ObjectiveKind::Aggregate => "aggregate",
        ObjectiveKind::Weighting => "weighting",
    }
}

/// The methods named by `--methods`: `all`, or names looked up in both registries.
fn method_list(list: &str) -> Result<Vec<(ObjectiveKind, String)>> {
    let aggs = mtl_aggregate::registry::names();
    let ws: Vec<&str> = weighting::WEIGHTINGS.iter().map(|w| w.name).collect();
    if list == "all" {
        let mut v: Vec<(ObjectiveKind, String)> = aggs
            .iter()
            .filter(|n| **n != "mgda_ub")
            .map(|n| (ObjectiveKind::Aggregate, n.to_string()))
            .collect();
        v.extend(ws.iter().map(|n| (ObjectiveKind::Weighting, n.to_string())));
        return Ok(v);
    }
    list.split(',')
        .map(|n| {
            let n = n.trim();
            if aggs.contains(&n) {
                Ok((ObjectiveKind::Aggregate, n.to_string()))
            } else if ws.contains(&n) {
                Ok((ObjectiveKind::Weighting, n.to_string()))
            } else {
                bail!(
                    "--methods: unknown method `{n}`; known: {}, {}",
                    aggs.join(", "),
                    ws.join(", ")
                )
            }
        })
        .collect()
}

fn report<const N: usize>(path: &str, names: &[&str; N], parts: &[[f64; N]]) {
    let mut total: Vec<f64> = parts.iter().map(|p| p.iter().sum::<f64>() * 1e3).collect();
    let (m, lo, hi) = summary(&mut total);
    println!(
        "{path:<10} {:<22} {m:>10.2} {lo:>10.2} {hi:>10.2}",
        "step (total)"
    );
    for (i, name) in names.iter().enumerate() {
        let mut v: Vec<f64> = parts.iter().map(|p| p[i] * 1e3).collect();
        let (m, lo, hi) = summary(&mut v);
        println!("{path:<10} {name:<22} {m:>10.2} {lo:>10.2} {hi:>10.2}");
    }
}

/// Median seconds of `reps` timed calls of `f` after one untimed call.
fn time_median(reps: usize, device: Device, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    f()?;
    sync(device);
    let mut v = Vec::with_capacity(reps);
    for _ in 0..reps {
        let t = Instant::now();
        f()?;
        sync(device);
        v.push(t.elapsed().as_secs_f64());
    }
    Ok(summary(&mut v).0)
}

fn run_probes(args: Args, device: Device) -> Result<ExitCode> {
    let cfg = ProbesConfig::default();
    let k = args.tasks;
    let n = cfg.subset as i64;
    tch::manual_seed(0);
    let tasks: Vec<TaskData> = (0..k)
        .map(|i| {
            let split = |m: i64| Split {
                x: Tensor::randn([m, 1, 28, 28], (Kind::Float, device)),
                y: Tensor::randint(10, [m], (Kind::Int64, device)),
            };
            let spec = mtlscope::task::TaskSpec::Multiclass(
                mtlscope::task::multiclass::MulticlassSpec::new(10),
            );
            TaskData::new(&format!("task{i}"), spec, split(n), split(1), split(1))
        })
        .collect::<Result<_>>()?;
    let heads = mtlscope::data::heads(&tasks);
    let model = ModelConfig::default();
    let net = MultiTaskNet::new(&model, &heads, [1, 28, 28], device)?;
    let mut set = ProbeSet::new(&cfg, &net, &tasks, device)?;
    println!(
        "mtlscope bench probes: LeNet, {k} tasks, |S_k| = {n}, probes at defaults, device {device:?}, {} threads",
        tch::get_num_threads()
    );

    // Training forward+backward of one task's loss, all its parameters, at batch b.
    let params: Vec<Tensor> = net
        .shared_params()
        .into_iter()
        .chain(net.head_params(0))
        .collect();
    let train_eps = |b: i64| -> Result<f64> {
        let x = tasks[0].train.x.narrow(0, 0, b);
        let y = tasks[0].train.y.narrow(0, 0, b);
        let reps = (4096 / b as usize).max(args.reps);
        let t = time_median(reps, device, || {
            let loss = net.loss(0, &net.forward(0, &x, true), &y);
            let g = Tensor::run_backward(&[loss], &params, false, false);
            let _ = g[0].sum(Kind::Float).double_value(&[]);
            Ok(())
        })?;
        Ok(b as f64 / t)
    };
    let (t16, t128) = (
        train_eps(cfg.fim_batch as i64)?,
        train_eps(cfg.sharpness_batch as i64)?,
    );

    // Examples through a gradient evaluation per call of each probe, and its batch size.
    let kf = k as f64;
    let work = |name: &str| -> (f64, f64) {
        let nf = n as f64;
        match name {
            "sharpness" => (kf * nf * cfg.sharpness_steps as f64, t128),
            "fim_trace" => (kf * nf * (cfg.fim_draws + 1) as f64, t16),
            "coherence" => (
                kf * (cfg.coherence_batch * cfg.coherence_batches) as f64,
                t128,
            ),
            _ => (
                kf * ((cfg.conflict_batch * cfg.conflict_batches) as f64
                    + cfg.conflict_samples as f64),
                t128,
            ),
        }
    };
    println!(
        "train fwd+bwd (1 task): {:.0} ex/s at batch {}, {:.0} ex/s at batch {}",
        t16, cfg.fim_batch, t128, cfg.sharpness_batch
    );
    println!(
        "{:<11} {:>10} {:>14} {:>14} {:>10}",
        "probe", "median s", "example-grads", "ex/s", "vs train"
    );
    let mut total = 0.0;
    let mut per_probe = Vec::new();
    for (i, name) in set.names().into_iter().enumerate() {
        let t = time_median(args.reps, device, || set.run_one(i, &net, 0).map(|_| ()))?;
        let (w, train) = work(name);
        println!(
            "{name:<11} {t:>10.3} {w:>14.0} {:>14.0} {:>9.0}%",
            w / t,
            100.0 * (w / t) / train
        );
        total += t;
        per_probe.push((name, t));
    }

    // A FashionMTL epoch: 195 UMTG steps of K×128 plus the optimizer update.
    let pool = n;
    let mut umtg = objective::build(&ObjectiveConfig::default(), k, 1)?;
    let mut opt = optim::build(&OptimConfig::default());
    let all = net.params();
    let mut samplers: Vec<Sampler> = (0..k)
        .map(|i| Sampler::new(0, i, pool as usize, 128))
        .collect();
    let steps = args.steps.min(195);
    let mut step = 0;
    let t_step = time_median(1, device, || {
        for _ in 0..steps {
            let data: Vec<(&Tensor, &Tensor)> =
                tasks.iter().map(|t| (&t.train.x, &t.train.y)).collect();
            let batches = sampler::batches(&mut samplers, &data, step);
            let out = umtg.step(&net, &batches, step)?;
            opt.step(&all, &out.grads);
            step += 1;
        }
        Ok(())
    })? / steps as f64;
    let epoch = 195.0 * t_step;
    println!(
        "epoch (195 steps of {k}x128, extrapolated from {steps}): {epoch:.3} s; all probes: {total:.3} s; probe/epoch = {:.2}",
        total / epoch
    );
    let shares: Vec<String> = per_probe
        .iter()
        .map(|(n, t)| format!("{n} {:.0}%", 100.0 * t / total))
        .collect();
    println!("probe time: {}", shares.join(", "));
    Ok(ExitCode::SUCCESS)
}
