//! `[[auxiliary_sets]]`: Mueller et al.'s §5 design (Fig. 5–6) — for a target task, train MTL
//! models with randomly drawn sets of auxiliary tasks, so that the report can correlate the
//! target's gradient conflict (measured against the UMTG it follows) with each set's
//! generalization effect on it.
//!
//! ```toml
//! [[auxiliary_sets]]
//! target = "fish"
//! pool = ["aquatic_mammals", "flowers", "insects", "people", "trees"]  # candidates
//! size = 2                                  # auxiliary tasks per set
//! count = 4                                 # sets drawn (distinct)
//! seed = 0                                  # the draw
//! set = { "objective.kind" = "umtg" }       # optional overrides for these variants
//! ```
//!
//! Each set becomes a variant `aux_<target>_<i>` (i = 1..count) training
//! `[target, auxiliaries…]`, labelled with its tasks. The draw is a function of (seed, target)
//! alone, and the sets are distinct, so the plan is reproducible and no set is trained twice.

use std::collections::BTreeMap;

use anyhow::{ensure, Result};
use rand::seq::index::sample;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;

use super::plan::VariantConfig;

/// One `[[auxiliary_sets]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuxiliarySets {
    /// The target task, first in every generated variant.
    pub target: String,
    /// Candidate auxiliary tasks (the target is not among them).
    pub pool: Vec<String>,
    /// Auxiliary tasks per set.
    pub size: usize,
    /// Number of distinct sets.
    pub count: usize,
    /// Seed of the draw.
    #[serde(default)]
    pub seed: u64,
    /// Overrides for the generated variants (besides `data.tasks`).
    #[serde(default)]
    pub set: BTreeMap<String, toml::Value>,
}

/// C(n, k), saturating.
fn binomial(n: usize, k: usize) -> u128 {
    (0..k as u128).fold(1u128, |acc, i| acc.saturating_mul(n as u128 - i) / (i + 1))
}

impl AuxiliarySets {
    /// The generated variants.
    pub fn variants(&self) -> Result<Vec<VariantConfig>> {
        let what = format!("[[auxiliary_sets]] for `{}`", self.target);
        ensure!(
            !self.pool.contains(&self.target),
            "{what}: the pool contains the target itself"
        );
        for (i, t) in self.pool.iter().enumerate() {
            ensure!(
                !self.pool[..i].contains(t),
                "{what}: pool lists `{t}` twice"
            );
        }
        ensure!(
            self.size >= 1 && self.size <= self.pool.len(),
            "{what}: size must be between 1 and the pool's {} tasks, got {}",
            self.pool.len(),
            self.size
        );
        ensure!(self.count >= 1, "{what}: count must be >= 1");
        ensure!(
            binomial(self.pool.len(), self.size) >= self.count as u128,
            "{what}: only {} distinct sets of {} exist in a pool of {}, {} asked",
            binomial(self.pool.len(), self.size),
            self.size,
            self.pool.len(),
            self.count
        );
        ensure!(
            !self.set.contains_key("data.tasks"),
            "{what}: `set` may not override data.tasks (the sets are drawn)"
        );
        let seed = self.target.bytes().fold(self.seed ^ 0xa0c5_e75e, |h, b| {
            (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
        });
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut sets: Vec<Vec<usize>> = Vec::new();
        while sets.len() < self.count {
            let mut s = sample(&mut rng, self.pool.len(), self.size).into_vec();
            s.sort_unstable();
            if !sets.contains(&s) {
                sets.push(s);
            }
        }
        let slug: String = self
            .target
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        Ok(sets
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let aux: Vec<&str> = s.iter().map(|&j| self.pool[j].as_str()).collect();
                let mut tasks = vec![toml::Value::String(self.target.clone())];
                tasks.extend(aux.iter().map(|t| toml::Value::String(t.to_string())));
                let mut set = self.set.clone();
                set.insert("data.tasks".into(), toml::Value::Array(tasks));
                VariantConfig {
                    name: format!("aux_{slug}_{}", i + 1),
                    label: Some(format!("MTL: {} + {}", self.target, aux.join(" + "))),
                    set,
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aux(size: usize, count: usize, seed: u64) -> AuxiliarySets {
        AuxiliarySets {
            target: "fish".into(),
            pool: ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect(),
            size,
            count,
            seed,
            set: BTreeMap::new(),
        }
    }

    #[test]
    fn draws_distinct_reproducible_sets_with_the_target_first() {
        let v = aux(2, 6, 0).variants().unwrap();
        assert_eq!(v.len(), 6);
        let tasks: Vec<Vec<String>> = v
            .iter()
            .map(|v| {
                v.set["data.tasks"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t.as_str().unwrap().to_string())
                    .collect()
            })
            .collect();
        // All C(4, 2) = 6 sets, each once, the target first.
        let mut aux_sets: Vec<Vec<String>> = tasks.iter().map(|t| t[1..].to_vec()).collect();
        aux_sets.sort();
        aux_sets.dedup();
        assert_eq!(aux_sets.len(), 6);
        assert!(tasks.iter().all(|t| t[0] == "fish" && t.len() == 3));
        assert_eq!(v[0].name, "aux_fish_1");
        assert_eq!(aux(2, 6, 0).variants().unwrap(), v);
        assert_ne!(
            aux(2, 3, 1).variants().unwrap(),
            aux(2, 3, 2).variants().unwrap()
        );
    }

    #[test]
    fn impossible_requests_are_refused() {
        assert!(format!("{:#}", aux(2, 7, 0).variants().unwrap_err()).contains("only 6 distinct"));
        assert!(aux(5, 1, 0).variants().is_err());
        let mut a = aux(1, 1, 0);
        a.pool.push("fish".into());
        assert!(format!("{:#}", a.variants().unwrap_err()).contains("target itself"));
    }
}
