//! Write a large synthetic trace for speed and memory measurements:
//!
//!     cargo run --release -p gilknocker-analyzer --example synthetic_trace -- big.parquet 100000000
//!
//! Knocks every ~1 ms (jittered); mostly free waits of a few hundred nanoseconds, with
//! contended stretches where waits reach several milliseconds. Deterministic (fixed seed).

use std::path::PathBuf;

use gilknocker_trace::{RunMetadata, Sample, ScheduleInfo, ScheduleKind, TraceWriter};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = PathBuf::from(
        args.next()
            .ok_or("usage: synthetic_trace OUT.parquet [SAMPLES]")?,
    );
    let samples: u64 = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(10_000_000);
    let schedule = ScheduleInfo {
        kind: ScheduleKind::Continuous,
        polling_interval_ns: 1_000_000,
        sampling_interval_ns: None,
        sleeping_interval_ns: None,
        jitter: true,
    };
    let start = 1_700_000_000_000_000_000i64;
    let mut meta = RunMetadata::new(schedule, start);
    meta.python_version = "3.12.7".into();
    meta.python_implementation = "CPython".into();
    meta.gil_enabled = Some(true);
    meta.host = "synthetic".into();
    meta.argv = vec!["python".into(), "synthetic.py".into()];
    let mut writer = TraceWriter::create(&path)?;
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut time = start;
    let mut wait_total = 0u64;
    for i in 0..samples {
        let contended = (i / 5_000) % 4 == 3;
        let roll = next() % 100;
        let wait_ns = if contended && roll < 50 {
            (next() % 5_000_000) as i64
        } else if roll < 2 {
            2_000 + (next() % 50_000) as i64
        } else {
            150 + (next() % 500) as i64
        };
        writer.push(Sample {
            time_ns: time,
            wait_ns,
        });
        wait_total += wait_ns as u64;
        time += 500_000 + (next() % 1_000_000) as i64 + wait_ns;
        if writer.buffered() >= 1 << 20 {
            writer.write_part(&meta)?;
        }
    }
    meta.complete = true;
    meta.end_time_ns = Some(time);
    meta.counters.knocks = samples;
    meta.counters.wait_ns_total = wait_total;
    meta.counters.window_ns_total = (time - start) as u64;
    writer.finish(&meta)?;
    Ok(())
}
