//! Non-negative least squares in Gramian form: min_{x ≥ 0} ½ xᵀQx − cᵀx, Q positive
//! semi-definite.
//!
//! Lawson & Hanson's active-set NNLS (C. L. Lawson and R. J. Hanson, "Solving Least Squares
//! Problems", 1974, ch. 23, Algorithm NNLS) run on Q = AᵀA and c = Aᵀb directly, as in R. Bro and
//! S. de Jong, "A fast non-negativity-constrained least squares algorithm", J. Chemometrics 11,
//! 1997 (FNNLS). Finite termination at the exact minimiser (up to rounding): a variable enters
//! only while its gradient component is positive, which keeps the passive columns linearly
//! independent, so each subproblem Q_PP z = c_P has a Cholesky factor. The factor is updated
//! when a variable enters (one triangular solve, O(p²)) and rebuilt when one leaves.

use nalgebra::DMatrix;

/// Solves min_{x ≥ 0} ½ xᵀQx − cᵀx. A variable enters only if its gradient component exceeds
/// `tol` (and the rounding of that component). Returns `None` on the iteration cap (the caller
/// then falls back to [`super::conic`]).
pub fn nnls(q: &DMatrix<f64>, c: &[f64], tol: f64) -> Option<Vec<f64>> {
    let m = c.len();
    let mut x = vec![0.0; m];
    let mut f = Factor::new(m);
    // A variable that proved dependent, or got a non-positive value in its first subproblem
    // (rounding), may not re-enter until x has moved.
    let mut blocked = vec![false; m];
    let cmax = c.iter().fold(0.0f64, |a, b| a.max(b.abs()));
    let cap = 3 * m + 30;
    for _ in 0..cap {
        // Gradient c − Qx over the free variables; x is supported on the passive set.
        let mut best: Option<(usize, f64)> = None;
        let mut qx_abs_max = 0.0f64;
        let mut grads = Vec::with_capacity(m);
        for j in 0..m {
            let (mut s, mut a) = (0.0, 0.0);
            for &i in &f.set {
                s += q[(j, i)] * x[i];
                a += (q[(j, i)] * x[i]).abs();
            }
            qx_abs_max = qx_abs_max.max(a);
            grads.push(c[j] - s);
        }
        // c_j − (Qx)_j is known to ~ε (|c_j| + (|Q| x)_j); below that a gradient is noise.
        let threshold = tol.max(100.0 * m as f64 * f64::EPSILON * (cmax + qx_abs_max));
        for (j, &g) in grads.iter().enumerate() {
            if !f.set.contains(&j) && !blocked[j] && g > threshold && best.is_none_or(|b| g > b.1) {
                best = Some((j, g));
            }
        }
        let Some((j, _)) = best else {
            return Some(x);
        };
        if !f.push(q, j) {
            // Dependent on the passive columns to rounding: it cannot improve x.
            blocked[j] = true;
            continue;
        }
        let mut first = true;
        loop {
            let z = f.solve(c);
            if z.iter().all(|&v| v > 0.0) {
                x.iter_mut().for_each(|v| *v = 0.0);
                for (&i, &v) in f.set.iter().zip(&z) {
                    x[i] = v;
                }
                blocked.iter_mut().for_each(|b| *b = false);
                break;
            }
            if first && z[z.len() - 1] <= 0.0 {
                f.pop();
                blocked[j] = true;
                break;
            }
            first = false;
            // Step from x towards z until the first passive variable reaches 0; it leaves P.
            let (theta, block) = f
                .set
                .iter()
                .zip(&z)
                .filter(|(_, &zi)| zi <= 0.0)
                .map(|(&i, &zi)| (x[i] / (x[i] - zi), i))
                .min_by(|a, b| a.0.total_cmp(&b.0))?;
            for (&i, &zi) in f.set.iter().zip(&z) {
                x[i] += theta * (zi - x[i]);
            }
            x[block] = 0.0;
            f.retain(q, |i| x[i] > 0.0);
            for (i, xi) in x.iter_mut().enumerate() {
                if !f.set.contains(&i) {
                    *xi = 0.0;
                }
            }
            blocked.iter_mut().for_each(|b| *b = false);
            if f.set.is_empty() {
                break;
            }
        }
    }
    None
}

/// The passive set and the Cholesky factor L of Q restricted to it (row-major, m x m buffer).
struct Factor {
    set: Vec<usize>,
    l: Vec<f64>,
    m: usize,
}

