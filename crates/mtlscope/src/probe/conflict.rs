//! `conflict`: how task gradients on the shared parameters θ agree.
//!
//! - `conflict_cos_umtg` (per task): cos(g_k(B), g_UMTG(B)), g_UMTG = Σ_k g_k, averaged over
//!   `conflict_batches` random batches of `conflict_batch` (Mueller et al. 2025, Eq. 6; task
//!   k's batch and the others' batches at the same position form one multi-task batch). The
//!   scale C of the UMTG does not change a cosine.
//! - `conflict_neg_pairs` (no task): the fraction of task pairs (k < l) with
//!   cos(g_k, g_l) < 0, averaged over the same batches.
//! - Elich et al. (2024, §5) statistics of per-example gradient pairs: cosine, magnitude
//!   similarity 2‖a‖‖b‖/(‖a‖² + ‖b‖²) (Yu et al. 2020), conflicting-parameter ratio (share of
//!   the p coordinates with a_i b_i < 0). `intertask_*` (no task): pairs of tasks on the same
//!   sample position, over all task pairs; `intersample_*` (per task): all pairs of samples of
//!   one task. Each as `_mean`, `_std` (population), `_p2.5`, `_p97.5` (linear interpolation).
//!   `conflict_samples` examples per task, the same positions in every task's subset, so tasks
//!   that share inputs (Fashion2 / NoisyFashion) are compared on literally the same sample;
//!   tasks with their own inputs (Fashion1 / Fashion2) pair one sample of each — as the
//!   inter-sample pairs do, which keeps the two comparable.
//!
//! Departures: zero-norm gradients give cosine and magnitude similarity 0 (PyTorch's
//! `cosine_similarity` eps convention) instead of NaN. Single-task runs get only the
//! inter-sample rows: the other quantities are 1 or undefined with one task.
//!
//! Cost: batch gradients are plain autograd at |B| (K × n_batches × |B| examples, one
//! forward/backward each); per-example gradients come from [`super::per_example`] with groups
//! of 1 (m examples per task, one forward/backward plus per-example GEMMs), materialised as
//! `[m, p]`;
//! all pair statistics of a task are two m×m GEMMs (Gram matrix, sign agreement).

use anyhow::Result;
use tch::{Kind, Tensor};

use super::{batch_grad, chunks, Probe, ProbeContext, ProbeRow, CHUNK};
use crate::config::ProbesConfig;

/// The conflict probe.
pub struct Conflict {
    batch: usize,
    batches: usize,
    samples: usize,
}

impl Conflict {
    /// From `[probes]`.
    pub fn from_config(cfg: &ProbesConfig) -> Self {
        Self {
            batch: cfg.conflict_batch,
            batches: cfg.conflict_batches,
            samples: cfg.conflict_samples,
        }
    }
}

const STREAM_BATCHES: u64 = 0xc0f1;
const STREAM_SAMPLES: u64 = 0x5a3b;

/// Shared-parameter gradients `[G, p]` of task `k` for the groups of `s` consecutive
/// `positions` of its subset (used with s = 1: per-example gradients).
fn shared_grads(ctx: &ProbeContext, k: usize, positions: &[i64], s: usize) -> Tensor {
    let sub = &ctx.subsets[k];
    let parts: Vec<Tensor> = chunks(positions, s, CHUNK)
        .map(|c| {
            let (x, y) = sub.select(c);
            ctx.group_grads(k, &x, &y, s as i64, true)
        })
        .collect();
    Tensor::cat(&parts, 0)
}

