//! gilknock-analyze: summaries, comparisons, plots and exports of gilknocker traces.
//!
//! Data flows one way: trace reader -> [`scan`] (streaming aggregation on all cores) ->
//! [`report`] / [`diff`] (the report model) -> [`render`] (text, JSON, SVG) or [`export`].
//! [`run`] is the whole command-line program; the `gilknock-analyze` binary and the Python
//! package's console script both call it, so they behave identically.

pub mod cli;
pub mod diff;
pub mod error;
pub mod export;
pub mod inputs;
pub mod progress;
pub mod render;
pub mod report;
pub mod scan;
pub mod stats;
pub mod units;

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use clap::Parser;

use crate::cli::{Cli, Command, ReportFormat};
use crate::error::AnalyzeError;
use crate::progress::Progress;
use crate::scan::{ScanOptions, TraceScan};

/// Exit code: success.
pub const EXIT_OK: i32 = 0;
/// Exit code: a `diff --fail-if` rule tripped.
pub const EXIT_GATE: i32 = 1;
/// Exit code: bad usage, or an input that cannot be analyzed.
pub const EXIT_ERROR: i32 = 2;

/// Run the command line `args` (`args[0]` is the program name): parse, analyze, write to the
/// process's stdout and stderr, and return the exit code. Never panics.
pub fn run(args: Vec<OsString>) -> i32 {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(err) => {
            // Help and version go to stdout with code 0; usage errors to stderr with code 2.
            let _ = err.print();
            return err.exit_code();
        }
    };
    // A panic is a bug; report it in one line instead of a backtrace. The hook is swapped only
    // for the duration of the command (run() is the program's entry point, not a library call
    // inside someone else's long-lived process).
    let panic_message: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
    let previous_hook = panic::take_hook();
    {
        let slot = Arc::clone(&panic_message);
        panic::set_hook(Box::new(move |info| {
            if let Ok(mut slot) = slot.lock() {
                slot.get_or_insert_with(|| info.to_string().replace('\n', " "));
            }
        }));
    }
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| execute(cli)));
    panic::set_hook(previous_hook);
    match outcome {
        Ok(Ok(code)) => code,
        Ok(Err(err)) => {
            report_error(&err);
            EXIT_ERROR
        }
        Err(_) => {
            let detail = panic_message
                .lock()
                .ok()
                .and_then(|m| m.clone())
                .unwrap_or_else(|| "unknown".to_string());
            let mut stderr = io::stderr().lock();
            let _ = writeln!(
                stderr,
                "gilknock-analyze: internal error ({detail}); please report this with the command line"
            );
            EXIT_ERROR
        }
    }
}

fn report_error(err: &anyhow::Error) {
    // One line: the chain joined by ": ", skipping causes the message already quotes (the trace
    // crate's errors include their source), newlines from foreign messages flattened.
    let mut message = err.to_string();
    for cause in err.chain().skip(1) {
        let cause = cause.to_string();
        if !message.contains(&cause) {
            message.push_str(": ");
            message.push_str(&cause);
        }
    }
    let message = message.replace('\n', " ");
    let mut stderr = io::stderr().lock();
    let _ = writeln!(stderr, "gilknock-analyze: error: {message}");
}

