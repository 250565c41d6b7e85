//! The report model: plain `Serialize` structs, units in field names. Built from scans by the
//! functions here; rendered as text, JSON or SVG elsewhere. This is the stable JSON schema
//! documented in docs/analyzer.md; bump [`SCHEMA_VERSION`] when a field changes meaning.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::scan::{GroupAccumulator, LabelKey, RequestWaitAccumulator, TraceScan, WaitAccumulator};

/// Version of the JSON output schema.
pub const SCHEMA_VERSION: u32 = 1;

/// Distribution of the waits (nanoseconds). Percentiles come from an HDR histogram with 3
/// significant digits: each is within 0.1% of the exact value; min, mean and max are exact.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WaitStats {
    /// Shortest wait.
    pub min: i64,
    /// Arithmetic mean.
    pub mean: f64,
    /// Median.
    pub p50: i64,
    /// 90th percentile.
    pub p90: i64,
    /// 99th percentile.
    pub p99: i64,
    /// 99.9th percentile.
    pub p99_9: i64,
    /// Longest wait.
    pub max: i64,
}

impl WaitStats {
    pub fn from_accumulator(wait: &WaitAccumulator) -> Option<Self> {
        if wait.count == 0 {
            return None;
        }
        Some(WaitStats {
            min: wait.min_ns,
            mean: wait.mean_ns(),
            p50: wait.quantile_ns(0.5),
            p90: wait.quantile_ns(0.9),
            p99: wait.quantile_ns(0.99),
            p99_9: wait.quantile_ns(0.999),
            max: wait.max_ns,
        })
    }
}

/// Distribution of the waits that requests for the GIL at uniformly random instants would have
/// seen (nanoseconds): every knock weighted by the time it stands for, and the time covered by
/// its wait spread over the shorter waits of requests arriving during it. Percentiles come from
/// an HDR histogram with 3 significant digits; max is exact (the longest knock wait).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RequestWaitStats {
    /// Median.
    pub p50: i64,
    /// 90th percentile.
    pub p90: i64,
    /// 99th percentile.
    pub p99: i64,
    /// 99.9th percentile.
    pub p99_9: i64,
    /// Longest wait.
    pub max: i64,
}

impl RequestWaitStats {
    pub fn from_accumulator(request: &RequestWaitAccumulator) -> Option<Self> {
        if request.knocks == 0 {
            return None;
        }
        Some(RequestWaitStats {
            p50: request.quantile_ns(0.5),
            p90: request.quantile_ns(0.9),
            p99: request.quantile_ns(0.99),
            p99_9: request.quantile_ns(0.999),
            max: request.max_ns,
        })
    }
}

/// The figures that describe how contended the GIL was.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    /// Knocks in the trace.
    pub samples: u64,
    /// Time from the first to the last knock, seconds (null without samples).
    pub duration_s: Option<f64>,
    /// Samples the recorder measured but could not store (from the run's counters).
    pub dropped_samples: u64,
    /// Distribution of the knocks' waits, nanoseconds (null without samples): what a query
    /// over the `wait_ns` column gives.
    pub wait_ns: Option<WaitStats>,
    /// Distribution of the waits a request for the GIL at a random moment would have seen,
    /// nanoseconds (null without samples).
    pub request_wait_ns: Option<RequestWaitStats>,
    /// Estimated fraction of time the GIL was busy (slot-weighted, see docs/analyzer.md).
    pub busy_fraction: Option<f64>,
    /// 95% Wilson interval of `busy_fraction`, `[low, high]`.
    pub busy_fraction_ci95: Option<[f64; 2]>,
    /// gilknocker-0.4.2's metric: total wait / total sampling-window time.
    pub contention_metric: Option<f64>,
    /// Where the window time of `contention_metric` came from: "recorded" (the recorder's
    /// `window_ns_total` counter) or "sample_span" (last minus first knock, continuous schedule).
    pub contention_window_source: Option<String>,
    /// Estimated fraction of wall time at which a request for the GIL would have waited 1 ms or
    /// more (time-weighted).
    pub long_wait_fraction: Option<f64>,
}

