//! Seed statistics: mean, sample standard deviation (ddof = 1), the ±2σ intervals of
//! Mueller et al. 2025 (Table 1, footnote 6: "confidence intervals (using 2 standard
//! deviations)"), and Pearson correlation (§5, Fig. 5–6). Definitions: docs/formulas.md,
//! "Seed statistics and significance".
//!
//! σ is the sample standard deviation over seeds; "significant" means the two mean ± 2σ
//! intervals are disjoint — what the paper calls significance (not a hypothesis test with a
//! stated error rate). [`Spread::StdErr`] swaps σ for the standard error σ/√n (`mtlscope
//! report --spread stderr`), which narrows the intervals as seeds are added.

/// Mean, sample std (ddof = 1) and count of a set of per-seed values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Mean over seeds (NaN when empty).
    pub mean: f64,
    /// Sample standard deviation, ddof = 1 (NaN for fewer than 2 values).
    pub std: f64,
    /// Number of values.
    pub n: usize,
}

impl Summary {
    /// Summary of the finite values of `xs` (non-finite values are dropped).
    pub fn of(xs: &[f64]) -> Summary {
        let v: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
        let n = v.len();
        if n == 0 {
            return Summary {
                mean: f64::NAN,
                std: f64::NAN,
                n,
            };
        }
        let mean = v.iter().sum::<f64>() / n as f64;
        let std = if n < 2 {
            f64::NAN
        } else {
            (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        };
        Summary { mean, std, n }
    }

    /// The paper's interval: mean ± 2σ.
    pub fn interval(&self) -> (f64, f64) {
        self.interval_with(Spread::Std)
    }

    /// mean ± 2s, s = σ or σ/√n by `spread`.
    pub fn interval_with(&self, spread: Spread) -> (f64, f64) {
        let h = spread.half_width(self);
        (self.mean - h, self.mean + h)
    }
}

/// What the ± of an interval is: 2σ (the paper) or 2σ/√n (standard error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Spread {
    /// Sample standard deviation over seeds (ddof = 1): the paper's convention.
    #[default]
    Std,
    /// Standard error of the seed mean, σ/√n.
    StdErr,
}

impl Spread {
    /// Both spreads, for `--help` and errors.
    pub const ALL: [Spread; 2] = [Spread::Std, Spread::StdErr];

    /// `std` / `stderr`.
    pub fn name(self) -> &'static str {
        match self {
            Spread::Std => "std",
            Spread::StdErr => "stderr",
        }
    }

    /// Parse `std` / `stderr`.
    pub fn parse(s: &str) -> Option<Spread> {
        Spread::ALL.into_iter().find(|x| x.name() == s)
    }

    /// The symbol used in tables and captions: `σ` or `SE`.
    pub fn symbol(self) -> &'static str {
        match self {
            Spread::Std => "σ",
            Spread::StdErr => "SE",
        }
    }

    /// One spread unit of a summary: σ, or σ/√n (NaN below 2 values).
    pub fn unit(self, s: &Summary) -> f64 {
        match self {
            Spread::Std => s.std,
            Spread::StdErr => s.std / (s.n as f64).sqrt(),
        }
    }

    /// Half-width of the interval: 2 units.
    pub fn half_width(self, s: &Summary) -> f64 {
        2.0 * self.unit(s)
    }
}

/// Δ = mean(b) − mean(a) and the range of differences between points of the two ±2σ intervals,
/// `Δ ± 2(σ_a + σ_b)`. The two intervals overlap exactly when this range contains 0
/// (touching counts as overlap), so `significant` ⇔ the intervals are disjoint — the paper's test.
pub fn delta(a: &Summary, b: &Summary) -> (f64, f64, f64, bool) {
    delta_with(a, b, Spread::Std)
}

/// [`delta`] with the interval's spread chosen (σ or standard error).
pub fn delta_with(a: &Summary, b: &Summary, spread: Spread) -> (f64, f64, f64, bool) {
    let d = b.mean - a.mean;
    let half = spread.half_width(a) + spread.half_width(b);
    let (lo, hi) = (d - half, d + half);
    let significant = lo.is_finite() && hi.is_finite() && (lo > 0.0 || hi < 0.0);
    (d, lo, hi, significant)
}

/// Percentage change `100 (x − base) / |base|` (Mueller et al. §4.2, SMTO effect).
pub fn pct_change(x: f64, base: f64) -> f64 {
    100.0 * (x - base) / base.abs()
}

