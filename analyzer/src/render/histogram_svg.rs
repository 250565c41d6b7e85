//! `histogram`: the distribution of waits on log-log axes (log-spaced bins, share of knocks per
//! bin), traces overlaid as step lines, with p50/p99/p99.9 markers.

use std::io::{self, Write};

use plotters::prelude::*;

use crate::render::svg::{file_label, insert_title, log_ns_label, run_line, FONT, PALETTE};
use crate::report::{RunReport, WaitStats};
use crate::scan::TraceScan;
use crate::units::{format_count, format_percent};

/// One bin: waits in `[low_ns, high_ns)` made up `fraction` of the knocks.
#[derive(Debug, Clone, PartialEq)]
pub struct Bin {
    pub low_ns: f64,
    pub high_ns: f64,
    pub fraction: f64,
}

/// One trace.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSeries {
    /// Legend text: file name and sample count.
    pub label: String,
    /// One line about the run.
    pub subtitle: String,
    /// Non-empty bins in increasing order.
    pub bins: Vec<Bin>,
    pub p50_ns: f64,
    pub p99_ns: f64,
    pub p99_9_ns: f64,
}

/// The whole figure.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramPlot {
    pub series: Vec<HistogramSeries>,
    pub bins_per_decade: u32,
}

impl HistogramPlot {
    pub fn from_scans(scans: &[TraceScan], bins_per_decade: u32) -> Self {
        let per_decade = f64::from(bins_per_decade.max(1));
        let series = scans
            .iter()
            .map(|scan| {
                let total = scan.wait.count.max(1) as f64;
                let mut counts: std::collections::BTreeMap<i64, u64> =
                    std::collections::BTreeMap::new();
                for value in scan.wait.histogram.iter_recorded() {
                    // Waits below 1 ns go in the first bin: the axis starts at 1 ns.
                    let wait = (value.value_iterated_to() as f64).max(1.0);
                    let bin = (wait.log10() * per_decade).floor() as i64;
                    *counts.entry(bin).or_default() += value.count_at_value();
                }
                let bins = counts
                    .into_iter()
                    .map(|(bin, count)| Bin {
                        low_ns: 10f64.powf(bin as f64 / per_decade),
                        high_ns: 10f64.powf((bin + 1) as f64 / per_decade),
                        fraction: count as f64 / total,
                    })
                    .collect();
                let stats = WaitStats::from_accumulator(&scan.wait);
                let pick = |f: fn(&WaitStats) -> i64| stats.as_ref().map(f).unwrap_or(0) as f64;
                HistogramSeries {
                    label: format!(
                        "{} ({} knocks)",
                        file_label(&scan.path.display().to_string()),
                        format_count(scan.wait.count)
                    ),
                    subtitle: run_line(&RunReport::from_scan(scan)),
                    bins,
                    p50_ns: pick(|s| s.p50),
                    p99_ns: pick(|s| s.p99),
                    p99_9_ns: pick(|s| s.p99_9),
                }
            })
            .collect();
        HistogramPlot {
            series,
            bins_per_decade,
        }
    }
}

const WIDTH: u32 = 1000;
const HEIGHT: u32 = 560;

/// Render the figure as SVG.
pub fn write_histogram(out: &mut dyn Write, plot: &HistogramPlot) -> io::Result<()> {
    let extra = 18 * plot.series.len() as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT + extra)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        draw(&root, plot, extra).map_err(plot_error)?;
        root.present().map_err(plot_error)?;
    }
    let names: Vec<&str> = plot.series.iter().map(|s| s.label.as_str()).collect();
    insert_title(
        &mut svg,
        &format!("GIL wait histogram: {}", names.join(", ")),
    );
    out.write_all(svg.as_bytes())
}

fn plot_error<E: std::fmt::Debug>(err: E) -> io::Error {
    io::Error::other(format!("plotting failed: {err:?}"))
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

fn draw(
    root: &Area<'_>,
    plot: &HistogramPlot,
    extra: u32,
) -> Result<(), DrawingAreaErrorKind<std::io::Error>> {
    root.draw_text(
        "GIL wait histogram",
        &TextStyle::from((FONT, 17).into_font()).color(&BLACK),
        (80, 8),
    )?;
    for (i, series) in plot.series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        root.draw_text(
            &format!("{}: {}", series.label, series.subtitle),
            &TextStyle::from((FONT, 12).into_font()).color(&color),
            (80, 30 + 18 * i as i32),
        )?;
    }
    let body = root.margin(36 + extra, 10, 0, 20);
    let all_bins = plot.series.iter().flat_map(|s| s.bins.iter());
    let (mut low, mut high, mut smallest) = (f64::INFINITY, 0.0f64, 1.0f64);
    for bin in all_bins {
        low = low.min(bin.low_ns);
        high = high.max(bin.high_ns);
        smallest = smallest.min(bin.fraction);
    }
    let x_range = low.max(1.0).log10().floor()..high.max(10.0).log10().ceil();
    let y_floor = smallest.log10().floor().min(-1.0);
    let y_range = y_floor..0.0;
    let mut chart = ChartBuilder::on(&body)
        .x_label_area_size(44)
        .y_label_area_size(72)
        .build_cartesian_2d(x_range.clone(), y_range.clone())?;
    chart
        .configure_mesh()
        .x_labels((x_range.end - x_range.start).round() as usize + 1)
        .y_labels((y_range.end - y_range.start).round() as usize + 1)
        .x_label_formatter(&log_ns_label)
        .y_label_formatter(&|v: &f64| format_percent(10f64.powf(*v)))
        .x_desc("wait (log scale)")
        .y_desc("share of knocks per bin (log scale)")
        .label_style((FONT, 12).into_font())
        .axis_desc_style((FONT, 13).into_font())
        .light_line_style(RGBColor(240, 240, 240))
        .draw()?;
    for (i, series) in plot.series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        // A step outline: flat across each bin, down to the floor across empty bins.
        let mut points: Vec<(f64, f64)> = Vec::with_capacity(series.bins.len() * 4);
        let mut previous_high: Option<f64> = None;
        for bin in &series.bins {
            let (x0, x1, y) = (
                bin.low_ns.log10(),
                bin.high_ns.log10(),
                bin.fraction.log10(),
            );
            match previous_high {
                Some(h) if (h - x0).abs() < 1e-9 => {}
                Some(h) => {
                    points.push((h, y_floor));
                    points.push((x0, y_floor));
                }
                None => points.push((x0, y_floor)),
            }
            points.push((x0, y));
            points.push((x1, y));
            previous_high = Some(x1);
        }
        if let Some(h) = previous_high {
            points.push((h, y_floor));
        }
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))?
            .label(series.label.clone())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], color.stroke_width(2)));
        for (name, value, dash_offset) in [
            ("p50", series.p50_ns, 0),
            ("p99", series.p99_ns, 1),
            ("p99.9", series.p99_9_ns, 2),
        ] {
            let x = value.max(1.0).log10();
            let style = color.mix(0.8).stroke_width(1);
            chart.draw_series(DashedLineSeries::new([(x, y_floor), (x, 0.0)], 4, 3, style))?;
            let label_y = -0.03 * (y_range.end - y_range.start) * (1 + dash_offset + 3 * i) as f64;
            chart.draw_series(std::iter::once(Text::new(
                name.to_string(),
                (x, label_y),
                TextStyle::from((FONT, 11).into_font()).color(&color),
            )))?;
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(200, 200, 200))
        .label_font((FONT, 12).into_font())
        .draw()?;
    Ok(())
}
