//! The dashboard's files, embedded in the binary: the page, its script and styles, and the
//! vendored uPlot (`assets/vendor/README.md` says which version and from where). Served with
//! a strict Content-Security-Policy (scripts and styles from this server only, nothing inline
//! in markup, no frames) and `nosniff`.

use axum::extract::Path;
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::http::error::ApiError;

/// The policy of every dashboard file: nothing from elsewhere, no inline script.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Each asset: name under `/dashboard/assets/`, content type, bytes.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "dashboard.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/dashboard.js"),
    ),
    (
        "dashboard.css",
        "text/css; charset=utf-8",
        include_bytes!("assets/dashboard.css"),
    ),
    (
        "uPlot.iife.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/vendor/uPlot.iife.min.js"),
    ),
    (
        "uPlot.min.css",
        "text/css; charset=utf-8",
        include_bytes!("assets/vendor/uPlot.min.css"),
    ),
    (
        "uPlot.LICENSE",
        "text/plain; charset=utf-8",
        include_bytes!("assets/vendor/uPlot.LICENSE"),
    ),
];

const PAGE: &str = include_str!("assets/index.html");

fn with_headers(content_type: &'static str, body: &'static [u8], cache: &'static str) -> Response {
    let mut r = (StatusCode::OK, body).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        HeaderName::from_static("referrer-policy"),
        HeaderValue::from_static("no-referrer"),
    );
    r
}

/// `GET /dashboard`: the page.
pub(super) async fn page() -> Response {
    with_headers("text/html; charset=utf-8", PAGE.as_bytes(), "no-cache")
}

/// `GET /dashboard/assets/{file}`.
pub(super) async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        // Revalidated each load: a new binary may serve new files under the same names.
        Some((_, content_type, body)) => with_headers(content_type, body, "no-cache"),
        None => ApiError::status(StatusCode::NOT_FOUND, "No such dashboard file.").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_names_only_embedded_assets() {
        for (i, _) in PAGE.match_indices("assets/") {
            let rest = &PAGE[i + "assets/".len()..];
            let name = &rest[..rest.find('"').expect("quoted")];
            assert!(
                ASSETS.iter().any(|(n, _, _)| *n == name),
                "index.html names {name}, which is not embedded"
            );
        }
        assert!(
            !PAGE.contains("<script>"),
            "no inline script: the CSP forbids it"
        );
        assert!(!PAGE.contains("http://") && !PAGE.contains("https://"));
    }
}
