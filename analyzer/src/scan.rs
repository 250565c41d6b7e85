//! Streaming aggregation of a trace: every row group ("unit") is decoded on its own, on all
//! cores, folded into small accumulators and dropped, so memory stays bounded by
//! (threads x one row group) whatever the trace's size.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use gilknocker_trace::estimate::{request_waits, BusyEstimator, WaitDetail};
use gilknocker_trace::{RunMetadata, SampleColumns, TraceReader};
use hdrhistogram::Histogram;

use crate::error::{AnalyzeError, Result};
use crate::progress::Progress;

/// A wait longer than this is not a measurement but a broken clock or a corrupt file.
pub const MAX_PLAUSIBLE_WAIT_NS: i64 = 30 * 24 * 3600 * 1_000_000_000;
/// Significant digits of the HDR histograms: values are reported within 0.1%.
pub const HDR_SIGNIFICANT_DIGITS: u8 = 3;

/// A fresh HDR histogram covering 0 ns up to [`MAX_PLAUSIBLE_WAIT_NS`].
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_PLAUSIBLE_WAIT_NS as u64, HDR_SIGNIFICANT_DIGITS)
        .expect("constant histogram bounds are valid")
}

/// Exact moments plus an HDR histogram of waits.
#[derive(Debug, Clone)]
pub struct WaitAccumulator {
    pub count: u64,
    pub min_ns: i64,
    pub max_ns: i64,
    /// Exact sum (i128 cannot overflow for any i64 values we accept).
    pub sum_ns: i128,
    /// Sum of squares for the variance used by Welch's test (f64 is precise enough for that).
    pub sum_sq_ns: f64,
    pub histogram: Histogram<u64>,
}

impl Default for WaitAccumulator {
    fn default() -> Self {
        WaitAccumulator {
            count: 0,
            min_ns: i64::MAX,
            max_ns: i64::MIN,
            sum_ns: 0,
            sum_sq_ns: 0.0,
            histogram: new_histogram(),
        }
    }
}

impl WaitAccumulator {
    /// Add waits already checked to lie in `0..=MAX_PLAUSIBLE_WAIT_NS`.
    pub fn add_all(&mut self, waits: &[i64]) {
        let mut sum: i128 = 0;
        let mut sum_sq = 0.0f64;
        let (mut min, mut max) = (self.min_ns, self.max_ns);
        for &wait in waits {
            sum += i128::from(wait);
            let w = wait as f64;
            sum_sq += w * w;
            min = min.min(wait);
            max = max.max(wait);
            self.histogram.saturating_record(wait as u64);
        }
        self.count += waits.len() as u64;
        self.sum_ns += sum;
        self.sum_sq_ns += sum_sq;
        self.min_ns = min;
        self.max_ns = max;
    }

    pub fn merge(&mut self, other: &WaitAccumulator) {
        self.count += other.count;
        self.min_ns = self.min_ns.min(other.min_ns);
        self.max_ns = self.max_ns.max(other.max_ns);
        self.sum_ns += other.sum_ns;
        self.sum_sq_ns += other.sum_sq_ns;
        // Same bounds on both sides: adding cannot fail.
        let _ = self.histogram.add(&other.histogram);
    }

    pub fn mean_ns(&self) -> f64 {
        if self.count == 0 {
            return f64::NAN;
        }
        self.sum_ns as f64 / self.count as f64
    }

    /// Sample variance (n - 1 denominator).
    pub fn variance_ns2(&self) -> f64 {
        if self.count < 2 {
            return f64::NAN;
        }
        let n = self.count as f64;
        let mean = self.mean_ns();
        ((self.sum_sq_ns - n * mean * mean) / (n - 1.0)).max(0.0)
    }

    /// Quantile from the histogram, clamped to the exact min and max (the histogram reports the
    /// highest value equivalent to the bucket, within 0.1%).
    pub fn quantile_ns(&self, quantile: f64) -> i64 {
        if self.count == 0 {
            return 0;
        }
        let value = self.histogram.value_at_quantile(quantile) as i64;
        value.clamp(self.min_ns, self.max_ns)
    }
}

