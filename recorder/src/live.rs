//! Live statistics, updated by the knocker thread on every knock and read by Python at any time.

use gilknocker_trace::estimate::BusyEstimator;
use gilknocker_trace::RunCounters;
use hdrhistogram::Histogram;

/// Waits are recorded in nanoseconds, 3 significant digits (0.1% error), up to an hour.
const HISTOGRAM_MAX_NS: u64 = 3_600_000_000_000;

#[derive(Debug, Clone)]
pub struct Live {
    pub histogram: Histogram<u64>,
    pub estimator: BusyEstimator,
    pub counters: RunCounters,
    /// Window time of windows already closed (since the last reset).
    closed_window_ns: u64,
    /// Start of the window in progress, if one is open.
    open_window_start: Option<i64>,
    /// End of the last knock (monotonic).
    last_knock_end: i64,
    first_knock_start: Option<i64>,
    interval_ns: i64,
    threshold_ns: i64,
}

/// A consistent copy of the live statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub knocks: u64,
    pub dropped_samples: u64,
    pub skipped_busy_slots: u64,
    pub missed_late_slots: u64,
    pub late_ns_max: u64,
    pub late_ns_mean: f64,
    pub wait_ns_mean: f64,
    pub wait_ns_max: u64,
    pub wait_ns_min: u64,
    /// (quantile, wait_ns) for 0.5, 0.9, 0.99, 0.999.
    pub wait_ns_quantiles: [(f64, u64); 4],
    pub contention_metric: f64,
    pub busy_fraction: f64,
    pub busy_fraction_ci95: (f64, f64),
    pub long_wait_fraction: f64,
    pub duration_ns: i64,
}

impl Live {
    pub fn new(interval_ns: i64, threshold_ns: i64) -> Self {
        Live {
            histogram: Histogram::new_with_bounds(1, HISTOGRAM_MAX_NS, 3)
                .expect("valid histogram bounds"),
            estimator: BusyEstimator::new(interval_ns, threshold_ns),
            counters: RunCounters::default(),
            closed_window_ns: 0,
            open_window_start: None,
            last_knock_end: 0,
            first_knock_start: None,
            interval_ns,
            threshold_ns,
        }
    }

    pub fn knocked(&mut self, start_ns: i64, wait_ns: i64, late_ns: i64) {
        let wait = wait_ns.max(0) as u64;
        self.histogram.saturating_record(wait.max(1));
        self.estimator.add(wait_ns);
        let c = &mut self.counters;
        c.knocks += 1;
        c.wait_ns_total += wait;
        let late = late_ns.max(0) as u64;
        c.late_ns_total += late;
        c.late_ns_max = c.late_ns_max.max(late);
        self.last_knock_end = start_ns + wait_ns;
        self.first_knock_start.get_or_insert(start_ns);
    }

    pub fn skipped(&mut self, busy: u64, missed: u64) {
        self.counters.skipped_busy_slots += busy;
        self.counters.missed_late_slots += missed;
    }

    pub fn window_opened(&mut self, start_ns: i64) {
        self.open_window_start = Some(start_ns);
    }

    pub fn window_closed(&mut self, start_ns: i64, end_ns: i64) {
        // A reset may have moved the open window's start forward.
        let start = self.open_window_start.unwrap_or(start_ns).max(start_ns);
        self.closed_window_ns += (end_ns - start).max(0) as u64;
        self.open_window_start = None;
    }

    pub fn dropped(&mut self, n: u64) {
        self.counters.dropped_samples += n;
    }

    /// Total sampling-window time so far, counting the open window up to the last knock.
    pub fn window_ns_total(&self) -> u64 {
        let open = match self.open_window_start {
            Some(start) => (self.last_knock_end - start).max(0) as u64,
            None => 0,
        };
        self.closed_window_ns + open
    }

    /// gilknocker 0.4.2's metric: total wait / total sampling time, since start or reset.
    pub fn contention_metric(&self) -> f64 {
        let window = self.window_ns_total();
        if window == 0 {
            return 0.0;
        }
        (self.counters.wait_ns_total as f64 / window as f64).min(1.0)
    }

