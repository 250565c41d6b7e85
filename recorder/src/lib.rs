//! `gilknocker._native`: the knocker and writer threads behind the Python API.
//!
//! Constructors take every argument explicitly; defaults and ergonomics live in the Python
//! package (`python/gilknocker`).

mod labels;
mod live;
mod run;
pub mod schedule;
mod wake;

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gilknocker_trace::{RunMetadata, ScheduleKind, TraceError};
use pyo3::create_exception;
use pyo3::exceptions::{
    PyFileExistsError, PyFileNotFoundError, PyOSError, PyPermissionError, PyRuntimeError,
    PyValueError,
};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::run::{Run, RunConfig, Shared, StartError};
use crate::schedule::Schedule;

create_exception!(
    _native,
    TraceFormatError,
    PyValueError,
    "A file is not a readable gilknocker trace (wrong format, newer version, corrupt)."
);

/// Map trace errors into Python once: OS errors keep their errno (so Python picks
/// FileNotFoundError, PermissionError, IsADirectoryError, ...), format problems raise
/// TraceFormatError.
fn trace_error_to_py(err: TraceError) -> PyErr {
    match &err {
        TraceError::Io { path, source } => {
            let filename = path.display().to_string();
            match source.raw_os_error() {
                Some(errno) => {
                    let text = io::Error::from_raw_os_error(errno).to_string();
                    let strerror = text.split(" (os error").next().unwrap_or(&text).to_string();
                    PyOSError::new_err((errno, strerror, filename))
                }
                None => {
                    let message = err.to_string();
                    match source.kind() {
                        io::ErrorKind::NotFound => PyFileNotFoundError::new_err(message),
                        io::ErrorKind::PermissionDenied => PyPermissionError::new_err(message),
                        io::ErrorKind::AlreadyExists => PyFileExistsError::new_err(message),
                        _ => PyOSError::new_err(message),
                    }
                }
            }
        }
        _ => TraceFormatError::new_err(err.to_string()),
    }
}

struct State {
    run: Option<Run>,
    /// The most recent run (running or stopped): metrics stay readable after stop.
    last: Option<Arc<Shared>>,
}

/// A GIL knocker: a native thread that re-acquires the GIL on a schedule and times it.
#[pyclass(module = "gilknocker._native", frozen)]
struct Recorder {
    config: RunConfig,
    state: Mutex<State>,
}

