//! The knock loop, written against a [`Clock`] and a [`Probe`] so that scheduling, lateness,
//! window accounting and drop accounting are tested exactly, on a fake clock, without sleeping.

use std::sync::atomic::{AtomicBool, Ordering};

use gilknocker_trace::{ScheduleInfo, ScheduleKind, WaitDetail};

use crate::wake::WakeLatency;

/// Monotonic time and sleeping.
pub trait Clock {
    /// Monotonic nanoseconds.
    fn now_ns(&self) -> i64;
    /// Sleep until `deadline_ns` or until woken (a stop request); may return early.
    fn sleep_until(&mut self, deadline_ns: i64);
}

/// Something to knock on: the GIL, or a fake.
pub trait Probe {
    /// Take the GIL; the knock began at `start_ns` (monotonic). Returns false when the
    /// interpreter is shutting down: the loop must end at once, without releasing.
    fn acquire(&mut self, start_ns: i64) -> bool;
    /// Give the GIL back.
    fn release(&mut self);
    /// Called with the GIL held, outside the measured interval (used to issue warnings).
    fn while_held(&mut self) {}
    /// Called before each knock's start timestamp (outside the measured interval); `fast` is
    /// true at the polling interval, false at the idle pace.
    fn prepare(&mut self, _fast: bool) {}
    /// After a knock that waited longer than the busy threshold: did it block waiting for the
    /// GIL (true), or was the thread preempted (false)? None when the platform cannot tell.
    fn blocked(&mut self) -> Option<bool> {
        None
    }
    /// After a knock that waited longer than the busy threshold: how long this thread was
    /// runnable but not running during it (woken after the holder let go, or preempted).
    /// None when the platform cannot tell.
    fn runnable_ns(&mut self) -> Option<i64> {
        None
    }
    /// This thread's total runnable-but-not-running time as read by the last `prepare`, or
    /// None when it did not read it (the idle pace, or a platform that cannot tell).
    fn runnable_total_ns(&self) -> Option<i64> {
        None
    }
}

/// One knock, as the loop measured it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Knock {
    /// When it began (monotonic ns).
    pub start_ns: i64,
    /// How long taking the GIL took.
    pub wait_ns: i64,
    /// How long after its due time it began.
    pub late_ns: i64,
    /// The mean interval its due time was drawn with (it stands for that much time).
    pub interval_ns: i64,
    /// Long knocks (None for short ones): whether it blocked on the GIL (`Probe::blocked`),
    /// how long the thread was runnable but not running (`Probe::runnable_ns`), and the
    /// estimated wake-up part of the hand-off (`crate::wake`), as the trace and estimator
    /// take them.
    pub detail: WaitDetail,
}

/// Where each sample goes. Must never block.
pub trait Recorder {
    /// A knock is about to begin (before the GIL is requested).
    fn knock_starting(&mut self) {}
    /// A knock ended (the GIL was taken and given back).
    fn knocked(&mut self, knock: &Knock);
    /// Slots that fell due while the previous knock waited (busy) or while the knocker thread
    /// was late (missed).
    fn skipped(&mut self, busy: u64, missed: u64);
    /// A sampling window closed after `length_ns`.
    fn window_closed(&mut self, start_ns: i64, end_ns: i64);
    /// A sampling window opened.
    fn window_opened(&mut self, start_ns: i64);
}

/// The schedule as the loop uses it (nanoseconds).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    pub kind: ScheduleKind,
    pub polling_ns: i64,
    pub sampling_ns: i64,
    pub sleeping_ns: i64,
    pub jitter: bool,
    /// Continuous schedule: slow to this mean interval once no knock has found the GIL busy
    /// for `idle_after_ns` (a knock costs a thread wake-up, ~20 µs of CPU on a VM: knocking
    /// fast only while there is something to see keeps an idle program's cost low).
    pub idle_ns: Option<i64>,
    pub idle_after_ns: i64,
    /// Waits above this found the GIL busy (they keep the knocker at the polling interval).
    pub busy_threshold_ns: i64,
}

impl Schedule {
    pub fn info(&self) -> ScheduleInfo {
        let windowed = self.kind == ScheduleKind::Windowed;
        ScheduleInfo {
            kind: self.kind,
            polling_interval_ns: self.polling_ns,
            sampling_interval_ns: windowed.then_some(self.sampling_ns),
            sleeping_interval_ns: windowed.then_some(self.sleeping_ns),
            jitter: self.jitter,
        }
    }
}

