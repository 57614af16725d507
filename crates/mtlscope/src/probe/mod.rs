//! Trajectory probes: quantities of the loss surface measured at each evaluation point of a
//! run (Mueller et al. 2025, §4–§5, App. B; definitions in docs/formulas.md, "Trajectory
//! probes").
//!
//! | probe | file | what |
//! | --- | --- | --- |
//! | `sharpness` | [`sharpness`] | adaptive worst-case ρ-sharpness (Andriushchenko et al. 2023) |
//! | `fim_trace` | [`fisher_trace`] | mini-batch Fisher trace, model and empirical labels (Jastrzebski et al. 2021) |
//! | `coherence` | [`grad_covariance`] | trace of the per-example gradient covariance (McCandlish et al. 2018) |
//! | `conflict` | [`conflict`] | cosine to the UMTG (Mueller et al. Eq. 6); inter-task / inter-sample similarity (Elich et al. §5) |
//!
//! [`similarity`] is not an evaluation-point probe: it is Elich et al.'s training-time protocol
//! (the same pair statistics on every N-th training batch, summarised per epoch), switched on
//! by `probes.similarity_every`.
//!
//! Every probe works on a fixed subset S_k of each task's training set, drawn once from
//! `probes.seed` (never `train.seed`); everything random inside a probe (batch orders, sampled
//! labels) is a function of (`probes.seed`, evaluation index), drawn with a Rust RNG, so
//! libtorch's global generator — and with it the training trajectory — is never touched, and a
//! resumed run writes the same rows. Probes that move parameters put the saved values back.

pub mod conflict;
pub mod fisher_trace;
pub mod grad_covariance;
pub mod per_example;
pub mod sharpness;
pub mod similarity;

use anyhow::Result;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::{Device, Tensor};

use crate::config::ProbesConfig;
use crate::data::TaskData;
use crate::model::MultiTaskNet;
use per_example::Tape;

/// One value a probe measured.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeRow {
    /// Task index; `None` for values about the set of tasks (written with an empty task field).
    pub task: Option<usize>,
    /// Name as written to `probes.csv`.
    pub probe: String,
    /// Value.
    pub value: f64,
}

impl ProbeRow {
    /// A row.
    pub fn new(task: Option<usize>, probe: impl Into<String>, value: f64) -> Self {
        Self {
            task,
            probe: probe.into(),
            value,
        }
    }
}

/// A task's probe subset S_k, on the run's device.
pub struct Subset {
    /// Inputs, `[n, C, H, W]`.
    pub x: Tensor,
    /// Labels, `[n]`.
    pub y: Tensor,
}

impl Subset {
    /// |S_k|.
    pub fn len(&self) -> usize {
        self.y.size()[0] as usize
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The examples at `positions` (indices into the subset).
    pub fn select(&self, positions: &[i64]) -> (Tensor, Tensor) {
        let idx = Tensor::from_slice(positions).to_device(self.x.device());
        (self.x.index_select(0, &idx), self.y.index_select(0, &idx))
    }
}

impl ProbeContext<'_> {
    /// Per-group gradients `[G, p]` of task `k`'s mean loss over each of the G = n/s groups of
    /// consecutive examples of (`x`, `y`): through the [`Tape`] when the network has one (one
    /// backward for all groups), else by autograd ([`per_example::autograd_group_grads`]).
    /// Both give the same values (tested).
    pub fn group_grads(
        &self,
        k: usize,
        x: &Tensor,
        y: &Tensor,
        s: i64,
        shared_only: bool,
    ) -> Tensor {
        match self.tape {
            Some(tape) => {
                let rec = tape.forward(k, x);
                let probs = rec.logits.softmax(-1, tch::Kind::Float).detach();
                rec.group_grads(
                    &per_example::ce_dlogits(&probs, y, s),
                    s,
                    shared_only,
                    false,
                )
            }
            None => per_example::autograd_group_grads(self.net, k, x, y, s, shared_only),
        }
    }
}

/// What a probe sees at one evaluation.
pub struct ProbeContext<'a> {
    /// The network at the evaluation point.
    pub net: &'a MultiTaskNet,
    /// Its functional twin, for batched per-example gradients, when it has one
    /// ([`Tape::supports`]); else the probes take the general autograd path.
    pub tape: Option<&'a Tape>,
    /// S_k per task, in head order.
    pub subsets: &'a [Subset],
    /// `probes.seed`.
    pub seed: u64,
    /// Index of the evaluation (0 = before the first step).
    pub eval_index: usize,
}