impl Recorder {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn positive(name: &str, value: i64) -> PyResult<i64> {
    if value <= 0 {
        return Err(PyValueError::new_err(format!(
            "{name} must be a positive number of nanoseconds, got {value}"
        )));
    }
    Ok(value)
}

#[pymethods]
impl Recorder {
    #[new]
    #[pyo3(signature = (
        *, polling_interval_ns, sampling_interval_ns, sleeping_interval_ns, jitter,
        idle_interval_ns, idle_after_ns, busy_threshold_ns, path, part_interval_ns, drain_interval_ns, queue_capacity, seed,
        python_version, python_implementation, gil_enabled, switch_interval_s, pid, host, argv,
        recorder_version, user,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        polling_interval_ns: i64,
        sampling_interval_ns: Option<i64>,
        sleeping_interval_ns: Option<i64>,
        jitter: bool,
        idle_interval_ns: Option<i64>,
        idle_after_ns: i64,
        busy_threshold_ns: i64,
        path: Option<PathBuf>,
        part_interval_ns: i64,
        drain_interval_ns: i64,
        queue_capacity: usize,
        seed: u64,
        python_version: String,
        python_implementation: String,
        gil_enabled: Option<bool>,
        switch_interval_s: f64,
        pid: i64,
        host: String,
        argv: Vec<String>,
        recorder_version: String,
        user: BTreeMap<String, String>,
    ) -> PyResult<Self> {
        let polling_ns = positive("polling_interval_ns", polling_interval_ns)?;
        let (kind, sampling_ns, sleeping_ns) = match (sampling_interval_ns, sleeping_interval_ns) {
            (None, None) => (ScheduleKind::Continuous, 0, 0),
            (Some(sampling), Some(sleeping)) => (
                ScheduleKind::Windowed,
                positive("sampling_interval_ns", sampling)?,
                positive("sleeping_interval_ns", sleeping)?,
            ),
            _ => return Err(PyValueError::new_err(
                "sampling_interval_ns and sleeping_interval_ns go together: give both or neither",
            )),
        };
        if busy_threshold_ns < 0 {
            return Err(PyValueError::new_err(
                "busy_threshold_ns must not be negative",
            ));
        }
        if queue_capacity == 0 {
            return Err(PyValueError::new_err("queue_capacity must be at least 1"));
        }
        if let Some(idle) = idle_interval_ns {
            if kind != ScheduleKind::Continuous {
                return Err(PyValueError::new_err(
                    "idle_interval_ns applies to continuous knocking only (no sampling windows)",
                ));
            }
            if idle < polling_ns {
                return Err(PyValueError::new_err(format!(
                    "idle_interval_ns ({idle}) must be at least polling_interval_ns ({polling_ns})"
                )));
            }
        }
        let schedule = Schedule {
            kind,
            polling_ns,
            sampling_ns,
            sleeping_ns,
            jitter,
            idle_ns: idle_interval_ns,
            idle_after_ns: idle_after_ns.max(0),
            busy_threshold_ns,
        };
        let mut metadata = RunMetadata::new(schedule.info(), 0);
        metadata.python_version = python_version;
        metadata.python_implementation = python_implementation;
        metadata.gil_enabled = gil_enabled;
        metadata.switch_interval_s = switch_interval_s;
        metadata.pid = pid;
        metadata.host = host;
        metadata.argv = argv;
        metadata.recorder_version = recorder_version;
        metadata.user = user;
        metadata.busy_threshold_ns = busy_threshold_ns;
        Ok(Recorder {
            config: RunConfig {
                schedule,
                busy_threshold_ns,
                path,
                part_interval: Duration::from_nanos(
                    positive("part_interval_ns", part_interval_ns)? as u64,
                ),
                drain_interval: Duration::from_nanos(positive(
                    "drain_interval_ns",
                    drain_interval_ns,
                )? as u64),
                queue_capacity,
                seed,
                metadata,
            },
            state: Mutex::new(State {
                run: None,
                last: None,
            }),
        })
    }

    /// Start knocking. Raises RuntimeError if already running, OSError subclasses if the trace
    /// cannot be created.
    fn start(&self, py: Python<'_>) -> PyResult<()> {
        let mut state = self.state();
        if let Some(run) = &state.run {
            if run.pid == std::process::id() {
                return Err(PyRuntimeError::new_err("this recorder is already running"));
            }
            // Inherited across fork(): the threads do not exist in this process.
            if let Some(run) = state.run.take() {
                run.forget_after_fork();
            }
        }
        let config = self.config.clone();
        // The knocker thread needs the GIL to create its thread state: release it meanwhile.
        let run = py.detach(move || Run::start(config)).map_err(|e| match e {
            StartError::Trace(err) => trace_error_to_py(err),
            StartError::Thread(message) => PyRuntimeError::new_err(message),
        })?;
        state.last = Some(run.shared.clone());
        state.run = Some(run);
        Ok(())
    }

    /// Stop knocking and finish the trace, waiting at most `timeout_s` (with the GIL
    /// released). Idempotent. Returns a warning message when something went wrong.
    fn stop(&self, py: Python<'_>, timeout_s: f64) -> PyResult<Option<String>> {
        let run = self.state().run.take();
        let Some(mut run) = run else {
            return Ok(None);
        };
        if run.pid != std::process::id() {
            run.forget_after_fork();
            return Ok(None);
        }
        let timeout = Duration::from_secs_f64(timeout_s.clamp(0.0, 1e9));
        let message = py.detach(|| run.stop(timeout));
        py.check_signals()?;
        Ok(message)
    }

