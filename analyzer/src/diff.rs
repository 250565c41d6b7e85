//! `diff`: two traces side by side, the significance of each change, and the regression gate.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::report::{TraceSummary, SCHEMA_VERSION};
use crate::scan::TraceScan;
use crate::stats::{self, TestResult};

/// A figure that can be compared and gated on. Larger is worse for every one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    Min,
    Mean,
    P50,
    P90,
    P99,
    P99_9,
    Max,
    BusyFraction,
    Contention,
    LongWaitFraction,
    RequestP50,
    RequestP90,
    RequestP99,
    RequestP99_9,
    RequestMax,
}

impl Metric {
    /// In the order of `changes` in the output: new metrics are appended, so the position of an
    /// existing one never changes.
    pub const ALL: [Metric; 15] = [
        Metric::Min,
        Metric::Mean,
        Metric::P50,
        Metric::P90,
        Metric::P99,
        Metric::P99_9,
        Metric::Max,
        Metric::BusyFraction,
        Metric::Contention,
        Metric::LongWaitFraction,
        Metric::RequestP50,
        Metric::RequestP90,
        Metric::RequestP99,
        Metric::RequestP99_9,
        Metric::RequestMax,
    ];

    /// Name used in `--fail-if` and in the JSON output.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Min => "min",
            Metric::Mean => "mean",
            Metric::P50 => "p50",
            Metric::P90 => "p90",
            Metric::P99 => "p99",
            Metric::P99_9 => "p99.9",
            Metric::Max => "max",
            Metric::BusyFraction => "busy_fraction",
            Metric::Contention => "contention",
            Metric::LongWaitFraction => "long_wait_fraction",
            Metric::RequestP50 => "request_p50",
            Metric::RequestP90 => "request_p90",
            Metric::RequestP99 => "request_p99",
            Metric::RequestP99_9 => "request_p99.9",
            Metric::RequestMax => "request_max",
        }
    }

    fn parse(text: &str) -> Option<Metric> {
        Some(match text {
            "min" => Metric::Min,
            "mean" => Metric::Mean,
            "p50" | "median" => Metric::P50,
            "p90" => Metric::P90,
            "p99" => Metric::P99,
            "p99.9" | "p999" => Metric::P99_9,
            "max" => Metric::Max,
            "busy_fraction" | "busy" => Metric::BusyFraction,
            "contention" | "contention_metric" => Metric::Contention,
            "long_wait_fraction" | "long_wait" => Metric::LongWaitFraction,
            "request_p50" | "request_median" => Metric::RequestP50,
            "request_p90" => Metric::RequestP90,
            "request_p99" => Metric::RequestP99,
            "request_p99.9" | "request_p999" => Metric::RequestP99_9,
            "request_max" => Metric::RequestMax,
            _ => return None,
        })
    }

    /// Waits are in nanoseconds; the others are fractions of time.
    pub fn is_time(self) -> bool {
        matches!(
            self,
            Metric::Min
                | Metric::Mean
                | Metric::P50
                | Metric::P90
                | Metric::P99
                | Metric::P99_9
                | Metric::Max
                | Metric::RequestP50
                | Metric::RequestP90
                | Metric::RequestP99
                | Metric::RequestP99_9
                | Metric::RequestMax
        )
    }

    /// The value of this metric in a summary.
    pub fn value(self, summary: &TraceSummary) -> Option<f64> {
        let f = &summary.figures;
        let wait = f.wait_ns.as_ref();
        let request = f.request_wait_ns.as_ref();
        match self {
            Metric::Min => wait.map(|w| w.min as f64),
            Metric::Mean => wait.map(|w| w.mean),
            Metric::P50 => wait.map(|w| w.p50 as f64),
            Metric::P90 => wait.map(|w| w.p90 as f64),
            Metric::P99 => wait.map(|w| w.p99 as f64),
            Metric::P99_9 => wait.map(|w| w.p99_9 as f64),
            Metric::Max => wait.map(|w| w.max as f64),
            Metric::BusyFraction => f.busy_fraction,
            Metric::Contention => f.contention_metric,
            Metric::LongWaitFraction => f.long_wait_fraction,
            Metric::RequestP50 => request.map(|w| w.p50 as f64),
            Metric::RequestP90 => request.map(|w| w.p90 as f64),
            Metric::RequestP99 => request.map(|w| w.p99 as f64),
            Metric::RequestP99_9 => request.map(|w| w.p99_9 as f64),
            Metric::RequestMax => request.map(|w| w.max as f64),
        }
    }

    fn quantile(self) -> Option<f64> {
        match self {
            Metric::P50 | Metric::RequestP50 => Some(0.5),
            Metric::P90 | Metric::RequestP90 => Some(0.9),
            Metric::P99 | Metric::RequestP99 => Some(0.99),
            Metric::P99_9 | Metric::RequestP99_9 => Some(0.999),
            _ => None,
        }
    }
}

