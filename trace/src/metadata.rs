//! Run metadata: what is needed to interpret the samples, stored as Parquet key-value metadata.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use crate::error::{Result, TraceError};
use crate::schema::{key, FORMAT_NAME, FORMAT_VERSION};

/// How knocks were scheduled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScheduleKind {
    /// Knock every `polling_interval_ns`, all the time.
    Continuous,
    /// gilknocker-0.4.2 style: knock every `polling_interval_ns` during a window of
    /// `sampling_interval_ns`, then pause for `sleeping_interval_ns`.
    Windowed,
}

impl ScheduleKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ScheduleKind::Continuous => "continuous",
            ScheduleKind::Windowed => "windowed",
        }
    }
    fn parse(text: &str) -> Option<Self> {
        match text {
            "continuous" => Some(ScheduleKind::Continuous),
            "windowed" => Some(ScheduleKind::Windowed),
            _ => None,
        }
    }
}

/// The knock schedule a trace was recorded with.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleInfo {
    pub kind: ScheduleKind,
    /// Pause between knocks (the mean pause when `jitter`).
    pub polling_interval_ns: i64,
    /// Length of a sampling window (windowed schedule only).
    pub sampling_interval_ns: Option<i64>,
    /// Pause between sampling windows (windowed schedule only).
    pub sleeping_interval_ns: Option<i64>,
    /// Intervals drawn from an exponential distribution with the nominal mean.
    pub jitter: bool,
}

impl ScheduleInfo {
    /// Continuous knocking at `polling_interval_ns` (the mean when `jitter`).
    pub fn continuous(polling_interval_ns: i64, jitter: bool) -> Self {
        ScheduleInfo {
            kind: ScheduleKind::Continuous,
            polling_interval_ns,
            sampling_interval_ns: None,
            sleeping_interval_ns: None,
            jitter,
        }
    }
}

/// Counters kept by the recorder, cumulative over the run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunCounters {
    pub knocks: u64,
    pub dropped_samples: u64,
    pub skipped_busy_slots: u64,
    pub missed_late_slots: u64,
    pub late_ns_total: u64,
    pub late_ns_max: u64,
    pub window_ns_total: u64,
    pub wait_ns_total: u64,
}

/// Everything a trace says about the run that produced it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunMetadata {
    pub format_version: u32,
    /// The recorder stopped cleanly and wrote final counters.
    pub complete: bool,
    /// Rebuilt from the parts of a recording whose process died.
    pub recovered: bool,
    pub recorder_version: String,
    pub python_version: String,
    pub python_implementation: String,
    /// `None` when the interpreter cannot tell (before free-threaded builds existed).
    pub gil_enabled: Option<bool>,
    pub switch_interval_s: f64,
    pub pid: i64,
    pub host: String,
    pub argv: Vec<String>,
    pub start_time_ns: i64,
    pub end_time_ns: Option<i64>,
    pub schedule: ScheduleInfo,
    /// Part of the schedule: mean interval while the GIL stays free (continuous schedule), if
    /// the knocker slows down then. Each sample's `interval_ns` says which interval applied.
    pub idle_interval_ns: Option<i64>,
    /// Part of the schedule: time after the last busy knock before slowing down.
    pub idle_after_ns: Option<i64>,
    pub busy_threshold_ns: i64,
    pub counters: RunCounters,
    pub error: Option<String>,
    /// User-supplied key-value pairs (stored under `gilknocker.user.`).
    pub user: BTreeMap<String, String>,
}

impl RunMetadata {
    /// Metadata with the given schedule and start time and everything else empty or zero.
    pub fn new(schedule: ScheduleInfo, start_time_ns: i64) -> Self {
        RunMetadata {
            format_version: FORMAT_VERSION,
            complete: false,
            recovered: false,
            recorder_version: String::new(),
            python_version: String::new(),
            python_implementation: String::new(),
            gil_enabled: None,
            switch_interval_s: f64::NAN,
            pid: 0,
            host: String::new(),
            argv: Vec::new(),
            start_time_ns,
            end_time_ns: None,
            schedule,
            idle_interval_ns: None,
            idle_after_ns: None,
            busy_threshold_ns: crate::DEFAULT_BUSY_THRESHOLD_NS,
            counters: RunCounters::default(),
            error: None,
            user: BTreeMap::new(),
        }
    }

