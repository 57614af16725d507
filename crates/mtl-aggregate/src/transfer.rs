//! The transfer matrix M^t of multi-task gradient descent: K models θ_1..θ_K take the
//! synchronous step
//!
//! ```text
//! θ_k^{t+1} = Σ_j M^t_kj θ_j^t − η v_k^t        (all k at once, from the values before the step)
//! ```
//!
//! with M^t row-stochastic and non-negative. Sources: MGD (Bai, Ong, He & Gupta, "Multi-task
//! gradient descent for multi-task learning", Memetic Computing 12(4), 2020; official code
//! `BaiLu-BL/MGD_MultiMNIST`, `msgd.py`), where the K models are one network per task and
//! M = [[1 − w, w], [w, 1 − w]] with w = α·η·c (c = ρ⁺/(1 + ρ⁺), ρ a label cosine similarity,
//! α = 1); and MT2O (Bai, Gupta & Ong, "Multi-Task Learning with Multi-Task Optimization",
//! arXiv 2403.16162, 2024), where the models are one per scalar subproblem λ_k. **MT2O's own M
//! is not known** (only its abstract was retrievable): the neighbourhood form below is an
//! assumption after MOEA/D (Zhang & Li, IEEE TEC 11(6), 2007), spec `mt2o.md` §3(b).
//!
//! Every matrix here has the form
//!
//! ```text
//! M^t_kj = w_t P_kj (j ≠ k),    M^t_kk = 1 − Σ_{j≠k} M^t_kj
//! ```
//!
//! with a fixed off-diagonal pattern P (P_kk = 0, each row summing to 1 over j ≠ k) and a
//! transfer mass w_t ∈ [0, 1]:
//!
//! - [`Transfer::identity`]: w = 0, M = I; the K models are K independent runs.
//! - [`Transfer::constant`]: P_kj = 1/(K − 1) (the mass split evenly over all others), w_t = w.
//!   MGD's w is α·η·c ([`mgd_weight`]); for K = 2 this is MGD's matrix exactly.
//! - [`Transfer::decaying`]: the same P with a [`Decay`] schedule w_t → 0.
//! - [`Transfer::neighbourhood`]: P spread over B(k), the T subproblems whose λ_j are nearest
//!   to λ_k (Euclidean; distances equal to 12 digits broken by the lower index), P_kj ∝ exp(−‖λ_k − λ_j‖²/τ) on B(k)
//!   (τ = ∞: evenly). [`Transfer::with_decay`] gives it a schedule too.
//!
//! M_kk ≥ 0 because w ≤ 1. Rows sum to 1 up to rounding; M = I is exact (zeros and ones), and
//! [`mix`] then returns θ_k bit for bit.

use crate::Error;

/// How the transfer mass changes with the step t = 0, 1, 2, … (the first step uses w_0).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decay {
    /// w_t = w_0 (MGD: w = α·η·c, fixed at the initial η even when η is decayed).
    None,
    /// w_t = w_0 · γ^t, γ ∈ (0, 1].
    Geometric {
        /// The factor per step.
        gamma: f64,
    },
    /// w_t = w_0 / (1 + t): not summable, so the models keep exchanging for longer than under a
    /// geometric decay, yet w_t → 0.
    Harmonic,
}

impl Decay {
    /// The factor w_t / w_0 at step t.
    pub fn factor(&self, t: u64) -> f64 {
        match *self {
            Decay::None => 1.0,
            Decay::Geometric { gamma } => gamma.powf(t as f64),
            Decay::Harmonic => 1.0 / (1.0 + t as f64),
        }
    }
}

/// MGD's transfer mass w = α·η·c (`msgd.py`), with the relatedness c = ρ⁺/(1 + ρ⁺) ∈ [0, ½]
/// from a similarity ρ of the two tasks (MGD: the cosine between the label vectors).
pub fn mgd_weight(alpha: f64, eta: f64, rho: f64) -> f64 {
    let r = rho.max(0.0);
    alpha * eta * r / (1.0 + r)
}

