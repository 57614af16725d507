//! Multi-task gradient aggregators: exact, f64, no torch.
//!
//! A specialised multi-task optimiser replaces the sum of the task gradients (the rows g_i of
//! the m x n Jacobian J) with another combination. Nearly every method is a [`Weighting`]: it
//! needs only the Gramian G = J Jᵀ (m x m) and returns weights w, the direction being d = Jᵀw.
//! Methods that need J itself implement the wider [`Aggregator`]; every weighting lifts into
//! one. [`registry`] lists the methods and builds them from a name and text parameters.
//!
//! How the training loop uses it:
//!
//! ```
//! use mtl_aggregate::{registry, Gramian, JacobianRef, Method};
//!
//! let mut method = registry::build("upgrad", &[]).unwrap();
//! // J: 2 tasks x 3 parameters, row-major.
//! let j = [1.0, 0.0, 0.0, -1.0, 1.0, 0.0];
//! let jac = JacobianRef::new(&j, 2, 3).unwrap();
//! match &mut method {
//!     // Only G is needed: the trainer may compute it on its device.
//!     Method::Gramian(w) => {
//!         let g = Gramian::from_jacobian(jac).unwrap();
//!         let weights = w.weights(&g).unwrap();
//!         let d = jac.combine(&weights).unwrap();
//!         // UPGrad never conflicts with a task: ⟨d, g_i⟩ ≥ 0.
//!         assert!(d[0] >= 0.0 && -d[0] + d[1] >= 0.0);
//!     }
//!     Method::Jacobian(a) => {
//!         a.aggregate(jac).unwrap();
//!     }
//! }
//! // Or, from J on the host, whatever the kind:
//! let out = method.aggregate(jac).unwrap();
//! assert_eq!(out.direction.len(), 3);
//! ```
//!
//! Stateful methods (warm starts, EMA targets, random streams) keep their state in their
//! struct; [`Method::state`] / [`Method::load_state`] save and restore it exactly.
#![deny(missing_docs)]

pub mod error;
pub mod gramian;
pub mod hypervolume;
pub mod jacobian;
pub mod registry;
pub mod solve;
pub mod weighting;

pub use error::Error;
pub use gramian::Gramian;
pub use hypervolume::hypervolume;
pub use jacobian::{Jacobian, JacobianRef};
pub use weighting::{Aggregation, Aggregator, Lifted, Method, Weighting};