/// Pearson correlation of paired finite values (NaN for fewer than 3 pairs or zero variance:
/// with 2 points r is ±1 by construction and says nothing).
pub fn pearson(x: &[f64], y: &[f64]) -> f64 {
    let pairs: Vec<(f64, f64)> = x
        .iter()
        .zip(y)
        .filter(|(a, b)| a.is_finite() && b.is_finite())
        .map(|(a, b)| (*a, *b))
        .collect();
    let n = pairs.len();
    if n < 3 {
        return f64::NAN;
    }
    let mx = pairs.iter().map(|p| p.0).sum::<f64>() / n as f64;
    let my = pairs.iter().map(|p| p.1).sum::<f64>() / n as f64;
    let sxy: f64 = pairs.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sxx: f64 = pairs.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let syy: f64 = pairs.iter().map(|p| (p.1 - my).powi(2)).sum();
    if sxx == 0.0 || syy == 0.0 {
        return f64::NAN;
    }
    sxy / (sxx * syy).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_std_ddof1() {
        // 1,2,3: mean 2, squared deviations 1+0+1 = 2, /(3−1) → σ = 1.
        let s = Summary::of(&[1.0, 2.0, 3.0]);
        assert_eq!((s.mean, s.std, s.n), (2.0, 1.0, 3));
        assert_eq!(s.interval(), (0.0, 4.0));
        assert!(Summary::of(&[5.0]).std.is_nan());
        assert_eq!(Summary::of(&[1.0, f64::NAN, 3.0]).n, 2);
    }

    #[test]
    fn delta_interval_matches_overlap_test() {
        let a = Summary::of(&[1.0, 2.0, 3.0]); // [0, 4]
        let b = Summary::of(&[5.0, 6.0, 7.0]); // [4, 8] touches → not significant
        let (d, lo, hi, sig) = delta(&a, &b);
        assert_eq!((d, lo, hi, sig), (4.0, 0.0, 8.0, false));
        let c = Summary::of(&[5.5, 6.5, 7.5]); // [4.5, 8.5] disjoint from [0, 4]
        let (d, lo, _, sig) = delta(&a, &c);
        assert!((d - 4.5).abs() < 1e-12 && (lo - 0.5).abs() < 1e-12 && sig);
        let (_, _, hi, sig) = delta(&c, &a);
        assert!((hi + 0.5).abs() < 1e-12 && sig);
    }

    #[test]
    fn standard_error_option_narrows_by_sqrt_n() {
        // 0,1,2,3: mean 1.5, σ² = 5/3, SE = σ/2.
        let a = Summary::of(&[0.0, 1.0, 2.0, 3.0]);
        let sd = (5.0f64 / 3.0).sqrt();
        assert!((a.std - sd).abs() < 1e-12);
        assert!((Spread::StdErr.unit(&a) - sd / 2.0).abs() < 1e-12);
        assert_eq!(a.interval(), a.interval_with(Spread::Std));
        // Means 3 apart, same σ ≈ 1.291: 2σ_a + 2σ_b ≈ 5.16 > 3 (overlap), 2 SE_a + 2 SE_b ≈
        // 2.58 < 3 (disjoint).
        let b = Summary::of(&[3.0, 4.0, 5.0, 6.0]);
        assert!(!delta_with(&a, &b, Spread::Std).3);
        assert!(delta_with(&a, &b, Spread::StdErr).3);
        assert_eq!(delta(&a, &b), delta_with(&a, &b, Spread::Std));
        assert_eq!(Spread::parse("stderr"), Some(Spread::StdErr));
        assert_eq!(Spread::parse("sem"), None);
    }

    #[test]
    fn pearson_hand_case() {
        assert!((pearson(&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.0]) - 1.0).abs() < 1e-12);
        // x = 1,2,3; y = 1,3,2: sxy = 1, sxx = 2, syy = 2 → r = 0.5.
        assert!((pearson(&[1.0, 2.0, 3.0], &[1.0, 3.0, 2.0]) - 0.5).abs() < 1e-12);
        assert!(pearson(&[1.0, 2.0], &[1.0, 2.0]).is_nan());
        assert_eq!(pct_change(90.0, 100.0), -10.0);
        assert_eq!(pct_change(-90.0, -100.0), 10.0);
    }
}