    /// Encode as Parquet key-value pairs.
    pub fn to_key_values(&self) -> Vec<(String, String)> {
        let mut kv: Vec<(String, String)> = Vec::with_capacity(40);
        let mut put = |k: &str, v: String| kv.push((k.to_string(), v));
        put(key::FORMAT, FORMAT_NAME.to_string());
        put(key::FORMAT_VERSION, FORMAT_VERSION.to_string());
        put(key::COMPLETE, self.complete.to_string());
        put(key::RECOVERED, self.recovered.to_string());
        put(key::RECORDER_VERSION, self.recorder_version.clone());
        put(key::PYTHON_VERSION, self.python_version.clone());
        put(
            key::PYTHON_IMPLEMENTATION,
            self.python_implementation.clone(),
        );
        put(
            key::GIL_ENABLED,
            match self.gil_enabled {
                Some(b) => b.to_string(),
                None => "unknown".to_string(),
            },
        );
        put(
            key::SWITCH_INTERVAL_S,
            format!("{}", self.switch_interval_s),
        );
        put(key::PID, self.pid.to_string());
        put(key::HOST, self.host.clone());
        put(
            key::ARGV,
            serde_json::to_string(&self.argv).unwrap_or_else(|_| "[]".to_string()),
        );
        put(key::START_TIME_NS, self.start_time_ns.to_string());
        if let Some(end) = self.end_time_ns {
            put(key::END_TIME_NS, end.to_string());
        }
        let s = &self.schedule;
        put(key::SCHEDULE, s.kind.as_str().to_string());
        put(key::POLLING_INTERVAL_NS, s.polling_interval_ns.to_string());
        if let Some(v) = s.sampling_interval_ns {
            put(key::SAMPLING_INTERVAL_NS, v.to_string());
        }
        if let Some(v) = s.sleeping_interval_ns {
            put(key::SLEEPING_INTERVAL_NS, v.to_string());
        }
        put(key::JITTER, s.jitter.to_string());
        if let Some(v) = self.idle_interval_ns {
            put(key::IDLE_INTERVAL_NS, v.to_string());
        }
        if let Some(v) = self.idle_after_ns {
            put(key::IDLE_AFTER_NS, v.to_string());
        }
        put(key::BUSY_THRESHOLD_NS, self.busy_threshold_ns.to_string());
        let c = &self.counters;
        put(key::KNOCKS, c.knocks.to_string());
        put(key::DROPPED_SAMPLES, c.dropped_samples.to_string());
        put(key::SKIPPED_BUSY_SLOTS, c.skipped_busy_slots.to_string());
        put(key::MISSED_LATE_SLOTS, c.missed_late_slots.to_string());
        put(key::LATE_NS_TOTAL, c.late_ns_total.to_string());
        put(key::LATE_NS_MAX, c.late_ns_max.to_string());
        put(key::WINDOW_NS_TOTAL, c.window_ns_total.to_string());
        put(key::WAIT_NS_TOTAL, c.wait_ns_total.to_string());
        if let Some(e) = &self.error {
            put(key::ERROR, e.clone());
        }
        for (k, v) in &self.user {
            put(&format!("{}{}", key::USER_PREFIX, k), v.clone());
        }
        kv
    }

