//! The web dashboard at `/dashboard`: a page served from the binary (no internet, no build step)
//! that reads the task hub through JSON endpoints under `/dashboard/api/` (`docs/dashboard.md`).
//!
//! Files: `assets.rs` (the embedded page, script, styles and the vendored uPlot, with their
//! headers), `api.rs` (the read endpoints: overview, counts, throughput, instances, starts,
//! one instance, its history and timeline, entities, partitions, poison), `shape.rs` (how those
//! answers are shaped: previews of large values, history rows, timeline spans, histograms).
//!
//! # Rules
//! - The page and its assets hold no data, so they are served without the key; every endpoint
//!   under `/dashboard/api/` needs it when one is set (the API's rule, `auth::require_key`),
//!   and the page asks for it once and keeps it in `sessionStorage`. Without a key the server
//!   listens on loopback only (`HttpOptions::effective_listen`).
//! - Actions (terminate, suspend, resume, restart, rewind, raise event, purge) are `POST`s that
//!   must carry `Content-Type: application/json` (which a cross-site form cannot send without a
//!   preflight this server never grants); they run the HTTP API's own handlers, so their checks
//!   and answers are the API's.
//! - The page renders every value from storage as text (`textContent`, never `innerHTML`), and
//!   its Content-Security-Policy allows no inline script, so an id or output holding `<script>`
//!   stays inert.
//! - Reads go through [`crate::client::Client`] and the backend's read APIs only.

mod api;
mod assets;
mod shape;

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use super::auth;
use super::error::ApiError;
use super::request::is_json_content;
use super::routes::instances;
use super::ApiState;

/// Where the dashboard is served.
pub const DASHBOARD_PATH: &str = "/dashboard";

/// The dashboard's routes: the page and its assets, and the key-checked API.
pub(crate) fn routes(state: ApiState) -> Router<ApiState> {
    let reads = Router::new()
        .route("/dashboard/api/overview", get(api::overview))
        .route("/dashboard/api/counts", get(api::counts))
        .route("/dashboard/api/throughput", get(api::throughput))
        .route("/dashboard/api/instances", get(api::instances))
        .route("/dashboard/api/starts", get(api::starts))
        .route("/dashboard/api/instances/{id}", get(api::instance))
        .route(
            "/dashboard/api/instances/{id}/value/{which}",
            get(api::value),
        )
        .route("/dashboard/api/instances/{id}/history", get(api::history))
        .route(
            "/dashboard/api/instances/{id}/history/{index}",
            get(api::event),
        )
        .route("/dashboard/api/instances/{id}/timeline", get(api::timeline))
        .route("/dashboard/api/entities", get(api::entities))
        .route("/dashboard/api/partitions", get(api::partitions))
        .route("/dashboard/api/poison", get(api::poison));
    // The API's handlers, mounted as POSTs: `purge` is the API's DELETE, `{operation}` is
    // terminate | suspend | resume | rewind | restart. A static segment wins over `{operation}`.
    let actions = Router::new()
        .route(
            "/dashboard/api/instances/{id}/purge",
            post(instances::purge),
        )
        .route(
            "/dashboard/api/instances/{id}/{operation}",
            post(instances::operation),
        )
        .route(
            "/dashboard/api/instances/{id}/{operation}/{event}",
            post(instances::raise_event),
        )
        .layer(middleware::from_fn(json_only));
    let api = reads
        .merge(actions)
        .layer(middleware::from_fn_with_state(state, auth::require_key));
    Router::new()
        .route(DASHBOARD_PATH, get(assets::page))
        .route("/dashboard/assets/{file}", get(assets::asset))
        .merge(api)
}

/// Refuses an action that is not `application/json` (415), so that no plain cross-site form
/// can trigger one.
async fn json_only(req: Request, next: Next) -> Response {
    if is_json_content(req.headers()) {
        next.run(req).await
    } else {
        ApiError::status(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Dashboard actions need Content-Type: application/json.",
        )
        .into_response()
    }
}
