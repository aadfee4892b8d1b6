//! How taskhub reads durations as text: a whole number and a unit, `500ms`, `30s`, `15m`, `12h`,
//! `7d` — what `purge --older-than`, `purge --budget` and `worker --retention` take.

use std::time::Duration;

/// Why a duration's text was refused (the message quotes it and shows the accepted forms).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a duration such as 30s, 15m, 12h or 7d ({why})")]
pub struct DurationError {
    /// The text as given.
    pub text: String,
    /// What is wrong with it.
    pub why: &'static str,
}

/// The longest duration accepted: 100 years, far beyond any retention, and small enough that
/// subtracting it from now stays a valid time.
const MAX: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// Reads `500ms`, `30s`, `15m`, `12h` or `7d` (one whole number, one unit, no sign; spaces around
/// it are ignored). Zero is allowed; the caller refuses it where it makes no sense.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let fail = |why| DurationError {
        text: text.to_string(),
        why,
    };
    let t = text.trim();
    if t.is_empty() {
        return Err(fail("it is empty"));
    }
    if t.starts_with(['-', '+']) {
        return Err(fail("no sign: a duration is never negative"));
    }
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    if digits == 0 {
        return Err(fail("it must start with a whole number"));
    }
    let (number, unit) = t.split_at(digits);
    let n: u64 = number
        .parse()
        .map_err(|_| fail("the number is too large"))?;
    let unit_ms: u64 = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "" => return Err(fail("the unit is missing: ms, s, m, h or d")),
        _ => return Err(fail("the unit must be ms, s, m, h or d")),
    };
    let ms = n
        .checked_mul(unit_ms)
        .ok_or_else(|| fail("it is too long"))?;
    let d = Duration::from_millis(ms);
    if d > MAX {
        return Err(fail("it is longer than 100 years"));
    }
    Ok(d)
}

/// A duration as [`parse_duration`] reads it, in the largest unit that divides it: `7d`, `90m`,
/// `1500ms`.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
    ] {
        if ms > 0 && ms % size == 0 {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_refusals() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration(" 15m "), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("12h"), Ok(Duration::from_secs(12 * 3600)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        for (bad, says) in [
            ("7x", "unit must be"),
            ("-1d", "no sign"),
            ("+1d", "no sign"),
            ("7", "unit is missing"),
            ("d", "whole number"),
            ("", "empty"),
            ("1.5h", "unit must be"),
            ("99999999999999999999d", "too large"),
            ("40000d", "100 years"),
        ] {
            let e = parse_duration(bad).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
            assert!(e.contains("such as 30s"), "{bad}: {e}");
        }
    }

    #[test]
    fn formats_in_the_largest_unit() {
        for text in ["7d", "90m", "1500ms", "30s", "12h", "0ms"] {
            assert_eq!(format_duration(parse_duration(text).unwrap()), text);
        }
    }
}
