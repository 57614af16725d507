//! Batch order. Each task's training set is read in passes; pass p is a permutation seeded
//! by (training seed, task, p), and step s takes the (s mod b)-th slice of pass ⌊s / b⌋ with
//! b = ⌊N / batch⌋ slices a pass (the ragged tail is dropped, as `drop_last`). The batch of
//! any step is a pure function of the step, so a resumed run replays the same batches with
//! no sampler state to save.
//!
//! Tasks of different sizes (GLUE: 2.5k to 393k examples): an epoch is one pass over the task
//! `train.epoch_task` names, and `train.task_sampling` sets each task's examples per step
//! (see [`task_samplers`]).

use rand::seq::SliceRandom;
use tch::Tensor;

use super::objective::Batch;
use crate::config::{TaskSampling, TrainConfig};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Batch indices of one task.
pub struct Sampler {
    seed: u64,
    task: u64,
    n: usize,
    batch: usize,
    cached: Option<(usize, Vec<i64>)>,
}

impl Sampler {
    /// A sampler over `n` examples in batches of `batch` (capped at `n`).
    pub fn new(seed: u64, task: usize, n: usize, batch: usize) -> Self {
        Self {
            seed,
            task: task as u64,
            n,
            batch: batch.min(n).max(1),
            cached: None,
        }
    }

    /// Full batches per pass over the data.
    pub fn batches_per_pass(&self) -> usize {
        (self.n / self.batch).max(1)
    }