/// Draws intervals: fixed, or exponential with the given mean (a Poisson process of knocks
/// samples time uniformly, so it cannot lock onto a periodic workload).
pub struct Intervals {
    jitter: bool,
    rng: fastrand::Rng,
}

impl Intervals {
    pub fn new(jitter: bool, seed: u64) -> Self {
        Intervals {
            jitter,
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    pub fn draw(&mut self, mean_ns: i64) -> i64 {
        if !self.jitter {
            return mean_ns;
        }
        // Inverse transform; 1 - u is in (0, 1] so the log is finite. Cap at 20 means so a
        // freak draw cannot stall the knocker.
        let u = 1.0 - self.rng.f64();
        let draw = -u.ln() * mean_ns as f64;
        (draw.min(20.0 * mean_ns as f64) as i64).max(1)
    }
}

/// Run the knock loop until `stop` is set or the probe reports interpreter shutdown.
/// Returns true when it ended because of `stop`.
pub fn knock_loop<C: Clock, P: Probe, R: Recorder>(
    schedule: &Schedule,
    intervals: &mut Intervals,
    clock: &mut C,
    probe: &mut P,
    recorder: &mut R,
    stop: &AtomicBool,
) -> bool {
    let windowed = schedule.kind == ScheduleKind::Windowed;
    let mut window_start = clock.now_ns();
    let mut window_end = if windowed {
        window_start + schedule.sampling_ns
    } else {
        i64::MAX
    };
    recorder.window_opened(window_start);
    // Start fast; slow down once the GIL has stayed free for `idle_after_ns`.
    let mut last_busy = window_start;
    let mean_after = |last_busy: i64, now: i64| match schedule.idle_ns {
        Some(idle) if !windowed && now - last_busy > schedule.idle_after_ns => idle,
        _ => schedule.polling_ns,
    };
    let mut mean = schedule.polling_ns;
    let mut due = window_start + intervals.draw(mean);
    // How late this thread wakes from sleeps: to wake that much early, and to estimate busy
    // knocks' hand-offs.
    let mut wake = WakeLatency::default();
    // The thread's total run delay at the last reading, plus the run delay of the knock since.
    let mut runnable_mark: Option<i64> = None;
    loop {
        // Sleep toward the due time; re-check the stop flag after every wake-up. Aim early by
        // the wake-up latency expected for a sleep this long, so that the knock begins at its
        // due time: the knock samples the GIL when it begins, and a knock that always began
        // ~30-60 µs late would count the start of every hold that began in that gap as busy,
        // while the end of a hold is mostly covered by a waiting knock (the estimate read
        // +0.01 to +0.02 high on 50% duty at 1-2 ms, crate::wake).
        let mut slept_from: Option<(i64, i64)> = None;
        let mut woke = None;
        loop {
            if stop.load(Ordering::Acquire) {
                recorder.window_closed(window_start, clock.now_ns().max(window_start));
                return true;
            }
            let now = clock.now_ns();
            let (from, wake_at) = *slept_from.get_or_insert_with(|| {
                let lead = wake.latency_ns(due - now).unwrap_or(0);
                (now, due - lead.clamp(0, (due - now).max(0)))
            });
            if now >= wake_at {
                if now > from {
                    woke = Some((now - from, now - wake_at));
                }
                break;
            }
            clock.sleep_until(wake_at);
        }
        probe.prepare(mean == schedule.polling_ns);
        if let Some((slept, late)) = woke {
            // The part of the lateness spent runnable (another thread had the CPU) is measured
            // per knock (`runnable_ns`); keep only the rest, the wake-up itself. The run delay
            // since the last knock's reading, less that knock's own, is the sleep's.
            let queued = match (probe.runnable_total_ns(), runnable_mark) {
                (Some(now), Some(before)) => (now - before).max(0),
                _ => 0,
            };
            wake.observe(slept, (late - queued).max(0));
        }
        runnable_mark = probe.runnable_total_ns();
        recorder.knock_starting();
        let start = clock.now_ns();
        if !probe.acquire(start) {
            recorder.window_closed(window_start, start.max(window_start));
            return false;
        }
        let acquired = clock.now_ns();
        probe.while_held();
        probe.release();
        let wait = acquired - start;
        let long = wait > schedule.busy_threshold_ns;
        let detail = if long {
            // Part of the wait (the probe's reading brackets the knock a little wider).
            let blocked = probe.blocked();
            let measured = probe.runnable_ns();
            // Run delay the next sleep's reading must not count as its own.
            if let (Some(mark), Some(r)) = (runnable_mark.as_mut(), measured) {
                *mark += r;
            }
            let runnable = measured.map(|r| r.clamp(0, wait));
            let rest = wait - runnable.unwrap_or(0);
            WaitDetail {
                blocked,
                runnable_ns: runnable,
                handoff_ns: wake.latency_ns(wait).map(|h| h.clamp(0, rest)),
            }
        } else {
            WaitDetail::default()
        };
        recorder.knocked(&Knock {
            start_ns: start,
            wait_ns: wait,
            late_ns: start - due,
            interval_ns: mean,
            detail,
        });
        // A preempted knock did not find the GIL busy: it does not keep the fast pace.
        if long && detail.blocked != Some(false) {
            last_busy = acquired;
        }
        // The interval depends only on what knocks found so far: the estimate stays unbiased
        // when each knock stands for its own interval (gilknocker_trace::estimate).
        mean = mean_after(last_busy, acquired);

        // Next due time: keep the grid (do not drift), skipping the slots that passed while
        // this knock was late (missed) or waiting for the GIL (busy).
        let mut next = due + intervals.draw(mean);
        let (mut busy, mut missed) = (0u64, 0u64);
        while next <= acquired {
            if next <= start {
                missed += 1;
            } else {
                busy += 1;
            }
            next += intervals.draw(mean);
        }
        if busy + missed > 0 {
            recorder.skipped(busy, missed);
        }
        due = next;
        if due >= window_end {
            // The window is over (nominally at its end, or when an overlong wait ended).
            let end = acquired.max(window_end);
            recorder.window_closed(window_start, end);
            due = end + intervals.draw(schedule.sleeping_ns);
            loop {
                if stop.load(Ordering::Acquire) {
                    return true;
                }
                if clock.now_ns() >= due {
                    break;
                }
                clock.sleep_until(due);
            }
            // The next window opens when its first knock is due.
            window_start = clock.now_ns();
            window_end = window_start + schedule.sampling_ns;
            recorder.window_opened(window_start);
            due = window_start;
            last_busy = window_start;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;

    /// A clock that only moves when slept on or when the probe says a wait happened.
    #[derive(Clone)]
    struct FakeClock {
        now: Rc<Cell<i64>>,
        /// Extra delay added to every wake-up (timer lateness).
        wake_late_ns: i64,
    }
    impl Clock for FakeClock {
        fn now_ns(&self) -> i64 {
            self.now.get()
        }
        fn sleep_until(&mut self, deadline_ns: i64) {
            self.now
                .set(deadline_ns.max(self.now.get()) + self.wake_late_ns);
        }
    }

    /// Scripted waits; stops the loop after the script runs out.
    struct FakeProbe {
        now: Rc<Cell<i64>>,
        waits: Vec<i64>,
        next: usize,
        stop: Rc<AtomicBool>,
        finalizing_after: Option<usize>,
        /// Knock indexes whose long wait was a preemption.
        preempted: Vec<usize>,
        /// What the loop said at the last `prepare`.
        fast: bool,
        /// The thread's total run delay: `queued_per_sleep` per sleep plus long knocks' own.
        run_delay: i64,
        queued_per_sleep: i64,
    }
    impl Probe for FakeProbe {
        fn acquire(&mut self, _start_ns: i64) -> bool {
            if self.finalizing_after == Some(self.next) {
                return false;
            }
            let wait = self.waits[self.next];
            self.now.set(self.now.get() + wait);
            self.next += 1;
            if self.next == self.waits.len() {
                self.stop.store(true, Ordering::Release);
            }
            true
        }
        fn release(&mut self) {}
        fn blocked(&mut self) -> Option<bool> {
            Some(!self.preempted.contains(&(self.next - 1)))
        }
        fn prepare(&mut self, fast: bool) {
            self.fast = fast;
            if fast {
                self.run_delay += self.queued_per_sleep;
            }
        }
        /// A tenth of each long wait was spent runnable (waking up); like the real probe,
        /// only measured at the fast pace.
        fn runnable_ns(&mut self) -> Option<i64> {
            let r = self.fast.then(|| self.waits[self.next - 1] / 10)?;
            self.run_delay += r;
            Some(r)
        }
        fn runnable_total_ns(&self) -> Option<i64> {
            self.fast.then_some(self.run_delay)
        }
    }

    #[derive(Default, Debug, PartialEq)]
    struct Log {
        knocks: Vec<(i64, i64, i64)>,
        intervals: Vec<i64>,
        blocked: Vec<Option<bool>>,
        runnable: Vec<Option<i64>>,
        handoff: Vec<Option<i64>>,
        busy: u64,
        missed: u64,
        windows: Vec<(i64, i64)>,
        opened: Vec<i64>,
    }
    impl Recorder for Log {
        fn knocked(&mut self, knock: &Knock) {
            self.knocks
                .push((knock.start_ns, knock.wait_ns, knock.late_ns));
            self.intervals.push(knock.interval_ns);
            self.blocked.push(knock.detail.blocked);
            self.runnable.push(knock.detail.runnable_ns);
            self.handoff.push(knock.detail.handoff_ns);
        }
        fn skipped(&mut self, busy: u64, missed: u64) {
            self.busy += busy;
            self.missed += missed;
        }
        fn window_closed(&mut self, start_ns: i64, end_ns: i64) {
            self.windows.push((start_ns, end_ns));
        }
        fn window_opened(&mut self, start_ns: i64) {
            self.opened.push(start_ns);
        }
    }

    fn run(schedule: Schedule, waits: Vec<i64>, wake_late_ns: i64) -> (Log, bool) {
        run_with(schedule, waits, wake_late_ns, None)
    }

    fn run_with(
        schedule: Schedule,
        waits: Vec<i64>,
        wake_late_ns: i64,
        finalizing_after: Option<usize>,
    ) -> (Log, bool) {
        run_full(schedule, waits, wake_late_ns, finalizing_after, Vec::new())
    }

    fn run_full(
        schedule: Schedule,
        waits: Vec<i64>,
        wake_late_ns: i64,
        finalizing_after: Option<usize>,
        preempted: Vec<usize>,
    ) -> (Log, bool) {
        run_queued(
            schedule,
            waits,
            wake_late_ns,
            finalizing_after,
            preempted,
            0,
        )
    }

    /// As `run_full`, and every sleep's lateness includes `queued_per_sleep` of run delay.
    fn run_queued(
        schedule: Schedule,
        waits: Vec<i64>,
        wake_late_ns: i64,
        finalizing_after: Option<usize>,
        preempted: Vec<usize>,
        queued_per_sleep: i64,
    ) -> (Log, bool) {
        let now = Rc::new(Cell::new(1_000));
        let stop = Rc::new(AtomicBool::new(false));
        let mut clock = FakeClock {
            now: now.clone(),
            wake_late_ns,
        };
        let mut probe = FakeProbe {
            now,
            waits,
            next: 0,
            stop: stop.clone(),
            finalizing_after,
            preempted,
            fast: false,
            run_delay: 0,
            queued_per_sleep,
        };
        let mut log = Log::default();
        let mut intervals = Intervals::new(schedule.jitter, 7);
        let stopped = knock_loop(
            &schedule,
            &mut intervals,
            &mut clock,
            &mut probe,
            &mut log,
            &stop,
        );
        (log, stopped)
    }

    fn continuous(polling_ns: i64) -> Schedule {
        Schedule {
            kind: ScheduleKind::Continuous,
            polling_ns,
            sampling_ns: 0,
            sleeping_ns: 0,
            jitter: false,
            idle_ns: None,
            idle_after_ns: 0,
            busy_threshold_ns: 5_000,
        }
    }

    #[test]
    fn the_knocker_slows_down_while_the_gil_stays_free_and_speeds_up_when_busy() {
        let schedule = Schedule {
            idle_ns: Some(1_000),
            idle_after_ns: 250,
            busy_threshold_ns: 50,
            ..continuous(100)
        };
        // Free knocks until idle, then one busy knock, then free again.
        let waits = vec![0, 0, 0, 0, 0, 60, 0, 0, 0, 0, 0];
        let (log, _) = run(schedule, waits, 0);
        let starts: Vec<i64> = log.knocks.iter().map(|k| k.0).collect();
        // 100 ns steps until 250 ns have passed with a free GIL (after the knock at 1300), then
        // 1000 ns; the busy knock (60 ns at 4300) brings back 100 ns steps until 250 ns pass
        // without another (after the knock at 4700).
        assert_eq!(
            starts,
            vec![1100, 1200, 1300, 2300, 3300, 4300, 4400, 4500, 4600, 4700, 5700]
        );
        // Each knock carries the mean its due time was drawn with.
        assert_eq!(
            log.intervals,
            vec![100, 100, 100, 1000, 1000, 1000, 100, 100, 100, 100, 1000]
        );
    }

    #[test]
    fn continuous_knocks_on_a_fixed_grid() {
        let (log, stopped) = run(continuous(100), vec![10, 10, 10], 0);
        assert!(stopped);
        // Knocks at 1100, 1200, 1300: waits do not shift the grid.
        assert_eq!(
            log.knocks,
            vec![(1100, 10, 0), (1200, 10, 0), (1300, 10, 0)]
        );
        assert_eq!((log.busy, log.missed), (0, 0));
        assert_eq!(log.windows, vec![(1000, 1310)]);
    }

    #[test]
    fn long_waits_skip_busy_slots_without_drifting() {
        // The second knock waits 350 ns: slots at 1300, 1400, 1500 fall inside its wait.
        let (log, _) = run(continuous(100), vec![0, 350, 0], 0);
        assert_eq!(log.knocks, vec![(1100, 0, 0), (1200, 350, 0), (1600, 0, 0)]);
        assert_eq!((log.busy, log.missed), (3, 0));
    }

    #[test]
    fn late_wakeups_are_recorded_as_lateness_and_missed_slots() {
        // Every wake-up is 250 ns late: slots that passed while asleep are missed, not busy.
        let (log, _) = run(continuous(100), vec![0, 0], 250);
        assert_eq!(log.knocks, vec![(1350, 0, 250), (1650, 0, 250)]);
        assert_eq!((log.busy, log.missed), (0, 4));
    }

    #[test]
    fn once_it_knows_how_late_it_wakes_the_knocker_wakes_that_much_early() {
        // Every wake-up is 30 ns late. The first five knocks begin 30 ns after their due time;
        // from then on the knocker aims 30 ns early and begins on time.
        let (log, _) = run(continuous(100), vec![0; 8], 30);
        let late: Vec<i64> = log.knocks.iter().map(|k| k.2).collect();
        assert_eq!(late, vec![30, 30, 30, 30, 30, 0, 0, 0]);
        let starts: Vec<i64> = log.knocks.iter().map(|k| k.0).collect();
        assert_eq!(&starts[4..], &[1530, 1600, 1700, 1800]);
    }

    #[test]
    fn long_knocks_ask_whether_they_blocked_and_preemption_does_not_keep_the_pace() {
        let schedule = Schedule {
            idle_ns: Some(1_000),
            idle_after_ns: 250,
            busy_threshold_ns: 50,
            ..continuous(100)
        };
        // Knock 3 (index 2) waits 60 ns but was preempted: the knocker still slows down after
        // 250 ns without a busy knock, as if it had been free.
        let waits = vec![0, 0, 60, 0, 0, 0];
        let (log, _) = run_full(schedule, waits, 0, None, vec![2]);
        assert_eq!(log.blocked, vec![None, None, Some(false), None, None, None]);
        // Only long knocks ask how long the thread was runnable (the fake says a tenth).
        assert_eq!(log.runnable, vec![None, None, Some(6), None, None, None]);
        assert_eq!(log.intervals, vec![100, 100, 100, 1000, 1000, 1000]);
        // A long knock at the idle pace: the probe is told it is not fast, and measures no
        // runnable time then.
        let (log, _) = run_full(schedule, vec![0, 0, 60, 0, 0, 0, 70], 0, None, vec![2]);
        assert_eq!(log.intervals[6], 1000);
        assert_eq!(log.blocked[6], Some(true));
        assert_eq!(log.runnable[6], None);
        // Had it blocked, the pace would have stayed fast for 250 ns after it.
        let (log, _) = run_full(schedule, vec![0, 0, 60, 0, 0, 0], 0, None, vec![]);
        assert_eq!(log.blocked[2], Some(true));
        assert_eq!(log.intervals, vec![100; 6]);
    }

    #[test]
    fn busy_knocks_carry_a_hand_off_estimated_from_how_late_the_knocker_woke() {
        // Every sleep ends 30 ns late. The first knocks have no estimate yet (too few sleeps
        // measured); once enough are, each long knock's hand-off is that lateness, and short
        // knocks have none.
        let schedule = Schedule {
            busy_threshold_ns: 50,
            ..continuous(100)
        };
        let waits = vec![0, 80, 0, 0, 0, 0, 80, 10, 20];
        let (log, _) = run(schedule, waits, 30);
        let n = None;
        let h = Some(30);
        assert_eq!(log.handoff, vec![n, n, n, n, n, n, h, n, n]);
        // Never more than the wait less its runnable part (the fake: a tenth).
        let (log, _) = run(schedule, vec![0, 0, 0, 0, 0, 0, 60], 90);
        assert_eq!(log.runnable[6], Some(6));
        assert_eq!(log.handoff[6], Some(54));
    }

    #[test]
    fn run_delay_during_sleeps_is_not_taken_for_wake_up_latency() {
        // Every sleep ends 30 ns late, 20 of them queued for the CPU (measured run delay): the
        // wake-up itself is 10 ns. The knocker learns 10 (so it aims 10 early and still begins
        // 20 late: the run delay is not predictable), and a long knock's hand-off is the 10
        // beyond its own measured run delay.
        let schedule = Schedule {
            busy_threshold_ns: 50,
            ..continuous(100)
        };
        let waits = vec![0, 0, 0, 0, 0, 0, 0, 80];
        let (log, _) = run_queued(schedule, waits, 30, None, vec![], 20);
        let late: Vec<i64> = log.knocks.iter().map(|k| k.2).collect();
        // (The first sleep has no earlier reading to subtract: its 30 counts until the trimmed
        // mean leaves it out, from the sixth sleep on.)
        assert_eq!(late, vec![30, 30, 30, 30, 30, 16, 20, 20]);
        assert_eq!(log.runnable[7], Some(8));
        assert_eq!(log.handoff[7], Some(10));
    }

    #[test]
    fn windowed_schedule_knocks_in_windows_and_sleeps_between() {
        let schedule = Schedule {
            kind: ScheduleKind::Windowed,
            polling_ns: 100,
            sampling_ns: 300,
            sleeping_ns: 1_000,
            jitter: false,
            idle_ns: None,
            idle_after_ns: 0,
            busy_threshold_ns: 5_000,
        };
        let (log, _) = run(schedule, vec![5; 5], 0);
        // Window 1 opens at 1000: knocks at 1100, 1200; the next due (1300) closes it.
        // Sleep 1000 ns from 1300 to 2300; window 2 knocks at once, then every 100 ns.
        let starts: Vec<i64> = log.knocks.iter().map(|k| k.0).collect();
        assert_eq!(starts, vec![1100, 1200, 2300, 2400, 2500]);
        assert_eq!(log.opened, vec![1000, 2300]);
        assert_eq!(log.windows, vec![(1000, 1300), (2300, 2600)]);
    }

    #[test]
    fn interpreter_shutdown_ends_the_loop_without_release() {
        let (log, stopped) = run_with(continuous(100), vec![1, 1, 1, 1], 0, Some(2));
        assert!(!stopped);
        assert_eq!(log.knocks.len(), 2);
    }

    #[test]
    fn jittered_intervals_have_the_requested_mean() {
        let mut intervals = Intervals::new(true, 42);
        let n = 200_000;
        let total: i64 = (0..n).map(|_| intervals.draw(1_000_000)).sum();
        let mean = total as f64 / n as f64;
        // Exponential, capped at 20 means (removes e^-20 of the mass): mean within 1%.
        assert!((mean - 1e6).abs() < 1e4, "mean {mean}");
        let mut fixed = Intervals::new(false, 42);
        assert_eq!(fixed.draw(1234), 1234);
    }
}
