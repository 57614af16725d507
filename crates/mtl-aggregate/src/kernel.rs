//! The two O(mn) loops: the Gramian G = J Jᵀ (upper triangle, m(m+1)/2 dot products of
//! length n) and the combination d = Jᵀw. Both stream J once per column block: the block of
//! all m rows (m x `BLOCK` values) stays in L2 while every pair of rows is multiplied, so J is
//! read from memory once. The inner 2 x 4 tile (8 dot products sharing 6 loads per step) runs
//! with AVX2 + FMA when the CPU has them (detected at run time), else as portable code that
//! the compiler vectorises. Large problems are split over up to 2 threads by column ranges.

/// Columns per block: 40 rows x 512 x 8 bytes = 160 KiB.
const BLOCK: usize = 512;

/// Work (m² n / 2 multiply-adds) above which the Gramian uses a second thread.
const PARALLEL_WORK: usize = 8_000_000;

/// Fills the upper triangle (and mirrors it) of the m x m row-major `out` with J Jᵀ.
pub(crate) fn gram(data: &[f64], m: usize, n: usize, out: &mut [f64]) {
    let threads = if m * m * n / 2 >= PARALLEL_WORK && n >= 2 * BLOCK {
        std::thread::available_parallelism().map_or(1, |t| t.get().min(2))
    } else {
        1
    };
    if threads == 1 {
        out.iter_mut().for_each(|x| *x = 0.0);
        gram_range(data, m, n, 0, n, out);
    } else {
        let mid = (n / 2 / BLOCK) * BLOCK;
        let mut other = vec![0.0; m * m];
        out.iter_mut().for_each(|x| *x = 0.0);
        std::thread::scope(|s| {
            s.spawn(|| gram_range(data, m, n, mid, n, &mut other));
            gram_range(data, m, n, 0, mid, out);
        });
        for (a, b) in out.iter_mut().zip(&other) {
            *a += b;
        }
    }
    for i in 0..m {
        for k in 0..i {
            out[i * m + k] = out[k * m + i];
        }
    }
}

/// Adds the upper triangle of J[:, lo..hi] J[:, lo..hi]ᵀ into `out`.
fn gram_range(data: &[f64], m: usize, n: usize, lo: usize, hi: usize, out: &mut [f64]) {
    for start in (lo..hi).step_by(BLOCK) {
        let end = (start + BLOCK).min(hi);
        let row = |i: usize| &data[i * n + start..i * n + end];
        let mut i = 0;
        while i < m {
            let i2 = (i + 1).min(m - 1);
            let mut j = i;
            while j < m {
                let js = [
                    j,
                    (j + 1).min(m - 1),
                    (j + 2).min(m - 1),
                    (j + 3).min(m - 1),
                ];
                let t = tile(
                    [row(i), row(i2)],
                    [row(js[0]), row(js[1]), row(js[2]), row(js[3])],
                );
                for (a, &ia) in [i, i2].iter().enumerate() {
                    if a == 1 && i2 == i {
                        continue;
                    }
                    for (b, &jb) in js.iter().enumerate() {
                        // Each (row, column) pair once: the upper triangle, no clamped repeats.
                        if jb >= ia && (b == 0 || js[b] != js[b - 1]) {
                            out[ia * m + jb] += t[a][b];
                        }
                    }
                }
                j += 4;
            }
            i += 2;
        }
    }
}

/// The 2 x 4 dot products ⟨a_r, b_c⟩ of equal-length slices.
fn tile(a: [&[f64]; 2], b: [&[f64]; 4]) -> [[f64; 4]; 2] {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports AVX2 and FMA (checked just above).
            return unsafe { tile_avx2(a, b) };
        }
    }
    tile_portable(a, b)
}