/// The waits that requests for the GIL at uniformly random instants would have seen (see
/// [`gilknocker_trace::estimate::request_waits`]): an HDR histogram whose counts are time, in
/// units of 1/[`gilknocker_trace::estimate::REQUEST_WEIGHT_SCALE`] of `nominal_interval_ns`.
///
/// Built in two steps, for speed: while streaming, [`Self::add`] records each knock's own point
/// (its wait, weighted by its interval); once the trace is read, [`Self::add_spread`] adds the
/// time that waits covered, spread over shorter waits, from the per-knock wait histogram: one
/// `request_waits` call per histogram bucket instead of up to 32 points per knock (this halves
/// the time of `summary`). A wait is spread from its bucket's value, within 0.1% of it.
#[derive(Debug, Clone)]
pub struct RequestWaitAccumulator {
    /// The unit of the histogram's counts (the trace's polling interval), nanoseconds.
    pub nominal_interval_ns: i64,
    /// Longest request wait: the longest knock wait (a request arriving when that knock did).
    pub max_ns: i64,
    pub histogram: Histogram<u64>,
    /// The request waits of the knocks themselves (one count per knock), from which
    /// [`Self::add_spread`] adds the time each wait covered.
    spread: Histogram<u64>,
    /// Knocks folded in.
    pub knocks: u64,
    /// Sum over knocks of the slots each stands for (its interval plus its wait, in nominal
    /// intervals), and the sum of their squares: Kish's effective sample size of the weighted
    /// distribution is `slots² / slots_sq` (see [`Self::effective_knocks`]).
    pub slots: f64,
    pub slots_sq: f64,
    /// The last interval seen and its weight (intervals take one or two values for long
    /// stretches).
    cached_interval: (i64, u64),
}

impl RequestWaitAccumulator {
    pub fn new(nominal_interval_ns: i64) -> Self {
        RequestWaitAccumulator {
            nominal_interval_ns: nominal_interval_ns.max(1),
            max_ns: i64::MIN,
            histogram: new_histogram(),
            spread: new_histogram(),
            knocks: 0,
            slots: 0.0,
            slots_sq: 0.0,
            cached_interval: (0, 0),
        }
    }

    /// Add one knock's own point: `wait_ns` is what a request arriving with it waited
    /// (`BusyEstimator::request_wait_ns`, within `0..=MAX_PLAUSIBLE_WAIT_NS`); the time its
    /// wait covered is added later by [`Self::add_spread`].
    #[inline]
    pub fn add(&mut self, wait_ns: i64, interval_ns: i64) {
        self.spread.saturating_record(wait_ns.max(0) as u64);
        if self.cached_interval.0 != interval_ns {
            // A knock that waited nothing is exactly its own point: ask the trace crate for
            // the weight rather than repeating its formula.
            let mut weight = 0;
            request_waits(0, interval_ns, self.nominal_interval_ns, |_, count| {
                weight += count
            });
            self.cached_interval = (interval_ns, weight);
        }
        self.histogram
            .saturating_record_n(wait_ns.max(0) as u64, self.cached_interval.1);
        self.max_ns = self.max_ns.max(wait_ns);
        self.knocks += 1;
        let nominal = self.nominal_interval_ns as f64;
        let slots = (interval_ns.max(1) as f64 + wait_ns.max(0) as f64) / nominal;
        self.slots += slots;
        self.slots_sq += slots * slots;
    }

    /// Add the time covered by the waits of every knock added. Call once, after all knocks
    /// are added.
    pub fn add_spread(&mut self) {
        let nominal = self.nominal_interval_ns;
        for bucket in self.spread.iter_recorded() {
            let wait = bucket.value_iterated_to();
            let knocks = bucket.count_at_value();
            request_waits(wait as i64, nominal, nominal, |value, count| {
                // The spread lies strictly below the wait; the point at the wait itself is the
                // knock's own, already recorded with its real interval.
                if value < wait {
                    self.histogram
                        .saturating_record_n(value, count.saturating_mul(knocks));
                }
            });
        }
    }

    /// Merge `other`, converting its counts to this accumulator's unit when the two traces had
    /// different polling intervals, so that the merged distribution weights every trace by time.
    pub fn merge(&mut self, other: &RequestWaitAccumulator) {
        self.max_ns = self.max_ns.max(other.max_ns);
        self.knocks += other.knocks;
        let factor = other.nominal_interval_ns as f64 / self.nominal_interval_ns as f64;
        self.slots += other.slots * factor;
        self.slots_sq += other.slots_sq * factor * factor;
        // Knock counts, not time: no conversion.
        let _ = self.spread.add(&other.spread);
        if other.nominal_interval_ns == self.nominal_interval_ns {
            // Same bounds on both sides: adding cannot fail.
            let _ = self.histogram.add(&other.histogram);
            return;
        }
        for value in other.histogram.iter_recorded() {
            let count = (value.count_at_value() as f64 * factor).round().max(1.0) as u64;
            self.histogram
                .saturating_record_n(value.value_iterated_to(), count);
        }
    }

    /// Quantile of the request waits, clamped to the longest knock wait (the histogram reports
    /// the highest value equivalent to a bucket, within 0.1%).
    pub fn quantile_ns(&self, quantile: f64) -> i64 {
        if self.histogram.is_empty() {
            return 0;
        }
        let value = self.histogram.value_at_quantile(quantile) as i64;
        value.clamp(0, self.max_ns.max(0))
    }

