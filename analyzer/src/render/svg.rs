//! Shared pieces of the SVG renderers: deterministic styling, safe text, the document title.
//!
//! plotters' SVG backend escapes `< > & " '` in text and attributes but passes control
//! characters through, which would make the XML invalid; every string from a trace therefore goes
//! through [`crate::units::printable`] first. plotters draws at integer pixel coordinates, so the
//! same input always gives the same bytes.

use plotters::style::RGBColor;

use crate::report::RunReport;
use crate::units::{format_argv, format_ns, printable};

/// Series colors (ColorBrewer "Dark2", fixed order so output is deterministic).
pub const PALETTE: [RGBColor; 6] = [
    RGBColor(27, 158, 119),
    RGBColor(217, 95, 2),
    RGBColor(117, 112, 179),
    RGBColor(231, 41, 138),
    RGBColor(102, 166, 30),
    RGBColor(166, 118, 29),
];

pub const FONT: &str = "sans-serif";

/// The last component of a path, for titles.
pub fn file_label(path: &str) -> String {
    let name = std::path::Path::new(path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.to_string());
    printable(&name, 80)
}

/// One line about the run, for plot subtitles.
pub fn run_line(run: &RunReport) -> String {
    let mut parts: Vec<String> = Vec::new();
    if !run.python_version.is_empty() {
        parts.push(format!("Python {}", run.python_version));
    }
    parts.push(
        match run.gil_enabled {
            Some(true) => "GIL enabled",
            Some(false) => "free-threaded",
            None => "GIL unknown",
        }
        .to_string(),
    );
    parts.push(format!(
        "{} knock every {}{}",
        run.schedule.kind,
        format_ns(run.schedule.polling_interval_ns as f64),
        run.schedule
            .idle_interval_ns
            .map(|idle| format!(" ({} when idle)", format_ns(idle as f64)))
            .unwrap_or_default()
    ));
    if !run.host.is_empty() {
        parts.push(format!("host {}", run.host));
    }
    if run.pid != 0 {
        parts.push(format!("pid {}", run.pid));
    }
    if !run.argv.is_empty() {
        parts.push(format_argv(&run.argv));
    }
    if !run.complete {
        parts.push(
            if run.recovered {
                "recovered"
            } else {
                "incomplete"
            }
            .to_string(),
        );
    }
    printable(&parts.join(" · "), 160)
}

/// Escape text for XML content (for the `<title>` element written outside plotters).
pub fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in printable(text, 400).chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            other => out.push(other),
        }
    }
    out
}

/// Add a `<title>` (shown by viewers as the document name) right after the opening `<svg>` tag.
pub fn insert_title(svg: &mut String, title: &str) {
    if let Some(start) = svg.find("<svg") {
        if let Some(end) = svg[start..].find('>') {
            let at = start + end + 1;
            svg.insert_str(at, &format!("\n<title>{}</title>", xml_escape(title)));
        }
    }
}

/// Labels for a log10 axis: the duration at 10^value.
pub fn log_ns_label(value: &f64) -> String {
    format_ns(10f64.powf(*value))
}

/// Rounded for deterministic, short labels.
pub fn seconds_label(value: &f64) -> String {
    let v = *value;
    if v == 0.0 {
        "0".to_string()
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{}", (v * 100.0).round() / 100.0)
    } else {
        format!("{}", (v * 10000.0).round() / 10000.0)
    }
}
