//! Significance tests that work from bounded-memory summaries (histograms, moments, counts),
//! never from the raw samples.
//!
//! A caveat that applies to all of them: consecutive knocks are not independent (one long hold of
//! the GIL is seen by several knocks in a row), so these tests overstate significance somewhat.
//! They answer "could this difference be sampling noise?", not "is it important?": always read
//! the size of the change too.

use hdrhistogram::Histogram;

/// Two-sided significance level used throughout.
pub const ALPHA: f64 = 0.05;
/// z for a two-sided 95% interval.
pub const Z_95: f64 = 1.959_963_984_540_054;

/// Complementary error function (the Chebyshev fit known as `erfcc` from Numerical
/// Recipes' `erfcc`; fractional error below 1.2e-7 everywhere, plenty for p-values).
pub fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let value = t * poly.exp();
    if x >= 0.0 {
        value
    } else {
        2.0 - value
    }
}

/// Two-sided p-value of a standard normal statistic.
pub fn two_sided_p(z: f64) -> f64 {
    if !z.is_finite() {
        return if z.is_nan() { f64::NAN } else { 0.0 };
    }
    erfc(z.abs() / std::f64::consts::SQRT_2).clamp(0.0, 1.0)
}

/// Result of a test: the statistic, its two-sided p-value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TestResult {
    pub z: f64,
    pub p_value: f64,
}

impl TestResult {
    pub fn significant(&self) -> bool {
        self.p_value < ALPHA
    }
}

/// Mann-Whitney U test of "B's waits tend to be longer or shorter than A's", computed from two
/// HDR histograms with the same bucket layout: values in one bucket count as ties (mid-ranks,
/// with the usual tie correction of the variance). Returns the normal approximation and the
/// common-language effect size P(B > A) + P(B = A) / 2.
pub fn mann_whitney(a: &Histogram<u64>, b: &Histogram<u64>) -> Option<(TestResult, f64)> {
    let (n_a, n_b) = (a.len() as f64, b.len() as f64);
    if n_a == 0.0 || n_b == 0.0 {
        return None;
    }
    let mut iter_a = a
        .iter_recorded()
        .map(|v| (v.value_iterated_to(), v.count_at_value()))
        .peekable();
    let mut iter_b = b
        .iter_recorded()
        .map(|v| (v.value_iterated_to(), v.count_at_value()))
        .peekable();
    let mut rank_sum_a = 0.0f64;
    let mut ranks_seen = 0.0f64;
    let mut tie_term = 0.0f64;
    loop {
        let next_a = iter_a.peek().map(|v| v.0);
        let next_b = iter_b.peek().map(|v| v.0);
        let value = match (next_a, next_b) {
            (None, None) => break,
            (Some(x), None) => x,
            (None, Some(y)) => y,
            (Some(x), Some(y)) => x.min(y),
        };
        let count_a = if next_a == Some(value) {
            iter_a.next().map_or(0, |v| v.1)
        } else {
            0
        } as f64;
        let count_b = if next_b == Some(value) {
            iter_b.next().map_or(0, |v| v.1)
        } else {
            0
        } as f64;
        let tied = count_a + count_b;
        let mid_rank = ranks_seen + (tied + 1.0) / 2.0;
        rank_sum_a += count_a * mid_rank;
        tie_term += tied * tied * tied - tied;
        ranks_seen += tied;
    }
    let u_a = rank_sum_a - n_a * (n_a + 1.0) / 2.0;
    let u_b = n_a * n_b - u_a;
    let n = n_a + n_b;
    let mean = n_a * n_b / 2.0;
    let variance = n_a * n_b / 12.0 * ((n + 1.0) - tie_term / (n * (n - 1.0)));
    let effect = u_b / (n_a * n_b);
    if variance <= 0.0 || !variance.is_finite() {
        // All values tied: no evidence of a difference.
        return Some((
            TestResult {
                z: 0.0,
                p_value: 1.0,
            },
            effect,
        ));
    }
    let z = (u_b - mean) / variance.sqrt();
    Some((
        TestResult {
            z,
            p_value: two_sided_p(z),
        },
        effect,
    ))
}

/// Welch's test of a difference in means, normal approximation (the traces we compare have
/// thousands of samples, where the t and normal distributions agree).
pub fn welch(
    mean_a: f64,
    var_a: f64,
    n_a: u64,
    mean_b: f64,
    var_b: f64,
    n_b: u64,
) -> Option<TestResult> {
    if n_a < 2 || n_b < 2 {
        return None;
    }
    let se2 = var_a / n_a as f64 + var_b / n_b as f64;
    if !(se2.is_finite()) {
        return None;
    }
    if se2 == 0.0 {
        let z = if mean_a == mean_b { 0.0 } else { f64::INFINITY };
        return Some(TestResult {
            z,
            p_value: two_sided_p(z),
        });
    }
    let z = (mean_b - mean_a) / se2.sqrt();
    Some(TestResult {
        z,
        p_value: two_sided_p(z),
    })
}

