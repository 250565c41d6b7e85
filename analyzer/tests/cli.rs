//! The command line through the real binary: every subcommand, every kind of bad input.

mod common;

use clap::CommandFactory;
use common::{analyze, assert_input_error, testdata};
use predicates::prelude::*;

fn path(name: &str) -> String {
    testdata(name).display().to_string()
}

#[test]
fn verify_cli() {
    gilknocker_analyzer::cli::Cli::command().debug_assert();
}

#[test]
fn help_and_version_exit_zero() {
    analyze()
        .arg("--help")
        .assert()
        .code(0)
        .stdout(predicate::str::contains("summary"));
    for sub in [
        "summary",
        "diff",
        "timeline",
        "histogram",
        "export",
        "recover",
    ] {
        analyze()
            .args([sub, "--help"])
            .assert()
            .code(0)
            .stdout(predicate::str::contains("Usage"));
    }
    analyze().arg("--version").assert().code(0);
    analyze()
        .args(["summary", "--help"])
        .assert()
        .stdout(predicate::str::contains("0.1%"));
}

#[test]
fn usage_errors_exit_two() {
    analyze().assert().code(2);
    analyze().arg("summary").assert().code(2);
    analyze().args(["frobnicate"]).assert().code(2);
    analyze()
        .args(["summary", &path("idle.parquet"), "--format", "xml"])
        .assert()
        .code(2);
    for rule in [
        "p99",
        "p99:10",
        "p98:10%",
        "busy_fraction:3",
        "mean:-1%",
        "p99:2parsecs",
    ] {
        analyze()
            .args([
                "diff",
                &path("idle.parquet"),
                &path("busy.parquet"),
                "--fail-if",
                rule,
            ])
            .assert()
            .code(2)
            .stderr(predicate::str::contains("--fail-if"));
    }
}

#[test]
fn summary_text_reports_the_figures() {
    analyze()
        .args(["summary", &path("mixed.parquet")])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("3,000 over 3.91 s, 3 dropped"))
        .stdout(predicate::str::contains("p99.9"))
        .stdout(predicate::str::contains("95% CI"))
        .stdout(predicate::str::contains(
            "python 3.12.7 (CPython), GIL enabled",
        ));
}

#[test]
fn summary_json_has_the_documented_fields() {
    let output = analyze()
        .args([
            "summary",
            "--format",
            "json",
            &path("idle.parquet"),
            &path("busy.parquet"),
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["schema_version"], 1);
    let idle = &json["traces"][0];
    assert_eq!(idle["samples"], 2000);
    assert_eq!(idle["busy_fraction"], 0.0);
    assert!(idle["wait_ns"]["p99"].as_i64().unwrap() < 1000);
    assert_eq!(idle["run"]["schedule"]["polling_interval_ns"], 1_000_000);
    let busy = &json["traces"][1];
    assert!(busy["busy_fraction"].as_f64().unwrap() > 0.9);
    assert_eq!(busy["run"]["user"]["workload"], "cpu-bound");
    assert_eq!(json["combined"]["samples"], 4000);
}

#[test]
fn summary_of_an_empty_trace_says_so() {
    analyze()
        .args(["summary", &path("empty.parquet")])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("no samples"));
    let output = analyze()
        .args(["summary", "--format", "json", &path("empty.parquet")])
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["traces"][0]["samples"], 0);
    assert!(json["traces"][0]["wait_ns"].is_null());
}

#[test]
fn summary_of_one_row_and_windowed() {
    analyze()
        .args(["summary", &path("one_row.parquet")])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("min 321 ns"));
    let output = analyze()
        .args(["summary", "--format", "json", &path("windowed.parquet")])
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["traces"][0]["contention_window_source"], "recorded");
    assert_eq!(json["traces"][0]["run"]["schedule"]["kind"], "windowed");
}

