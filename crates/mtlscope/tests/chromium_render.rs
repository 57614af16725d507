//! Renders a synthetic report's index.html in headless Chromium through scripts/check_report.sh
//! (screenshot, then a not-blank check). Needs Debian's `chromium`, which `scripts/setup.sh`
//! (`make setup`, `make test`) installs, so it runs in every CI run; without it the test fails
//! and says how to install it.
mod synthetic;

use std::process::Command;

#[test]
fn report_renders_in_chromium() {
    let tmp = tempfile::tempdir().unwrap();
    let exp = tmp.path().join("exp");
    synthetic::make_experiment(&exp);
    let o = Command::new(env!("CARGO_BIN_EXE_mtlscope"))
        .arg("report")
        .arg(&exp)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/check_report.sh");
    let shot = tmp.path().join("shot.png");
    let o = Command::new("bash")
        .arg(script)
        .arg(&exp)
        .arg(&shot)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{out}{}\n(chromium is installed by scripts/setup.sh: `make setup`)",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("check_report: OK"), "{out}");
}
