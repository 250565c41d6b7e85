//! The busy-fraction estimator, shared by the recorder's live metrics and the analyzer so that
//! both report the same number for the same samples.
//!
//! Knocks form a Poisson process (exponential intervals) whose mean interval `interval_ns` may
//! change over time, but only as a function of what earlier knocks found (the recorder knocks
//! less often while the GIL stays free). Each knock samples the GIL's state at one instant and
//! stands for `interval_ns` of time; for such a process Σ state(tᵢ)·intervalᵢ estimates
//! ∫ state(t) dt without bias. A knock that waits `w` also covers its wait: the GIL was busy all
//! that time, except for the part after the holder let go: the hand-off, the knocker waking
//! up ([`WaitDetail::free_ns`]; docs/accuracy.md). Busy fraction = busy time / all time: the fraction of time a thread asking for
//! the GIL at a random instant would have had to wait. A knock counts as busy when its wait
//! exceeds the threshold stored in the trace. "Slots" below are time in units of the
//! estimator's nominal interval.

/// Wait at or above which a request counts as "waited at least 1 ms" (the time-weighted figure).
pub const LONG_WAIT_NS: i64 = 1_000_000;

/// What is known about a knock's wait besides its length: the trace's `blocked`, `runnable_ns`
/// and `handoff_ns` columns (`schema::column`), all None for short knocks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WaitDetail {
    /// Did a long knock block on the GIL (true) or was its thread preempted (false)?
    pub blocked: Option<bool>,
    /// How long the knocker thread was runnable but not running during the wait.
    pub runnable_ns: Option<i64>,
    /// The recorder's estimate of the hand-off: the wait after the holder let go.
    pub handoff_ns: Option<i64>,
}

impl WaitDetail {
    /// The part of the wait during which the GIL was free: the measured runnable time plus the
    /// estimated hand-off. The two are the two parts of the stretch at the end of a busy wait
    /// when the knocker was woken but not yet running: the time it queued for a CPU (which
    /// the scheduler counts), and the wake-up of an idle CPU (which no counter shows; the
    /// recorder estimates it from its own sleeps, less their run delay). None when neither is
    /// known.
    pub fn free_ns(&self) -> Option<i64> {
        match (self.runnable_ns, self.handoff_ns) {
            (Some(r), Some(h)) => Some(r.max(0) + h.max(0)),
            (r, h) => r.or(h),
        }
    }
}

/// Streaming estimator; merge partial estimators computed on different threads with [`merge`].
///
/// [`merge`]: BusyEstimator::merge
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BusyEstimator {
    interval_ns: f64,
    threshold_ns: i64,
    /// Knocks seen.
    pub knocks: u64,
    /// Knocks that found the GIL busy.
    pub busy_knocks: u64,
    /// All slots: one per knock plus those that fell due during its wait.
    pub slots: f64,
    /// Slots that found the GIL busy.
    pub busy_slots: f64,
    /// Slots at which a request would have waited at least [`LONG_WAIT_NS`].
    pub long_wait_slots: f64,
    /// Long knocks that did not block on the GIL (the knocker was preempted).
    pub preempted_knocks: u64,
    /// Waiting that was not for the GIL, in ns: preempted knocks' whole waits plus the free
    /// part of the others ([`WaitDetail::free_ns`]). Left out of wait-based figures such as
    /// gilknocker 0.4.2's contention metric.
    pub not_gil_wait_ns: f64,
}

impl BusyEstimator {
    pub fn new(interval_ns: i64, threshold_ns: i64) -> Self {
        BusyEstimator {
            interval_ns: interval_ns.max(1) as f64,
            threshold_ns,
            knocks: 0,
            busy_knocks: 0,
            slots: 0.0,
            busy_slots: 0.0,
            long_wait_slots: 0.0,
            preempted_knocks: 0,
            not_gil_wait_ns: 0.0,
        }
    }