/// Two-proportion z-test (unpooled) with `n` independent observations on each side.
pub fn two_proportions(p_a: f64, n_a: u64, p_b: f64, n_b: u64) -> Option<TestResult> {
    if n_a == 0 || n_b == 0 || !p_a.is_finite() || !p_b.is_finite() {
        return None;
    }
    let se2 = p_a * (1.0 - p_a) / n_a as f64 + p_b * (1.0 - p_b) / n_b as f64;
    if se2 <= 0.0 {
        let z = if p_a == p_b { 0.0 } else { f64::INFINITY };
        return Some(TestResult {
            z,
            p_value: two_sided_p(z),
        });
    }
    let z = (p_b - p_a) / se2.sqrt();
    Some(TestResult {
        z,
        p_value: two_sided_p(z),
    })
}

/// Distribution-free 95% confidence interval of the `quantile` of the population a histogram
/// was sampled from: the order statistics at ranks n q -/+ 1.96 sqrt(n q (1 - q)) (normal
/// approximation of the binomial), read from the histogram.
pub fn quantile_ci95(histogram: &Histogram<u64>, quantile: f64) -> Option<(u64, u64)> {
    quantile_ci95_with_sample_size(histogram, quantile, histogram.len() as f64)
}

/// [`quantile_ci95`] for a histogram whose counts are weights rather than observations: the
/// interval is that of `sample_size` independent observations (e.g. Kish's effective sample
/// size), its ends read from the weighted histogram as quantiles. With `sample_size` equal to
/// the histogram's count this is exactly [`quantile_ci95`].
pub fn quantile_ci95_with_sample_size(
    histogram: &Histogram<u64>,
    quantile: f64,
    sample_size: f64,
) -> Option<(u64, u64)> {
    let n = sample_size;
    if histogram.is_empty() || !n.is_finite() || n < 1.0 {
        return None;
    }
    let half = Z_95 * (n * quantile * (1.0 - quantile)).sqrt();
    let low_rank = (n * quantile - half).floor().max(1.0);
    let high_rank = (n * quantile + half).ceil().min(n);
    Some((
        histogram.value_at_quantile(low_rank / n),
        histogram.value_at_quantile(high_rank / n),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn histogram(values: &[u64]) -> Histogram<u64> {
        let mut h = crate::scan::new_histogram();
        values.iter().for_each(|&v| h.record(v).unwrap());
        h
    }

    #[test]
    fn erfc_matches_known_values() {
        assert!((erfc(0.0) - 1.0).abs() < 1e-7);
        assert!((erfc(1.0) - 0.157_299_207).abs() < 1e-7);
        assert!((two_sided_p(1.959_964) - 0.05).abs() < 1e-6);
        assert!((erfc(-1.0) - 1.842_700_793).abs() < 1e-7);
    }

    #[test]
    fn mann_whitney_matches_a_hand_computed_example() {
        // A = {1, 2, 3}, B = {4, 5, 6}: U_B = 9 (every B beats every A), mean 4.5,
        // variance 3 * 3 * 7 / 12 = 5.25, z = 4.5 / sqrt(5.25).
        let (result, effect) =
            mann_whitney(&histogram(&[1, 2, 3]), &histogram(&[4, 5, 6])).unwrap();
        assert!((result.z - 4.5 / 5.25f64.sqrt()).abs() < 1e-12);
        assert_eq!(effect, 1.0);
        let (same, effect) = mann_whitney(&histogram(&[5, 5]), &histogram(&[5, 5])).unwrap();
        assert_eq!((same.z, same.p_value, effect), (0.0, 1.0, 0.5));
    }

    #[test]
    fn proportions_and_means() {
        let same = two_proportions(0.5, 1000, 0.5, 1000).unwrap();
        assert_eq!(same.z, 0.0);
        let different = two_proportions(0.1, 10_000, 0.2, 10_000).unwrap();
        assert!(different.significant());
        let welch_result = welch(100.0, 100.0, 100, 101.0, 100.0, 100).unwrap();
        assert!(!welch_result.significant());
    }

    #[test]
    fn quantile_interval_contains_the_quantile() {
        let values: Vec<u64> = (1..=10_000).collect();
        let (low, high) = quantile_ci95(&histogram(&values), 0.5).unwrap();
        assert!(low < 5000 && 5000 < high, "{low} {high}");
        // Counts as weights: 100 observations, each recorded with weight 100, give the
        // interval of 100 observations, much wider than that of 10,000.
        let mut weighted = crate::scan::new_histogram();
        (1..=100u64).for_each(|v| weighted.record_n(v * 100, 100).unwrap());
        let (low_w, high_w) = quantile_ci95_with_sample_size(&weighted, 0.5, 100.0).unwrap();
        assert!(low_w < 4500 && high_w > 5500, "{low_w} {high_w}");
        assert_eq!(
            quantile_ci95_with_sample_size(&histogram(&values), 0.5, 10_000.0),
            Some((low, high))
        );
    }
}