/// A transfer schedule: the pattern P and the mass w_t. [`Transfer::matrix`] gives M^t.
#[derive(Debug, Clone, PartialEq)]
pub struct Transfer {
    k: usize,
    /// P, K × K row-major: zero diagonal, each row sums to 1 off the diagonal (zero when K = 1
    /// or w = 0).
    pattern: Vec<f64>,
    w0: f64,
    decay: Decay,
    name: &'static str,
}

fn bad(method: &str, param: &str, value: impl ToString, why: &str) -> Error {
    Error::BadParam {
        method: format!("transfer.{method}"),
        param: param.into(),
        value: value.to_string(),
        why: why.into(),
    }
}

fn check_w(method: &str, w: f64) -> Result<(), Error> {
    if !(0.0..=1.0).contains(&w) {
        return Err(bad(method, "w", w, "must be in [0, 1] (M_kk = 1 - w >= 0)"));
    }
    Ok(())
}

fn check_k(method: &str, k: usize) -> Result<(), Error> {
    if k == 0 {
        return Err(bad(method, "k", k, "must be >= 1 (models)"));
    }
    Ok(())
}

impl Transfer {
    /// M = I for K models: no transfer.
    pub fn identity(k: usize) -> Result<Transfer, Error> {
        check_k("identity", k)?;
        Ok(Transfer {
            k,
            pattern: vec![0.0; k * k],
            w0: 0.0,
            decay: Decay::None,
            name: "identity",
        })
    }

    /// M_kj = w/(K − 1) for j ≠ k, M_kk = 1 − w, at every step (MGD's form).
    pub fn constant(k: usize, w: f64) -> Result<Transfer, Error> {
        check_k("constant", k)?;
        check_w("constant", w)?;
        let mut pattern = vec![0.0; k * k];
        if k > 1 {
            let share = 1.0 / (k - 1) as f64;
            for a in 0..k {
                for b in 0..k {
                    if a != b {
                        pattern[a * k + b] = share;
                    }
                }
            }
        }
        Ok(Transfer {
            k,
            pattern,
            w0: w,
            decay: Decay::None,
            name: "constant",
        })
    }

    /// [`Transfer::constant`]'s pattern with mass w_t = w_0 · `decay`.factor(t).
    pub fn decaying(k: usize, w0: f64, decay: Decay) -> Result<Transfer, Error> {
        let mut t = Transfer::constant(k, w0).map_err(|e| rename(e, "decaying"))?;
        t.name = "decaying";
        t.with_decay(decay)
    }

    /// The MOEA/D-style neighbourhood: row k spreads mass w over the `t` nearest other weight
    /// vectors (Euclidean distance between the λ's; ties broken by the lower index), in
    /// proportion to exp(−‖λ_k − λ_j‖²/τ) (`tau` = ∞: evenly).
    pub fn neighbourhood(
        lambdas: &[Vec<f64>],
        t: usize,
        tau: f64,
        w: f64,
    ) -> Result<Transfer, Error> {
        const M: &str = "neighbourhood";
        let k = lambdas.len();
        check_k(M, k)?;
        check_w(M, w)?;
        if k > 1 && !(1..k).contains(&t) {
            return Err(bad(
                M,
                "t",
                t,
                &format!("must be in [1, K - 1] = [1, {}]", k - 1),
            ));
        }
        if tau.is_nan() || tau <= 0.0 {
            return Err(bad(
                M,
                "tau",
                tau,
                "must be > 0 (or infinite: even weights)",
            ));
        }
        let d = lambdas[0].len();
        for (i, l) in lambdas.iter().enumerate() {
            if l.len() != d {
                return Err(Error::Ragged {
                    what: "weight vectors",
                    row: i,
                    len: l.len(),
                    expected: d,
                });
            }
            if let Some(c) = l.iter().position(|x| !x.is_finite()) {
                return Err(Error::NonFinite {
                    what: "weight vectors",
                    row: i,
                    col: c,
                    value: l[c],
                });
            }
        }
        let mut pattern = vec![0.0; k * k];
        for a in 0..k {
            let mut others: Vec<(f64, usize)> = (0..k)
                .filter(|&b| b != a)
                .map(|b| {
                    let d2 = lambdas[a]
                        .iter()
                        .zip(&lambdas[b])
                        .map(|(x, y)| (x - y) * (x - y))
                        .sum::<f64>();
                    (d2, b)
                })
                .collect();
            // Distances equal to 12 digits are ties (lattice points at one spacing differ by
            // rounding), broken by the lower index.
            let far = others
                .iter()
                .fold(0.0f64, |a, o| a.max(o.0))
                .max(f64::MIN_POSITIVE);
            others.sort_by_key(|&(d2, b)| ((d2 / far * 1e12).round() as u64, b));
            others.truncate(t);
            // Relative to the nearest, so that a small τ cannot underflow every weight to 0.
            let d_min = others.first().map_or(0.0, |o| o.0);
            let s: Vec<f64> = others
                .iter()
                .map(|&(d2, _)| {
                    if tau.is_infinite() {
                        1.0
                    } else {
                        (-(d2 - d_min) / tau).exp()
                    }
                })
                .collect();
            let total: f64 = s.iter().sum();
            for (&(_, b), si) in others.iter().zip(&s) {
                pattern[a * k + b] = si / total;
            }
        }
        Ok(Transfer {
            k,
            pattern,
            w0: w,
            decay: Decay::None,
            name: "neighbourhood",
        })
    }

