//! Fault injection for the crash/resume tests: `MTLSCOPE_FAULT=<point>:<step>` makes the
//! process kill itself (SIGKILL: no destructors, no flush, as `kill -9`) when it reaches the
//! named point at that step. Points: `start` (the run directory is open, nothing evaluated),
//! `step` (after the optimizer step numbered `step`), `eval` (mid-evaluation: rows on disk,
//! no checkpoint), `checkpoint` (tensors written, metadata not yet). Unset, it costs one
//! cached lookup.

use std::sync::OnceLock;

fn armed_at() -> Option<&'static (String, usize)> {
    static FAULT: OnceLock<Option<(String, usize)>> = OnceLock::new();
    FAULT
        .get_or_init(|| {
            let v = std::env::var("MTLSCOPE_FAULT").ok()?;
            let (point, step) = v.split_once(':')?;
            Some((point.to_string(), step.parse().ok()?))
        })
        .as_ref()
}

/// Whether the fault is set for `point` at `step`.
pub fn armed(point: &str, step: usize) -> bool {
    armed_at().is_some_and(|(p, s)| p == point && *s == step)
}

/// Dies by SIGKILL if the fault is set for `point` at `step`.
pub fn hit(point: &str, step: usize) {
    if armed(point, step) {
        // SAFETY: kill(2) on our own pid; no memory is touched.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}
