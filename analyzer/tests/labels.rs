//! Labelled traces (the `label` column), written here through the real trace writer:
//! `summary --by label|host|pid` figures computed by hand, the CSV export of hostile labels.

mod common;

use std::path::{Path, PathBuf};

use gilknocker_trace::writer::{merge_parts_with_row_groups, parts_dir};
use gilknocker_trace::{RunMetadata, Sample, ScheduleInfo, ScheduleKind, TraceWriter};
use serde_json::Value;

use common::analyze;

const START_NS: i64 = 1_700_000_000_000_000_000;
const US: i64 = 1_000;
const MS: i64 = 1_000_000;

/// One knock: wait, scheduling interval, label.
type Knock<'a> = (i64, i64, Option<&'a str>);

fn metadata(host: &str, pid: i64) -> RunMetadata {
    let schedule = ScheduleInfo {
        kind: ScheduleKind::Continuous,
        polling_interval_ns: MS,
        sampling_interval_ns: None,
        sleeping_interval_ns: None,
        jitter: true,
    };
    let mut meta = RunMetadata::new(schedule, START_NS);
    meta.complete = true;
    meta.busy_threshold_ns = 5 * US;
    meta.host = host.to_string();
    meta.pid = pid;
    meta
}

/// Write a finished trace: every `part_rows` knocks a new part, merged into row groups of
/// `row_group_rows` rows, so that labels are re-keyed across row groups with different label
/// dictionaries.
fn write_trace(
    path: &Path,
    meta: &RunMetadata,
    knocks: &[Knock],
    part_rows: usize,
    row_group_rows: usize,
) -> PathBuf {
    let mut writer = TraceWriter::create(path).unwrap();
    let mut time = START_NS + MS;
    for (i, &(wait_ns, interval_ns, label)) in knocks.iter().enumerate() {
        writer.push_labelled(
            Sample {
                time_ns: time,
                wait_ns,
            },
            interval_ns,
            label,
        );
        time += wait_ns + interval_ns;
        if (i + 1) % part_rows == 0 {
            writer.write_part(meta).unwrap();
        }
    }
    writer.write_part(meta).unwrap();
    merge_parts_with_row_groups(&parts_dir(path), path, meta, row_group_rows).unwrap();
    path.to_path_buf()
}

/// 4 "load" knocks (two busy 10 µs waits, two free 100 ns), 2 "compute" knocks waiting 2 ms,
/// 3 unlabelled free knocks, interleaved, all at the 1 ms polling interval.
fn phases() -> Vec<Knock<'static>> {
    vec![
        (0, MS, None),
        (10 * US, MS, Some("load")),
        (100, MS, Some("load")),
        (2 * MS, MS, Some("compute")),
        (10 * US, MS, Some("load")),
        (0, MS, None),
        (100, MS, Some("load")),
        (2 * MS, MS, Some("compute")),
        (0, MS, None),
    ]
}

fn summary_json(args: &[&str], paths: &[&Path]) -> Value {
    let output = analyze()
        .args(["summary", "--format", "json"])
        .args(args)
        .args(paths)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    serde_json::from_slice(&output.stdout).unwrap()
}

fn close(actual: &Value, expected: f64) {
    let actual = actual.as_f64().unwrap_or(f64::NAN);
    assert!(
        (actual - expected).abs() < 1e-9,
        "{actual} != {expected} (expected)"
    );
}

