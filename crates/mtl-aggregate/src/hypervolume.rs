//! Exact hypervolume of a point set (minimisation) with respect to a reference point.
//!
//! HV(P, r) = Lebesgue measure of {y : ∃ p ∈ P, p ≤ y ≤ r} (Zitzler & Thiele 1998, the
//! "S metric"; docs/formulas.md, "Hypervolume and Pareto front"). Points that are not strictly
//! better than r in every objective contribute nothing and are dropped. One objective: r − min p. Two: a sweep over
//! the points sorted by the first objective, O(k log k). More: the "hypervolume by slicing
//! objectives" recursion (While, Hingston, Barone & Huband, "A faster algorithm for
//! calculating hypervolume", IEEE TEC 10(1), 2006): sort by the last objective, and between
//! consecutive values add the slab's thickness times the (d−1)-dimensional hypervolume of the
//! points below it (kept as a non-dominated front). Exact for any dimension; the cost grows
//! as n^(d−1) for n non-dominated points in d objectives, fine for the few hundred points of
//! an analysis in a few objectives. Inputs whose estimate exceeds [`MAX_WORK`] are refused
//! with [`Error::TooExpensive`] instead of running for hours (40 points in 12 objectives:
//! 40^11 ≈ 4e17).

/// The largest n^(d−1) (n non-dominated points, d ≥ 3 objectives) computed exactly: about a
/// second of slicing on one core.
pub const MAX_WORK: f64 = 1e9;

use crate::Error;

/// The hypervolume dominated by `points` (each a vector of d objectives, minimised) and bounded
/// by `reference` (d values).
///
/// ```
/// use mtl_aggregate::hypervolume;
/// let hv = hypervolume(&[vec![1.0, 2.0], vec![2.0, 1.0]], &[3.0, 3.0]).unwrap();
/// assert_eq!(hv, 3.0); // 2 x 1 + 1 x 2 - 1 x 1
/// ```
pub fn hypervolume(points: &[Vec<f64>], reference: &[f64]) -> Result<f64, Error> {
    let d = reference.len();
    if d == 0 {
        return Err(Error::Empty {
            what: "reference point",
        });
    }
    if let Some(k) = reference.iter().position(|x| !x.is_finite()) {
        return Err(Error::NonFinite {
            what: "reference point",
            row: 0,
            col: k,
            value: reference[k],
        });
    }
    for (i, p) in points.iter().enumerate() {
        if p.len() != d {
            return Err(Error::Dimension {
                point: i,
                len: p.len(),
                expected: d,
            });
        }
        if let Some(k) = p.iter().position(|x| !x.is_finite()) {
            return Err(Error::NonFinite {
                what: "points",
                row: i,
                col: k,
                value: p[k],
            });
        }
    }
    let inside: Vec<Vec<f64>> = points
        .iter()
        .filter(|p| p.iter().zip(reference).all(|(a, b)| a < b))
        .cloned()
        .collect();
    let front = non_dominated(inside);
    if d >= 3 {
        let work = (front.len() as f64).powi(d as i32 - 1);
        if work > MAX_WORK {
            return Err(Error::TooExpensive {
                points: front.len(),
                dims: d,
                work,
                limit: MAX_WORK,
            });
        }
    }
    let hv = volume(front, reference);
    if !hv.is_finite() {
        return Err(Error::Overflow {
            reference: reference.iter().fold(0.0f64, |a, x| a.max(x.abs())),
        });
    }
    Ok(hv)
}