    /// The same pattern with the mass decayed by `decay`.
    pub fn with_decay(mut self, decay: Decay) -> Result<Transfer, Error> {
        if let Decay::Geometric { gamma } = decay {
            if !(gamma > 0.0 && gamma <= 1.0) {
                return Err(bad(self.name, "gamma", gamma, "must be in (0, 1]"));
            }
        }
        self.decay = decay;
        Ok(self)
    }

    /// Number of models K.
    pub fn k(&self) -> usize {
        self.k
    }

    /// `"identity"`, `"constant"`, `"decaying"` or `"neighbourhood"`.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The schedule.
    pub fn decay(&self) -> Decay {
        self.decay
    }

    /// The transfer mass w_t at step t (0 for the identity).
    pub fn weight(&self, t: u64) -> f64 {
        self.w0 * self.decay.factor(t)
    }

    /// True when every M^t is the identity (w_0 = 0 or K = 1).
    pub fn is_identity(&self) -> bool {
        self.w0 == 0.0 || self.k == 1
    }

    /// The indices j ≠ k that row k transfers from (P_kj > 0), in increasing order.
    pub fn sources(&self, k: usize) -> Vec<usize> {
        (0..self.k)
            .filter(|&j| self.pattern[k * self.k + j] > 0.0)
            .collect()
    }

    /// M^t, K × K row-major: M_kj = w_t P_kj off the diagonal, M_kk = 1 − Σ_{j≠k} M_kj.
    pub fn matrix(&self, t: u64) -> Vec<f64> {
        let k = self.k;
        let w = self.weight(t);
        let mut m = vec![0.0; k * k];
        for a in 0..k {
            let mut off = 0.0;
            for b in 0..k {
                if a != b && self.pattern[a * k + b] > 0.0 {
                    let v = w * self.pattern[a * k + b];
                    m[a * k + b] = v;
                    off += v;
                }
            }
            m[a * k + a] = 1.0 - off;
        }
        m
    }
}

/// Renames the method of a `BadParam` (the checks of one constructor reused by another).
fn rename(e: Error, to: &str) -> Error {
    match e {
        Error::BadParam {
            param, value, why, ..
        } => Error::BadParam {
            method: format!("transfer.{to}"),
            param,
            value,
            why,
        },
        other => other,
    }
}

