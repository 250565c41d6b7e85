//! Traces whose knocks carry their own scheduling interval (the `interval_ns` column), written
//! here through the real trace writer, with figures computed by hand.

mod common;

use std::path::{Path, PathBuf};

use gilknocker_analyzer::progress::Progress;
use gilknocker_analyzer::scan::{scan_path, ScanOptions};
use gilknocker_trace::{RunMetadata, Sample, ScheduleInfo, ScheduleKind, TraceWriter};

use common::analyze;

/// 2023-11-14T22:13:20Z, as in testdata.
const START_NS: i64 = 1_700_000_000_000_000_000;
const US: i64 = 1_000;
const MS: i64 = 1_000_000;

/// One knock: how long it waited and the mean interval it was scheduled with.
#[derive(Clone, Copy)]
struct Knock {
    wait_ns: i64,
    interval_ns: i64,
}

fn knocks(count: usize, wait_ns: i64, interval_ns: i64) -> Vec<Knock> {
    vec![
        Knock {
            wait_ns,
            interval_ns
        };
        count
    ]
}

/// Write a finished continuous-schedule trace with polling interval `polling_interval_ns` and
/// busy threshold 5 µs. Knock i+1 begins one interval after knock i got the GIL back.
fn write_trace(
    path: &Path,
    polling_interval_ns: i64,
    idle: Option<(i64, i64)>,
    knocks: &[Knock],
) -> PathBuf {
    let schedule = ScheduleInfo {
        kind: ScheduleKind::Continuous,
        polling_interval_ns,
        sampling_interval_ns: None,
        sleeping_interval_ns: None,
        jitter: true,
    };
    let mut meta = RunMetadata::new(schedule, START_NS);
    meta.complete = true;
    meta.busy_threshold_ns = 5 * US;
    meta.idle_interval_ns = idle.map(|i| i.0);
    meta.idle_after_ns = idle.map(|i| i.1);
    meta.counters.knocks = knocks.len() as u64;
    let mut writer = TraceWriter::create(path).unwrap();
    let mut time = START_NS + MS;
    for knock in knocks {
        writer.push_with_interval(
            Sample {
                time_ns: time,
                wait_ns: knock.wait_ns,
            },
            knock.interval_ns,
        );
        time += knock.wait_ns + knock.interval_ns;
    }
    meta.end_time_ns = Some(time);
    writer.finish(&meta).unwrap();
    path.to_path_buf()
}

fn summary_json(paths: &[&Path]) -> serde_json::Value {
    let output = analyze()
        .args(["summary", "--format", "json"])
        .args(paths)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    serde_json::from_slice(&output.stdout).unwrap()
}

/// 10 free knocks scheduled at the idle interval (20 ms) and 20 busy knocks at the polling
/// interval (1 ms) that each waited 2 ms.
fn two_interval_knocks() -> Vec<Knock> {
    let mut all = knocks(10, 200, 20 * MS);
    all.extend(knocks(20, 2 * MS, MS));
    all
}

/// In slots of the 1 ms polling interval: each free knock stands for 20 slots plus the 0.0002
/// its 200 ns wait covered; each busy knock for 1 slot plus the 2 its wait covered.
const TWO_INTERVAL_BUSY_FRACTION: f64 = (20.0 * 3.0) / (20.0 * 3.0 + 10.0 * (20.0 + 0.0002));

