//! The `mtlscope` binary: parses the command line and runs a subcommand; errors are printed
//! once, with their causes.

mod cli;

use clap::Parser;
use std::process::ExitCode;

/// glibc's malloc, tuned for libtorch's pattern of freeing and reallocating the same
/// megabyte-sized activation buffers every step: with the defaults each buffer over the
/// (dynamic) mmap threshold, or at the top of the heap beyond 128 KiB, goes back to the kernel
/// when freed and is faulted in again, page by page, when reallocated. Keeping up to 32 MiB
/// blocks in the heap (the largest threshold glibc accepts), trimming only beyond 1 GiB and
/// growing the heap 256 MiB at a time took a whole 1-epoch FashionMTL run from 6–9 s of system
/// time to under 1 s, and its wall time from ≈15 s to ≈10 s (issue #17, measured here; a
/// 64 MiB pad did not help). The cost: freed memory stays with the process until it exits.
fn tune_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; called first thing, before any thread.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_TOP_PAD, 256 << 20);
    }
}

fn main() -> ExitCode {
    tune_malloc();
    let cli = cli::Cli::parse();
    match cli.command.run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
