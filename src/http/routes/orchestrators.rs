//! Starting orchestrations: `POST …/orchestrators/{functionName}[/{instanceId}]` (the webhook
//! route and the seed's `/api/orchestrators` starter).
//!
//! The body, when there is one, is the input (any content type; invalid JSON is 400). Without
//! `timeout` and `pollingInterval` the reply is 202 with the check-status body; with both, the
//! request waits: Completed → 200 with the output, Failed/Terminated/Canceled → 200 with the
//! status, still running at the timeout → the 202.

use std::time::{Duration, Instant};

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::check_hub;
use crate::client::StartRequest;
use crate::core::OrchestrationStatus;
use crate::http::error::{json_response, ApiError};
use crate::http::request::{check_instance_id, parse_json, read_body, Query};
use crate::http::status::{json_or_text, StatusBody};
use crate::http::urls::{check_status_response, origin};
use crate::http::ApiState;

/// Shortest polling interval honoured while waiting.
const MIN_POLL: Duration = Duration::from_millis(50);

/// `POST …/orchestrators/{functionName}`.
pub(crate) async fn start(
    State(state): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
    req: Request,
) -> Result<Response, ApiError> {
    let Path(name) = path?;
    start_instance(state, name, None, req).await
}

/// `POST …/orchestrators/{functionName}/{instanceId}`.
pub(crate) async fn start_with_id(
    State(state): State<ApiState>,
    path: Result<Path<(String, String)>, PathRejection>,
    req: Request,
) -> Result<Response, ApiError> {
    let Path((name, id)) = path?;
    start_instance(state, name, Some(id), req).await
}

async fn start_instance(
    state: ApiState,
    name: String,
    id: Option<String>,
    req: Request,
) -> Result<Response, ApiError> {
    let (parts, body) = req.into_parts();
    let query = Query::of(&parts.uri);
    check_hub(&state, &query)?;
    let origin = origin(&state, &parts.uri, &parts.headers);
    let body = read_body(&parts.headers, body, state.options().max_body_bytes).await?;
    let input = if body.is_empty() {
        None
    } else {
        Some(parse_json(&body)?.to_string())
    };
    let id = id.filter(|i| !i.is_empty());
    if let Some(id) = &id {
        check_instance_id(id)?;
    }
    let version = query
        .get("version")
        .unwrap_or(state.options().default_version.as_str())
        .trim();
    let mut request = StartRequest {
        name,
        instance_id: id,
        input,
        version: Some(version.to_string()).filter(|v| !v.is_empty()),
        ..Default::default()
    };
    // W3C trace context: the start joins the caller's trace.
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(traceparent) = header("traceparent") {
        request = request.with_trace_parent(traceparent, header("tracestate"));
    }
    let id = state.client().start(request).await?;
    tracing::debug!(instance_id = %id, "started over HTTP");
    reply_started(&state, &origin, &id, &query).await
}

/// The reply to a start or restart: 202 check-status, or the wait of `timeout` and
/// `pollingInterval` when both are given.
pub(crate) async fn reply_started(
    state: &ApiState,
    origin: &str,
    id: &str,
    query: &Query,
) -> Result<Response, ApiError> {
    let (Some(timeout), Some(interval)) =
        (query.seconds("timeout"), query.seconds("pollingInterval"))
    else {
        return Ok(check_status_response(state, origin, id));
    };
    let interval = interval.max(MIN_POLL);
    let start = Instant::now();
    loop {
        if let Some(status) = state.client().status(id, true).await? {
            match status.runtime_status {
                OrchestrationStatus::Completed => {
                    let output = json_or_text(status.output.as_deref());
                    return Ok(json_response(StatusCode::OK, &output));
                }
                OrchestrationStatus::Failed
                | OrchestrationStatus::Terminated
                | OrchestrationStatus::Canceled => {
                    return Ok(json_response(
                        StatusCode::OK,
                        &StatusBody::new(&status, true),
                    ));
                }
                _ => {}
            }
        }
        let elapsed = start.elapsed();
        if elapsed >= timeout {
            return Ok(check_status_response(state, origin, id));
        }
        tokio::time::sleep(interval.min(timeout - elapsed)).await;
    }
}
