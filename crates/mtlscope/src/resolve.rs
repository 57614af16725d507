//! Resolving a run config against the registries before anything runs: the dataset and its
//! task names, and the objective's method with its parameters.
//!
//! [`crate::config`] checks each section's values on its own (plain data, no runtime
//! objects); this step checks the names those values refer to, so a misspelt task or method
//! fails at once with its key named — for `train` before the run directory is written, for
//! `experiment` for every run of the plan before the first one starts.

use anyhow::{anyhow, bail, Result};

use crate::config::{ObjectiveKind, OptimName, RunConfig};

/// Checks every name in `cfg` against its registry.
pub fn check_run(cfg: &RunConfig) -> Result<()> {
    crate::data::check_config(&cfg.data)?;
    crate::model::encoder(&cfg.model.encoder)?;
    crate::model::resnet::check_variant(&cfg.model.variant)?;
    crate::model::deeplab::check_backbone(&cfg.model.backbone)?;
    let o = &cfg.objective;
    if let (ObjectiveKind::Aggregate | ObjectiveKind::Weighting, Some(m)) =
        (o.kind, o.method.as_deref())
    {
        // Building the method checks its name and every parameter.
        crate::train::objective::check_method(o, m, cfg.data.tasks.len())
            .map_err(|e| anyhow!("objective: {e:#}"))?;
    }
    if cfg.optim.name == OptimName::Adatask && o.kind != ObjectiveKind::Umtg {
        // AdaTask's per-task moments are fed the terms of the uniform loss sum; another
        // objective's combined gradient has no such split.
        bail!(
            "optim.name = \"adatask\" needs objective.kind = \"umtg\", got objective.kind = \"{}\"",
            format!("{:?}", o.kind).to_lowercase()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> String {
        let cfg = RunConfig::from_toml_str(text, &[]).unwrap();
        match check_run(&cfg) {
            Ok(()) => String::new(),
            Err(e) => format!("{e:#}"),
        }
    }

    #[test]
    fn names_are_checked_against_the_registries() {
        assert_eq!(check(""), "");
        let e = check("[data]\ndataset = \"fashion\"");
        assert!(
            e.contains("data.dataset") && e.contains("known: fashion_mtl"),
            "{e}"
        );
        let e = check("[data]\ntasks = [\"fashion1\", \"fashon2\"]");
        assert!(e.contains("data.tasks") && e.contains("`fashon2`"), "{e}");
        let e = check("[objective]\nkind = \"aggregate\"\nmethod = \"mgdaa\"");
        assert!(e.starts_with("objective:") && e.contains("mgdaa"), "{e}");
        let e = check("[objective]\nkind = \"aggregate\"\nmethod = \"cagrad\"\nalpha = -1");
        assert!(e.contains("alpha"), "{e}");
    }

    #[test]
    fn adatask_needs_the_umtg_objective() {
        assert_eq!(check("[optim]\nname = \"adatask\""), "");
        let e = check(
            "[optim]\nname = \"adatask\"\n[objective]\nkind = \"weighting\"\nmethod = \"uw\"",
        );
        assert!(
            e.contains("optim.name") && e.contains("objective.kind") && e.contains("weighting"),
            "{e}"
        );
    }
}