impl Figures {
    pub fn from_scan(scan: &TraceScan) -> Self {
        let samples = scan.samples();
        let span_ns = match (scan.first_time_ns, scan.last_time_ns) {
            (Some(first), Some(last)) => Some(last.saturating_sub(first)),
            _ => None,
        };
        let (window_ns, window_source) = match contention_window(scan) {
            Some((window, source)) => (Some(window), Some(source)),
            None => (None, None),
        };
        let contention_metric = match window_ns {
            // GIL waits only: preempted knocks did not wait for the GIL (trace `blocked`).
            Some(window) if samples > 0 => Some(gil_wait_ns(scan) / window),
            _ => None,
        };
        Figures {
            samples,
            duration_s: span_ns.map(|s| s as f64 / 1e9),
            dropped_samples: scan.metadata.counters.dropped_samples,
            wait_ns: WaitStats::from_accumulator(&scan.wait),
            request_wait_ns: RequestWaitStats::from_accumulator(&scan.request_wait),
            busy_fraction: finite(scan.busy.busy_fraction()),
            busy_fraction_ci95: ci(scan.busy.busy_fraction_ci95()),
            contention_metric,
            contention_window_source: contention_metric.and(window_source).map(str::to_string),
            long_wait_fraction: finite(scan.busy.long_wait_fraction()),
        }
    }
}

/// Total wait of the knocks that waited for the GIL (all knocks minus those preempted).
fn gil_wait_ns(scan: &TraceScan) -> f64 {
    (scan.wait.sum_ns as f64 - scan.busy.not_gil_wait_ns).max(0.0)
}

/// The window time the 0.4.2 contention metric divides by, and where it came from: the
/// recorder's `window_ns_total` counter when present (the whole run, windowed or not), else the
/// span from the first to the last knock of a continuous schedule. A windowed trace without the
/// counter has no known window time.
pub fn contention_window(scan: &TraceScan) -> Option<(f64, &'static str)> {
    let counters = &scan.metadata.counters;
    if counters.window_ns_total > 0 {
        return Some((counters.window_ns_total as f64, "recorded"));
    }
    let span = scan.last_time_ns?.saturating_sub(scan.first_time_ns?);
    (scan.metadata.schedule.kind == gilknocker_trace::ScheduleKind::Continuous && span > 0)
        .then_some((span as f64, "sample_span"))
}

fn finite(value: f64) -> Option<f64> {
    value.is_finite().then_some(value)
}

fn ci((low, high): (f64, f64)) -> Option<[f64; 2]> {
    (low.is_finite() && high.is_finite()).then_some([low, high])
}

/// How the knocks were scheduled.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScheduleReport {
    /// "continuous" or "windowed".
    pub kind: String,
    /// Pause between knocks (mean pause with jitter), nanoseconds.
    pub polling_interval_ns: i64,
    /// Length of a sampling window (windowed only), nanoseconds.
    pub sampling_interval_ns: Option<i64>,
    /// Pause between windows (windowed only), nanoseconds.
    pub sleeping_interval_ns: Option<i64>,
    /// Intervals drawn from an exponential distribution.
    pub jitter: bool,
    /// Mean interval once the GIL stayed free for `idle_after_ns`, nanoseconds (null: the
    /// recorder never slowed down).
    pub idle_interval_ns: Option<i64>,
    /// How long the GIL had to stay free before the knocker slowed to `idle_interval_ns`,
    /// nanoseconds.
    pub idle_after_ns: Option<i64>,
}

/// The recorder's counters, cumulative over the run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CountersReport {
    /// Knocks made.
    pub knocks: u64,
    /// Samples lost because the writer fell behind.
    pub dropped_samples: u64,
    /// Scheduled knocks that fell inside a previous knock's wait.
    pub skipped_busy_slots: u64,
    /// Scheduled knocks missed because the knocker woke up late.
    pub missed_late_slots: u64,
    /// Total lateness of the knocker thread, nanoseconds.
    pub late_ns_total: u64,
    /// Worst lateness of the knocker thread, nanoseconds.
    pub late_ns_max: u64,
    /// Total time inside sampling windows, nanoseconds.
    pub window_ns_total: u64,
    /// Total wait measured by the recorder, nanoseconds.
    pub wait_ns_total: u64,
}

