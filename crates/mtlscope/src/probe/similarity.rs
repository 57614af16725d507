//! Elich et al.'s (2024, §4.2, Fig. 4; App. A3.2) measurement of inter-task against
//! inter-sample gradient similarity *during training*: every `probes.similarity_every` steps,
//! on that step's own training batches (augmentation included, before the update), the
//! per-example gradients on the shared parameters of `probes.similarity_samples` examples
//! (8 in the paper) of `probes.similarity_tasks` tasks (8; all when fewer) are compared pairwise:
//!
//! - **inter-task** pairs: tasks a < b on the same example, ∇_φ L_a(x_i) against ∇_φ L_b(x_i).
//!   When the tasks share inputs these are literally the same image (pairing `same_sample`);
//!   with disjoint inputs they are each task's i-th drawn example (pairing `same_position`), the
//!   only pairing such data allows, and the report's caption says so.
//! - **inter-sample** pairs: all pairs i < j of one task's examples, pooled over the tasks
//!   (the spec's reading of a gap in the paper: which task's pairs it used is not stated).
//!
//! Each pair gives cosine, magnitude similarity and the share of conflicting coordinates
//! (docs/formulas.md, "Inter-task and inter-sample similarity"; [`super::conflict::PairStats`]).
//! All pairs of all recorded steps of an epoch are summarised once the epoch ends: mean,
//! population std, 2.5th and 97.5th percentiles (as Fig. 4 draws them), one row per
//! (pairs, measure) in `similarity.csv`.
//!
//! Departures, stated: gradients are taken in eval mode (batch norm on its running statistics),
//! so that one example's gradient does not depend on the others in the batch and measuring
//! never updates the running statistics; for networks without batch norm or dropout this is
//! exactly the training-mode gradient. Which examples and tasks are drawn is a function of
//! (`probes.seed`, step) alone, so measuring never touches libtorch's generator and the
//! training trajectory is the same with the measurement on or off (tested).
//!
//! The epoch's pair values are part of the checkpoint, so a run resumed mid-epoch writes the
//! same summary as the uninterrupted run.

use std::collections::HashMap;

use anyhow::{Context, Result};
use rand::seq::index::sample;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::{Device, Kind, Tensor};

use super::conflict::{summary, PairStats};
use super::mix;
use super::per_example::autograd_group_grads;
use crate::config::ProbesConfig;
use crate::data::Batch;
use crate::model::MultiTaskNet;

/// The header of `similarity.csv`.
pub const HEADER: &str = "epoch,pairs,pairing,measure,n,mean,std,p2.5,p97.5";

/// The measures, as named in `similarity.csv`.
pub const MEASURES: [&str; 3] = ["cos", "magsim", "conflict_ratio"];

const STREAM: u64 = 0x51a1;

/// One summary row of `similarity.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct SimilarityRow {
    /// The epoch (1-based) whose recorded steps the row summarises.
    pub epoch: usize,
    /// `inter_task` or `inter_sample`.
    pub pairs: &'static str,
    /// How the pairs were formed: `same_sample`, `same_position` (inter-task on disjoint
    /// inputs) or `same_task` (inter-sample).
    pub pairing: &'static str,
    /// One of [`MEASURES`].
    pub measure: &'static str,
    /// Number of pair values summarised.
    pub n: usize,
    /// Mean, population std, 2.5th and 97.5th percentiles.
    pub stats: [f64; 4],
}

/// The pair values of the epoch in progress.
#[derive(Debug, Default, Clone, PartialEq)]
struct Epoch {
    inter_task: PairStats,
    inter_sample: PairStats,
}

/// The training-time similarity recorder of one run.
pub struct SimilarityTracker {
    every: usize,
    samples: usize,
    tasks: usize,
    seed: u64,
    shared_inputs: bool,
    current: Epoch,
}

impl SimilarityTracker {
    /// From `[probes]`; `None` when probes are off or `similarity_every = 0`.
    pub fn from_config(cfg: &ProbesConfig, shared_inputs: bool) -> Option<Self> {
        (cfg.enabled && cfg.similarity_every > 0).then(|| Self {
            every: cfg.similarity_every,
            samples: cfg.similarity_samples,
            tasks: cfg.similarity_tasks,
            seed: cfg.seed,
            shared_inputs,
            current: Epoch::default(),
        })
    }

    /// Whether step `step` (0-based, before its update) is measured.
    pub fn due(&self, step: usize) -> bool {
        step.is_multiple_of(self.every)
    }

