//! `export`: stream every sample to CSV or Chrome trace event JSON. Row groups are decoded on a
//! helper thread one ahead of the writer, so decoding and formatting overlap; memory holds at
//! most two row groups.

use std::io::{self, Write};
use std::sync::mpsc;

use gilknocker_trace::estimate::BusyEstimator;
use gilknocker_trace::{SampleColumns, TraceReader};

use crate::error::AnalyzeError;
use crate::progress::Progress;
use crate::scan::MAX_PLAUSIBLE_WAIT_NS;

/// What to export.
#[derive(Debug, Clone, Copy)]
pub struct ExportOptions {
    /// Skip knocks that waited less than this.
    pub min_wait_ns: i64,
    /// Chrome trace: width of a busy-fraction counter bucket.
    pub bucket_ns: i64,
}

/// Writing failed, or the trace turned out to be unreadable part-way.
#[derive(Debug)]
pub enum ExportError {
    Write(io::Error),
    Trace(AnalyzeError),
}

impl From<io::Error> for ExportError {
    fn from(err: io::Error) -> Self {
        ExportError::Write(err)
    }
}

/// Call `each` with the units of `reader` in order, decoding the next one meanwhile, and
/// checking that time never goes backwards from one unit to the next.
fn for_each_unit(
    reader: &TraceReader,
    progress: &Progress,
    mut each: impl FnMut(&SampleColumns) -> Result<(), ExportError>,
) -> Result<(), ExportError> {
    progress.start(
        &crate::units::printable(&reader.path().display().to_string(), 120),
        reader.num_rows().max(0) as u64,
    );
    let (sender, receiver) = mpsc::sync_channel::<Result<SampleColumns, AnalyzeError>>(1);
    std::thread::scope(|scope| {
        scope.spawn(move || {
            for unit in 0..reader.num_units() {
                let result = crate::scan::read_unit_guarded(reader, unit);
                let stop = result.is_err();
                if sender.send(result).is_err() || stop {
                    break;
                }
            }
        });
        let mut previous_time = i64::MIN;
        for (unit, result) in receiver.into_iter().enumerate() {
            let columns = result.map_err(ExportError::Trace)?;
            if let Some(&first) = columns.time_ns.first() {
                if first < previous_time {
                    return Err(ExportError::Trace(AnalyzeError::invalid(
                        reader.path(),
                        format!("timestamps go backwards at the start of row group {unit} ({previous_time} then {first})"),
                    )));
                }
                previous_time = columns.time_ns[columns.len() - 1];
            }
            if let Some(row) = columns
                .wait_ns
                .iter()
                .position(|&w| w > MAX_PLAUSIBLE_WAIT_NS)
            {
                return Err(ExportError::Trace(AnalyzeError::invalid(
                    reader.path(),
                    format!(
                        "wait_ns {} in row group {unit} is longer than 30 days: not a plausible measurement",
                        columns.wait_ns[row]
                    ),
                )));
            }
            each(&columns)?;
            progress.advance(columns.len() as u64);
        }
        Ok(())
    })
}

/// CSV with header `time_ns,time_utc,wait_ns,interval_ns,label`: nanoseconds since the Unix
/// epoch, the same instant as ISO-8601 UTC with nanoseconds, the wait and the knock's scheduling
/// interval in nanoseconds, and the label active when the knock began (empty: none).
pub fn write_csv(
    reader: &TraceReader,
    options: &ExportOptions,
    out: &mut dyn Write,
    progress: &Progress,
) -> Result<(), ExportError> {
    out.write_all(b"time_ns,time_utc,wait_ns,interval_ns,label\n")?;
    let mut line = String::with_capacity(1 << 20);
    for_each_unit(reader, progress, |columns| {
        line.clear();
        // Each label's CSV field, escaped once per row group.
        let escaped: Vec<String> = columns.labels.iter().map(|l| csv_field(l)).collect();
        for (((&time, &wait), &interval), label) in columns
            .time_ns
            .iter()
            .zip(&columns.wait_ns)
            .zip(&columns.interval_ns)
            .zip(&columns.label)
        {
            if wait < options.min_wait_ns {
                continue;
            }
            push_int(&mut line, time);
            line.push(',');
            crate::units::push_iso8601(&mut line, time);
            line.push(',');
            push_int(&mut line, wait);
            line.push(',');
            push_int(&mut line, interval);
            line.push(',');
            if let Some(field) = label.and_then(|i| escaped.get(i as usize)) {
                line.push_str(field);
            }
            line.push('\n');
            if line.len() > (1 << 20) {
                out.write_all(line.as_bytes())?;
                line.clear();
            }
        }
        out.write_all(line.as_bytes())?;
        Ok(())
    })
}