    /// Add a knock scheduled at the nominal interval.
    #[inline]
    pub fn add(&mut self, wait_ns: i64) {
        self.add_with_interval(wait_ns, self.interval_ns as i64);
    }

    /// Add a knock scheduled with mean interval `interval_ns`.
    #[inline]
    pub fn add_with_interval(&mut self, wait_ns: i64, interval_ns: i64) {
        self.add_knock(wait_ns, interval_ns, None);
    }

    /// Add a knock, knowing whether a long one blocked on the GIL (`blocked`, see
    /// `schema::column::BLOCKED`). A long knock that did not block was the knocker thread being
    /// preempted: when it ran again it took the GIL at once, so it found the GIL free; its
    /// wait says nothing about the GIL and is left out.
    #[inline]
    pub fn add_knock(&mut self, wait_ns: i64, interval_ns: i64, blocked: Option<bool>) {
        let detail = WaitDetail {
            blocked,
            ..WaitDetail::default()
        };
        self.add_knock_detail(wait_ns, interval_ns, &detail);
    }

    /// Add a knock with everything known about its wait. The free part of a busy knock's wait
    /// ([`WaitDetail::free_ns`]: the hand-off after the holder let go, or a preemption) counts
    /// as time, but not as busy time: a request arriving then would have found the GIL free.
    #[inline]
    pub fn add_knock_detail(&mut self, wait_ns: i64, interval_ns: i64, detail: &WaitDetail) {
        let own = interval_ns.max(1) as f64 / self.interval_ns;
        let wait = wait_ns.max(0);
        self.knocks += 1;
        if self.is_preempted(wait, detail.blocked) {
            self.preempted_knocks += 1;
            self.not_gil_wait_ns += wait as f64;
            self.slots += own;
            return;
        }
        self.slots += own + wait as f64 / self.interval_ns;
        if wait > self.threshold_ns {
            let gil_wait = gil_wait_ns(wait, detail.free_ns());
            self.not_gil_wait_ns += (wait - gil_wait) as f64;
            self.busy_knocks += 1;
            self.busy_slots += own + gil_wait as f64 / self.interval_ns;
            if gil_wait >= LONG_WAIT_NS {
                self.long_wait_slots += own + (gil_wait - LONG_WAIT_NS) as f64 / self.interval_ns;
            }
        }
    }

    /// A long knock that did not block on the GIL: the knocker thread was preempted, and the
    /// GIL was free when it ran again.
    #[inline]
    pub fn is_preempted(&self, wait_ns: i64, blocked: Option<bool>) -> bool {
        blocked == Some(false) && wait_ns > self.threshold_ns
    }

    /// What a request arriving with this knock waited for the GIL: 0 for a preempted knock
    /// (it found the GIL free), otherwise the wait minus its free part (see [`gil_wait_ns`]).
    /// Live metrics and the analyzer build request waits from this.
    pub fn request_wait_ns(&self, wait_ns: i64, detail: &WaitDetail) -> i64 {
        if self.is_preempted(wait_ns, detail.blocked) {
            0
        } else {
            gil_wait_ns(wait_ns, detail.free_ns())
        }
    }

    pub fn merge(&mut self, other: &BusyEstimator) {
        self.knocks += other.knocks;
        self.busy_knocks += other.busy_knocks;
        self.slots += other.slots;
        self.busy_slots += other.busy_slots;
        self.long_wait_slots += other.long_wait_slots;
        self.preempted_knocks += other.preempted_knocks;
        self.not_gil_wait_ns += other.not_gil_wait_ns;
    }

    /// Estimated fraction of time the GIL was busy (NaN without knocks).
    pub fn busy_fraction(&self) -> f64 {
        if self.knocks == 0 {
            return f64::NAN;
        }
        self.busy_slots / self.slots
    }

    /// Estimated fraction of time a request would have waited at least 1 ms.
    pub fn long_wait_fraction(&self) -> f64 {
        if self.knocks == 0 {
            return f64::NAN;
        }
        self.long_wait_slots / self.slots
    }