impl Probe for Conflict {
    fn name(&self) -> &'static str {
        "conflict"
    }

    fn measure(&mut self, ctx: &ProbeContext) -> Result<Vec<ProbeRow>> {
        let n_tasks = ctx.subsets.len();
        let n_min = ctx.subsets.iter().map(|s| s.len()).min().unwrap_or(0);
        let mut rows = Vec::new();
        if n_min < 2 {
            return Ok(rows);
        }
        if n_tasks >= 2 {
            let b = self.batch.min(n_min);
            let nb = self.batches.min(n_min / b);
            let per_task: Vec<Tensor> = (0..n_tasks)
                .map(|k| {
                    let order = ctx.order(STREAM_BATCHES, ctx.subsets[k].len());
                    let rows: Vec<Tensor> = order[..nb * b]
                        .chunks(b)
                        .map(|c| {
                            let (x, y) = ctx.subsets[k].select(c);
                            batch_grad(ctx.net, k, &x, &y, true)
                        })
                        .collect();
                    Tensor::stack(&rows, 0)
                })
                .collect();
            // [nb, K, p] → one K×K Gram matrix per batch.
            let j = Tensor::stack(&per_task, 1);
            let gram = Tensor::einsum("bkp,blp->bkl", &[&j, &j], None::<&[i64]>)
                .to_kind(Kind::Double)
                .reshape([-1]);
            let gram = Vec::<f64>::try_from(gram)?;
            let mut cos = vec![0.0; n_tasks];
            let mut neg = 0.0;
            for g in gram.chunks(n_tasks * n_tasks) {
                let (c, f) = umtg_conflict(g, n_tasks);
                cos.iter_mut()
                    .zip(&c)
                    .for_each(|(a, c)| *a += c / nb as f64);
                neg += f / nb as f64;
            }
            for (k, c) in cos.into_iter().enumerate() {
                rows.push(ProbeRow::new(Some(k), "conflict_cos_umtg", c));
            }
            rows.push(ProbeRow::new(None, "conflict_neg_pairs", neg));
        }

        let m = self.samples.min(n_min);
        let per_example: Vec<Tensor> = (0..n_tasks)
            .map(|k| {
                let order = ctx.order(STREAM_SAMPLES, ctx.subsets[k].len());
                shared_grads(ctx, k, &order[..m], 1)
            })
            .collect();
        for (k, p) in per_example.iter().enumerate() {
            let s = PairStats::all_pairs(p)?;
            s.push_rows(&mut rows, Some(k), "intersample");
        }
        if n_tasks >= 2 {
            let mut all = PairStats::default();
            for k in 0..n_tasks {
                for l in k + 1..n_tasks {
                    all.extend(PairStats::row_pairs(&per_example[k], &per_example[l])?);
                }
            }
            all.push_rows(&mut rows, None, "intertask");
        }
        Ok(rows)
    }
}

/// From the K×K Gram matrix `g` (row-major) of one batch's task gradients: each task's cosine
/// with the UMTG Σ_k g_k, and the fraction of task pairs with negative cosine.
pub fn umtg_conflict(g: &[f64], k: usize) -> (Vec<f64>, f64) {
    let total: f64 = g.iter().sum();
    let cos = (0..k)
        .map(|i| {
            let dot: f64 = g[i * k..(i + 1) * k].iter().sum();
            safe_div(dot, (g[i * k + i] * total).max(0.0).sqrt())
        })
        .collect();
    let pairs = k * (k - 1) / 2;
    let neg = (0..k)
        .flat_map(|i| (i + 1..k).map(move |j| (i, j)))
        .filter(|&(i, j)| g[i * k + j] < 0.0)
        .count();
    (cos, neg as f64 / pairs.max(1) as f64)
}

fn safe_div(a: f64, b: f64) -> f64 {
    if b > 1e-300 {
        a / b
    } else {
        0.0
    }
}

/// cos(a, b); 0 when either is zero.
pub fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    safe_div(dot, (sq(a) * sq(b)).sqrt())
}

/// Gradient magnitude similarity 2‖a‖‖b‖/(‖a‖² + ‖b‖²) (Yu et al. 2020, Def. 2); 0 when both
/// are zero.
pub fn magnitude_similarity(a: &[f64], b: &[f64]) -> f64 {
    let (na, nb) = (sq(a), sq(b));
    safe_div(2.0 * (na * nb).sqrt(), na + nb)
}

/// Share of coordinates where a_i b_i < 0 (Elich et al. 2024, §5).
pub fn conflict_ratio(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).filter(|(x, y)| *x * *y < 0.0).count() as f64 / a.len() as f64
}

fn sq(a: &[f64]) -> f64 {
    a.iter().map(|x| x * x).sum()
}

/// Mean, population standard deviation, 2.5th and 97.5th percentiles (linear interpolation
/// between order statistics, NumPy's default).
pub fn summary(v: &[f64]) -> [f64; 4] {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let std = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    [mean, std, percentile(&s, 2.5), percentile(&s, 97.5)]
}