#[test]
fn busy_fraction_weights_each_knock_by_its_own_interval() {
    let dir = tempfile::tempdir().unwrap();
    let trace = write_trace(
        &dir.path().join("two.parquet"),
        MS,
        Some((20 * MS, 100 * MS)),
        &two_interval_knocks(),
    );
    // Counting every knock at the nominal interval would give 60 / 70.002 = 0.857.
    let json = summary_json(&[&trace]);
    let busy = json["traces"][0]["busy_fraction"].as_f64().unwrap();
    assert!(
        (busy - TWO_INTERVAL_BUSY_FRACTION).abs() < 1e-12,
        "{busy} != {TWO_INTERVAL_BUSY_FRACTION}"
    );
    // The long-wait fraction too: each busy knock's request waits >= 1 ms for 1 + 1 slots.
    let long = json["traces"][0]["long_wait_fraction"].as_f64().unwrap();
    let expected_long = (20.0 * 2.0) / (20.0 * 3.0 + 10.0 * 20.0002);
    assert!((long - expected_long).abs() < 1e-12, "{long}");
    let schedule = &json["traces"][0]["run"]["schedule"];
    assert_eq!(schedule["idle_interval_ns"], 20 * MS);
    assert_eq!(schedule["idle_after_ns"], 100 * MS);

    // The timeline's busy row: one column holds every knock.
    let scan = scan_path(
        &trace,
        ScanOptions {
            timeline_columns: Some(1),
            ..ScanOptions::default()
        },
        &Progress::new(false),
    )
    .unwrap();
    let column = &scan.timeline.as_ref().unwrap().columns[0];
    assert!((column.busy.busy_fraction() - TWO_INTERVAL_BUSY_FRACTION).abs() < 1e-12);

    // The Chrome trace's busy counter: one bucket holds every knock.
    let output = analyze()
        .args(["export", "--format", "chrome-trace", "--bucket", "10s"])
        .arg(&trace)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let counters: Vec<f64> = json["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["ph"] == "C")
        .map(|e| e["args"]["busy"].as_f64().unwrap())
        .collect();
    assert_eq!(counters.len(), 1);
    assert!((counters[0] - TWO_INTERVAL_BUSY_FRACTION).abs() < 5e-5);
    assert_eq!(json["otherData"]["idle_interval_ns"], 20 * MS);
}

#[test]
fn summary_text_shows_the_idle_schedule_and_both_wait_lines() {
    let dir = tempfile::tempdir().unwrap();
    let trace = write_trace(
        &dir.path().join("two.parquet"),
        MS,
        Some((20 * MS, 100 * MS)),
        &two_interval_knocks(),
    );
    let output = analyze().arg("summary").arg(&trace).output().unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        text.contains(
            "continuous: knock every 1.00 ms (jittered), every 20.0 ms once the GIL stayed free \
             for 100 ms, busy above 5.00 µs"
        ),
        "{text}"
    );
    assert!(
        text.contains("  wait        per knock: min 200 ns"),
        "{text}"
    );
    assert!(
        text.contains("              per request at a random moment: p50 "),
        "{text}"
    );
}

#[test]
fn request_waits_of_uniform_long_holds() {
    // Every knock waits 10 ms at a 1 ms interval: the GIL is always held, and a request at a
    // random moment arrives somewhere inside a 10 ms hold. Each knock stands for 1 slot at
    // 10 ms (a request arriving with the knock) plus 10 slots spread uniformly over (0, 10 ms],
    // so the request median is where (10/11)(x/10 ms) = 1/2: x = 5.5 ms. The per-knock median
    // is 10 ms.
    let dir = tempfile::tempdir().unwrap();
    let trace = write_trace(
        &dir.path().join("held.parquet"),
        MS,
        None,
        &knocks(1000, 10 * MS, MS),
    );
    let json = summary_json(&[&trace]);
    let figures = &json["traces"][0];
    assert_eq!(figures["wait_ns"]["p50"], 10 * MS);
    let request = &figures["request_wait_ns"];
    let p50 = request["p50"].as_i64().unwrap();
    // The trace crate spreads a wait over 32 points: the median lands on the midpoint of a
    // 1/32 slice, within 0.16 ms of 5.5 ms.
    assert!((p50 - 5_500_000).abs() < 160_000, "{request}");
    // (10/11)(x/10 ms) = 0.9: x = 9.9 ms, again within a slice.
    let p90 = request["p90"].as_i64().unwrap();
    assert!((p90 - 9_900_000).abs() < 160_000, "{request}");
    // The top 1/11 of the time waits the full 10 ms.
    assert_eq!(request["p99"], 10 * MS);
    assert_eq!(request["max"], 10 * MS);
    // No schedule slowed down: nothing about idle in the metadata.
    assert!(figures["run"]["schedule"]["idle_interval_ns"].is_null());
}

