//! mtlscope: multi-task learning research toolkit.
pub mod analysis;
pub mod experiment;
pub mod report;
