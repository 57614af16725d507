//! mtlscope: multi-task learning research toolkit.
//!
//! Pipeline stages, one folder each: [`data`] (datasets and splits), [`model`] (shared
//! encoder and task heads), [`train`] (optimizers, objectives, the loop, run directories),
//! [`experiment`] (plans of many runs, the process runner), [`analysis`] and [`report`],
//! [`aggregate`] (per-task Jacobians). The command line (`clap`) lives in the binary
//! (`src/main.rs`, `src/cli/`), not in the library.

pub mod aggregate;
pub mod analysis;
pub mod config;
pub mod data;
pub mod experiment;
pub mod layers;
pub mod model;
pub mod probe;
pub mod report;
pub mod resolve;
pub mod task;
pub mod toy;
pub mod train;