/// How much worse B may be than A before the gate trips.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Threshold {
    /// Percent of A's value.
    Relative(f64),
    /// In the metric's unit: nanoseconds for waits, a fraction (0..1) for the others.
    Absolute(f64),
}

/// One `--fail-if METRIC:THRESHOLD` expression.
#[derive(Debug, Clone, PartialEq)]
pub struct GateRule {
    pub text: String,
    pub metric: Metric,
    pub threshold: Threshold,
}

impl FromStr for GateRule {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let names = Metric::ALL.map(Metric::name).join(", ");
        let (name, limit) = text.split_once(':').ok_or_else(|| {
            format!("expected METRIC:THRESHOLD such as p99:10% or p99:2ms, got '{text}'")
        })?;
        let metric = Metric::parse(name.trim())
            .ok_or_else(|| format!("unknown metric '{}' (known: {names})", name.trim()))?;
        let limit = limit.trim();
        let threshold = if let Some(percent) = limit.strip_suffix('%') {
            let value: f64 = percent
                .trim()
                .parse()
                .map_err(|_| format!("'{limit}' is not a percentage"))?;
            Threshold::Relative(value)
        } else if metric.is_time() {
            Threshold::Absolute(crate::units::parse_duration_ns(limit)?)
        } else {
            let value: f64 = limit.parse().map_err(|_| {
                format!("'{limit}' is not a fraction (e.g. 0.05) or a percentage of A (e.g. 10%)")
            })?;
            if !(0.0..=1.0).contains(&value) {
                return Err(format!(
                    "'{limit}': an absolute {} threshold is a fraction between 0 and 1",
                    metric.name()
                ));
            }
            Threshold::Absolute(value)
        };
        let (Threshold::Relative(v) | Threshold::Absolute(v)) = threshold;
        if !v.is_finite() || v < 0.0 {
            return Err(format!("'{limit}' must be a non-negative number"));
        }
        Ok(GateRule {
            text: text.to_string(),
            metric,
            threshold,
        })
    }
}

impl fmt::Display for GateRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// One metric compared.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    /// Metric name, as accepted by `--fail-if`.
    pub metric: String,
    /// Unit of `a`, `b` and `absolute_change`: "ns" for waits, "fraction" for the others.
    pub unit: String,
    /// Value in the baseline trace A.
    pub a: Option<f64>,
    /// Value in the trace B.
    pub b: Option<f64>,
    /// `b - a`.
    pub absolute_change: Option<f64>,
    /// `(b - a) / a` (null when a is 0).
    pub relative_change: Option<f64>,
    /// Test used: "mann_whitney_u" (all waits), "welch_z" (mean), "quantile_ci95_overlap"
    /// (per-knock percentiles), "weighted_quantile_ci95_overlap" (request-wait percentiles),
    /// "two_proportion_z" (fractions), or null (min, max, request_max: no test).
    pub test: Option<String>,
    /// Two-sided p-value (null for tests without one).
    pub p_value: Option<f64>,
    /// The change is significant at the 5% level (null when not tested).
    pub significant: Option<bool>,
}

/// Mann-Whitney U test over all waits.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DistributionTest {
    /// Normal-approximation statistic; positive when B's waits tend to be longer.
    pub z: f64,
    /// Two-sided p-value.
    pub p_value: f64,
    /// Probability that a random wait of B is longer than a random wait of A (ties count half):
    /// 0.5 means no shift.
    pub probability_b_longer: f64,
    /// Significant at the 5% level.
    pub significant: bool,
}

/// The verdict of one `--fail-if` rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateCheck {
    /// The expression as given.
    pub rule: String,
    /// Metric name.
    pub metric: String,
    /// B is worse than A by more than the threshold.
    pub tripped: bool,
    /// The change was significant at the 5% level (null when the metric has no test).
    pub significant: Option<bool>,
    /// One sentence for people.
    pub reason: String,
}

/// The output of `diff`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DiffReport {
    /// Version of this JSON schema.
    pub schema_version: u32,
    /// The baseline.
    pub a: TraceSummary,
    /// The trace compared with the baseline.
    pub b: TraceSummary,
    /// Every metric, in a fixed order.
    pub changes: Vec<Change>,
    /// Mann-Whitney U test over all waits.
    pub wait_distribution: Option<DistributionTest>,
    /// Results of the `--fail-if` rules, in the order given.
    pub gate: Vec<GateCheck>,
    /// True when any rule tripped (the exit code is then 1).
    pub gate_tripped: bool,
}

