//! Renders a synthetic report's index.html in headless Chromium through scripts/check_report.sh
//! (screenshot, then a not-blank check). Needs Debian's `chromium`, hence ignored by default:
//! `cargo test -p mtlscope --test chromium_render -- --ignored`.
use std::process::Command;

#[test]
#[ignore = "needs Debian's chromium (apt-get install -y chromium)"]
fn report_renders_in_chromium() {
    let tmp = tempfile::tempdir().unwrap();
    let keep = tmp.path().join("exp");
    // The synthetic experiment of report_synthetic.rs, kept by its test hook.
    let st = Command::new(env!("CARGO"))
        .args([
            "test",
            "-q",
            "-p",
            "mtlscope",
            "--test",
            "report_synthetic",
            "report_gives_known_numbers",
        ])
        .env("MTLSCOPE_KEEP_SYNTHETIC", &keep)
        .status()
        .unwrap();
    assert!(st.success());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/check_report.sh");
    let shot = tmp.path().join("shot.png");
    let o = Command::new("bash")
        .arg(script)
        .arg(&keep)
        .arg(&shot)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("check_report: OK"), "{out}");
}