    /// Approximate 95% confidence interval of [`Self::busy_fraction`]: a Wilson score interval
    /// with the number of knocks as the number of independent observations (slots covered by
    /// one wait are not independent, so counting knocks, not slots, is the conservative choice).
    pub fn busy_fraction_ci95(&self) -> (f64, f64) {
        wilson_interval(self.busy_fraction(), self.knocks as f64, 1.96)
    }
}

/// The part of a knock's wait spent waiting for the GIL: the wait minus its free part
/// ([`WaitDetail::free_ns`]; unknown: the whole wait).
#[inline]
pub fn gil_wait_ns(wait_ns: i64, free_ns: Option<i64>) -> i64 {
    let wait = wait_ns.max(0);
    match free_ns {
        Some(r) => (wait - r.max(0)).max(0),
        None => wait,
    }
}

/// Request-weighted waits are counted in units of 1/`REQUEST_WEIGHT_SCALE` nominal slot.
pub const REQUEST_WEIGHT_SCALE: f64 = 64.0;
/// At most this many points spread a long wait's covered requests.
const REQUEST_SPREAD_POINTS: u64 = 32;

/// The waits that requests for the GIL at uniformly random instants would have seen, as
/// weighted points: the knock itself (weight: its interval) waited `wait_ns`; a request that
/// arrived `u` into that wait would have waited `wait_ns - u`, so the wait's own time is spread
/// uniformly over (0, wait_ns]. Weights are integer counts in units of 1/REQUEST_WEIGHT_SCALE
/// of `nominal_interval_ns`, ready for a histogram. A knock's own wait is what the knocker
/// saw; this distribution is what a thread asking at a random moment sees (docs/accuracy.md).
pub fn request_waits(
    wait_ns: i64,
    interval_ns: i64,
    nominal_interval_ns: i64,
    mut emit: impl FnMut(u64, u64),
) {
    let nominal = nominal_interval_ns.max(1) as f64;
    let wait = wait_ns.max(0) as u64;
    let own = (interval_ns.max(1) as f64 / nominal * REQUEST_WEIGHT_SCALE).round() as u64;
    emit(wait, own.max(1));
    let spread = wait as f64 / nominal * REQUEST_WEIGHT_SCALE;
    if spread < 0.5 {
        return;
    }
    let points = (spread.ceil() as u64).clamp(1, REQUEST_SPREAD_POINTS);
    let per_point = (spread / points as f64).round().max(1.0) as u64;
    for j in 0..points {
        // Midpoints of `points` equal slices of (0, wait].
        let value = (wait as f64 * (j as f64 + 0.5) / points as f64) as u64;
        emit(value, per_point);
    }
}

