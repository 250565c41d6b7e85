//! One recording: the knocker thread, the optional writer thread, and what they share.

use std::ffi::CString;
use std::path::PathBuf;

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use gilknocker_trace::{MergeStats, RunMetadata, Sample, TraceError, TraceWriter};
use pyo3::ffi;

use crate::live::Live;
use crate::schedule::{knock_loop, Clock, Intervals, Knock, Probe, Recorder, Schedule};

/// What a run needs besides the schedule.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub schedule: Schedule,
    pub busy_threshold_ns: i64,
    pub path: Option<PathBuf>,
    /// How often the writer puts buffered samples on disk (bounds what a crash loses): appended
    /// to the spool, which becomes a part every [`COMPACT_INTERVAL`].
    pub part_interval: Duration,
    /// How often the writer drains the queue.
    pub drain_interval: Duration,
    pub queue_capacity: usize,
    pub seed: u64,
    /// Metadata template (schedule, counters and times are filled in by the run).
    pub metadata: RunMetadata,
}

/// How long samples stay in the spool before the writer turns it into a Parquet part. A part
/// costs ~0.5 ms of CPU whatever its size, an append to the spool a few tens of µs: at the
/// default flush interval (500 ms) this makes the idle writer ~10x cheaper, and it bounds how
/// stale the counters of a recovered trace can be (they come from the newest part or spool).
pub const COMPACT_INTERVAL: Duration = Duration::from_secs(10);

/// State shared by the knocker thread, the writer thread and Python.
pub struct Shared {
    base: Instant,
    wall_at_base_ns: i64,
    stop: AtomicBool,
    live: Mutex<Live>,
    knocker_done: AtomicBool,
    /// Set by the writer when writing failed; the knocker issues the warning while it holds
    /// the GIL (the writer thread never touches Python).
    warn_message: Mutex<Option<String>>,
    warn_pending: AtomicBool,
    error: Mutex<Option<String>>,
    /// Monotonic start of the knock waiting right now (i64::MIN when none): lets readers count
    /// a wait in progress, e.g. while someone pins the GIL.
    waiting_since_ns: AtomicI64,
}

impl Shared {
    fn new(polling_ns: i64, busy_threshold_ns: i64) -> Self {
        Shared {
            base: Instant::now(),
            wall_at_base_ns: wall_now_ns(),
            stop: AtomicBool::new(false),
            live: Mutex::new(Live::new(polling_ns, busy_threshold_ns)),
            knocker_done: AtomicBool::new(false),
            warn_message: Mutex::new(None),
            warn_pending: AtomicBool::new(false),
            error: Mutex::new(None),
            waiting_since_ns: AtomicI64::new(i64::MIN),
        }
    }

    /// Live figures for services over the last `window_ns`.
    pub fn live_figures(&self, window_ns: i64) -> crate::live::LiveFigures {
        let since = self.waiting_since_ns.load(Ordering::Acquire);
        let now = self.now_ns();
        self.live()
            .live(now, window_ns, (since != i64::MIN).then_some(since))
    }

    pub fn now_ns(&self) -> i64 {
        self.base.elapsed().as_nanos() as i64
    }

    pub fn live(&self) -> MutexGuard<'_, Live> {
        // A panic while holding the lock cannot leave Live inconsistent in a way that matters
        // more than losing the metrics: recover the guard.
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn report_error(&self, message: String) {
        let mut error = self.error.lock().unwrap_or_else(|e| e.into_inner());
        if error.is_none() {
            *error = Some(message.clone());
            *self.warn_message.lock().unwrap_or_else(|e| e.into_inner()) = Some(message);
            self.warn_pending.store(true, Ordering::Release);
        }
    }

