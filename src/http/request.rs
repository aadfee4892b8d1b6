//! Reading requests the way the Functions host does: query keys case-insensitive, `+` as a space,
//! .NET-style booleans, dates and numbers (a value that does not parse means "the default"),
//! paths with their trailing slashes trimmed, bodies read up to a limit.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{header, HeaderMap, Uri};
use percent_encoding::percent_decode_str;
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::error::ApiError;
use crate::core::{OrchestrationStatus, Timestamp};

/// The request's URI as it arrived, before [`normalize_path`] trimmed it (for `Location`).
#[derive(Debug, Clone)]
pub(crate) struct OriginalUri(pub Uri);

/// Trims trailing slashes from the path (`/instances/` is `/instances`, as in the host) and keeps
/// the original URI in an extension. Runs before routing.
pub(crate) fn normalize_path(mut req: Request) -> Request {
    let original = req.uri().clone();
    let path = original.path();
    if path.len() > 1 && path.ends_with('/') {
        let trimmed = path.trim_end_matches('/');
        let trimmed = if trimmed.is_empty() { "/" } else { trimmed };
        let path_and_query = match original.query() {
            Some(q) => format!("{trimmed}?{q}"),
            None => trimmed.to_string(),
        };
        let mut parts = original.clone().into_parts();
        if let Ok(pq) = path_and_query.parse() {
            parts.path_and_query = Some(pq);
            if let Ok(uri) = Uri::from_parts(parts) {
                *req.uri_mut() = uri;
            }
        }
    }
    req.extensions_mut().insert(OriginalUri(original));
    req
}

/// The query string, decoded, with case-insensitive lookup.
#[derive(Debug, Default, Clone)]
pub(crate) struct Query {
    pairs: Vec<(String, String)>,
}

fn decode_component(s: &str) -> String {
    let spaced = s.replace('+', " ");
    percent_decode_str(&spaced).decode_utf8_lossy().into_owned()
}

impl Query {
    pub fn parse(query: Option<&str>) -> Query {
        let pairs = query
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| match p.split_once('=') {
                Some((k, v)) => (decode_component(k), decode_component(v)),
                None => (decode_component(p), String::new()),
            })
            .collect();
        Query { pairs }
    }

    pub fn of(uri: &Uri) -> Query {
        Query::parse(uri.query())
    }

    /// The first value of `key` (any case).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// The first non-blank value of `key`.
    pub fn non_blank(&self, key: &str) -> Option<&str> {
        self.get(key).filter(|v| !v.trim().is_empty())
    }

    /// Every value of `key`, in order.
    pub fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// A boolean as .NET's `bool.TryParse` reads it; `default` when absent or unparseable.
    pub fn bool(&self, key: &str, default: bool) -> bool {
        match self.get(key).map(str::trim) {
            Some(v) if v.eq_ignore_ascii_case("true") => true,
            Some(v) if v.eq_ignore_ascii_case("false") => false,
            _ => default,
        }
    }

    /// An integer; `None` when absent or unparseable.
    pub fn int(&self, key: &str) -> Option<i64> {
        self.get(key).and_then(|v| v.trim().parse().ok())
    }

    /// A time; `None` when absent or unparseable.
    pub fn time(&self, key: &str) -> Option<Timestamp> {
        self.get(key).and_then(parse_time)
    }

    /// A number of seconds (fractions allowed); `None` when absent, unparseable or negative.
    pub fn seconds(&self, key: &str) -> Option<Duration> {
        self.get(key)
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0 && *s < 1e9)
            .map(Duration::from_secs_f64)
    }

    /// `runtimeStatus` values: comma-separated and/or repeated, exact enum names; others are
    /// dropped (as the host does).
    pub fn statuses(&self, key: &str) -> Vec<OrchestrationStatus> {
        let mut out = Vec::new();
        for value in self.all(key) {
            for name in value.split(',').map(str::trim) {
                if let Some(s) = OrchestrationStatus::ALL
                    .into_iter()
                    .find(|s| s.as_str() == name)
                {
                    if !out.contains(&s) {
                        out.push(s);
                    }
                }
            }
        }
        out
    }
}

/// Parses a time the way the host's `DateTime.TryParse` accepts what clients send: RFC 3339 with
/// or without a fraction or an offset (no offset: UTC), a space instead of `T`, or a date alone.
pub(crate) fn parse_time(text: &str) -> Option<Timestamp> {
    let t = text.trim().replace(' ', "T");
    if t.is_empty() {
        return None;
    }
    let candidates = [
        t.clone(),
        format!("{t}Z"),
        format!("{t}:00Z"),
        format!("{t}T00:00:00Z"),
    ];
    candidates
        .iter()
        .find_map(|c| OffsetDateTime::parse(c, &Rfc3339).ok())
        .map(|d| d.to_offset(time::UtcOffset::UTC))
}