/// What the trace says about the run that produced it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunReport {
    /// Trace format version of the file.
    pub format_version: u32,
    /// Version of the gilknocker recorder.
    pub recorder_version: String,
    /// Python version, e.g. "3.13.1".
    pub python_version: String,
    /// Python implementation, e.g. "CPython".
    pub python_implementation: String,
    /// Whether the GIL was enabled (null when the interpreter could not tell).
    pub gil_enabled: Option<bool>,
    /// `sys.getswitchinterval()`, seconds.
    pub switch_interval_s: Option<f64>,
    pub schedule: ScheduleReport,
    /// Waits above this counted as "busy", nanoseconds.
    pub busy_threshold_ns: i64,
    /// Host name.
    pub host: String,
    /// Process id.
    pub pid: i64,
    /// Command line of the recorded process.
    pub argv: Vec<String>,
    /// Start of the recording, nanoseconds since the Unix epoch.
    pub start_time_ns: i64,
    /// End of the recording, nanoseconds since the Unix epoch (null if it did not end cleanly).
    pub end_time_ns: Option<i64>,
    /// The recorder stopped cleanly.
    pub complete: bool,
    /// Rebuilt by `recover` from the parts of a recording whose process died.
    pub recovered: bool,
    /// Read directly from the parts of an unfinished recording.
    pub unfinished: bool,
    /// Why the recording ended badly, if it did.
    pub error: Option<String>,
    pub counters: CountersReport,
    /// User-supplied labels.
    pub user: BTreeMap<String, String>,
}

impl RunReport {
    pub fn from_scan(scan: &TraceScan) -> Self {
        let m = &scan.metadata;
        let c = &m.counters;
        RunReport {
            format_version: m.format_version,
            recorder_version: m.recorder_version.clone(),
            python_version: m.python_version.clone(),
            python_implementation: m.python_implementation.clone(),
            gil_enabled: m.gil_enabled,
            switch_interval_s: finite(m.switch_interval_s),
            schedule: ScheduleReport {
                kind: m.schedule.kind.as_str().to_string(),
                polling_interval_ns: m.schedule.polling_interval_ns,
                sampling_interval_ns: m.schedule.sampling_interval_ns,
                sleeping_interval_ns: m.schedule.sleeping_interval_ns,
                jitter: m.schedule.jitter,
                idle_interval_ns: m.idle_interval_ns,
                idle_after_ns: m.idle_after_ns,
            },
            busy_threshold_ns: m.busy_threshold_ns,
            host: m.host.clone(),
            pid: m.pid,
            argv: m.argv.clone(),
            start_time_ns: m.start_time_ns,
            end_time_ns: m.end_time_ns,
            complete: m.complete,
            recovered: m.recovered,
            unfinished: scan.from_parts,
            error: m.error.clone(),
            counters: CountersReport {
                knocks: c.knocks,
                dropped_samples: c.dropped_samples,
                skipped_busy_slots: c.skipped_busy_slots,
                missed_late_slots: c.missed_late_slots,
                late_ns_total: c.late_ns_total,
                late_ns_max: c.late_ns_max,
                window_ns_total: c.window_ns_total,
                wait_ns_total: c.wait_ns_total,
            },
            user: m.user.clone(),
        }
    }
}

/// One trace in a summary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TraceSummary {
    /// The trace's path as given on the command line or found in a directory.
    pub path: String,
    #[serde(flatten)]
    pub figures: Figures,
    pub run: RunReport,
    /// This trace split by the `--by` keys (absent without `--by`): one group per label with
    /// `--by label`, else one group (host and pid are the same for all of a trace's knocks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<Group>>,
}

impl TraceSummary {
    pub fn from_scan(scan: &TraceScan) -> Self {
        TraceSummary {
            path: scan.path.display().to_string(),
            figures: Figures::from_scan(scan),
            run: RunReport::from_scan(scan),
            groups: None,
        }
    }
}

/// The output of `summary`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SummaryReport {
    /// Version of this JSON schema.
    pub schema_version: u32,
    /// One entry per trace, in the order given (directories: sorted by name).
    pub traces: Vec<TraceSummary>,
    /// All traces together (only with two or more traces): histograms and busy estimators
    /// merged, durations and window times added.
    pub combined: Option<Figures>,
    /// The `--by` keys, in the order host, pid, label (absent without `--by`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_by: Option<Vec<String>>,
    /// All traces' knocks grouped by the `--by` keys (absent without `--by`), ordered by host,
    /// pid, then label (names, then no label, then other labels).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<Group>>,
}

