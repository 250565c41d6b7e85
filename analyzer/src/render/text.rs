//! Text output for people. Every string that comes from a trace goes through
//! [`crate::units::printable`], so a hostile trace cannot send escape sequences to the terminal.

use std::io::{self, Write};

use crate::diff::{Change, DiffReport};
use crate::report::{Figures, Group, RunReport, SummaryReport, TraceSummary};
use crate::units::{
    format_argv, format_count, format_ns, format_ns_change, format_percent, printable,
};

/// Longest metadata value shown (argv can be huge).
const MAX_SHOWN: usize = 200;

pub fn write_summary(out: &mut dyn Write, report: &SummaryReport) -> io::Result<()> {
    for (i, trace) in report.traces.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        write_trace(out, trace)?;
    }
    if let Some(combined) = &report.combined {
        writeln!(out)?;
        write_table(out, report, combined)?;
    }
    if let (Some(keys), Some(groups)) = (&report.group_by, &report.groups) {
        // Per-trace label tables only add something when there are several traces.
        if report.traces.len() > 1 && keys.iter().any(|k| k == "label") {
            for trace in &report.traces {
                if let Some(trace_groups) = &trace.groups {
                    writeln!(out)?;
                    writeln!(out, "{} by label", printable(&trace.path, MAX_SHOWN))?;
                    write_groups(out, &["label".to_string()], trace_groups)?;
                }
            }
        }
        writeln!(out)?;
        let scope = if report.traces.len() > 1 {
            " (all traces)"
        } else {
            ""
        };
        writeln!(out, "by {}{scope}", keys.join(", "))?;
        write_groups(out, keys, groups)?;
    }
    Ok(())
}

/// Longest label, host shown in group tables.
const MAX_KEY_SHOWN: usize = 40;

/// The name of a group's key column, as shown.
fn key_cell(group: &Group, key: &str) -> String {
    match key {
        "host" => match group.host.as_deref() {
            Some("") | None => "(unknown)".to_string(),
            Some(host) => printable(host, MAX_KEY_SHOWN),
        },
        "pid" => group.pid.map(|p| p.to_string()).unwrap_or_default(),
        _ if group.other_labels => "(other labels)".to_string(),
        _ => match &group.label {
            Some(Some(label)) => printable(label, MAX_KEY_SHOWN),
            _ => "(no label)".to_string(),
        },
    }
}

