//! Text and JSON renderings of hand-built reports, as insta snapshots (tests/snapshots/).
//! Review changes with `cargo insta review`, or accept them with `INSTA_UPDATE=always`.

use std::collections::BTreeMap;

use gilknocker_analyzer::diff::{Change, DiffReport, DistributionTest, GateCheck};
use gilknocker_analyzer::render::{json::write_json, text};
use gilknocker_analyzer::report::{
    CountersReport, Figures, Group, GroupFigures, RequestWaitStats, RunReport, ScheduleReport,
    SummaryReport, TraceSummary, WaitStats, SCHEMA_VERSION,
};

fn run_report(host: &str, argv: &[&str]) -> RunReport {
    RunReport {
        format_version: 1,
        recorder_version: "0.5.0".into(),
        python_version: "3.13.1".into(),
        python_implementation: "CPython".into(),
        gil_enabled: Some(true),
        switch_interval_s: Some(0.005),
        schedule: ScheduleReport {
            kind: "continuous".into(),
            polling_interval_ns: 1_000_000,
            sampling_interval_ns: None,
            sleeping_interval_ns: None,
            jitter: true,
            idle_interval_ns: Some(20_000_000),
            idle_after_ns: Some(100_000_000),
        },
        busy_threshold_ns: 5_000,
        host: host.into(),
        pid: 31337,
        argv: argv.iter().map(|s| s.to_string()).collect(),
        start_time_ns: 1_700_000_000_000_000_000,
        end_time_ns: Some(1_700_000_060_000_000_000),
        complete: true,
        recovered: false,
        unfinished: false,
        error: None,
        counters: CountersReport {
            knocks: 60_000,
            dropped_samples: 2,
            skipped_busy_slots: 120,
            missed_late_slots: 3,
            late_ns_total: 1_500_000,
            late_ns_max: 400_000,
            window_ns_total: 60_000_000_000,
            wait_ns_total: 9_000_000_000,
        },
        user: BTreeMap::from([("build".to_string(), "release".to_string())]),
    }
}

fn figures(scale: f64) -> Figures {
    Figures {
        samples: 60_000,
        duration_s: Some(60.0),
        dropped_samples: 2,
        wait_ns: Some(WaitStats {
            min: 120,
            mean: 150_000.0 * scale,
            p50: 480,
            p90: (90_000.0 * scale) as i64,
            p99: (2_500_000.0 * scale) as i64,
            p99_9: (4_900_000.0 * scale) as i64,
            max: (12_000_000.0 * scale) as i64,
        }),
        request_wait_ns: Some(RequestWaitStats {
            p50: (1_100_000.0 * scale) as i64,
            p90: (4_200_000.0 * scale) as i64,
            p99: (9_800_000.0 * scale) as i64,
            p99_9: (11_500_000.0 * scale) as i64,
            max: (12_000_000.0 * scale) as i64,
        }),
        busy_fraction: Some(0.15 * scale),
        busy_fraction_ci95: Some([0.147 * scale, 0.153 * scale]),
        contention_metric: Some(0.15 * scale),
        contention_window_source: Some("recorded".into()),
        long_wait_fraction: Some(0.08 * scale),
    }
}

fn summary(path: &str, scale: f64) -> TraceSummary {
    TraceSummary {
        path: path.into(),
        figures: figures(scale),
        run: run_report("build-01", &["python", "-m", "myapp", "--port", "8080"]),
        groups: None,
    }
}

