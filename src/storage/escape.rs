//! Escaping for everything user data meets on its way into a key, a URL or a filter.
//!
//! Owns: the instance-id partition-key escaping of DurableTask.AzureStorage (`KeySanitation`,
//! reference §1.4), OData string and datetime literals for `$filter`, and the `'` doubling the
//! table crate leaves to us for keys that travel in an entity URL. No I/O here.

use time::OffsetDateTime;

/// Escapes an instance id for use as a table PartitionKey, exactly as DurableTask.AzureStorage does:
/// `^`→`^^`, `/`→`^0`, `\`→`^1`, `#`→`^2`, `?`→`^3`, and the control characters U+0000–U+001F and
/// U+007F–U+009F → `^` followed by the character U+00C0 + code. Everything else is unchanged.
///
/// Not idempotent: escape an id exactly once.
pub fn escape_partition_key(instance_id: &str) -> String {
    let mut out = String::with_capacity(instance_id.len());
    for c in instance_id.chars() {
        match c {
            '^' => out.push_str("^^"),
            '/' => out.push_str("^0"),
            '\\' => out.push_str("^1"),
            '#' => out.push_str("^2"),
            '?' => out.push_str("^3"),
            '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' => {
                out.push('^');
                // U+00C0 + (at most U+009F) stays below U+0160: always a valid char.
                out.push(char::from_u32(0xC0 + c as u32).unwrap_or('\u{FFFD}'));
            }
            _ => out.push(c),
        }
    }
    out
}

/// Reverses [`escape_partition_key`]. After `^`: `0`–`3` map back to `/ \ # ?`, `^` to `^`, and any
/// character ≥ U+00C0 to that character − U+00C0. A `^` followed by anything else, or at the end, is
/// kept as it is (the reference does the same: it never fails).
pub fn unescape_partition_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut chars = key.chars();
    while let Some(c) = chars.next() {
        if c != '^' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('^') => out.push('^'),
            Some('0') => out.push('/'),
            Some('1') => out.push('\\'),
            Some('2') => out.push('#'),
            Some('3') => out.push('?'),
            Some(e) if e as u32 >= 0xC0 => match char::from_u32(e as u32 - 0xC0) {
                Some(orig) => out.push(orig),
                None => {
                    out.push('^');
                    out.push(e);
                }
            },
            Some(e) => {
                out.push('^');
                out.push(e);
            }
            None => out.push('^'),
        }
    }
    out
}

/// An OData string literal: the value in single quotes with every `'` doubled.
/// `o'brien` → `'o''brien'`. Use it for every user value placed in a `$filter`.
pub fn odata_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    out.push_str(&s.replace('\'', "''"));
    out.push('\'');
    out
}

/// An OData datetime literal in UTC with 7 fractional digits, for `$filter`:
/// `datetime'2024-05-01T10:00:00.0000000Z'`.
pub fn odata_datetime(t: OffsetDateTime) -> String {
    format!("datetime'{}'", format_edm_datetime(t))
}

/// Doubles single quotes in a key that goes into an entity URL
/// (`Table(PartitionKey='…',RowKey='…')`); the table crate does not.
pub(crate) fn url_key(key: &str) -> String {
    key.replace('\'', "''")
}

/// RFC 3339 in UTC with exactly 7 fractional digits, the form Azure Tables uses for Edm.DateTime.
pub fn format_edm_datetime(t: OffsetDateTime) -> String {
    crate::timestamps::ticks(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_forbidden(c: char) -> bool {
        matches!(c, '/' | '\\' | '#' | '?')
            || ('\u{0}'..='\u{1f}').contains(&c)
            || ('\u{7f}'..='\u{9f}').contains(&c)
    }

    #[test]
    fn escapes_the_reference_table() {
        assert_eq!(escape_partition_key("a^b"), "a^^b");
        assert_eq!(escape_partition_key("a/b\\c#d?e"), "a^0b^1c^2d^3e");
        assert_eq!(escape_partition_key("\n"), "^\u{CA}");
        assert_eq!(escape_partition_key("\u{0}"), "^\u{C0}");
        assert_eq!(escape_partition_key("\u{7f}"), "^\u{13F}");
        assert_eq!(escape_partition_key("\u{9f}"), "^\u{15F}");
        assert_eq!(escape_partition_key("plain-id_1 ü"), "plain-id_1 ü");
        assert_eq!(unescape_partition_key("^\u{CA}"), "\n");
    }

    #[test]
    fn every_special_and_control_char_round_trips_and_is_never_emitted() {
        let specials: Vec<char> = ('\u{0}'..='\u{ff}').chain(['^', 'ü', '€', '😀']).collect();
        for &a in &specials {
            for &b in ['x', '^', '/', '\u{1}', 'Ê', '0'].iter() {
                let s: String = [a, b, a].iter().collect();
                let e = escape_partition_key(&s);
                assert!(!e.chars().any(is_forbidden), "{s:?} escaped to {e:?}");
                assert_eq!(unescape_partition_key(&e), s, "round trip of {s:?}");
            }
        }
    }

    #[test]
    fn pseudo_random_strings_round_trip() {
        // A fixed xorshift keeps this deterministic while covering mixed sequences.
        let mut x: u64 = 0x9E3779B97F4A7C15;
        let alphabet: Vec<char> = "ab^/\\#?\u{0}\u{1f}\u{7f}\u{9f}\u{c0}\u{ca}0123 '\"ü😀"
            .chars()
            .collect();
        for _ in 0..2000 {
            let mut s = String::new();
            for _ in 0..(x % 12) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                s.push(alphabet[(x % alphabet.len() as u64) as usize]);
            }
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let e = escape_partition_key(&s);
            assert!(!e.chars().any(is_forbidden));
            assert_eq!(unescape_partition_key(&e), s);
        }
    }

    #[test]
    fn odata_literals_double_quotes() {
        assert_eq!(odata_string("o'brien"), "'o''brien'");
        assert_eq!(odata_string("''"), "''''''");
        assert_eq!(odata_string(""), "''");
        assert_eq!(url_key("o'brien"), "o''brien");
    }

    #[test]
    fn datetime_literal_has_seven_digits_in_utc() {
        let t = time::macros::datetime!(2024-05-01 12:00:00.123456789 +02:00);
        assert_eq!(odata_datetime(t), "datetime'2024-05-01T10:00:00.1234567Z'");
        let t = time::macros::datetime!(2024-05-01 10:00:00 UTC);
        assert_eq!(format_edm_datetime(t), "2024-05-01T10:00:00.0000000Z");
    }
}