/// Row `row` of the transfer step, θ̄_row = Σ_j M_row,j θ_j, over the first `out.len()`
/// coordinates of every θ_j (a prefix: e.g. the shared encoder when the heads are not
/// transferred). `m` is M^t (K × K row-major) and `thetas` the K models before the step.
///
/// The sum starts from the diagonal term and skips zero entries, so that M = I gives θ_row
/// bit for bit (1·x = x; no −0.0 + 0.0 and no 0·∞).
pub fn mix(m: &[f64], thetas: &[&[f64]], row: usize, out: &mut [f64]) {
    let k = thetas.len();
    debug_assert_eq!(m.len(), k * k);
    let n = out.len();
    let diag = m[row * k + row];
    for (o, &x) in out.iter_mut().zip(&thetas[row][..n]) {
        *o = diag * x;
    }
    for (j, theta) in thetas.iter().enumerate() {
        let c = m[row * k + j];
        if j == row || c == 0.0 {
            continue;
        }
        for (o, &x) in out.iter_mut().zip(&theta[..n]) {
            *o += c * x;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simplex::das_dennis;

    fn assert_stochastic(m: &[f64], k: usize) {
        for a in 0..k {
            let row = &m[a * k..(a + 1) * k];
            assert!(row.iter().all(|&x| x >= 0.0), "row {a}: {row:?}");
            let s: f64 = row.iter().sum();
            assert!((s - 1.0).abs() <= 4.0 * f64::EPSILON, "row {a} sums to {s}");
        }
    }

    #[test]
    fn identity_is_exact() {
        let t = Transfer::identity(4).unwrap();
        assert!(t.is_identity());
        let m = t.matrix(7);
        for a in 0..4 {
            for b in 0..4 {
                assert_eq!(m[a * 4 + b], if a == b { 1.0 } else { 0.0 });
            }
        }
        // Mixing returns each model bit for bit, -0.0, subnormals and infinities included.
        let th: Vec<Vec<f64>> = vec![
            vec![-0.0, 1e-310, f64::INFINITY],
            vec![1.0, 2.0, 3.0],
            vec![0.1, -0.2, 0.3],
            vec![f64::NAN, 5.0, 6.0],
        ];
        let refs: Vec<&[f64]> = th.iter().map(|v| v.as_slice()).collect();
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        for (r, want) in th.iter().enumerate().take(3) {
            let mut out = vec![9.0; 3];
            mix(&m, &refs, r, &mut out);
            assert_eq!(bits(&out), bits(want), "row {r}");
        }
        // A zero mass is the identity too.
        assert_eq!(Transfer::constant(4, 0.0).unwrap().matrix(0), m);
    }

    #[test]
    fn constant_is_mgds_matrix_for_two_models() {
        let w = mgd_weight(1.0, 0.001, 1.0);
        assert_eq!(w, 0.0005); // α = 1, η = 1e-3, ρ = 1: c = ½
        assert_eq!(mgd_weight(1.0, 0.1, -0.3), 0.0);
        let m = Transfer::constant(2, 0.3).unwrap().matrix(123);
        assert_eq!(m, vec![0.7, 0.3, 0.3, 0.7]);
        let m = Transfer::constant(5, 0.2).unwrap().matrix(0);
        assert_stochastic(&m, 5);
        assert_eq!(m[0], 0.8);
        assert_eq!(m[1], 0.05);
    }

    #[test]
    fn decay_schedules() {
        let g = Transfer::decaying(3, 0.4, Decay::Geometric { gamma: 0.5 }).unwrap();
        assert_eq!(g.weight(0), 0.4);
        assert_eq!(g.weight(3), 0.05);
        let h = Transfer::decaying(3, 0.4, Decay::Harmonic).unwrap();
        assert_eq!(h.weight(0), 0.4);
        assert_eq!(h.weight(3), 0.1);
        for t in [0, 1, 5, 1000] {
            assert_stochastic(&g.matrix(t), 3);
            assert_stochastic(&h.matrix(t), 3);
        }
        // w_t → 0: M^t → I.
        let m = g.matrix(2000);
        assert_eq!(m[0], 1.0);
        assert!(m[1] < 1e-300);
        assert!(Transfer::decaying(3, 0.4, Decay::Geometric { gamma: 1.5 })
            .unwrap_err()
            .to_string()
            .contains("transfer.decaying.gamma must be in (0, 1]"));
    }

    #[test]
    fn neighbourhood_touches_only_the_t_nearest() {
        let l = das_dennis(2, 6).unwrap(); // 7 vectors, spacing √2/6
        for t in 1..=6 {
            let tr = Transfer::neighbourhood(&l, t, 0.05, 0.5).unwrap();
            let m = tr.matrix(0);
            assert_stochastic(&m, 7);
            for a in 0..7 {
                let src = tr.sources(a);
                assert_eq!(src.len(), t, "row {a}");
                // The t nearest on the line: by |a − b|, ties to the lower index.
                let mut want: Vec<usize> = (0..7).filter(|&b| b != a).collect();
                want.sort_by_key(|&b| (a.abs_diff(b), b));
                want.truncate(t);
                want.sort();
                assert_eq!(src, want, "row {a}");
                for b in 0..7 {
                    if b != a && !src.contains(&b) {
                        assert_eq!(m[a * 7 + b], 0.0);
                    }
                }
            }
        }
        // T = 2, interior row: both neighbours at one spacing, equal shares w/2. End row: the
        // next one and the one after, in the ratio 1 : exp(−(4 − 1) d²/τ) with d² = 2/36.
        let m = Transfer::neighbourhood(&l, 2, 0.05, 0.5).unwrap().matrix(0);
        assert!((m[3 * 7 + 2] - 0.25).abs() < 1e-15);
        assert!((m[3 * 7 + 4] - 0.25).abs() < 1e-15);
        let r = (-3.0 * (2.0 / 36.0) / 0.05f64).exp();
        assert!((m[1] - 0.5 / (1.0 + r)).abs() < 1e-15);
        assert!((m[2] - 0.5 * r / (1.0 + r)).abs() < 1e-15);
        // τ = ∞: even shares; a tiny τ does not underflow to 0/0.
        let m = Transfer::neighbourhood(&l, 2, f64::INFINITY, 0.5)
            .unwrap()
            .matrix(0);
        assert_eq!((m[1], m[2]), (0.25, 0.25));
        let m = Transfer::neighbourhood(&l, 2, 1e-300, 0.5)
            .unwrap()
            .matrix(0);
        assert_eq!((m[0], m[1], m[2]), (0.5, 0.5, 0.0));
        // Three objectives: rows stochastic, sources are the T nearest.
        let l3 = das_dennis(3, 4).unwrap();
        let tr = Transfer::neighbourhood(&l3, 4, 0.1, 0.3).unwrap();
        assert_stochastic(&tr.matrix(0), l3.len());
    }

    #[test]
    fn mix_is_the_matrix_product_over_a_prefix() {
        let m = Transfer::constant(3, 0.3).unwrap().matrix(0);
        let th = [
            vec![1.0, 10.0, 5.0],
            vec![2.0, 20.0, 5.0],
            vec![4.0, 40.0, 5.0],
        ];
        let refs: Vec<&[f64]> = th.iter().map(|v| v.as_slice()).collect();
        let mut out = vec![0.0; 2];
        mix(&m, &refs, 0, &mut out);
        // 0.7·1 + 0.15·2 + 0.15·4 = 1.6.
        assert!((out[0] - 1.6).abs() < 1e-15 && (out[1] - 16.0).abs() < 1e-14);
    }

    #[test]
    fn bad_parameters_are_named() {
        let msg = |e: Error| e.to_string();
        assert_eq!(
            msg(Transfer::constant(3, 1.5).unwrap_err()),
            "transfer.constant.w must be in [0, 1] (M_kk = 1 - w >= 0), got 1.5"
        );
        assert!(msg(Transfer::constant(3, f64::NAN).unwrap_err()).contains(".w "));
        assert!(msg(Transfer::identity(0).unwrap_err()).contains("transfer.identity.k"));
        let l = das_dennis(2, 4).unwrap();
        assert!(msg(Transfer::neighbourhood(&l, 5, 1.0, 0.1).unwrap_err())
            .contains("transfer.neighbourhood.t must be in [1, K - 1] = [1, 4], got 5"));
        assert!(msg(Transfer::neighbourhood(&l, 0, 1.0, 0.1).unwrap_err()).contains(".t "));
        assert!(msg(Transfer::neighbourhood(&l, 2, 0.0, 0.1).unwrap_err()).contains(".tau "));
        assert!(
            msg(Transfer::decaying(3, -0.1, Decay::Harmonic).unwrap_err())
                .contains("transfer.decaying.w")
        );
        let ragged = vec![vec![0.0, 1.0], vec![1.0]];
        assert!(matches!(
            Transfer::neighbourhood(&ragged, 1, 1.0, 0.1).unwrap_err(),
            Error::Ragged { row: 1, .. }
        ));
    }
}
