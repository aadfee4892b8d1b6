//! Instance tags: string pairs given at start, kept for the life of the instance.
//!
//! Owns [`Tags`] and the JSON form DurableTask.AzureStorage stores them in: the object text of
//! `ExecutionStarted.Tags` and the Instances `Tags` column, `"null"` when there are none. A
//! .NET writer may add a `$type` key; it is not a tag.

use std::collections::BTreeMap;

/// Tags by name, in name order.
pub type Tags = BTreeMap<String, String>;

/// The most tag JSON an instance may carry (it lives in one table column).
pub const MAX_TAGS_BYTES: usize = 16 * 1024;

/// The JSON object text of `tags`; `None` when there are none.
pub fn tags_to_json(tags: &Tags) -> Option<String> {
    (!tags.is_empty()).then(|| serde_json::to_string(tags).unwrap_or_default())
}

/// The tags in stored JSON text. Anything but an object reads as no tags; values that are not
/// strings are kept as their JSON text.
pub fn tags_from_json(text: Option<&str>) -> Tags {
    let Some(serde_json::Value::Object(map)) =
        text.and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok())
    else {
        return Tags::new();
    };
    map.into_iter()
        .filter(|(k, _)| k != "$type")
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => (k, s),
            other => (k, other.to_string()),
        })
        .collect()
}

/// `KEY=VALUE` as a tag; the value may be empty, the key may not, and neither may hold control
/// characters.
pub fn parse_tag(text: &str) -> Result<(String, String), String> {
    let Some((key, value)) = text.split_once('=') else {
        return Err(format!("{text:?} is not KEY=VALUE"));
    };
    let key = key.trim();
    if key.is_empty() {
        return Err(format!("{text:?} has an empty key"));
    }
    if key == "$type" {
        return Err("\"$type\" is reserved".into());
    }
    if text.chars().any(char::is_control) {
        return Err(format!("{text:?} holds a control character"));
    }
    Ok((key.to_string(), value.to_string()))
}

/// Refuses tags too large to store, or with an empty or reserved name.
pub fn check_tags(tags: &Tags) -> Result<(), String> {
    if let Some(bad) = tags.keys().find(|k| k.trim().is_empty() || *k == "$type") {
        return Err(format!("tag name {bad:?} is empty or reserved"));
    }
    let size = tags_to_json(tags).map_or(0, |j| j.len());
    if size > MAX_TAGS_BYTES {
        return Err(format!(
            "the tags take {size} bytes of JSON; at most {MAX_TAGS_BYTES} are stored"
        ));
    }
    Ok(())
}

/// Whether `tags` holds every pair of `wanted`.
pub fn has_tags(tags: &Tags, wanted: &Tags) -> bool {
    wanted.iter().all(|(k, v)| tags.get(k) == Some(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_round_trip_and_read_dotnet_json() {
        let tags: Tags = [("team".to_string(), "billing".to_string())].into();
        let json = tags_to_json(&tags).unwrap();
        assert_eq!(json, r#"{"team":"billing"}"#);
        assert_eq!(tags_from_json(Some(&json)), tags);
        assert_eq!(tags_to_json(&Tags::new()), None);
        let dotnet = r#"{"$type":"System.Collections.Generic.Dictionary`2[...]","tag1":"v","n":3}"#;
        let read = tags_from_json(Some(dotnet));
        assert_eq!(read.len(), 2);
        assert_eq!(read["tag1"], "v");
        assert_eq!(read["n"], "3");
        assert!(tags_from_json(Some("null")).is_empty());
        assert!(tags_from_json(Some("[1]")).is_empty());
        assert!(tags_from_json(None).is_empty());
    }

    #[test]
    fn tags_parse_and_bad_ones_are_refused() {
        assert_eq!(parse_tag("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert_eq!(parse_tag(" k =").map(|t| t.0), Ok("k".into()));
        assert!(parse_tag("novalue").unwrap_err().contains("KEY=VALUE"));
        assert!(parse_tag("=v").unwrap_err().contains("empty key"));
        assert!(parse_tag("k=\u{7}").unwrap_err().contains("control"));
        assert!(parse_tag("$type=x").is_err());
        let big: Tags = [("k".to_string(), "x".repeat(MAX_TAGS_BYTES))].into();
        assert!(check_tags(&big).unwrap_err().contains("at most"));
        let wanted: Tags = [("a".to_string(), "1".to_string())].into();
        let mut have = wanted.clone();
        have.insert("b".into(), "2".into());
        assert!(has_tags(&have, &wanted) && !has_tags(&wanted, &have));
    }
}