impl SummaryReport {
    pub fn from_scans(scans: &[TraceScan]) -> Self {
        Self::from_scans_grouped(scans, None)
    }

    /// The summary, and with `grouping` the groups of each trace and of all traces. Grouping by
    /// label needs scans made with [`crate::scan::ScanOptions::by_label`].
    pub fn from_scans_grouped(scans: &[TraceScan], grouping: Option<Grouping>) -> Self {
        let combined = (scans.len() > 1).then(|| combine(scans));
        let mut traces: Vec<TraceSummary> = scans.iter().map(TraceSummary::from_scan).collect();
        if let Some(grouping) = grouping {
            for (trace, scan) in traces.iter_mut().zip(scans) {
                trace.groups = Some(group_scans(std::slice::from_ref(scan), grouping));
            }
        }
        SummaryReport {
            schema_version: SCHEMA_VERSION,
            traces,
            combined,
            group_by: grouping.map(|g| g.names().iter().map(|n| n.to_string()).collect()),
            groups: grouping.map(|g| group_scans(scans, g)),
        }
    }
}

/// Which keys `summary --by` groups knocks by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Grouping {
    /// The trace's `RunMetadata.host`.
    pub host: bool,
    /// The trace's `RunMetadata.pid`.
    pub pid: bool,
    /// The label active when each knock began.
    pub label: bool,
}

impl Grouping {
    /// The keys' names, in the fixed order host, pid, label.
    pub fn names(&self) -> Vec<&'static str> {
        [
            (self.host, "host"),
            (self.pid, "pid"),
            (self.label, "label"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, name)| *name)
        .collect()
    }
}

/// The figures of one group of knocks. Only figures that make sense for a subset of a trace's
/// knocks: no duration, dropped samples or contention metric (those belong to whole runs).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupFigures {
    /// Knocks in the group.
    pub samples: u64,
    /// Time the group's knocks stand for (each its interval plus its wait), seconds: for a
    /// label, the estimated time spent under it (null without samples).
    pub time_s: Option<f64>,
    /// Distribution of the knocks' waits, nanoseconds (null without samples).
    pub wait_ns: Option<WaitStats>,
    /// Distribution of the waits a request at a random moment would have seen, nanoseconds.
    pub request_wait_ns: Option<RequestWaitStats>,
    /// Estimated fraction of the group's time the GIL was busy (knocks weighted by the time
    /// they stand for, as for a whole trace).
    pub busy_fraction: Option<f64>,
    /// 95% Wilson interval of `busy_fraction`, `[low, high]`.
    pub busy_fraction_ci95: Option<[f64; 2]>,
    /// Estimated fraction of the group's time at which a request would have waited 1 ms or
    /// more.
    pub long_wait_fraction: Option<f64>,
}

impl GroupFigures {
    pub fn from_accumulator(group: &GroupAccumulator) -> Self {
        let samples = group.wait.count;
        let request = &group.request_wait;
        GroupFigures {
            samples,
            time_s: (samples > 0).then(|| request.slots * request.nominal_interval_ns as f64 / 1e9),
            wait_ns: WaitStats::from_accumulator(&group.wait),
            request_wait_ns: RequestWaitStats::from_accumulator(request),
            busy_fraction: finite(group.busy.busy_fraction()),
            busy_fraction_ci95: ci(group.busy.busy_fraction_ci95()),
            long_wait_fraction: finite(group.busy.long_wait_fraction()),
        }
    }
}

/// One group of `summary --by`. Only the keys grouped by are present.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Group {
    /// Host name (with `--by host`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Process id (with `--by pid`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<i64>,
    /// The label (with `--by label`): a string, or null for knocks outside any label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<Option<String>>,
    /// True for the knocks of the labels beyond the 64 with the most knocks in a trace (their
    /// `label` is null); absent otherwise.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub other_labels: bool,
    /// Number of traces with knocks in this group.
    pub traces: u64,
    pub figures: GroupFigures,
}