impl DiffReport {
    pub fn new(a: &TraceScan, b: &TraceScan, rules: &[GateRule]) -> Self {
        let summary_a = TraceSummary::from_scan(a);
        let summary_b = TraceSummary::from_scan(b);
        let changes: Vec<Change> = Metric::ALL
            .iter()
            .map(|&metric| compare(metric, a, b, &summary_a, &summary_b))
            .collect();
        let wait_distribution =
            stats::mann_whitney(&a.wait.histogram, &b.wait.histogram).map(|(result, effect)| {
                DistributionTest {
                    z: result.z,
                    p_value: result.p_value,
                    probability_b_longer: effect,
                    significant: result.significant(),
                }
            });
        let gate: Vec<GateCheck> = rules
            .iter()
            .map(|rule| {
                let change = changes
                    .iter()
                    .find(|c| c.metric == rule.metric.name())
                    .expect("every metric is compared");
                check(rule, change)
            })
            .collect();
        let gate_tripped = gate.iter().any(|g| g.tripped);
        DiffReport {
            schema_version: SCHEMA_VERSION,
            a: summary_a,
            b: summary_b,
            changes,
            wait_distribution,
            gate,
            gate_tripped,
        }
    }
}

fn compare(
    metric: Metric,
    a: &TraceScan,
    b: &TraceScan,
    sa: &TraceSummary,
    sb: &TraceSummary,
) -> Change {
    let value_a = metric.value(sa);
    let value_b = metric.value(sb);
    let absolute_change = value_a.zip(value_b).map(|(x, y)| y - x);
    let relative_change = value_a
        .zip(value_b)
        .and_then(|(x, y)| (x != 0.0).then(|| (y - x) / x));
    let (test, result, significant): (Option<&str>, Option<TestResult>, Option<bool>) = match metric
    {
        Metric::Min | Metric::Max | Metric::RequestMax => (None, None, None),
        Metric::Mean => {
            let r = stats::welch(
                a.wait.mean_ns(),
                a.wait.variance_ns2(),
                a.wait.count,
                b.wait.mean_ns(),
                b.wait.variance_ns2(),
                b.wait.count,
            );
            (Some("welch_z"), r, r.map(|r| r.significant()))
        }
        Metric::P50 | Metric::P90 | Metric::P99 | Metric::P99_9 => {
            let q = metric.quantile().unwrap_or(0.5);
            let intervals = stats::quantile_ci95(&a.wait.histogram, q)
                .zip(stats::quantile_ci95(&b.wait.histogram, q));
            let significant = intervals
                .map(|((low_a, high_a), (low_b, high_b))| high_a < low_b || high_b < low_a);
            (Some("quantile_ci95_overlap"), None, significant)
        }
        Metric::RequestP50 | Metric::RequestP90 | Metric::RequestP99 | Metric::RequestP99_9 => {
            // The histogram's counts are time, not observations: the intervals take Kish's
            // effective number of knocks as the sample size (each knock one observation
            // weighted by the time it stands for), the same unit of independence as the busy
            // fraction's interval.
            let q = metric.quantile().unwrap_or(0.5);
            let interval = |scan: &TraceScan| {
                stats::quantile_ci95_with_sample_size(
                    &scan.request_wait.histogram,
                    q,
                    scan.request_wait.effective_knocks(),
                )
            };
            let significant = interval(a)
                .zip(interval(b))
                .map(|((low_a, high_a), (low_b, high_b))| high_a < low_b || high_b < low_a);
            (Some("weighted_quantile_ci95_overlap"), None, significant)
        }
        Metric::BusyFraction | Metric::LongWaitFraction => {
            let r = value_a
                .zip(value_b)
                .and_then(|(x, y)| stats::two_proportions(x, a.busy.knocks, y, b.busy.knocks));
            (Some("two_proportion_z"), r, r.map(|r| r.significant()))
        }
        Metric::Contention => {
            // total wait / window time = mean wait x knock rate: within a schedule the knock
            // rate is fixed, so a change is significant when the mean wait's change is.
            let r = stats::welch(
                a.wait.mean_ns(),
                a.wait.variance_ns2(),
                a.wait.count,
                b.wait.mean_ns(),
                b.wait.variance_ns2(),
                b.wait.count,
            );
            let same_schedule = a.metadata.schedule == b.metadata.schedule;
            if same_schedule && value_a.is_some() && value_b.is_some() {
                (Some("welch_z"), r, r.map(|r| r.significant()))
            } else {
                (None, None, None)
            }
        }
    };
    Change {
        metric: metric.name().to_string(),
        unit: if metric.is_time() { "ns" } else { "fraction" }.to_string(),
        a: value_a,
        b: value_b,
        absolute_change,
        relative_change,
        test: test.map(str::to_string),
        p_value: result.map(|r| r.p_value).filter(|p| p.is_finite()),
        significant,
    }
}

