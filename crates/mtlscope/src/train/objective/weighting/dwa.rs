//! Dynamic weight average (Liu, Johns & Davison 2019, "End-to-End Multi-Task Learning with
//! Attention", Eq. 7): w_k(t) = K exp(r_k(t−1)/T) / Σ_i exp(r_i(t−1)/T) with
//! r_k(t−1) = L̄_k(t−1) / L̄_k(t−2), the ratio of the task's mean training loss over the two
//! previous epochs; w = 1 in the first two epochs.

use anyhow::{anyhow, Result};
use std::collections::HashMap;
use tch::Tensor;

use super::{values, weighted_sum, Ctx, LossWeighting};

/// DWA.
pub struct Dwa {
    temperature: f64,
    /// Per-epoch mean losses so far (only the last two are needed; all are kept: K×epochs).
    history: Vec<Vec<f64>>,
    /// Running sums and count of the current epoch.
    sum: Vec<f64>,
    count: usize,
    epoch: usize,
}

impl Dwa {
    /// DWA at temperature `temperature`.
    pub fn new(k: usize, temperature: f64) -> Self {
        Self {
            temperature,
            history: Vec::new(),
            sum: vec![0.0; k],
            count: 0,
            epoch: 0,
        }
    }

    /// The weights from the mean losses of the two previous epochs.
    pub fn weights(&self, k: usize) -> Vec<f64> {
        let n = self.history.len();
        if n < 2 {
            return vec![1.0; k];
        }
        let r: Vec<f64> = (0..k)
            .map(|i| self.history[n - 1][i] / self.history[n - 2][i].max(1e-12))
            .collect();
        let e: Vec<f64> = r.iter().map(|v| (v / self.temperature).exp()).collect();
        let s: f64 = e.iter().sum();
        e.iter().map(|v| k as f64 * v / s).collect()
    }
}

impl LossWeighting for Dwa {
    fn combine(&mut self, losses: &[Tensor], ctx: &Ctx) -> Result<(Tensor, Vec<f64>)> {
        let epoch = ctx.step / ctx.steps_per_epoch.max(1);
        if epoch > self.epoch && self.count > 0 {
            self.history
                .push(self.sum.iter().map(|s| s / self.count as f64).collect());
            self.sum.iter_mut().for_each(|s| *s = 0.0);
            self.count = 0;
        }
        self.epoch = epoch;
        let w = self.weights(losses.len());
        for (s, l) in self.sum.iter_mut().zip(values(&Tensor::stack(losses, 0))) {
            *s += l;
        }
        self.count += 1;
        Ok((weighted_sum(losses, &w), w))
    }

    fn state(&self) -> Vec<(String, Tensor)> {
        let flat: Vec<f64> = self.history.iter().flatten().copied().collect();
        vec![
            ("dwa.history".into(), Tensor::from_slice(&flat)),
            ("dwa.sum".into(), Tensor::from_slice(&self.sum)),
            (
                "dwa.count_epoch".into(),
                Tensor::from_slice(&[self.count as i64, self.epoch as i64]),
            ),
        ]
    }

    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        let get = |k: &str| state.get(k).ok_or_else(|| anyhow!("checkpoint lacks {k}"));
        let k = self.sum.len();
        let flat = values(get("dwa.history")?);
        self.history = flat.chunks(k).map(|c| c.to_vec()).collect();
        self.sum = values(get("dwa.sum")?);
        let ce = Vec::<i64>::try_from(get("dwa.count_epoch")?)?;
        self.count = ce[0] as usize;
        self.epoch = ce[1] as usize;
        Ok(())
    }
}