/// Wilson score interval for a proportion `p` observed over `n` trials.
pub fn wilson_interval(p: f64, n: f64, z: f64) -> (f64, f64) {
    if n <= 0.0 || !p.is_finite() {
        return (f64::NAN, f64::NAN);
    }
    let z2 = z * z;
    let denom = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denom;
    let half = z * ((p * (1.0 - p) / n) + z2 / (4.0 * n * n)).sqrt() / denom;
    // At p = 0 or 1 the bound equals p only up to rounding (1 - 1e-16): keep p inside.
    (
        (centre - half).clamp(0.0, 1.0).min(p),
        (centre + half).clamp(0.0, 1.0).max(p),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_gil_reads_zero_and_held_gil_reads_one() {
        let mut free = BusyEstimator::new(1_000_000, 5_000);
        (0..1000).for_each(|_| free.add(200));
        assert_eq!(free.busy_fraction(), 0.0);
        let mut held = BusyEstimator::new(1_000_000, 5_000);
        (0..1000).for_each(|_| held.add(5_000_000));
        assert_eq!(held.busy_fraction(), 1.0);
        // A request arriving in the last millisecond of a 5 ms wait waits less than 1 ms.
        assert!((held.long_wait_fraction() - 5.0 / 6.0).abs() < 1e-12);
    }

    #[test]
    fn waits_count_the_slots_they_cover() {
        // Half the time held in 10 ms chunks, knocks every 1 ms: each busy period is met by
        // one knock that waits ~5 ms on average and covers ~5 slots; the other 5 ms are 5 free
        // knocks. Two busy knocks with waits 9 ms and 1 ms cover 10 + 2 = 12 slots.
        let mut e = BusyEstimator::new(1_000_000, 5_000);
        e.add(9_000_000);
        e.add(1_000_000);
        (0..12).for_each(|_| e.add(100));
        let expected = 12.0 / (12.0 + 12.0 + 12.0 * 100.0 / 1e6);
        assert!((e.busy_fraction() - expected).abs() < 1e-12);
        let (lo, hi) = e.busy_fraction_ci95();
        assert!(lo < expected && expected < hi);
    }

    #[test]
    fn knocks_at_a_longer_interval_stand_for_more_time() {
        // 10 free knocks at the idle interval (10x nominal) and 100 busy knocks at nominal
        // that each waited nothing extra: busy = 100 / (100 + 10 * 10) = 0.5.
        let mut e = BusyEstimator::new(1_000_000, 5_000);
        (0..10).for_each(|_| e.add_with_interval(100, 10_000_000));
        (0..100).for_each(|_| e.add_with_interval(6_000, 1_000_000));
        assert!(
            (e.busy_fraction() - 0.5).abs() < 0.01,
            "{}",
            e.busy_fraction()
        );
    }

    #[test]
    fn a_preempted_knock_counts_as_free_and_its_wait_is_left_out() {
        let mut e = BusyEstimator::new(1_000_000, 5_000);
        e.add_knock(3_000_000, 1_000_000, Some(false)); // preempted for 3 ms
        e.add_knock(3_000_000, 1_000_000, Some(true)); // waited 3 ms for the GIL
        e.add_knock(100, 1_000_000, None);
        assert_eq!(e.preempted_knocks, 1);
        assert_eq!(e.not_gil_wait_ns, 3_000_000.0);
        assert_eq!(e.busy_knocks, 1);
        // busy: 1 + 3 slots; all: 1 (preempted) + 4 + 1.0001
        assert!((e.busy_fraction() - 4.0 / 6.0001).abs() < 1e-9);
    }

    #[test]
    fn the_runnable_part_of_a_wait_is_time_but_not_busy_time() {
        // Two busy knocks of 3 ms, one of which spent 1 ms runnable after the holder let go
        // (or preempted mid-wait), plus one free knock.
        let mut e = BusyEstimator::new(1_000_000, 5_000);
        let runnable = |r: i64| WaitDetail {
            blocked: Some(true),
            runnable_ns: Some(r),
            handoff_ns: None,
        };
        e.add_knock_detail(3_000_000, 1_000_000, &runnable(1_000_000));
        e.add_knock_detail(3_000_000, 1_000_000, &runnable(0));
        e.add_knock_detail(100, 1_000_000, &WaitDetail::default());
        assert_eq!(e.busy_knocks, 2);
        assert_eq!(e.not_gil_wait_ns, 1_000_000.0);
        // busy: (1 + 2) + (1 + 3) slots; all: 4 + 4 + 1.0001
        assert!((e.busy_fraction() - 7.0 / 9.0001).abs() < 1e-9);
        // Without the column the same knocks read as before: every long wait busy.
        let mut old = BusyEstimator::new(1_000_000, 5_000);
        old.add_knock(3_000_000, 1_000_000, Some(true));
        old.add_knock(3_000_000, 1_000_000, Some(true));
        old.add_knock(100, 1_000_000, None);
        assert!((old.busy_fraction() - 8.0 / 9.0001).abs() < 1e-9);
        // The runnable time can never make the busy part negative.
        assert_eq!(gil_wait_ns(2_000, Some(5_000)), 0);
        assert_eq!(gil_wait_ns(-3, None), 0);
    }

    #[test]
    fn the_free_part_is_runnable_time_plus_the_estimated_wake_up() {
        let detail = |runnable_ns, handoff_ns| WaitDetail {
            blocked: Some(true),
            runnable_ns,
            handoff_ns,
        };
        assert_eq!(detail(None, None).free_ns(), None);
        assert_eq!(detail(Some(30_000), None).free_ns(), Some(30_000));
        assert_eq!(detail(None, Some(80_000)).free_ns(), Some(80_000));
        assert_eq!(detail(Some(30_000), Some(80_000)).free_ns(), Some(110_000));
        // A 1 ms busy wait whose last 100 µs were the hand-off (10 µs queued for a CPU, 90 µs
        // waking the CPU): 0.9 ms busy, 0.1 ms free.
        let mut e = BusyEstimator::new(1_000_000, 5_000);
        e.add_knock_detail(1_000_000, 1_000_000, &detail(Some(10_000), Some(90_000)));
        assert_eq!(e.not_gil_wait_ns, 100_000.0);
        assert!((e.busy_fraction() - 1.9 / 2.0).abs() < 1e-12);
        assert_eq!(
            e.request_wait_ns(1_000_000, &detail(None, Some(100_000))),
            900_000
        );
        // A preempted knock found the GIL free whatever its detail says.
        let preempted = WaitDetail {
            blocked: Some(false),
            ..detail(None, Some(100_000))
        };
        assert_eq!(e.request_wait_ns(1_000_000, &preempted), 0);
    }

    #[test]
    fn request_waits_spread_a_long_wait_uniformly() {
        let mut points = Vec::new();
        request_waits(4_000_000, 1_000_000, 1_000_000, |v, c| points.push((v, c)));
        let total: u64 = points.iter().map(|p| p.1).sum();
        // One slot for the knock itself plus four slots of spread, in 1/64 units.
        assert_eq!(total, 64 * 5);
        assert_eq!(points[0], (4_000_000, 64));
        let spread = &points[1..];
        assert!(spread.iter().all(|&(v, _)| v > 0 && v < 4_000_000));
        let mean = spread
            .iter()
            .map(|&(v, c)| v as f64 * c as f64)
            .sum::<f64>()
            / spread.iter().map(|&(_, c)| c as f64).sum::<f64>();
        assert!((mean - 2_000_000.0).abs() < 1_000.0, "{mean}");
        // A free knock is one point: its own wait.
        let mut free = Vec::new();
        request_waits(150, 1_000_000, 1_000_000, |v, c| free.push((v, c)));
        assert_eq!(free, vec![(150, 64)]);
    }

    #[test]
    fn the_interval_always_contains_the_estimate() {
        for n in [1.0, 7.0, 21.0, 1000.0] {
            for p in [0.0, 1.0, 0.5, 1.0 - 1e-12] {
                let (lo, hi) = wilson_interval(p, n, 1.96);
                assert!(
                    0.0 <= lo && lo <= p && p <= hi && hi <= 1.0,
                    "{p} {n}: {lo} {hi}"
                );
            }
        }
    }

    #[test]
    fn merge_equals_sequential() {
        let waits = [1, 10_000, 3_000_000, 50, 7_000_000];
        let mut all = BusyEstimator::new(500_000, 5_000);
        waits.iter().for_each(|&w| all.add(w));
        let mut a = BusyEstimator::new(500_000, 5_000);
        let mut b = BusyEstimator::new(500_000, 5_000);
        waits[..2].iter().for_each(|&w| a.add(w));
        waits[2..].iter().for_each(|&w| b.add(w));
        a.merge(&b);
        assert_eq!(a.knocks, all.knocks);
        assert!((a.busy_fraction() - all.busy_fraction()).abs() < 1e-12);
    }
}
