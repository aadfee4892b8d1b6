//! How taskhub writes timestamps as text: UTC with seven fractional digits (what the table service
//! stores for Edm.DateTime and DTFx writes in history), or to the second (.NET's "s" form, used by
//! the Durable Functions HTTP API and the CLI's tables), or to the millisecond (history tables).

use time::OffsetDateTime;

/// `2024-05-01T10:00:05.1234567Z`.
pub fn ticks(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!("{}.{:07}Z", date_time(t), t.nanosecond() / 100)
}

/// `2024-05-01T10:00:05Z`.
pub fn seconds(t: OffsetDateTime) -> String {
    format!("{}Z", date_time(t.to_offset(time::UtcOffset::UTC)))
}

/// `2024-05-01T10:00:05.123Z`.
pub fn millis(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!("{}.{:03}Z", date_time(t), t.millisecond())
}

fn date_time(t: OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn both_forms_are_utc() {
        let t = datetime!(2024-05-01 12:00:05.5 +02:00);
        assert_eq!(ticks(t), "2024-05-01T10:00:05.5000000Z");
        assert_eq!(seconds(t), "2024-05-01T10:00:05Z");
        assert_eq!(millis(t), "2024-05-01T10:00:05.500Z");
    }
}
