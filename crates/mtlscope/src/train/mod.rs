//! Training: optimizers, objectives, batch sampling, evaluation, the run directory (written
//! by [`store`], read back by [`run_files`]), and the loop that ties them together
//! ([`trainer::train`]).

pub mod determinism;
pub mod eval;
pub mod fault;
pub mod mt2o;
pub mod objective;
pub mod optim;
pub mod run_files;
pub mod sampler;
pub mod schedule;
pub mod store;
pub mod trainer;

pub use trainer::{train, RunOptions, RunOutcome};