    /// Kish's effective sample size, treating each knock as one observation weighted by the
    /// slots it stands for: (Σ slots)² / Σ slots². Equal to the number of knocks when all
    /// weights are equal, smaller when a few long waits carry much of the time.
    pub fn effective_knocks(&self) -> f64 {
        if self.slots_sq <= 0.0 {
            return 0.0;
        }
        self.slots * self.slots / self.slots_sq
    }
}

/// Which label a group of knocks ran under. The derived order (named labels by name, then no
/// label, then the overflow) is the order of groups in reports.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LabelKey {
    /// Knocks that began under this label.
    Named(String),
    /// Knocks that began outside any label.
    Unlabelled,
    /// Knocks of the labels beyond [`MAX_LABEL_GROUPS`] (a trace with that many distinct labels
    /// was probably labelled by request id; each label costs two histograms of memory).
    Other,
}

/// Distinct labels reported per trace; the knocks of the rest (fewest knocks first) are summed
/// in [`LabelKey::Other`].
pub const MAX_LABEL_GROUPS: usize = 64;
/// Distinct labels one reader thread keeps apart before it folds new ones into
/// [`LabelKey::Other`]: bounds memory (two ~350 KB histograms per label) for hostile traces.
/// Only a trace with more labels than this can see which labels are folded vary between runs.
pub const MAX_LABELS_PER_THREAD: usize = 2 * MAX_LABEL_GROUPS;

/// The figures of one group of knocks (one label of a trace, or a group of several traces),
/// accumulated exactly like a whole trace's.
#[derive(Debug, Clone)]
pub struct GroupAccumulator {
    pub wait: WaitAccumulator,
    pub request_wait: RequestWaitAccumulator,
    pub busy: BusyEstimator,
}

impl GroupAccumulator {
    /// An empty group counting time in units of `nominal_interval_ns` and busy knocks as
    /// `busy_template` does.
    pub fn new(busy_template: BusyEstimator, nominal_interval_ns: i64) -> Self {
        let mut busy = busy_template;
        busy.knocks = 0;
        busy.busy_knocks = 0;
        busy.slots = 0.0;
        busy.busy_slots = 0.0;
        busy.long_wait_slots = 0.0;
        GroupAccumulator {
            wait: WaitAccumulator::default(),
            request_wait: RequestWaitAccumulator::new(nominal_interval_ns),
            busy,
        }
    }

    /// Add knocks (waits already checked to be plausible); call [`Self::finish`] once after
    /// the last.
    fn add_all(&mut self, waits: &[i64], intervals: &[i64], details: &[WaitDetail]) {
        self.wait.add_all(waits);
        for ((&wait, &interval), detail) in waits.iter().zip(intervals).zip(details) {
            self.busy.add_knock_detail(wait, interval, detail);
            let request = self.busy.request_wait_ns(wait, detail);
            self.request_wait.add(request, interval);
        }
    }

    /// Add the request-wait spread of the knocks added (see [`RequestWaitAccumulator`]).
    fn finish(&mut self) {
        self.request_wait.add_spread();
    }

    /// Merge a finished group (of the same or another trace).
    pub fn merge(&mut self, other: &GroupAccumulator) {
        self.wait.merge(&other.wait);
        self.request_wait.merge(&other.request_wait);
        self.busy.merge(&other.busy);
    }
}

/// Number of bins of [`log_bin`].
pub const LOG_BINS: usize = 16 + 59 * 16;

/// Log-spaced bin of a wait: exact below 16 ns, then 16 bins per power of two (about 4.4%
/// wide). Integer-only, so it costs a couple of instructions per sample.
#[inline]
pub fn log_bin(wait_ns: i64) -> usize {
    let w = wait_ns.max(0) as u64;
    if w < 16 {
        return w as usize;
    }
    let exponent = 63 - w.leading_zeros() as usize; // >= 4
    let mantissa = ((w >> (exponent - 4)) & 15) as usize;
    16 + (exponent - 4) * 16 + mantissa
}

/// Smallest wait in `bin`.
pub fn log_bin_low(bin: usize) -> f64 {
    if bin < 16 {
        return bin as f64;
    }
    let exponent = (bin - 16) / 16 + 4;
    let mantissa = (bin - 16) % 16;
    ((16 + mantissa) as f64) * 2f64.powi(exponent as i32 - 4)
}

/// Largest wait in `bin` (exclusive upper edge).
pub fn log_bin_high(bin: usize) -> f64 {
    if bin < 16 {
        return bin as f64 + 1.0;
    }
    log_bin_low(bin + 1)
}

