//! The Gramian G = J Jᵀ (m x m), the only input most methods need.

use crate::{Error, JacobianRef};

/// A symmetric m x m Gramian G = J Jᵀ, row-major, G_ij = ⟨g_i, g_j⟩.
#[derive(Debug, Clone, PartialEq)]
pub struct Gramian {
    m: usize,
    data: Vec<f64>,
}

impl Gramian {
    /// Computes G = J Jᵀ. This is the floor of every method's cost (m²n flops).
    ///
    /// Computes the upper triangle only (blocked over columns, AVX2/FMA when available, two
    /// threads for large problems; see `kernel.rs`) and mirrors it, so G is exactly symmetric.
    /// A NaN or infinite
    /// entry of J makes a diagonal entry non-finite; J is then scanned to name the entry. A finite
    /// J whose squared row norms overflow gives `NonFinite { what: "gramian", .. }`.
    ///
    /// ```
    /// use mtl_aggregate::{Gramian, JacobianRef};
    /// let j = [1.0, 2.0, 3.0, 4.0];
    /// let g = Gramian::from_jacobian(JacobianRef::new(&j, 2, 2).unwrap()).unwrap();
    /// assert_eq!(g.as_slice(), &[5.0, 11.0, 11.0, 25.0]);
    /// ```
    pub fn from_jacobian(j: JacobianRef) -> Result<Gramian, Error> {
        let (m, n) = (j.m(), j.n());
        let mut data = vec![0.0; m * m];
        crate::kernel::gram(j.data(), m, n, &mut data);
        if let Some(i) = (0..m).find(|&i| !data[i * m + i].is_finite()) {
            j.check_finite()?;
            return Err(Error::NonFinite {
                what: "gramian",
                row: i,
                col: i,
                value: data[i * m + i],
            });
        }
        Ok(Gramian { m, data })
    }

    /// Takes a Gramian computed elsewhere (e.g. on the training device), row-major m x m.
    ///
    /// Checks the length and finiteness and symmetrises it, G ← (G + Gᵀ)/2, since a
    /// device-side product is often symmetric only to rounding. Positive semi-definiteness is
    /// not checked; every method treats eigenvalues below its rank tolerance as zero.
    pub fn from_row_major(m: usize, mut data: Vec<f64>) -> Result<Gramian, Error> {
        if m == 0 {
            return Err(Error::Empty { what: "gramian" });
        }
        if data.len() != m * m {
            return Err(Error::Shape {
                what: "gramian (m x m)",
                expected: m * m,
                got: data.len(),
            });
        }
        if let Some(k) = data.iter().position(|x| !x.is_finite()) {
            return Err(Error::NonFinite {
                what: "gramian",
                row: k / m,
                col: k % m,
                value: data[k],
            });
        }
        for i in 0..m {
            for k in 0..i {
                let s = 0.5 * (data[i * m + k] + data[k * m + i]);
                data[i * m + k] = s;
                data[k * m + i] = s;
            }
        }
        Ok(Gramian { m, data })
    }

    /// Number of tasks.
    pub fn m(&self) -> usize {
        self.m
    }

    /// G_ij.
    pub fn get(&self, i: usize, j: usize) -> f64 {
        self.data[i * self.m + j]
    }

    /// Row-major entries.
    pub fn as_slice(&self) -> &[f64] {
        &self.data
    }

    /// The diagonal, the squared gradient norms ‖g_i‖².
    pub fn diagonal(&self) -> Vec<f64> {
        (0..self.m).map(|i| self.get(i, i)).collect()
    }

    /// G v.
    pub fn mul_vec(&self, v: &[f64]) -> Vec<f64> {
        self.data
            .chunks_exact(self.m)
            .map(|row| row.iter().zip(v).map(|(a, b)| a * b).sum())
            .collect()
    }

    /// uᵀ G v.
    pub fn quad(&self, u: &[f64], v: &[f64]) -> f64 {
        self.mul_vec(v).iter().zip(u).map(|(a, b)| a * b).sum()
    }

    /// The largest diagonal entry, max_i ‖g_i‖² (0 when J = 0).
    pub fn max_diagonal(&self) -> f64 {
        (0..self.m).map(|i| self.get(i, i)).fold(0.0, f64::max)
    }

    /// G as a nalgebra matrix.
    pub fn to_matrix(&self) -> nalgebra::DMatrix<f64> {
        nalgebra::DMatrix::from_row_slice(self.m, self.m, &self.data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_naive_dot_products() {
        let (m, n) = (5, 1003);
        let data: Vec<f64> = (0..m * n)
            .map(|k| ((k * 7919) % 1009) as f64 / 97.0 - 5.0)
            .collect();
        let g = Gramian::from_jacobian(JacobianRef::new(&data, m, n).unwrap()).unwrap();
        for i in 0..m {
            for k in 0..m {
                let want: f64 = (0..n).map(|c| data[i * n + c] * data[k * n + c]).sum();
                assert!((g.get(i, k) - want).abs() <= 1e-12 * want.abs().max(1.0));
                assert_eq!(g.get(i, k), g.get(k, i));
            }
        }
    }

    #[test]
    fn locates_non_finite_entries_and_overflow() {
        let data = [1.0, 2.0, 3.0, f64::NAN];
        let e = Gramian::from_jacobian(JacobianRef::new(&data, 2, 2).unwrap()).unwrap_err();
        assert!(matches!(
            e,
            Error::NonFinite {
                what: "jacobian",
                row: 1,
                col: 1,
                ..
            }
        ));
        let data = [1e200, 1.0];
        let e = Gramian::from_jacobian(JacobianRef::new(&data, 2, 1).unwrap()).unwrap_err();
        assert!(matches!(
            e,
            Error::NonFinite {
                what: "gramian",
                row: 0,
                ..
            }
        ));
    }

    #[test]
    fn from_row_major_symmetrises_and_checks() {
        let g = Gramian::from_row_major(2, vec![1.0, 0.5, 0.7, 2.0]).unwrap();
        assert_eq!(g.get(0, 1), 0.6);
        assert_eq!(g.get(1, 0), 0.6);
        assert!(Gramian::from_row_major(2, vec![1.0; 3]).is_err());
        assert!(Gramian::from_row_major(1, vec![f64::NAN]).is_err());
    }
}