    /// True while the knocker thread runs in this process.
    #[getter]
    fn is_running(&self) -> bool {
        match &self.state().run {
            Some(run) => run.pid == std::process::id() && !run.is_finished(),
            None => false,
        }
    }

    /// gilknocker 0.4.2's metric: total wait / total sampling time since start or reset.
    #[getter]
    fn contention_metric(&self) -> f64 {
        match &self.state().last {
            Some(shared) => shared.live().contention_metric(),
            None => 0.0,
        }
    }

    /// Forget what was measured so far (the trace file is not affected).
    fn reset(&self) {
        if let Some(shared) = &self.state().last {
            let now = shared.now_ns();
            shared.live().reset(now);
        }
    }

    /// A warning from the writer that the knocker thread has not issued yet.
    fn take_warning(&self) -> Option<String> {
        self.state()
            .last
            .as_ref()
            .and_then(|s| s.take_pending_warning())
    }

    /// The first error of the current or last run, if any.
    #[getter]
    fn error(&self) -> Option<String> {
        self.state().last.as_ref().and_then(|s| s.error())
    }

    /// Metrics of the current or last run as a dict (None before the first start).
    fn metrics<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let Some(shared) = self.state().last.clone() else {
            return Ok(None);
        };
        let s = shared.live().snapshot();
        let d = PyDict::new(py);
        d.set_item("knocks", s.knocks)?;
        d.set_item("dropped_samples", s.dropped_samples)?;
        d.set_item("skipped_busy_slots", s.skipped_busy_slots)?;
        d.set_item("missed_late_slots", s.missed_late_slots)?;
        d.set_item("preempted_knocks", s.preempted_knocks)?;
        d.set_item("late_ns_max", s.late_ns_max)?;
        d.set_item("late_ns_mean", s.late_ns_mean)?;
        d.set_item("wait_ns_mean", s.wait_ns_mean)?;
        d.set_item("wait_ns_max", s.wait_ns_max)?;
        d.set_item("wait_ns_min", s.wait_ns_min)?;
        for (q, v) in s.wait_ns_quantiles {
            d.set_item(format!("wait_ns_p{}", quantile_name(q)), v)?;
        }
        for (q, v) in s.request_wait_ns_quantiles {
            d.set_item(format!("request_wait_ns_p{}", quantile_name(q)), v)?;
        }
        d.set_item("contention_metric", s.contention_metric)?;
        d.set_item("busy_fraction", s.busy_fraction)?;
        d.set_item("busy_fraction_ci95", s.busy_fraction_ci95)?;
        d.set_item("long_wait_fraction", s.long_wait_fraction)?;
        d.set_item("duration_ns", s.duration_ns)?;
        Ok(Some(d))
    }

    /// Live figures for services: (busy fraction over the last `window_s`, total wait seconds,
    /// total knocks, window covered in seconds). Never reset; counts a wait in progress.
    fn live(&self, window_s: f64) -> PyResult<(f64, f64, u64, f64)> {
        if !(window_s > 0.0 && window_s.is_finite()) {
            return Err(PyValueError::new_err(format!(
                "window_s must be a positive number of seconds, got {window_s}"
            )));
        }
        let Some(shared) = self.state().last.clone() else {
            return Ok((0.0, 0.0, 0, 0.0));
        };
        let f = shared.live_figures((window_s * 1e9) as i64);
        Ok((
            f.busy_fraction,
            f.wait_seconds_total,
            f.knocks_total,
            f.window_s,
        ))
    }

    /// After fork() in the child: drop the parent's threads without touching them.
    fn _after_fork_child(&self) {
        let mut state = self.state();
        if let Some(run) = state.run.take() {
            run.forget_after_fork();
        }
    }

    /// The trace path, if recording to a file.
    #[getter]
    fn path(&self) -> Option<PathBuf> {
        self.config.path.clone()
    }
}

