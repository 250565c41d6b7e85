//! CPU cost of the writer's periodic work while a program is idle: a Parquet part per flush
//! (what the recorder did before the spool) against an append to the spool per flush plus a
//! part every `COMPACT_EVERY` flushes (what it does now), interleaved in one run.
//!
//!     cargo run --release -p gilknocker-trace --example part_cost -- [ROWS] [FLUSHES]
//!
//! Each flush carries ROWS samples (default 10: an idle program at the idle pace, 500 ms
//! between flushes); FLUSHES of each kind (default 200), sleeping 20 ms between them so caches
//! cool as they do between the writer's wake-ups. Prints the mean thread CPU time per part,
//! per spool flush, and the writer's CPU ms/s at two flushes a second, as one JSON line.

use std::time::Duration;

use gilknocker_trace::{RunMetadata, Sample, ScheduleInfo, ScheduleKind, TraceWriter, WaitDetail};

/// The recorder turns its spool into a part every 10 s: every 20th flush at 500 ms.
const COMPACT_EVERY: i64 = 20;

fn thread_cpu_ns() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

fn push(writer: &mut TraceWriter, t: &mut i64, rows: i64) {
    for _ in 0..rows {
        *t += 50_000_000;
        writer.push_knock(
            Sample {
                time_ns: *t,
                wait_ns: 700,
            },
            50_000_000,
            None,
            &WaitDetail::default(),
        );
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let rows: i64 = args.next().map_or(10, |a| a.parse().expect("ROWS"));
    let flushes: i64 = args.next().map_or(200, |a| a.parse().expect("FLUSHES"));
    let dir = std::env::temp_dir().join(format!("part_cost_{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let schedule = ScheduleInfo {
        kind: ScheduleKind::Continuous,
        polling_interval_ns: 2_000_000,
        sampling_interval_ns: None,
        sleeping_interval_ns: None,
        jitter: true,
    };
    let meta = RunMetadata::new(schedule, 0);
    let mut parts_only = TraceWriter::create(&dir.join("parts.parquet")).expect("create");
    let mut spooled = TraceWriter::create(&dir.join("spool.parquet")).expect("create");
    let (mut t_a, mut t_b) = (1_700_000_000_000_000_000i64, 1_700_000_000_000_000_000i64);
    let (mut part_cpu, mut flush_cpu, mut compact_cpu, mut compactions) = (0i64, 0i64, 0i64, 0i64);
    for i in 0..flushes {
        push(&mut parts_only, &mut t_a, rows);
        std::thread::sleep(Duration::from_millis(20));
        let c0 = thread_cpu_ns();
        parts_only.write_part(&meta).expect("part");
        part_cpu += thread_cpu_ns() - c0;

        push(&mut spooled, &mut t_b, rows);
        std::thread::sleep(Duration::from_millis(20));
        let c0 = thread_cpu_ns();
        if (i + 1) % COMPACT_EVERY == 0 {
            spooled.write_part(&meta).expect("part");
            compact_cpu += thread_cpu_ns() - c0;
            compactions += 1;
        } else {
            spooled.flush(&meta).expect("flush");
            flush_cpu += thread_cpu_ns() - c0;
        }
    }
    let per = |cpu: i64, n: i64| cpu as f64 / n.max(1) as f64 / 1e3;
    let part_us = per(part_cpu, flushes);
    let flush_us = per(flush_cpu, flushes - compactions);
    let compact_us = per(compact_cpu, compactions);
    // Two flushes a second.
    let before_ms_s = 2.0 * part_us / 1e3;
    let after_ms_s =
        (2.0 * ((COMPACT_EVERY - 1) as f64 * flush_us + compact_us) / COMPACT_EVERY as f64) / 1e3;
    // The example's output.
    #[allow(clippy::print_stdout)]
    {
        println!(
            "{{\"rows\": {rows}, \"flushes\": {flushes}, \"cpu_us_per_part\": {part_us:.1}, \
             \"cpu_us_per_spool_flush\": {flush_us:.1}, \"cpu_us_per_compaction\": {compact_us:.1}, \
             \"writer_ms_per_s_parts\": {before_ms_s:.3}, \"writer_ms_per_s_spool\": {after_ms_s:.3}}}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
