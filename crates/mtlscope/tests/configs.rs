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