impl Factor {
    fn new(m: usize) -> Factor {
        Factor {
            set: Vec::with_capacity(m),
            l: vec![0.0; m * m],
            m,
        }
    }

    /// Appends variable j: the new row of L solves L l = Q_Pj, and l_jj² = Q_jj − ‖l‖².
    /// `false` (nothing changed) if that pivot is not positive beyond rounding.
    fn push(&mut self, q: &DMatrix<f64>, j: usize) -> bool {
        let p = self.set.len();
        let m = self.m;
        let mut norm = 0.0;
        for r in 0..p {
            let mut s = q[(self.set[r], j)];
            for k in 0..r {
                s -= self.l[p * m + k] * self.l[r * m + k];
            }
            let v = s / self.l[r * m + r];
            self.l[p * m + r] = v;
            norm += v * v;
        }
        let pivot = q[(j, j)] - norm;
        if pivot <= 1e-13 * q[(j, j)] || !pivot.is_finite() {
            return false;
        }
        self.l[p * m + p] = pivot.sqrt();
        self.set.push(j);
        true
    }

    fn pop(&mut self) {
        self.set.pop();
    }

    /// Keeps the variables for which `keep` holds, refactoring.
    fn retain(&mut self, q: &DMatrix<f64>, keep: impl Fn(usize) -> bool) {
        let old: Vec<usize> = self.set.drain(..).filter(|&i| keep(i)).collect();
        for i in old {
            // A subset of independent columns stays independent; a failure here is rounding,
            // and the variable is simply left out.
            self.push(q, i);
        }
    }

    /// z with Q_PP z = c_P, in the order of `set`.
    fn solve(&self, c: &[f64]) -> Vec<f64> {
        let (p, m) = (self.set.len(), self.m);
        let mut y = vec![0.0; p];
        // Forward L y = c_P, then back Lᵀ z = y (in place).
        for r in 0..p {
            let row = &self.l[r * m..r * m + r];
            let s: f64 = row.iter().zip(&y[..r]).map(|(a, b)| a * b).sum();
            y[r] = (c[self.set[r]] - s) / self.l[r * m + r];
        }
        for r in (0..p).rev() {
            let s: f64 = (r + 1..p).map(|k| self.l[k * m + r] * y[k]).sum();
            y[r] = (y[r] - s) / self.l[r * m + r];
        }
        y
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_solved_cases() {
        // Q = I: x = max(c, 0).
        let q = DMatrix::identity(3, 3);
        let x = nnls(&q, &[1.0, -2.0, 0.5], 1e-14).unwrap();
        assert_eq!(x, vec![1.0, 0.0, 0.5]);
        // Q = [[2,1],[1,2]], c = (1, -1): unconstrained (1, -1) is infeasible; with x_1 = 0,
        // x_0 = 1/2 and the gradient of x_1 is -1 - 1/2 < 0, so x = (1/2, 0).
        let q = DMatrix::from_row_slice(2, 2, &[2.0, 1.0, 1.0, 2.0]);
        let x = nnls(&q, &[1.0, -1.0], 1e-14).unwrap();
        assert!((x[0] - 0.5).abs() < 1e-15 && x[1] == 0.0);
    }

    #[test]
    fn agrees_with_clarabel_on_a_fixed_instance() {
        // Q = AᵀA for a 5 x 7 A (rank 5), c = Aᵀb: a rank-deficient problem.
        let a = DMatrix::from_fn(5, 7, |i, j| (((i * 7 + j * 3) % 11) as f64 - 5.0) / 3.0);
        let b = nalgebra::DVector::from_fn(5, |i, _| i as f64 - 2.0);
        let q = a.transpose() * &a;
        let c: Vec<f64> = (a.transpose() * &b).iter().cloned().collect();
        let x = nnls(&q, &c, 1e-13).unwrap();
        let xc = super::super::conic::nonneg_qp(&q, &c).unwrap();
        let obj = |x: &[f64]| {
            let v = nalgebra::DVector::from_column_slice(x);
            0.5 * v.dot(&(&q * &v)) - v.dot(&nalgebra::DVector::from_column_slice(&c))
        };
        assert!(obj(&x) <= obj(&xc) + 1e-9, "{} vs {}", obj(&x), obj(&xc));
        assert!(x.iter().all(|&v| v >= 0.0));
    }
}
