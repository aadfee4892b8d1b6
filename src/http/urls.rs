//! Management URLs: the check-status reply of start and restart, built from the scheme and host
//! the request came to (`docs/http-api.md`, "Bodies").

use axum::http::uri::Authority;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::Response;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::Serialize;

use super::error::json_response;
use super::{ApiState, WEBHOOK_PATH};

/// Everything but the unreserved characters of RFC 3986 is escaped in a path segment or a query
/// value.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes one path segment or query value.
pub(crate) fn encode(s: &str) -> String {
    utf8_percent_encode(s, COMPONENT).to_string()
}

/// `scheme://host[:port]` of the incoming request: the absolute URI's authority, else the `Host`
/// header, else the bound address; `https` when `X-Forwarded-Proto` says so.
pub(crate) fn origin(state: &ApiState, uri: &Uri, headers: &HeaderMap) -> String {
    let scheme = match headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(',')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        }) {
        Some(p) if p == "https" => "https",
        _ => uri.scheme_str().filter(|s| *s == "https").unwrap_or("http"),
    };
    let host = uri
        .authority()
        .map(|a| a.as_str().to_string())
        .or_else(|| {
            headers
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .and_then(|h| h.parse::<Authority>().ok())
                .filter(|a| !a.as_str().contains('@'))
                .map(|a| a.as_str().to_string())
        })
        .or_else(|| state.local_addr().map(|a| a.to_string()))
        .unwrap_or_else(|| "localhost".to_string());
    format!("{scheme}://{host}")
}

/// The check-status body (`HttpManagementPayload`), in the host's key order.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ManagementUrls {
    pub id: String,
    pub status_query_get_uri: String,
    pub send_event_post_uri: String,
    pub terminate_post_uri: String,
    pub rewind_post_uri: String,
    pub purge_history_delete_uri: String,
    pub restart_post_uri: String,
    pub suspend_post_uri: String,
    pub resume_post_uri: String,
}

impl ManagementUrls {
    /// The URLs of instance `id` under `origin`. `{eventName}` and `{text}` are literal
    /// placeholders for the caller; the query carries the hub, the connection and, when the
    /// server has one, the key.
    pub fn new(state: &ApiState, origin: &str, id: &str) -> Self {
        let base = format!("{origin}{WEBHOOK_PATH}/instances/{}", encode(id));
        let mut q = format!(
            "taskHub={}&connection={}",
            encode(state.hub_name()),
            encode(&state.options().connection_name)
        );
        if let Some(key) = &state.options().key {
            q.push_str("&code=");
            q.push_str(&encode(key));
        }
        ManagementUrls {
            id: id.to_string(),
            status_query_get_uri: format!("{base}?{q}"),
            send_event_post_uri: format!("{base}/raiseEvent/{{eventName}}?{q}"),
            terminate_post_uri: format!("{base}/terminate?reason={{text}}&{q}"),
            rewind_post_uri: format!("{base}/rewind?reason={{text}}&{q}"),
            purge_history_delete_uri: format!("{base}?{q}"),
            restart_post_uri: format!("{base}/restart?{q}"),
            suspend_post_uri: format!("{base}/suspend?reason={{text}}&{q}"),
            resume_post_uri: format!("{base}/resume?reason={{text}}&{q}"),
        }
    }
}

/// 202 with the check-status body, `Location` (the status URL) and `Retry-After: 10`.
pub(crate) fn check_status_response(state: &ApiState, origin: &str, id: &str) -> Response {
    let urls = ManagementUrls::new(state, origin, id);
    let mut response = json_response(StatusCode::ACCEPTED, &urls);
    if let Ok(location) = HeaderValue::from_str(&urls.status_query_get_uri) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("10"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_escape_all_but_unreserved() {
        assert_eq!(encode("a b+c%é/?#&="), "a%20b%2Bc%25%C3%A9%2F%3F%23%26%3D");
        assert_eq!(encode("Az09-._~"), "Az09-._~");
    }
}