    /// Decode and validate. The format name and version are checked first, so a file from
    /// something else or from a newer gilknocker gets the right message.
    pub fn from_key_values<'a>(
        path: &Path,
        pairs: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
    ) -> Result<Self> {
        let map: HashMap<&str, &str> = pairs
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect();
        match map.get(key::FORMAT) {
            Some(&FORMAT_NAME) => {}
            Some(other) => {
                return Err(TraceError::invalid(
                    path,
                    format!("unknown trace format '{}'", truncate(other)),
                ))
            }
            None => {
                return Err(TraceError::NotGilknocker {
                    path: path.to_path_buf(),
                })
            }
        }
        let version: u32 = parse(path, &map, key::FORMAT_VERSION)?;
        if version > FORMAT_VERSION {
            return Err(TraceError::TooNew {
                path: path.to_path_buf(),
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        if version == 0 {
            return Err(TraceError::invalid(path, "format version 0 is not valid"));
        }
        let text = |k: &str| map.get(k).map(|v| v.to_string()).unwrap_or_default();
        let flag = |k: &str| map.get(k).map(|v| *v == "true").unwrap_or(false);
        let kind_text = text(key::SCHEDULE);
        let kind = ScheduleKind::parse(&kind_text).ok_or_else(|| {
            TraceError::invalid(
                path,
                format!(
                    "metadata '{}' must be 'continuous' or 'windowed', not '{}'",
                    key::SCHEDULE,
                    truncate(&kind_text)
                ),
            )
        })?;
        let polling_interval_ns: i64 = parse(path, &map, key::POLLING_INTERVAL_NS)?;
        if polling_interval_ns <= 0 {
            return Err(TraceError::invalid(
                path,
                format!("metadata '{}' must be positive", key::POLLING_INTERVAL_NS),
            ));
        }
        let optional_positive = |k: &str| -> Result<Option<i64>> {
            match map.get(k) {
                None => Ok(None),
                Some(_) => {
                    let v: i64 = parse(path, &map, k)?;
                    if v <= 0 {
                        return Err(TraceError::invalid(
                            path,
                            format!("metadata '{k}' must be positive"),
                        ));
                    }
                    Ok(Some(v))
                }
            }
        };
        let schedule = ScheduleInfo {
            kind,
            polling_interval_ns,
            sampling_interval_ns: optional_positive(key::SAMPLING_INTERVAL_NS)?,
            sleeping_interval_ns: optional_positive(key::SLEEPING_INTERVAL_NS)?,
            jitter: flag(key::JITTER),
        };
        let counter = |k: &str| -> Result<u64> {
            match map.get(k) {
                None => Ok(0),
                Some(_) => parse(path, &map, k),
            }
        };
        let counters = RunCounters {
            knocks: counter(key::KNOCKS)?,
            dropped_samples: counter(key::DROPPED_SAMPLES)?,
            skipped_busy_slots: counter(key::SKIPPED_BUSY_SLOTS)?,
            missed_late_slots: counter(key::MISSED_LATE_SLOTS)?,
            late_ns_total: counter(key::LATE_NS_TOTAL)?,
            late_ns_max: counter(key::LATE_NS_MAX)?,
            window_ns_total: counter(key::WINDOW_NS_TOTAL)?,
            wait_ns_total: counter(key::WAIT_NS_TOTAL)?,
        };
        let argv_text = text(key::ARGV);
        let argv: Vec<String> = if argv_text.is_empty() {
            Vec::new()
        } else {
            serde_json::from_str(&argv_text).map_err(|e| {
                TraceError::invalid(
                    path,
                    format!("metadata '{}' is not a JSON list: {e}", key::ARGV),
                )
            })?
        };
        let switch_interval_s: f64 = match map.get(key::SWITCH_INTERVAL_S) {
            None => f64::NAN,
            Some(_) => parse(path, &map, key::SWITCH_INTERVAL_S)?,
        };
        let end_time_ns = match map.get(key::END_TIME_NS) {
            None => None,
            Some(_) => Some(parse(path, &map, key::END_TIME_NS)?),
        };
        let busy_threshold_ns: i64 = match map.get(key::BUSY_THRESHOLD_NS) {
            None => crate::DEFAULT_BUSY_THRESHOLD_NS,
            Some(_) => parse(path, &map, key::BUSY_THRESHOLD_NS)?,
        };
        if busy_threshold_ns < 0 {
            return Err(TraceError::invalid(
                path,
                format!("metadata '{}' must not be negative", key::BUSY_THRESHOLD_NS),
            ));
        }
        let user = map
            .iter()
            .filter_map(|(k, v)| {
                k.strip_prefix(key::USER_PREFIX)
                    .map(|name| (name.to_string(), v.to_string()))
            })
            .collect();
        Ok(RunMetadata {
            format_version: version,
            complete: flag(key::COMPLETE),
            recovered: flag(key::RECOVERED),
            recorder_version: text(key::RECORDER_VERSION),
            python_version: text(key::PYTHON_VERSION),
            python_implementation: text(key::PYTHON_IMPLEMENTATION),
            gil_enabled: match map.get(key::GIL_ENABLED) {
                Some(&"true") => Some(true),
                Some(&"false") => Some(false),
                _ => None,
            },
            switch_interval_s,
            pid: match map.get(key::PID) {
                None => 0,
                Some(_) => parse(path, &map, key::PID)?,
            },
            host: text(key::HOST),
            argv,
            start_time_ns: parse(path, &map, key::START_TIME_NS)?,
            end_time_ns,
            schedule,
            idle_interval_ns: optional_positive(key::IDLE_INTERVAL_NS)?,
            idle_after_ns: optional_positive(key::IDLE_AFTER_NS)?,
            busy_threshold_ns,
            counters,
            error: map.get(key::ERROR).map(|v| v.to_string()),
            user,
        })
    }
}

fn parse<T: std::str::FromStr>(path: &Path, map: &HashMap<&str, &str>, k: &str) -> Result<T> {
    let value = map
        .get(k)
        .ok_or_else(|| TraceError::invalid(path, format!("metadata '{k}' is missing")))?;
    value.trim().parse().map_err(|_| {
        TraceError::invalid(
            path,
            format!("metadata '{k}' has an invalid value '{}'", truncate(value)),
        )
    })
}

/// Keep error messages one short line even when a hostile file stores megabytes in a key.
fn truncate(text: &str) -> String {
    let mut out: String = text.chars().take(40).collect();
    if text.chars().count() > 40 {
        out.push('…');
    }
    out.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}
