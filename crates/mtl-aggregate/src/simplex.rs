//! Weight vectors on the probability simplex and a distance between point sets, for Pareto-set
//! learning by decomposition (one scalar subproblem per weight vector λ_k; MT2O, MOEA/D).
//!
//! - [`das_dennis`]: the uniform simplex lattice of Das & Dennis ("Normal-boundary
//!   intersection: a new method for generating the Pareto surface in nonlinear multicriteria
//!   optimization problems", SIAM J. Optim. 8(3), 1998), the usual weight set of MOEA/D
//!   (Zhang & Li, IEEE TEC 11(6), 2007) and of PHN's test rays (`ref_dirs` in pymoo).
//! - [`igd`]: the inverted generational distance of a point set to a reference front.

use crate::Error;

/// The largest lattice [`das_dennis`] builds (a guard against C(h+m−1, m−1) exploding).
pub const MAX_POINTS: usize = 10_000_000;

/// C(h+m−1, m−1), the number of points of the lattice, or `None` past `usize`.
pub fn lattice_size(m: usize, h: usize) -> Option<usize> {
    if m == 0 {
        return Some(0);
    }
    // C(h+m−1, k) for k = min(m−1, h), by the exact running product C(n, i) = C(n, i−1)(n−i+1)/i.
    let n = h.checked_add(m - 1)?;
    let k = (m - 1).min(h);
    let mut c: usize = 1;
    for i in 1..=k {
        c = c.checked_mul(n - i + 1)? / i;
    }
    Some(c)
}

/// The uniform simplex lattice with `h` divisions in `m` dimensions (Das & Dennis 1998): every
/// λ = a/h with a ∈ ℕ^m and Σ a = h, so λ ≥ 0 and Σ λ = 1. There are K = C(h+m−1, m−1) points.
///
/// Order: the integer vectors a in increasing lexicographic order, so the first coordinate
/// varies slowest. For m = 2 the k-th point (k = 0..h) is (k/h, (h−k)/h); for m = 3, h = 2:
/// (0,0,1), (0,½,½), (0,1,0), (½,0,½), (½,½,0), (1,0,0). Each coordinate is a_i/h correctly
/// rounded, so Σ λ = 1 holds to within m/2 ulps; the integer numerators are exact.
///
/// Errors: m = 0 or h = 0 (no lattice), or more than [`MAX_POINTS`] points.
///
/// ```
/// use mtl_aggregate::simplex::das_dennis;
/// let l = das_dennis(2, 4).unwrap();
/// assert_eq!(l, vec![
///     vec![0.0, 1.0], vec![0.25, 0.75], vec![0.5, 0.5], vec![0.75, 0.25], vec![1.0, 0.0],
/// ]);
/// assert_eq!(das_dennis(3, 12).unwrap().len(), 91); // C(14, 2)
/// ```
pub fn das_dennis(m: usize, h: usize) -> Result<Vec<Vec<f64>>, Error> {
    let bad = |param: &str, value: usize, why: String| Error::BadParam {
        method: "das_dennis".into(),
        param: param.into(),
        value: value.to_string(),
        why,
    };
    if m == 0 {
        return Err(bad("m", m, "must be >= 1 (objectives)".into()));
    }
    if h == 0 {
        return Err(bad("h", h, "must be >= 1 (divisions)".into()));
    }
    match lattice_size(m, h) {
        Some(k) if k <= MAX_POINTS => {}
        size => {
            return Err(bad(
                "h",
                h,
                format!(
                    "gives C(h+m-1, m-1) = {} points for m = {m}, more than {MAX_POINTS}",
                    size.map_or("more than 2^64".into(), |k| k.to_string())
                ),
            ))
        }
    }
    let mut out = Vec::new();
    let mut a = vec![0usize; m];
    fill(&mut a, 0, h, h, &mut out);
    Ok(out)
}

/// Writes every completion of `a[..i]` (with `left` units still to place) in lexicographic order.
fn fill(a: &mut [usize], i: usize, left: usize, h: usize, out: &mut Vec<Vec<f64>>) {
    if i + 1 == a.len() {
        a[i] = left;
        out.push(a.iter().map(|&x| x as f64 / h as f64).collect());
        return;
    }
    for v in 0..=left {
        a[i] = v;
        fill(a, i + 1, left - v, h, out);
    }
}

