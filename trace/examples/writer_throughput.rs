//! How fast does the trace writer take samples, and how many bytes does each cost?
//!
//!     cargo run --release -p gilknocker-trace --example writer_throughput -- [SAMPLES] [MEAN_INTERVAL_NS]
//!
//! Pushes SAMPLES (default 10 M) samples shaped like a recording of a partly busy process
//! (exponential knock intervals of mean MEAN_INTERVAL_NS, default 1000 ns, i.e. 1 M samples/s
//! of recorded time; waits ~0.15-0.55 µs for a free GIL and 3% busy waits up to 10 ms) through
//! `TraceWriter`, calling `write_part` every 0.5 s worth of samples as the recorder's writer
//! thread does, then `finish` (which merges the parts). Prints one JSON line: rows/s over the
//! whole job, the slowest part, and bytes per sample of the finished file. Used by
//! benchmarks/run.py.

use std::time::Instant;

use gilknocker_trace::schema::quantize_time;
use gilknocker_trace::{RunMetadata, Sample, ScheduleInfo, ScheduleKind, TraceWriter};

/// Share of knocks that find the GIL busy, percent.
const BUSY_PERCENT: u64 = 3;

fn main() {
    let mut args = std::env::args().skip(1);
    let samples: usize = args
        .next()
        .map_or(10_000_000, |a| a.parse().expect("SAMPLES"));
    let mean_interval_ns: f64 = args
        .next()
        .map_or(1000.0, |a| a.parse().expect("MEAN_INTERVAL_NS"));
    let part_samples = ((0.5e9 / mean_interval_ns) as usize).max(1);

    let dir = std::env::temp_dir().join(format!("writer_throughput_{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("trace.parquet");

    // xorshift64: deterministic, and cheap enough not to dominate the measurement.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut t = 1_700_000_000_000_000_000i64;
    let data: Vec<Sample> = (0..samples)
        .map(|_| {
            let u = (next() >> 11) as f64 / (1u64 << 53) as f64;
            t += (-(1.0 - u).ln() * mean_interval_ns) as i64 + 1;
            let wait_ns = if next() % 100 < BUSY_PERCENT {
                (next() % 10_000_000) as i64
            } else {
                150 + (next() % 400) as i64
            };
            Sample {
                time_ns: quantize_time(t),
                wait_ns,
            }
        })
        .collect();

    let meta = RunMetadata::new(
        ScheduleInfo {
            kind: ScheduleKind::Continuous,
            polling_interval_ns: mean_interval_ns as i64,
            sampling_interval_ns: None,
            sleeping_interval_ns: None,
            jitter: true,
        },
        data[0].time_ns,
    );
    let started = Instant::now();
    let mut writer = TraceWriter::create(&path).expect("create trace");
    let mut slowest_part_s = 0.0f64;
    for chunk in data.chunks(part_samples) {
        let part = Instant::now();
        chunk.iter().for_each(|s| writer.push(*s));
        writer.write_part(&meta).expect("write part");
        slowest_part_s = slowest_part_s.max(part.elapsed().as_secs_f64());
    }
    let merge = Instant::now();
    writer.finish(&meta).expect("finish");
    let merge_s = merge.elapsed().as_secs_f64();
    let seconds = started.elapsed().as_secs_f64();
    let bytes = std::fs::metadata(&path).expect("trace size").len();
    let _ = std::fs::remove_dir_all(&dir);

    #[allow(clippy::print_stdout)]
    {
        println!(
            "{{\"samples\": {samples}, \"mean_interval_ns\": {mean_interval_ns}, \
             \"busy_percent\": {BUSY_PERCENT}, \"part_samples\": {part_samples}, \
             \"seconds\": {seconds:.4}, \"merge_s\": {merge_s:.4}, \
             \"slowest_part_s\": {slowest_part_s:.4}, \"rows_per_s\": {:.0}, \
             \"bytes\": {bytes}, \"bytes_per_sample\": {:.4}}}",
            samples as f64 / seconds,
            bytes as f64 / samples as f64
        );
    }
}
