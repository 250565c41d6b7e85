//! `timeline`: waits over time, one panel per trace: per pixel column the min-max range, the
//! p50-p99 band and the median of the waits, and below it the busy fraction.

use std::io::{self, Write};

use plotters::prelude::*;

use crate::render::svg::{file_label, insert_title, log_ns_label, run_line, seconds_label, FONT};
use crate::report::RunReport;
use crate::scan::TraceScan;
use crate::units::format_ns;

/// Statistics of the knocks that began in one pixel column.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnStats {
    pub min_ns: f64,
    pub p50_ns: f64,
    pub p99_ns: f64,
    pub max_ns: f64,
    pub busy_fraction: f64,
    /// The label of most of the column's knocks (None: no label).
    pub label: Option<String>,
}

/// One trace's panel.
#[derive(Debug, Clone, PartialEq)]
pub struct TimelinePanel {
    /// File name.
    pub title: String,
    /// One line about the run.
    pub subtitle: String,
    /// Seconds from the first to the last knock.
    pub duration_s: f64,
    /// One entry per pixel column; `None` where no knock began (pauses of a windowed schedule).
    pub columns: Vec<Option<ColumnStats>>,
}

impl TimelinePanel {
    pub fn from_scan(scan: &TraceScan) -> Self {
        let run = RunReport::from_scan(scan);
        let (duration_s, columns) = match &scan.timeline {
            Some(timeline) => (
                (timeline.end_ns - timeline.start_ns) as f64 / 1e9,
                timeline
                    .columns
                    .iter()
                    .map(|c| {
                        (c.count > 0).then(|| ColumnStats {
                            min_ns: c.min_ns as f64,
                            p50_ns: c.quantile_ns(0.5),
                            p99_ns: c.quantile_ns(0.99),
                            max_ns: c.max_ns as f64,
                            busy_fraction: c.busy.busy_fraction(),
                            label: c.dominant_label().map(str::to_string),
                        })
                    })
                    .collect(),
            ),
            None => (0.0, Vec::new()),
        };
        TimelinePanel {
            title: file_label(&scan.path.display().to_string()),
            subtitle: run_line(&run),
            duration_s,
            columns,
        }
    }
}

/// The whole figure.
#[derive(Debug, Clone, PartialEq)]
pub struct TimelinePlot {
    pub panels: Vec<TimelinePanel>,
    pub log_scale: bool,
    /// Width of the plot area in pixels (one column per pixel).
    pub width: u32,
}

const LEFT: u32 = 80;
const RIGHT: u32 = 20;
const PANEL_HEIGHT: u32 = 380;

const RANGE_COLOR: RGBColor = RGBColor(198, 219, 239);
const BAND_COLOR: RGBColor = RGBColor(107, 174, 214);
const MEDIAN_COLOR: RGBColor = RGBColor(8, 81, 156);
const BUSY_COLOR: RGBColor = RGBColor(230, 85, 13);

/// Label band colours (ColorBrewer "Pastel2" without its blue and grey, which would read as
/// the wait bands), by order of first appearance in the panel.
const LABEL_PALETTE: [RGBColor; 6] = [
    RGBColor(179, 226, 205),
    RGBColor(253, 205, 172),
    RGBColor(244, 202, 228),
    RGBColor(255, 242, 174),
    RGBColor(230, 245, 201),
    RGBColor(241, 226, 204),
];
/// Longest label shown (in a band or the legend).
const MAX_LABEL_SHOWN: usize = 40;
/// Labels listed in the legend; bands of further labels still show their name when it fits.
const MAX_LABELS_IN_LEGEND: usize = 6;
/// Rough width of one character of the 11 px label font, for "does the name fit in its band".
const LABEL_CHAR_PX: usize = 7;

/// A contiguous run of columns whose knocks were mostly under one label.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelSpan {
    /// First and last column (inclusive).
    pub first: usize,
    pub last: usize,
    /// Index of the label in the panel's labels (order of first appearance): its colour.
    pub color: usize,
}

/// The panel's labels in order of first appearance, and its label spans.
pub fn label_spans(columns: &[Option<ColumnStats>]) -> (Vec<String>, Vec<LabelSpan>) {
    let mut names: Vec<String> = Vec::new();
    let mut spans: Vec<LabelSpan> = Vec::new();
    for (i, column) in columns.iter().enumerate() {
        let Some(label) = column.as_ref().and_then(|c| c.label.as_ref()) else {
            continue;
        };
        let color = match names.iter().position(|n| n == label) {
            Some(index) => index,
            None => {
                names.push(label.clone());
                names.len() - 1
            }
        };
        match spans.last_mut() {
            Some(span) if span.last + 1 == i && span.color == color => span.last = i,
            _ => spans.push(LabelSpan {
                first: i,
                last: i,
                color,
            }),
        }
    }
    (names, spans)
}

