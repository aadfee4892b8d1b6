//! The key: with one set, a request must carry it as `code=` in the query or in the
//! `x-functions-key` header (401 otherwise). On the RPC prefix a loopback peer needs none, like
//! the host's local RPC listener, because the Python client never sends one; a request that came
//! through a proxy (`Forwarded` or `X-Forwarded-*` headers) does not count as loopback, so a
//! reverse proxy on the same machine does not open the RPC prefix to the world.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::request::Query;
use super::ApiState;

/// Header that carries a function key.
pub(crate) const KEY_HEADER: &str = "x-functions-key";

/// Compares without stopping at the first difference.
fn same_key(given: &str, key: &str) -> bool {
    let (a, b) = (given.as_bytes(), key.as_bytes());
    let mut diff = a.len() ^ b.len();
    for (i, x) in a.iter().enumerate() {
        diff |= usize::from(x ^ b.get(i % b.len().max(1)).copied().unwrap_or(0));
    }
    diff == 0
}

/// True when the request may pass: no key is set, or it carries the right one.
fn carries_key(state: &ApiState, req: &Request) -> bool {
    let Some(key) = state.options().key.as_deref() else {
        return true;
    };
    let header_ok = req
        .headers()
        .get_all(KEY_HEADER)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| same_key(v, key));
    header_ok || Query::of(req.uri()).all("code").any(|v| same_key(v, key))
}

fn unauthorized() -> Response {
    ApiError::status(
        StatusCode::UNAUTHORIZED,
        "This server needs a key: pass it as the code query parameter or the x-functions-key header.",
    )
    .into_response()
}

/// Middleware of the public routes.
pub(crate) async fn require_key(
    State(state): State<ApiState>,
    req: Request,
    next: Next,
) -> Response {
    if carries_key(&state, &req) {
        next.run(req).await
    } else {
        unauthorized()
    }
}

/// Middleware of the RPC prefix: loopback peers pass without a key.
pub(crate) async fn require_key_unless_loopback(
    State(state): State<ApiState>,
    req: Request,
    next: Next,
) -> Response {
    let proxied = req.headers().keys().any(|k| {
        let k = k.as_str();
        k == "forwarded" || k.starts_with("x-forwarded-")
    });
    let loopback = !proxied
        && req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .is_some_and(|c| c.0.ip().is_loopback());
    if loopback || carries_key(&state, &req) {
        next.run(req).await
    } else {
        unauthorized()
    }
}

#[cfg(test)]
mod tests {
    use super::same_key;

    #[test]
    fn keys_compare_exactly() {
        assert!(same_key("s3cret", "s3cret"));
        assert!(!same_key("s3cre", "s3cret"));
        assert!(!same_key("s3cret!", "s3cret"));
        assert!(!same_key("S3cret", "s3cret"));
        assert!(!same_key("", "s3cret"));
    }
}
