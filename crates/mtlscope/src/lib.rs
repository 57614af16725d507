//! mtlscope: multi-task learning research toolkit.
//!
//! Pipeline stages, one folder each: [`data`] (datasets and splits), [`model`] (shared encoder
//! + task heads), [`train`] (optimizers, objectives, the loop, run directories), [`cli`]
//! (subcommands of the `mtlscope` binary).

pub mod aggregate;
pub mod cli;
pub mod config;
pub mod data;
pub mod model;
pub mod probe;
pub mod train;
