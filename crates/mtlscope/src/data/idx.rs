//! IDX reader for the MNIST family (LeCun et al., "THE MNIST DATABASE" file format):
//! a big-endian header `0x00 0x00 <dtype> <ndims>`, then `ndims` u32 dimensions, then the
//! data. Files may be gzip-compressed (detected by the gzip magic, not the name).

use flate2::read::GzDecoder;
use std::io::Read;
use std::path::{Path, PathBuf};

/// What went wrong reading an IDX file; every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum IdxError {
    /// The file is not there.
    #[error("{path}: file not found")]
    Missing {
        /// The file.
        path: PathBuf,
    },
    /// An I/O or gzip error. The cause is part of the message, not a chained source, so
    /// `{:#}` does not print it twice.
    #[error("{path}: {cause}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        cause: std::io::Error,
    },
    /// The first two bytes are not zero.
    #[error("{path}: not an IDX file (magic bytes {magic:02x?}, expected [00, 00, dtype, ndims])")]
    BadMagic {
        /// The file.
        path: PathBuf,
        /// The first four bytes.
        magic: [u8; 4],
    },
    /// Only unsigned bytes (0x08) are used by the MNIST family.
    #[error("{path}: IDX dtype 0x{dtype:02x} not supported (expected 0x08, unsigned byte)")]
    BadDtype {
        /// The file.
        path: PathBuf,
        /// The dtype byte.
        dtype: u8,
    },
    /// Fewer (or more) bytes than the header promises.
    #[error("{path}: truncated or oversized: header {dims:?} needs {} bytes of data, found {got}", if *expected == usize::MAX { "more than 2^64".to_string() } else { expected.to_string() })]
    Size {
        /// The file.
        path: PathBuf,
        /// Dimensions from the header.
        dims: Vec<usize>,
        /// Data bytes the header implies.
        expected: usize,
        /// Data bytes present.
        got: usize,
    },
    /// The header's shape is not what the caller needs.
    #[error("{path}: expected shape {expected}, header says {dims:?}")]
    Shape {
        /// The file.
        path: PathBuf,
        /// What was expected, in words.
        expected: String,
        /// Dimensions from the header.
        dims: Vec<usize>,
    },
}

/// An IDX array of unsigned bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct IdxArray {
    /// Dimensions, outermost first.
    pub dims: Vec<usize>,
    /// Row-major data.
    pub data: Vec<u8>,
}

/// Reads an IDX file of unsigned bytes, gzip or raw.
pub fn read_idx(path: &Path) -> Result<IdxArray, IdxError> {
    let io = |cause| IdxError::Io {
        path: path.to_path_buf(),
        cause,
    };
    let raw = std::fs::read(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            IdxError::Missing {
                path: path.to_path_buf(),
            }
        } else {
            io(e)
        }
    })?;
    let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::with_capacity(raw.len() * 4);
        GzDecoder::new(&raw[..]).read_to_end(&mut out).map_err(io)?;
        out
    } else {
        raw
    };
    parse_idx(&bytes).map_err(|e| e.at(path))
}

/// Errors of [`parse_idx`], before a path is attached.
#[derive(Debug)]
pub enum ParseError {
    /// See [`IdxError::BadMagic`].
    Magic([u8; 4]),
    /// See [`IdxError::BadDtype`].
    Dtype(u8),
    /// See [`IdxError::Size`].
    Size(Vec<usize>, usize, usize),
}

impl ParseError {
    fn at(self, path: &Path) -> IdxError {
        let path = path.to_path_buf();
        match self {
            ParseError::Magic(magic) => IdxError::BadMagic { path, magic },
            ParseError::Dtype(dtype) => IdxError::BadDtype { path, dtype },
            ParseError::Size(dims, expected, got) => IdxError::Size {
                path,
                dims,
                expected,
                got,
            },
        }
    }
}

