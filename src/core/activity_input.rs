//! How an activity's input travels: as DurableTask does it, a JSON array of the activity's
//! parameters (DTFx's `TaskActivity` and Durable Functions' activity context read
//! `TaskScheduled.Input` as an array, and a .NET orchestration sends one). One parameter — the
//! Rust API's one input — is a one-element array: `"Tokyo"` travels as `["Tokyo"]`.
//!
//! Reading accepts both forms, so a hub with activity messages written by an older taskhub (the
//! bare value) keeps working: a one-element array is unwrapped, an empty array is no input, and
//! anything else (a bare value, or several parameters from a .NET caller) is passed on as it
//! is. The one ambiguous case is an older message whose bare input was itself a one-element
//! array: it is read as that element.

/// The `TaskScheduled.Input` of an activity called with `input` (JSON text).
pub fn wrap(input: &str) -> String {
    format!("[{input}]")
}

/// The input an activity receives from a `TaskScheduled.Input`.
pub fn unwrap(scheduled: Option<&str>) -> Option<String> {
    let text = scheduled?;
    let trimmed = text.trim();
    match serde_json::from_str::<serde_json::Value>(trimmed) {
        Ok(serde_json::Value::Array(items)) if items.is_empty() => None,
        // The element's own text, as written (no re-serialization: key order, number forms).
        Ok(serde_json::Value::Array(items)) if items.len() == 1 => {
            Some(trimmed[1..trimmed.len() - 1].trim().to_string())
        }
        _ => Some(text.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_parameter_round_trips_and_the_old_bare_form_is_read() {
        for input in [
            r#""Tokyo""#,
            "5",
            r#"{"b":1,"a":2.50}"#,
            "null",
            "[1,2]",
            "[]",
        ] {
            assert_eq!(
                unwrap(Some(&wrap(input))).as_deref(),
                Some(input),
                "{input}"
            );
        }
        assert_eq!(unwrap(Some(" [ \"x\" ] ")).as_deref(), Some("\"x\""));
        // An older taskhub's bare values, and several .NET parameters, pass as they are.
        assert_eq!(unwrap(Some(r#""Tokyo""#)).as_deref(), Some(r#""Tokyo""#));
        assert_eq!(unwrap(Some(r#"{"a":1}"#)).as_deref(), Some(r#"{"a":1}"#));
        assert_eq!(unwrap(Some("[1,2]")).as_deref(), Some("[1,2]"));
        assert_eq!(unwrap(Some("[]")), None);
        assert_eq!(unwrap(None), None);
        assert_eq!(unwrap(Some("not json")).as_deref(), Some("not json"));
    }
}
