//! Every shipped config parses and validates.

use mtlscope::config::RunConfig;

#[test]
fn shipped_run_configs_parse() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../configs/fashion_mtl");
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with("stl_") || name.starts_with("mtl_") || name.starts_with("smto_") {
            RunConfig::load(&p, &[]).unwrap_or_else(|e| panic!("{name}: {e:#}"));
            n += 1;
        }
    }
    assert!(n >= 3, "found {n} run configs");
}

/// Every shipped experiment config (any `configs/*/*.toml` with an `[experiment]` section)
/// expands and resolves every run it can start (`--dry-run` checks each run's config against
/// the registries: keys, tasks, encoders, methods and their parameters).
#[test]
fn shipped_experiment_configs_resolve() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../configs");
    let tmp = tempfile::tempdir().unwrap();
    let mut n = 0;
    for d in std::fs::read_dir(root).unwrap() {
        let d = d.unwrap().path();
        if !d.is_dir() {
            continue;
        }
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let text = std::fs::read_to_string(&p).unwrap();
            if p.extension().is_none_or(|x| x != "toml") || !text.contains("\n[experiment]") {
                continue;
            }
            let out = tmp.path().join(format!("exp{n}"));
            let o = std::process::Command::new(env!("CARGO_BIN_EXE_mtlscope"))
                .args(["experiment", "--config"])
                .arg(&p)
                .arg("--out")
                .arg(&out)
                .arg("--dry-run")
                .output()
                .unwrap();
            assert!(
                o.status.success(),
                "{}: {}",
                p.display(),
                String::from_utf8_lossy(&o.stderr)
            );
            n += 1;
        }
    }
    assert!(n >= 10, "found {n} experiment configs");
}
