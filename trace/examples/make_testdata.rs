//! Writes the analyzer's test traces into a directory (default `testdata`):
//!
//!     cargo run -p gilknocker-trace --example make_testdata -- testdata
//!
//! Deterministic: a fixed seed, fixed timestamps and fixed metadata, so running it again gives
//! the same bytes. See testdata/README.md for what each file is for.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{
    ArrayRef, Float64Array, Int32Array, Int64Array, RecordBatch, TimestampNanosecondArray,
};
use arrow_schema::{Field, Schema};
use gilknocker_trace::{
    merge_parts_with_row_groups, parts_dir, RunCounters, RunMetadata, Sample, ScheduleInfo,
    ScheduleKind, TraceWriter,
};
use parquet::arrow::ArrowWriter;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;

/// 2023-11-14T22:13:20Z.
const START_NS: i64 = 1_700_000_000_000_000_000;
const MS: i64 = 1_000_000;

/// xorshift64: tiny, deterministic, good enough for test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> i64 {
        (self.next() % n) as i64
    }
}

fn continuous(interval_ns: i64) -> ScheduleInfo {
    ScheduleInfo {
        kind: ScheduleKind::Continuous,
        polling_interval_ns: interval_ns,
        sampling_interval_ns: None,
        sleeping_interval_ns: None,
        jitter: false,
    }
}

fn metadata(schedule: ScheduleInfo, samples: &[Sample]) -> RunMetadata {
    let mut meta = RunMetadata::new(schedule, START_NS);
    meta.complete = true;
    meta.recorder_version = "0.5.0".into();
    meta.python_version = "3.12.7".into();
    meta.python_implementation = "CPython".into();
    meta.gil_enabled = Some(true);
    meta.switch_interval_s = 0.005;
    meta.pid = 4242;
    meta.host = "testhost".into();
    meta.argv = vec![
        "python".into(),
        "app.py".into(),
        "--workers".into(),
        "4".into(),
    ];
    meta.end_time_ns = samples
        .last()
        .map(|s| s.time_ns + s.wait_ns + MS)
        .or(Some(START_NS));
    meta.counters = RunCounters {
        knocks: samples.len() as u64,
        wait_ns_total: samples.iter().map(|s| s.wait_ns as u64).sum(),
        ..RunCounters::default()
    };
    meta
}

/// Knocks every `interval` (plus the previous wait), waits drawn by `wait`.
fn samples(
    count: usize,
    interval: i64,
    rng: &mut Rng,
    mut wait: impl FnMut(usize, &mut Rng) -> i64,
) -> Vec<Sample> {
    let mut time = START_NS + MS;
    (0..count)
        .map(|i| {
            let wait_ns = wait(i, rng);
            let sample = Sample {
                time_ns: time,
                wait_ns,
            };
            time += interval + wait_ns + rng.below(2_000);
            sample
        })
        .collect()
}

/// Write a finished trace through the real writer, in `row_group_rows`-row groups.
fn write_trace(path: &Path, meta: &RunMetadata, samples: &[Sample], row_group_rows: usize) {
    let _ = fs::remove_file(path);
    let mut writer = TraceWriter::create(path).expect("create");
    for chunk in samples.chunks(1000) {
        chunk.iter().for_each(|s| writer.push(*s));
        writer.write_part(meta).expect("part");
    }
    merge_parts_with_row_groups(&parts_dir(path), path, meta, row_group_rows).expect("merge");
}

/// Write raw columns with arbitrary key-value metadata (for files the writer would refuse).
fn write_raw(
    path: &Path,
    kv: Vec<(String, String)>,
    columns: Vec<(&str, ArrayRef)>,
    row_group_rows: usize,
) {
    let fields: Vec<Field> = columns
        .iter()
        .map(|(name, array)| Field::new(*name, array.data_type().clone(), false))
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(
        schema.clone(),
        columns.into_iter().map(|(_, a)| a).collect(),
    )
    .expect("batch");
    let props = WriterProperties::builder()
        .set_created_by("gilknocker make_testdata".into())
        .set_max_row_group_row_count(Some(row_group_rows))
        .set_key_value_metadata(Some(
            kv.into_iter().map(|(k, v)| KeyValue::new(k, v)).collect(),
        ))
        .build();
    let file = fs::File::create(path).expect("create");
    let mut writer = ArrowWriter::try_new(file, schema, Some(props)).expect("writer");
    writer.write(&batch).expect("write");
    writer.close().expect("close");
}

