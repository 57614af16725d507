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
//!
//! Exactness: the small m x m problems are solved to their definitions (active-set methods
//! that stop at the KKT point, Newton to rounding, closed forms), on a Gramian equilibrated to
//! unit diagonal so that gradient norms 1e8 apart cost no precision; CAGrad's cone program is
//! solved by an interior-point method to ~1e-8. What no method can recover is what G itself
//! does not carry: G holds ‖g_i‖² to relative ε, so a direction that is a cancellation of large
//! gradients (e.g. MGDA when the origin lies in the hull of huge gradients) is determined only
//! to about √ε · max_i ‖g_i‖, and rank decisions (Aligned-MTL, ConFIG, IMTL-G use eigenvalues
//! above max λ · m · ε) are discontinuous at their threshold.
#![deny(missing_docs)]

pub mod error;
pub mod gramian;
pub mod hypervolume;
pub mod jacobian;
mod kernel;
pub mod registry;
pub mod simplex;
pub mod solve;
pub mod transfer;
pub mod weighting;

pub use error::Error;
pub use gramian::Gramian;
pub use hypervolume::hypervolume;
pub use jacobian::{Jacobian, JacobianRef};
pub use weighting::{Aggregation, Aggregator, Lifted, Method, Weighting};
