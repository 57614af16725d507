//! The one error type of the crate; every variant carries the facts needed to act on it.

/// Everything that can go wrong when building a method, validating input or solving.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// `registry::build` got a name that is not in `registry::METHODS`.
    #[error("unknown method `{name}`; known: {}", known.join(", "))]
    UnknownMethod {
        /// The name asked for.
        name: String,
        /// Every registered name.
        known: Vec<String>,
    },
    /// A parameter the method does not take.
    #[error("unknown parameter `{param}` for method {method}; known: {}",
        if known.is_empty() { "(none)".to_string() } else { known.join(", ") })]
    UnknownParam {
        /// The method being built.
        method: String,
        /// The parameter given.
        param: String,
        /// The parameters the method takes.
        known: Vec<String>,
    },
    /// A parameter value that does not parse or is out of range, e.g. "cagrad.c must be >= 0, got -0.5".
    #[error("{method}.{param} {why}, got {value}")]
    BadParam {
        /// The method being built.
        method: String,
        /// The parameter.
        param: String,
        /// The value as given.
        value: String,
        /// What the value must be.
        why: String,
    },
    /// A NaN or infinite entry (in the Jacobian, the Gramian or a point set).
    #[error("non-finite value {value} in {what} at row {row}, column {col}")]
    NonFinite {
        /// `"jacobian"`, `"gramian"`, `"points"`, ...
        what: &'static str,
        /// Row (task, point) index, from 0.
        row: usize,
        /// Column index, from 0.
        col: usize,
        /// The offending value.
        value: f64,
    },
    /// Rows of different lengths.
    #[error(
        "ragged {what}: row {row} has {len} entries, expected {expected} (the length of row 0)"
    )]
    Ragged {
        /// `"jacobian"`, `"points"`, ...
        what: &'static str,
        /// The first row whose length differs, from 0.
        row: usize,
        /// Its length.
        len: usize,
        /// The length of row 0.
        expected: usize,
    },
    /// No rows, or rows without entries.
    #[error("empty {what}: need at least one row and one column")]
    Empty {
        /// `"jacobian"`, `"gramian"`, ...
        what: &'static str,
    },
    /// A flat buffer or vector whose length does not match the stated shape.
    #[error("{what} has {got} entries, expected {expected}")]
    Shape {
        /// What was being checked, e.g. `"jacobian (m x n)"`, `"weights"`.
        what: &'static str,
        /// The length the shape implies.
        expected: usize,
        /// The length given.
        got: usize,
    },
    /// A point whose dimension differs from the reference point's (hypervolume).
    #[error("point {point} has {len} coordinates, the reference point has {expected}")]
    Dimension {
        /// Index of the point, from 0.
        point: usize,
        /// Its number of coordinates.
        len: usize,
        /// The reference point's number of coordinates.
        expected: usize,
    },
    /// A saved state that does not fit the method.
    #[error("{method}: cannot load state: {detail}")]
    BadState {
        /// The method.
        method: String,
        /// What is wrong with it (length, values).
        detail: String,
    },
    /// A numerical solve that failed even after its fallback.
    #[error("{method}: solver failed on a {m} x {m} problem: {detail}")]
    Solver {
        /// The method.
        method: String,
        /// Number of tasks.
        m: usize,
        /// What failed, with the scale of the input.
        detail: String,
    },
    /// The hypervolume is larger than an f64 can hold (a reference point far from the points).
    #[error("the hypervolume overflows f64 (the reference point is too far from the points, e.g. {reference:e} in one objective); choose a nearer reference point")]
    Overflow {
        /// The largest reference coordinate magnitude.
        reference: f64,
    },
    /// The exact computation would take too long: it grows as n^(d−1) for n non-dominated
    /// points in d objectives.
    #[error("exact hypervolume of {points} non-dominated points in {dims} objectives needs about {work:.1e} slab operations (it grows as n^(d-1)); the limit is {limit:.0e}: reduce the points or objectives")]
    TooExpensive {
        /// Non-dominated points.
        points: usize,
        /// Objectives.
        dims: usize,
        /// Estimated work, n^(d−1).
        work: f64,
        /// The limit.
        limit: f64,
    },
}