/// The inverted generational distance of `points` to the reference `front`: the mean, over the
/// reference points r, of the Euclidean distance from r to the nearest point of `points`,
///
/// IGD(P, P*) = (1/|P*|) Σ_{r ∈ P*} min_{p ∈ P} ‖r − p‖₂.
///
/// Source: Coello Coello & Reyes Sierra, "A study of the parallelization of a coevolutionary
/// multi-objective evolutionary algorithm" (MICAI 2004, LNAI 2972), who introduced it as the
/// generational distance of Van Veldhuizen with the roles of the sets swapped; see Zitzler,
/// Thiele, Laumanns, Fonseca & da Fonseca, "Performance assessment of multiobjective
/// optimizers: an analysis and review" (IEEE TEC 7(2), 2003) for the family of such indicators.
/// This is the p = 1 form (a plain mean, as pymoo's `IGD`), not (Σ d^p)^{1/p}/|P*|. It is small
/// only when every part of the front has an obtained point near it (coverage and convergence);
/// the generational distance, the same with the sets swapped (`igd(front, points)`), measures
/// convergence alone.
///
/// Errors: empty `points` or `front`, coordinates of different lengths, non-finite values.
///
/// ```
/// use mtl_aggregate::simplex::igd;
/// // Front (0, 0) and (3, 4); one obtained point at the origin: (0 + 5) / 2.
/// let d = igd(&[vec![0.0, 0.0]], &[vec![0.0, 0.0], vec![3.0, 4.0]]).unwrap();
/// assert_eq!(d, 2.5);
/// ```
pub fn igd(points: &[Vec<f64>], front: &[Vec<f64>]) -> Result<f64, Error> {
    check_set(points, "points")?;
    check_set(front, "front")?;
    let d = front[0].len();
    if let Some(i) = points.iter().position(|p| p.len() != d) {
        return Err(Error::Dimension {
            point: i,
            len: points[i].len(),
            expected: d,
        });
    }
    let total: f64 = front
        .iter()
        .map(|r| {
            points
                .iter()
                .map(|p| r.iter().zip(p).map(|(a, b)| (a - b) * (a - b)).sum::<f64>())
                .fold(f64::INFINITY, f64::min)
                .sqrt()
        })
        .sum();
    Ok(total / front.len() as f64)
}

