//! Link flags for libtorch from the PyPI wheel (see scripts/setup.sh).
//! - rpath to its lib/ so `mtlscope` runs without LD_LIBRARY_PATH;
//! - `--no-as-needed -ltorch` so libtorch_cuda stays linked (its kernels register on load) and
//!   `--device cuda` works with the same wheel on a GPU machine.
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    let Ok(dir) = std::env::var("LIBTORCH") else {
        return;
    };
    let lib = PathBuf::from(&dir).join("lib");
    let lib = lib.canonicalize().unwrap_or(lib);
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    println!("cargo:rustc-link-search=native={}", lib.display());
    println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
    println!("cargo:rustc-link-arg=-ltorch");
}
