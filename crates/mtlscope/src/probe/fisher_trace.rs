//! `fim_trace` and `fim_trace_empirical`: trace of the Fisher information in its mini-batch
//! form (Jastrzebski et al. 2021; Novack et al. 2023; Mueller et al. 2025, Eq. 5 and App. B.2;
//! docs/formulas.md, "Trajectory probes"):
//!
//! Tr F = E_B ‖∇_w (1/|B|) Σ_{x∈B} log p_w(ŷ_x | x)‖²,  ŷ_x ~ p_w(· | x),  |B| = 16,
//!
//! over the batches of S_k (consecutive slices of the already shuffled subset, all of it used),
//! `fim_draws` label draws per batch; the empirical variant puts the true label for ŷ. w is
//! task k's encoder and head. Because E_ŷ ∇ log p(ŷ|x) = 0, the expectation is
//! (1/|B|) × the per-example trace — the tests check both forms against closed forms.
//!
//! Cost: the mini-batch gradients come from [`super::per_example`] with groups of |B|, so a
//! chunk of 512 examples takes one forward, then per label draw one backward to the
//! pre-activations and the grouped weight-gradient GEMMs; the forward is shared by all draws
//! and the empirical variant (nothing recomputed), and no pass runs at batch 16. Labels are
//! sampled by inverse CDF from uniforms of a Rust RNG (seeded by `probes.seed`, evaluation,
//! task), never from libtorch's generator.

use anyhow::Result;
use rand::Rng;
use tch::{Kind, Tensor};

use super::per_example::{ce_dlogits, output_group_grads};
use super::{chunks, mix, Probe, ProbeContext, ProbeRow, CHUNK};
use crate::config::ProbesConfig;

/// The Fisher-trace probe.
pub struct FisherTrace {
    batch: usize,
    draws: usize,
}

impl FisherTrace {
    /// From `[probes]`.
    pub fn from_config(cfg: &ProbesConfig) -> Self {
        Self {
            batch: cfg.fim_batch,
            draws: cfg.fim_draws,
        }
    }
}

impl Probe for FisherTrace {
    fn name(&self) -> &'static str {
        "fim_trace"
    }

    fn measure(&mut self, ctx: &ProbeContext) -> Result<Vec<ProbeRow>> {
        let mut rows = Vec::new();
        for (k, sub) in ctx.subsets.iter().enumerate() {
            if sub.is_empty() {
                continue;
            }
            let s = self.batch.min(sub.len());
            let positions: Vec<i64> = (0..sub.len() as i64).collect();
            let mut rng = ctx.rng(mix(&[0xf15e, k as u64]));
            let (mut model, mut emp) = (Vec::new(), Vec::new());
            let mut groups = 0;
            for c in chunks(&positions, s, CHUNK) {
                let x = sub.x.narrow(0, c[0], c.len() as i64);
                let y = sub.y.narrow(0, c[0], c.len() as i64);
                let (m, e) = match ctx.tape {
                    Some(tape) => {
                        let rec = tape.forward(k, &x);
                        let probs = rec.logits.softmax(-1, Kind::Float).detach();
                        chunk_traces(&probs, &y, self.draws, &mut rng, &mut |labels, keep| {
                            let dl = ce_dlogits(&probs, labels, s as i64);
                            rec.group_grads(&dl, s as i64, false, keep)
                        })
                    }
                    None => {
                        // One forward per chunk; each label draw backpropagates through it.
                        let out = ctx.net.forward(k, &x, false);
                        let probs = out.softmax(-1, Kind::Float).detach();
                        chunk_traces(&probs, &y, self.draws, &mut rng, &mut |labels, keep| {
                            output_group_grads(ctx.net, k, &out, labels, s as i64, false, keep)
                        })
                    }
                };
                model.push(m);
                emp.push(e);
                groups += c.len() / s;
            }
            let total = |v: Vec<Tensor>| {
                Tensor::stack(&v, 0)
                    .to_kind(Kind::Double)
                    .sum(Kind::Double)
                    .double_value(&[])
            };
            let g = groups as f64;
            rows.push(ProbeRow::new(
                Some(k),
                "fim_trace",
                total(model) / (g * self.draws as f64),
            ));
            rows.push(ProbeRow::new(
                Some(k),
                "fim_trace_empirical",
                total(emp) / g,
            ));
        }
        Ok(rows)
    }
}

/// Σ over the groups of one chunk of ‖g_B‖², summed over `draws` label draws (model Fisher) and
/// for the true labels `y` (empirical Fisher). `grads(dlogits, keep_graph)` returns the
/// groups' gradients `[G, p]` of the loss for the given labels; it is called `draws` times
/// with `keep_graph` and once, last, without.
pub fn chunk_traces(
    probs: &Tensor,
    y: &Tensor,
    draws: usize,
    rng: &mut impl Rng,
    grads: &mut dyn FnMut(&Tensor, bool) -> Tensor,
) -> (Tensor, Tensor) {
    let n = probs.size()[0] as usize;
    let mut model = Tensor::zeros([], (Kind::Float, probs.device()));
    for _ in 0..draws {
        let u: Vec<f64> = (0..n).map(|_| rng.random::<f64>()).collect();
        let yhat = sample_labels(probs, &u);
        model += grads(&yhat, true).square().sum(Kind::Float);
    }
    let emp = grads(y, false).square().sum(Kind::Float);
    (model, emp)
}