    pub fn error(&self) -> Option<String> {
        self.error.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Take the warning the knocker has not issued yet (so Python issues it instead).
    pub fn take_pending_warning(&self) -> Option<String> {
        if self.warn_pending.swap(false, Ordering::AcqRel) {
            self.warn_message
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
        } else {
            None
        }
    }
}

struct RealClock {
    shared: Arc<Shared>,
}

impl Clock for RealClock {
    fn now_ns(&self) -> i64 {
        self.shared.now_ns()
    }
    fn sleep_until(&mut self, deadline_ns: i64) {
        let remaining = deadline_ns - self.shared.now_ns();
        if remaining > 0 {
            // stop() unparks us, so a long pause never delays it.
            thread::park_timeout(Duration::from_nanos(remaining as u64));
        }
    }
}

/// Knocks on the real GIL with one thread state kept for the thread's whole life, so creating
/// and destroying a thread state never falls inside the measured interval.
struct GilProbe {
    tstate: *mut ffi::PyThreadState,
    shared: Arc<Shared>,
    /// The thread's voluntary context switches before the current knock.
    voluntary_before: Option<i64>,
    run_delay: RunDelay,
    /// The thread's run delay before the current knock.
    run_delay_before: Option<i64>,
}

/// This thread's total time runnable but not running (Linux: the second field of
/// /proc/thread-self/schedstat, in ns). Opened by the thread it measures.
struct RunDelay {
    #[cfg(target_os = "linux")]
    file: Option<std::fs::File>,
}

impl RunDelay {
    fn for_this_thread() -> Self {
        RunDelay {
            #[cfg(target_os = "linux")]
            file: std::fs::File::open("/proc/thread-self/schedstat").ok(),
        }
    }

    fn read(&self) -> Option<i64> {
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::fs::FileExt;
            let mut buf = [0u8; 128];
            let n = self.file.as_ref()?.read_at(&mut buf, 0).ok()?;
            let text = std::str::from_utf8(&buf[..n]).ok()?;
            return text.split_ascii_whitespace().nth(1)?.parse().ok();
        }
        #[allow(unreachable_code)]
        None
    }
}

/// This thread's voluntary context switches (Linux: getrusage(RUSAGE_THREAD), ~1 µs).
fn voluntary_switches() -> Option<i64> {
    #[cfg(target_os = "linux")]
    {
        let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
        // SAFETY: getrusage writes a rusage into the pointer we own.
        let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, usage.as_mut_ptr()) };
        if rc == 0 {
            // SAFETY: initialized by a successful getrusage.
            return Some(unsafe { usage.assume_init() }.ru_nvcsw);
        }
    }
    None
}

impl Probe for GilProbe {
    #[inline]
    fn acquire(&mut self, start_ns: i64) -> bool {
        self.shared
            .waiting_since_ns
            .store(start_ns, Ordering::Release);
        // Once finalization has begun Py_IsInitialized() reads 0; re-attaching then could make
        // CPython < 3.14 exit the thread under us (cpython#87135), so stop knocking instead.
        // SAFETY: Py_IsInitialized may be called at any time; the thread state is ours and
        // detached.
        unsafe {
            if ffi::Py_IsInitialized() == 0 {
                return false;
            }
            ffi::PyEval_RestoreThread(self.tstate);
        }
        true
    }

    #[inline]
    fn release(&mut self) {
        // SAFETY: we hold the GIL with our own thread state.
        self.tstate = unsafe { ffi::PyEval_SaveThread() };
        self.shared
            .waiting_since_ns
            .store(i64::MIN, Ordering::Release);
    }

    fn prepare(&mut self, fast: bool) {
        self.voluntary_before = voluntary_switches();
        // Reading schedstat after a long sleep costs ~15 µs of CPU (cold kernel paths; ~1 µs
        // when warm), so at the idle pace, where knocks rarely wait, the run delay is not
        // read and long knocks record none.
        self.run_delay_before = if fast { self.run_delay.read() } else { None };
    }

    fn runnable_ns(&mut self) -> Option<i64> {
        let before = self.run_delay_before?;
        Some((self.run_delay.read()? - before).max(0))
    }

    fn runnable_total_ns(&self) -> Option<i64> {
        self.run_delay_before
    }

    fn blocked(&mut self) -> Option<bool> {
        // Waiting for a held GIL always blocks on CPython's condition variable: a voluntary
        // context switch. A long knock without one was this thread being preempted.
        let before = self.voluntary_before?;
        Some(voluntary_switches()? > before)
    }

    fn while_held(&mut self) {
        if !self.shared.warn_pending.load(Ordering::Acquire) {
            return;
        }
        if let Some(message) = self.shared.take_pending_warning() {
            let text = CString::new(format!("gilknocker: {message}").replace('\0', " "))
                .unwrap_or_default();
            // SAFETY: we hold the GIL; a warning filter turned into an error leaves an
            // exception set, which we clear: this thread has no caller to raise to.
            unsafe {
                if ffi::PyErr_WarnEx(ffi::PyExc_RuntimeWarning, text.as_ptr(), 1) != 0 {
                    ffi::PyErr_Clear();
                }
            }
        }
    }
}