/// Reads the whole body, refusing more than `limit` bytes with 413.
pub(crate) async fn read_body(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::status(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            format!("The request body is larger than the limit of {limit} bytes."),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => Ok(bytes),
        Err(e) => {
            let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
            while let Some(s) = source {
                if s.is::<http_body_util::LengthLimitError>() {
                    return Err(too_large());
                }
                source = s.source();
            }
            Err(ApiError::bad_request(format!(
                "The request body could not be read: {e}"
            )))
        }
    }
}

/// Parses a body as JSON; an invalid body is 400 `Invalid JSON content`.
pub(crate) fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(ApiError::invalid_json)
}

/// True when the request's media type is `application/json` (parameters ignored).
pub(crate) fn is_json_content(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
}

/// Checks an instance id given in a URL the way the host does before starting: not starting
/// with `@`, no `/ \ # ?` or control characters, at most 256 characters.
pub(crate) fn check_instance_id(id: &str) -> Result<(), ApiError> {
    if id.starts_with('@') {
        return Err(ApiError::argument(format!(
            "Orchestration instance ids must not start with @ (reserved for entities): '{id}'."
        )));
    }
    if let Some(c) = id
        .chars()
        .find(|c| matches!(c, '/' | '\\' | '#' | '?') || c.is_control())
    {
        return Err(ApiError::argument(format!(
            "Orchestration instance ids must not contain /, \\, #, ? or control characters; found {c:?}."
        )));
    }
    if id.chars().count() > crate::core::instance::MAX_INSTANCE_ID_CHARS {
        return Err(ApiError::argument(format!(
            "Orchestration instance ids must be at most {} characters long.",
            crate::core::instance::MAX_INSTANCE_ID_CHARS
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn query_keys_ignore_case_and_plus_is_a_space() {
        let q = Query::parse(Some("ShowInput=True&reason=fixed+it&x=a%20b%26c&flag"));
        assert!(q.bool("showinput", false));
        assert_eq!(q.get("REASON"), Some("fixed it"));
        assert_eq!(q.get("x"), Some("a b&c"));
        assert_eq!(q.get("flag"), Some(""));
        assert!(q.bool("flag", true));
        assert!(!q.bool("missing", false));
    }

    #[test]
    fn statuses_split_repeat_and_drop_unknown_names() {
        let q = Query::parse(Some(
            "runtimeStatus=Running,Pending&runtimeStatus=Completed,running,Bogus",
        ));
        assert_eq!(
            q.statuses("runtimeStatus"),
            vec![
                OrchestrationStatus::Running,
                OrchestrationStatus::Pending,
                OrchestrationStatus::Completed
            ]
        );
    }

    #[test]
    fn times_parse_like_the_host() {
        let want = datetime!(2024-01-01 00:00 UTC);
        for t in [
            "2024-01-01T00:00:00.000000Z",
            "2024-01-01T00:00:00Z",
            "2024-01-01T00:00:00",
            "2024-01-01 00:00:00",
            "2024-01-01",
            "2024-01-01T01:00:00+01:00",
            "2024-01-01T00:00",
        ] {
            assert_eq!(parse_time(t), Some(want), "{t}");
        }
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(parse_time(""), None);
    }

    #[test]
    fn seconds_accept_fractions_only_when_sane() {
        let q = Query::parse(Some("timeout=1.5&pollingInterval=-1&x=NaN"));
        assert_eq!(q.seconds("timeout"), Some(Duration::from_millis(1500)));
        assert_eq!(q.seconds("pollingInterval"), None);
        assert_eq!(q.seconds("x"), None);
    }

    #[test]
    fn instance_ids_follow_the_host_rules() {
        assert!(check_instance_id("a b+c%é").is_ok());
        for bad in ["@x", "a/b", "a\\b", "a#b", "a?b", "a\nb"] {
            assert!(check_instance_id(bad).is_err(), "{bad:?}");
        }
        assert!(check_instance_id(&"x".repeat(257)).is_err());
    }

    #[test]
    fn trailing_slashes_are_trimmed_and_the_original_kept() {
        let req = Request::builder()
            .uri("/runtime/webhooks/durabletask/instances/?top=5")
            .body(Body::empty())
            .unwrap();
        let req = normalize_path(req);
        assert_eq!(
            req.uri().to_string(),
            "/runtime/webhooks/durabletask/instances?top=5"
        );
        let original = req.extensions().get::<OriginalUri>().unwrap();
        assert_eq!(
            original.0.to_string(),
            "/runtime/webhooks/durabletask/instances/?top=5"
        );
    }
}
