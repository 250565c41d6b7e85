//! CPU cost of writing one small part (what the recorder's writer pays twice a second while a
//! program is idle).
//!
//!     cargo run --release -p gilknocker-trace --example part_cost -- [ROWS] [PARTS]
//!
//! Writes PARTS parts of ROWS samples each (defaults 10 and 200), sleeping 20 ms between them
//! so caches cool as they do between the writer's wake-ups, and prints the mean thread CPU
//! time per part and the mean wall time per part as one JSON line.

use std::time::{Duration, Instant};

use gilknocker_trace::{RunMetadata, Sample, ScheduleInfo, ScheduleKind, TraceWriter, WaitDetail};

fn thread_cpu_ns() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

fn main() {
    let mut args = std::env::args().skip(1);
    let rows: i64 = args.next().map_or(10, |a| a.parse().expect("ROWS"));
    let parts: i64 = args.next().map_or(200, |a| a.parse().expect("PARTS"));
    let dir = std::env::temp_dir().join(format!("part_cost_{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("trace.parquet");
    let schedule = ScheduleInfo {
        kind: ScheduleKind::Continuous,
        polling_interval_ns: 2_000_000,
        sampling_interval_ns: None,
        sleeping_interval_ns: None,
        jitter: true,
    };
    let meta = RunMetadata::new(schedule, 0);
    let mut writer = TraceWriter::create(&path).expect("create");
    let (mut cpu, mut wall) = (0i64, Duration::ZERO);
    let mut t = 1_700_000_000_000_000_000i64;
    for _ in 0..parts {
        for _ in 0..rows {
            t += 50_000_000;
            writer.push_knock(
                Sample {
                    time_ns: t,
                    wait_ns: 700,
                },
                50_000_000,
                None,
                &WaitDetail::default(),
            );
        }
        std::thread::sleep(Duration::from_millis(20));
        let (c0, w0) = (thread_cpu_ns(), Instant::now());
        writer.write_part(&meta).expect("part");
        cpu += thread_cpu_ns() - c0;
        wall += w0.elapsed();
    }
    // The example's output.
    #[allow(clippy::print_stdout)]
    {
        println!(
            "{{\"rows\": {rows}, \"parts\": {parts}, \"cpu_us_per_part\": {:.1}, \"wall_us_per_part\": {:.1}}}",
            cpu as f64 / parts as f64 / 1e3,
            wall.as_secs_f64() * 1e6 / parts as f64
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
