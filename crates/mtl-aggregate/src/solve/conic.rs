//! The small QPs and CAGrad's SOCP through `clarabel` (Goulart & Chen, "Clarabel: An
//! interior-point solver for conic programs with quadratic objectives", 2024).
//!
//! Clarabel solves min ½xᵀPx + qᵀx s.t. Ax + s = b, s ∈ K. It is the fallback of the active-set
//! solvers (which are exact and faster on these sizes) and their independent check in the tests.

use clarabel::algebra::CscMatrix;
use clarabel::solver::{
    DefaultSettings, DefaultSolver, IPSolver, SolverStatus, SupportedConeT,
    SupportedConeT::{NonnegativeConeT, SecondOrderConeT, ZeroConeT},
};
use nalgebra::DMatrix;

fn csc(rows: usize, cols: usize, f: impl Fn(usize, usize) -> f64) -> CscMatrix<f64> {
    let mut colptr = vec![0];
    let mut rowval = Vec::new();
    let mut nzval = Vec::new();
    for c in 0..cols {
        for r in 0..rows {
            let v = f(r, c);
            if v != 0.0 {
                rowval.push(r);
                nzval.push(v);
            }
        }
        colptr.push(rowval.len());
    }
    CscMatrix::new(rows, cols, colptr, rowval, nzval)
}

fn settings() -> DefaultSettings<f64> {
    DefaultSettings {
        verbose: false,
        tol_gap_abs: 1e-12,
        tol_gap_rel: 1e-12,
        tol_feas: 1e-12,
        max_iter: 200,
        ..DefaultSettings::default()
    }
}

fn solve(
    p: &CscMatrix<f64>,
    q: &[f64],
    a: &CscMatrix<f64>,
    b: &[f64],
    cones: &[SupportedConeT<f64>],
) -> Option<Vec<f64>> {
    let settings = settings();
    let mut solver = DefaultSolver::new(p, q, a, b, cones, settings).ok()?;
    solver.solve();
    matches!(
        solver.solution.status,
        SolverStatus::Solved | SolverStatus::AlmostSolved
    )
    .then(|| solver.solution.x.clone())
    .filter(|x| x.iter().all(|v| v.is_finite()))
}

/// min_{x ≥ 0} ½ xᵀQx − cᵀx.
pub fn nonneg_qp(qm: &DMatrix<f64>, c: &[f64]) -> Option<Vec<f64>> {
    let m = c.len();
    let p = csc(m, m, |r, s| if r <= s { qm[(r, s)] } else { 0.0 });
    let q: Vec<f64> = c.iter().map(|v| -v).collect();
    let a = csc(m, m, |r, s| if r == s { -1.0 } else { 0.0 });
    solve(&p, &q, &a, &vec![0.0; m], &[NonnegativeConeT(m)])
        .map(|x| x.into_iter().map(|v| v.max(0.0)).collect())
}

/// min ½ xᵀQx s.t. x ≥ 0, aᵀx = 1.
pub fn simplex_qp(qm: &DMatrix<f64>, av: &[f64]) -> Option<Vec<f64>> {
    let m = av.len();
    let p = csc(m, m, |r, s| if r <= s { qm[(r, s)] } else { 0.0 });
    let a = csc(m + 1, m, |r, s| {
        if r == 0 {
            av[s]
        } else if r == s + 1 {
            -1.0
        } else {
            0.0
        }
    });
    let mut b = vec![0.0; m + 1];
    b[0] = 1.0;
    solve(
        &p,
        &vec![0.0; m],
        &a,
        &b,
        &[ZeroConeT(1), NonnegativeConeT(m)],
    )
    .and_then(|x| {
        // Back onto aᵀx = 1 exactly (the solver is feasible to its tolerance only).
        let x: Vec<f64> = x.into_iter().map(|v| v.max(0.0)).collect();
        let total: f64 = x.iter().zip(av).map(|(a, b)| a * b).sum();
        (total > 0.0).then(|| x.iter().map(|v| v / total).collect())
    })
}