fn quantile_name(q: f64) -> String {
    // 0.5 -> "50", 0.999 -> "99_9"
    let percent = format!("{}", q * 100.0);
    percent.replace('.', "_")
}

/// The run metadata of a trace as a dict of its Parquet key-value pairs (format checked).
#[pyfunction]
fn read_metadata(py: Python<'_>, path: PathBuf) -> PyResult<BTreeMap<String, String>> {
    let meta = py
        .detach(|| gilknocker_trace::TraceReader::open(&path).map(|r| r.metadata().clone()))
        .map_err(trace_error_to_py)?;
    Ok(meta.to_key_values().into_iter().collect())
}

/// Turn the parts left by a killed recording into a finished trace. Returns (parts, rows).
#[pyfunction]
fn recover(py: Python<'_>, path: PathBuf) -> PyResult<(usize, u64)> {
    let stats = py
        .detach(|| gilknocker_trace::recover(&path))
        .map_err(trace_error_to_py)?;
    Ok((stats.parts, stats.rows))
}

/// Run `gilknock-analyze` with `argv` (argv[0] is the program name) in this process, with the
/// GIL released; returns its exit code. Backs the `gilknock-analyze` console script.
#[pyfunction]
fn analyze(py: Python<'_>, argv: Vec<std::ffi::OsString>) -> i32 {
    py.detach(move || gilknocker_analyzer::run(argv))
}

/// Activate a label (see `labels.rs` for what a label means); returns the token ending it.
#[pyfunction]
fn label_enter(name: &str) -> u64 {
    labels::enter(name)
}

/// End the label of `token`. Returns False if it was not active.
#[pyfunction]
fn label_exit(token: u64) -> bool {
    labels::exit(token)
}

/// The label a knock starting now would record.
#[pyfunction]
fn current_label() -> Option<String> {
    labels::current().map(|l| l.to_string())
}

/// The parts directory used while recording to `path`.
#[pyfunction]
fn parts_dir(path: PathBuf) -> PathBuf {
    gilknocker_trace::parts_dir(&path)
}

/// The files holding the samples of the unfinished recording of `path`, in order: (file, is it
/// a spool). Parts are Parquet files; a spool is an Arrow IPC stream whose last message may be
/// torn (read its complete batches).
#[pyfunction]
fn unfinished_files(py: Python<'_>, path: PathBuf) -> PyResult<Vec<(PathBuf, bool)>> {
    let parts = gilknocker_trace::parts_dir(&path);
    let files = py
        .detach(|| gilknocker_trace::list_parts(&parts))
        .map_err(trace_error_to_py)?;
    Ok(files
        .into_iter()
        .map(|f| {
            let spool = gilknocker_trace::is_spool(&f);
            (f, spool)
        })
        .collect())
}

#[pymodule(gil_used = false)]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Recorder>()?;
    m.add_function(wrap_pyfunction!(read_metadata, m)?)?;
    m.add_function(wrap_pyfunction!(recover, m)?)?;
    m.add_function(wrap_pyfunction!(parts_dir, m)?)?;
    m.add_function(wrap_pyfunction!(unfinished_files, m)?)?;
    m.add_function(wrap_pyfunction!(analyze, m)?)?;
    m.add_function(wrap_pyfunction!(label_enter, m)?)?;
    m.add_function(wrap_pyfunction!(label_exit, m)?)?;
    m.add_function(wrap_pyfunction!(current_label, m)?)?;
    m.add("TraceFormatError", m.py().get_type::<TraceFormatError>())?;
    m.add("FORMAT_VERSION", gilknocker_trace::schema::FORMAT_VERSION)?;
    m.add(
        "DEFAULT_BUSY_THRESHOLD_NS",
        gilknocker_trace::DEFAULT_BUSY_THRESHOLD_NS,
    )?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
