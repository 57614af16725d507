//! Pareto front and hypervolume of per-task final validation losses (docs/formulas.md,
//! "Hypervolume and Pareto front": minimisation; the Lebesgue measure of
//! {y : ∃p ∈ P, p ≤ y ≤ r}; points not strictly better than the reference r in every objective
//! contribute nothing).
use anyhow::Result;

/// `a` Pareto-dominates `b` (minimisation): no worse everywhere, better somewhere.
pub fn dominates(a: &[f64], b: &[f64]) -> bool {
    a.iter().zip(b).all(|(x, y)| x <= y) && a.iter().zip(b).any(|(x, y)| x < y)
}

/// Which points are non-dominated.
pub fn nondominated(points: &[Vec<f64>]) -> Vec<bool> {
    points
        .iter()
        .map(|p| !points.iter().any(|q| dominates(q, p)))
        .collect()
}

/// Exact hypervolume dominated by `points` and bounded by `reference` (minimisation), from
/// `mtl_aggregate::hypervolume` (docs/formulas.md, "Hypervolume and Pareto front"): points not
/// strictly better than the reference in every objective contribute nothing.
pub fn hypervolume(points: &[Vec<f64>], reference: &[f64]) -> Result<f64> {
    mtl_aggregate::hypervolume(points, reference).map_err(|e| anyhow::anyhow!("hypervolume: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_d_hand_case() {
        // Reference (4,4); points (1,3), (2,2), (3,1): staircase area = 3·1 + 2·1 + 1·1 = 6.
        let p = vec![vec![1.0, 3.0], vec![2.0, 2.0], vec![3.0, 1.0]];
        assert_eq!(hypervolume(&p, &[4.0, 4.0]).unwrap(), 6.0);
        // A dominated point adds nothing; a point outside the reference adds nothing.
        let mut q = p.clone();
        q.push(vec![3.0, 3.0]);
        q.push(vec![0.5, 5.0]);
        assert_eq!(hypervolume(&q, &[4.0, 4.0]).unwrap(), 6.0);
        assert_eq!(hypervolume(&[vec![4.0, 1.0]], &[4.0, 4.0]).unwrap(), 0.0);
        assert_eq!(nondominated(&q), vec![true, true, true, false, true]);
    }

    #[test]
    fn three_d_matches_inclusion_exclusion() {
        // Two boxes to r = (2,2,2): a = (0,1,1) → 2·1·1 = 2; b = (1,0,0) → 1·2·2 = 4;
        // intersection from (1,1,1) → 1. Union = 5.
        let p = vec![vec![0.0, 1.0, 1.0], vec![1.0, 0.0, 0.0]];
        assert!((hypervolume(&p, &[2.0, 2.0, 2.0]).unwrap() - 5.0).abs() < 1e-12);
        assert!((hypervolume(&[vec![0.5]], &[2.0]).unwrap() - 1.5).abs() < 1e-12);
        assert!(hypervolume(&[vec![1.0]], &[2.0, 2.0]).is_err());
    }
}

/// One variant's point: mean over seeds of the final validation loss per task.
#[derive(Debug, Clone)]
pub struct ParetoPoint {
    /// Variant name (`stl` for the composite of the STL variants).
    pub variant: String,
    /// Legend label.
    pub label: String,
    /// Colour index (plan order; `usize::MAX` for the STL composite).
    pub index: usize,
    /// Mean final val loss per task.
    pub losses: Vec<f64>,
    /// Per-seed points (STL composite: none, its seeds are separate models).
    pub seeds: Vec<Vec<f64>>,
    /// Hypervolume of this point alone.
    pub hypervolume: f64,
    /// Non-dominated among the set's points.
    pub on_front: bool,
}

/// The variants sharing one task set.
#[derive(Debug, Clone)]
pub struct ParetoSet {
    /// Tasks (objectives), in the first variant's order.
    pub tasks: Vec<String>,
    /// Reference point.
    pub reference: Vec<f64>,
    /// Points.
    pub points: Vec<ParetoPoint>,
    /// Hypervolume of all points (= of the front).
    pub hypervolume: f64,
}

/// Pareto sets of final per-task validation losses: one per task set trained by a multi-task
/// variant, with the MTL/SMTO variants on exactly that set and, when every task has an STL
/// variant, the composite "separate STL models" point. Reference point per task:
/// 1.1 × the largest value among the points, their seeds and the untrained (epoch 0) val loss,
/// so every point contributes and the reference is reproducible from the data.
pub fn pareto_sets(groups: &super::Groups) -> Result<Vec<ParetoSet>> {
    use super::aggregates::{metric_aggregate, Aggregate, Metric};
    use crate::experiment::store::{RunKind, Split};
    use crate::train::run_files::LOSS;
    // Every task's loss is lower-is-better, so one minimisation front covers any task kinds.
    let metric = Metric::loss(Split::Val);
    let mut sets: Vec<Vec<String>> = Vec::new();
    for v in &groups.variants {
        if v.kind != RunKind::Stl {
            let mut key = v.tasks.clone();
            key.sort();
            if !sets.iter().any(|s| {
                let mut t = s.clone();
                t.sort();
                t == key
            }) {
                sets.push(v.tasks.clone());
            }
        }
    }
    let mut out = Vec::new();
    for tasks in sets {
        let mut sorted = tasks.clone();
        sorted.sort();
        let mut points = Vec::new();
        let mut initial = vec![f64::NEG_INFINITY; tasks.len()];
        let mut note_initial = |r: &crate::experiment::store::RunData| {
            for (k, t) in tasks.iter().enumerate() {
                if let Some(p) = r.series(t, Split::Val, LOSS).iter().find(|p| p.step == 0) {
                    if p.value.is_finite() {
                        initial[k] = initial[k].max(p.value);
                    }
                }
            }
        };
        for v in groups.variants.iter().filter(|v| v.kind != RunKind::Stl) {
            let mut vt = v.tasks.clone();
            vt.sort();
            if vt != sorted {
                continue;
            }
            let seeds: Vec<Vec<f64>> = v
                .runs
                .iter()
                .filter_map(|r| {
                    note_initial(r);
                    tasks
                        .iter()
                        .map(|t| metric_aggregate(r, t, &metric, Aggregate::Final, &v.rank))
                        .collect::<Option<Vec<f64>>>()
                })
                .collect();
            if seeds.is_empty() {
                continue;
            }
            let losses = (0..tasks.len())
                .map(|k| seeds.iter().map(|s| s[k]).sum::<f64>() / seeds.len() as f64)
                .collect();
            points.push(ParetoPoint {
                variant: v.name.clone(),
                label: v.label.clone(),
                index: v.index,
                losses,
                seeds,
                hypervolume: 0.0,
                on_front: false,
            });
        }
        let stl: Option<Vec<f64>> = tasks
            .iter()
            .map(|t| {
                let g = groups.stl_for(t)?;
                g.runs.iter().for_each(|r| note_initial(r));
                let v = g.metric_values(t, &metric, Aggregate::Final);
                (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
            })
            .collect();
        if let Some(losses) = stl {
            points.push(ParetoPoint {
                variant: "stl".into(),
                label: "STL (separate models)".into(),
                index: usize::MAX,
                losses,
                seeds: Vec::new(),
                hypervolume: 0.0,
                on_front: false,
            });
        }
        if points.is_empty() {
            continue;
        }
        let reference: Vec<f64> = (0..tasks.len())
            .map(|k| {
                let m = points
                    .iter()
                    .flat_map(|p| std::iter::once(p.losses[k]).chain(p.seeds.iter().map(|s| s[k])))
                    .fold(initial[k], f64::max);
                1.1 * m
            })
            .collect();
        let means: Vec<Vec<f64>> = points.iter().map(|p| p.losses.clone()).collect();
        let front = nondominated(&means);
        for (p, f) in points.iter_mut().zip(front) {
            p.on_front = f;
            p.hypervolume = hypervolume(std::slice::from_ref(&p.losses), &reference)?;
        }
        let total = hypervolume(&means, &reference)?;
        out.push(ParetoSet {
            tasks,
            reference,
            points,
            hypervolume: total,
        });
    }
    Ok(out)
}
