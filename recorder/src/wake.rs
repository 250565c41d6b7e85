//! How long this machine takes to wake the knocker thread, learnt from its own sleeps, to
//! estimate each busy knock's hand-off.
//!
//! A knock that waits for a busy GIL learns that the GIL is free only when CPython wakes it
//! after the holder let go. That wake-up (the hand-off) is not busy time, but nothing the
//! knocker can read tells its length: the scheduler's `run_delay` covers only the part spent
//! runnable on a run queue, not the time an idle (virtual) CPU takes to come out of its sleep,
//! which on a VM is most of it (25-170 µs, longer after longer sleeps).
//!
//! The knocker's timed sleeps go through the same path: the thread sleeps, the CPU idles, an
//! interrupt wakes both. How late a sleep ends past its deadline (timer slack is set to 1 ns)
//! is that wake-up latency, measured for free on every knock. Measured with a C program on
//! this project's VMs, the median lateness of a timed sleep and the median latency of a
//! condition-variable wake-up after the same idle time agree within a few µs at 1, 10 and 30
//! ms (57/56, 92/87, 125/128 µs), and both grow with the time slept. So the recorder keeps the
//! recent lateness of its sleeps by how long they were, less the time the thread queued for a
//! CPU meanwhile (measured, like a knock's own `runnable_ns`, at the fast pace), and estimates
//! the wake-up part of a busy knock's hand-off as the mean lateness of sleeps about as long as
//! the knock's wait. The knock loop also uses it to wake that much before a knock's due time.

/// Sleeps and waits are grouped by length in powers of two from 2^MIN_LOG2 ns (16 µs) to
/// 2^MAX_LOG2 ns (134 ms); shorter or longer ones go to the first or last group.
const MIN_LOG2: u32 = 14;
const MAX_LOG2: u32 = 27;
const GROUPS: usize = (MAX_LOG2 - MIN_LOG2 + 1) as usize;
/// Recent sleeps kept per group.
const KEEP: usize = 15;
/// A group gives an estimate once it holds this many sleeps.
const ENOUGH: usize = 5;

/// Recent wake-up lateness by sleep length.
#[derive(Debug, Clone)]
pub struct WakeLatency {
    recent: [[i64; KEEP]; GROUPS],
    /// Sleeps recorded per group (saturating); the next slot is `count % KEEP`.
    count: [usize; GROUPS],
}

impl Default for WakeLatency {
    fn default() -> Self {
        WakeLatency {
            recent: [[0; KEEP]; GROUPS],
            count: [0; GROUPS],
        }
    }
}

fn group(length_ns: i64) -> usize {
    let length = length_ns.max(1) as u64;
    let log2 = 63 - length.leading_zeros();
    (log2.clamp(MIN_LOG2, MAX_LOG2) - MIN_LOG2) as usize
}

impl WakeLatency {
    /// A sleep of `slept_ns` ended `late_ns` after its deadline.
    pub fn observe(&mut self, slept_ns: i64, late_ns: i64) {
        if slept_ns <= 0 || late_ns < 0 {
            return;
        }
        let g = group(slept_ns);
        self.recent[g][self.count[g] % KEEP] = late_ns;
        self.count[g] = self.count[g].saturating_add(1);
    }

    /// Mean of the group's recent values without the largest sixth: a knock pays the mean
    /// wake-up latency (a median would sit ~5-20 µs low on these skewed latencies), but not a
    /// rare preemption that lasted milliseconds.
    fn trimmed_mean(&self, g: usize) -> Option<i64> {
        let n = self.count[g].min(KEEP);
        if n < ENOUGH {
            return None;
        }
        let mut values = self.recent[g];
        let values = &mut values[..n];
        values.sort_unstable();
        let kept = &values[..n - n / 6];
        Some(kept.iter().sum::<i64>() / kept.len() as i64)
    }

    /// The expected wake-up latency after sleeping (or waiting for the GIL) `length_ns`: the
    /// (trimmed) mean lateness of recent sleeps of about that length, else of the nearest group that
    /// has enough of them (shorter first: lateness grows with the sleep, so a shorter group
    /// errs low). None before any group has enough sleeps. For a busy knock's wait this is
    /// the estimated hand-off.
    pub fn latency_ns(&self, length_ns: i64) -> Option<i64> {
        let g = group(length_ns) as isize;
        (0..GROUPS as isize)
            .flat_map(|d| [g - d, g + d])
            .filter(|&i| (0..GROUPS as isize).contains(&i))
            .find_map(|i| self.trimmed_mean(i as usize))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_estimate_before_enough_sleeps() {
        let mut w = WakeLatency::default();
        assert_eq!(w.latency_ns(1_000_000), None);
        for _ in 0..ENOUGH - 1 {
            w.observe(1_000_000, 50_000);
        }
        assert_eq!(w.latency_ns(1_000_000), None);
        w.observe(1_000_000, 50_000);
        assert_eq!(w.latency_ns(1_000_000), Some(50_000));
    }

    #[test]
    fn the_estimate_is_the_mean_of_recent_sleeps_of_about_the_wait_length() {
        let mut w = WakeLatency::default();
        // 2 ms sleeps wake 40 µs late on average, with one outlier (a preemption) that is left
        // out; 20 ms sleeps 120 µs late.
        for late in [30_000, 50_000, 35_000, 45_000, 2_000_000, 40_000, 40_000] {
            w.observe(2_000_000, late);
        }
        for late in [110_000, 130_000, 120_000, 115_000, 125_000] {
            w.observe(20_000_000, late);
        }
        assert_eq!(w.latency_ns(2_500_000), Some(40_000));
        assert_eq!(w.latency_ns(24_000_000), Some(120_000));
        // Nearest group with data, shorter first: 5 ms and 10 ms waits both lie between.
        assert_eq!(w.latency_ns(5_000_000), Some(40_000));
        assert_eq!(w.latency_ns(60_000_000), Some(120_000));
        assert_eq!(w.latency_ns(1), Some(40_000));
    }

    #[test]
    fn old_sleeps_are_forgotten() {
        let mut w = WakeLatency::default();
        for _ in 0..KEEP {
            w.observe(1_000_000, 200_000);
        }
        for _ in 0..KEEP {
            w.observe(1_000_000, 30_000);
        }
        assert_eq!(w.latency_ns(1_000_000), Some(30_000));
    }

    #[test]
    fn nonsense_is_ignored() {
        let mut w = WakeLatency::default();
        for _ in 0..KEEP {
            w.observe(0, 50_000);
            w.observe(1_000_000, -5);
        }
        assert_eq!(w.latency_ns(1_000_000), None);
    }
}
