//! Live statistics, updated by the knocker thread on every knock and read by Python at any time.

use std::collections::VecDeque;

use gilknocker_trace::estimate::{request_waits, BusyEstimator};
use gilknocker_trace::RunCounters;

use crate::schedule::Knock;
use hdrhistogram::Histogram;

/// Waits are recorded in nanoseconds, 3 significant digits (0.1% error), up to an hour.
const HISTOGRAM_MAX_NS: u64 = 3_600_000_000_000;
/// Live (windowed) figures are kept in buckets of this length...
pub const LIVE_BUCKET_NS: i64 = 100_000_000;
/// ...for this long (the longest window a reader can ask for).
pub const LIVE_HISTORY_NS: i64 = 600_000_000_000;

/// Busy and total slots of one live bucket (see `gilknocker_trace::estimate`).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Bucket {
    index: i64,
    busy_slots: f64,
    slots: f64,
}

/// Figures for services, never reset: a windowed busy fraction and monotonic counters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LiveFigures {
    /// Busy fraction over the window, counting a knock still waiting; in [0, 1].
    pub busy_fraction: f64,
    /// Total GIL wait since start, seconds (monotonic; includes a wait in progress).
    pub wait_seconds_total: f64,
    /// Knocks since start (monotonic).
    pub knocks_total: u64,
    /// The window actually covered (shorter right after start).
    pub window_s: f64,
}

#[derive(Debug, Clone)]
pub struct Live {
    /// Per-knock waits.
    pub histogram: Histogram<u64>,
    /// Waits a request at a uniformly random instant would have seen (see
    /// `gilknocker_trace::estimate::request_waits`).
    pub request_histogram: Histogram<u64>,
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
    /// Never reset (for rate()-style scraping).
    wait_ns_monotonic: u64,
    /// The largest total wait reported so far. A report counts a knock still waiting by the
    /// time elapsed since it began; that knock then adds its measured wait, which ends a
    /// little earlier (it got the GIL before the report read the clock), and between its
    /// release and its bookkeeping neither is counted. Reports never go below this, so the
    /// counter never decreases.
    wait_ns_reported: f64,
    knocks_monotonic: u64,
    buckets: VecDeque<Bucket>,
    started_ns: Option<i64>,
}

