//! `scripts/gpu_check.sh`: skips cleanly, saying so, where libtorch sees no CUDA device (CI);
//! and, forced onto the CPU, runs its whole comparison (deterministic repeat identical, CPU vs
//! "CUDA" within tolerance, bench) on a small generated dataset.

mod common;

use std::process::Command;

fn script(envs: &[(&str, &str)], out: &std::path::Path) -> std::process::Output {
    let mut c = Command::new("bash");
    c.current_dir("../..")
        .arg("scripts/gpu_check.sh")
        .arg(env!("CARGO_BIN_EXE_mtlscope"))
        .arg(out);
    for (k, v) in envs {
        c.env(k, v);
    }
    c.output().unwrap()
}

#[test]
fn gpu_check_skips_without_cuda_and_compares_when_forced_to_cpu() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    common::write_dataset(&data, 480, 80);
    let data = data.to_str().unwrap();
    if !tch::Cuda::is_available() {
        let out = script(&[("MTLSCOPE_DATA", data)], &tmp.path().join("skip"));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("gpu_check: skipped"), "{stdout}");
        assert!(!tmp.path().join("skip").exists());
    }
    let out = script(
        &[
            ("MTLSCOPE_DATA", data),
            ("GPU_CHECK_DEVICE", "cpu"),
            ("GPU_CHECK_LIMIT", "100"),
            ("GPU_CHECK_EPOCHS", "1"),
            ("GPU_CHECK_BENCH_STEPS", "2"),
        ],
        &tmp.path().join("forced"),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // On one device the "CUDA" runs equal the CPU run exactly.
    assert!(
        stdout.contains("trajectory.csv: CUDA vs CPU worst abs difference 0 (tolerance 0.02) ok"),
        "{stdout}"
    );
    assert!(
        stdout.contains("probes.csv: CUDA vs CPU worst rel difference 0"),
        "{stdout}"
    );
}