    /// Indices of the batch at `step`.
    pub fn batch(&mut self, step: usize) -> &[i64] {
        let per = self.batches_per_pass();
        let (pass, pos) = (step / per, step % per);
        if self.cached.as_ref().map(|(p, _)| *p) != Some(pass) {
            let mut v: Vec<i64> = (0..self.n as i64).collect();
            let s =
                self.seed ^ (self.task << 48) ^ (pass as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            v.shuffle(&mut ChaCha8Rng::seed_from_u64(s));
            self.cached = Some((pass, v));
        }
        let v = &self.cached.as_ref().expect("cached").1;
        &v[pos * self.batch..(pos + 1) * self.batch]
    }
}

/// Examples per step of each task under `sampling`: `batch` each (`cycle`), or the K·`batch`
/// examples of a step split in proportion to the sizes `n` (`proportional`): largest-remainder
/// rounding of K·batch·n_k/Σn, at least one each, so the total is K·batch whenever K·batch ≥ K.
pub fn per_task_batch(sampling: TaskSampling, batch: usize, n: &[usize]) -> Vec<usize> {
    let k = n.len();
    match sampling {
        TaskSampling::Cycle => vec![batch; k],
        TaskSampling::Proportional => {
            let total_n: usize = n.iter().sum();
            let budget = (k * batch).max(k);
            if total_n == 0 {
                return vec![batch; k];
            }
            // Everyone gets one; the rest is shared by largest remainder (ties: task order).
            let rest = budget - k;
            let exact: Vec<f64> = n
                .iter()
                .map(|&m| rest as f64 * m as f64 / total_n as f64)
                .collect();
            let mut out: Vec<usize> = exact.iter().map(|e| 1 + e.floor() as usize).collect();
            let left = budget - out.iter().sum::<usize>();
            let mut order: Vec<usize> = (0..k).collect();
            order.sort_by(|&a, &b| {
                let (ra, rb) = (exact[a] - exact[a].floor(), exact[b] - exact[b].floor());
                rb.partial_cmp(&ra)
                    .unwrap_or(std::cmp::Ordering::Equal)
                    .then(a.cmp(&b))
            });
            for &i in order.iter().take(left) {
                out[i] += 1;
            }
            out
        }
    }
}

/// The samplers of a run's tasks (`names`, training-set sizes `n`) and its steps per epoch:
/// one pass over `train.epoch_task` (`first`, `largest`, or a task name).
pub fn task_samplers(train: &TrainConfig, names: &[String], n: &[usize]) -> (Vec<Sampler>, usize) {
    let batch = per_task_batch(train.task_sampling, train.batch_size, n);
    let samplers: Vec<Sampler> = n
        .iter()
        .zip(&batch)
        .enumerate()
        .map(|(k, (&n, &b))| Sampler::new(train.seed, k, n, b))
        .collect();
    let epoch_of = match train.epoch_task.as_str() {
        "first" => 0,
        "largest" => (0..n.len())
            .max_by_key(|&k| (n[k], std::cmp::Reverse(k)))
            .unwrap_or(0),
        name => names.iter().position(|t| t == name).unwrap_or(0),
    };
    let steps = samplers.get(epoch_of).map_or(1, Sampler::batches_per_pass);
    (samplers, steps)
}

/// One batch per task at `step`: each sampler's indices selected from its task's training
/// inputs and labels (`data[k]`), on their device.
pub fn batches(samplers: &mut [Sampler], data: &[(&Tensor, &Tensor)], step: usize) -> Vec<Batch> {
    samplers
        .iter_mut()
        .zip(data)
        .map(|(s, (x, y))| {
            let idx = Tensor::from_slice(s.batch(step)).to_device(x.device());
            Batch {
                x: x.index_select(0, &idx),
                y: y.index_select(0, &idx),
            }
        })
        .collect()
}

/// The batches of a shared-input step: one draw of indices from `sampler`, the inputs
/// selected once and shared by every task's batch (so [`crate::data::same_inputs`] holds and
/// the encoder runs once), each task's targets selected at the same indices.
pub fn shared_batches(
    sampler: &mut Sampler,
    data: &[(&Tensor, &Tensor)],
    step: usize,
) -> Vec<Batch> {
    let Some((x, _)) = data.first() else {
        return Vec::new();
    };
    let idx = Tensor::from_slice(sampler.batch(step)).to_device(x.device());
    let xb = x.index_select(0, &idx);
    data.iter()
        .map(|(_, y)| Batch {
            x: xb.shallow_clone(),
            y: y.index_select(0, &idx),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pass_visits_each_example_once() {
        let mut s = Sampler::new(1, 0, 10, 3);
        let mut seen: Vec<i64> = (0..3).flat_map(|st| s.batch(st).to_vec()).collect();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 9);
    }

    #[test]
    fn batches_are_a_function_of_the_step() {
        let mut a = Sampler::new(5, 1, 100, 7);
        let mut b = Sampler::new(5, 1, 100, 7);
        let late = a.batch(40).to_vec();
        let _ = b.batch(3);
        assert_eq!(b.batch(40), &late[..]);
        assert_ne!(
            Sampler::new(5, 2, 100, 7).batch(40),
            &late[..],
            "tasks differ"
        );
    }

    #[test]
    fn proportional_batches_follow_sizes_and_keep_the_total() {
        use crate::config::TaskSampling::*;
        assert_eq!(per_task_batch(Cycle, 32, &[10, 1000]), [32, 32]);
        // 64 examples, 2 reserved: 62 split 1:3 = 15.5 : 46.5 -> remainders tie, first wins.
        assert_eq!(per_task_batch(Proportional, 32, &[100, 300]), [17, 47]);
        // GLUE-like sizes: the smallest still gets one example.
        let b = per_task_batch(Proportional, 8, &[2_500, 393_000, 3_700]);
        assert_eq!(b.iter().sum::<usize>(), 24);
        assert!(b[0] >= 1 && b[2] >= 1 && b[1] == 22, "{b:?}");
    }

    #[test]
    fn epoch_follows_the_named_task() {
        let mut cfg = TrainConfig {
            batch_size: 10,
            ..Default::default()
        };
        let names = ["a".to_string(), "b".to_string()];
        let steps = |cfg: &TrainConfig| task_samplers(cfg, &names, &[50, 200]).1;
        assert_eq!(steps(&cfg), 5);
        cfg.epoch_task = "largest".into();
        assert_eq!(steps(&cfg), 20);
        cfg.epoch_task = "b".into();
        assert_eq!(steps(&cfg), 20);
        // STL on `a` and MTL with `a` first take the same steps.
        cfg.epoch_task = "first".into();
        assert_eq!(task_samplers(&cfg, &names[..1], &[50]).1, steps(&cfg));
    }
}