/// The solution of CAGrad's dual SOCP with its multipliers.
#[derive(Debug, Clone)]
pub struct CagradSolution {
    /// w* (with aᵀw* = 1).
    pub w: Vec<f64>,
    /// The multiplier ζ of the cone constraint ‖Fᵀw‖ ≤ t (length k, ‖ζ‖ ≤ r). Stationarity in w
    /// reads l − Fζ = μ1 + ν (ν ≥ 0, ν_i w_i = 0) with l = F f̄: so y = f̄ − ζ has
    /// ⟨f_i, y⟩ ≥ μ for every i, with equality on the support, and ‖y − f̄‖ ≤ r: y is the
    /// primal CAGrad direction in the coordinates of F, and μ its worst-case value.
    pub zeta: Vec<f64>,
}

/// CAGrad's dual (Liu et al. 2021, Eq. 5 / their Alg. 1) in scaled variables:
/// min lᵀw + r ‖Fᵀw‖ s.t. w ≥ 0, aᵀw = 1 (a > 0), with F (m x k) a factor of the Gramian
/// (a = 1 is the paper's simplex; a_i = 1/‖g_i‖ with F a factor of the equilibrated Gramian is
/// the same problem in the variables ‖g_i‖ w_i).
///
/// As an SOCP in (w, t): min lᵀw + r t s.t. aᵀw = 1, w ≥ 0, (t, Fᵀw) ∈ SOC.
pub fn cagrad_socp(f: &DMatrix<f64>, l: &[f64], av: &[f64], r: f64) -> Option<CagradSolution> {
    let (m, k) = f.shape();
    let p = csc(m + 1, m + 1, |_, _| 0.0);
    let mut q = l.to_vec();
    q.push(r);
    // Rows: [zero cone: 1ᵀw] [nonneg: -w] [soc: -t, -Fᵀw].
    let rows = 1 + m + 1 + k;
    let a = csc(rows, m + 1, |row, col| match (row, col) {
        (0, c) if c < m => av[c],
        (row, col) if (1..=m).contains(&row) && col == row - 1 => -1.0,
        (row, col) if row == m + 1 && col == m => -1.0,
        (row, col) if row >= m + 2 && col < m => -f[(col, row - m - 2)],
        _ => 0.0,
    });
    let mut b = vec![0.0; rows];
    b[0] = 1.0;
    let settings = settings();
    let cones = [ZeroConeT(1), NonnegativeConeT(m), SecondOrderConeT(k + 1)];
    let mut solver = DefaultSolver::new(&p, &q, &a, &b, &cones, settings).ok()?;
    solver.solve();
    if !matches!(
        solver.solution.status,
        SolverStatus::Solved | SolverStatus::AlmostSolved
    ) {
        return None;
    }
    let mut w: Vec<f64> = solver.solution.x[..m].iter().map(|v| v.max(0.0)).collect();
    let total: f64 = w.iter().zip(av).map(|(x, y)| x * y).sum();
    let zeta = solver.solution.z[m + 2..].to_vec();
    if total <= 0.0 || !total.is_finite() || zeta.iter().chain(&w).any(|v| !v.is_finite()) {
        return None;
    }
    w.iter_mut().for_each(|v| *v /= total);
    Some(CagradSolution { w, zeta })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qps_match_hand_solutions() {
        let q = DMatrix::from_row_slice(2, 2, &[2.0, 1.0, 1.0, 2.0]);
        let x = nonneg_qp(&q, &[1.0, -1.0]).unwrap();
        assert!((x[0] - 0.5).abs() < 1e-8 && x[1].abs() < 1e-8);
        let q = DMatrix::identity(2, 2);
        let x = simplex_qp(&q, &[1.0, 1.0]).unwrap();
        assert!((x[0] - 0.5).abs() < 1e-8 && (x[1] - 0.5).abs() < 1e-8);
    }

    #[test]
    fn socp_with_r_zero_is_a_linear_program() {
        // r = 0: min lᵀw over the simplex puts all weight on the smallest l.
        let f = DMatrix::identity(3, 3);
        let s = cagrad_socp(&f, &[3.0, 1.0, 2.0], &[1.0; 3], 0.0).unwrap();
        assert!((s.w[1] - 1.0).abs() < 1e-7);
    }
}
