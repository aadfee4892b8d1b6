//! Output conventions: data on stdout (aligned text tables, or JSON with `--json`), messages and
//! progress on stderr.

use anyhow::Result;
use serde::Serialize;

/// Prints `value` as pretty JSON on stdout.
pub fn print_json(value: &impl Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Prints rows as a left-aligned table with a header on stdout.
pub fn print_table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}  "));
            }
        }
        println!("{}", out.trim_end());
    };
    line(headers.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// A message for the user on stderr.
pub fn status(message: impl std::fmt::Display) {
    eprintln!("taskhub: {message}");
}

/// `yes` / `no`.
pub fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_string()
}

/// A number, or `-` when absent.
pub fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "-".to_string())
}

/// A message made fit for one line: newlines and other control characters shown escaped.
pub fn one_line(text: &str) -> String {
    printable(text)
}

/// Text with control characters escaped (`\n`, `\t`, `\u{1b}`), so it cannot break a line or a
/// table; everything else as is.
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// At most `max` characters of `text` (made printable), ending in `…` when cut.
pub fn shorten(text: &str, max: usize) -> String {
    let text = printable(text);
    if text.chars().count() <= max {
        return text;
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A time in UTC to the second: `2024-05-01T10:00:00Z`.
pub fn time_s(t: time::OffsetDateTime) -> String {
    crate::timestamps::seconds(t)
}

/// A time in UTC to the millisecond: `2024-05-01T10:00:00.123Z`.
pub fn time_ms(t: time::OffsetDateTime) -> String {
    crate::timestamps::millis(t)
}

/// An optional time to the millisecond, `-` when absent.
pub fn opt_time(t: Option<time::OffsetDateTime>) -> String {
    t.map(time_ms).unwrap_or_else(|| "-".into())
}

/// A duration for people: `850 ms`, `2.4 s`, `3 min 5 s`, `2 h 10 min`; negative ones (clock
/// skew between workers) with a minus sign.
pub fn duration(d: time::Duration) -> String {
    let sign = if d.is_negative() { "-" } else { "" };
    let d = d.abs();
    let ms = d.whole_milliseconds();
    let text = if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{:.1} s", d.as_seconds_f64())
    } else if ms < 3_600_000 {
        format!("{} min {} s", ms / 60_000, (ms / 1000) % 60)
    } else {
        format!("{} h {} min", ms / 3_600_000, (ms / 60_000) % 60)
    };
    format!("{sign}{text}")
}

/// Stored JSON text as a JSON value for `--json` output: parsed when it is JSON, else the text
/// as a string (a failure's `ErrorType: message`, a termination reason); absent or empty: null.
pub fn json_value(text: Option<&str>) -> serde_json::Value {
    match text {
        None | Some("") => serde_json::Value::Null,
        Some(t) => serde_json::from_str(t).unwrap_or_else(|_| serde_json::Value::String(t.into())),
    }
}

/// `text` quoted for a POSIX shell when it needs it.
pub fn shell_quote(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@%+=,".contains(c));
    if plain {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn text_helpers() {
        assert_eq!(printable("a\nb\t\"c\""), "a\\nb\\t\"c\"");
        assert_eq!(shorten("abcdef", 4), "abc…");
        assert_eq!(shorten("abc", 4), "abc");
        assert_eq!(shell_quote("abc-1"), "abc-1");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn times_and_durations() {
        let t = datetime!(2024-05-01 10:00:00.123 +02:00);
        assert_eq!(time_s(t), "2024-05-01T08:00:00Z");
        assert_eq!(time_ms(t), "2024-05-01T08:00:00.123Z");
        assert_eq!(duration(time::Duration::milliseconds(850)), "850 ms");
        assert_eq!(duration(time::Duration::milliseconds(2_440)), "2.4 s");
        assert_eq!(duration(time::Duration::seconds(185)), "3 min 5 s");
        assert_eq!(duration(time::Duration::minutes(130)), "2 h 10 min");
        assert_eq!(duration(time::Duration::milliseconds(-5)), "-5 ms");
    }

    #[test]
    fn json_values() {
        assert_eq!(json_value(Some("[1,2]")), serde_json::json!([1, 2]));
        assert_eq!(
            json_value(Some("Oops: bad")),
            serde_json::json!("Oops: bad")
        );
        assert_eq!(json_value(None), serde_json::Value::Null);
    }
}