impl ProbeContext<'_> {
    /// A generator for `stream` (one per probe and purpose) at this evaluation.
    pub fn rng(&self, stream: u64) -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(mix(&[self.seed, self.eval_index as u64, stream]))
    }

    /// A random order of the positions 0..n of a subset for `stream`. It does not depend on
    /// the task, so tasks that share inputs (NoisyFashion and Fashion2) see the same examples.
    pub fn order(&self, stream: u64, n: usize) -> Vec<i64> {
        let mut v: Vec<i64> = (0..n as i64).collect();
        v.shuffle(&mut self.rng(stream));
        v
    }
}

/// A trajectory probe.
pub trait Probe {
    /// Name in `probes.which`.
    fn name(&self) -> &'static str;
    /// Measures the network of `ctx`; must leave its parameters and libtorch's RNG as found.
    fn measure(&mut self, ctx: &ProbeContext) -> Result<Vec<ProbeRow>>;
}

/// The probes of a run and their subsets.
pub struct ProbeSet {
    every: usize,
    /// Names of the probes also run at every evaluation of the first epoch (`probes.early_which`).
    early: Vec<String>,
    seed: u64,
    needs_tape: bool,
    subsets: Vec<Subset>,
    probes: Vec<Box<dyn Probe>>,
}

impl ProbeSet {
    /// Draws S_k for every task (on `device`) and builds the probes listed in `cfg.which`;
    /// errors at once (before any training) when `net` cannot be probed as asked.
    pub fn new(
        cfg: &ProbesConfig,
        net: &MultiTaskNet,
        tasks: &[TaskData],
        device: Device,
    ) -> Result<Self> {
        // The per-example probes use the tape where the network has one, else autograd.
        let needs_tape =
            ["fim_trace", "conflict"].iter().any(|p| cfg.runs(p)) && Tape::supports(net);
        if cfg.runs("fim_trace") {
            // The model Fisher samples labels from the predictive distribution.
            if let Some(k) = (0..net.tasks().len()).find(|&k| net.kind(k).name() != "multiclass") {
                anyhow::bail!(
                    "probes.which: fim_trace samples labels from a categorical predictive distribution, so it supports multiclass tasks; task `{}` is {} (run sharpness, coherence and conflict, which support every kind)",
                    net.tasks()[k],
                    net.kind(k).name()
                );
            }
        }
        let subsets = tasks
            .iter()
            .map(|t| {
                let n = t.train.len();
                let idx = subset_indices(cfg.seed, n, cfg.subset);
                let idx = Tensor::from_slice(&idx).to_device(t.train.x.device());
                Subset {
                    x: t.inputs
                        .prepare(&t.train.x.index_select(0, &idx).to_device(device)),
                    y: t.train.y.index_select(0, &idx).to_device(device),
                }
            })
            .collect();
        let mut probes: Vec<Box<dyn Probe>> = Vec::new();
        // Fixed order, so rows come out the same whatever the order of `which`.
        if cfg.runs("sharpness") {
            probes.push(Box::new(sharpness::Sharpness::from_config(cfg)));
        }
        if cfg.runs("fim_trace") {
            probes.push(Box::new(fisher_trace::FisherTrace::from_config(cfg)));
        }
        if cfg.runs("coherence") {
            probes.push(Box::new(grad_covariance::Coherence::from_config(cfg)));
        }
        if cfg.runs("conflict") {
            probes.push(Box::new(conflict::Conflict::from_config(cfg)));
        }
        Ok(Self {
            every: cfg.every,
            early: cfg.early_which.clone(),
            seed: cfg.seed,
            needs_tape,
            subsets,
            probes,
        })
    }

    /// The probe subsets.
    pub fn subsets(&self) -> &[Subset] {
        &self.subsets
    }