/// Parses IDX bytes (already decompressed).
pub fn parse_idx(bytes: &[u8]) -> Result<IdxArray, ParseError> {
    if bytes.len() < 4 {
        let mut m = [0u8; 4];
        m[..bytes.len()].copy_from_slice(bytes);
        return Err(ParseError::Magic(m));
    }
    let magic = [bytes[0], bytes[1], bytes[2], bytes[3]];
    if magic[0] != 0 || magic[1] != 0 || magic[3] == 0 {
        return Err(ParseError::Magic(magic));
    }
    if magic[2] != 0x08 {
        return Err(ParseError::Dtype(magic[2]));
    }
    let ndims = magic[3] as usize;
    let header = 4 + 4 * ndims;
    if bytes.len() < header {
        return Err(ParseError::Size(vec![], header, bytes.len()));
    }
    let dims: Vec<usize> = (0..ndims)
        .map(|i| {
            let o = 4 + 4 * i;
            u32::from_be_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]) as usize
        })
        .collect();
    let got = bytes.len() - header;
    // Overflow-safe: a corrupt header may claim more than usize can count.
    let Some(expected) = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d)) else {
        return Err(ParseError::Size(dims, usize::MAX, got));
    };
    if got != expected {
        return Err(ParseError::Size(dims, expected, got));
    }
    Ok(IdxArray {
        dims,
        data: bytes[header..].to_vec(),
    })
}

/// Encodes an unsigned-byte IDX array (used by tests and tools that write small datasets).
pub fn encode_idx(dims: &[usize], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 0x08, dims.len() as u8];
    for d in dims {
        out.extend_from_slice(&(*d as u32).to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_raw_and_gzip() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..2 * 3 * 4).map(|i| i as u8).collect();
        let bytes = encode_idx(&[2, 3, 4], &data);
        let raw = dir.path().join("a-idx3-ubyte");
        std::fs::write(&raw, &bytes).unwrap();
        let gz = dir.path().join("a-idx3-ubyte.gz");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut enc, &bytes).unwrap();
        std::fs::write(&gz, enc.finish().unwrap()).unwrap();
        for p in [raw, gz] {
            let a = read_idx(&p).unwrap();
            assert_eq!(a.dims, vec![2, 3, 4]);
            assert_eq!(a.data, data);
        }
    }

    #[test]
    fn truncated_file_names_sizes() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = encode_idx(&[10, 28, 28], &vec![7u8; 10 * 28 * 28]);
        bytes.truncate(bytes.len() - 100);
        let p = dir.path().join("t-idx3-ubyte");
        std::fs::write(&p, &bytes).unwrap();
        let msg = read_idx(&p).unwrap_err().to_string();
        assert!(msg.contains("t-idx3-ubyte"), "{msg}");
        assert!(msg.contains("7840") && msg.contains("7740"), "{msg}");
    }

    #[test]
    fn bad_magic_dtype_missing_and_corrupt_gzip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x");
        std::fs::write(&p, b"PK\x03\x04garbage").unwrap();
        assert!(matches!(read_idx(&p), Err(IdxError::BadMagic { .. })));
        let mut b = encode_idx(&[2], &[1, 2]);
        b[2] = 0x0d; // float
        std::fs::write(&p, &b).unwrap();
        assert!(matches!(
            read_idx(&p),
            Err(IdxError::BadDtype { dtype: 0x0d, .. })
        ));
        assert!(matches!(
            read_idx(&dir.path().join("nope")),
            Err(IdxError::Missing { .. })
        ));
        std::fs::write(&p, [0x1f, 0x8b, 8, 0, 1, 2, 3]).unwrap();
        let err = anyhow::Error::from(read_idx(&p).unwrap_err());
        let msg = format!("{err:#}");
        assert!(msg.starts_with(&p.display().to_string()), "{msg}");
        // The cause appears once, not repeated by the error chain.
        let tail = msg.trim_start_matches(&p.display().to_string());
        assert_eq!(
            msg.matches(tail.trim_start_matches(": ")).count(),
            1,
            "{msg}"
        );
    }

    #[test]
    fn header_whose_size_overflows_is_an_error_not_a_panic() {
        // 4 dims of 2^32 - 1: the product overflows u64.
        let mut b = vec![0, 0, 0x08, 4];
        for _ in 0..4 {
            b.extend_from_slice(&u32::MAX.to_be_bytes());
        }
        b.extend_from_slice(&[1, 2, 3]);
        match parse_idx(&b) {
            Err(ParseError::Size(dims, expected, got)) => {
                assert_eq!(dims.len(), 4);
                assert_eq!((expected, got), (usize::MAX, 3));
            }
            other => panic!("{other:?}"),
        }
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("o-idx3-ubyte");
        std::fs::write(&p, &b).unwrap();
        let msg = read_idx(&p).unwrap_err().to_string();
        assert!(
            msg.contains("more than 2^64") && msg.contains("o-idx3-ubyte"),
            "{msg}"
        );
    }
}
