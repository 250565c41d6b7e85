//! Command-line interface (clap derive). `Cli::command().debug_assert()` runs in the tests.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::diff::GateRule;

const AFTER_HELP: &str = "\
Exit status: 0 success, 1 a --fail-if rule tripped (diff), 2 bad usage or an unreadable trace.
Percentiles come from HDR histograms with 3 significant digits: within 0.1% of the exact value.
Documentation: docs/analyzer.md";

/// Analyze gilknocker traces: how long did Python threads wait for the GIL?
#[derive(Debug, Parser)]
#[command(name = "gilknock-analyze", version, after_help = AFTER_HELP, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Wait percentiles, busy fraction and run details of one or more traces.
    Summary(SummaryArgs),
    /// Compare trace B with baseline A; optionally fail on regressions (exit code 1).
    Diff(DiffArgs),
    /// Plot waits and busy fraction over time as SVG (one panel per trace).
    Timeline(TimelineArgs),
    /// Plot the distribution of waits as SVG, log-spaced bins, traces overlaid.
    Histogram(HistogramArgs),
    /// Write the samples as CSV or as a Chrome trace (Perfetto, chrome://tracing).
    Export(ExportArgs),
    /// Turn the parts left by a killed recording into a finished trace.
    Recover(RecoverArgs),
}

/// Output format of `summary` and `diff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// Aligned text for people.
    Text,
    /// JSON with a stable, documented schema (schema_version 1).
    Json,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Percentiles are within 0.1% (HDR histogram, 3 significant digits); min, mean and \
max are exact. Directories are searched for *.parquet files and *.parquet.parts directories \
(unfinished recordings)."
)]
pub struct SummaryArgs {
    /// Trace files, `.parts` directories of unfinished recordings, or directories of traces.
    #[arg(required = true, value_name = "TRACE")]
    pub traces: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,
    /// Write to this file instead of stdout (`-` is stdout).
    #[arg(short, long, value_name = "FILE", default_value = "-")]
    pub output: PathBuf,
    /// Also give the figures per group of knocks: by the host or pid in each trace's metadata,
    /// or by the label active when each knock began. Combine with commas or repeat
    /// (`--by host,label`).
    #[arg(long, value_enum, value_name = "KEY", value_delimiter = ',')]
    pub by: Vec<GroupKey>,
}

/// What `summary --by` groups knocks by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GroupKey {
    /// The host the trace was recorded on.
    Host,
    /// The process id of the recorded process.
    Pid,
    /// The label active when the knock began (`gilknocker.label(...)`).
    Label,
}

impl SummaryArgs {
    /// The `--by` keys (None without `--by`).
    pub fn grouping(&self) -> Option<crate::report::Grouping> {
        if self.by.is_empty() {
            return None;
        }
        Some(crate::report::Grouping {
            host: self.by.contains(&GroupKey::Host),
            pid: self.by.contains(&GroupKey::Pid),
            label: self.by.contains(&GroupKey::Label),
        })
    }
}

#[derive(Debug, Args)]
#[command(after_help = "\
Rules (repeatable): --fail-if METRIC:THRESHOLD trips when B is worse than A by more than THRESHOLD.
  METRIC     min, mean, p50, p90, p99, p99.9, max, busy_fraction, contention, long_wait_fraction
  THRESHOLD  N%  relative to A (p99:10%), a duration for wait metrics (p99:2ms, mean:500us),
             or an absolute fraction for the others (busy_fraction:0.05 = 5 percentage points)
A rule trips on the threshold alone; whether the change is statistically significant is printed
beside it. Tests: Mann-Whitney U (whole distribution), Welch (mean), disjoint 95% order-statistic
intervals (percentiles), two-proportion z (fractions); all at the 5% level.")]
pub struct DiffArgs {
    /// Baseline trace.
    #[arg(value_name = "A")]
    pub baseline: PathBuf,
    /// Trace compared with the baseline.
    #[arg(value_name = "B")]
    pub candidate: PathBuf,
    /// Fail (exit code 1) when B regresses by more than this, e.g. p99:10% or busy_fraction:0.05.
    #[arg(long = "fail-if", value_name = "METRIC:THRESHOLD")]
    pub fail_if: Vec<GateRule>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,
    /// Write to this file instead of stdout (`-` is stdout).
    #[arg(short, long, value_name = "FILE", default_value = "-")]
    pub output: PathBuf,
}

#[derive(Debug, Args)]
pub struct TimelineArgs {
    /// Trace files or directories of traces (one panel each).
    #[arg(required = true, value_name = "TRACE")]
    pub traces: Vec<PathBuf>,
    /// SVG file to write (`-` is stdout).
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// Logarithmic wait axis (recommended when waits span orders of magnitude).
    #[arg(long)]
    pub log: bool,
    /// Width of the plot area in pixels: one column of statistics per pixel.
    #[arg(long, default_value_t = 1200, value_parser = clap::value_parser!(u32).range(100..=10000))]
    pub width: u32,
}

#[derive(Debug, Args)]
pub struct HistogramArgs {
    /// Trace files or directories of traces (overlaid, with a legend).
    #[arg(required = true, value_name = "TRACE")]
    pub traces: Vec<PathBuf>,
    /// SVG file to write (`-` is stdout).
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// Bins per factor of ten of wait time.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(2..=100))]
    pub bins_per_decade: u32,
}

/// Export format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// time_ns,time_utc,wait_ns,interval_ns,label with a header; time_utc is ISO-8601 with
    /// nanoseconds.
    Csv,
    /// Chrome trace event JSON: one "X" event per knock, busy fraction as a counter track.
    ChromeTrace,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The trace to export.
    #[arg(value_name = "TRACE")]
    pub trace: PathBuf,
    /// Output format.
    #[arg(long, value_enum)]
    pub format: ExportFormat,
    /// Write to this file instead of stdout (`-` is stdout).
    #[arg(short, long, value_name = "FILE", default_value = "-")]
    pub output: PathBuf,
    /// Only export knocks that waited at least this long (e.g. 5us), to keep big traces small.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_arg)]
    pub min_wait: Option<f64>,
    /// Chrome trace: width of the busy-fraction counter buckets (e.g. 10ms).
    #[arg(long, value_name = "DURATION", default_value = "100ms", value_parser = parse_duration_arg)]
    pub bucket: f64,
}

#[derive(Debug, Args)]
pub struct RecoverArgs {
    /// The trace path the recording was writing to (its parts are in TRACE.parts/).
    #[arg(value_name = "TRACE")]
    pub trace: PathBuf,
}

fn parse_duration_arg(text: &str) -> Result<f64, String> {
    crate::units::parse_duration_ns(text)
}