/// One pixel column of a timeline: the waits of the knocks that began in its time slice.
#[derive(Debug, Clone)]
pub struct TimelineColumn {
    pub count: u64,
    pub min_ns: i64,
    pub max_ns: i64,
    /// Counts per [`log_bin`], allocated on the first sample (windowed traces leave many
    /// columns empty).
    pub bins: Vec<u64>,
    pub busy: BusyEstimator,
    /// Knocks per label (None: no label) in this column, at most [`MAX_COLUMN_LABELS`] labels
    /// (knocks of further labels are not counted here).
    pub labels: Vec<(Option<String>, u64)>,
}

/// Distinct labels counted per timeline column.
pub const MAX_COLUMN_LABELS: usize = 8;

impl TimelineColumn {
    fn new(busy: BusyEstimator) -> Self {
        TimelineColumn {
            count: 0,
            min_ns: i64::MAX,
            max_ns: i64::MIN,
            bins: Vec::new(),
            busy,
            labels: Vec::new(),
        }
    }

    fn count_label(&mut self, label: Option<&str>, knocks: u64) {
        if let Some(entry) = self.labels.iter_mut().find(|(l, _)| l.as_deref() == label) {
            entry.1 += knocks;
        } else if self.labels.len() < MAX_COLUMN_LABELS {
            self.labels.push((label.map(str::to_string), knocks));
        }
    }

    /// The label of most of the column's knocks (ties: no label first, then by name); None when
    /// that is "no label".
    pub fn dominant_label(&self) -> Option<&str> {
        self.labels
            .iter()
            .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0)))
            .and_then(|(label, _)| label.as_deref())
    }

    #[inline]
    fn add(&mut self, wait_ns: i64, interval_ns: i64, detail: &WaitDetail) {
        if self.bins.is_empty() {
            self.bins = vec![0; LOG_BINS];
        }
        self.count += 1;
        self.min_ns = self.min_ns.min(wait_ns);
        self.max_ns = self.max_ns.max(wait_ns);
        self.bins[log_bin(wait_ns)] += 1;
        self.busy.add_knock_detail(wait_ns, interval_ns, detail);
    }

    fn merge(&mut self, other: &TimelineColumn) {
        if other.count == 0 {
            return;
        }
        if self.bins.is_empty() {
            self.bins = vec![0; LOG_BINS];
        }
        self.count += other.count;
        self.min_ns = self.min_ns.min(other.min_ns);
        self.max_ns = self.max_ns.max(other.max_ns);
        for (mine, theirs) in self.bins.iter_mut().zip(&other.bins) {
            *mine += theirs;
        }
        self.busy.merge(&other.busy);
        for (label, knocks) in &other.labels {
            self.count_label(label.as_deref(), *knocks);
        }
    }

    /// Quantile within the column: the geometric middle of the bin holding it, clamped to the
    /// exact min and max (about 2% error, invisible at plot resolution).
    pub fn quantile_ns(&self, quantile: f64) -> f64 {
        if self.count == 0 {
            return f64::NAN;
        }
        let rank = ((quantile * self.count as f64).ceil() as u64).clamp(1, self.count);
        if rank == self.count {
            return self.max_ns as f64;
        }
        let mut seen = 0u64;
        for (bin, &count) in self.bins.iter().enumerate() {
            seen += count;
            if seen >= rank {
                let middle = if bin < 16 {
                    bin as f64
                } else {
                    (log_bin_low(bin) * log_bin_high(bin)).sqrt()
                };
                return middle.clamp(self.min_ns as f64, self.max_ns as f64);
            }
        }
        self.max_ns as f64
    }
}

/// Waits over time, downsampled while streaming to a fixed number of columns.
#[derive(Debug, Clone)]
pub struct TimelineAccumulator {
    /// Time of the first sample.
    pub start_ns: i64,
    /// Time of the last sample.
    pub end_ns: i64,
    pub columns: Vec<TimelineColumn>,
}

impl TimelineAccumulator {
    fn new(start_ns: i64, end_ns: i64, columns: usize, busy: BusyEstimator) -> Self {
        TimelineAccumulator {
            start_ns,
            end_ns,
            columns: vec![TimelineColumn::new(busy); columns.max(1)],
        }
    }

    /// Width of one column in nanoseconds.
    pub fn column_ns(&self) -> f64 {
        (self.end_ns.saturating_sub(self.start_ns).max(1)) as f64 / self.columns.len() as f64
    }