/// The `q`-th percentile of sorted values, interpolating linearly.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    let pos = q / 100.0 * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Cosines, magnitude similarities and conflict ratios of a set of gradient pairs.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct PairStats {
    /// Cosines.
    pub cos: Vec<f64>,
    /// Magnitude similarities.
    pub magsim: Vec<f64>,
    /// Conflicting-coordinate ratios.
    pub ratio: Vec<f64>,
}

impl PairStats {
    /// All pairs i < j of the rows of `g` (`[m, p]`): the Gram matrix gives cosines and norms;
    /// with S = sign(g) and Q = |S|, the count of coordinates with g_i g_j < 0 is
    /// (QQᵀ − SSᵀ)/2 — exact in f32 below 2²⁴ coordinates.
    pub fn all_pairs(g: &Tensor) -> Result<Self> {
        let (m, p) = (g.size()[0] as usize, g.size()[1] as f64);
        let gram = Vec::<f64>::try_from(g.matmul(&g.tr()).to_kind(Kind::Double).reshape([-1]))?;
        let s = g.sign();
        let q = s.abs();
        let neg = (q.matmul(&q.tr()) - s.matmul(&s.tr())) / 2.0;
        let neg = Vec::<f64>::try_from(neg.to_kind(Kind::Double).reshape([-1]))?;
        let mut out = Self::default();
        for i in 0..m {
            for j in i + 1..m {
                out.push(
                    gram[i * m + j],
                    gram[i * m + i],
                    gram[j * m + j],
                    neg[i * m + j],
                    p,
                );
            }
        }
        Ok(out)
    }

    /// Row i of `a` against row i of `b`.
    pub fn row_pairs(a: &Tensor, b: &Tensor) -> Result<Self> {
        let p = a.size()[1] as f64;
        let row_sum = |t: Tensor| -> Result<Vec<f64>> {
            Ok(Vec::<f64>::try_from(t.sum_dim_intlist(
                [1i64].as_slice(),
                false,
                Kind::Double,
            ))?)
        };
        let dot = row_sum(a * b)?;
        let na = row_sum(a.square())?;
        let nb = row_sum(b.square())?;
        let neg = row_sum((a.sign() * b.sign()).lt(0.0))?;
        let mut out = Self::default();
        for i in 0..dot.len() {
            out.push(dot[i], na[i], nb[i], neg[i], p);
        }
        Ok(out)
    }

    fn push(&mut self, dot: f64, na: f64, nb: f64, neg: f64, p: f64) {
        self.cos.push(safe_div(dot, (na * nb).sqrt()));
        self.magsim.push(safe_div(2.0 * (na * nb).sqrt(), na + nb));
        self.ratio.push(neg / p);
    }

    /// Appends the pairs of `o`.
    pub fn extend(&mut self, o: Self) {
        self.cos.extend(o.cos);
        self.magsim.extend(o.magsim);
        self.ratio.extend(o.ratio);
    }