fn time_array(values: Vec<i64>) -> ArrayRef {
    Arc::new(TimestampNanosecondArray::from(values).with_timezone("UTC"))
}

fn main() {
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "testdata".into()));
    fs::create_dir_all(&dir).expect("create output directory");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);

    // A free GIL: every knock gets it back in a few hundred nanoseconds.
    let idle = samples(2000, MS, &mut rng, |_, r| 150 + r.below(400));
    write_trace(
        &dir.join("idle.parquet"),
        &metadata(continuous(MS), &idle),
        &idle,
        1 << 20,
    );

    // A CPU-bound thread holds the GIL: most knocks wait most of a 5 ms switch interval.
    let busy = samples(2000, MS, &mut rng, |_, r| {
        if r.below(100) < 90 {
            MS + r.below(4 * MS as u64)
        } else {
            200 + r.below(300)
        }
    });
    let mut meta = metadata(continuous(MS), &busy);
    meta.user.insert("workload".into(), "cpu-bound".into());
    write_trace(&dir.join("busy.parquet"), &meta, &busy, 1 << 20);

    // Bursts of contention; several row groups so the parallel reader has work to split.
    let mixed = samples(3000, MS, &mut rng, |i, r| {
        if (i / 250) % 3 == 2 && r.below(100) < 60 {
            20_000 + r.below(3 * MS as u64)
        } else {
            150 + r.below(600)
        }
    });
    let mut meta = metadata(continuous(MS), &mixed);
    meta.counters.dropped_samples = 3;
    write_trace(&dir.join("mixed.parquet"), &meta, &mixed, 700);

    // gilknocker-0.4.2 style: knock every 100 us for 10 ms windows, then pause 40 ms.
    let windowed_schedule = ScheduleInfo {
        kind: ScheduleKind::Windowed,
        polling_interval_ns: 100_000,
        sampling_interval_ns: Some(10 * MS),
        sleeping_interval_ns: Some(40 * MS),
        jitter: false,
    };
    let mut windowed = Vec::new();
    for window in 0..40i64 {
        let start = START_NS + MS + window * 50 * MS;
        let mut time = start;
        while time < start + 10 * MS {
            let wait_ns = if window % 4 == 3 {
                50_000 + rng.below(400_000)
            } else {
                150 + rng.below(500)
            };
            windowed.push(Sample {
                time_ns: time,
                wait_ns,
            });
            time += 100_000 + wait_ns;
        }
    }
    let mut meta = metadata(windowed_schedule, &windowed);
    meta.counters.window_ns_total = 40 * 10 * MS as u64;
    write_trace(&dir.join("windowed.parquet"), &meta, &windowed, 1 << 20);

    write_trace(
        &dir.join("empty.parquet"),
        &metadata(continuous(MS), &[]),
        &[],
        1 << 20,
    );
    let one = [Sample {
        time_ns: START_NS + MS,
        wait_ns: 321,
    }];
    write_trace(
        &dir.join("one_row.parquet"),
        &metadata(continuous(MS), &one),
        &one,
        1 << 20,
    );

    // Every string a trace carries, made hostile: markup, CDATA end, quotes, control characters.
    let hostile = samples(200, MS, &mut rng, |_, r| 150 + r.below(5000));
    let mut meta = metadata(continuous(MS), &hostile);
    meta.argv = vec![
        "python".into(),
        "<script>alert('x')</script>".into(),
        "]]><![CDATA[".into(),
        "\"double\" & 'single'".into(),
        "\u{1b}[31mred\u{7}\u{0}".into(),
    ];
    meta.host = "<host>&\u{1b}]0;owned\u{7}".into();
    meta.python_version = "3.12<b>".into();
    meta.user
        .insert("<label>".into(), "]]><!-- \"x\" -->\u{1}".into());
    meta.error = Some("line one\nline two <error/>".into());
    write_trace(
        &dir.join("hostile_strings.parquet"),
        &meta,
        &hostile,
        1 << 20,
    );

    // A newer format version, a foreign file and wrong column types.
    let base = metadata(continuous(MS), &idle[..10]);
    let times: Vec<i64> = idle[..10].iter().map(|s| s.time_ns).collect();
    let waits: Vec<i64> = idle[..10].iter().map(|s| s.wait_ns).collect();
    let newer_kv = base
        .to_key_values()
        .into_iter()
        .map(|(k, v)| {
            if k == "gilknocker.format_version" {
                (k, "99".to_string())
            } else {
                (k, v)
            }
        })
        .collect();
    let good_columns = || -> Vec<(&str, ArrayRef)> {
        vec![
            ("time", time_array(times.clone())),
            (
                "wait_ns",
                Arc::new(Int64Array::from(waits.clone())) as ArrayRef,
            ),
        ]
    };
    write_raw(
        &dir.join("newer_version.parquet"),
        newer_kv,
        good_columns(),
        1 << 20,
    );
    write_raw(
        &dir.join("foreign.parquet"),
        vec![("pandas".into(), "{}".into())],
        vec![("a", Arc::new(Int32Array::from(vec![1, 2, 3])) as ArrayRef)],
        1 << 20,
    );
    let wait_as_float: ArrayRef = Arc::new(Float64Array::from(
        waits.iter().map(|&w| w as f64).collect::<Vec<_>>(),
    ));
    write_raw(
        &dir.join("wrong_types.parquet"),
        base.to_key_values(),
        vec![
            ("time", time_array(times.clone())),
            ("wait_ns", wait_as_float),
        ],
        1 << 20,
    );
    fs::write(
        dir.join("not_parquet.parquet"),
        "time,wait_ns\n1,2\nthis is a CSV file, not Parquet\n",
    )
    .expect("write");

    // The mixed trace cut in half: the footer is gone.
    let bytes = fs::read(dir.join("mixed.parquet")).expect("read mixed");
    fs::write(dir.join("truncated.parquet"), &bytes[..bytes.len() / 2]).expect("write");
    // One flipped byte inside the first data page: the footer is intact, decoding the page fails.
    let mut corrupt = bytes.clone();
    corrupt[47] ^= 0x81;
    fs::write(dir.join("corrupt_page.parquet"), &corrupt).expect("write");

    // Bad values the reader or the analyzer must refuse.
    let mut negative = waits.clone();
    negative[4] = -5;
    write_raw(
        &dir.join("negative_wait.parquet"),
        base.to_key_values(),
        vec![
            ("time", time_array(times.clone())),
            ("wait_ns", Arc::new(Int64Array::from(negative)) as ArrayRef),
        ],
        1 << 20,
    );
    // Sorted inside each 5-row group, but the second group starts before the first ends.
    let mut unsorted_times = times.clone();
    unsorted_times.rotate_left(5);
    write_raw(
        &dir.join("unsorted.parquet"),
        base.to_key_values(),
        vec![
            ("time", time_array(unsorted_times)),
            (
                "wait_ns",
                Arc::new(Int64Array::from(waits.clone())) as ArrayRef,
            ),
        ],
        5,
    );
    let mut absurd = waits.clone();
    absurd[7] = 40 * 24 * 3600 * 1_000_000_000;
    write_raw(
        &dir.join("absurd_wait.parquet"),
        base.to_key_values(),
        vec![
            ("time", time_array(times)),
            ("wait_ns", Arc::new(Int64Array::from(absurd)) as ArrayRef),
        ],
        1 << 20,
    );

    // A recording whose process was killed: three parts written, never merged.
    let unfinished_path = dir.join("unfinished.parquet");
    let _ = fs::remove_dir_all(parts_dir(&unfinished_path));
    let unfinished = samples(900, MS, &mut rng, |_, r| 150 + r.below(50_000));
    let mut meta = metadata(continuous(MS), &unfinished);
    meta.complete = false;
    meta.end_time_ns = None;
    let mut writer = TraceWriter::create(&unfinished_path).expect("create");
    for chunk in unfinished.chunks(300) {
        chunk.iter().for_each(|s| writer.push(*s));
        writer.write_part(&meta).expect("part");
    }
    drop(writer);
}