#[test]
fn per_knock_percentiles_hide_rare_long_holds() {
    // 990 knocks find the GIL free (1 µs), 10 wait 10 ms: per knock, p99 is 1 µs. In time, the
    // free knocks stand for 990 slots and the long ones for 10 x 11 = 110: 10% of the time a
    // request waits. Its p99: the top 1% (11 slots) is the 10 slots at exactly 10 ms plus 1 of
    // the 100 spread over (0, 10 ms], so x = 9.9 ms.
    let dir = tempfile::tempdir().unwrap();
    let mut all = knocks(990, US, MS);
    for (i, long) in knocks(10, 10 * MS, MS).into_iter().enumerate() {
        all.insert(i * 99, long);
    }
    let trace = write_trace(&dir.path().join("rare.parquet"), MS, None, &all);
    let json = summary_json(&[&trace]);
    let figures = &json["traces"][0];
    assert!(
        figures["wait_ns"]["p99"].as_i64().unwrap() <= 1001,
        "{figures}"
    );
    let request_p99 = figures["request_wait_ns"]["p99"].as_i64().unwrap();
    assert!((request_p99 - 9_900_000).abs() < 160_000, "{request_p99}");
    assert_eq!(figures["request_wait_ns"]["p50"], US);
}

#[test]
fn combined_request_waits_weight_traces_by_time() {
    // A: 100 knocks of 100 ns every 1 ms (0.1 s); B: polling interval 10 ms, 100 knocks of
    // 300 ns (1 s). Per knock the two traces count alike (combined median 100 ns); in time B is
    // 10/11 of the whole, so a request at a random moment waits 300 ns.
    let dir = tempfile::tempdir().unwrap();
    let a = write_trace(
        &dir.path().join("a.parquet"),
        MS,
        None,
        &knocks(100, 100, MS),
    );
    let b = write_trace(
        &dir.path().join("b.parquet"),
        10 * MS,
        None,
        &knocks(100, 300, 10 * MS),
    );
    let json = summary_json(&[&a, &b]);
    let combined = &json["combined"];
    assert_eq!(combined["wait_ns"]["p50"], 100);
    assert_eq!(combined["request_wait_ns"]["p50"], 300);
    assert_eq!(combined["request_wait_ns"]["max"], 300);
    // The same trace twice: the combined distribution is the trace's own.
    let json = summary_json(&[&a, &a]);
    assert_eq!(
        json["combined"]["request_wait_ns"],
        json["traces"][0]["request_wait_ns"]
    );
}

#[test]
fn diff_compares_and_gates_request_percentiles() {
    let dir = tempfile::tempdir().unwrap();
    let mut rare = knocks(990, US, MS);
    rare.extend(knocks(10, 10 * MS, MS));
    let base = write_trace(&dir.path().join("base.parquet"), MS, None, &rare);
    let mut worse = knocks(990, US, MS);
    worse.extend(knocks(10, 20 * MS, MS));
    let head = write_trace(&dir.path().join("head.parquet"), MS, None, &worse);
    // Per-knock p99 does not move (1 µs); the request p99 doubles.
    let output = analyze()
        .arg("diff")
        .args([&base, &head])
        .args(["--fail-if", "p99:10%", "--fail-if", "request_p99:10%"])
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["gate"][0]["tripped"], false);
    assert_eq!(json["gate"][1]["tripped"], true);
    let change = json["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["metric"] == "request_p99")
        .unwrap();
    assert_eq!(change["unit"], "ns");
    assert_eq!(change["test"], "weighted_quantile_ci95_overlap");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("regression: request_p99 went from"),
        "{stderr}"
    );
    // Same trace on both sides: no change, nothing significant.
    let output = analyze()
        .arg("diff")
        .args([&base, &base])
        .args(["--fail-if", "request_p99.9:0%", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    for change in json["changes"].as_array().unwrap() {
        assert_ne!(change["significant"], true, "{change}");
    }
}