/// A consistent copy of the live statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub knocks: u64,
    pub dropped_samples: u64,
    pub skipped_busy_slots: u64,
    pub missed_late_slots: u64,
    /// Long knocks that did not block on the GIL (the knocker thread was preempted).
    pub preempted_knocks: u64,
    pub late_ns_max: u64,
    pub late_ns_mean: f64,
    pub wait_ns_mean: f64,
    pub wait_ns_max: u64,
    pub wait_ns_min: u64,
    /// (quantile, wait_ns) for 0.5, 0.9, 0.99, 0.999.
    pub wait_ns_quantiles: [(f64, u64); 4],
    /// The same quantiles of the request-weighted distribution.
    pub request_wait_ns_quantiles: [(f64, u64); 4],
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
            request_histogram: Histogram::new_with_bounds(1, HISTOGRAM_MAX_NS, 3)
                .expect("valid histogram bounds"),
            estimator: BusyEstimator::new(interval_ns, threshold_ns),
            counters: RunCounters::default(),
            closed_window_ns: 0,
            open_window_start: None,
            last_knock_end: 0,
            first_knock_start: None,
            interval_ns,
            threshold_ns,
            wait_ns_monotonic: 0,
            wait_ns_reported: 0.0,
            knocks_monotonic: 0,
            buckets: VecDeque::new(),
            started_ns: None,
        }
    }

    pub fn knocked(&mut self, knock: &Knock) {
        let Knock {
            start_ns,
            wait_ns,
            late_ns,
            interval_ns,
            detail,
        } = *knock;
        let blocked = detail.blocked;
        let wait = wait_ns.max(0) as u64;
        self.histogram.saturating_record(wait.max(1));
        // A preempted knock found the GIL free, and the hand-off at the end of a wait (the
        // knocker woken but not yet running) was not spent waiting for the GIL.
        let gil_wait_ns = self.estimator.request_wait_ns(wait_ns, &detail);
        let requests = &mut self.request_histogram;
        request_waits(
            gil_wait_ns,
            interval_ns,
            self.interval_ns,
            |value, count| {
                let _ = requests.record_n(value.clamp(1, HISTOGRAM_MAX_NS), count);
            },
        );
        self.estimator
            .add_knock_detail(wait_ns, interval_ns, &detail);
        let c = &mut self.counters;
        c.knocks += 1;
        c.wait_ns_total += wait;
        let late = late_ns.max(0) as u64;
        c.late_ns_total += late;
        c.late_ns_max = c.late_ns_max.max(late);
        self.last_knock_end = start_ns + wait_ns;
        self.first_knock_start.get_or_insert(start_ns);
        self.wait_ns_monotonic += wait;
        self.knocks_monotonic += 1;
        // The knock's own slot belongs to its start; the slots its wait covered belong to the
        // buckets the wait spans (a 30 s pin must show in the last 10 s window).
        let preempted = self.estimator.is_preempted(wait_ns, blocked);
        let busy = wait_ns > self.threshold_ns && !preempted;
        self.add_to_bucket(start_ns, interval_ns as f64 / self.interval_ns as f64, busy);
        // The GIL wait is busy time; the rest of the wait (the hand-off) is free time; a
        // preempted knock's wait is neither (as in the shared estimator).
        let busy_end = start_ns + gil_wait_ns.max(0);
        let end = if preempted {
            start_ns
        } else {
            start_ns + wait_ns.max(0)
        };
        let oldest_kept = end - LIVE_HISTORY_NS;
        let mut from = start_ns.max(oldest_kept);
        while from < end {
            let boundary = if from < busy_end { busy_end } else { end };
            let to = ((from.div_euclid(LIVE_BUCKET_NS) + 1) * LIVE_BUCKET_NS).min(boundary);
            let slots = (to - from) as f64 / self.interval_ns as f64;
            self.add_to_bucket(from, slots, busy && from < busy_end);
            from = to;
        }
        let index = end.div_euclid(LIVE_BUCKET_NS);
        let oldest = index - LIVE_HISTORY_NS / LIVE_BUCKET_NS;
        while self.buckets.front().is_some_and(|b| b.index < oldest) {
            self.buckets.pop_front();
        }
    }

    fn add_to_bucket(&mut self, at_ns: i64, slots: f64, busy: bool) {
        let index = at_ns.div_euclid(LIVE_BUCKET_NS);
        let busy_slots = if busy { slots } else { 0.0 };
        match self.buckets.back_mut() {
            Some(last) if last.index == index => {
                last.busy_slots += busy_slots;
                last.slots += slots;
            }
            // Knocks arrive in time order, so an older index cannot follow a newer one.
            _ => self.buckets.push_back(Bucket {
                index,
                busy_slots,
                slots,
            }),
        }
    }

    /// Note when knocking began (the live window never reaches back before it).
    pub fn started(&mut self, now_ns: i64) {
        self.started_ns.get_or_insert(now_ns);
    }

    /// Windowed busy fraction and monotonic counters at `now_ns`, counting a knock that has
    /// been waiting since `waiting_since_ns` (if any) as busy time and as wait.
    pub fn live(
        &mut self,
        now_ns: i64,
        window_ns: i64,
        waiting_since_ns: Option<i64>,
    ) -> LiveFigures {
        let window_ns = window_ns.clamp(LIVE_BUCKET_NS, LIVE_HISTORY_NS);
        let from = now_ns - window_ns;
        let first_bucket = from.div_euclid(LIVE_BUCKET_NS);
        let (mut busy, mut slots) = (0.0, 0.0);
        for b in self
            .buckets
            .iter()
            .rev()
            .take_while(|b| b.index >= first_bucket)
        {
            busy += b.busy_slots;
            slots += b.slots;
        }
        let mut wait_ns_total = self.wait_ns_monotonic as f64;
        if let Some(since) = waiting_since_ns {
            let waiting = (now_ns - since).max(0);
            wait_ns_total += waiting as f64;
            if waiting > self.threshold_ns {
                // Only the part inside the window counts for the window.
                let inside = (now_ns - since.max(from)).max(0) as f64 / self.interval_ns as f64;
                busy += inside;
                slots += inside;
            }
        }
        let wait_ns_total = wait_ns_total.max(self.wait_ns_reported);
        self.wait_ns_reported = wait_ns_total;
        let covered_from = self.started_ns.map_or(from, |s| s.max(from));
        LiveFigures {
            busy_fraction: if slots > 0.0 {
                (busy / slots).clamp(0.0, 1.0)
            } else {
                0.0
            },
            wait_seconds_total: wait_ns_total * 1e-9,
            knocks_total: self.knocks_monotonic,
            window_s: (now_ns - covered_from).max(0) as f64 * 1e-9,
        }
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

    /// gilknocker 0.4.2's metric: total GIL wait / total sampling time, since start or reset.
    pub fn contention_metric(&self) -> f64 {
        let window = self.window_ns_total();
        if window == 0 {
            return 0.0;
        }
        // Only GIL waits: a knock whose thread was preempted did not wait for the GIL.
        let gil_wait =
            (self.counters.wait_ns_total as f64 - self.estimator.not_gil_wait_ns).max(0.0);
        (gil_wait / window as f64).min(1.0)
    }

    /// Forget everything measured so far (a window in progress restarts at `now_ns`).
    pub fn reset(&mut self, now_ns: i64) {
        let open = self.open_window_start.map(|_| now_ns);
        let fresh = Live::new(self.interval_ns, self.threshold_ns);
        // Drops concern the trace file, which a reset does not rewind; the live figures for
        // services are monotonic and windowed, so a reset leaves them alone too.
        let dropped = self.counters.dropped_samples;
        let buckets = std::mem::take(&mut self.buckets);
        let (wait, reported, knocks, started) = (
            self.wait_ns_monotonic,
            self.wait_ns_reported,
            self.knocks_monotonic,
            self.started_ns,
        );
        *self = fresh;
        self.open_window_start = open;
        self.last_knock_end = now_ns;
        self.counters.dropped_samples = dropped;
        self.buckets = buckets;
        self.wait_ns_monotonic = wait;
        self.wait_ns_reported = reported;
        self.knocks_monotonic = knocks;
        self.started_ns = started;
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
            preempted_knocks: self.estimator.preempted_knocks,
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
            request_wait_ns_quantiles: [0.5, 0.9, 0.99, 0.999].map(|quantile| {
                let r = &self.request_histogram;
                (
                    quantile,
                    if r.is_empty() {
                        0
                    } else {
                        r.value_at_quantile(quantile)
                    },
                )
            }),
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
    use gilknocker_trace::WaitDetail;

    /// A knock that began at `start_ns`, waited `wait_ns` and stands for `interval_ns`.
    fn knock(start_ns: i64, wait_ns: i64, interval_ns: i64) -> Knock {
        Knock {
            start_ns,
            wait_ns,
            interval_ns,
            ..Knock::default()
        }
    }

    #[test]
    fn contention_metric_is_wait_over_window_time() {
        let mut live = Live::new(1_000, 5_000);
        live.window_opened(0);
        live.knocked(&knock(1_000, 500, 1_000));
        live.knocked(&knock(2_000, 1_500, 1_000));
        live.window_closed(0, 4_000);
        assert_eq!(live.window_ns_total(), 4_000);
        assert_eq!(live.contention_metric(), 2_000.0 / 4_000.0);
        live.window_opened(10_000);
        live.knocked(&knock(11_000, 0, 1_000));
        // Open window counts up to the last knock's end: 4000 + 1000.
        assert_eq!(live.window_ns_total(), 5_000);
    }

    #[test]
    fn preempted_knocks_do_not_count_as_gil_wait() {
        let mut live = Live::new(1_000, 5_000);
        live.window_opened(0);
        live.knocked(&Knock {
            detail: WaitDetail {
                blocked: Some(false),
                ..WaitDetail::default()
            },
            ..knock(1_000, 2_000_000, 1_000)
        }); // the knocker was preempted
        live.knocked(&Knock {
            detail: WaitDetail {
                blocked: Some(true),
                ..WaitDetail::default()
            },
            ..knock(3_000_000, 1_000_000, 1_000)
        }); // a real GIL wait
        live.window_closed(0, 4_000_000);
        assert_eq!(live.contention_metric(), 1_000_000.0 / 4_000_000.0);
        assert_eq!(live.snapshot().preempted_knocks, 1);
    }

    #[test]
    fn the_hand_off_part_of_a_wait_is_free_in_the_live_window_and_the_total() {
        const S: i64 = 1_000_000_000;
        let mut live = Live::new(1_000_000, 5_000);
        live.started(0);
        // Every knock waits 6 ms, the last 3 ms of it the hand-off (1 ms runnable, 2 ms the
        // estimated wake-up): with the knock's own 1 ms slot, 4 ms of every 7 are busy.
        for i in 0..1_000 {
            live.knocked(&Knock {
                detail: WaitDetail {
                    blocked: Some(true),
                    runnable_ns: Some(1_000_000),
                    handoff_ns: Some(2_000_000),
                },
                ..knock(i * 7_000_000, 6_000_000, 1_000_000)
            });
        }
        let window = live.live(7 * S, 7 * S, None);
        assert!(
            (window.busy_fraction - 4.0 / 7.0).abs() < 0.01,
            "{window:?}"
        );
        assert!((live.snapshot().busy_fraction - 4.0 / 7.0).abs() < 1e-9);
    }

    #[test]
    fn reset_forgets_waits_but_not_drops() {
        let mut live = Live::new(1_000, 5_000);
        live.window_opened(0);
        live.knocked(&knock(1_000, 900_000, 1_000));
        live.dropped(3);
        live.reset(1_000_000);
        assert_eq!(live.contention_metric(), 0.0);
        assert_eq!(live.snapshot().knocks, 0);
        assert_eq!(live.snapshot().dropped_samples, 3);
        live.knocked(&knock(1_001_000, 100, 1_000));
        assert_eq!(live.window_ns_total(), 1_100);
        assert!(live.contention_metric() < 0.1);
    }

    #[test]
    fn live_window_counts_recent_slots_and_a_wait_in_progress() {
        const S: i64 = 1_000_000_000;
        let mut live = Live::new(1_000_000, 5_000);
        live.started(0);
        // First 10 s: free. Next 10 s: every knock waits 5 ms (busy).
        for i in 0..10_000 {
            live.knocked(&knock(i * 1_000_000, 100, 1_000_000));
        }
        for i in 0..1_667 {
            live.knocked(&knock(10 * S + i * 6_000_000, 5_000_000, 1_000_000));
        }
        let last10 = live.live(20 * S, 10 * S, None);
        assert!(last10.busy_fraction > 0.99, "{last10:?}");
        let all = live.live(20 * S, 20 * S, None);
        assert!((all.busy_fraction - 0.5).abs() < 0.01, "{all:?}");
        assert_eq!(all.knocks_total, 11_667);
        assert!((all.wait_seconds_total - (1e-6 + 1_667.0 * 5e-3)).abs() < 1e-3);
        // The GIL is now pinned: a knock has waited 30 s and has not returned.
        let pinned = live.live(50 * S, 10 * S, Some(20 * S));
        assert_eq!(pinned.busy_fraction, 1.0);
        assert!(pinned.wait_seconds_total > all.wait_seconds_total + 29.9);
        // Resetting the 0.4.2-style metric leaves the service figures alone.
        live.reset(50 * S);
        assert_eq!(live.live(50 * S, 20 * S, None).knocks_total, 11_667);
    }

    /// Prometheus counters must never decrease. A report reads the clock after a waiting knock
    /// got the GIL but before it was booked: it counts more wait than the knock then books,
    /// and a report between the knock's release and its booking counts neither.
    #[test]
    fn the_total_wait_never_decreases_across_a_knock_that_ends() {
        const WINDOW: i64 = 1_000_000_000;
        let mut live = Live::new(1_000_000, 5_000);
        live.started(0);
        let during = live.live(3_000_000, WINDOW, Some(1_000_000));
        assert!((during.wait_seconds_total - 2e-3).abs() < 1e-9);
        let between = live.live(3_000_100, WINDOW, None);
        live.knocked(&knock(1_000_000, 1_990_000, 1_000_000));
        let after = live.live(3_000_200, WINDOW, None);
        assert!(between.wait_seconds_total >= during.wait_seconds_total);
        assert!(after.wait_seconds_total >= between.wait_seconds_total);
        // Later waits count in full again.
        live.knocked(&knock(4_000_000, 7_000_000, 1_000_000));
        let later = live.live(20_000_000, WINDOW, None);
        assert!(
            (later.wait_seconds_total - 8.99e-3).abs() < 1e-9,
            "{later:?}"
        );
    }

    #[test]
    fn live_busy_fraction_never_exceeds_one() {
        let mut live = Live::new(1_000, 0);
        live.started(0);
        for i in 0..100 {
            live.knocked(&knock(i * 10_000, 50_000_000, 1_000));
        }
        let f = live.live(2_000_000_000, 10_000_000_000, Some(1_000_000_000));
        assert!(f.busy_fraction <= 1.0 && f.busy_fraction > 0.99);
    }

    #[test]
    fn snapshot_percentiles_within_histogram_precision() {
        let mut live = Live::new(1_000_000, 5_000);
        for i in 1..=1000 {
            live.knocked(&knock(i * 1_000_000, i * 1_000, 1_000_000));
        }
        let s = live.snapshot();
        assert_eq!(s.knocks, 1000);
        let (q, p50) = s.wait_ns_quantiles[0];
        assert_eq!(q, 0.5);
        assert!((p50 as f64 - 500_000.0).abs() <= 500.0, "{p50}");
        assert_eq!(s.wait_ns_mean, 500_500.0);
        // A request at a random instant meets a wait part-way through: its median is lower
        // than the knocks' own, but within the range.
        let (_, request_p50) = s.request_wait_ns_quantiles[0];
        assert!(
            request_p50 > 0 && request_p50 < p50,
            "{request_p50} vs {p50}"
        );
        assert!((s.wait_ns_max as f64 - 1e6).abs() <= 1e3);
    }
}