/// A non-empty set of finite points of one dimension.
fn check_set(set: &[Vec<f64>], what: &'static str) -> Result<(), Error> {
    if set.is_empty() || set[0].is_empty() {
        return Err(Error::Empty { what });
    }
    let d = set[0].len();
    for (i, p) in set.iter().enumerate() {
        if p.len() != d {
            return Err(Error::Ragged {
                what,
                row: i,
                len: p.len(),
                expected: d,
            });
        }
        if let Some(k) = p.iter().position(|x| !x.is_finite()) {
            return Err(Error::NonFinite {
                what,
                row: i,
                col: k,
                value: p[k],
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binom(n: u64, k: u64) -> u64 {
        (1..=k).fold(1, |c, i| c * (n - i + 1) / i)
    }

    #[test]
    fn lattice_counts_match_the_binomial() {
        for (m, h, k) in [
            (1, 1, 1),
            (1, 7, 1),
            (2, 1, 2),
            (2, 4, 5),
            (2, 99, 100),
            (3, 2, 6),
            (3, 12, 91),
            (3, 13, 105),
            (4, 6, 84),
            (5, 5, 126),
            (7, 11, 12_376), // PHN's SARCOS test rays: 7 objectives, 11 partitions
            (10, 3, 220),
        ] {
            let l = das_dennis(m, h).unwrap();
            assert_eq!(l.len(), k, "m={m} h={h}");
            assert_eq!(lattice_size(m, h), Some(k));
            assert_eq!(k as u64, binom((h + m - 1) as u64, (m - 1) as u64));
        }
    }

    #[test]
    fn every_point_is_on_the_simplex_distinct_and_in_order() {
        for (m, h) in [(2, 9), (3, 12), (4, 6), (6, 4)] {
            let l = das_dennis(m, h).unwrap();
            for p in &l {
                assert_eq!(p.len(), m);
                assert!(p.iter().all(|&x| (0.0..=1.0).contains(&x)));
                let s: f64 = p.iter().sum();
                assert!((s - 1.0).abs() <= m as f64 * f64::EPSILON, "{p:?}: {s}");
                // On the grid: h λ_i is an integer (to rounding).
                for &x in p {
                    assert!((x * h as f64 - (x * h as f64).round()).abs() < 1e-9);
                }
            }
            for w in l.windows(2) {
                let ord = w[0]
                    .iter()
                    .zip(&w[1])
                    .map(|(a, b)| a.total_cmp(b))
                    .find(|o| o.is_ne());
                assert_eq!(ord, Some(std::cmp::Ordering::Less), "{w:?}");
            }
        }
    }

    #[test]
    fn two_objectives_are_k_over_h() {
        for h in [1, 2, 3, 4, 7, 10, 33] {
            let l = das_dennis(2, h).unwrap();
            assert_eq!(l.len(), h + 1);
            for (k, p) in l.iter().enumerate() {
                let t = k as f64 / h as f64;
                assert_eq!(p[0], t);
                assert!((p[1] - (1.0 - t)).abs() <= f64::EPSILON, "{p:?}");
            }
        }
        assert_eq!(
            das_dennis(3, 2).unwrap(),
            vec![
                vec![0.0, 0.0, 1.0],
                vec![0.0, 0.5, 0.5],
                vec![0.0, 1.0, 0.0],
                vec![0.5, 0.0, 0.5],
                vec![0.5, 0.5, 0.0],
                vec![1.0, 0.0, 0.0],
            ]
        );
    }

    #[test]
    fn bad_lattices_are_refused_naming_the_parameter() {
        assert_eq!(
            das_dennis(0, 3).unwrap_err().to_string(),
            "das_dennis.m must be >= 1 (objectives), got 0"
        );
        assert!(das_dennis(2, 0)
            .unwrap_err()
            .to_string()
            .contains("das_dennis.h"));
        let e = das_dennis(40, 40).unwrap_err().to_string();
        assert!(e.contains("points for m = 40"), "{e}");
        assert_eq!(lattice_size(200, usize::MAX), None);
    }

    #[test]
    fn igd_by_hand() {
        // Front: three points of the segment from (0, 1) to (1, 0); obtained: its ends.
        let front = [vec![0.0, 1.0], vec![0.5, 0.5], vec![1.0, 0.0]];
        let pts = [vec![0.0, 1.0], vec![1.0, 0.0]];
        // Distances 0, √0.5, 0: IGD = √0.5 / 3.
        let want = 0.5f64.sqrt() / 3.0;
        assert!((igd(&pts, &front).unwrap() - want).abs() < 1e-16);
        // The generational distance (sets swapped) is 0: both points are on the front.
        assert_eq!(igd(&front, &pts).unwrap(), 0.0);
        // Shifting the obtained set by (0.3, 0.4) adds exactly 0.5 to every distance to its
        // own image; (0.5, 0.5)'s nearest is then (1.3, 0.4), at √(0.64 + 0.01) (vs √0.85).
        let shifted = [vec![0.3, 1.4], vec![1.3, 0.4]];
        let want = (0.5 + 0.65f64.sqrt() + 0.5) / 3.0;
        assert!((igd(&shifted, &front).unwrap() - want).abs() < 1e-15);
        // Adding points never increases IGD.
        let more = [vec![0.0, 1.0], vec![1.0, 0.0], vec![0.4, 0.5]];
        assert!((igd(&more, &front).unwrap() - 0.1 / 3.0).abs() < 1e-16);
    }

    #[test]
    fn igd_errors_name_the_set() {
        assert_eq!(
            igd(&[], &[vec![1.0]]).unwrap_err(),
            Error::Empty { what: "points" }
        );
        assert_eq!(
            igd(&[vec![1.0]], &[]).unwrap_err(),
            Error::Empty { what: "front" }
        );
        assert_eq!(
            igd(&[vec![1.0, 2.0]], &[vec![1.0]]).unwrap_err(),
            Error::Dimension {
                point: 0,
                len: 2,
                expected: 1
            }
        );
        assert!(matches!(
            igd(&[vec![1.0]], &[vec![0.0], vec![f64::NAN]]).unwrap_err(),
            Error::NonFinite {
                what: "front",
                row: 1,
                ..
            }
        ));
    }
}