    /// Forget everything measured so far (a window in progress restarts at `now_ns`).
    pub fn reset(&mut self, now_ns: i64) {
        let open = self.open_window_start.map(|_| now_ns);
        let dropped = self.counters.dropped_samples;
        *self = Live::new(self.interval_ns, self.threshold_ns);
        self.open_window_start = open;
        self.last_knock_end = now_ns;
        // Drops concern the trace file, which a reset does not rewind.
        self.counters.dropped_samples = dropped;
    }

    /// Counters for the trace metadata.
    pub fn run_counters(&self) -> RunCounters {
        RunCounters {
            window_ns_total: self.window_ns_total(),
            ..self.counters.clone()
        }
    }

    pub fn snapshot(&self) -> Snapshot {
        let h = &self.histogram;
        let n = self.counters.knocks;
        let q = |quantile: f64| {
            (
                quantile,
                if n == 0 {
                    0
                } else {
                    h.value_at_quantile(quantile)
                },
            )
        };
        Snapshot {
            knocks: n,
            dropped_samples: self.counters.dropped_samples,
            skipped_busy_slots: self.counters.skipped_busy_slots,
            missed_late_slots: self.counters.missed_late_slots,
            late_ns_max: self.counters.late_ns_max,
            late_ns_mean: if n == 0 {
                0.0
            } else {
                self.counters.late_ns_total as f64 / n as f64
            },
            // Exact mean and max from the counters, not the histogram's rounded values.
            wait_ns_mean: if n == 0 {
                0.0
            } else {
                self.counters.wait_ns_total as f64 / n as f64
            },
            wait_ns_max: if n == 0 { 0 } else { h.max() },
            wait_ns_min: if n == 0 { 0 } else { h.min() },
            wait_ns_quantiles: [q(0.5), q(0.9), q(0.99), q(0.999)],
            contention_metric: self.contention_metric(),
            busy_fraction: self.estimator.busy_fraction(),
            busy_fraction_ci95: self.estimator.busy_fraction_ci95(),
            long_wait_fraction: self.estimator.long_wait_fraction(),
            duration_ns: match self.first_knock_start {
                Some(first) => (self.last_knock_end - first).max(0),
                None => 0,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contention_metric_is_wait_over_window_time() {
        let mut live = Live::new(1_000, 5_000);
        live.window_opened(0);
        live.knocked(1_000, 500, 0);
        live.knocked(2_000, 1_500, 0);
        live.window_closed(0, 4_000);
        assert_eq!(live.window_ns_total(), 4_000);
        assert_eq!(live.contention_metric(), 2_000.0 / 4_000.0);
        live.window_opened(10_000);
        live.knocked(11_000, 0, 0);
        // Open window counts up to the last knock's end: 4000 + 1000.
        assert_eq!(live.window_ns_total(), 5_000);
    }

    #[test]
    fn reset_forgets_waits_but_not_drops() {
        let mut live = Live::new(1_000, 5_000);
        live.window_opened(0);
        live.knocked(1_000, 900_000, 0);
        live.dropped(3);
        live.reset(1_000_000);
        assert_eq!(live.contention_metric(), 0.0);
        assert_eq!(live.snapshot().knocks, 0);
        assert_eq!(live.snapshot().dropped_samples, 3);
        live.knocked(1_001_000, 100, 0);
        assert_eq!(live.window_ns_total(), 1_100);
        assert!(live.contention_metric() < 0.1);
    }

    #[test]
    fn snapshot_percentiles_within_histogram_precision() {
        let mut live = Live::new(1_000_000, 5_000);
        for i in 1..=1000 {
            live.knocked(i * 1_000_000, i * 1_000, 0);
        }
        let s = live.snapshot();
        assert_eq!(s.knocks, 1000);
        let (q, p50) = s.wait_ns_quantiles[0];
        assert_eq!(q, 0.5);
        assert!((p50 as f64 - 500_000.0).abs() <= 500.0, "{p50}");
        assert_eq!(s.wait_ns_mean, 500_500.0);
        assert!((s.wait_ns_max as f64 - 1e6).abs() <= 1e3);
    }
}