fn check(rule: &GateRule, change: &Change) -> GateCheck {
    let metric = rule.metric;
    let show = |v: f64| {
        if metric.is_time() {
            crate::units::format_ns(v)
        } else {
            format!("{v:.4}")
        }
    };
    let (tripped, reason) = match (change.a, change.b) {
        (Some(a), Some(b)) => {
            let increase = b - a;
            match rule.threshold {
                Threshold::Relative(percent) => {
                    let limit = a.abs() * percent / 100.0;
                    let tripped = increase > limit;
                    let relative = if a != 0.0 {
                        crate::render::text::format_relative(increase / a)
                    } else if b != 0.0 {
                        "up from 0".to_string()
                    } else {
                        "unchanged at 0".to_string()
                    };
                    (
                        tripped,
                        format!(
                            "{} went from {} to {} ({relative}); limit +{percent}%",
                            metric.name(),
                            show(a),
                            show(b)
                        ),
                    )
                }
                Threshold::Absolute(limit) => (
                    increase > limit,
                    format!(
                        "{} went from {} to {} ({}{}); limit +{}",
                        metric.name(),
                        show(a),
                        show(b),
                        if increase >= 0.0 { "+" } else { "" },
                        show(increase),
                        show(limit)
                    ),
                ),
            }
        }
        _ => (
            true,
            format!(
                "{} is not available for both traces, so it cannot be checked",
                metric.name()
            ),
        ),
    };
    GateCheck {
        rule: rule.text.clone(),
        metric: metric.name().to_string(),
        tripped,
        significant: change.significant,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse() {
        let rule: GateRule = "p99:10%".parse().unwrap();
        assert_eq!(
            (rule.metric, rule.threshold),
            (Metric::P99, Threshold::Relative(10.0))
        );
        let rule: GateRule = "p99:2ms".parse().unwrap();
        assert_eq!(rule.threshold, Threshold::Absolute(2e6));
        let rule: GateRule = "busy_fraction:0.05".parse().unwrap();
        assert_eq!(rule.threshold, Threshold::Absolute(0.05));
        let rule: GateRule = "p999:5%".parse().unwrap();
        assert_eq!(rule.metric, Metric::P99_9);
        let rule: GateRule = "request_p99:10%".parse().unwrap();
        assert_eq!(
            (rule.metric, rule.threshold),
            (Metric::RequestP99, Threshold::Relative(10.0))
        );
        let rule: GateRule = "request_p99.9:3ms".parse().unwrap();
        assert_eq!(
            (rule.metric, rule.threshold),
            (Metric::RequestP99_9, Threshold::Absolute(3e6))
        );
        assert!("request_p99:2"
            .parse::<GateRule>()
            .unwrap_err()
            .contains("time unit"));
        for metric in Metric::ALL {
            assert_eq!(Metric::parse(metric.name()), Some(metric));
        }
        assert!("p99"
            .parse::<GateRule>()
            .unwrap_err()
            .contains("METRIC:THRESHOLD"));
        assert!("p98:1%"
            .parse::<GateRule>()
            .unwrap_err()
            .contains("unknown metric"));
        assert!("p99:2"
            .parse::<GateRule>()
            .unwrap_err()
            .contains("time unit"));
        assert!("busy:2"
            .parse::<GateRule>()
            .unwrap_err()
            .contains("between 0 and 1"));
        assert!("mean:-5%".parse::<GateRule>().is_err());
    }

    fn change(a: f64, b: f64) -> Change {
        Change {
            metric: "p99".into(),
            unit: "ns".into(),
            a: Some(a),
            b: Some(b),
            absolute_change: Some(b - a),
            relative_change: None,
            test: None,
            p_value: None,
            significant: Some(true),
        }
    }

    #[test]
    fn gate_trips_above_the_threshold_only() {
        let relative: GateRule = "p99:10%".parse().unwrap();
        assert!(!check(&relative, &change(1000.0, 1100.0)).tripped);
        assert!(check(&relative, &change(1000.0, 1101.0)).tripped);
        assert!(!check(&relative, &change(1000.0, 500.0)).tripped);
        assert!(check(&relative, &change(0.0, 1.0)).tripped);
        let absolute: GateRule = "p99:2us".parse().unwrap();
        let verdict = check(&absolute, &change(1000.0, 3500.0));
        assert!(verdict.tripped);
        assert_eq!(
            verdict.reason,
            "p99 went from 1.00 µs to 3.50 µs (+2.50 µs); limit +2.00 µs"
        );
    }
}
