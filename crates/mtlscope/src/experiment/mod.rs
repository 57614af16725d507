//! Experiments: one config expanded into many training runs (`plan`), executed as parallel
//! `mtlscope train` processes (`runner`) or as a Slurm job array (`slurm`), and read back from
//! their run directories (`store`).
pub mod auxiliary;
pub mod plan;
pub mod runner;
pub mod slurm;
pub mod store;

pub use plan::{ExperimentConfig, Plan, PlannedRun};
pub use runner::{RunOutcome, Runner, RunnerOptions};
pub use store::{ExperimentData, RunData, RunKind};