#[test]
fn summary_by_label_gives_each_labels_figures() {
    let dir = tempfile::tempdir().unwrap();
    let trace = write_trace(
        &dir.path().join("phases.parquet"),
        &metadata("host-a", 11),
        &phases(),
        4,
        3,
    );
    let json = summary_json(&["--by", "label"], &[&trace]);
    assert_eq!(json["group_by"], serde_json::json!(["label"]));
    // Whole-trace figures are still there, unchanged.
    assert_eq!(json["traces"][0]["samples"], 9);
    let groups = json["groups"].as_array().unwrap();
    assert_eq!(json["traces"][0]["groups"], json["groups"]);
    let labels: Vec<&Value> = groups.iter().map(|g| &g["label"]).collect();
    assert_eq!(
        labels,
        [&Value::from("compute"), &Value::from("load"), &Value::Null]
    );
    assert!(groups.iter().all(|g| g.get("host").is_none()));

    // compute: two knocks that waited 2 ms at a 1 ms interval: each stands for 3 ms, all busy;
    // a request waits >= 1 ms during the knock's own 1 ms and the first 1 ms of its wait.
    let compute = &groups[0]["figures"];
    assert_eq!(compute["samples"], 2);
    close(&compute["time_s"], 0.006);
    close(&compute["busy_fraction"], 1.0);
    close(&compute["long_wait_fraction"], 4.0 / 6.0);
    assert_eq!(compute["wait_ns"]["p50"], 2 * MS);
    assert_eq!(compute["wait_ns"]["max"], 2 * MS);

    // load: busy slots 2 x (1 + 0.01), free slots 2 x (1 + 0.0001).
    let load = &groups[1]["figures"];
    assert_eq!(load["samples"], 4);
    close(&load["busy_fraction"], 2.02 / 4.0202);
    close(&load["time_s"], 4.0202e-3);
    close(&load["long_wait_fraction"], 0.0);
    close(&load["wait_ns"]["mean"], (20_000.0 + 200.0) / 4.0);
    assert_eq!(load["wait_ns"]["min"], 100);
    assert_eq!(load["wait_ns"]["max"], 10 * US);
    // Wilson interval over 4 knocks, as BusyEstimator computes it.
    let (low, high) = gilknocker_trace::estimate::wilson_interval(2.02 / 4.0202, 4.0, 1.96);
    close(&load["busy_fraction_ci95"][0], low);
    close(&load["busy_fraction_ci95"][1], high);
    // Requests: the knocks' own points weigh 64 each; the two 10 µs waits spread 0.01 slot
    // (0.64 -> 1 point of weight 1) each, below them. Median: a 100 ns or 10 µs knock.
    assert_eq!(load["request_wait_ns"]["max"], 10 * US);

    // No label: three free knocks.
    let none = &groups[2]["figures"];
    assert_eq!(none["samples"], 3);
    close(&none["busy_fraction"], 0.0);
    assert_eq!(none["wait_ns"]["max"], 0);
    // The groups add up to the trace.
    let total: u64 = groups
        .iter()
        .map(|g| g["figures"]["samples"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 9);
}

#[test]
fn summary_by_label_text_and_a_trace_without_labels() {
    let dir = tempfile::tempdir().unwrap();
    let trace = write_trace(
        &dir.path().join("phases.parquet"),
        &metadata("host-a", 11),
        &phases(),
        100,
        100,
    );
    let plain = write_trace(
        &dir.path().join("plain.parquet"),
        &metadata("host-a", 12),
        &[(0, MS, None), (7 * US, MS, None)],
        100,
        100,
    );
    let output = analyze()
        .args(["summary", "--by", "label"])
        .args([&trace, &plain])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("phases.parquet by label"), "{text}");
    assert!(text.contains("by label (all traces)"), "{text}");
    let all = text.split("by label (all traces)").nth(1).unwrap();
    let row = |name: &str| {
        all.lines()
            .find(|line| line.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} row in {all}"))
            .split_whitespace()
            .nth(if name == "(no label)" { 2 } else { 1 })
            .unwrap()
            .to_string()
    };
    assert_eq!(row("compute"), "2");
    assert_eq!(row("load"), "4");
    // 3 unlabelled knocks of the first trace and both of the second.
    assert_eq!(row("(no label)"), "5");
}