fn execute(cli: Cli) -> anyhow::Result<i32> {
    let progress = Progress::new(true);
    match cli.command {
        Command::Summary(args) => {
            let paths = inputs::expand(&args.traces)?;
            let grouping = args.grouping();
            let options = ScanOptions {
                by_label: grouping.is_some_and(|g| g.label),
                ..ScanOptions::default()
            };
            let scans = scan_all(&paths, options, &progress)?;
            let report = report::SummaryReport::from_scans_grouped(&scans, grouping);
            write_output(&args.output, |out| match args.format {
                ReportFormat::Text => render::text::write_summary(out, &report),
                ReportFormat::Json => render::json::write_json(out, &report),
            })?;
            Ok(EXIT_OK)
        }
        Command::Diff(args) => {
            let paths = [args.baseline.clone(), args.candidate.clone()];
            let scans = scan_all(&paths, ScanOptions::default(), &progress)?;
            for scan in &scans {
                require_samples(scan, "compare")?;
            }
            let report = diff::DiffReport::new(&scans[0], &scans[1], &args.fail_if);
            write_output(&args.output, |out| match args.format {
                ReportFormat::Text => render::text::write_diff(out, &report),
                ReportFormat::Json => render::json::write_json(out, &report),
            })?;
            if report.gate_tripped {
                let mut stderr = io::stderr().lock();
                for check in report.gate.iter().filter(|c| c.tripped) {
                    let _ = writeln!(stderr, "gilknock-analyze: regression: {}", check.reason);
                }
                return Ok(EXIT_GATE);
            }
            Ok(EXIT_OK)
        }
        Command::Timeline(args) => {
            let paths = inputs::expand(&args.traces)?;
            let options = ScanOptions {
                timeline_columns: Some(args.width as usize),
                ..ScanOptions::default()
            };
            let scans = scan_all(&paths, options, &progress)?;
            for scan in &scans {
                require_samples(scan, "plot")?;
            }
            let panels: Vec<_> = scans
                .iter()
                .map(render::timeline_svg::TimelinePanel::from_scan)
                .collect();
            let plot = render::timeline_svg::TimelinePlot {
                panels,
                log_scale: args.log,
                width: args.width,
            };
            refuse_svg_to_terminal(&args.output)?;
            write_output(&args.output, |out| {
                render::timeline_svg::write_timeline(out, &plot)
            })?;
            Ok(EXIT_OK)
        }
        Command::Histogram(args) => {
            let paths = inputs::expand(&args.traces)?;
            let scans = scan_all(&paths, ScanOptions::default(), &progress)?;
            for scan in &scans {
                require_samples(scan, "plot")?;
            }
            let plot =
                render::histogram_svg::HistogramPlot::from_scans(&scans, args.bins_per_decade);
            refuse_svg_to_terminal(&args.output)?;
            write_output(&args.output, |out| {
                render::histogram_svg::write_histogram(out, &plot)
            })?;
            Ok(EXIT_OK)
        }
        Command::Export(args) => {
            let reader = gilknocker_trace::TraceReader::open(&args.trace)?;
            let options = export::ExportOptions {
                min_wait_ns: args.min_wait.map(|w| w.ceil() as i64).unwrap_or(0),
                bucket_ns: (args.bucket.round() as i64).max(1),
            };
            let mut failure: Option<AnalyzeError> = None;
            write_output(&args.output, |out| {
                let result = match args.format {
                    cli::ExportFormat::Csv => export::write_csv(&reader, &options, out, &progress),
                    cli::ExportFormat::ChromeTrace => {
                        export::write_chrome_trace(&reader, &options, out, &progress)
                    }
                };
                match result {
                    Ok(()) => Ok(()),
                    Err(export::ExportError::Write(e)) => Err(e),
                    Err(export::ExportError::Trace(e)) => {
                        failure = Some(e);
                        Ok(())
                    }
                }
            })?;
            progress.finish();
            if let Some(err) = failure {
                // Half an export looks like a whole one: do not leave it behind.
                if !is_stdout(&args.output) {
                    let _ = std::fs::remove_file(&args.output);
                }
                return Err(err.into());
            }
            Ok(EXIT_OK)
        }
        Command::Recover(args) => {
            let stats = gilknocker_trace::recover(&args.trace)?;
            let mut stdout = io::stdout().lock();
            writeln!(
                stdout,
                "recovered {}: merged {} part{} with {} samples",
                units::printable(&args.trace.display().to_string(), 200),
                stats.parts,
                if stats.parts == 1 { "" } else { "s" },
                units::format_count(stats.rows)
            )
            .or_else(ignore_broken_pipe)?;
            Ok(EXIT_OK)
        }
    }
}

/// Scan traces one after the other (each scan already uses every core).
fn scan_all(
    paths: &[PathBuf],
    options: ScanOptions,
    progress: &Progress,
) -> Result<Vec<TraceScan>, AnalyzeError> {
    paths
        .iter()
        .map(|path| {
            let result = scan::scan_path(path, options, progress);
            progress.finish();
            result
        })
        .collect()
}

fn require_samples(scan: &TraceScan, what: &'static str) -> Result<(), AnalyzeError> {
    if scan.samples() == 0 {
        return Err(AnalyzeError::Empty {
            path: scan.path.clone(),
            what,
        });
    }
    Ok(())
}

fn is_stdout(path: &Path) -> bool {
    path.as_os_str() == "-"
}

fn refuse_svg_to_terminal(path: &Path) -> anyhow::Result<()> {
    if is_stdout(path) && io::stdout().is_terminal() {
        return Err(AnalyzeError::Usage(
            "refusing to write SVG to a terminal: give -o FILE.svg or redirect stdout".to_string(),
        )
        .into());
    }
    Ok(())
}

/// Write through `render` to `path` (`-` = stdout). A closed pipe (`| head`) is not an error.
fn write_output(
    path: &Path,
    render: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> anyhow::Result<()> {
    if is_stdout(path) {
        let stdout = io::stdout();
        let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
        render(&mut out)
            .and_then(|()| out.flush())
            .or_else(ignore_broken_pipe)
            .context("cannot write to stdout")?;
        return Ok(());
    }
    let file = File::create(path).map_err(|e| AnalyzeError::io(path, e))?;
    let mut out = BufWriter::with_capacity(1 << 16, file);
    render(&mut out)
        .and_then(|()| out.flush())
        .map_err(|e| AnalyzeError::io(path, e))?;
    Ok(())
}

fn ignore_broken_pipe(err: io::Error) -> io::Result<()> {
    if err.kind() == io::ErrorKind::BrokenPipe {
        Ok(())
    } else {
        Err(err)
    }
}
