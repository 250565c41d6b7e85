use gilknocker_trace::*;
fn main() {
    let dir = std::env::temp_dir().join("sizeprobe");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut state = 12345u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for variant in 0..6 {
        let mut t = 1_700_000_000_000_000_000i64;
        let mut data = Vec::new();
        for _ in 0..300_000 {
            let u = (next() % 1_000_000_000) as f64 / 1e9;
            let interval = match variant {
                0 | 3 => -(1.0 - u).ln() * 1e6,
                1 | 4 => ((-(1.0 - u).ln() * 1e6) as i64 / 1024 * 1024) as f64,
                _ => 1e6,
            };
            let noise = match variant {
                0 | 1 | 3 | 4 => (next() % 3000) as i64,
                _ => (next() % 10_000) as i64,
            };
            t += interval as i64 + noise;
            let r = next() % 100;
            let wait_ns = if variant >= 3 {
                if r < 97 {
                    150 + (next() % 400) as i64
                } else {
                    (next() % 5_000_000) as i64
                }
            } else if r < 80 {
                150 + (next() % 400) as i64
            } else {
                (next() % 5_000_000) as i64
            };
            let time_ns = if variant == 1 || variant == 4 {
                t / 1024 * 1024
            } else {
                t
            };
            data.push(Sample { time_ns, wait_ns });
        }
        let path = dir.join(format!("v{variant}.parquet"));
        let m = RunMetadata::new(
            ScheduleInfo {
                kind: ScheduleKind::Continuous,
                polling_interval_ns: 1_000_000,
                sampling_interval_ns: None,
                sleeping_interval_ns: None,
                jitter: true,
            },
            0,
        );
        let mut w = TraceWriter::create(&path).unwrap();
        for c in data.chunks(300_000) {
            c.iter().for_each(|s| w.push(*s));
            w.write_part(&m).unwrap();
        }
        w.finish(&m).unwrap();
        let b = std::fs::metadata(&path).unwrap().len() as f64;
        #[allow(clippy::print_stdout)]
        {
            println!("variant {variant}: {:.2} B/sample", b / data.len() as f64);
        }
    }
}