#[test]
fn summary_of_a_directory_by_host_and_pid() {
    let dir = tempfile::tempdir().unwrap();
    let free = [(0, MS, Some("x")); 3];
    let busy = [(10 * US, MS, Some("x")); 2];
    write_trace(
        &dir.path().join("1.parquet"),
        &metadata("b-host", 7),
        &free,
        10,
        10,
    );
    write_trace(
        &dir.path().join("2.parquet"),
        &metadata("a-host", 9),
        &busy,
        10,
        10,
    );
    write_trace(
        &dir.path().join("3.parquet"),
        &metadata("b-host", 7),
        &busy,
        10,
        10,
    );
    write_trace(
        &dir.path().join("4.parquet"),
        &metadata("b-host", 8),
        &free,
        10,
        10,
    );
    let json = summary_json(&["--by", "host,pid"], &[dir.path()]);
    assert_eq!(json["group_by"], serde_json::json!(["host", "pid"]));
    let groups = json["groups"].as_array().unwrap();
    let keys: Vec<(String, i64, u64, u64)> = groups
        .iter()
        .map(|g| {
            (
                g["host"].as_str().unwrap().to_string(),
                g["pid"].as_i64().unwrap(),
                g["traces"].as_u64().unwrap(),
                g["figures"]["samples"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        keys,
        [
            ("a-host".to_string(), 9, 1, 2),
            ("b-host".to_string(), 7, 2, 5),
            ("b-host".to_string(), 8, 1, 3),
        ]
    );
    assert!(groups.iter().all(|g| g.get("label").is_none()));
    // b-host/7: 2 busy knocks covering 1.01 slots each, 3 free ones covering 1 slot each.
    close(&groups[1]["figures"]["busy_fraction"], 2.02 / 5.02);
    close(&groups[0]["figures"]["busy_fraction"], 1.0);
    close(&groups[2]["figures"]["busy_fraction"], 0.0);
    // The combined figures are still there.
    assert_eq!(json["combined"]["samples"], 10);

    // Repeated --by is the same as a list; adding label splits further.
    let repeated = summary_json(&["--by", "pid", "--by", "host"], &[dir.path()]);
    assert_eq!(repeated["groups"], json["groups"]);
    let with_label = summary_json(&["--by", "host,label"], &[dir.path()]);
    let groups = with_label["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 2);
    assert_eq!(groups[1]["host"], "b-host");
    assert_eq!(groups[1]["label"], "x");
    assert_eq!(groups[1]["traces"], 3);
    assert_eq!(groups[1]["figures"]["samples"], 8);
}

#[test]
fn summary_without_by_is_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let trace = write_trace(
        &dir.path().join("phases.parquet"),
        &metadata("host-a", 11),
        &phases(),
        100,
        100,
    );
    let json = summary_json(&[], &[&trace]);
    assert!(json.get("groups").is_none());
    assert!(json.get("group_by").is_none());
    assert!(json["traces"][0].get("groups").is_none());
}

#[test]
fn unknown_by_key_is_a_usage_error() {
    let output = analyze()
        .args(["summary", "--by", "thread", "x.parquet"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn csv_export_escapes_hostile_labels() {
    let dir = tempfile::tempdir().unwrap();
    let hostile = "a,\"b\"\nc";
    let trace = write_trace(
        &dir.path().join("hostile.parquet"),
        &metadata("host-a", 11),
        &[
            (100, MS, Some(hostile)),
            (200, 2 * MS, None),
            (300, MS, Some("")),
            (400, MS, Some("load")),
        ],
        2,
        2,
    );
    let output = analyze()
        .args(["export", "--format", "csv"])
        .arg(&trace)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    let expected = format!(
        "time_ns,time_utc,wait_ns,interval_ns,label\n\
         {t0},2023-11-14T22:13:20.001000000Z,100,1000000,\"a,\"\"b\"\"\nc\"\n\
         {t1},2023-11-14T22:13:20.002000100Z,200,2000000,\n\
         {t2},2023-11-14T22:13:20.004000300Z,300,1000000,\"\"\n\
         {t3},2023-11-14T22:13:20.005000600Z,400,1000000,load\n",
        t0 = START_NS + MS,
        t1 = START_NS + 2 * MS + 100,
        t2 = START_NS + 4 * MS + 300,
        t3 = START_NS + 5 * MS + 600,
    );
    assert_eq!(text, expected);
}