/// The knocker thread's sink: live statistics plus the queue to the writer.
struct KnockerSink {
    shared: Arc<Shared>,
    queue: Option<SyncSender<Queued>>,
    labels: crate::labels::LabelCache,
    label: Option<Arc<str>>,
}

/// What goes to the writer: the sample as the trace stores it, the knock it came from, and the
/// label active when it began.
type Queued = (Sample, Knock, Option<Arc<str>>);

impl Recorder for KnockerSink {
    #[inline]
    fn knock_starting(&mut self) {
        if self.queue.is_some() {
            self.label = self.labels.refresh();
        }
    }

    #[inline]
    fn knocked(&mut self, knock: &Knock) {
        let mut dropped = 0;
        if let Some(queue) = &self.queue {
            let sample = Sample {
                time_ns: gilknocker_trace::schema::quantize_time(
                    self.shared.wall_at_base_ns.saturating_add(knock.start_ns),
                ),
                wait_ns: knock.wait_ns,
            };
            match queue.try_send((sample, *knock, self.label.clone())) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => dropped = 1,
            }
        }
        let mut live = self.shared.live();
        live.knocked(knock);
        if dropped > 0 {
            live.dropped(dropped);
        }
    }
    fn skipped(&mut self, busy: u64, missed: u64) {
        self.shared.live().skipped(busy, missed);
    }
    fn window_closed(&mut self, start_ns: i64, end_ns: i64) {
        self.shared.live().window_closed(start_ns, end_ns);
    }
    fn window_opened(&mut self, start_ns: i64) {
        self.shared.live().window_opened(start_ns);
    }
}

/// Handle to a running recording.
pub struct Run {
    pub shared: Arc<Shared>,
    knocker: Option<JoinHandle<()>>,
    writer: Option<JoinHandle<Result<Option<MergeStats>, String>>>,
    pub pid: u32,
}

/// Why a run could not start.
#[derive(Debug)]
pub enum StartError {
    Trace(TraceError),
    Thread(String),
}

fn wall_now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

impl Run {
    /// Start knocking. Must be called with the GIL *released*: the knocker thread takes the GIL
    /// to create its thread state, and this returns only once it has (or failed to).
    pub fn start(config: RunConfig) -> Result<Run, StartError> {
        // Create the output first so that an unwritable path fails here, at the call site.
        let writer = match &config.path {
            Some(path) => Some(TraceWriter::create(path).map_err(StartError::Trace)?),
            None => None,
        };
        let shared = Arc::new(Shared::new(
            config.schedule.polling_ns,
            config.busy_threshold_ns,
        ));
        let (queue, receiver) = match writer {
            Some(_) => {
                let (tx, rx) = sync_channel(config.queue_capacity.max(1));
                (Some(tx), Some(rx))
            }
            None => (None, None),
        };

        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
        let knocker_shared = shared.clone();
        let schedule = config.schedule;
        let seed = config.seed;
        let knocker = thread::Builder::new()
            .name("gilknocker-knocker".into())
            .spawn(move || knocker_main(knocker_shared, schedule, seed, queue, ready_tx))
            .map_err(|e| StartError::Thread(format!("cannot start the knocker thread: {e}")))?;
        if ready_rx.recv().is_err() {
            let _ = knocker.join();
            return Err(StartError::Thread(
                "the knocker thread ended before it started knocking".into(),
            ));
        }

        let writer_handle = match (writer, receiver) {
            (Some(mut writer), Some(receiver)) => {
                let writer_shared = shared.clone();
                let mut metadata = config.metadata.clone();
                metadata.schedule = config.schedule.info();
                if config.schedule.kind == gilknocker_trace::ScheduleKind::Continuous {
                    metadata.idle_interval_ns = config.schedule.idle_ns;
                    metadata.idle_after_ns = config
                        .schedule
                        .idle_ns
                        .map(|_| config.schedule.idle_after_ns);
                }
                metadata.busy_threshold_ns = config.busy_threshold_ns;
                metadata.start_time_ns = shared.wall_at_base_ns;
                // Before start() returns: from now on a killed process leaves a recoverable
                // trace (its metadata, at least).
                if let Err(e) = writer.write_header(&metadata) {
                    shared.stop.store(true, Ordering::Release);
                    knocker.thread().unpark();
                    let _ = knocker.join();
                    let _ = std::fs::remove_dir_all(gilknocker_trace::parts_dir(writer.path()));
                    return Err(StartError::Trace(e));
                }
                let part_interval = config.part_interval;
                let drain_interval = config.drain_interval;
                let spawned = thread::Builder::new()
                    .name("gilknocker-writer".into())
                    .spawn(move || {
                        writer_main(
                            writer_shared,
                            writer,
                            receiver,
                            metadata,
                            part_interval,
                            COMPACT_INTERVAL,
                            drain_interval,
                        )
                    });
                match spawned {
                    Ok(handle) => Some(handle),
                    Err(e) => {
                        // Without a writer the samples would pile up: stop knocking too.
                        shared.stop.store(true, Ordering::Release);
                        knocker.thread().unpark();
                        let _ = knocker.join();
                        return Err(StartError::Thread(format!(
                            "cannot start the writer thread: {e}"
                        )));
                    }
                }
            }
            _ => None,
        };
        Ok(Run {
            shared,
            knocker: Some(knocker),
            writer: writer_handle,
            pid: std::process::id(),
        })
    }