fn render(f: impl FnOnce(&mut Vec<u8>) -> std::io::Result<()>) -> String {
    let mut out = Vec::new();
    f(&mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn summary_text_one_trace() {
    let report = SummaryReport {
        schema_version: SCHEMA_VERSION,
        traces: vec![summary("runs/base.parquet", 1.0)],
        combined: None,
        group_by: None,
        groups: None,
    };
    insta::assert_snapshot!(
        "summary_one",
        render(|out| text::write_summary(out, &report))
    );
}

#[test]
fn summary_text_several_traces_with_hostile_strings() {
    let mut hostile = summary("runs/\u{1b}[31mevil.parquet", 2.0);
    hostile.run = run_report("<host>\u{7}", &["python", "<script>", "a b"]);
    hostile.run.error = Some("disk full\nretry".into());
    let empty = TraceSummary {
        path: "runs/empty.parquet".into(),
        figures: Figures {
            samples: 0,
            duration_s: None,
            dropped_samples: 0,
            wait_ns: None,
            request_wait_ns: None,
            busy_fraction: None,
            busy_fraction_ci95: None,
            contention_metric: None,
            contention_window_source: None,
            long_wait_fraction: None,
        },
        run: {
            let mut run = run_report("", &[]);
            run.schedule.idle_interval_ns = None;
            run.schedule.idle_after_ns = None;
            run
        },
        groups: None,
    };
    let report = SummaryReport {
        schema_version: SCHEMA_VERSION,
        traces: vec![summary("runs/base.parquet", 1.0), hostile, empty],
        combined: Some(figures(1.5)),
        group_by: None,
        groups: None,
    };
    insta::assert_snapshot!(
        "summary_several",
        render(|out| text::write_summary(out, &report))
    );
}

#[test]
fn summary_json() {
    let report = SummaryReport {
        schema_version: SCHEMA_VERSION,
        traces: vec![summary("runs/base.parquet", 1.0)],
        combined: None,
        group_by: None,
        groups: None,
    };
    insta::assert_snapshot!("summary_json", render(|out| write_json(out, &report)));
}

fn group_figures(samples: u64, busy: f64) -> GroupFigures {
    GroupFigures {
        samples,
        time_s: Some(samples as f64 / 1000.0),
        wait_ns: Some(WaitStats {
            min: 100,
            mean: 2_000.0,
            p50: 150,
            p90: 1_200,
            p99: 40_000,
            p99_9: 900_000,
            max: 3_000_000,
        }),
        request_wait_ns: Some(RequestWaitStats {
            p50: 160,
            p90: 2_000,
            p99: 800_000,
            p99_9: 2_900_000,
            max: 3_000_000,
        }),
        busy_fraction: Some(busy),
        busy_fraction_ci95: Some([(busy - 0.01).max(0.0), busy + 0.01]),
        long_wait_fraction: Some(busy / 10.0),
    }
}

fn label_group(label: Option<&str>, samples: u64, busy: f64) -> Group {
    Group {
        host: None,
        pid: None,
        label: Some(label.map(str::to_string)),
        other_labels: false,
        traces: 1,
        figures: group_figures(samples, busy),
    }
}

/// `summary --by host,label` over two traces, the second with a hostile label.
fn grouped_report() -> SummaryReport {
    let mut first = summary("runs/a.parquet", 1.0);
    first.groups = Some(vec![
        label_group(Some("load-data"), 1_000, 0.25),
        label_group(None, 500, 0.05),
    ]);
    let mut second = summary("runs/b.parquet", 1.0);
    second.groups = Some(vec![
        label_group(Some("<b>\u{1b}[31mbad,\"label\"\n"), 10, 0.5),
        Group {
            other_labels: true,
            label: Some(None),
            ..label_group(None, 3, 0.0)
        },
    ]);
    let host = |group: Group| Group {
        host: Some("build-01".into()),
        traces: 2,
        ..group
    };
    SummaryReport {
        schema_version: SCHEMA_VERSION,
        traces: vec![first, second],
        combined: Some(figures(1.0)),
        group_by: Some(vec!["host".into(), "label".into()]),
        groups: Some(vec![
            host(label_group(Some("<b>\u{1b}[31mbad,\"label\"\n"), 10, 0.5)),
            host(label_group(Some("load-data"), 2_000, 0.25)),
            host(label_group(None, 1_000, 0.05)),
        ]),
    }
}

#[test]
fn summary_grouped_json() {
    let mut report = grouped_report();
    // Keep the snapshot about the groups.
    for trace in &mut report.traces {
        trace.run.argv.clear();
        trace.run.user.clear();
    }
    insta::assert_snapshot!(
        "summary_grouped_json",
        render(|out| write_json(out, &report))
    );
}

#[test]
fn summary_grouped_text() {
    insta::assert_snapshot!(
        "summary_grouped_text",
        render(|out| text::write_summary(out, &grouped_report()))
    );
}

fn diff_report() -> DiffReport {
    let change = |metric: &str,
                  unit: &str,
                  a: f64,
                  b: f64,
                  test: Option<&str>,
                  p: Option<f64>,
                  significant: Option<bool>| Change {
        metric: metric.into(),
        unit: unit.into(),
        a: Some(a),
        b: Some(b),
        absolute_change: Some(b - a),
        relative_change: (a != 0.0).then(|| (b - a) / a),
        test: test.map(str::to_string),
        p_value: p,
        significant,
    };
    DiffReport {
        schema_version: SCHEMA_VERSION,
        a: summary("base.parquet", 1.0),
        b: summary("head.parquet", 1.2),
        changes: vec![
            change("min", "ns", 120.0, 120.0, None, None, None),
            change(
                "mean",
                "ns",
                150_000.0,
                180_000.0,
                Some("welch_z"),
                Some(0.0001),
                Some(true),
            ),
            change(
                "p50",
                "ns",
                480.0,
                480.0,
                Some("quantile_ci95_overlap"),
                None,
                Some(false),
            ),
            change(
                "p99",
                "ns",
                2_500_000.0,
                3_000_000.0,
                Some("quantile_ci95_overlap"),
                None,
                Some(true),
            ),
            change("max", "ns", 12_000_000.0, 14_400_000.0, None, None, None),
            change(
                "busy_fraction",
                "fraction",
                0.15,
                0.18,
                Some("two_proportion_z"),
                Some(0.02),
                Some(true),
            ),
            change(
                "long_wait_fraction",
                "fraction",
                0.0,
                0.01,
                Some("two_proportion_z"),
                Some(0.2),
                Some(false),
            ),
            change(
                "request_p99",
                "ns",
                9_800_000.0,
                11_760_000.0,
                Some("weighted_quantile_ci95_overlap"),
                None,
                Some(true),
            ),
            change(
                "request_max",
                "ns",
                12_000_000.0,
                14_400_000.0,
                None,
                None,
                None,
            ),
        ],
        wait_distribution: Some(DistributionTest {
            z: 3.1,
            p_value: 0.0019,
            probability_b_longer: 0.53,
            significant: true,
        }),
        gate: vec![
            GateCheck {
                rule: "p99:10%".into(),
                metric: "p99".into(),
                tripped: true,
                significant: Some(true),
                reason: "p99 went from 2.50 ms to 3.00 ms (+20.0%); limit +10%".into(),
            },
            GateCheck {
                rule: "request_p99:25%".into(),
                metric: "request_p99".into(),
                tripped: false,
                significant: Some(true),
                reason: "request_p99 went from 9.80 ms to 11.8 ms (+20.0%); limit +25%".into(),
            },
            GateCheck {
                rule: "busy_fraction:0.05".into(),
                metric: "busy_fraction".into(),
                tripped: false,
                significant: Some(true),
                reason: "busy_fraction went from 0.1500 to 0.1800 (+0.0300); limit +0.0500".into(),
            },
        ],
        gate_tripped: true,
    }
}

#[test]
fn diff_text() {
    let report = diff_report();
    insta::assert_snapshot!("diff_text", render(|out| text::write_diff(out, &report)));
}

#[test]
fn diff_json() {
    let report = diff_report();
    insta::assert_snapshot!("diff_json", render(|out| write_json(out, &report)));
}
