//! Progress on stderr for long analyses, only when stderr is a terminal (never in pipes, CI logs
//! or when the Python package captures output).

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Counts rows read and redraws one status line at most ten times a second.
#[derive(Debug)]
pub struct Progress {
    enabled: bool,
    label: Mutex<String>,
    total_rows: AtomicU64,
    done_rows: AtomicU64,
    last_draw: Mutex<Option<Instant>>,
    drawn: std::sync::atomic::AtomicBool,
}

impl Progress {
    /// Shows progress when `enabled` and stderr is a terminal.
    pub fn new(enabled: bool) -> Self {
        Progress {
            enabled: enabled && std::io::stderr().is_terminal(),
            label: Mutex::new(String::new()),
            total_rows: AtomicU64::new(0),
            done_rows: AtomicU64::new(0),
            last_draw: Mutex::new(None),
            drawn: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Never shows anything (tests, library use).
    pub fn hidden() -> Self {
        Progress::new(false)
    }

    /// Start a new item (a trace) with `total_rows` rows to read.
    pub fn start(&self, label: &str, total_rows: u64) {
        if !self.enabled {
            return;
        }
        if let Ok(mut current) = self.label.lock() {
            *current = label.to_string();
        }
        self.total_rows.store(total_rows, Ordering::Relaxed);
        self.done_rows.store(0, Ordering::Relaxed);
    }

    /// Record `rows` more rows read (called from worker threads).
    pub fn advance(&self, rows: u64) {
        if !self.enabled {
            return;
        }
        let done = self.done_rows.fetch_add(rows, Ordering::Relaxed) + rows;
        let Ok(mut last) = self.last_draw.try_lock() else {
            return;
        };
        let now = Instant::now();
        if last.is_some_and(|t| now.duration_since(t) < Duration::from_millis(100)) {
            return;
        }
        *last = Some(now);
        let total = self.total_rows.load(Ordering::Relaxed).max(1);
        let label = self.label.lock().map(|l| l.clone()).unwrap_or_default();
        let percent = (done as f64 / total as f64 * 100.0).min(100.0);
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r\x1b[2K{label}: {percent:5.1}% of {} rows",
            crate::units::format_count(total)
        );
        let _ = err.flush();
        self.drawn.store(true, Ordering::Relaxed);
    }

    /// Erase the status line (before printing results or errors).
    pub fn finish(&self) {
        if self.enabled && self.drawn.swap(false, Ordering::Relaxed) {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
        }
    }
}
