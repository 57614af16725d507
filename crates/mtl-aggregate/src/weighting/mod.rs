//! The aggregator family: [`Weighting`] (weights from the Gramian G alone, d = Jᵀw) and the
//! wider [`Aggregator`] (needs J itself), one file per method.
//!
//! | method | kind | file |
//! | --- | --- | --- |
//! | sum, mean | weighting | [`sum`], [`mean`] |
//! | mgda, mgda_ub | weighting | [`mgda`] |
//! | pcgrad | weighting | [`pcgrad`] |
//! | upgrad, dualproj | weighting | [`upgrad`], [`dualproj`] |
//! | cagrad | weighting | [`cagrad`] |
//! | imtl_g | weighting | [`imtl_g`] |
//! | nash_mtl | weighting (stateful) | [`nash_mtl`] |
//! | aligned_mtl | weighting | [`aligned_mtl`] |
//! | config | weighting | [`config`] |
//! | gradvac | weighting (stateful) | [`gradvac`] |
//! | random | weighting (stateful RNG) | [`random`] |
//! | graddrop | jacobian (stateful RNG) | [`graddrop`] |
//!
//! PCGrad, GradVac and ConFIG are usually written on J, but every vector they form is a linear
//! combination of the rows of J and every quantity they test (inner products, norms, cosines)
//! is an entry or a quadratic form of G, so they are exact Gramian weightings here (as in
//! TorchJD for PCGrad). Only GradDrop, which looks at the sign of each coordinate, needs J.

use crate::{Error, Gramian, JacobianRef};

pub mod aligned_mtl;
pub mod cagrad;
pub mod config;
pub mod dualproj;
pub mod graddrop;
pub mod gradvac;
pub mod imtl_g;
pub mod mean;
pub mod mgda;
pub mod nash_mtl;
pub mod pcgrad;
pub mod random;
pub mod sum;
pub mod upgrad;

/// A method that needs only the Gramian: w = f(G), the direction being d = Jᵀw.
///
/// The trainer may compute G on its device and call [`Weighting::weights`] directly.
pub trait Weighting: Send {
    /// The registry name.
    fn name(&self) -> &'static str;
    /// The weights w (length m) for the Gramian G = J Jᵀ.
    fn weights(&mut self, g: &Gramian) -> Result<Vec<f64>, Error>;
    /// The state a checkpoint must save for an exact resume (empty for stateless methods).
    fn state(&self) -> Vec<f64> {
        Vec::new()
    }
    /// Restores what [`Weighting::state`] returned.
    fn load_state(&mut self, s: &[f64]) -> Result<(), Error> {
        stateless(self.name(), s)
    }
    /// Forgets all state (back to how the registry built it).
    fn reset(&mut self) {}
}

/// The result of an aggregation.
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregation {
    /// The update direction d (length n).
    pub direction: Vec<f64>,
    /// The weights w with d = Jᵀw, for methods that are weightings.
    pub weights: Option<Vec<f64>>,
}

/// A method that maps the Jacobian J to a direction. Every [`Weighting`] lifts into one
/// ([`Lifted`]); methods that need J itself (GradDrop) implement it directly.
pub trait Aggregator: Send {
    /// The registry name.
    fn name(&self) -> &'static str;
    /// The direction for J.
    fn aggregate(&mut self, j: JacobianRef) -> Result<Aggregation, Error>;
    /// Whether the method needs J itself (true) or only G (false).
    fn needs_jacobian(&self) -> bool;
    /// The underlying weighting, when there is one.
    fn as_weighting_mut(&mut self) -> Option<&mut dyn Weighting> {
        None
    }
    /// The state a checkpoint must save for an exact resume.
    fn state(&self) -> Vec<f64>;
    /// Restores what [`Aggregator::state`] returned.
    fn load_state(&mut self, s: &[f64]) -> Result<(), Error>;
    /// Forgets all state.
    fn reset(&mut self);
}

/// A [`Weighting`] used as an [`Aggregator`]: G = J Jᵀ, w = weights(G), d = Jᵀw.
pub struct Lifted(pub Box<dyn Weighting>);

