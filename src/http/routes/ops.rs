//! Routes for operators, outside the API's key check (probes and scrapers carry no function
//! key; nothing here reveals or changes an instance): `/healthz` (the process answers),
//! `/readyz` (storage answers and every component of the worker runs, with a JSON body saying
//! what is not ready) and `/metrics` (the Prometheus text format).

use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::json;

use crate::http::error::json_response;
use crate::http::ApiState;
use crate::telemetry::prometheus;

/// How long `/readyz` waits for storage.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The operator routes.
pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

async fn healthz() -> Response {
    json_response(StatusCode::OK, &json!({"status": "alive"}))
}

async fn readyz(State(state): State<ApiState>) -> Response {
    let storage = state.client().hub().probe(PROBE_TIMEOUT).await;
    let report = state.health().report(storage);
    let code = if report.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json_response(code, &report)
}

async fn metrics() -> Response {
    match prometheus::handle() {
        Some(handle) => (
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            prometheus::render(&handle),
        )
            .into_response(),
        None => json_response(
            StatusCode::NOT_FOUND,
            &json!({"Message": "metrics are off: another metrics recorder is installed in this process"}),
        ),
    }
}
