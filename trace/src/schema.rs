//! The trace format: the one place where a column name, an Arrow type, a metadata key, the
//! format name or the format version is written. Writer and reader both use these constants.
//!
//! # Compatibility rule
//!
//! * `gilknocker.format_version` changes only when an existing column or key changes type or
//!   meaning. A reader refuses a version newer than [`FORMAT_VERSION`].
//! * Adding a column or a metadata key is *not* a version change: new columns are optional
//!   (nullable, or with a documented default when absent), and readers ignore columns and keys
//!   they do not know. A reader of version N therefore reads every file of version N, whatever
//!   was added to it later.
//! * Columns are found by name, never by position.

use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// Value of [`key::FORMAT`]: identifies a gilknocker trace.
pub const FORMAT_NAME: &str = "gilknocker-trace";
/// The format version this crate writes and the newest it reads.
pub const FORMAT_VERSION: u32 = 1;
/// Prefix of every key-value metadata key the recorder writes.
pub const KEY_PREFIX: &str = "gilknocker.";
/// Timezone of the `time` column.
pub const TIME_ZONE: &str = "UTC";

/// Resolution of the `time` column written by the recorder: knock start times are floored to a
/// multiple of 1024 ns (about 1 µs). Deltas that are multiples of 2^10 compress to about 0.8
/// bytes per sample less (2.9 -> 2.1 bytes for the column on a typical run); `wait_ns` keeps
/// full nanosecond precision.
pub const TIME_RESOLUTION_NS: i64 = 1024;

/// Floor a knock start time to [`TIME_RESOLUTION_NS`].
#[inline]
pub fn quantize_time(time_ns: i64) -> i64 {
    time_ns & !(TIME_RESOLUTION_NS - 1)
}

/// Column names.
pub mod column {
    /// When the knock began: Timestamp(ns, "UTC"), wall clock anchored once at start and
    /// advanced by the monotonic clock (so never decreasing within a run), floored to
    /// [`super::TIME_RESOLUTION_NS`].
    pub const TIME: &str = "time";
    /// How long re-acquiring the GIL took, in nanoseconds (Int64, >= 0).
    pub const WAIT_NS: &str = "wait_ns";
    /// The mean knock interval in force when this knock was scheduled, in nanoseconds (Int64,
    /// positive). The recorder knocks less often while the GIL stays free; each knock stands
    /// for `interval_ns` of time in the busy-fraction estimate. Optional for readers: when the
    /// column is absent, every knock has the metadata's `polling_interval_ns`.
    pub const INTERVAL_NS: &str = "interval_ns";
    /// The label active when the knock began (`gilknocker.label(...)`), or null:
    /// Dictionary(Int32, Utf8). Optional for readers: absent means no labels.
    pub const LABEL: &str = "label";
    /// For knocks that waited longer than the busy threshold: true when the knocker blocked
    /// waiting for the GIL (a voluntary context switch happened during the knock), false when
    /// it did not (the wait was the knocker thread being preempted, not a busy GIL); null for
    /// short knocks or where the platform cannot tell (Boolean, nullable). Optional for readers:
    /// absent means every long wait counts as busy.
    pub const BLOCKED: &str = "blocked";
    /// For knocks that waited longer than the busy threshold: how much of the wait the knocker
    /// thread spent runnable but not running, in nanoseconds (Linux schedstat `run_delay`):
    /// waking up after the holder let go, or being preempted. The GIL was not what it waited
    /// for then, so the busy-fraction estimate counts that time as free (`wait_ns` keeps the
    /// whole wait). Null for short knocks or where the platform cannot tell (Int64, nullable).
    /// Optional for readers: absent means unknown (then `blocked` decides).
    pub const RUNNABLE_NS: &str = "runnable_ns";
    /// For knocks that waited longer than the busy threshold: the recorder's estimate of the
    /// wake-up part of the hand-off, in nanoseconds. The hand-off is the part of the wait after
    /// the holder let go of the GIL and before the knocker ran again (20-170 µs on a VM): the
    /// time the woken thread queued for a CPU (`runnable_ns`, measured) plus the time an idle
    /// CPU took to wake up, which no counter shows. This column estimates the latter from how
    /// late the knocker woke from its own recent sleeps of about the same length, less their
    /// run delay (the same wake-up path). The busy-fraction estimate counts
    /// `runnable_ns + handoff_ns` of the wait as free. Never more than the wait less
    /// `runnable_ns`. Null for short knocks or before enough sleeps were measured (Int64,
    /// nullable). Optional for readers: absent means unknown (no wake-up is taken off).
    pub const HANDOFF_NS: &str = "handoff_ns";
}