/// Removes points weakly dominated by another (and duplicates).
fn non_dominated(mut pts: Vec<Vec<f64>>) -> Vec<Vec<f64>> {
    pts.sort_by(|a, b| {
        a.iter()
            .zip(b)
            .map(|(x, y)| x.total_cmp(y))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    pts.dedup();
    // After the lexicographic sort a point can only be dominated by an earlier one.
    let mut front: Vec<Vec<f64>> = Vec::with_capacity(pts.len());
    for p in pts {
        if !front.iter().any(|q| q.iter().zip(&p).all(|(a, b)| a <= b)) {
            front.push(p);
        }
    }
    front
}

/// Hypervolume of a non-dominated set of points, all strictly inside the reference box.
fn volume(pts: Vec<Vec<f64>>, r: &[f64]) -> f64 {
    let d = r.len();
    if pts.is_empty() {
        return 0.0;
    }
    match d {
        1 => r[0] - pts.iter().map(|p| p[0]).fold(f64::INFINITY, f64::min),
        2 => {
            let mut pts = pts;
            pts.sort_by(|a, b| a[0].total_cmp(&b[0]));
            let mut area = 0.0;
            let mut best_y = f64::INFINITY;
            for (i, p) in pts.iter().enumerate() {
                best_y = best_y.min(p[1]);
                let next_x = pts.get(i + 1).map_or(r[0], |q| q[0]);
                area += (next_x - p[0]) * (r[1] - best_y);
            }
            area
        }
        _ => {
            let mut pts = pts;
            pts.sort_by(|a, b| a[d - 1].total_cmp(&b[d - 1]));
            let mut total = 0.0;
            let mut below: Vec<Vec<f64>> = Vec::new();
            for (i, p) in pts.iter().enumerate() {
                let q = p[..d - 1].to_vec();
                if !below.iter().any(|b| b.iter().zip(&q).all(|(x, y)| x <= y)) {
                    below.retain(|b| !q.iter().zip(b).all(|(x, y)| x <= y));
                    below.push(q);
                }
                let next = pts.get(i + 1).map_or(r[d - 1], |n| n[d - 1]);
                if next > p[d - 1] {
                    total += (next - p[d - 1]) * volume(below.clone(), &r[..d - 1]);
                }
            }
            total
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Inclusion–exclusion: Σ over nonempty subsets S of (−1)^{|S|+1} Π_k (r_k − max_{p∈S} p_k).
    fn inclusion_exclusion(points: &[Vec<f64>], r: &[f64]) -> f64 {
        let pts: Vec<&Vec<f64>> = points
            .iter()
            .filter(|p| p.iter().zip(r).all(|(a, b)| a < b))
            .collect();
        let mut total = 0.0;
        for mask in 1u32..(1 << pts.len()) {
            let mut vol = 1.0;
            for k in 0..r.len() {
                let max = (0..pts.len())
                    .filter(|i| mask & (1 << i) != 0)
                    .map(|i| pts[i][k])
                    .fold(f64::NEG_INFINITY, f64::max);
                vol *= r[k] - max;
            }
            total += if mask.count_ones() % 2 == 1 {
                vol
            } else {
                -vol
            };
        }
        total
    }

    /// Counts the unit cells of the integer grid dominated by some point.
    fn grid_count(points: &[Vec<f64>], r: &[i64]) -> f64 {
        let d = r.len();
        let mut count = 0;
        let cells: i64 = r.iter().product();
        for idx in 0..cells {
            let mut rem = idx;
            let cell: Vec<i64> = (0..d)
                .map(|k| {
                    let c = rem % r[k];
                    rem /= r[k];
                    c
                })
                .collect();
            // The cell [c, c+1]^d is covered iff some p ≤ c.
            if points
                .iter()
                .any(|p| p.iter().zip(&cell).all(|(a, &c)| *a <= c as f64))
            {
                count += 1;
            }
        }
        count as f64
    }

    fn lcg(state: &mut u64) -> f64 {
        *state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (*state >> 11) as f64 / (1u64 << 53) as f64
    }

    #[test]
    fn hand_cases() {
        assert_eq!(hypervolume(&[], &[1.0, 1.0]).unwrap(), 0.0);
        assert_eq!(hypervolume(&[vec![0.5]], &[2.0]).unwrap(), 1.5);
        assert_eq!(
            hypervolume(&[vec![1.0, 1.0, 1.0]], &[2.0, 3.0, 4.0]).unwrap(),
            6.0
        );
        // On the boundary or outside: ignored.
        assert_eq!(
            hypervolume(&[vec![2.0, 0.0], vec![3.0, -1.0]], &[2.0, 2.0]).unwrap(),
            0.0
        );
        // Two 3-D boxes [0,2]x[0,1]x[0,1] and [0,1]x[0,2]x[0,1] below r = (2, 2, 1) shifted.
        let hv = hypervolume(
            &[vec![0.0, 1.0, 0.0], vec![1.0, 0.0, 0.0]],
            &[2.0, 2.0, 1.0],
        )
        .unwrap();
        assert_eq!(hv, 3.0);
    }

    #[test]
    fn matches_inclusion_exclusion_on_random_sets() {
        let mut s = 42u64;
        for d in 1..=5 {
            for _ in 0..30 {
                let k = 1 + (lcg(&mut s) * 9.0) as usize;
                let pts: Vec<Vec<f64>> = (0..k)
                    .map(|_| (0..d).map(|_| lcg(&mut s) * 1.2).collect())
                    .collect();
                let r = vec![1.0; d];
                let want = inclusion_exclusion(&pts, &r);
                let got = hypervolume(&pts, &r).unwrap();
                assert!(
                    (got - want).abs() <= 1e-12 * want.abs().max(1.0),
                    "d={d} {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn matches_grid_counts_with_ties() {
        let mut s = 7u64;
        for d in 2..=4 {
            let r: Vec<i64> = vec![5; d];
            let rf: Vec<f64> = r.iter().map(|&x| x as f64).collect();
            for _ in 0..20 {
                let k = 1 + (lcg(&mut s) * 7.0) as usize;
                let pts: Vec<Vec<f64>> = (0..k)
                    .map(|_| (0..d).map(|_| (lcg(&mut s) * 6.0).floor()).collect())
                    .collect();
                assert_eq!(hypervolume(&pts, &rf).unwrap(), grid_count(&pts, &r));
            }
        }
    }

    #[test]
    fn overflow_and_cost_are_errors_not_silent() {
        let e = hypervolume(&[vec![0.0, 0.0]], &[1e300, 1e300]).unwrap_err();
        assert!(matches!(e, Error::Overflow { .. }), "{e}");
        // 40 mutually non-dominated points in 12 objectives (on the plane Σ y = 1, so none
        // dominates another): refused at once.
        let pts: Vec<Vec<f64>> = (0..40)
            .map(|i| {
                let v: Vec<f64> = (0..12)
                    .map(|k| ((i * 7 + k * k * 13) % 41 + 1) as f64)
                    .collect();
                let s: f64 = v.iter().sum();
                v.iter().map(|x| x / s).collect()
            })
            .collect();
        let e = hypervolume(&pts, &[2.0; 12]).unwrap_err();
        assert!(matches!(e, Error::TooExpensive { dims: 12, .. }), "{e}");
        assert!(e.to_string().contains("n^(d-1)"), "{e}");
    }

    #[test]
    fn errors_name_the_offence() {
        assert_eq!(
            hypervolume(&[vec![1.0, 2.0], vec![1.0]], &[3.0, 3.0]).unwrap_err(),
            Error::Dimension {
                point: 1,
                len: 1,
                expected: 2
            }
        );
        assert!(matches!(
            hypervolume(&[vec![1.0, f64::NAN]], &[3.0, 3.0]).unwrap_err(),
            Error::NonFinite { row: 0, col: 1, .. }
        ));
        assert!(hypervolume(&[], &[]).is_err());
    }
}