    /// Stop and wait (call with the GIL released) at most `timeout` for the threads. Returns a
    /// message for the user when something went wrong (the recording itself never raises).
    pub fn stop(&mut self, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        self.shared.stop.store(true, Ordering::Release);
        if let Some(knocker) = self.knocker.take() {
            knocker.thread().unpark();
            if !join_until(&knocker, deadline) {
                // Leave it: it ends by itself (or with the process). Never hang the caller.
                std::mem::forget(knocker);
                return Some(format!(
                    "timed out after {:.3} s waiting for the knocker thread to stop",
                    timeout.as_secs_f64()
                ));
            }
            let _ = knocker.join();
        }
        self.shared.knocker_done.store(true, Ordering::Release);
        let mut messages: Vec<String> = Vec::new();
        if let Some(writer) = self.writer.take() {
            writer.thread().unpark();
            if !join_until(&writer, deadline) {
                std::mem::forget(writer);
                messages.push(format!(
                    "timed out after {:.3} s waiting for the trace to be written; it will be \
                     finished in the background if the process lives on",
                    timeout.as_secs_f64()
                ));
            } else {
                match writer.join() {
                    Ok(Ok(_)) => {}
                    Ok(Err(message)) => messages.push(message),
                    Err(_) => messages.push("the writer thread panicked".into()),
                }
            }
        }
        if messages.is_empty() {
            None
        } else {
            Some(messages.join("; "))
        }
    }

    /// After fork() in the child: the threads do not exist here. Forget them without joining
    /// (joining a thread of the parent would fail or hang) and never touch the parent's file.
    pub fn forget_after_fork(mut self) {
        // Drop must not signal anything either: the parent owns those threads.
        self.pid = 0;
        if let Some(k) = self.knocker.take() {
            std::mem::forget(k);
        }
        if let Some(w) = self.writer.take() {
            std::mem::forget(w);
        }
    }

    pub fn is_finished(&self) -> bool {
        self.knocker
            .as_ref()
            .map(|k| k.is_finished())
            .unwrap_or(true)
    }
}

impl Drop for Run {
    /// A recorder dropped while running (its Python object was garbage-collected) stops its
    /// threads without waiting for them: the writer still finishes the trace in the background.
    fn drop(&mut self) {
        if self.knocker.is_some() && self.pid == std::process::id() {
            self.shared.stop.store(true, Ordering::Release);
            if let Some(k) = &self.knocker {
                k.thread().unpark();
            }
        }
    }
}

fn join_until<T>(handle: &JoinHandle<T>, deadline: Instant) -> bool {
    let mut pause = Duration::from_micros(20);
    while !handle.is_finished() {
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(2));
    }
    true
}

