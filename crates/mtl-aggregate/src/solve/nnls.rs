//! Non-negative least squares in Gramian form: min_{x ≥ 0} ½ xᵀQx − cᵀx, Q positive
//! semi-definite.
//!
//! Lawson & Hanson's active-set NNLS (C. L. Lawson and R. J. Hanson, "Solving Least Squares
//! Problems", 1974, ch. 23, Algorithm NNLS) run on Q = AᵀA and c = Aᵀb directly, as in R. Bro and
//! S. de Jong, "A fast non-negativity-constrained least squares algorithm", J. Chemometrics 11,
//! 1997 (FNNLS). Finite termination at the exact minimiser (up to rounding): a variable enters
//! only while its gradient component is positive, which keeps the passive columns linearly
//! independent, so each subproblem Q_PP z = c_P is solved by Cholesky.

use nalgebra::{DMatrix, DVector};

/// Solves min_{x ≥ 0} ½ xᵀQx − cᵀx. A variable enters only if its gradient component exceeds
/// `tol`. Returns `None` on the iteration cap or a failed factorisation (the caller then falls
/// back to [`super::conic`]).
pub fn nnls(q: &DMatrix<f64>, c: &[f64], tol: f64) -> Option<Vec<f64>> {
    let m = c.len();
    let mut x = vec![0.0; m];
    let mut passive = vec![false; m];
    // A variable whose first subproblem gave it a non-positive value (rounding) may not re-enter
    // until x has moved.
    let mut blocked = vec![false; m];
    let cap = 3 * m + 30;
    let cmax = c.iter().fold(0.0f64, |a, b| a.max(b.abs()));
    for _ in 0..cap {
        let xv = DVector::from_column_slice(&x);
        let qx = q * &xv;
        // c_j − (Qx)_j is known to ~ε (|c_j| + (|Q| x)_j); below that a gradient is noise.
        let noise = 100.0 * m as f64 * f64::EPSILON * (cmax + (q.abs() * &xv).max());
        let entering = (0..m)
            .filter(|&j| !passive[j] && !blocked[j])
            .map(|j| (j, c[j] - qx[j]))
            .filter(|&(_, g)| g > tol.max(noise))
            .max_by(|a, b| a.1.total_cmp(&b.1));
        let Some((j, _)) = entering else {
            return Some(x);
        };
        passive[j] = true;
        let mut first = true;
        loop {
            let set: Vec<usize> = (0..m).filter(|&i| passive[i]).collect();
            let z = solve_passive(q, c, &set);
            if first && z.is_none() {
                // The entering column is dependent on the passive ones to rounding (in exact
                // arithmetic it could not have entered): it cannot improve x.
                passive[j] = false;
                blocked[j] = true;
                break;
            }
            let z = z?;
            if z.iter().all(|&v| v > 0.0) {
                for v in x.iter_mut() {
                    *v = 0.0;
                }
                for (&i, &v) in set.iter().zip(&z) {
                    x[i] = v;
                }
                blocked.iter_mut().for_each(|b| *b = false);
                break;
            }
            if first && z[set.iter().position(|&i| i == j)?] <= 0.0 {
                passive[j] = false;
                blocked[j] = true;
                break;
            }
            first = false;
            // Step from x towards z until the first passive variable reaches 0; it leaves P.
            let (theta, block) = set
                .iter()
                .zip(&z)
                .filter(|(_, &zi)| zi <= 0.0)
                .map(|(&i, &zi)| (x[i] / (x[i] - zi), i))
                .min_by(|a, b| a.0.total_cmp(&b.0))?;
            for (&i, &zi) in set.iter().zip(&z) {
                x[i] += theta * (zi - x[i]);
            }
            x[block] = 0.0;
            for &i in &set {
                if x[i] <= 0.0 {
                    x[i] = 0.0;
                    passive[i] = false;
                }
            }
            blocked.iter_mut().for_each(|b| *b = false);
            if !passive.iter().any(|&p| p) {
                break;
            }
        }
    }
    None
}

/// Solves Q_PP z = c_P by Cholesky.
fn solve_passive(q: &DMatrix<f64>, c: &[f64], set: &[usize]) -> Option<Vec<f64>> {
    let p = set.len();
    let sub = DMatrix::from_fn(p, p, |r, s| q[(set[r], set[s])]);
    let rhs = DVector::from_iterator(p, set.iter().map(|&i| c[i]));
    let z = sub.cholesky()?.solve(&rhs);
    z.iter()
        .all(|v| v.is_finite())
        .then(|| z.iter().cloned().collect())
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
}