/// Row i's label drawn from the categorical `probs[i]` by inverse CDF at `u[i]` ∈ [0, 1).
pub fn sample_labels(probs: &Tensor, u: &[f64]) -> Tensor {
    let c = probs.size()[1];
    let cdf = probs.cumsum(1, Kind::Double);
    let u = Tensor::from_slice(u).to_device(probs.device()).unsqueeze(1);
    cdf.lt_tensor(&u)
        .sum_dim_intlist([1i64].as_slice(), false, Kind::Int64)
        .clamp_max(c - 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use tch::Device;

    const F64: (Kind, Device) = (Kind::Double, Device::Cpu);

    #[test]
    fn sampled_labels_follow_the_probabilities() {
        let probs = Tensor::from_slice(&[0.1f32, 0.6, 0.3])
            .view([1, 3])
            .repeat([20000, 1]);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let u: Vec<f64> = (0..20000).map(|_| rng.random::<f64>()).collect();
        let y = Vec::<i64>::try_from(sample_labels(&probs, &u)).unwrap();
        for (c, p) in [0.1, 0.6, 0.3].iter().enumerate() {
            let f = y.iter().filter(|&&l| l == c as i64).count() as f64 / 20000.0;
            assert!((f - p).abs() < 0.015, "class {c}: {f} vs {p}");
        }
    }

    /// Binary logistic regression as a 2-class softmax with logits (0, wᵀx): the per-example
    /// Fisher trace is p(1−p)‖x‖² (the empirical one (y−p)²‖x‖²). With groups of s the
    /// mini-batch trace is the mean of these over the batch divided by s, as the expected
    /// score vanishes.
    #[test]
    fn logistic_regression_trace_matches_the_closed_form() {
        // Under the initialisation lock: these draws must not interleave with a network
        // being seeded on another test thread.
        crate::model::with_seed(5, || {
            let (n, d) = (16i64, 3i64);

            let x = Tensor::randn([n, d], F64);
            let w = Tensor::from_slice(&[0.8, -0.5, 1.2]);
            let y = Tensor::randint(2, [n], (Kind::Int64, Device::Cpu));
            let p = x.mv(&w).sigmoid();
            let xx = x
                .square()
                .sum_dim_intlist([1i64].as_slice(), false, Kind::Double);
            let per_example = (&p * (1.0f64 - &p) * &xx)
                .mean(Kind::Double)
                .double_value(&[]);
            let yf = y.to_kind(Kind::Double);
            let emp_per_example = ((&yf - &p).square() * &xx)
                .mean(Kind::Double)
                .double_value(&[]);
            for s in [1i64, 4] {
                let g = n / s;
                // One copy of w per group: autograd then returns each group's gradient.
                let wr = w.view([1, d]).repeat([g, 1]).set_requires_grad(true);
                let group_of = Tensor::from_slice(&(0..n).map(|i| i / s).collect::<Vec<i64>>());
                let z = (&x * wr.index_select(0, &group_of)).sum_dim_intlist(
                    [1i64].as_slice(),
                    false,
                    Kind::Double,
                );
                let logits = Tensor::stack(&[z.zeros_like(), z.shallow_clone()], 1);
                let probs = logits.softmax(-1, Kind::Double).detach();
                let draws = 5000;
                let mut rng = ChaCha8Rng::seed_from_u64(2);
                let (m, e) = chunk_traces(&probs, &y, draws, &mut rng, &mut |labels, keep| {
                    let dl = ce_dlogits(&probs, labels, s);
                    let t = (&logits * dl).sum(Kind::Double);
                    Tensor::run_backward(&[t], &[&wr], keep, false).remove(0)
                });
                let fim = m.double_value(&[]) / (g as f64 * draws as f64);
                let emp = e.double_value(&[]) / g as f64;
                let want = per_example / s as f64;
                assert!((fim - want).abs() < 0.04 * want, "s={s}: {fim} vs {want}");
                // The empirical trace has cross terms within a batch; per example it is exact.
                if s == 1 {
                    assert!((emp - emp_per_example).abs() < 1e-5 * emp_per_example);
                }
            }
        })
    }

    /// The general path (one forward per chunk, autograd per group) gives the tape's values:
    /// the same label draws and, up to float rounding, the same traces.
    #[test]
    fn autograd_path_matches_the_tape() {
        let net = crate::model::MultiTaskNet::seeded(
            4,
            &crate::config::ModelConfig::default(),
            &crate::task::multiclass::heads(&["a"], 10),
            [1, 28, 28],
            Device::Cpu,
        )
        .unwrap();
        tch::manual_seed(8);
        let subsets = vec![super::super::Subset {
            x: Tensor::randn([48, 1, 28, 28], (Kind::Float, Device::Cpu)),
            y: Tensor::randint(10, [48], (Kind::Int64, Device::Cpu)),
        }];
        let tape = super::super::per_example::Tape::new(&net).unwrap();
        let measure = |tape| {
            let ctx = ProbeContext {
                net: &net,
                tape,
                subsets: &subsets,
                seed: 3,
                eval_index: 1,
            };
            FisherTrace { batch: 4, draws: 3 }.measure(&ctx).unwrap()
        };
        let (fast, general) = (measure(Some(&tape)), measure(None));
        assert_eq!(fast.len(), 2);
        for (a, b) in fast.iter().zip(&general) {
            assert_eq!(a.probe, b.probe);
            assert!(
                (a.value - b.value).abs() <= 1e-4 * a.value.abs(),
                "{a:?} vs {b:?}"
            );
        }
    }
}