/// Key-value metadata keys (all under [`KEY_PREFIX`]).
pub mod key {
    pub const FORMAT: &str = "gilknocker.format";
    pub const FORMAT_VERSION: &str = "gilknocker.format_version";
    /// "true" once the recorder stopped cleanly and wrote its final counters.
    pub const COMPLETE: &str = "gilknocker.complete";
    /// "true" when the file was rebuilt from parts left by a process that died.
    pub const RECOVERED: &str = "gilknocker.recovered";
    pub const RECORDER_VERSION: &str = "gilknocker.recorder_version";
    pub const PYTHON_VERSION: &str = "gilknocker.python_version";
    pub const PYTHON_IMPLEMENTATION: &str = "gilknocker.python_implementation";
    /// "true", "false" or "unknown" (interpreters without `sys._is_gil_enabled`).
    pub const GIL_ENABLED: &str = "gilknocker.gil_enabled";
    /// `sys.getswitchinterval()` in seconds.
    pub const SWITCH_INTERVAL_S: &str = "gilknocker.switch_interval_s";
    pub const PID: &str = "gilknocker.pid";
    pub const HOST: &str = "gilknocker.host";
    /// JSON array of strings.
    pub const ARGV: &str = "gilknocker.argv";
    /// Wall clock at start / end, nanoseconds since the Unix epoch.
    pub const START_TIME_NS: &str = "gilknocker.start_time_ns";
    pub const END_TIME_NS: &str = "gilknocker.end_time_ns";
    /// "continuous" or "windowed".
    pub const SCHEDULE: &str = "gilknocker.schedule";
    pub const POLLING_INTERVAL_NS: &str = "gilknocker.polling_interval_ns";
    pub const SAMPLING_INTERVAL_NS: &str = "gilknocker.sampling_interval_ns";
    pub const SLEEPING_INTERVAL_NS: &str = "gilknocker.sleeping_interval_ns";
    /// "true" when intervals were drawn from an exponential distribution with the given mean.
    pub const JITTER: &str = "gilknocker.jitter";
    /// Waits longer than this count as "the GIL was busy" for the busy-fraction estimate.
    pub const BUSY_THRESHOLD_NS: &str = "gilknocker.busy_threshold_ns";
    /// Mean interval used while the GIL stays free (continuous schedule; absent: never slowed).
    pub const IDLE_INTERVAL_NS: &str = "gilknocker.idle_interval_ns";
    /// How long after the last busy knock the knocker keeps knocking at the polling interval.
    pub const IDLE_AFTER_NS: &str = "gilknocker.idle_after_ns";
    /// Counters, cumulative over the run (or up to the last part for an unfinished run).
    pub const KNOCKS: &str = "gilknocker.knocks";
    pub const DROPPED_SAMPLES: &str = "gilknocker.dropped_samples";
    /// Scheduled knocks that fell inside a previous knock's wait (the GIL was busy then).
    pub const SKIPPED_BUSY_SLOTS: &str = "gilknocker.skipped_busy_slots";
    /// Scheduled knocks missed because the knocker thread itself woke up late.
    pub const MISSED_LATE_SLOTS: &str = "gilknocker.missed_late_slots";
    pub const LATE_NS_TOTAL: &str = "gilknocker.late_ns_total";
    pub const LATE_NS_MAX: &str = "gilknocker.late_ns_max";
    /// Total time spent inside sampling windows (the whole run for continuous knocking).
    pub const WINDOW_NS_TOTAL: &str = "gilknocker.window_ns_total";
    pub const WAIT_NS_TOTAL: &str = "gilknocker.wait_ns_total";
    /// Why the recording ended badly, if it did (for example a write error).
    pub const ERROR: &str = "gilknocker.error";
    /// User-supplied key-value pairs are stored under this prefix.
    pub const USER_PREFIX: &str = "gilknocker.user.";
}

/// Suffix of the directory holding the parts of a recording in progress.
pub const PARTS_SUFFIX: &str = ".parts";
/// Finished parts: `part-000001.parquet`, ... (readable as a Parquet dataset directory).
pub const PART_PREFIX: &str = "part-";
pub const PART_EXTENSION: &str = ".parquet";
/// The spool of the newest samples, not yet in a part: `.spool-000007.arrows`, an Arrow IPC
/// stream that becomes `part-000007.parquet` (a spool whose part exists is a leftover of that
/// step and is ignored). Hidden, so Parquet dataset readers of the directory skip it.
pub const SPOOL_PREFIX: &str = ".spool-";
pub const SPOOL_EXTENSION: &str = ".arrows";

/// The Arrow schema of a trace as written by this version.
pub fn arrow_schema() -> SchemaRef {
    Arc::new(Schema::new(fields(DataType::Dictionary(
        Box::new(DataType::Int32),
        Box::new(DataType::Utf8),
    ))))
}

/// The Arrow schema of a spool: the trace's columns, with labels as plain strings (an IPC
/// stream would otherwise carry a replacement dictionary whenever a new label appears).
pub fn spool_schema() -> Schema {
    Schema::new(fields(DataType::Utf8))
}

fn fields(label: DataType) -> Vec<Field> {
    vec![
        Field::new(
            column::TIME,
            DataType::Timestamp(TimeUnit::Nanosecond, Some(TIME_ZONE.into())),
            false,
        ),
        Field::new(column::WAIT_NS, DataType::Int64, false),
        Field::new(column::INTERVAL_NS, DataType::Int64, false),
        Field::new(column::LABEL, label, true),
        Field::new(column::BLOCKED, DataType::Boolean, true),
        Field::new(column::RUNNABLE_NS, DataType::Int64, true),
        Field::new(column::HANDOFF_NS, DataType::Int64, true),
    ]
}
