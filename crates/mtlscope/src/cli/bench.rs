//! `mtlscope bench step`: median wall time of one training step on LeNet with K tasks at a
//! given batch size — the UMTG path (one backward of the summed loss) and the per-task
//! Jacobian path (K backwards, J Jᵀ, d = Jᵀw written back) — split into batch gathering,
//! forward+backward, aggregation and the optimizer update. Inputs are random tensors of
//! Fashion-MNIST's shape: the cost of a step does not depend on pixel values.

use anyhow::{bail, Result};
use std::process::ExitCode;
use std::time::Instant;
use tch::{Device, Kind, Tensor};

use crate::aggregate::{apply::unflatten, jacobian::task_gradients};
use crate::config::{ModelConfig, ObjectiveConfig, OptimConfig};
use crate::model::MultiTaskNet;
use crate::train::objective::{self, Batch};
use crate::train::optim;
use crate::train::sampler::Sampler;

/// Arguments of `mtlscope bench`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to time: `step`.
    #[arg(default_value = "step")]
    pub what: String,
    /// Number of tasks.
    #[arg(long, default_value_t = 3)]
    pub tasks: usize,
    /// Batch size per task.
    #[arg(long, default_value_t = 128)]
    pub batch_size: usize,
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
    if args.what != "step" {
        bail!("bench: unknown target `{}`; known: step", args.what);
    }
    if args.tasks == 0 || args.batch_size == 0 || args.steps == 0 {
        bail!("bench: --tasks, --batch-size and --steps must be >= 1");
    }
    if let Some(n) = args.threads {
        tch::set_num_threads(n);
    }
    let device = super::parse_device(&args.device)?;
    let pool = 4096;
    let names: Vec<(String, i64)> = (0..args.tasks).map(|k| (format!("task{k}"), 10)).collect();
    tch::manual_seed(0);
    let data: Vec<(Tensor, Tensor)> = (0..args.tasks)
        .map(|_| {
            (
                Tensor::randn([pool, 1, 28, 28], (Kind::Float, device)),
                Tensor::randint(10, [pool], (Kind::Int64, device)),
            )
        })
        .collect();
    let net = MultiTaskNet::new(&ModelConfig::default(), &names, [1, 28, 28], device)?;
    let params = net.params();
    let shared = net.shared_params();
    let mut samplers: Vec<Sampler> = (0..args.tasks)
        .map(|k| Sampler::new(0, k, pool as usize, args.batch_size))
        .collect();
    let mut gather = |step: usize| -> Vec<Batch> {
        samplers
            .iter_mut()
            .zip(&data)
            .map(|(s, (x, y))| {
                let idx = Tensor::from_slice(s.batch(step)).to_device(device);
                Batch {
                    x: x.index_select(0, &idx),
                    y: y.index_select(0, &idx),
                }
            })
            .collect()
    };
    println!(
        "mtlscope bench step: LeNet, {} tasks, batch {} per task, {} shared parameters, device {:?}, {} threads",
        args.tasks,
        args.batch_size,
        net.n_shared(),
        device,
        tch::get_num_threads()
    );
    println!(
        "{:<10} {:<22} {:>10} {:>10} {:>10}",
        "path", "part", "median ms", "p10 ms", "p90 ms"
    );

    // UMTG: one concatenated forward, one backward.
    let mut umtg = objective::build(&ObjectiveConfig::default(), args.tasks)?;
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
    Ok(ExitCode::SUCCESS)
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