    fn add_all(&mut self, columns: &SampleColumns) {
        let span = (self.end_ns.saturating_sub(self.start_ns)).max(1) as f64;
        let last = self.columns.len() - 1;
        let scale = self.columns.len() as f64 / span;
        let start_ns = self.start_ns;
        let column_of = |time: i64| {
            let offset = time.saturating_sub(start_ns).max(0) as f64;
            ((offset * scale) as usize).min(last)
        };
        for (((&time, &wait), &interval), detail) in columns
            .time_ns
            .iter()
            .zip(&columns.wait_ns)
            .zip(&columns.interval_ns)
            .zip(columns.details())
        {
            self.columns[column_of(time)].add(wait, interval, &detail);
        }
        // Labels, counted per run of one label within one column (labels change rarely).
        let mut run: Option<(usize, Option<u32>, u64)> = None;
        for (&time, &label) in columns.time_ns.iter().zip(&columns.label) {
            let column = column_of(time);
            match &mut run {
                Some((c, l, knocks)) if *c == column && *l == label => *knocks += 1,
                _ => {
                    if let Some((c, l, knocks)) = run.take() {
                        self.count_run(columns, c, l, knocks);
                    }
                    run = Some((column, label, 1));
                }
            }
        }
        if let Some((c, l, knocks)) = run {
            self.count_run(columns, c, l, knocks);
        }
    }

    fn count_run(
        &mut self,
        columns: &SampleColumns,
        column: usize,
        label: Option<u32>,
        knocks: u64,
    ) {
        let name = label
            .and_then(|i| columns.labels.get(i as usize))
            .map(String::as_str);
        self.columns[column].count_label(name, knocks);
    }

    fn merge(&mut self, other: &TimelineAccumulator) {
        for (mine, theirs) in self.columns.iter_mut().zip(&other.columns) {
            mine.merge(theirs);
        }
    }
}

/// What to compute besides the summary figures.
#[derive(Debug, Clone, Copy, Default)]
pub struct ScanOptions {
    /// Also build a timeline with this many columns.
    pub timeline_columns: Option<usize>,
    /// Also accumulate the figures of each label ([`TraceScan::labels`]).
    pub by_label: bool,
}

/// Everything aggregated from one trace.
#[derive(Debug, Clone)]
pub struct TraceScan {
    /// The path as the user gave it (or as found in a directory).
    pub path: PathBuf,
    pub metadata: RunMetadata,
    /// Read from the parts of an unfinished recording.
    pub from_parts: bool,
    pub first_time_ns: Option<i64>,
    pub last_time_ns: Option<i64>,
    pub wait: WaitAccumulator,
    /// Waits as requests at random instants would have seen them.
    pub request_wait: RequestWaitAccumulator,
    pub busy: BusyEstimator,
    pub timeline: Option<TimelineAccumulator>,
    /// The figures of each label's knocks (with [`ScanOptions::by_label`]), finished.
    pub labels: Option<BTreeMap<LabelKey, GroupAccumulator>>,
}

impl TraceScan {
    pub fn samples(&self) -> u64 {
        self.wait.count
    }
}

/// The partial result of one worker thread.
struct Partial {
    wait: WaitAccumulator,
    request_wait: RequestWaitAccumulator,
    busy: BusyEstimator,
    timeline: Option<TimelineAccumulator>,
    labels: Option<BTreeMap<LabelKey, GroupAccumulator>>,
    /// (unit, first time, last time) of every non-empty unit this worker read.
    bounds: Vec<(usize, i64, i64)>,
}

/// Open and aggregate one trace.
pub fn scan_path(path: &Path, options: ScanOptions, progress: &Progress) -> Result<TraceScan> {
    // The trace crate reports an empty parts directory as "Is a directory"; say what it means.
    if path.is_dir() && gilknocker_trace::list_parts(path).is_ok_and(|parts| parts.is_empty()) {
        return Err(AnalyzeError::invalid(
            path,
            "no finished parts in this directory (the recording stopped before writing its first part)",
        ));
    }
    let reader = TraceReader::open(path)?;
    scan(&reader, options, progress)
}