impl Aggregator for Lifted {
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn aggregate(&mut self, j: JacobianRef) -> Result<Aggregation, Error> {
        aggregate_by_weights(self.0.as_mut(), j)
    }
    fn needs_jacobian(&self) -> bool {
        false
    }
    fn as_weighting_mut(&mut self) -> Option<&mut dyn Weighting> {
        Some(self.0.as_mut())
    }
    fn state(&self) -> Vec<f64> {
        self.0.state()
    }
    fn load_state(&mut self, s: &[f64]) -> Result<(), Error> {
        self.0.load_state(s)
    }
    fn reset(&mut self) {
        self.0.reset()
    }
}

/// A built method, split by what it needs, so the training loop never branches on names:
///
/// - [`Method::Gramian`]: compute G (m x m, on the device if convenient), call
///   [`Weighting::weights`], then form d = Jᵀw where J lives.
/// - [`Method::Jacobian`]: copy J to a row-major f64 buffer and call [`Aggregator::aggregate`].
///
/// [`Method::aggregate`] does either from J, for callers that have J on the host.
pub enum Method {
    /// Needs only the Gramian.
    Gramian(Box<dyn Weighting>),
    /// Needs the Jacobian.
    Jacobian(Box<dyn Aggregator>),
}

impl std::fmt::Debug for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Method::Gramian(w) => write!(f, "Method::Gramian({})", w.name()),
            Method::Jacobian(a) => write!(f, "Method::Jacobian({})", a.name()),
        }
    }
}

impl Method {
    /// The registry name.
    pub fn name(&self) -> &'static str {
        match self {
            Method::Gramian(w) => w.name(),
            Method::Jacobian(a) => a.name(),
        }
    }

    /// The direction (and weights) for J, whatever the kind.
    pub fn aggregate(&mut self, j: JacobianRef) -> Result<Aggregation, Error> {
        match self {
            Method::Gramian(w) => aggregate_by_weights(w.as_mut(), j),
            Method::Jacobian(a) => a.aggregate(j),
        }
    }

    /// The weighting, for [`Method::Gramian`].
    pub fn as_weighting_mut(&mut self) -> Option<&mut dyn Weighting> {
        match self {
            Method::Gramian(w) => Some(w.as_mut()),
            Method::Jacobian(_) => None,
        }
    }

    /// Whether the method needs J itself.
    pub fn needs_jacobian(&self) -> bool {
        matches!(self, Method::Jacobian(_))
    }

    /// The state a checkpoint must save.
    pub fn state(&self) -> Vec<f64> {
        match self {
            Method::Gramian(w) => w.state(),
            Method::Jacobian(a) => a.state(),
        }
    }

    /// Restores what [`Method::state`] returned.
    pub fn load_state(&mut self, s: &[f64]) -> Result<(), Error> {
        match self {
            Method::Gramian(w) => w.load_state(s),
            Method::Jacobian(a) => a.load_state(s),
        }
    }

    /// Forgets all state.
    pub fn reset(&mut self) {
        match self {
            Method::Gramian(w) => w.reset(),
            Method::Jacobian(a) => a.reset(),
        }
    }

    /// The method as an [`Aggregator`] (a weighting is [`Lifted`]).
    pub fn into_aggregator(self) -> Box<dyn Aggregator> {
        match self {
            Method::Gramian(w) => Box::new(Lifted(w)),
            Method::Jacobian(a) => a,
        }
    }
}

/// G = J Jᵀ, w = weights(G), d = Jᵀw.
fn aggregate_by_weights(w: &mut dyn Weighting, j: JacobianRef) -> Result<Aggregation, Error> {
    let g = Gramian::from_jacobian(j)?;
    let w = w.weights(&g)?;
    Ok(Aggregation {
        direction: j.combine(&w)?,
        weights: Some(w),
    })
}

/// `load_state` of a stateless method: only the empty state fits.
pub(crate) fn stateless(method: &str, s: &[f64]) -> Result<(), Error> {
    if s.is_empty() {
        Ok(())
    } else {
        Err(Error::BadState {
            method: method.to_string(),
            detail: format!("the method is stateless, got {} values", s.len()),
        })
    }
}

/// A solver failure with the facts: size and the scale of G.
pub(crate) fn solver_error(method: &str, g: &Gramian, what: &str) -> Error {
    let d = g.diagonal();
    let min = d.iter().cloned().fold(f64::INFINITY, f64::min);
    let max = d.iter().cloned().fold(0.0, f64::max);
    Error::Solver {
        method: method.to_string(),
        m: g.m(),
        detail: format!("{what} (squared gradient norms from {min:e} to {max:e})"),
    }
}
