//! Row-major views of the task Jacobian J (m tasks x n parameters) and the product d = Jᵀw.

use crate::Error;

/// A borrowed, row-major m x n Jacobian: row i is the gradient g_i of task i.
///
/// [`JacobianRef::new`] checks the shape only, so that the hot path reads J once (in the
/// Gramian); a NaN or infinite entry shows up as a non-finite Gramian diagonal, and
/// [`crate::Gramian::from_jacobian`] then locates it with [`JacobianRef::check_finite`].
#[derive(Debug, Clone, Copy)]
pub struct JacobianRef<'a> {
    data: &'a [f64],
    m: usize,
    n: usize,
}

impl<'a> JacobianRef<'a> {
    /// A view of `data` as `m` rows of `n` entries.
    ///
    /// ```
    /// use mtl_aggregate::JacobianRef;
    /// let data = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
    /// let j = JacobianRef::new(&data, 2, 3).unwrap();
    /// assert_eq!(j.row(1), &[4.0, 5.0, 6.0]);
    /// assert!(JacobianRef::new(&data, 4, 2).is_err());
    /// ```
    pub fn new(data: &'a [f64], m: usize, n: usize) -> Result<Self, Error> {
        if m == 0 || n == 0 {
            return Err(Error::Empty { what: "jacobian" });
        }
        if m.checked_mul(n) != Some(data.len()) {
            return Err(Error::Shape {
                what: "jacobian (m x n)",
                expected: m.saturating_mul(n),
                got: data.len(),
            });
        }
        Ok(JacobianRef { data, m, n })
    }

    /// Number of tasks (rows).
    pub fn m(&self) -> usize {
        self.m
    }

    /// Number of parameters (columns).
    pub fn n(&self) -> usize {
        self.n
    }

    /// The flat row-major buffer.
    pub fn data(&self) -> &'a [f64] {
        self.data
    }

    /// Row `i`, the gradient of task `i`.
    pub fn row(&self, i: usize) -> &'a [f64] {
        &self.data[i * self.n..(i + 1) * self.n]
    }

    /// `Err(NonFinite)` naming the first NaN or infinite entry.
    pub fn check_finite(&self) -> Result<(), Error> {
        match self.data.iter().position(|x| !x.is_finite()) {
            None => Ok(()),
            Some(k) => Err(Error::NonFinite {
                what: "jacobian",
                row: k / self.n,
                col: k % self.n,
                value: self.data[k],
            }),
        }
    }

    /// d = Jᵀw = Σ_i w_i g_i.
    ///
    /// Blocked over columns so the block of d stays in cache while every row streams through
    /// it; two threads for large problems (`kernel.rs`).
    pub fn combine(&self, w: &[f64]) -> Result<Vec<f64>, Error> {
        if w.len() != self.m {
            return Err(Error::Shape {
                what: "weights",
                expected: self.m,
                got: w.len(),
            });
        }
        let mut d = vec![0.0; self.n];
        crate::kernel::combine(self.data, self.m, self.n, w, &mut d);
        Ok(d)
    }
}

/// An owned row-major Jacobian, built from nested rows with full validation (the CLI's path).
#[derive(Debug, Clone, PartialEq)]
pub struct Jacobian {
    data: Vec<f64>,
    m: usize,
    n: usize,
}

impl Jacobian {
    /// Checks that `rows` is non-empty, rectangular and finite, naming the first offence.
    ///
    /// ```
    /// use mtl_aggregate::{Error, Jacobian};
    /// let e = Jacobian::from_rows(&[vec![1.0, 2.0], vec![3.0]]).unwrap_err();
    /// assert_eq!(e, Error::Ragged { what: "jacobian", row: 1, len: 1, expected: 2 });
    /// ```
    pub fn from_rows(rows: &[Vec<f64>]) -> Result<Self, Error> {
        let n = rows.first().map_or(0, Vec::len);
        if n == 0 {
            return Err(Error::Empty { what: "jacobian" });
        }
        let mut data = Vec::with_capacity(rows.len() * n);
        for (i, row) in rows.iter().enumerate() {
            if row.len() != n {
                return Err(Error::Ragged {
                    what: "jacobian",
                    row: i,
                    len: row.len(),
                    expected: n,
                });
            }
            if let Some(k) = row.iter().position(|x| !x.is_finite()) {
                return Err(Error::NonFinite {
                    what: "jacobian",
                    row: i,
                    col: k,
                    value: row[k],
                });
            }
            data.extend_from_slice(row);
        }
        Ok(Jacobian {
            data,
            m: rows.len(),
            n,
        })
    }

    /// Takes a flat row-major buffer, checking its shape and finiteness.
    pub fn from_flat(data: Vec<f64>, m: usize, n: usize) -> Result<Self, Error> {
        JacobianRef::new(&data, m, n)?.check_finite()?;
        Ok(Jacobian { data, m, n })
    }

    /// The borrowed view.
    pub fn view(&self) -> JacobianRef<'_> {
        JacobianRef {
            data: &self.data,
            m: self.m,
            n: self.n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combine_matches_naive_sum_across_blocks() {
        let (m, n) = (3, 5000);
        let data: Vec<f64> = (0..m * n).map(|k| ((k * 37) % 101) as f64 - 50.0).collect();
        let j = JacobianRef::new(&data, m, n).unwrap();
        let w = [0.5, -2.0, 3.0];
        let d = j.combine(&w).unwrap();
        for c in [0, 1, 2047, 2048, 4999] {
            let want: f64 = (0..m).map(|i| w[i] * data[i * n + c]).sum();
            assert_eq!(d[c], want);
        }
        assert!(j.combine(&[1.0]).is_err());
    }

    #[test]
    fn validation_names_the_place() {
        assert_eq!(
            Jacobian::from_rows(&[]).unwrap_err(),
            Error::Empty { what: "jacobian" }
        );
        assert_eq!(
            Jacobian::from_rows(&[vec![]]).unwrap_err(),
            Error::Empty { what: "jacobian" }
        );
        let e = Jacobian::from_rows(&[vec![1.0, 2.0], vec![3.0, f64::NAN]]).unwrap_err();
        assert!(matches!(e, Error::NonFinite { row: 1, col: 1, .. }));
        let data = [1.0, f64::INFINITY, 0.0, 0.0];
        let e = JacobianRef::new(&data, 2, 2)
            .unwrap()
            .check_finite()
            .unwrap_err();
        assert!(matches!(e, Error::NonFinite { row: 0, col: 1, .. }));
    }
}
