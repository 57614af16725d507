//! Property tests over every registry entry (random Jacobians with norms apart by up to 1e8,
//! global scales 1e-15 to 1e15, zero, duplicate, parallel, opposite and dependent rows,
//! m = 1 and n = 1 included), plus each method's own guarantee.

use mtl_aggregate::registry::{self, Kind, Scaling, METHODS};
use mtl_aggregate::solve::conic;
use mtl_aggregate::weighting::nash_mtl::NashMtl;
use mtl_aggregate::{Gramian, Jacobian, JacobianRef, Weighting};
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Case {
    m: usize,
    n: usize,
    data: Vec<f64>,
}

impl Case {
    fn view(&self) -> JacobianRef<'_> {
        JacobianRef::new(&self.data, self.m, self.n).unwrap()
    }
    fn row(&self, i: usize) -> &[f64] {
        &self.data[i * self.n..(i + 1) * self.n]
    }
    fn scaled(&self, s: f64) -> Case {
        Case {
            data: self.data.iter().map(|x| x * s).collect(),
            ..self.clone()
        }
    }
    fn permuted(&self, perm: &[usize]) -> Case {
        let mut data = Vec::with_capacity(self.data.len());
        for &i in perm {
            data.extend_from_slice(self.row(i));
        }
        Case {
            data,
            ..self.clone()
        }
    }
    fn norm(&self, i: usize) -> f64 {
        dot(self.row(i), self.row(i)).sqrt()
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Jacobians with the degenerate shapes the methods must survive.
fn cases() -> impl Strategy<Value = Case> {
    cases_with(1..=6)
}

/// As [`cases`], with the number of tasks drawn from `tasks`.
fn cases_with(tasks: std::ops::RangeInclusive<usize>) -> impl Strategy<Value = Case> {
    (tasks, 1usize..=8)
        .prop_flat_map(|(m, n)| {
            (
                Just(m),
                Just(n),
                prop::collection::vec(-1.0f64..1.0, m * n),
                prop::collection::vec(-4i32..=4, m),
                -15i32..=15,
                0u8..6,
                0..m,
                0..m,
                -2.0f64..2.0,
            )
        })
        .prop_map(|(m, n, mut data, row_exp, exp, mode, a, b, coef)| {
            for i in 0..m {
                let s = 10f64.powi(row_exp[i] + exp);
                data[i * n..(i + 1) * n].iter_mut().for_each(|x| *x *= s);
            }
            let row_a: Vec<f64> = data[a * n..(a + 1) * n].to_vec();
            let c = (a + 1) % m;
            let row_c: Vec<f64> = data[c * n..(c + 1) * n].to_vec();
            if b != a {
                let target = &mut data[b * n..(b + 1) * n];
                match mode {
                    1 => target.iter_mut().for_each(|x| *x = 0.0),
                    2 => target.copy_from_slice(&row_a),
                    3 => target
                        .iter_mut()
                        .zip(&row_a)
                        .for_each(|(x, y)| *x = coef * y),
                    4 => target
                        .iter_mut()
                        .zip(row_a.iter().zip(&row_c))
                        .for_each(|(x, (y, z))| *x = y + coef * z),
                    5 => target.iter_mut().zip(&row_a).for_each(|(x, y)| *x = -y),
                    _ => {}
                }
            } else if mode == 1 {
                data[a * n..(a + 1) * n].iter_mut().for_each(|x| *x = 0.0);
            }
            Case { m, n, data }
        })
}

/// The resolution of anything decided from G: G carries ‖g_i‖² to relative ε, so a direction
/// that is a cancellation of large gradients is known to ~√ε max_i ‖g_i‖ per unit of weight
/// (e.g. MGDA when the origin is in the hull of huge gradients and a tiny one is nearby).
fn gramian_floor(case: &Case, w: Option<&Vec<f64>>) -> f64 {
    let max = (0..case.m).map(|i| case.norm(i)).fold(0.0, f64::max);
    let total: f64 = w.map_or(case.m as f64, |w| w.iter().map(|x| x.abs()).sum());
    1e-7 * max * total
}

/// Plain Jacobians with at most as many tasks as parameters, norms apart by up to 1e4.
fn independent_cases() -> impl Strategy<Value = Case> {
    (1usize..=5)
        .prop_flat_map(|m| (Just(m), m..=8))
        .prop_flat_map(|(m, n)| {
            (
                Just(m),
                Just(n),
                prop::collection::vec(-1.0f64..1.0, m * n),
                prop::collection::vec(-2i32..=2, m),
            )
        })
        .prop_map(|(m, n, mut data, row_exp)| {
            for i in 0..m {
                let s = 10f64.powi(row_exp[i]);
                data[i * n..(i + 1) * n].iter_mut().for_each(|x| *x *= s);
            }
            Case { m, n, data }
        })
}

/// Output scale for tolerances: Σ_i |w_i| ‖g_i‖ (or the sum of row norms without weights).
fn magnitude(case: &Case, w: Option<&Vec<f64>>) -> f64 {
    (0..case.m)
        .map(|i| w.map_or(1.0, |w| w[i].abs()) * case.norm(i))
        .sum::<f64>()
}

fn run(name: &str, case: &Case) -> mtl_aggregate::Aggregation {
    let mut method = registry::build(name, &[]).unwrap();
    method
        .aggregate(case.view())
        .unwrap_or_else(|e| panic!("{name} failed on {case:?}: {e}"))
}

/// Relative accuracy each method promises: exact methods to rounding; CAGrad to the
/// interior-point solver's precision; Aligned-MTL to ε κ(G), since its weights carry √λ_min.
///
/// Methods that decide a rank (eigenvalues ≤ max λ · m · ε count as zero) are discontinuous
/// where an eigenvalue sits at that threshold, within its rounding; those instances are not
/// compared (infinite tolerance).
fn relative_tolerance(name: &str, case: &Case, w: Option<&Vec<f64>>) -> f64 {
    let g = Gramian::from_jacobian(case.view()).unwrap();
    let eq = mtl_aggregate::solve::Equilibrated::new(&g);
    let ambiguous = match name {
        "aligned_mtl" => rank_is_ambiguous(g.to_matrix()),
        "config" | "imtl_g" | "cagrad" => rank_is_ambiguous(eq.g.clone()),
        _ => false,
    };
    if ambiguous {
        return f64::INFINITY;
    }
    match name {
        // Interior-point precision on problems whose gradient norms are far apart.
        "cagrad" => 1e-4,
        // Both apply the pseudo-inverse of the equilibrated Gramian (accurate to ε κ); IMTL-G's
        // α = v / Σ v also loses the digits that cancel in Σ v.
        // ConFIG's length Σ_i ⟨g_i, u⟩ also cancels.
        "config" => {
            let g = Gramian::from_jacobian(case.view()).unwrap();
            let gv = g.mul_vec(&mtl_aggregate::solve::eigen::equal_angle(&g));
            let cancel = gv.iter().map(|x| x.abs()).sum::<f64>() / gv.iter().sum::<f64>().abs();
            let cancel = if cancel.is_finite() { cancel } else { 1.0 };
            1e-8 + 1e3 * f64::EPSILON * (equilibrated_condition(case) + cancel)
        }
        "imtl_g" => {
            let cancel: f64 = w.map_or(1.0, |w| w.iter().map(|x| x.abs()).sum());
            1e-8 + 1e3 * f64::EPSILON * (equilibrated_condition(case) + cancel)
        }
        "aligned_mtl" => {
            // κ(G) from √λ_min, and the cancellation in the sums Σ_i V_ik of the eigenvectors.
            let g = Gramian::from_jacobian(case.view()).unwrap();
            let e = mtl_aggregate::solve::eigen::PsdEigen::new(g.to_matrix());
            let nz = e.nonzero();
            let max = nz.iter().map(|&k| e.values[k]).fold(0.0, f64::max);
            let min = nz
                .iter()
                .map(|&k| e.values[k])
                .fold(f64::INFINITY, f64::min);
            let cancel = nz
                .iter()
                .map(|&k| {
                    let v = e.vectors.column(k);
                    v.iter().map(|x| x.abs()).sum::<f64>() / v.sum().abs()
                })
                .filter(|c| c.is_finite())
                .fold(1.0, f64::max);
            1e-8 + 1e3 * f64::EPSILON * (max / min + cancel)
        }
        _ => 1e-8,
    }
}

/// Whether an eigenvalue lies within rounding of the rank threshold max λ · m · ε.
fn rank_is_ambiguous(g: nalgebra::DMatrix<f64>) -> bool {
    if g.nrows() == 0 {
        return false;
    }
    let e = mtl_aggregate::solve::eigen::PsdEigen::new(g);
    e.values
        .iter()
        .any(|&l| l.abs() > 1e-2 * e.tol && l.abs() < 1e3 * e.tol)
}

/// κ of the equilibrated Gramian over its nonzero eigenvalues.
fn equilibrated_condition(case: &Case) -> f64 {
    let g = Gramian::from_jacobian(case.view()).unwrap();
    let eq = mtl_aggregate::solve::Equilibrated::new(&g);
    if eq.kept.is_empty() {
        return 1.0;
    }
    let e = mtl_aggregate::solve::eigen::PsdEigen::new(eq.g.clone());
    let nz = e.nonzero();
    let max = nz.iter().map(|&k| e.values[k]).fold(0.0, f64::max);
    let min = nz
        .iter()
        .map(|&k| e.values[k])
        .fold(f64::INFINITY, f64::min);
    if nz.is_empty() {
        1.0
    } else {
        max / min
    }
}

fn close(a: &[f64], b: &[f64], tol: f64) -> bool {
    a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tol)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_method_is_finite_and_shaped(case in cases()) {
        for info in METHODS {
            let out = run(info.name, &case);
            prop_assert_eq!(out.direction.len(), case.n);
            prop_assert!(out.direction.iter().all(|x| x.is_finite()), "{} {:?}", info.name, out);
            match (&out.weights, info.kind) {
                (Some(w), Kind::Gramian) => {
                    prop_assert_eq!(w.len(), case.m);
                    prop_assert!(w.iter().all(|x| x.is_finite()), "{} {:?}", info.name, w);
                }
                (None, Kind::Jacobian) => {}
                _ => prop_assert!(false, "{}: weights do not match the kind", info.name),
            }
        }
    }

    #[test]
    fn every_method_scales_as_documented(case in cases(), up in any::<bool>()) {
        let s = if up { 1e3 } else { 1e-3 };
        let big = case.scaled(s);
        for info in METHODS {
            let a = run(info.name, &case);
            let b = run(info.name, &big);
            let k = match info.scaling { Scaling::Linear => s, Scaling::Invariant => 1.0 };
            let scaled: Vec<f64> = b.direction.iter().map(|x| x / k).collect();
            let rel = relative_tolerance(info.name, &case, a.weights.as_ref());
            if rel.is_infinite() {
                continue;
            }
            let tol = rel * magnitude(&case, a.weights.as_ref()) + gramian_floor(&case, a.weights.as_ref());
            prop_assert!(close(&scaled, &a.direction, tol),
                "{}: d(sJ)/s^k = {:?}, d(J) = {:?}", info.name, scaled, a.direction);
        }
    }

    #[test]
    fn deterministic_methods_ignore_the_order_of_tasks(case in cases(), rot in 0usize..6) {
        let perm: Vec<usize> = (0..case.m).map(|i| (i + rot) % case.m).collect();
        let p = case.permuted(&perm);
        for info in METHODS.iter().filter(|i| !i.stochastic) {
            let a = run(info.name, &case);
            let b = run(info.name, &p);
            let rel = relative_tolerance(info.name, &case, a.weights.as_ref());
            if rel.is_infinite() {
                continue;
            }
            let tol = rel * magnitude(&case, a.weights.as_ref()) + gramian_floor(&case, a.weights.as_ref());
            prop_assert!(close(&a.direction, &b.direction, tol),
                "{}: {:?} vs permuted {:?}", info.name, a.direction, b.direction);
        }
    }

    #[test]
    fn upgrad_and_dualproj_never_conflict(case in cases()) {
        for name in ["upgrad", "dualproj"] {
            let out = run(name, &case);
            let mag = magnitude(&case, out.weights.as_ref());
            for k in 0..case.m {
                let ip = dot(&out.direction, case.row(k));
                prop_assert!(ip >= -1e-10 * mag * case.norm(k), "{name}: ⟨d, g_{k}⟩ = {ip}");
            }
        }
    }

    #[test]
    fn mgda_satisfies_its_kkt_conditions_and_beats_clarabel(case in cases()) {
        let out = run("mgda", &case);
        let w = out.weights.clone().unwrap();
        let d = &out.direction;
        prop_assert!(w.iter().all(|&x| x >= 0.0));
        prop_assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        let dd = dot(d, d);
        let dn = dd.sqrt();
        // Through the Gramian, ‖d‖² is known to ~ε max_i ‖g_i‖², so d to ~√ε Σ_i w_i ‖g_i‖.
        let mag = magnitude(&case, Some(&w));
        for (j, &wj) in w.iter().enumerate() {
            let ip = dot(case.row(j), d);
            let tol = case.norm(j) * (1e-9 * dn + 1e-7 * mag);
            prop_assert!(ip >= dd - tol, "⟨g_{j}, d⟩ = {ip} < ‖d‖² = {dd}");
            if wj > 1e-6 {
                prop_assert!((ip - dd).abs() <= tol, "support {j}: {ip} vs {dd}");
            }
        }
        // The clarabel solution of the same QP (on G normalised by its largest entry) cannot be
        // better than the exact one.
        let g = Gramian::from_jacobian(case.view()).unwrap();
        let scale = g.max_diagonal();
        if scale > 0.0 {
            let q = nalgebra::DMatrix::from_row_slice(case.m, case.m, g.as_slice()) / scale;
            if let Some(wc) = conic::simplex_qp(&q, &vec![1.0; case.m]) {
                prop_assert!(g.quad(&w, &w) <= g.quad(&wc, &wc) * (1.0 + 1e-9) + 1e-12 * scale);
            }
        }
    }

    #[test]
    fn pcgrad_with_two_tasks_is_its_closed_form(case in cases_with(2..=2), seed in any::<u64>()) {
        let mut method = registry::build("pcgrad", &[("seed".into(), seed.to_string())]).unwrap();
        let d = method.aggregate(case.view()).unwrap().direction;
        let (g1, g2) = (case.row(0), case.row(1));
        let ip = dot(g1, g2);
        let (n1, n2) = (dot(g1, g1), dot(g2, g2));
        let want: Vec<f64> = (0..case.n).map(|c| {
            let mut x = g1[c] + g2[c];
            if ip < 0.0 {
                if n2 > 0.0 { x -= ip / n2 * g2[c]; }
                if n1 > 0.0 { x -= ip / n1 * g1[c]; }
            }
            x
        }).collect();
        let tol = 1e-12 * (case.norm(0) + case.norm(1));
        prop_assert!(close(&d, &want, tol), "{:?} vs {:?}", d, want);
    }

    #[test]
    fn nash_mtl_solves_its_equation(case in cases()) {
        let g = Gramian::from_jacobian(case.view()).unwrap();
        let mut nash = NashMtl::new();
        let a = nash.weights(&g).unwrap();
        prop_assert!(a.iter().all(|&x| x >= 0.0));
        if !nash.last_was_regularised() {
            let d = case.view().combine(&a).unwrap();
            for i in 0..case.m {
                if a[i] > 0.0 {
                    // ⟨g_i, d⟩ = 1/α_i, to the rounding of α_i (G α)_i: ε α_i (|G| α)_i.
                    let ip = dot(case.row(i), &d);
                    let abs_ga: f64 = (0..case.m).map(|j| g.get(i, j).abs() * a[j]).sum();
                    let tol = 1e-6 + 1e4 * f64::EPSILON * a[i] * abs_ga;
                    prop_assert!((a[i] * ip - 1.0).abs() < tol, "α_{i} ⟨g_i, d⟩ = {}", a[i] * ip);
                }
            }
        }
    }

    #[test]
    fn config_and_imtl_g_make_equal_angles_when_independent(case in independent_cases()) {
        // Well-conditioned instances only: the smallest eigenvalue of the normalised Gramian.
        let g = Gramian::from_jacobian(case.view()).unwrap();
        let eq = mtl_aggregate::solve::Equilibrated::new(&g);
        prop_assume!(eq.kept.len() == case.m);
        let e = nalgebra::SymmetricEigen::new(eq.g.clone());
        prop_assume!(e.eigenvalues.min() > 1e-3);
        let c = run("config", &case).direction;
        let i = run("imtl_g", &case);
        let cos_c: Vec<f64> = (0..case.m).map(|k| dot(&c, case.row(k)) / case.norm(k)).collect();
        let proj_i: Vec<f64> = (0..case.m).map(|k| dot(&i.direction, case.row(k)) / case.norm(k)).collect();
        let ws: f64 = i.weights.unwrap().iter().sum();
        prop_assert!((ws - 1.0).abs() < 1e-9);
        for k in 1..case.m {
            prop_assert!((cos_c[k] - cos_c[0]).abs() <= 1e-8 * cos_c[0].abs());
            prop_assert!((proj_i[k] - proj_i[0]).abs() <= 1e-8 * proj_i[0].abs().max(1e-300));
        }
        prop_assert!(cos_c[0] > 0.0);
        // ‖d‖ = Σ_k ⟨g_k, u⟩.
        let norm = dot(&c, &c).sqrt();
        let length: f64 = (0..case.m).map(|k| dot(case.row(k), &c) / norm).sum();
        prop_assert!((norm - length).abs() <= 1e-9 * norm);
    }

    #[test]
    fn cagrad_solves_its_primal(case in cases(), dirs in prop::collection::vec(-1.0f64..1.0, 64)) {
        let c = 0.4;
        let mut method = registry::build("cagrad", &[("rescale".into(), "0".into())]).unwrap();
        let d = method.aggregate(case.view()).unwrap().direction;
        let g0: Vec<f64> = (0..case.n)
            .map(|k| (0..case.m).map(|i| case.row(i)[k]).sum::<f64>() / case.m as f64)
            .collect();
        let r = c * dot(&g0, &g0).sqrt();
        let dist: f64 = d.iter().zip(&g0).map(|(a, b)| (a - b).powi(2)).sum::<f64>().sqrt();
        let mag = magnitude(&case, None);
        prop_assert!(dist <= r + 1e-7 * mag, "‖d − g0‖ = {dist} > c‖g0‖ = {r}");
        // No point of the ball (sampled at random on its boundary) improves the worst task more.
        let worst = |x: &[f64]| (0..case.m).map(|i| dot(case.row(i), x)).fold(f64::INFINITY, f64::min);
        let best = worst(&d);
        for chunk in dirs.chunks(case.n).filter(|ch| ch.len() == case.n) {
            let z = dot(chunk, chunk).sqrt();
            if z == 0.0 { continue; }
            let x: Vec<f64> = g0.iter().zip(chunk).map(|(a, b)| a + r * b / z).collect();
            prop_assert!(worst(&x) <= best + 1e-6 * mag * mag, "{} > {}", worst(&x), best);
        }
    }

    #[test]
    fn graddrop_keeps_one_sign_per_coordinate(case in cases(), seed in any::<u64>()) {
        let mut method = registry::build("graddrop", &[("seed".into(), seed.to_string())]).unwrap();
        let d = method.aggregate(case.view()).unwrap().direction;
        for (c, &dc) in d.iter().enumerate() {
            let col: Vec<f64> = (0..case.m).map(|i| case.row(i)[c]).collect();
            let pos: f64 = col.iter().filter(|&&x| x > 0.0).sum();
            let neg: f64 = col.iter().filter(|&&x| x < 0.0).sum();
            prop_assert!(dc == pos || dc == neg || (pos == 0.0 && neg == 0.0 && dc == 0.0),
                "coordinate {c}: {dc} not in {{{pos}, {neg}}}");
        }
    }

    #[test]
    fn state_round_trips_and_reset_restarts(first in cases(), seed in any::<u64>()) {
        let second = first.scaled(0.5);
        for info in METHODS {
            let params: Vec<(String, String)> = if info.params.iter().any(|p| p.name == "seed") {
                vec![("seed".into(), seed.to_string())]
            } else {
                vec![]
            };
            let mut a = registry::build(info.name, &params).unwrap();
            let d1 = a.aggregate(first.view()).unwrap().direction;
            let saved = a.state();
            let d2 = a.aggregate(second.view()).unwrap().direction;
            let mut b = registry::build(info.name, &params).unwrap();
            b.load_state(&saved).unwrap();
            prop_assert_eq!(&b.aggregate(second.view()).unwrap().direction, &d2, "{}", info.name);
            a.reset();
            prop_assert_eq!(&a.aggregate(first.view()).unwrap().direction, &d1, "{}", info.name);
        }
    }
}

