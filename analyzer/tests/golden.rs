//! SVG output compared byte for byte with golden files in tests/golden/.
//!
//! `GILKNOCKER_BLESS=1 cargo test -p gilknocker-analyzer --test golden` rewrites them after an
//! intended change; on a mismatch the actual output is written beside the golden file as
//! `NAME.actual.svg` for inspection (convert both with `rsvg-convert` and look).

use std::path::PathBuf;

use gilknocker_analyzer::render::histogram_svg::{
    write_histogram, Bin, HistogramPlot, HistogramSeries,
};
use gilknocker_analyzer::render::timeline_svg::{
    write_timeline, ColumnStats, TimelinePanel, TimelinePlot,
};

fn check_golden(name: &str, actual: &[u8]) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let golden = dir.join(format!("{name}.svg"));
    let actual_path = dir.join(format!("{name}.actual.svg"));
    if std::env::var_os("GILKNOCKER_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&golden, actual).unwrap();
        let _ = std::fs::remove_file(&actual_path);
        return;
    }
    let expected = std::fs::read(&golden).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with GILKNOCKER_BLESS=1 to create it",
            golden.display()
        )
    });
    if expected != actual {
        std::fs::write(&actual_path, actual).unwrap();
        panic!(
            "{name}: SVG differs from {}; actual output written to {} (GILKNOCKER_BLESS=1 accepts it)",
            golden.display(),
            actual_path.display()
        );
    }
    let _ = std::fs::remove_file(&actual_path);
}

/// A deterministic panel: quiet, then a burst of contention, then a pause with no knocks.
fn panel(title: &str, subtitle: &str, columns: usize) -> TimelinePanel {
    let columns = (0..columns)
        .map(|i| {
            if (700..800).contains(&i) {
                return None;
            }
            let burst = (300..500).contains(&i);
            let wobble = ((i * 37) % 11) as f64;
            Some(ColumnStats {
                min_ns: 150.0 + wobble,
                p50_ns: if burst {
                    40_000.0 + 1000.0 * wobble
                } else {
                    400.0 + 10.0 * wobble
                },
                p99_ns: if burst {
                    2_000_000.0 + 50_000.0 * wobble
                } else {
                    900.0 + 30.0 * wobble
                },
                max_ns: if burst {
                    4_500_000.0
                } else {
                    3_000.0 + 100.0 * wobble
                },
                busy_fraction: if burst {
                    0.6 + wobble / 40.0
                } else {
                    wobble / 200.0
                },
                label: None,
            })
        })
        .collect();
    TimelinePanel {
        title: title.into(),
        subtitle: subtitle.into(),
        duration_s: 12.5,
        columns,
    }
}

#[test]
fn timeline_linear_two_panels() {
    let plot = TimelinePlot {
        panels: vec![
            panel(
                "base.parquet",
                "Python 3.13.1 · GIL enabled · continuous knock every 1.00 ms",
                1000,
            ),
            panel(
                "head.parquet",
                "Python 3.13.1 · GIL enabled · host <ci> & 'x'",
                1000,
            ),
        ],
        log_scale: false,
        width: 1000,
    };
    let mut out = Vec::new();
    write_timeline(&mut out, &plot).unwrap();
    check_golden("timeline_linear", &out);
}

#[test]
fn timeline_with_labels() {
    // Phases: "load" (with a burst of contention), a hostile label too long and too narrow
    // for its band, unlabelled columns, "load" again (same colour), a pause, "train".
    let mut labelled = panel("phases.parquet", "labels shaded behind the data", 1000);
    let hostile = format!("<b>&\"x\"\u{1b}[31m{}", "y".repeat(100));
    for (i, column) in labelled.columns.iter_mut().enumerate() {
        if let Some(column) = column {
            column.label = match i {
                0..=449 => Some("load".to_string()),
                450..=469 => Some(hostile.clone()),
                470..=599 => None,
                600..=699 => Some("load".to_string()),
                _ => Some("train <gpu>".to_string()),
            };
        }
    }
    let plot = TimelinePlot {
        panels: vec![labelled],
        log_scale: true,
        width: 1000,
    };
    let mut out = Vec::new();
    write_timeline(&mut out, &plot).unwrap();
    let svg = String::from_utf8(out.clone()).unwrap();
    assert!(!svg.contains('\u{1b}'));
    assert!(!svg.contains("<b>"));
    check_golden("timeline_labels", &out);
}

#[test]
fn timeline_log_scale() {
    let plot = TimelinePlot {
        panels: vec![panel("run.parquet", "argv: python <script>]]>", 600)],
        log_scale: true,
        width: 600,
    };
    let mut out = Vec::new();
    write_timeline(&mut out, &plot).unwrap();
    check_golden("timeline_log", &out);
}

#[test]
fn histogram_two_series() {
    let series = |label: &str, shift: f64| {
        let bins = (0..60)
            .map(|k| {
                let low = 10f64.powf(2.0 + k as f64 / 10.0 + shift);
                let centre = 20.0 - (k as f64 - 10.0).abs();
                Bin {
                    low_ns: low,
                    high_ns: low * 10f64.powf(0.1),
                    fraction: 10f64.powf(centre.min(0.0) / 8.0 - 1.0),
                }
            })
            .collect();
        HistogramSeries {
            label: label.into(),
            subtitle: "Python 3.12.7 · GIL enabled".into(),
            bins,
            p50_ns: 10f64.powf(3.0 + shift),
            p99_ns: 10f64.powf(6.0 + shift),
            p99_9_ns: 10f64.powf(7.0 + shift),
        }
    };
    let plot = HistogramPlot {
        series: vec![
            series("idle.parquet (1,000 knocks)", 0.0),
            series("busy & <loaded> (2,000 knocks)", 0.5),
        ],
        bins_per_decade: 10,
    };
    let mut out = Vec::new();
    write_histogram(&mut out, &plot).unwrap();
    check_golden("histogram_two", &out);
}