fn tile_portable(a: [&[f64]; 2], b: [&[f64]; 4]) -> [[f64; 4]; 2] {
    let len = a[0].len();
    // Four independent lanes per dot product so the compiler can vectorise without
    // reassociating.
    let mut acc = [[[0.0f64; 4]; 4]; 2];
    let chunks = len / 4;
    for k in 0..chunks {
        let o = 4 * k;
        for r in 0..2 {
            for c in 0..4 {
                for l in 0..4 {
                    acc[r][c][l] += a[r][o + l] * b[c][o + l];
                }
            }
        }
    }
    let mut out = [[0.0; 4]; 2];
    for r in 0..2 {
        for c in 0..4 {
            let mut s = acc[r][c][0] + acc[r][c][1] + acc[r][c][2] + acc[r][c][3];
            for k in 4 * chunks..len {
                s += a[r][k] * b[c][k];
            }
            out[r][c] = s;
        }
    }
    out
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn tile_avx2(a: [&[f64]; 2], b: [&[f64]; 4]) -> [[f64; 4]; 2] {
    use std::arch::x86_64::*;
    let len = a[0].len();
    let chunks = len / 4;
    let mut acc = [[_mm256_setzero_pd(); 4]; 2];
    for k in 0..chunks {
        let o = 4 * k;
        // SAFETY: o + 4 <= len for every slice (all have length len).
        let (a0, a1) = unsafe {
            (
                _mm256_loadu_pd(a[0].as_ptr().add(o)),
                _mm256_loadu_pd(a[1].as_ptr().add(o)),
            )
        };
        for c in 0..4 {
            // SAFETY: as above.
            let bc = unsafe { _mm256_loadu_pd(b[c].as_ptr().add(o)) };
            acc[0][c] = _mm256_fmadd_pd(a0, bc, acc[0][c]);
            acc[1][c] = _mm256_fmadd_pd(a1, bc, acc[1][c]);
        }
    }
    let mut out = [[0.0; 4]; 2];
    for r in 0..2 {
        for c in 0..4 {
            let mut lanes = [0.0f64; 4];
            // SAFETY: lanes has room for 4 f64.
            unsafe { _mm256_storeu_pd(lanes.as_mut_ptr(), acc[r][c]) };
            let mut s = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
            for k in 4 * chunks..len {
                s = a[r][k].mul_add(b[c][k], s);
            }
            out[r][c] = s;
        }
    }
    out
}

/// d = Jᵀw into `d` (length n), split over up to 2 threads for large problems.
pub(crate) fn combine(data: &[f64], m: usize, n: usize, w: &[f64], d: &mut [f64]) {
    let threads = if m * n >= 2 * PARALLEL_WORK / 8 && n >= 2 * BLOCK {
        std::thread::available_parallelism().map_or(1, |t| t.get().min(2))
    } else {
        1
    };
    if threads == 1 {
        combine_range(data, m, n, w, 0, d);
    } else {
        let mid = (n / 2 / BLOCK) * BLOCK;
        let (left, right) = d.split_at_mut(mid);
        std::thread::scope(|s| {
            s.spawn(|| combine_range(data, m, n, w, mid, right));
            combine_range(data, m, n, w, 0, left);
        });
    }
}

/// d[..] = Σ_i w_i J[i, lo..lo + d.len()], a block of columns at a time.
fn combine_range(data: &[f64], m: usize, n: usize, w: &[f64], lo: usize, d: &mut [f64]) {
    d.iter_mut().for_each(|x| *x = 0.0);
    for (b, out) in d.chunks_mut(4 * BLOCK).enumerate() {
        let start = lo + b * 4 * BLOCK;
        for (i, &wi) in w.iter().enumerate().take(m) {
            if wi == 0.0 {
                continue;
            }
            let row = &data[i * n + start..i * n + start + out.len()];
            for (o, &x) in out.iter_mut().zip(row) {
                *o += wi * x;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(data: &[f64], m: usize, n: usize) -> Vec<f64> {
        let mut g = vec![0.0; m * m];
        for i in 0..m {
            for k in 0..m {
                g[i * m + k] = (0..n).map(|c| data[i * n + c] * data[k * n + c]).sum();
            }
        }
        g
    }

    #[test]
    fn every_shape_matches_naive_dot_products() {
        for (m, n) in [
            (1, 1),
            (1, 7),
            (2, 3),
            (3, 513),
            (5, 1030),
            (7, 4),
            (9, 2049),
            (40, 3000),
        ] {
            let data: Vec<f64> = (0..m * n)
                .map(|k| ((k * 7919) % 1009) as f64 / 97.0 - 5.0)
                .collect();
            let mut g = vec![f64::NAN; m * m];
            gram(&data, m, n, &mut g);
            let want = naive(&data, m, n);
            for (x, y) in g.iter().zip(&want) {
                assert!(
                    (x - y).abs() <= 1e-12 * y.abs().max(1.0),
                    "m={m} n={n}: {x} vs {y}"
                );
            }
        }
    }

    #[test]
    fn portable_and_simd_tiles_agree() {
        let rows: Vec<Vec<f64>> = (0..6)
            .map(|r| {
                (0..37)
                    .map(|k| ((r * 31 + k * 17) % 23) as f64 - 11.0)
                    .collect()
            })
            .collect();
        let a = [rows[0].as_slice(), rows[1].as_slice()];
        let b = [&rows[2][..], &rows[3][..], &rows[4][..], &rows[5][..]];
        let p = tile_portable(a, b);
        let t = tile(a, b);
        for r in 0..2 {
            for c in 0..4 {
                let exact: f64 = (0..37).map(|k| a[r][k] * b[c][k]).sum();
                assert_eq!(p[r][c], exact); // small integers: every order is exact
                assert_eq!(t[r][c], exact);
            }
        }
    }

    #[test]
    fn combine_split_matches_sequential() {
        let (m, n) = (40, 100_000);
        let data: Vec<f64> = (0..m * n).map(|k| ((k * 13) % 29) as f64 - 14.0).collect();
        let w: Vec<f64> = (0..m).map(|i| i as f64 * 0.5 - 3.0).collect();
        let mut d = vec![f64::NAN; n];
        combine(&data, m, n, &w, &mut d);
        for c in [0, 1, 2047, 2048, 50_000, 99_999] {
            let want: f64 = (0..m).map(|i| w[i] * data[i * n + c]).sum();
            assert_eq!(d[c], want);
        }
    }
}