/// Chrome trace event JSON (the "JSON Object Format" that Perfetto and chrome://tracing open):
/// every knock is a complete event ("X") on the knocker thread, named "knock (busy)" when its
/// wait exceeded the busy threshold; the busy fraction per bucket is a counter track ("C").
/// Times are microseconds since the first sample, written with nanosecond digits; the absolute
/// start is in `otherData`.
pub fn write_chrome_trace(
    reader: &TraceReader,
    options: &ExportOptions,
    out: &mut dyn Write,
    progress: &Progress,
) -> Result<(), ExportError> {
    let meta = reader.metadata();
    let json = |text: &str| serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_string());
    let argv = crate::units::format_argv(&meta.argv);
    let process_name = if argv.is_empty() {
        format!("gilknocker pid {}", meta.pid)
    } else {
        format!("gilknocker: {argv}")
    };
    let other = serde_json::json!({
        "trace": reader.path().display().to_string(),
        "host": meta.host,
        "pid": meta.pid,
        "argv": meta.argv,
        "python_version": meta.python_version,
        "busy_threshold_ns": meta.busy_threshold_ns,
        "polling_interval_ns": meta.schedule.polling_interval_ns,
        "idle_interval_ns": meta.idle_interval_ns,
        "idle_after_ns": meta.idle_after_ns,
    });
    writeln!(
        out,
        "{{\"displayTimeUnit\":\"ns\",\"otherData\":{other},\"traceEvents\":["
    )?;
    write!(
        out,
        "{{\"ph\":\"M\",\"pid\":1,\"tid\":1,\"name\":\"process_name\",\"args\":{{\"name\":{}}}}},\n\
         {{\"ph\":\"M\",\"pid\":1,\"tid\":1,\"name\":\"thread_name\",\"args\":{{\"name\":\"gilknocker knocker\"}}}}",
        json(&process_name)
    )?;
    let threshold = meta.busy_threshold_ns;
    let template = BusyEstimator::new(meta.schedule.polling_interval_ns, threshold);
    let mut origin: Option<i64> = None;
    let mut bucket_start = 0i64;
    let mut bucket = template;
    let mut text = String::with_capacity(1 << 20);
    let bucket_ns = options.bucket_ns.max(1);
    let flush_bucket = |text: &mut String, start: i64, estimator: &BusyEstimator| {
        if estimator.knocks == 0 {
            return;
        }
        text.push_str(",\n{\"ph\":\"C\",\"pid\":1,\"name\":\"busy_fraction\",\"ts\":");
        push_micros(text, start);
        text.push_str(&format!(
            ",\"args\":{{\"busy\":{:.4}}}}}",
            estimator.busy_fraction()
        ));
    };
    let result = for_each_unit(reader, progress, |columns| {
        text.clear();
        for (((&time, &wait), &interval), detail) in columns
            .time_ns
            .iter()
            .zip(&columns.wait_ns)
            .zip(&columns.interval_ns)
            .zip(columns.details())
        {
            let origin = *origin.get_or_insert(time);
            let relative = time.saturating_sub(origin);
            let this_bucket = relative - relative.rem_euclid(bucket_ns);
            if this_bucket != bucket_start {
                flush_bucket(&mut text, bucket_start, &bucket);
                bucket = template;
                bucket_start = this_bucket;
            }
            bucket.add_knock_detail(wait, interval, &detail);
            if wait < options.min_wait_ns {
                continue;
            }
            text.push_str(if wait > threshold {
                ",\n{\"ph\":\"X\",\"pid\":1,\"tid\":1,\"name\":\"knock (busy)\",\"ts\":"
            } else {
                ",\n{\"ph\":\"X\",\"pid\":1,\"tid\":1,\"name\":\"knock\",\"ts\":"
            });
            push_micros(&mut text, relative);
            text.push_str(",\"dur\":");
            push_micros(&mut text, wait);
            text.push('}');
            if text.len() > (1 << 20) {
                out.write_all(text.as_bytes())?;
                text.clear();
            }
        }
        out.write_all(text.as_bytes())?;
        Ok(())
    });
    result?;
    text.clear();
    flush_bucket(&mut text, bucket_start, &bucket);
    if let Some(origin) = origin {
        text.push_str(&format!(
            ",\n{{\"ph\":\"M\",\"pid\":1,\"tid\":1,\"name\":\"process_labels\",\"args\":{{\"labels\":{}}}}}",
            json(&format!("time 0 = {}", crate::units::iso8601(origin)))
        ));
    }
    text.push_str("\n]}\n");
    out.write_all(text.as_bytes())?;
    Ok(())
}

/// A CSV field (RFC 4180): quoted, with quotes doubled, when it holds a quote, comma, line
/// break or any other control character, or is empty (so an empty label differs from none).
fn csv_field(text: &str) -> String {
    if !text.is_empty() && !text.chars().any(|c| c == '"' || c == ',' || c.is_control()) {
        return text.to_string();
    }
    format!("\"{}\"", text.replace('"', "\"\""))
}

/// Nanoseconds as microseconds with three decimals, exactly (no float rounding).
fn push_micros(out: &mut String, ns: i64) {
    if ns < 0 {
        out.push('-');
    }
    let ns = ns.unsigned_abs();
    push_int(out, (ns / 1000) as i64);
    out.push('.');
    let fraction = ns % 1000;
    out.push(char::from(b'0' + (fraction / 100) as u8));
    out.push(char::from(b'0' + (fraction / 10 % 10) as u8));
    out.push(char::from(b'0' + (fraction % 10) as u8));
}

fn push_int(out: &mut String, value: i64) {
    let mut buffer = [0u8; 20];
    let mut n = value.unsigned_abs();
    let mut i = buffer.len();
    loop {
        i -= 1;
        buffer[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if value < 0 {
        out.push('-');
    }
    // Only ASCII digits were written.
    out.push_str(std::str::from_utf8(&buffer[i..]).unwrap_or("0"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_and_micros_format_exactly() {
        let mut s = String::new();
        push_int(&mut s, 0);
        s.push(' ');
        push_int(&mut s, -42);
        s.push(' ');
        push_int(&mut s, i64::MIN);
        s.push(' ');
        push_micros(&mut s, 1_234_567);
        s.push(' ');
        push_micros(&mut s, 5);
        assert_eq!(s, "0 -42 -9223372036854775808 1234.567 0.005");
    }

    #[test]
    fn csv_fields_are_quoted_when_needed() {
        assert_eq!(csv_field("load"), "load");
        assert_eq!(csv_field(""), "\"\"");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\"\nnow"), "\"say \"\"hi\"\"\nnow\"");
        assert_eq!(csv_field("\u{1b}[31m"), "\"\u{1b}[31m\"");
    }
}