    /// Measures the pairs of `step`'s training `batches` (one per task, in head order).
    pub fn measure(&mut self, net: &MultiTaskNet, batches: &[Batch], step: usize) -> Result<()> {
        let mut rng = ChaCha8Rng::seed_from_u64(mix(&[self.seed, step as u64, STREAM]));
        let k_all = batches.len();
        let mut tasks = sample(&mut rng, k_all, self.tasks.min(k_all)).into_vec();
        tasks.sort_unstable();
        let n = batches
            .iter()
            .map(|b| b.x.size()[0] as usize)
            .min()
            .unwrap_or(0);
        let m = self.samples.min(n);
        if m == 0 {
            return Ok(());
        }
        // The same positions in every task's batch: the same images when inputs are shared.
        let mut pos: Vec<i64> = sample(&mut rng, n, m)
            .into_iter()
            .map(|i| i as i64)
            .collect();
        pos.sort_unstable();
        let idx = Tensor::from_slice(&pos).to_device(batches[0].x.device());
        let grads: Vec<Tensor> = tasks
            .iter()
            .map(|&k| {
                let b = &batches[k];
                let x = b.x.index_select(0, &idx);
                let y = b.y.index_select(0, &idx);
                autograd_group_grads(net, k, &x, &y, 1, true).to_kind(Kind::Double)
            })
            .collect();
        if m >= 2 {
            for g in &grads {
                self.current.inter_sample.extend(PairStats::all_pairs(g)?);
            }
        }
        for a in 0..grads.len() {
            for b in a + 1..grads.len() {
                self.current
                    .inter_task
                    .extend(PairStats::row_pairs(&grads[a], &grads[b])?);
            }
        }
        Ok(())
    }

    /// The summary rows of `epoch` (1-based) from the pairs recorded since the last call,
    /// which are then cleared.
    pub fn end_epoch(&mut self, epoch: usize) -> Vec<SimilarityRow> {
        let done = std::mem::take(&mut self.current);
        let task_pairing = if self.shared_inputs {
            "same_sample"
        } else {
            "same_position"
        };
        let mut rows = Vec::new();
        for (pairs, pairing, stats) in [
            ("inter_task", task_pairing, &done.inter_task),
            ("inter_sample", "same_task", &done.inter_sample),
        ] {
            for (measure, v) in MEASURES
                .iter()
                .zip([&stats.cos, &stats.magsim, &stats.ratio])
            {
                if !v.is_empty() {
                    rows.push(SimilarityRow {
                        epoch,
                        pairs,
                        pairing,
                        measure,
                        n: v.len(),
                        stats: summary(v),
                    });
                }
            }
        }
        rows
    }

    /// The pair values of the epoch in progress, for the checkpoint (1-D f64 tensors).
    pub fn state(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        for (pairs, s) in [
            ("inter_task", &self.current.inter_task),
            ("inter_sample", &self.current.inter_sample),
        ] {
            for (measure, v) in MEASURES.iter().zip([&s.cos, &s.magsim, &s.ratio]) {
                out.push((format!("{pairs}.{measure}"), Tensor::from_slice(v)));
            }
        }
        out
    }

    /// Restores [`Self::state`]; a checkpoint without it (measurement was off, or an older
    /// run) starts the epoch empty.
    pub fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        let read = |key: &str| -> Result<Vec<f64>> {
            match state.get(key) {
                Some(t) => Vec::<f64>::try_from(t.to_device(Device::Cpu).to_kind(Kind::Double))
                    .with_context(|| format!("checkpoint entry similarity.{key}")),
                None => Ok(Vec::new()),
            }
        };
        let load = |pairs: &str| -> Result<PairStats> {
            Ok(PairStats {
                cos: read(&format!("{pairs}.cos"))?,
                magsim: read(&format!("{pairs}.magsim"))?,
                ratio: read(&format!("{pairs}.conflict_ratio"))?,
            })
        };
        self.current = Epoch {
            inter_task: load("inter_task")?,
            inter_sample: load("inter_sample")?,
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ModelConfig, ProbesConfig};

    fn cfg(every: usize, samples: usize, tasks: usize) -> ProbesConfig {
        ProbesConfig {
            similarity_every: every,
            similarity_samples: samples,
            similarity_tasks: tasks,
            ..ProbesConfig::default()
        }
    }

    #[test]
    fn off_unless_enabled_with_a_period() {
        assert!(SimilarityTracker::from_config(&cfg(0, 8, 8), true).is_none());
        let mut c = cfg(5, 8, 8);
        c.enabled = false;
        assert!(SimilarityTracker::from_config(&c, true).is_none());
        let t = SimilarityTracker::from_config(&cfg(5, 8, 8), true).unwrap();
        assert!(t.due(0) && t.due(10) && !t.due(3));
    }