/// Group the knocks of `scans` by `grouping`: accumulators merged as in [`combine`] (time in
/// units of the finest polling interval).
fn group_scans(scans: &[TraceScan], grouping: Grouping) -> Vec<Group> {
    type Key = (Option<String>, Option<i64>, Option<LabelKey>);
    let Some(first) = scans.first() else {
        return Vec::new();
    };
    let finest_interval_ns = scans
        .iter()
        .map(|scan| scan.request_wait.nominal_interval_ns)
        .min()
        .unwrap_or(1);
    let mut groups: BTreeMap<Key, (GroupAccumulator, u64)> = BTreeMap::new();
    for scan in scans {
        let host = grouping.host.then(|| scan.metadata.host.clone());
        let pid = grouping.pid.then_some(scan.metadata.pid);
        let whole;
        let parts: Vec<(Option<LabelKey>, &GroupAccumulator)> = match (&scan.labels, grouping.label)
        {
            (Some(labels), true) => labels.iter().map(|(k, g)| (Some(k.clone()), g)).collect(),
            _ => {
                whole = GroupAccumulator {
                    wait: scan.wait.clone(),
                    request_wait: scan.request_wait.clone(),
                    busy: scan.busy,
                };
                // A trace scanned without labels still counts, as one unlabelled group.
                let key = grouping.label.then_some(LabelKey::Unlabelled);
                vec![(key, &whole)]
            }
        };
        for (label, group) in parts {
            if group.wait.count == 0 && grouping.label {
                continue;
            }
            let entry = groups
                .entry((host.clone(), pid, label))
                .or_insert_with(|| (GroupAccumulator::new(first.busy, finest_interval_ns), 0));
            entry.0.merge(group);
            entry.1 += 1;
        }
    }
    groups
        .into_iter()
        .map(|((host, pid, label), (group, traces))| Group {
            host,
            pid,
            other_labels: label == Some(LabelKey::Other),
            label: label.map(|key| match key {
                LabelKey::Named(name) => Some(name),
                LabelKey::Unlabelled | LabelKey::Other => None,
            }),
            traces,
            figures: GroupFigures::from_accumulator(&group),
        })
        .collect()
}

/// Merge the figures of several traces. The busy fraction weights each trace by its slots
/// (knocks plus the slots their waits covered); the request-wait distribution weights each
/// trace by time (counts converted to the shortest polling interval); the contention metric
/// adds up waits and windows of the traces that have a window.
fn combine(scans: &[TraceScan]) -> Figures {
    let mut wait = WaitAccumulator::default();
    let finest_interval_ns = scans
        .iter()
        .map(|scan| scan.request_wait.nominal_interval_ns)
        .min()
        .unwrap_or(1);
    let mut request_wait = RequestWaitAccumulator::new(finest_interval_ns);
    let mut busy = scans[0].busy;
    busy.knocks = 0;
    busy.busy_knocks = 0;
    busy.slots = 0.0;
    busy.busy_slots = 0.0;
    busy.long_wait_slots = 0.0;
    let mut duration_s: Option<f64> = None;
    let mut dropped = 0;
    let mut wait_total = 0.0;
    let mut window_total = 0.0;
    let mut window_sources: Vec<&str> = Vec::new();
    for scan in scans {
        wait.merge(&scan.wait);
        request_wait.merge(&scan.request_wait);
        busy.merge(&scan.busy);
        dropped += scan.metadata.counters.dropped_samples;
        let figures = Figures::from_scan(scan);
        if let Some(d) = figures.duration_s {
            *duration_s.get_or_insert(0.0) += d;
        }
        if let Some((window, source)) = contention_window(scan) {
            if scan.samples() > 0 {
                wait_total += gil_wait_ns(scan);
                window_total += window;
                if !window_sources.contains(&source) {
                    window_sources.push(source);
                }
            }
        }
    }
    let contention_metric = (window_total > 0.0).then(|| wait_total / window_total);
    Figures {
        samples: wait.count,
        duration_s,
        dropped_samples: dropped,
        wait_ns: WaitStats::from_accumulator(&wait),
        request_wait_ns: RequestWaitStats::from_accumulator(&request_wait),
        busy_fraction: finite(busy.busy_fraction()),
        busy_fraction_ci95: ci(busy.busy_fraction_ci95()),
        contention_metric,
        contention_window_source: contention_metric.map(|_| window_sources.join("+")),
        long_wait_fraction: finite(busy.long_wait_fraction()),
    }
}
