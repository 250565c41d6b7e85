//! Parsing and formatting of durations, fractions and timestamps. Plain functions with no I/O, so
//! every renderer formats a number the same way.

/// Parse a duration with a unit: `250ns`, `1.5us`, `1.5µs`, `2ms`, `0.5s`. Returns nanoseconds.
pub fn parse_duration_ns(text: &str) -> Result<f64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+' || c == 'e'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let scale = match unit.trim() {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "" => return Err(format!("'{text}' needs a time unit (ns, us, ms or s)")),
        other => {
            return Err(format!(
                "unknown time unit '{other}' in '{text}' (use ns, us, ms or s)"
            ))
        }
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a number followed by a time unit"))?;
    if !value.is_finite() || value < 0.0 {
        return Err(format!("'{text}' must be a non-negative duration"));
    }
    Ok(value * scale)
}

/// A duration for people: `812 ns`, `3.21 µs`, `45.0 ms`, `2.50 s` (three significant digits).
pub fn format_ns(ns: f64) -> String {
    if !ns.is_finite() {
        return "-".to_string();
    }
    let magnitude = ns.abs();
    let (value, unit) = if magnitude < 1e3 {
        (ns, "ns")
    } else if magnitude < 1e6 {
        (ns / 1e3, "µs")
    } else if magnitude < 1e9 {
        (ns / 1e6, "ms")
    } else {
        (ns / 1e9, "s")
    };
    if unit == "ns" && value.fract() == 0.0 {
        return format!("{value:.0} {unit}");
    }
    format!("{} {unit}", three_significant(value))
}

/// A signed duration change: `+1.20 ms`, `-3 ns`, `0 ns`.
pub fn format_ns_change(ns: f64) -> String {
    if ns > 0.0 {
        format!("+{}", format_ns(ns))
    } else {
        format_ns(ns)
    }
}

/// A fraction as a percentage with enough digits for small values: `12.3%`, `0.042%`.
pub fn format_percent(fraction: f64) -> String {
    if !fraction.is_finite() {
        return "-".to_string();
    }
    let percent = fraction * 100.0;
    if percent == 0.0 {
        "0%".to_string()
    } else if percent.abs() >= 10.0 {
        format!("{percent:.1}%")
    } else if percent.abs() >= 0.1 {
        format!("{percent:.2}%")
    } else {
        format!("{percent:.3}%")
    }
}

/// Three significant digits without exponent notation.
pub fn three_significant(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude >= 100.0 {
        format!("{value:.0}")
    } else if magnitude >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

/// A count with thousands separators: `1,048,576`.
pub fn format_count(count: u64) -> String {
    let digits = count.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Nanoseconds since the Unix epoch as ISO-8601 UTC with nanoseconds:
/// `2023-11-14T22:13:20.000000001Z`. Appends to `out` (used per row by the CSV export).
pub fn push_iso8601(out: &mut String, time_ns: i64) {
    use std::fmt::Write;
    let seconds = time_ns.div_euclid(1_000_000_000);
    let nanos = time_ns.rem_euclid(1_000_000_000);
    let days = seconds.div_euclid(86_400);
    let second_of_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let _ = write!(
        out,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60
    );
}

/// ISO-8601 UTC timestamp, see [`push_iso8601`].
pub fn iso8601(time_ns: i64) -> String {
    let mut out = String::with_capacity(30);
    push_iso8601(&mut out, time_ns);
    out
}

/// Gregorian calendar date of a day number (days since 1970-01-01), after Howard Hinnant's
/// public-domain `civil_from_days` algorithm (http://howardhinnant.github.io/date_algorithms.html).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Make a string from a trace safe to show: control characters (which would break a terminal
/// line or make XML invalid) become `\u{..}` escapes, and very long values are cut.
pub fn printable(text: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max_chars + 8));
    for (count, c) in text.chars().enumerate() {
        if count >= max_chars {
            out.push('…');
            break;
        }
        // U+FFFE and U+FFFF are not allowed in XML either.
        if c.is_control() || c == '\u{fffe}' || c == '\u{ffff}' {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// Shell-like rendering of argv for titles: words joined by spaces, words with spaces quoted.
pub fn format_argv(argv: &[String]) -> String {
    argv.iter()
        .map(|word| {
            if word.is_empty() || word.contains(char::is_whitespace) {
                format!("'{word}'")
            } else {
                word.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration_ns("2ms"), Ok(2e6));
        assert_eq!(parse_duration_ns("1.5us"), Ok(1500.0));
        assert_eq!(parse_duration_ns("1.5µs"), Ok(1500.0));
        assert_eq!(parse_duration_ns("250ns"), Ok(250.0));
        assert_eq!(parse_duration_ns("0.5s"), Ok(5e8));
        assert!(parse_duration_ns("5")
            .unwrap_err()
            .contains("needs a time unit"));
        assert!(parse_duration_ns("5parsecs")
            .unwrap_err()
            .contains("unknown time unit"));
        assert!(parse_duration_ns("-1ms").is_err());
    }

    #[test]
    fn durations_format_with_three_digits() {
        assert_eq!(format_ns(812.0), "812 ns");
        assert_eq!(format_ns(3210.0), "3.21 µs");
        assert_eq!(format_ns(45_000_000.0), "45.0 ms");
        assert_eq!(format_ns(2.5e9), "2.50 s");
        assert_eq!(format_ns(f64::NAN), "-");
        assert_eq!(format_ns_change(1200.0), "+1.20 µs");
    }

    #[test]
    fn iso8601_matches_known_instants() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            iso8601(1_700_000_000_000_000_001),
            "2023-11-14T22:13:20.000000001Z"
        );
        assert_eq!(
            iso8601(951_782_400_000_000_000),
            "2000-02-29T00:00:00.000000000Z"
        );
        assert_eq!(iso8601(-1), "1969-12-31T23:59:59.999999999Z");
    }

    #[test]
    fn printable_escapes_control_characters() {
        assert_eq!(printable("a\u{1b}[31mb\n", 100), "a\\u{1b}[31mb\\u{a}");
        assert_eq!(printable("abcdef", 3), "abc…");
        assert_eq!(format_count(1_048_576), "1,048,576");
        assert_eq!(format_count(12), "12");
    }
}