/// Aggregate an open trace on all cores.
pub fn scan(reader: &TraceReader, options: ScanOptions, progress: &Progress) -> Result<TraceScan> {
    let path = reader.path();
    let metadata = reader.metadata();
    let units = reader.num_units();
    let busy_template = BusyEstimator::new(
        metadata.schedule.polling_interval_ns,
        metadata.busy_threshold_ns,
    );
    progress.start(
        &crate::units::printable(&path.display().to_string(), 120),
        reader.num_rows().max(0) as u64,
    );

    // A timeline needs the time range before it can place samples: timestamps never go
    // backwards (checked below), so the first and last non-empty units give it. Those two are
    // decoded first and kept for the parallel pass, so nothing is read twice.
    let mut preloaded: HashMap<usize, SampleColumns> = HashMap::new();
    let mut range: Option<(i64, i64)> = None;
    if options.timeline_columns.is_some() {
        let non_empty: Vec<usize> = (0..units).filter(|&i| reader.unit_rows(i) > 0).collect();
        if let (Some(&first), Some(&last)) = (non_empty.first(), non_empty.last()) {
            let first_columns = read_unit_guarded(reader, first)?;
            let start = first_columns.time_ns.first().copied();
            preloaded.insert(first, first_columns);
            if last != first {
                preloaded.insert(last, read_unit_guarded(reader, last)?);
            }
            let end = preloaded[&last].time_ns.last().copied();
            if let (Some(start), Some(end)) = (start, end) {
                range = Some((start, end.max(start)));
            }
        }
    }
    let preloaded = Mutex::new(preloaded);

    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(units)
        .max(1);
    let next_unit = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let new_partial = || Partial {
        wait: WaitAccumulator::default(),
        request_wait: RequestWaitAccumulator::new(metadata.schedule.polling_interval_ns),
        busy: busy_template,
        timeline: match (options.timeline_columns, range) {
            (Some(columns), Some((start, end))) => {
                Some(TimelineAccumulator::new(start, end, columns, busy_template))
            }
            _ => None,
        },
        labels: options.by_label.then(BTreeMap::new),
        bounds: Vec::new(),
    };
    let new_group = || GroupAccumulator::new(busy_template, metadata.schedule.polling_interval_ns);
    let work = || -> Result<Partial> {
        let mut partial = new_partial();
        loop {
            if failed.load(Ordering::Relaxed) {
                break;
            }
            let unit = next_unit.fetch_add(1, Ordering::Relaxed);
            if unit >= units {
                break;
            }
            let cached = preloaded.lock().ok().and_then(|mut map| map.remove(&unit));
            let columns = match cached {
                Some(columns) => columns,
                None => match read_unit_guarded(reader, unit) {
                    Ok(columns) => columns,
                    Err(e) => {
                        failed.store(true, Ordering::Relaxed);
                        return Err(e);
                    }
                },
            };
            if let Err(e) = fold_unit(path, unit, &columns, &mut partial, &new_group) {
                failed.store(true, Ordering::Relaxed);
                return Err(e);
            }
            progress.advance(columns.len() as u64);
        }
        Ok(partial)
    };
    let results: Vec<Result<Partial>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads).map(|_| scope.spawn(work)).collect();
        handles
            .into_iter()
            .map(|handle| {
                handle.join().unwrap_or_else(|_| {
                    Err(AnalyzeError::invalid(
                        path,
                        "internal error: a reader thread panicked",
                    ))
                })
            })
            .collect()
    });
    progress.finish();

    let mut total = new_partial();
    for result in results {
        let partial = result?;
        total.wait.merge(&partial.wait);
        total.request_wait.merge(&partial.request_wait);
        total.busy.merge(&partial.busy);
        if let (Some(mine), Some(theirs)) = (&mut total.timeline, &partial.timeline) {
            mine.merge(theirs);
        }
        total.bounds.extend(partial.bounds);
        if let (Some(mine), Some(theirs)) = (&mut total.labels, partial.labels) {
            for (key, group) in theirs {
                match mine.get_mut(&key) {
                    Some(existing) => existing.merge(&group),
                    None => {
                        mine.insert(key, group);
                    }
                }
            }
        }
    }
    total.request_wait.add_spread();
    if let Some(labels) = &mut total.labels {
        labels.values_mut().for_each(GroupAccumulator::finish);
        fold_excess_labels(labels, &new_group);
    }
    // The trace crate checks order within a unit; order across units is ours to check.
    total.bounds.sort_unstable();
    for pair in total.bounds.windows(2) {
        let (previous_unit, _, previous_last) = pair[0];
        let (unit, first, _) = pair[1];
        if first < previous_last {
            return Err(AnalyzeError::invalid(
                path,
                format!(
                    "timestamps go backwards between row groups {previous_unit} and {unit} \
                     ({previous_last} then {first})"
                ),
            ));
        }
    }
    Ok(TraceScan {
        path: path.to_path_buf(),
        metadata: metadata.clone(),
        from_parts: reader.from_parts(),
        first_time_ns: total.bounds.first().map(|b| b.1),
        last_time_ns: total.bounds.last().map(|b| b.2),
        wait: total.wait,
        request_wait: total.request_wait,
        busy: total.busy,
        timeline: total.timeline,
        labels: total.labels,
    })
}

/// Keep the [`MAX_LABEL_GROUPS`] labels with the most knocks (ties: by name) and sum the rest
/// into [`LabelKey::Other`].
fn fold_excess_labels(
    labels: &mut BTreeMap<LabelKey, GroupAccumulator>,
    new_group: &dyn Fn() -> GroupAccumulator,
) {
    let mut named: Vec<(u64, LabelKey)> = labels
        .iter()
        .filter(|(key, _)| matches!(key, LabelKey::Named(_)))
        .map(|(key, group)| (group.wait.count, key.clone()))
        .collect();
    if named.len() <= MAX_LABEL_GROUPS {
        return;
    }
    named.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let mut other = labels.remove(&LabelKey::Other).unwrap_or_else(new_group);
    for (_, key) in &named[MAX_LABEL_GROUPS..] {
        if let Some(group) = labels.remove(key) {
            other.merge(&group);
        }
    }
    labels.insert(LabelKey::Other, other);
}