    /// Rows `<prefix>_<stat>_<summary>`, when there is at least one pair.
    fn push_rows(&self, rows: &mut Vec<ProbeRow>, task: Option<usize>, prefix: &str) {
        if self.cos.is_empty() {
            return;
        }
        for (stat, v) in [
            ("cos", &self.cos),
            ("magsim", &self.magsim),
            ("conflict_ratio", &self.ratio),
        ] {
            for (name, x) in ["mean", "std", "p2.5", "p97.5"].iter().zip(summary(v)) {
                rows.push(ProbeRow::new(task, format!("{prefix}_{stat}_{name}"), x));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pair_measures_by_hand() {
        let a = [1.0, 2.0, -2.0, 0.0];
        let b = [2.0, -1.0, 0.0, 3.0];
        // a·b = 0 → orthogonal; ‖a‖² = 9, ‖b‖² = 14; only coordinate 1 has a_i b_i < 0.
        assert_eq!(cosine(&a, &b), 0.0);
        assert!((magnitude_similarity(&a, &b) - 2.0 * (9.0f64 * 14.0).sqrt() / 23.0).abs() < 1e-15);
        assert_eq!(conflict_ratio(&a, &b), 0.25);
        let c = [-2.0, -4.0, 4.0, 0.0];
        assert!((cosine(&a, &c) + 1.0).abs() < 1e-15);
        assert!((magnitude_similarity(&a, &c) - 2.0 * 3.0 * 6.0 / 45.0).abs() < 1e-15);
        assert_eq!(conflict_ratio(&a, &c), 0.75);
        assert_eq!(cosine(&a, &[0.0; 4]), 0.0);
        assert_eq!(magnitude_similarity(&[0.0; 4], &[0.0; 4]), 0.0);
    }

    /// Gradients (1, 0), (0, 1), (−1, 0.5): UMTG = (0, 1.5), so the cosines are 0, 1 and
    /// 0.5/√1.25; of the three pairs only the first and third have a negative dot product.
    #[test]
    fn umtg_cosines_and_negative_pairs_by_hand() {
        let gs = [[1.0, 0.0], [0.0, 1.0], [-1.0, 0.5]];
        let mut gram = vec![0.0; 9];
        for i in 0..3 {
            for j in 0..3 {
                gram[i * 3 + j] = gs[i][0] * gs[j][0] + gs[i][1] * gs[j][1];
            }
        }
        let (cos, neg) = umtg_conflict(&gram, 3);
        // UMTG = (0, 1.5): cosines 0, 1, 0.5/‖(−1, 0.5)‖ = 0.5/√1.25.
        let want = [0.0, 1.0, 0.5 / 1.25f64.sqrt()];
        for (c, w) in cos.iter().zip(want) {
            assert!((c - w).abs() < 1e-12, "{cos:?}");
        }
        assert!((neg - 1.0 / 3.0).abs() < 1e-15);
        let umtg = [0.0, 1.5];
        for (g, c) in gs.iter().zip(&cos) {
            assert!((cosine(g, &umtg) - c).abs() < 1e-12);
        }
    }

    #[test]
    fn summary_by_hand() {
        let v = [3.0, 1.0, 2.0, 4.0, 5.0];
        let [m, s, lo, hi] = summary(&v);
        assert_eq!(m, 3.0);
        assert!((s - 2.0f64.sqrt()).abs() < 1e-15);
        // positions 0.1 and 3.9 of the sorted values 1..5.
        assert!((lo - 1.1).abs() < 1e-12 && (hi - 4.9).abs() < 1e-12);
    }

    /// The batched Gram/sign computations equal the slice functions pair by pair.
    #[test]
    fn batched_pair_stats_match_the_slice_functions() {
        // Under the initialisation lock: these draws must not interleave with a network
        // being seeded on another test thread.
        crate::model::with_seed(4, || {
            let g = Tensor::randn([5, 9], (Kind::Float, tch::Device::Cpu));
            let h = Tensor::randn([5, 9], (Kind::Float, tch::Device::Cpu));
            let rows = |t: &Tensor| -> Vec<Vec<f64>> {
                (0..5)
                    .map(|i| Vec::<f64>::try_from(t.get(i).to_kind(Kind::Double)).unwrap())
                    .collect()
            };
            let (gr, hr) = (rows(&g), rows(&h));
            let all = PairStats::all_pairs(&g).unwrap();
            let mut idx = 0;
            for i in 0..5 {
                for j in i + 1..5 {
                    assert!((all.cos[idx] - cosine(&gr[i], &gr[j])).abs() < 1e-5);
                    assert!((all.magsim[idx] - magnitude_similarity(&gr[i], &gr[j])).abs() < 1e-5);
                    assert_eq!(all.ratio[idx], conflict_ratio(&gr[i], &gr[j]));
                    idx += 1;
                }
            }
            assert_eq!(idx, 10);
            let rp = PairStats::row_pairs(&g, &h).unwrap();
            for i in 0..5 {
                assert!((rp.cos[i] - cosine(&gr[i], &hr[i])).abs() < 1e-5);
                assert!((rp.magsim[i] - magnitude_similarity(&gr[i], &hr[i])).abs() < 1e-5);
                assert_eq!(rp.ratio[i], conflict_ratio(&gr[i], &hr[i]));
            }
        })
    }
}