#[test]
fn summary_reads_unfinished_parts_and_directories() {
    analyze()
        .args(["summary", &path("unfinished.parquet.parts")])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("unfinished recording"))
        .stdout(predicate::str::contains("900"));
    let dir = tempfile::tempdir().unwrap();
    for name in ["b.parquet", "a.parquet"] {
        std::fs::copy(testdata("idle.parquet"), dir.path().join(name)).unwrap();
    }
    std::fs::write(dir.path().join("notes.txt"), "ignored").unwrap();
    let output = analyze()
        .args(["summary", "--format", "json"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let paths: Vec<&str> = json["traces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["path"].as_str().unwrap())
        .collect();
    assert!(
        paths[0].ends_with("a.parquet") && paths[1].ends_with("b.parquet"),
        "{paths:?}"
    );
    assert_eq!(json["combined"]["samples"], 4000);
}

#[test]
fn bad_inputs_give_one_line_naming_the_file() {
    let cases = [
        ("absurd_wait.parquet", "not a plausible measurement"),
        ("corrupt_page.parquet", "corrupt"),
        ("foreign.parquet", "not written by gilknocker"),
        ("negative_wait.parquet", "negative wait_ns"),
        ("newer_version.parquet", "newer than this reader"),
        ("not_parquet.parquet", "not a Parquet file"),
        ("truncated.parquet", "truncated"),
        (
            "unsorted.parquet",
            "timestamps go backwards between row groups",
        ),
        ("wrong_types.parquet", "must be Int64"),
    ];
    for (name, problem) in cases {
        for command in [
            vec!["summary", &path(name)],
            vec!["summary", "--format", "json", &path(name)],
            vec!["diff", &path("idle.parquet"), &path(name)],
            vec!["timeline", &path(name), "-o", "/dev/null"],
            vec!["histogram", &path(name), "-o", "/dev/null"],
        ] {
            let command: Vec<&str> = command.iter().map(|s| s.as_ref()).collect();
            assert_input_error(&command, name, problem);
        }
    }
    assert_input_error(
        &["summary", "/nonexistent/run.parquet"],
        "/nonexistent/run.parquet",
        "No such file",
    );
    let parts_dir = tempfile::tempdir().unwrap();
    let parts = parts_dir.path().join("run.parquet.parts");
    std::fs::create_dir(&parts).unwrap();
    let parts = parts.display().to_string();
    assert_input_error(&["summary", &parts], &parts, "no finished parts");
    let empty_dir = tempfile::tempdir().unwrap();
    let dir = empty_dir.path().display().to_string();
    assert_input_error(&["summary", &dir], &dir, "no traces here");
}

#[test]
fn export_refuses_bad_inputs_and_leaves_no_partial_file() {
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("out.csv");
    for (name, problem) in [
        ("unsorted.parquet", "backwards"),
        ("foreign.parquet", "not written by gilknocker"),
    ] {
        let target_text = target.display().to_string();
        assert_input_error(
            &["export", &path(name), "--format", "csv", "-o", &target_text],
            name,
            problem,
        );
        assert!(!target.exists(), "partial export left behind for {name}");
    }
}

#[test]
fn commands_that_need_samples_refuse_an_empty_trace() {
    let empty = path("empty.parquet");
    assert_input_error(
        &["diff", &path("idle.parquet"), &empty],
        "empty.parquet",
        "no samples",
    );
    assert_input_error(
        &["timeline", &empty, "-o", "/dev/null"],
        "empty.parquet",
        "no samples",
    );
    assert_input_error(
        &["histogram", &empty, "-o", "/dev/null"],
        "empty.parquet",
        "no samples",
    );
}

#[test]
fn diff_gate_exit_codes() {
    let (idle, busy) = (path("idle.parquet"), path("busy.parquet"));
    analyze()
        .args(["diff", &idle, &busy])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("busy_fraction"))
        .stdout(predicate::str::contains("Mann-Whitney"));
    analyze()
        .args([
            "diff",
            &idle,
            &busy,
            "--fail-if",
            "p99:10%",
            "--fail-if",
            "max:1h",
        ])
        .assert()
        .code(2);
    analyze()
        .args([
            "diff",
            &idle,
            &busy,
            "--fail-if",
            "p99:10%",
            "--fail-if",
            "busy_fraction:0.99",
        ])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("FAIL  p99:10%"))
        .stdout(predicate::str::contains("ok    busy_fraction:0.99"))
        .stderr(predicate::str::contains("regression: p99 went from"));
    // Getting better never trips.
    analyze()
        .args([
            "diff",
            &busy,
            &idle,
            "--fail-if",
            "p99:0%",
            "--fail-if",
            "busy:0",
            "--fail-if",
            "mean:1ns",
        ])
        .assert()
        .code(0);
    // Identical traces: nothing changes, nothing is significant.
    let output = analyze()
        .args([
            "diff",
            &idle,
            &idle,
            "--format",
            "json",
            "--fail-if",
            "p99:0%",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["gate_tripped"], false);
    for change in json["changes"].as_array().unwrap() {
        assert_ne!(change["significant"], true, "{change}");
        assert_eq!(change["absolute_change"], 0.0, "{change}");
    }
    assert_eq!(json["wait_distribution"]["probability_b_longer"], 0.5);
}

#[test]
fn timeline_and_histogram_write_valid_deterministic_svg() {
    let dir = tempfile::tempdir().unwrap();
    for (command, extra) in [
        ("timeline", vec!["--log"]),
        ("timeline", vec![]),
        ("histogram", vec![]),
    ] {
        let first = dir.path().join("first.svg");
        let second = dir.path().join("second.svg");
        for target in [&first, &second] {
            analyze()
                .arg(command)
                .args(&extra)
                .args([
                    path("mixed.parquet"),
                    path("windowed.parquet"),
                    path("hostile_strings.parquet"),
                ])
                .arg("-o")
                .arg(target)
                .assert()
                .code(0);
        }
        let svg = std::fs::read_to_string(&first).unwrap();
        assert_eq!(
            svg,
            std::fs::read_to_string(&second).unwrap(),
            "{command} is not deterministic"
        );
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("<title>"));
        assert!(svg.len() < 1_000_000, "{command}: {} bytes", svg.len());
        // Nothing from the hostile trace arrives unescaped, and no control characters at all.
        assert!(!svg.contains("<script"), "{command}");
        assert!(!svg.contains("]]>"), "{command}");
        assert!(!svg.contains("<host>"), "{command}");
        assert!(
            !svg.chars().any(|c| c.is_control() && c != '\n'),
            "{command}"
        );
        assert!(
            svg.contains("&lt;script&gt;")
                || command == "histogram"
                || svg.contains("&lt;host&gt;")
        );
    }
}