fn write_groups(out: &mut dyn Write, keys: &[String], groups: &[Group]) -> io::Result<()> {
    let widths: Vec<usize> = keys
        .iter()
        .map(|key| {
            groups
                .iter()
                .map(|g| key_cell(g, key).chars().count())
                .chain([key.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut header = String::new();
    for (key, width) in keys.iter().zip(&widths) {
        header.push_str(&format!("{key:<width$}  "));
    }
    writeln!(
        out,
        "{header}{:>12}  {:>9}  {:>25}  {:>9}  {:>9}  {:>9}  {:>9}  {:>9}  {:>11}  {:>10}",
        "samples",
        "time",
        "busy (95% CI)",
        "mean",
        "p50",
        "p99",
        "p99.9",
        "max",
        "request p99",
        "long waits"
    )?;
    for group in groups {
        let mut row = String::new();
        for (key, width) in keys.iter().zip(&widths) {
            // Pad by characters, not bytes (labels may be any Unicode).
            let cell = key_cell(group, key);
            let pad = width.saturating_sub(cell.chars().count());
            row.push_str(&cell);
            row.push_str(&" ".repeat(pad + 2));
        }
        let f = &group.figures;
        let wait = f.wait_ns.as_ref();
        let time = |pick: fn(&crate::report::WaitStats) -> f64| {
            wait.map(|w| format_ns(pick(w))).unwrap_or("-".into())
        };
        let busy = match (f.busy_fraction, f.busy_fraction_ci95) {
            (Some(busy), Some([low, high])) => format!(
                "{} ({} to {})",
                format_percent(busy),
                format_percent(low),
                format_percent(high)
            ),
            (Some(busy), None) => format_percent(busy),
            _ => "-".to_string(),
        };
        writeln!(
            out,
            "{row}{:>12}  {:>9}  {:>25}  {:>9}  {:>9}  {:>9}  {:>9}  {:>9}  {:>11}  {:>10}",
            format_count(f.samples),
            f.time_s.map(|t| format_ns(t * 1e9)).unwrap_or("-".into()),
            busy,
            time(|w| w.mean),
            time(|w| w.p50 as f64),
            time(|w| w.p99 as f64),
            time(|w| w.p99_9 as f64),
            time(|w| w.max as f64),
            f.request_wait_ns
                .as_ref()
                .map(|r| format_ns(r.p99 as f64))
                .unwrap_or("-".into()),
            f.long_wait_fraction
                .map(format_percent)
                .unwrap_or("-".into()),
        )?;
    }
    Ok(())
}

fn write_trace(out: &mut dyn Write, trace: &TraceSummary) -> io::Result<()> {
    writeln!(out, "{}", printable(&trace.path, MAX_SHOWN))?;
    write_run(out, &trace.run)?;
    write_figures(out, &trace.figures)
}

fn write_run(out: &mut dyn Write, run: &RunReport) -> io::Result<()> {
    let python = if run.python_version.is_empty() {
        "python version unknown".to_string()
    } else {
        format!(
            "python {}{}",
            printable(&run.python_version, 40),
            if run.python_implementation.is_empty() {
                String::new()
            } else {
                format!(" ({})", printable(&run.python_implementation, 40))
            }
        )
    };
    let gil = match run.gil_enabled {
        Some(true) => "GIL enabled",
        Some(false) => "GIL disabled (free-threaded)",
        None => "GIL state unknown",
    };
    let switch = run
        .switch_interval_s
        .map(|s| format!(", switch interval {}", format_ns(s * 1e9)))
        .unwrap_or_default();
    writeln!(out, "  run         {python}, {gil}{switch}")?;
    let s = &run.schedule;
    let schedule = match (s.sampling_interval_ns, s.sleeping_interval_ns) {
        (Some(window), Some(sleep)) if s.kind == "windowed" => format!(
            "windowed: knock every {} for {}, then pause {}",
            format_ns(s.polling_interval_ns as f64),
            format_ns(window as f64),
            format_ns(sleep as f64)
        ),
        _ => format!(
            "{}: knock every {}",
            s.kind,
            format_ns(s.polling_interval_ns as f64)
        ),
    };
    let idle = match (s.idle_interval_ns, s.idle_after_ns) {
        (Some(idle), Some(after)) => format!(
            ", every {} once the GIL stayed free for {}",
            format_ns(idle as f64),
            format_ns(after as f64)
        ),
        (Some(idle), None) => format!(
            ", every {} while the GIL stays free",
            format_ns(idle as f64)
        ),
        (None, _) => String::new(),
    };
    writeln!(
        out,
        "  schedule    {schedule}{}{idle}, busy above {}",
        if s.jitter { " (jittered)" } else { "" },
        format_ns(run.busy_threshold_ns as f64)
    )?;
    let mut state = vec![if run.complete {
        "complete"
    } else {
        "not complete"
    }];
    if run.recovered {
        state.push("recovered after a crash");
    }
    if run.unfinished {
        state.push("read from the parts of an unfinished recording");
    }
    let host = if run.host.is_empty() {
        "unknown host".to_string()
    } else {
        printable(&run.host, 80)
    };
    writeln!(
        out,
        "  process     {host}, pid {}, {}",
        run.pid,
        state.join(", ")
    )?;
    if !run.argv.is_empty() {
        writeln!(
            out,
            "  argv        {}",
            printable(&format_argv(&run.argv), MAX_SHOWN)
        )?;
    }
    for (key, value) in &run.user {
        writeln!(
            out,
            "  label       {} = {}",
            printable(key, 60),
            printable(value, MAX_SHOWN)
        )?;
    }
    if let Some(error) = &run.error {
        writeln!(out, "  error       {}", printable(error, MAX_SHOWN))?;
    }
    Ok(())
}

fn write_figures(out: &mut dyn Write, f: &Figures) -> io::Result<()> {
    let duration = f
        .duration_s
        .map(|d| format!(" over {}", format_ns(d * 1e9)))
        .unwrap_or_default();
    writeln!(
        out,
        "  samples     {}{duration}, {} dropped",
        format_count(f.samples),
        format_count(f.dropped_samples)
    )?;
    let Some(wait) = &f.wait_ns else {
        return writeln!(out, "  (no samples: nothing to summarize)");
    };
    writeln!(
        out,
        "  wait        per knock: min {}  mean {}  p50 {}  p90 {}  p99 {}  p99.9 {}  max {}",
        format_ns(wait.min as f64),
        format_ns(wait.mean),
        format_ns(wait.p50 as f64),
        format_ns(wait.p90 as f64),
        format_ns(wait.p99 as f64),
        format_ns(wait.p99_9 as f64),
        format_ns(wait.max as f64)
    )?;
    if let Some(request) = &f.request_wait_ns {
        writeln!(
            out,
            "              per request at a random moment: p50 {}  p90 {}  p99 {}  p99.9 {}  max {}",
            format_ns(request.p50 as f64),
            format_ns(request.p90 as f64),
            format_ns(request.p99 as f64),
            format_ns(request.p99_9 as f64),
            format_ns(request.max as f64)
        )?;
    }
    if let Some(busy) = f.busy_fraction {
        let ci = f
            .busy_fraction_ci95
            .map(|[low, high]| {
                format!(
                    " (95% CI {} to {})",
                    format_percent(low),
                    format_percent(high)
                )
            })
            .unwrap_or_default();
        writeln!(
            out,
            "  busy        GIL busy {} of the time{ci}",
            format_percent(busy)
        )?;
    }
    if let Some(long) = f.long_wait_fraction {
        writeln!(
            out,
            "  long waits  a request would have waited 1 ms or more {} of the time",
            format_percent(long)
        )?;
    }
    match (f.contention_metric, f.contention_window_source.as_deref()) {
        (Some(metric), Some(source)) => writeln!(
            out,
            "  contention  {metric:.6} (gilknocker 0.4.2 metric: total wait / {})",
            if source == "recorded" { "recorded window time" } else { "time between first and last knock" }
        )?,
        _ => writeln!(
            out,
            "  contention  - (no window time: the trace has neither the recorded window time nor two knocks of a continuous schedule)"
        )?,
    }
    Ok(())
}

fn write_table(out: &mut dyn Write, report: &SummaryReport, combined: &Figures) -> io::Result<()> {
    let mut rows: Vec<(String, &Figures)> = report
        .traces
        .iter()
        .map(|t| (printable(&t.path, 60), &t.figures))
        .collect();
    rows.push(("combined".to_string(), combined));
    let width = rows
        .iter()
        .map(|(name, _)| name.chars().count())
        .max()
        .unwrap_or(5)
        .max(5);
    writeln!(
        out,
        "{:<width$}  {:>12}  {:>9}  {:>9}  {:>9}  {:>9}  {:>9}  {:>11}  {:>8}  {:>10}",
        "trace",
        "samples",
        "mean",
        "p50",
        "p99",
        "p99.9",
        "max",
        "request p99",
        "busy",
        "contention"
    )?;
    for (name, f) in rows {
        let wait = f.wait_ns.as_ref();
        let time = |pick: fn(&crate::report::WaitStats) -> f64| {
            wait.map(|w| format_ns(pick(w))).unwrap_or("-".into())
        };
        writeln!(
            out,
            "{:<width$}  {:>12}  {:>9}  {:>9}  {:>9}  {:>9}  {:>9}  {:>11}  {:>8}  {:>10}",
            name,
            format_count(f.samples),
            time(|w| w.mean),
            time(|w| w.p50 as f64),
            time(|w| w.p99 as f64),
            time(|w| w.p99_9 as f64),
            time(|w| w.max as f64),
            f.request_wait_ns
                .as_ref()
                .map(|r| format_ns(r.p99 as f64))
                .unwrap_or("-".into()),
            f.busy_fraction.map(format_percent).unwrap_or("-".into()),
            f.contention_metric
                .map(|c| format!("{c:.6}"))
                .unwrap_or("-".into()),
        )?;
    }
    Ok(())
}

pub fn write_diff(out: &mut dyn Write, report: &DiffReport) -> io::Result<()> {
    for (label, trace) in [("A", &report.a), ("B", &report.b)] {
        let duration = trace
            .figures
            .duration_s
            .map(|d| format!(" over {}", format_ns(d * 1e9)))
            .unwrap_or_default();
        writeln!(
            out,
            "{label}  {}  ({} samples{duration})",
            printable(&trace.path, MAX_SHOWN),
            format_count(trace.figures.samples)
        )?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "{:<18}  {:>10}  {:>10}  {:>11}  {:>9}  significant?",
        "metric", "A", "B", "change", "relative"
    )?;
    for change in &report.changes {
        write_change(out, change)?;
    }
    if let Some(d) = &report.wait_distribution {
        writeln!(out)?;
        writeln!(
            out,
            "wait distribution: P(a wait of B is longer than one of A) = {:.3} (0.5 = no shift); \
             Mann-Whitney U p {}: {}",
            d.probability_b_longer,
            format_p(d.p_value),
            if d.significant {
                "significant"
            } else {
                "not significant"
            }
        )?;
    }
    if !report.gate.is_empty() {
        writeln!(out)?;
        writeln!(out, "gate")?;
        for check in &report.gate {
            let significance = match check.significant {
                Some(true) => " [significant]",
                Some(false) => " [not significant]",
                None => "",
            };
            writeln!(
                out,
                "  {}  {}: {}{significance}",
                if check.tripped { "FAIL" } else { "ok  " },
                printable(&check.rule, 80),
                check.reason
            )?;
        }
    }
    Ok(())
}

fn write_change(out: &mut dyn Write, change: &Change) -> io::Result<()> {
    let is_time = change.unit == "ns";
    let show = |v: Option<f64>| match v {
        None => "-".to_string(),
        Some(v) if is_time => format_ns(v),
        Some(v) => format_percent(v),
    };
    let delta = match change.absolute_change {
        None => "-".to_string(),
        Some(d) if is_time => format_ns_change(d),
        // Fractions change in percentage points.
        Some(d) => format!("{:+.2} pp", d * 100.0),
    };
    let relative = change
        .relative_change
        .map(format_relative)
        .unwrap_or("-".into());
    let significance = match (change.significant, change.test.as_deref()) {
        (_, None) | (None, _) => "(not tested)".to_string(),
        (Some(significant), Some(test)) => {
            let verdict = if significant { "yes" } else { "no" };
            match change.p_value {
                Some(p) => format!("{verdict} (p {}, {})", format_p(p), test_name(test)),
                None => format!("{verdict} ({})", test_name(test)),
            }
        }
    };
    writeln!(
        out,
        "{:<18}  {:>10}  {:>10}  {:>11}  {:>9}  {significance}",
        change.metric,
        show(change.a),
        show(change.b),
        delta,
        relative
    )
}

fn test_name(test: &str) -> &str {
    match test {
        "welch_z" => "Welch",
        "quantile_ci95_overlap" => "order-statistic 95% CIs",
        "weighted_quantile_ci95_overlap" => "weighted order-statistic 95% CIs",
        "two_proportion_z" => "two-proportion z",
        "mann_whitney_u" => "Mann-Whitney U",
        other => other,
    }
}

/// "< 0.001" or "= 0.042".
fn format_p(p: f64) -> String {
    if p < 0.001 {
        "< 0.001".to_string()
    } else {
        format!("= {p:.3}")
    }
}

/// Relative change: "+12.5%", or a factor once it passes 10x ("x864").
pub fn format_relative(relative: f64) -> String {
    if relative >= 9.0 {
        format!("x{:.0}", relative + 1.0)
    } else {
        format!("{:+.1}%", relative * 100.0)
    }
}
