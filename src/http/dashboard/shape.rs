//! How the dashboard's answers are shaped: times as milliseconds since the epoch (what the
//! page's charts take), large values as previews with their full length (the page loads the
//! rest on demand), history rows and timeline spans from `core::history_view`, and histograms
//! of times.

use serde_json::{json, Value};

use crate::backend::InstanceStatus;
use crate::core::history_view::{EventRow, Span};
use crate::core::tags::tags_from_json;
use crate::core::{HistoryEvent, Timestamp};

/// Longest value sent whole in an instance's answer; longer ones are cut and loaded on demand.
pub(super) const PREVIEW_CHARS: usize = 4096;
/// Longest detail of a history row; the full event is loaded on demand.
const DETAIL_CHARS: usize = 240;

/// Milliseconds since the Unix epoch.
pub(super) fn ms(t: Timestamp) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

fn opt_ms(t: Option<Timestamp>) -> Value {
    t.map_or(Value::Null, |t| json!(ms(t)))
}

/// The first `max` characters of `text`, and whether it was cut.
fn cut(text: &str, max: usize) -> (&str, bool) {
    match text.char_indices().nth(max) {
        Some((at, _)) => (&text[..at], true),
        None => (text, false),
    }
}

/// A value as `{text, length, truncated}` (`null` when absent): up to [`PREVIEW_CHARS`].
pub(super) fn preview(text: Option<&str>) -> Value {
    match text {
        None => Value::Null,
        Some(t) => {
            let (shown, truncated) = cut(t, PREVIEW_CHARS);
            json!({"text": shown, "length": t.chars().count(), "truncated": truncated})
        }
    }
}

/// One instance in a list: no values, only what the columns show.
pub(super) fn list_item(s: &InstanceStatus) -> Value {
    json!({
        "instanceId": s.instance_id,
        "name": s.name,
        "version": s.version,
        "status": s.runtime_status.as_str(),
        "createdTime": opt_ms(s.created_time),
        "lastUpdatedTime": opt_ms(s.last_updated_time),
        "completedTime": opt_ms(s.completed_time),
        "tags": tags_from_json(s.tags.as_deref()),
    })
}

/// One instance with previews of its input, output and custom status.
pub(super) fn instance(s: &InstanceStatus) -> Value {
    let mut v = list_item(s);
    let fields = [
        ("executionId", json!(s.execution_id)),
        ("generation", json!(s.generation)),
        ("scheduledStartTime", opt_ms(s.scheduled_start_time)),
        ("input", preview(s.input.as_deref())),
        ("output", preview(s.output.as_deref())),
        ("customStatus", preview(s.custom_status.as_deref())),
    ];
    if let Value::Object(map) = &mut v {
        for (k, value) in fields {
            map.insert(k.to_string(), value);
        }
    }
    v
}

/// One history row: position, type, name, ids, time, duration and a shortened detail.
pub(super) fn event_row(index: usize, r: &EventRow<'_>) -> Value {
    let (detail, truncated) = cut(&r.detail, DETAIL_CHARS);
    json!({
        "index": index,
        "type": r.event.event_type().as_str(),
        "name": r.name,
        "eventId": r.event.event_id,
        "scheduledId": r.completes,
        "timestamp": ms(r.event.timestamp),
        "durationMs": r.duration.map(|d| d.whole_milliseconds() as i64),
        "detail": detail,
        "detailTruncated": truncated,
    })
}

/// One event in full, in its `HistoryEvent` form.
pub(super) fn event(e: &HistoryEvent) -> Value {
    serde_json::to_value(e).unwrap_or(Value::Null)
}

/// One timeline span; `children` are a sub-orchestration's own spans, when read.
pub(super) fn span(s: &Span, children: Option<Vec<Value>>) -> Value {
    let mut v = json!({
        "kind": s.kind.as_str(),
        "name": s.name,
        "eventId": s.event_id,
        "start": ms(s.start),
        "end": opt_ms(s.end),
        "outcome": s.outcome.as_str(),
        "attempt": s.attempt,
        "instanceId": s.instance_id,
        "startIndex": s.start_index,
        "endIndex": s.end_index,
    });
    if let (Some(children), Value::Object(map)) = (children, &mut v) {
        map.insert("children".into(), Value::Array(children));
    }
    v
}

/// Counts of `times` in about `buckets` equal intervals from the first to the last (the width
/// rounded up to a whole second): `{bucketMs, buckets: [[start ms, count], …]}`, every interval
/// listed, empty ones with 0.
pub(super) fn histogram(times: &[Timestamp], buckets: usize) -> Value {
    let points: Vec<i64> = times.iter().map(|t| ms(*t)).collect();
    let (Some(&lo), Some(&hi)) = (points.iter().min(), points.iter().max()) else {
        return json!({"bucketMs": 0, "buckets": []});
    };
    // Whole seconds (at least one), so that bars start on readable times.
    let width = ((hi - lo) / buckets.max(1) as i64 + 1).max(1000);
    let width = (width + 999) / 1000 * 1000;
    let first = lo - lo.rem_euclid(width);
    let n = ((hi - first) / width + 1) as usize;
    let mut counts = vec![0u64; n];
    for p in points {
        counts[((p - first) / width) as usize] += 1;
    }
    let rows: Vec<Value> = counts
        .iter()
        .enumerate()
        .map(|(i, c)| json!([first + i as i64 * width, c]))
        .collect();
    json!({"bucketMs": width, "buckets": rows})
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn previews_cut_long_values_at_a_character_boundary() {
        let long = "é".repeat(PREVIEW_CHARS + 10);
        let p = preview(Some(&long));
        assert_eq!(p["truncated"], true);
        assert_eq!(p["length"], PREVIEW_CHARS + 10);
        assert_eq!(p["text"].as_str().unwrap().chars().count(), PREVIEW_CHARS);
        assert_eq!(preview(Some("1"))["truncated"], false);
        assert_eq!(preview(None), Value::Null);
    }

    #[test]
    fn histograms_cover_the_range_with_whole_second_buckets() {
        let t0 = datetime!(2024-05-01 10:00:00 UTC);
        let times: Vec<_> = [0, 1, 59, 60, 119]
            .iter()
            .map(|s| t0 + time::Duration::seconds(*s))
            .collect();
        let h = histogram(&times, 2);
        assert_eq!(h["bucketMs"], 60_000);
        let counts: Vec<u64> = h["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b[1].as_u64().unwrap())
            .collect();
        assert_eq!(counts, vec![3, 2]);
        assert_eq!(h["buckets"][0][0], ms(t0));
        assert_eq!(histogram(&[], 10)["buckets"], json!([]));
    }
}