fn knocker_main(
    shared: Arc<Shared>,
    schedule: Schedule,
    seed: u64,
    queue: Option<SyncSender<Queued>>,
    ready: std::sync::mpsc::Sender<()>,
) {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_TIMERSLACK only changes this thread's timer slack (default 50 µs), so
    // sleeps end close to their deadline.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0);
    }
    // SAFETY: the thread that started us released the GIL and waits for `ready`; the
    // interpreter is initialized (we were started from Python code).
    let (gstate, tstate) = unsafe {
        let gstate = ffi::PyGILState_Ensure();
        (gstate, ffi::PyEval_SaveThread())
    };
    shared.live().started(shared.now_ns());
    let _ = ready.send(());
    let mut probe = GilProbe {
        tstate,
        shared: shared.clone(),
        voluntary_before: None,
        run_delay: RunDelay::for_this_thread(),
        run_delay_before: None,
    };
    let mut clock = RealClock {
        shared: shared.clone(),
    };
    let mut sink = KnockerSink {
        shared: shared.clone(),
        queue,
        labels: Default::default(),
        label: None,
    };
    let mut intervals = Intervals::new(schedule.jitter, seed);
    let stopped = knock_loop(
        &schedule,
        &mut intervals,
        &mut clock,
        &mut probe,
        &mut sink,
        &shared.stop,
    );
    drop(sink);
    // Give the thread state back to the interpreter, unless it is already going away (then
    // leak it: touching it during finalization is what crashes other recorders).
    // SAFETY: our thread state is detached; Py_IsInitialized is safe to call at any time.
    unsafe {
        if stopped && ffi::Py_IsInitialized() != 0 {
            ffi::PyEval_RestoreThread(probe.tstate);
            ffi::PyGILState_Release(gstate);
        }
    }
    shared.knocker_done.store(true, Ordering::Release);
}

/// Move what the knocker queued into the writer's buffer (or, after a write failure, count it
/// as dropped: it will never reach the trace).
fn drain(receiver: &Receiver<Queued>, writer: &mut TraceWriter, failed: bool, shared: &Shared) {
    let mut lost = 0u64;
    while let Ok((sample, knock, label)) = receiver.try_recv() {
        if failed {
            lost += 1;
        } else {
            writer.push_knock(sample, knock.interval_ns, label.as_deref(), &knock.detail);
        }
    }
    if lost > 0 {
        shared.live().dropped(lost);
    }
}