/// Decode one unit, turning a panic inside the Parquet decoder (seen on corrupted pages, e.g.
/// "attempt to shift left with overflow" in a bit unpacker) into an error naming the file.
pub fn read_unit_guarded(reader: &TraceReader, unit: usize) -> Result<SampleColumns> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| reader.read_unit(unit))) {
        Ok(result) => result.map_err(AnalyzeError::from),
        Err(_) => Err(AnalyzeError::invalid(
            reader.path(),
            format!("row group {unit} is corrupt (the Parquet decoder failed on it)"),
        )),
    }
}

fn fold_unit(
    path: &Path,
    unit: usize,
    columns: &SampleColumns,
    partial: &mut Partial,
    new_group: &dyn Fn() -> GroupAccumulator,
) -> Result<()> {
    if columns.is_empty() {
        return Ok(());
    }
    if let Some(row) = columns
        .wait_ns
        .iter()
        .position(|&w| w > MAX_PLAUSIBLE_WAIT_NS)
    {
        return Err(AnalyzeError::invalid(
            path,
            format!(
                "wait_ns {} in row group {unit} (row {row} of the group) is longer than 30 days: \
                 not a plausible measurement",
                columns.wait_ns[row]
            ),
        ));
    }
    partial.wait.add_all(&columns.wait_ns);
    // Each knock stands for the interval it was scheduled with (the recorder knocks less often
    // while the GIL stays free), not for the trace's nominal polling interval.
    // A long knock that did not block on the GIL was the knocker being preempted: the
    // estimator counts it as free, and the hand-off at the end of a busy wait as free time
    // (trace/src/estimate.rs, `WaitDetail::free_ns`).
    for ((&wait, &interval), detail) in columns
        .wait_ns
        .iter()
        .zip(&columns.interval_ns)
        .zip(columns.details())
    {
        partial.busy.add_knock_detail(wait, interval, &detail);
        let request = partial.busy.request_wait_ns(wait, &detail);
        partial.request_wait.add(request, interval);
    }
    if let Some(timeline) = &mut partial.timeline {
        timeline.add_all(columns);
    }
    if let Some(labels) = &mut partial.labels {
        fold_labels(columns, labels, new_group);
    }
    partial
        .bounds
        .push((unit, columns.time_ns[0], columns.time_ns[columns.len() - 1]));
    Ok(())
}