    /// Names of the probes, in the order they run.
    pub fn names(&self) -> Vec<&'static str> {
        self.probes.iter().map(|p| p.name()).collect()
    }

    /// True when evaluation `eval_index` is probed (every `probes.every`-th, starting at 0).
    pub fn due(&self, eval_index: usize) -> bool {
        eval_index.is_multiple_of(self.every)
    }

    /// Runs every probe at evaluation `eval_index` when it is due; at an evaluation of the
    /// first epoch (`early`) that is not, runs the probes of `probes.early_which` only (the
    /// early phase of App. B.4 is where the Fisher trace is compared, and one epoch holds the
    /// log-spaced early evaluations).
    pub fn record(
        &mut self,
        net: &MultiTaskNet,
        eval_index: usize,
        early: bool,
    ) -> Result<Vec<ProbeRow>> {
        let due = self.due(eval_index);
        let mut rows = Vec::new();
        for i in 0..self.probes.len() {
            if due || (early && self.early.iter().any(|n| n == self.probes[i].name())) {
                rows.extend(self.run_one(i, net, eval_index)?);
            }
        }
        Ok(rows)
    }

    /// Runs the `i`-th probe (see [`Self::names`]) at evaluation `eval_index`, due or not.
    pub fn run_one(
        &mut self,
        i: usize,
        net: &MultiTaskNet,
        eval_index: usize,
    ) -> Result<Vec<ProbeRow>> {
        let tape = if self.needs_tape {
            Some(Tape::new(net)?)
        } else {
            None
        };
        let ctx = ProbeContext {
            net,
            tape: tape.as_ref(),
            subsets: &self.subsets,
            seed: self.seed,
            eval_index,
        };
        self.probes[i].measure(&ctx)
    }
}

/// The positions of S_k in a training set of `n`: the first min(n, size) of a permutation
/// seeded by (`seed`, n) alone — the same for tasks of equal size, see [`ProbeContext::order`].
pub fn subset_indices(seed: u64, n: usize, size: usize) -> Vec<i64> {
    let mut v: Vec<i64> = (0..n as i64).collect();
    v.shuffle(&mut ChaCha8Rng::seed_from_u64(mix(&[
        seed, n as u64, 0x5eed,
    ])));
    v.truncate(size.min(n));
    v
}

/// Mixes words into one seed (SplitMix64 finaliser per word), so nearby inputs give
/// unrelated streams.
pub fn mix(words: &[u64]) -> u64 {
    let mut h = 0x9E37_79B9_7F4A_7C15u64;
    for &w in words {
        let mut z = h ^ w.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        h = z ^ (z >> 31);
    }
    h
}

/// Consecutive chunks of `positions`, each a multiple of `group` long and at most
/// max(`group`, `target`) examples: big enough to keep the device busy, small enough that the
/// unfolded activations of per-example gradients stay a few tens of MB.
pub fn chunks(positions: &[i64], group: usize, target: usize) -> impl Iterator<Item = &[i64]> {
    let per = group * (target / group).max(1);
    let usable = positions.len() / group * group;
    positions[..usable].chunks(per)
}

/// Gradient of task `k`'s mean loss on (`x`, `y`), flattened in
/// [`MultiTaskNet::shared_params`] order, then (unless `shared_only`) `head_params(k)`: one
/// ordinary forward and backward, libtorch's native kernels — the fastest way to a batch's
/// gradient when the batch is as large as a training batch.
pub fn batch_grad(
    net: &MultiTaskNet,
    k: usize,
    x: &Tensor,
    y: &Tensor,
    shared_only: bool,
) -> Tensor {
    let mut params = net.shared_params();
    if !shared_only {
        params.extend(net.head_params(k));
    }
    let loss = net.loss(k, &net.forward(k, x, false), y);
    crate::aggregate::jacobian::flatten(&Tensor::run_backward(&[loss], &params, false, false))
}

/// Chunk size (examples) of the batched gradient passes.
pub const CHUNK: usize = 512;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subsets_are_fixed_capped_and_do_not_repeat() {
        let a = subset_indices(3, 1000, 100);
        assert_eq!(a, subset_indices(3, 1000, 100));
        assert_ne!(a, subset_indices(4, 1000, 100));
        let mut s = a.clone();
        s.sort();
        s.dedup();
        assert_eq!(s.len(), 100);
        assert_eq!(subset_indices(3, 50, 2048).len(), 50);
    }

    #[test]
    fn chunks_hold_whole_groups() {
        let p: Vec<i64> = (0..100).collect();
        let c: Vec<usize> = chunks(&p, 16, 40).map(|c| c.len()).collect();
        assert_eq!(c, vec![32, 32, 32]);
        let c: Vec<usize> = chunks(&p, 64, 40).map(|c| c.len()).collect();
        assert_eq!(c, vec![64]);
    }
}