    /// A 3-task network on shared inputs: the recorded pairs are exactly the brute-force
    /// pairs of separately computed per-example gradients, their counts are C(3,2)·m inter-task
    /// and 3·C(m,2) inter-sample per step, and the summary is taken over the whole epoch.
    #[test]
    fn pairs_equal_brute_force_per_example_gradients() {
        tch::manual_seed(0);
        let net = mlp(&["t0", "t1", "t2"], 3, [1, 2, 3]);
        let x = Tensor::randn([10, 1, 2, 3], (Kind::Float, Device::Cpu));
        let batches: Vec<Batch> = (0..3)
            .map(|k| Batch {
                x: x.shallow_clone(),
                y: Tensor::from_slice(&[0i64, 1, 2, 0, 1, 2, 0, 1, 2, (k % 3) as i64]),
            })
            .collect();
        let mut t = SimilarityTracker::from_config(&cfg(1, 4, 8), true).unwrap();
        t.measure(&net, &batches, 0).unwrap();
        t.measure(&net, &batches, 1).unwrap();
        assert_eq!(t.current.inter_task.cos.len(), 2 * 3 * 4);
        assert_eq!(t.current.inter_sample.cos.len(), 2 * 3 * 6);

        // Brute force for step 0: the same positions, one example at a time.
        let mut rng = ChaCha8Rng::seed_from_u64(mix(&[0, 0, STREAM]));
        let _ = sample(&mut rng, 3, 3);
        let mut pos: Vec<usize> = sample(&mut rng, 10, 4).into_vec();
        pos.sort_unstable();
        let g = |k: usize, i: usize| -> Vec<f64> {
            let xi = x.narrow(0, i as i64, 1);
            let yi = batches[k].y.narrow(0, i as i64, 1);
            let out = net.forward(k, &xi, false);
            let loss = net.loss(k, &out, &yi);
            let gs = Tensor::run_backward(&[loss], &net.shared_params(), false, false);
            let flat = Tensor::cat(&gs.iter().map(|t| t.flatten(0, -1)).collect::<Vec<_>>(), 0);
            Vec::<f64>::try_from(flat.to_kind(Kind::Double)).unwrap()
        };
        let mut want_task = Vec::new();
        for a in 0..3 {
            for b in a + 1..3 {
                for &i in &pos {
                    want_task.push(super::super::conflict::cosine(&g(a, i), &g(b, i)));
                }
            }
        }
        let mut got = t.current.inter_task.cos[..12].to_vec();
        got.sort_by(f64::total_cmp);
        want_task.sort_by(f64::total_cmp);
        for (a, b) in got.iter().zip(&want_task) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
        let mut want_sample = Vec::new();
        for k in 0..3 {
            for (u, &i) in pos.iter().enumerate() {
                for &j in &pos[u + 1..] {
                    let (gi, gj) = (g(k, i), g(k, j));
                    want_sample.push(super::super::conflict::magnitude_similarity(&gi, &gj));
                }
            }
        }
        let mut got = t.current.inter_sample.magsim[..18].to_vec();
        got.sort_by(f64::total_cmp);
        want_sample.sort_by(f64::total_cmp);
        for (a, b) in got.iter().zip(&want_sample) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }

        // The epoch's summary covers both steps, then the epoch starts empty.
        let all = t.current.inter_task.cos.clone();
        let state = t.state();
        let rows = t.end_epoch(1);
        let cos = rows
            .iter()
            .find(|r| r.pairs == "inter_task" && r.measure == "cos")
            .unwrap();
        assert_eq!((cos.n, cos.pairing, cos.epoch), (24, "same_sample", 1));
        assert_eq!(cos.stats, summary(&all));
        assert_eq!(rows.len(), 6);
        assert!(t.end_epoch(2).is_empty());

        // The checkpointed state restores the epoch in progress exactly.
        let map: HashMap<String, Tensor> = state.into_iter().collect();
        t.load_state(&map).unwrap();
        assert_eq!(t.current.inter_task.cos, all);
    }

    fn mlp(names: &[&str], classes: i64, input: [i64; 3]) -> MultiTaskNet {
        let cfg = ModelConfig {
            encoder: "mlp".into(),
            ..ModelConfig::default()
        };
        let heads = crate::task::multiclass::heads(names, classes);
        MultiTaskNet::seeded(1, &cfg, &heads, input, Device::Cpu).unwrap()
    }

    #[test]
    fn task_and_sample_draws_are_capped() {
        // More tasks than similarity_tasks: only that many are compared.
        let mut t = SimilarityTracker::from_config(&cfg(1, 2, 2), false).unwrap();
        tch::manual_seed(0);
        let net = mlp(&["t0", "t1", "t2", "t3"], 2, [1, 1, 3]);
        let batches: Vec<Batch> = (0..4)
            .map(|_| Batch {
                x: Tensor::randn([5, 1, 1, 3], (Kind::Float, Device::Cpu)),
                y: Tensor::from_slice(&[0i64, 1, 0, 1, 1]),
            })
            .collect();
        t.measure(&net, &batches, 0).unwrap();
        // 2 tasks, 2 samples: 1 task pair × 2 samples, 2 tasks × 1 sample pair.
        assert_eq!(t.current.inter_task.cos.len(), 2);
        assert_eq!(t.current.inter_sample.cos.len(), 2);
        let rows = t.end_epoch(1);
        assert!(rows
            .iter()
            .all(|r| r.pairs != "inter_task" || r.pairing == "same_position"));
    }
}