/// Split a unit's knocks by label (indices are per unit: re-key by name) and add each part to
/// its group.
fn fold_labels(
    columns: &SampleColumns,
    labels: &mut BTreeMap<LabelKey, GroupAccumulator>,
    new_group: &dyn Fn() -> GroupAccumulator,
) {
    // Slot `columns.labels.len()` holds the unlabelled knocks (and any out-of-range index,
    // which the reader should never produce).
    let unlabelled = columns.labels.len();
    type Part = (Vec<i64>, Vec<i64>, Vec<WaitDetail>);
    let mut parts: Vec<Part> = vec![Default::default(); unlabelled + 1];
    for (((&wait, &interval), label), detail) in columns
        .wait_ns
        .iter()
        .zip(&columns.interval_ns)
        .zip(&columns.label)
        .zip(columns.details())
    {
        let slot = label.map_or(unlabelled, |i| (i as usize).min(unlabelled));
        parts[slot].0.push(wait);
        parts[slot].1.push(interval);
        parts[slot].2.push(detail);
    }
    for (slot, (waits, intervals, details)) in parts.iter().enumerate() {
        if waits.is_empty() {
            continue;
        }
        let mut key = match columns.labels.get(slot) {
            Some(name) => LabelKey::Named(name.clone()),
            None => LabelKey::Unlabelled,
        };
        let named = labels
            .keys()
            .filter(|k| matches!(k, LabelKey::Named(_)))
            .count();
        if matches!(key, LabelKey::Named(_))
            && !labels.contains_key(&key)
            && named >= MAX_LABELS_PER_THREAD
        {
            key = LabelKey::Other;
        }
        labels
            .entry(key)
            .or_insert_with(new_group)
            .add_all(waits, intervals, details);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_bins_are_monotonic_and_cover_their_values() {
        let mut previous = 0;
        for wait in [
            0i64,
            1,
            15,
            16,
            17,
            31,
            32,
            1000,
            1_000_000,
            MAX_PLAUSIBLE_WAIT_NS,
            i64::MAX,
        ] {
            let bin = log_bin(wait);
            assert!(bin >= previous, "{wait}");
            assert!(bin < LOG_BINS, "{wait}");
            if wait <= MAX_PLAUSIBLE_WAIT_NS {
                assert!(
                    log_bin_low(bin) <= wait as f64 && (wait as f64) < log_bin_high(bin),
                    "{wait}"
                );
            }
            previous = bin;
        }
    }

    #[test]
    fn column_quantiles_are_close() {
        let mut column = TimelineColumn::new(BusyEstimator::new(1000, 5000));
        (1..=1000).for_each(|w| column.add(w * 1000, 1000, &WaitDetail::default()));
        let p50 = column.quantile_ns(0.5);
        assert!((p50 / 500_000.0 - 1.0).abs() < 0.03, "{p50}");
        assert_eq!(column.quantile_ns(1.0), 1_000_000.0);
    }

    #[test]
    fn request_accumulator_merges_by_time_and_counts_effective_knocks() {
        // Equal weights: the effective sample size is the number of knocks.
        let mut equal = RequestWaitAccumulator::new(1_000_000);
        (0..100).for_each(|_| equal.add(200, 1_000_000));
        equal.add_spread();
        assert_eq!(equal.histogram.len(), 100 * 64);
        assert!((equal.effective_knocks() - 100.0).abs() < 1e-9);
        // One knock carrying 10 slots among 10 carrying ~1: 20² / (100 + 10) = 3.6.
        let mut skewed = RequestWaitAccumulator::new(1_000_000);
        (0..10).for_each(|_| skewed.add(200, 1_000_000));
        skewed.add(0, 10_000_000);
        assert!((skewed.effective_knocks() - 20.002f64.powi(2) / 110.004).abs() < 1e-3);
        // A trace at a 10x longer polling interval weighs 10x per knock once merged.
        let mut fine = RequestWaitAccumulator::new(1_000_000);
        (0..10).for_each(|_| fine.add(100, 1_000_000));
        let mut coarse = RequestWaitAccumulator::new(10_000_000);
        (0..10).for_each(|_| coarse.add(300, 10_000_000));
        fine.merge(&coarse);
        assert_eq!(fine.histogram.count_at(100), 10 * 64);
        assert_eq!(fine.histogram.count_at(300), 10 * 64 * 10);
        assert_eq!(
            (fine.knocks, fine.max_ns, fine.quantile_ns(0.5)),
            (20, 300, 300)
        );
    }

    #[test]
    fn two_step_request_waits_equal_spreading_each_knock() {
        // Waits below 2048 ns are exact in the histogram, so the two steps must give exactly
        // what spreading every knock on its own gives.
        let knocks = [
            (1500, 1000),
            (1900, 2000),
            (10, 1000),
            (700, 1000),
            (1500, 500),
        ];
        let mut direct = new_histogram();
        for &(wait, interval) in &knocks {
            request_waits(wait, interval, 1000, |v, c| direct.record_n(v, c).unwrap());
        }
        let mut two_step = RequestWaitAccumulator::new(1000);
        for &(wait, interval) in &knocks {
            two_step.add(wait, interval);
        }
        two_step.add_spread();
        assert_eq!(two_step.histogram, direct);
    }

    #[test]
    fn request_waits_leave_out_preemption_and_the_hand_off_like_the_recorder() {
        // A preempted 3 ms knock and a 3 ms GIL wait of which 1 ms was the hand-off (runnable
        // time plus the estimated wake-up): the requests saw 0 and 2 ms, which is what the
        // recorder's live figures count too.
        let estimator = BusyEstimator::new(1_000_000, 5_000);
        let preempted = WaitDetail {
            blocked: Some(false),
            ..WaitDetail::default()
        };
        let handed_off = WaitDetail {
            blocked: Some(true),
            runnable_ns: Some(300_000),
            handoff_ns: Some(700_000),
        };
        assert_eq!(estimator.request_wait_ns(3_000_000, &preempted), 0);
        assert_eq!(estimator.request_wait_ns(3_000_000, &handed_off), 2_000_000);
        let mut group = GroupAccumulator::new(estimator, 1_000_000);
        group.add_all(
            &[3_000_000, 3_000_000],
            &[1_000_000, 1_000_000],
            &[preempted, handed_off],
        );
        group.finish();
        assert_eq!(group.request_wait.max_ns, 2_000_000);
        assert!(group.request_wait.quantile_ns(1.0) <= 2_000_000);
    }

    #[test]
    fn accumulator_moments_are_exact() {
        let mut wait = WaitAccumulator::default();
        wait.add_all(&[1, 2, 3, 4]);
        let mut other = WaitAccumulator::default();
        other.add_all(&[10]);
        wait.merge(&other);
        assert_eq!(
            (wait.count, wait.min_ns, wait.max_ns, wait.sum_ns),
            (5, 1, 10, 20)
        );
        assert_eq!(wait.mean_ns(), 4.0);
        assert_eq!(wait.quantile_ns(1.0), 10);
        assert!((wait.variance_ns2() - 12.5).abs() < 1e-9);
    }
}
