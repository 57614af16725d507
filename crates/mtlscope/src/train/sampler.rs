//! Batch order. Each task's training set is read in passes; pass p is a permutation seeded
//! by (training seed, task, p), and step s takes the (s mod b)-th slice of pass ⌊s / b⌋ with
//! b = ⌊N / batch⌋ slices a pass (the ragged tail is dropped, as `drop_last`). The batch of
//! any step is a pure function of the step, so a resumed run replays the same batches with
//! no sampler state to save.

use rand::seq::SliceRandom;
use tch::Tensor;

use super::objective::Batch;
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
}