/// Render the figure as SVG.
pub fn write_timeline(out: &mut dyn Write, plot: &TimelinePlot) -> io::Result<()> {
    let width = plot.width + LEFT + RIGHT;
    let height = PANEL_HEIGHT * plot.panels.len().max(1) as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let areas = root.split_evenly((plot.panels.len().max(1), 1));
        for (panel, area) in plot.panels.iter().zip(&areas) {
            draw_panel(area, panel, plot).map_err(plot_error)?;
        }
        root.present().map_err(plot_error)?;
    }
    let names: Vec<&str> = plot.panels.iter().map(|p| p.title.as_str()).collect();
    insert_title(
        &mut svg,
        &format!("GIL wait timeline: {}", names.join(", ")),
    );
    out.write_all(svg.as_bytes())
}

fn plot_error<E: std::fmt::Debug>(err: E) -> io::Error {
    io::Error::other(format!("plotting failed: {err:?}"))
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

fn draw_panel(
    area: &Area<'_>,
    panel: &TimelinePanel,
    plot: &TimelinePlot,
) -> Result<(), DrawingAreaErrorKind<std::io::Error>> {
    let title_style = TextStyle::from((FONT, 17).into_font()).color(&BLACK);
    let subtitle_style = TextStyle::from((FONT, 12).into_font()).color(&RGBColor(90, 90, 90));
    area.draw_text(&panel.title, &title_style, (LEFT as i32, 8))?;
    area.draw_text(&panel.subtitle, &subtitle_style, (LEFT as i32, 30))?;
    let body = area.margin(46, 6, 0, RIGHT);
    let (wait_area, busy_area) = body.split_vertically(210);
    let present: Vec<(usize, &ColumnStats)> = panel
        .columns
        .iter()
        .enumerate()
        .filter_map(|(i, c)| c.as_ref().map(|c| (i, c)))
        .collect();
    let columns = panel.columns.len().max(1) as f64;
    let duration = panel.duration_s.max(1e-9);
    // Each column is drawn across its full width (a step shape), so a lone column between
    // empty ones is still visible.
    let left_of = |i: usize| i as f64 / columns * duration;
    let right_of = |i: usize| (i + 1) as f64 / columns * duration;
    let steps =
        |run: &[(usize, &ColumnStats)], value: &dyn Fn(&ColumnStats) -> f64| -> Vec<(f64, f64)> {
            run.iter()
                .flat_map(|(i, c)| [(left_of(*i), value(c)), (right_of(*i), value(c))])
                .collect()
        };
    let transform = |ns: f64| {
        if plot.log_scale {
            ns.max(1.0).log10()
        } else {
            ns
        }
    };
    let max_ns = present.iter().map(|(_, c)| c.max_ns).fold(0.0, f64::max);
    let min_ns = present
        .iter()
        .map(|(_, c)| c.min_ns)
        .fold(f64::INFINITY, f64::min);
    let y_range = if plot.log_scale {
        let low = min_ns.max(1.0).log10().floor();
        let high = max_ns.max(10.0).log10().ceil().max(low + 1.0);
        low..high
    } else {
        0.0..(max_ns * 1.05).max(1.0)
    };
    let mut chart = ChartBuilder::on(&wait_area)
        .x_label_area_size(0)
        .y_label_area_size(LEFT - 8)
        .build_cartesian_2d(0.0..duration, y_range.clone())?;
    let decades = (y_range.end - y_range.start).round() as usize + 1;
    let label_font = (FONT, 12).into_font();
    let mut mesh = chart.configure_mesh();
    mesh.disable_x_mesh()
        .y_desc(if plot.log_scale {
            "wait time (log scale)"
        } else {
            "wait time"
        })
        .y_label_style(label_font.clone())
        .axis_desc_style((FONT, 13).into_font())
        .light_line_style(RGBColor(240, 240, 240));
    if plot.log_scale {
        mesh.y_labels(decades).y_label_formatter(&log_ns_label);
    } else {
        mesh.y_labels(6).y_label_formatter(&|v: &f64| format_ns(*v));
    }
    mesh.draw()?;

    // Label bands first, so the data is drawn over them.
    let (label_names, spans) = label_spans(&panel.columns);
    let shown: Vec<String> = label_names
        .iter()
        .map(|name| crate::units::printable(name, MAX_LABEL_SHOWN))
        .collect();
    let band_font = TextStyle::from((FONT, 11).into_font()).color(&RGBColor(60, 60, 60));
    for span in &spans {
        let color = LABEL_PALETTE[span.color % LABEL_PALETTE.len()];
        chart.draw_series(std::iter::once(Rectangle::new(
            [
                (left_of(span.first), y_range.start),
                (right_of(span.last), y_range.end),
            ],
            color.mix(0.6).filled(),
        )))?;
        let name = &shown[span.color];
        // One column per pixel: the band is this many pixels wide.
        if name.chars().count() * LABEL_CHAR_PX + 6 <= span.last - span.first + 1 {
            chart.draw_series(std::iter::once(
                EmptyElement::at((left_of(span.first), y_range.end))
                    + Text::new(name.clone(), (3, 3), band_font.clone()),
            ))?;
        }
    }
    for (index, name) in shown.iter().enumerate().take(MAX_LABELS_IN_LEGEND) {
        let color = LABEL_PALETTE[index % LABEL_PALETTE.len()];
        // An empty series, only for its legend entry.
        chart
            .draw_series(std::iter::empty::<Rectangle<(f64, f64)>>())?
            .label(format!("label: {name}"))
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], color.filled()));
    }

    // Contiguous runs of non-empty columns become one polygon / line each (compact SVG, and
    // no line across the pauses of a windowed schedule).
    let runs = contiguous_runs(&present);
    let mut first = true;
    for run in &runs {
        let band = |low: fn(&ColumnStats) -> f64, high: fn(&ColumnStats) -> f64| {
            let mut points = steps(run, &|c| transform(high(c)));
            let mut lower = steps(run, &|c| transform(low(c)));
            lower.reverse();
            points.extend(lower);
            points
        };
        let range = chart.draw_series(std::iter::once(Polygon::new(
            band(|c| c.min_ns, |c| c.max_ns),
            RANGE_COLOR.filled(),
        )))?;
        if first {
            range.label("min to max").legend(|(x, y)| {
                Rectangle::new([(x, y - 5), (x + 14, y + 5)], RANGE_COLOR.filled())
            });
        }
        let inner = chart.draw_series(std::iter::once(Polygon::new(
            band(|c| c.p50_ns, |c| c.p99_ns),
            BAND_COLOR.filled(),
        )))?;
        if first {
            inner.label("p50 to p99").legend(|(x, y)| {
                Rectangle::new([(x, y - 5), (x + 14, y + 5)], BAND_COLOR.filled())
            });
        }
        let median = chart.draw_series(LineSeries::new(
            steps(run, &|c| transform(c.p50_ns)),
            MEDIAN_COLOR.stroke_width(1),
        ))?;
        if first {
            median.label("median").legend(|(x, y)| {
                PathElement::new([(x, y), (x + 14, y)], MEDIAN_COLOR.stroke_width(2))
            });
        }
        first = false;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(200, 200, 200))
        .label_font((FONT, 12).into_font())
        .draw()?;

    let mut busy_chart = ChartBuilder::on(&busy_area)
        .x_label_area_size(40)
        .y_label_area_size(LEFT - 8)
        .margin_top(8)
        .build_cartesian_2d(0.0..duration, 0.0..1.0)?;
    busy_chart
        .configure_mesh()
        .disable_x_mesh()
        .y_labels(3)
        .x_labels(10)
        .y_desc("GIL busy")
        .x_desc("time since first knock (s)")
        .x_label_formatter(&seconds_label)
        .y_label_formatter(&|v: &f64| format!("{:.0}%", v * 100.0))
        .x_label_style(label_font.clone())
        .y_label_style(label_font)
        .axis_desc_style((FONT, 13).into_font())
        .light_line_style(RGBColor(240, 240, 240))
        .draw()?;
    for run in &runs {
        let mut points = steps(run, &|c| {
            if c.busy_fraction.is_finite() {
                c.busy_fraction
            } else {
                0.0
            }
        });
        if let (Some(&(first_x, _)), Some(&(last_x, _))) = (points.first(), points.last()) {
            points.push((last_x, 0.0));
            points.push((first_x, 0.0));
        }
        busy_chart.draw_series(std::iter::once(Polygon::new(
            points,
            BUSY_COLOR.mix(0.7).filled(),
        )))?;
    }
    Ok(())
}

fn contiguous_runs<'a>(present: &[(usize, &'a ColumnStats)]) -> Vec<Vec<(usize, &'a ColumnStats)>> {
    let mut runs: Vec<Vec<(usize, &ColumnStats)>> = Vec::new();
    for &(i, c) in present {
        match runs.last_mut() {
            Some(run) if run.last().is_some_and(|(j, _)| j + 1 == i) => run.push((i, c)),
            _ => runs.push(vec![(i, c)]),
        }
    }
    runs
}