fn writer_main(
    shared: Arc<Shared>,
    mut writer: TraceWriter,
    receiver: Receiver<Queued>,
    metadata: RunMetadata,
    part_interval: Duration,
    compact_interval: Duration,
    drain_interval: Duration,
) -> Result<Option<MergeStats>, String> {
    let mut failed = false;
    let mut last_flush = Instant::now();
    // When the oldest sample of the current spool was spooled.
    let mut spool_since: Option<Instant> = None;
    let snapshot = |complete: bool| {
        let mut m = metadata.clone();
        m.counters = shared.live().run_counters();
        m.complete = complete;
        if complete {
            m.end_time_ns = Some(wall_now_ns());
        }
        m.error = shared.error();
        m
    };
    // Bound memory even if the knocker outruns part_interval.
    const MAX_BUFFERED: usize = 1 << 20;
    loop {
        let finishing = shared.knocker_done.load(Ordering::Acquire);
        drain(&receiver, &mut writer, failed, &shared);
        let compact = writer.buffered() >= MAX_BUFFERED
            || spool_since.is_some_and(|since| since.elapsed() >= compact_interval);
        let flush = compact || last_flush.elapsed() >= part_interval;
        if !failed && !finishing && flush && writer.buffered() > 0 {
            // What a failure loses: the spool's samples stay on disk either way.
            let unspooled = writer.unspooled() as u64;
            let result = if compact {
                writer.write_part(&snapshot(false))
            } else {
                writer.flush(&snapshot(false))
            };
            if let Err(e) = result {
                failed = true;
                shared.live().dropped(unspooled);
                shared.report_error(format!(
                    "writing the trace failed, recording continues without it: {e}"
                ));
            }
            spool_since = match writer.spooled() {
                0 => None,
                _ => spool_since.or_else(|| Some(Instant::now())),
            };
            last_flush = Instant::now();
        }
        if finishing {
            break;
        }
        thread::park_timeout(drain_interval);
    }
    // The knocker has stopped: everything it produced is in the queue or already drained.
    drain(&receiver, &mut writer, failed, &shared);
    let path = writer.path().to_path_buf();
    match writer.finish(&snapshot(true)) {
        Ok(stats) => match shared.error() {
            // Parts written before the failure were merged, but samples were lost.
            Some(message) if failed => Err(format!(
                "{message} (the trace holds what was written before)"
            )),
            _ => Ok(Some(stats)),
        },
        Err(e) => Err(format!(
            "could not finish the trace: {e}; what was written is kept in {} (recover with \
             `gilknock-analyze recover {}`)",
            gilknocker_trace::parts_dir(&path).display(),
            path.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gilknocker_trace::{ScheduleInfo, TraceReader, WaitDetail};

    fn shared() -> Arc<Shared> {
        Arc::new(Shared::new(1_000_000, 5_000))
    }

    type WriterThread = JoinHandle<Result<Option<MergeStats>, String>>;

    /// The writer thread on `receiver`, flushing on every drain (50 µs) and turning its spool
    /// into a part after `compact`.
    fn spawn_writer(
        shared: &Arc<Shared>,
        writer: TraceWriter,
        receiver: Receiver<Queued>,
        jitter: bool,
        compact: Duration,
    ) -> WriterThread {
        let shared = shared.clone();
        let metadata = metadata(jitter);
        thread::spawn(move || {
            writer_main(
                shared,
                writer,
                receiver,
                metadata,
                Duration::ZERO,
                compact,
                Duration::from_micros(50),
            )
        })
    }

    fn metadata(jitter: bool) -> RunMetadata {
        RunMetadata::new(ScheduleInfo::continuous(1_000_000, jitter), 0)
    }

    #[test]
    fn a_full_queue_drops_samples_and_counts_them() {
        let shared = shared();
        let (tx, rx) = sync_channel(3);
        let mut sink = KnockerSink {
            shared: shared.clone(),
            queue: Some(tx),
            labels: Default::default(),
            label: None,
        };
        for i in 0..10 {
            sink.knocked(&Knock {
                start_ns: i * 1_000,
                wait_ns: 100,
                interval_ns: 1_000_000,
                ..Knock::default()
            });
        }
        let live = shared.live();
        // The live statistics see every knock; the trace gets what fit in the queue.
        assert_eq!(live.counters.knocks, 10);
        assert_eq!(live.counters.dropped_samples, 7);
        drop(live);
        assert_eq!(rx.try_iter().count(), 3);
    }

    #[test]
    fn samples_are_floored_to_the_trace_resolution_and_anchored_to_wall_time() {
        let shared = shared();
        let (tx, rx) = sync_channel(8);
        let mut sink = KnockerSink {
            shared: shared.clone(),
            queue: Some(tx),
            labels: Default::default(),
            label: None,
        };
        sink.knocked(&Knock {
            start_ns: 5_000,
            wait_ns: 42,
            interval_ns: 7_000,
            detail: WaitDetail {
                blocked: Some(true),
                runnable_ns: Some(9),
                handoff_ns: Some(4),
            },
            ..Knock::default()
        });
        let (sample, knock, _) = rx.try_recv().unwrap();
        assert_eq!(knock.detail.blocked, Some(true));
        assert_eq!(knock.detail.runnable_ns, Some(9));
        assert_eq!(knock.detail.handoff_ns, Some(4));
        assert_eq!(knock.interval_ns, 7_000);
        assert_eq!(sample.wait_ns, 42);
        assert_eq!(
            sample.time_ns % gilknocker_trace::schema::TIME_RESOLUTION_NS,
            0
        );
        assert!((sample.time_ns - (shared.wall_at_base_ns + 5_000)).abs() < 1024);
    }

    #[test]
    fn the_writer_batches_into_parts_and_merges_everything_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.parquet");
        let shared = shared();
        let writer = TraceWriter::create(&path).unwrap();
        let (tx, rx) = sync_channel(100_000);
        // Zero intervals: a flush or a part on every drain, so batching runs many times.
        let handle = spawn_writer(&shared, writer, rx, true, Duration::ZERO);
        for i in 0..20_000i64 {
            let sample = Sample {
                time_ns: i * 1024,
                wait_ns: i,
            };
            let label = (i % 3 == 0).then(|| Arc::from("phase"));
            let knock = Knock {
                interval_ns: 1_000_000 + i % 2,
                ..Knock::default()
            };
            tx.send((sample, knock, label)).unwrap();
            shared.live().knocked(&Knock {
                start_ns: i,
                wait_ns: i,
                interval_ns: 1_000_000,
                ..Knock::default()
            });
        }
        shared.knocker_done.store(true, Ordering::Release);
        handle.thread().unpark();
        let stats = handle.join().unwrap().unwrap().unwrap();
        assert_eq!(stats.rows, 20_000);
        assert!(stats.parts >= 1);
        let reader = TraceReader::open(&path).unwrap();
        let meta = reader.metadata();
        assert!(meta.complete);
        assert_eq!(meta.counters.knocks, 20_000);
        assert!(meta.end_time_ns.is_some());
        let all = reader.read_all().unwrap();
        assert_eq!(all.wait_ns, (0..20_000).collect::<Vec<i64>>());
        assert_eq!(all.interval_ns[..3], [1_000_000, 1_000_001, 1_000_000]);
        assert_eq!(all.labels, vec!["phase".to_string()]);
        assert_eq!(all.label[..4], [Some(0), None, None, Some(0)]);
        assert!(!gilknocker_trace::parts_dir(&path).exists());
    }

    #[test]
    fn between_parts_the_writer_appends_to_the_spool() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.parquet");
        let shared = shared();
        let writer = TraceWriter::create(&path).unwrap();
        let (tx, rx) = sync_channel(10_000);
        // Flush on every drain, never turn the spool into a part.
        let handle = spawn_writer(&shared, writer, rx, true, Duration::from_secs(3600));
        for i in 0..1_000i64 {
            let sample = Sample {
                time_ns: i * 1024,
                wait_ns: i,
            };
            tx.send((sample, Knock::default(), None)).unwrap();
        }
        // Wait (without a timing assert) until a reader of the unfinished trace sees them all,
        // as it would after a kill.
        let read = || {
            TraceReader::open(&path)
                .and_then(|r| r.read_all())
                .map(|c| c.wait_ns)
                .unwrap_or_default()
        };
        while read().len() < 1_000 {
            thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(read(), (0..1_000).collect::<Vec<i64>>());
        let files = gilknocker_trace::list_parts(&gilknocker_trace::parts_dir(&path)).unwrap();
        assert_eq!(files.len(), 1);
        assert!(gilknocker_trace::is_spool(&files[0]), "{files:?}");
        shared.knocker_done.store(true, Ordering::Release);
        handle.thread().unpark();
        let stats = handle.join().unwrap().unwrap().unwrap();
        assert_eq!(stats.rows, 1_000);
        let all = TraceReader::open(&path).unwrap().read_all().unwrap();
        assert_eq!(all.wait_ns, (0..1_000).collect::<Vec<i64>>());
        assert!(!gilknocker_trace::parts_dir(&path).exists());
    }

    #[test]
    fn a_write_failure_is_reported_once_and_later_samples_count_as_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gone.parquet");
        let shared = shared();
        let writer = TraceWriter::create(&path).unwrap();
        // The parts directory disappears: every part write fails.
        std::fs::remove_dir_all(gilknocker_trace::parts_dir(&path)).unwrap();
        let (tx, rx) = sync_channel(1_000);
        for i in 0..10 {
            tx.send((
                Sample {
                    time_ns: i,
                    wait_ns: 1,
                },
                Knock::default(),
                None,
            ))
            .unwrap();
        }
        let handle = spawn_writer(&shared, writer, rx, false, Duration::ZERO);
        // Wait (without a timing assert) until the failure is reported.
        while shared.error().is_none() {
            thread::sleep(Duration::from_millis(1));
        }
        for i in 0..5 {
            tx.send((
                Sample {
                    time_ns: 100 + i,
                    wait_ns: 1,
                },
                Knock::default(),
                None,
            ))
            .unwrap();
        }
        shared.knocker_done.store(true, Ordering::Release);
        handle.thread().unpark();
        let result = handle.join().unwrap();
        assert!(result.is_err());
        assert!(shared.error().unwrap().contains("writing the trace failed"));
        assert_eq!(shared.live().counters.dropped_samples, 15);
        assert!(shared.take_pending_warning().is_some());
        assert!(shared.take_pending_warning().is_none(), "warned once");
    }
}