#[test]
fn svg_to_stdout_works_when_piped() {
    analyze()
        .args(["histogram", &path("idle.parquet"), "-o", "-"])
        .assert()
        .code(0)
        .stdout(predicate::str::starts_with("<svg"));
}

#[test]
fn export_csv_streams_every_sample() {
    let output = analyze()
        .args(["export", &path("mixed.parquet"), "--format", "csv"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let text = String::from_utf8(output.stdout).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("time_ns,time_utc,wait_ns,interval_ns,label")
    );
    let first = lines.next().unwrap();
    assert!(
        first.starts_with("1700000000001000000,2023-11-14T22:13:20.001000000Z,408,"),
        "{first}"
    );
    assert!(
        first.ends_with(','),
        "unlabelled: empty label field: {first}"
    );
    assert_eq!(text.lines().count(), 3001);
    let filtered = analyze()
        .args([
            "export",
            &path("mixed.parquet"),
            "--format",
            "csv",
            "--min-wait",
            "1ms",
        ])
        .output()
        .unwrap();
    let filtered = String::from_utf8(filtered.stdout).unwrap();
    assert!(filtered.lines().count() < 1000);
    // wait_ns is the third field (these knocks have no labels, so no quoted commas).
    assert!(filtered
        .lines()
        .skip(1)
        .all(|l| l.split(',').nth(2).unwrap().parse::<i64>().unwrap() >= 1_000_000));
}

#[test]
fn export_chrome_trace_is_valid_trace_event_json() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("trace.json");
    analyze()
        .args([
            "export",
            &path("hostile_strings.parquet"),
            "--format",
            "chrome-trace",
            "--bucket",
            "10ms",
            "-o",
        ])
        .arg(&target)
        .assert()
        .code(0)
        .stdout("");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&target).unwrap()).unwrap();
    let events = json["traceEvents"].as_array().unwrap();
    let knocks: Vec<_> = events.iter().filter(|e| e["ph"] == "X").collect();
    assert_eq!(knocks.len(), 200);
    assert_eq!(knocks[0]["ts"], 0.0);
    assert!(events.iter().filter(|e| e["ph"] == "C").count() >= 19);
    let process = events.iter().find(|e| e["name"] == "process_name").unwrap();
    assert!(process["args"]["name"]
        .as_str()
        .unwrap()
        .contains("<script>"));
}

#[test]
fn recover_merges_the_parts_of_a_killed_recording() {
    let dir = tempfile::tempdir().unwrap();
    let parts = dir.path().join("run.parquet.parts");
    std::fs::create_dir(&parts).unwrap();
    for entry in std::fs::read_dir(testdata("unfinished.parquet.parts")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), parts.join(entry.file_name())).unwrap();
    }
    let trace = dir.path().join("run.parquet");
    analyze()
        .arg("recover")
        .arg(&trace)
        .assert()
        .code(0)
        .stdout(predicate::str::contains("merged 3 parts with 900 samples"));
    assert!(!parts.exists());
    analyze()
        .arg("summary")
        .arg(&trace)
        .assert()
        .code(0)
        .stdout(predicate::str::contains("recovered after a crash"));
    // Nothing left to recover.
    let output = analyze().arg("recover").arg(&trace).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("run.parquet.parts") && stderr.lines().count() == 1,
        "{stderr}"
    );
}

#[test]
fn library_run_matches_the_binary() {
    use std::ffi::OsString;
    let args = |list: &[&str]| -> Vec<OsString> {
        std::iter::once("gilknock-analyze")
            .chain(list.iter().copied())
            .map(OsString::from)
            .collect()
    };
    assert_eq!(
        gilknocker_analyzer::run(args(&["summary", "-o", "/dev/null", &path("idle.parquet")])),
        0
    );
    assert_eq!(
        gilknocker_analyzer::run(args(&["summary", &path("foreign.parquet")])),
        2
    );
    assert_eq!(gilknocker_analyzer::run(args(&["bogus"])), 2);
    assert_eq!(
        gilknocker_analyzer::run(args(&[
            "diff",
            "-o",
            "/dev/null",
            &path("idle.parquet"),
            &path("busy.parquet"),
            "--fail-if",
            "p99:1%"
        ])),
        1
    );
}