#[test]
fn gramian_entry_point_equals_the_jacobian_entry_point() {
    let j = Jacobian::from_rows(&[
        vec![1.0, -2.0, 0.5],
        vec![-1.0, 1.0, 3.0],
        vec![0.2, 0.0, -1.0],
    ])
    .unwrap();
    for info in METHODS.iter().filter(|i| i.kind == Kind::Gramian) {
        let mut a = registry::build(info.name, &[]).unwrap();
        let mut b = registry::build(info.name, &[]).unwrap();
        let via_j = a.aggregate(j.view()).unwrap();
        let g = Gramian::from_jacobian(j.view()).unwrap();
        let w = b.as_weighting_mut().unwrap().weights(&g).unwrap();
        assert_eq!(via_j.weights.as_ref(), Some(&w), "{}", info.name);
        assert_eq!(
            via_j.direction,
            j.view().combine(&w).unwrap(),
            "{}",
            info.name
        );
    }
}

#[test]
fn upgrad_is_exact_where_regularisation_fails() {
    // Norms 1e-4 and 1e4 (ratio 1e8) with a conflict. The exact UPGrad direction satisfies
    // ⟨d, g_k⟩ ≥ 0 for both tasks; the projection of g_1 makes ⟨π(g_1), g_2⟩ = 0 exactly.
    let j = Jacobian::from_rows(&[vec![1e-4, 1e-4], vec![-1e4, 2e4]]).unwrap();
    let mut m = registry::build("upgrad", &[]).unwrap();
    let out = m.aggregate(j.view()).unwrap();
    let w = out.weights.unwrap();
    // ⟨g_1, g_2⟩ = -1 + 2 = 1 > 0: no conflict, so UPGrad is the mean.
    assert_eq!(w, vec![0.5, 0.5]);
    let j = Jacobian::from_rows(&[vec![1e-4, 1e-4], vec![1e4, -2e4]]).unwrap();
    let out = m.aggregate(j.view()).unwrap();
    let w = out.weights.unwrap();
    // Now ⟨g_1, g_2⟩ = -1: π(g_1) = g_1 + (1/5e8) g_2, π(g_2) = g_2 + (1/2e-8) g_1.
    let want = [0.5 * (1.0 + 1.0 / 2e-8), 0.5 * (1.0 + 1.0 / 5e8)];
    assert!(
        (w[0] - want[0]).abs() <= 1e-12 * want[0],
        "{w:?} vs {want:?}"
    );
    assert!(
        (w[1] - want[1]).abs() <= 1e-12 * want[1],
        "{w:?} vs {want:?}"
    );
}
