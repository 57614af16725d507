//! The minimum-norm point of a convex hull: min vᵀQv s.t. v ≥ 0, aᵀv = 1 (a > 0).
//!
//! With Q = Ĝ (the equilibrated Gramian) and a_i = 1/‖g_i‖ this is MGDA's
//! min_{w ∈ Δ} wᵀGw in the variables v_i = ‖g_i‖ w_i. Wolfe's algorithm (P. Wolfe, "Finding the
//! nearest point in a polytope", Math. Programming 11, 1976, §3): keep a corral P of affinely
//! independent points, move to the affine minimiser of P while it stays in the hull, shrink P when
//! it would leave, add the most violating point when it is reached. Terminates in finitely many
//! steps at the exact minimiser (up to rounding); each step solves one bordered KKT system
//! [Q_PP a_P; a_Pᵀ 0] by LU, which is regular while the corral is affinely independent even when
//! Q_PP is singular (e.g. when the origin lies in the hull).

use nalgebra::{DMatrix, DVector};

/// Relative tolerance on the optimality condition p_jᵀd ≥ ‖d‖² (in cosine units).
const TOL: f64 = 1e-12;

/// Solves min vᵀQv, v ≥ 0, aᵀv = 1. Returns `None` if the iteration cap is hit or a KKT system
/// is singular (then the caller falls back to [`super::conic`]).
pub fn min_norm_point(q: &DMatrix<f64>, a: &[f64]) -> Option<Vec<f64>> {
    let m = a.len();
    // Start at the vertex of smallest norm ‖p_k‖² = Q_kk / a_k².
    let k0 = (0..m)
        .min_by(|&i, &j| (q[(i, i)] / (a[i] * a[i])).total_cmp(&(q[(j, j)] / (a[j] * a[j]))))?;
    let mut v = vec![0.0; m];
    v[k0] = 1.0 / a[k0];
    let mut corral = vec![k0];
    let cap = 50 * m + 100;
    let mut steps = 0;
    loop {
        let qv = q * DVector::from_column_slice(&v);
        let mu: f64 = v.iter().zip(qv.iter()).map(|(x, y)| x * y).sum();
        // Most violated p_jᵀd ≥ ‖d‖², in units of ‖p_j‖‖d‖: ((Qv)_j − μ a_j) / sqrt(μ), beyond
        // the rounding of (Qv)_j itself (~ε Σ v_i, which dominates when d is nearly 0).
        let threshold =
            TOL * mu.max(0.0).sqrt() + 100.0 * m as f64 * f64::EPSILON * v.iter().sum::<f64>();
        let entering = (0..m)
            .filter(|j| !corral.contains(j))
            .map(|j| (j, qv[j] - mu * a[j]))
            .filter(|&(_, viol)| viol < -threshold)
            .min_by(|x, y| x.1.total_cmp(&y.1));
        let Some((j, _)) = entering else {
            return Some(v);
        };
        corral.push(j);
        let mut first = true;
        loop {
            steps += 1;
            if steps > cap {
                return None;
            }
            let z = affine_minimiser(q, a, &corral);
            if first {
                first = false;
                // In exact arithmetic the entering point is affinely independent of the corral
                // and gets a positive weight; if rounding says otherwise it cannot improve d,
                // which is then optimal to rounding.
                if z.as_ref().is_none_or(|z| z[z.len() - 1] <= 0.0) {
                    return Some(v);
                }
            }
            let z = z?;
            if z.iter().all(|&x| x > 0.0) {
                for x in v.iter_mut() {
                    *x = 0.0;
                }
                for (&i, &zi) in corral.iter().zip(&z) {
                    v[i] = zi;
                }
                break;
            }
            // Move from v towards z until the first coordinate reaches 0; it leaves the corral.
            let (theta, block) = corral
                .iter()
                .zip(&z)
                .filter(|(_, &zi)| zi <= 0.0)
                .map(|(&i, &zi)| (v[i] / (v[i] - zi), i))
                .min_by(|x, y| x.0.total_cmp(&y.0))?;
            for (&i, &zi) in corral.iter().zip(&z) {
                v[i] += theta * (zi - v[i]);
            }
            v[block] = 0.0;
            corral.retain(|&i| v[i] > 0.0);
            for (i, x) in v.iter_mut().enumerate() {
                if !corral.contains(&i) {
                    *x = 0.0;
                }
            }
            // Renormalise onto aᵀv = 1 against drift.
            let s: f64 = v.iter().zip(a).map(|(x, y)| x * y).sum();
            if s <= 0.0 || !s.is_finite() {
                return None;
            }
            v.iter_mut().for_each(|x| *x /= s);
        }
    }
}

/// argmin zᵀ Q_PP z s.t. a_Pᵀ z = 1: solves [Q_PP a_P; a_Pᵀ 0] [z; -μ] = [0; 1].
fn affine_minimiser(q: &DMatrix<f64>, a: &[f64], corral: &[usize]) -> Option<Vec<f64>> {
    let p = corral.len();
    // Scale the border by 1/max(a) so that both blocks have entries of order one.
    let amax = corral.iter().map(|&i| a[i]).fold(0.0, f64::max);
    let mut k = DMatrix::zeros(p + 1, p + 1);
    for (r, &i) in corral.iter().enumerate() {
        for (c, &j) in corral.iter().enumerate() {
            k[(r, c)] = q[(i, j)];
        }
        k[(r, p)] = a[i] / amax;
        k[(p, r)] = a[i] / amax;
    }
    let mut rhs = DVector::zeros(p + 1);
    rhs[p] = 1.0 / amax;
    let sol = k.lu().solve(&rhs)?;
    let z: Vec<f64> = sol.iter().take(p).cloned().collect();
    z.iter().all(|x| x.is_finite()).then_some(z)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_and_triangle_by_hand() {
        // Points (1,0) and (0,1): the min-norm point is (1/2, 1/2).
        let q = DMatrix::from_row_slice(2, 2, &[1.0, 0.0, 0.0, 1.0]);
        let v = min_norm_point(&q, &[1.0, 1.0]).unwrap();
        assert!((v[0] - 0.5).abs() < 1e-15 && (v[1] - 0.5).abs() < 1e-15);
        // Points (1,0), (-1,0), (0,1): the origin is on the hull's edge: v = (1/2, 1/2, 0).
        let q = DMatrix::from_row_slice(3, 3, &[1.0, -1.0, 0.0, -1.0, 1.0, 0.0, 0.0, 0.0, 1.0]);
        let v = min_norm_point(&q, &[1.0, 1.0, 1.0]).unwrap();
        assert!((v[0] - 0.5).abs() < 1e-15 && (v[1] - 0.5).abs() < 1e-15 && v[2] == 0.0);
        // Points (2,1), (1,2), (3,3): the min-norm point is (1.5, 1.5), v = (1/2, 1/2, 0).
        let p = [[2.0, 1.0], [1.0, 2.0], [3.0, 3.0]];
        let q = DMatrix::from_fn(3, 3, |i, j| p[i][0] * p[j][0] + p[i][1] * p[j][1]);
        let v = min_norm_point(&q, &[1.0, 1.0, 1.0]).unwrap();
        assert!((v[0] - 0.5).abs() < 1e-14 && (v[1] - 0.5).abs() < 1e-14 && v[2] == 0.0);
    }
}
