//! Gradient plumbing for specialised multi-task optimizers: the per-task Jacobian of the
//! shared parameters ([`jacobian`]) and writing a combined direction back as per-parameter
//! gradients ([`apply`]). The aggregation math itself is the `mtl-aggregate` crate.

pub mod apply;
pub mod jacobian;
