//! Instances: status, list/query, purge one and by filter, raise event, terminate, suspend,
//! resume, rewind, restart (`docs/http-api.md`, "Routes").
//!
//! Each handler reads the instance first and answers 404 (unknown) or 410 (finished) with no
//! body before anything is sent to it, as the host does.

use std::time::Duration;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tracing::Instrument;

use super::orchestrators::reply_started;
use super::{check_hub, with_retry_after};
use crate::backend::{EntityFilter, InstanceQuery, InstanceStatus, PurgeFilter};
use crate::client::{self, Control};
use crate::core::OrchestrationStatus;
use crate::http::error::{empty, json_response, ApiError};
use crate::http::request::{is_json_content, parse_json, read_body, OriginalUri, Query};
use crate::http::status::{history_json, StatusBody};
use crate::http::urls::origin;
use crate::http::ApiState;

/// Request and response header of list paging.
pub(crate) const CONTINUATION_HEADER: &str = "x-ms-continuation-token";
/// How long a purge by filter works before it answers, unless `timeout=` says otherwise.
const DEFAULT_PURGE_BUDGET: Duration = Duration::from_secs(30);
/// The longest `timeout=` of a purge by filter: under the 230 s after which Azure's front ends
/// drop an HTTP request.
const MAX_PURGE_BUDGET: Duration = Duration::from_secs(200);
/// Default and largest page size of a list.
const DEFAULT_TOP: u32 = 100;
const MAX_TOP: u32 = 1000;

/// The page size of `top=`: the default when absent, unparseable or not positive.
pub(crate) fn page_size(query: &Query) -> u32 {
    query
        .int("top")
        .filter(|n| *n > 0)
        .map(|n| n.min(i64::from(MAX_TOP)) as u32)
        .unwrap_or(DEFAULT_TOP)
}

/// The continuation token a client sent back, if any.
pub(crate) fn continuation(req: &Request) -> Option<String> {
    req.headers()
        .get(CONTINUATION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
}

/// A JSON 200 with the continuation header (empty when there are no more pages).
pub(crate) fn page_response<T: serde::Serialize>(items: &T, next: Option<String>) -> Response {
    let mut response = json_response(StatusCode::OK, items);
    let token = HeaderValue::from_str(&next.unwrap_or_default())
        .unwrap_or_else(|_| HeaderValue::from_static(""));
    response.headers_mut().insert(CONTINUATION_HEADER, token);
    response
}

/// The instance, or 404.
async fn read(state: &ApiState, id: &str, with_input: bool) -> Result<InstanceStatus, ApiError> {
    state
        .client()
        .status(id, with_input)
        .await?
        .ok_or_else(ApiError::not_found)
}

/// `GET …/instances/{id}`: 202 while it runs (with `Location` and `Retry-After: 5`), 200 once
/// finished (500 for Failed with `returnInternalServerErrorOnFailure=true`), 404 unknown.
pub(crate) async fn status(
    State(state): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
    req: Request,
) -> Result<Response, ApiError> {
    let Path(id) = path?;
    let query = Query::of(req.uri());
    check_hub(&state, &query)?;
    let show_history = query.bool("showHistory", false);
    let show_history_output = query.bool("showHistoryOutput", false);
    let show_input = query.bool("showInput", true);
    let error_on_failure = query.bool("returnInternalServerErrorOnFailure", false);

    let s = read(&state, &id, true).await?;
    let mut body = StatusBody::new(&s, show_input);
    if show_history && s.runtime_status != OrchestrationStatus::Pending {
        let events = state.client().history(&id).await?;
        body.history_events = Some(history_json(&events, show_input, show_history_output));
    }
    use OrchestrationStatus as S;
    Ok(match s.runtime_status {
        S::Pending | S::Running | S::ContinuedAsNew | S::Suspended => {
            let mut response = json_response(StatusCode::ACCEPTED, &body);
            let original = req
                .extensions()
                .get::<OriginalUri>()
                .map(|o| o.0.clone())
                .unwrap_or_else(|| req.uri().clone());
            let path_and_query = original
                .path_and_query()
                .map(|p| p.as_str().to_string())
                .unwrap_or_default();
            let location = format!(
                "{}{}",
                origin(&state, &original, req.headers()),
                path_and_query
            );
            if let Ok(v) = HeaderValue::from_str(&location) {
                response
                    .headers_mut()
                    .insert(axum::http::header::LOCATION, v);
            }
            with_retry_after(response, "5")
        }
        S::Failed if error_on_failure => json_response(StatusCode::INTERNAL_SERVER_ERROR, &body),
        _ => json_response(StatusCode::OK, &body),
    })
}

/// `GET …/instances`: one page of status objects (no history) and the continuation header.
pub(crate) async fn list(
    State(state): State<ApiState>,
    req: Request,
) -> Result<Response, ApiError> {
    let query = Query::of(req.uri());
    check_hub(&state, &query)?;
    let show_input = query.bool("showInput", true);
    let filter = InstanceQuery {
        statuses: query.statuses("runtimeStatus"),
        created_from: query.time("createdTimeFrom"),
        created_to: query.time("createdTimeTo"),
        instance_id_prefix: query.non_blank("instanceIdPrefix").map(str::to_string),
        entities: EntityFilter::Exclude,
        show_input,
        ..Default::default()
    };
    let token = continuation(&req);
    let page = state
        .client()
        .list(&filter, Some(page_size(&query)), token.as_deref())
        .await?;
    let mut items = Vec::with_capacity(page.instances.len());
    for mut s in page.instances {
        // Without inputs the query does not resolve large values; outputs are still wanted.
        if !show_input {
            if let Some(text) = s.output.as_deref() {
                let instances = state.client().hub().instances();
                if let Some(v) = instances
                    .fetch_if_url(text)
                    .await
                    .map_err(client::Error::from)?
                {
                    s.output = Some(v);
                }
            }
        }
        items.push(StatusBody::new(&s, show_input));
    }
    Ok(page_response(
        &items,
        page.continuation.map(|c| c.to_token()),
    ))
}

/// `DELETE …/instances/{id}`: 200 `{"instancesDeleted": 1}`, 404 unknown, 400 while it runs;
/// with `recursive=true` its sub-orchestrations too (400, nothing deleted, while one runs).
pub(crate) async fn purge(
    State(state): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
    req: Request,
) -> Result<Response, ApiError> {
    let Path(id) = path?;
    check_hub(&state, &Query::of(req.uri()))?;
    let s = read(&state, &id, false).await?;
    if !s.runtime_status.is_terminal() {
        return Err(ApiError::argument(format!(
            "Instance '{id}' is {}; only completed, failed, terminated or canceled instances can be purged.",
            s.runtime_status
        )));
    }
    let result = if Query::of(req.uri()).bool("recursive", false) {
        // A live sub-orchestration refuses the whole purge, as a live root does (400).
        match state.client().purge_recursive(&id).await {
            Err(e @ client::Error::WrongState { .. }) => {
                return Err(ApiError::argument(e.to_string()))
            }
            r => r?,
        }
    } else {
        state.client().purge(&id).await?
    };
    if result.instances_deleted == 0 {
        return Err(ApiError::not_found());
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({ "instancesDeleted": result.instances_deleted }),
    ))
}

/// `DELETE …/instances?createdTimeFrom=…`: purges for at most `timeout` seconds (default 30,
/// at most [`MAX_PURGE_BUDGET`]) and answers 200 `{"instancesDeleted": n, "isComplete": b}`;
/// when not complete, the `x-ms-continuation-token` header says where the next call goes on
/// (a call without it starts over, which finds the same instances minus those deleted). 404
/// when it deleted none and none is left; 400 without `createdTimeFrom` or with a token it did
/// not issue.
pub(crate) async fn purge_where(
    State(state): State<ApiState>,
    req: Request,
) -> Result<Response, ApiError> {
    let query = Query::of(req.uri());
    check_hub(&state, &query)?;
    let Some(from) = query.time("createdTimeFrom") else {
        return Ok(json_response(
            StatusCode::BAD_REQUEST,
            &json!("Please provide value for 'createdTimeFrom' parameter."),
        ));
    };
    let filter = PurgeFilter {
        created_from: Some(from),
        created_to: Some(
            query
                .time("createdTimeTo")
                .unwrap_or_else(time::OffsetDateTime::now_utc),
        ),
        statuses: query.statuses("runtimeStatus"),
        ..PurgeFilter::default()
    };
    let budget = query
        .seconds("timeout")
        .unwrap_or(DEFAULT_PURGE_BUDGET)
        .min(MAX_PURGE_BUDGET);
    let token = continuation(&req);
    let progress = state
        .client()
        .purge_page(&filter, budget, token.as_deref())
        .await?;
    let deleted = progress.result.instances_deleted;
    if deleted == 0 && progress.continuation.is_none() {
        return Err(ApiError::not_found());
    }
    let complete = progress.continuation.is_none();
    Ok(page_response(
        &json!({ "instancesDeleted": deleted, "isComplete": complete }),
        progress.continuation,
    ))
}

/// Sends `op` to the instance, and with `recursive` to its sub-orchestrations in the
/// background: the answer (202) does not wait for the tree to apply it level by level. The
/// root's state was checked already; an error sending to the root is the answer's.
async fn control(
    state: &ApiState,
    op: Control,
    id: &str,
    reason: Option<&str>,
    recursive: bool,
) -> Result<Response, ApiError> {
    let client = state.client().clone();
    client.control(op, id, reason).await?;
    if recursive {
        let (id, reason) = (id.to_string(), reason.map(str::to_string));
        let span = tracing::info_span!("recursive", instance_id = %id, ?op);
        tokio::spawn(
            async move {
                match client.control_below(op, &id, reason.as_deref()).await {
                    Ok(o) => tracing::info!(
                        sent = o.sent.len(),
                        unsettled = o.unsettled.len(),
                        "recursive operation sent"
                    ),
                    Err(e) => tracing::warn!(error = %e, "recursive operation failed"),
                }
            }
            .instrument(span),
        );
    }
    Ok(empty(StatusCode::ACCEPTED))
}

/// `POST …/instances/{id}/{operation}`: terminate, suspend, resume, rewind, restart.
pub(crate) async fn operation(
    State(state): State<ApiState>,
    path: Result<Path<(String, String)>, PathRejection>,
    req: Request,
) -> Result<Response, ApiError> {
    let Path((id, op)) = path?;
    let op = op.to_ascii_lowercase();
    if !matches!(
        op.as_str(),
        "terminate" | "suspend" | "resume" | "rewind" | "restart"
    ) {
        let hint = if op == "raiseevent" {
            " (raiseEvent needs an event name: …/raiseEvent/{eventName})"
        } else {
            ""
        };
        return Err(ApiError::status(
            StatusCode::NOT_FOUND,
            format!("No route serves POST {}{hint}.", req.uri().path()),
        ));
    }
    let query = Query::of(req.uri());
    check_hub(&state, &query)?;
    let reason = query.get("reason");
    let recursive = query.bool("recursive", false);
    use OrchestrationStatus as S;
    match op.as_str() {
        "terminate" => {
            let s = read(&state, &id, false).await?;
            if s.runtime_status.is_terminal() {
                return Err(ApiError::gone());
            }
            control(&state, Control::Terminate, &id, reason, recursive).await
        }
        "suspend" => {
            let s = read(&state, &id, false).await?;
            match s.runtime_status {
                st if st.is_terminal() => Err(ApiError::gone()),
                S::Suspended => Err(ApiError::internal(
                    format!("Instance '{id}' is already suspended."),
                    "System.InvalidOperationException",
                )),
                _ => control(&state, Control::Suspend, &id, reason, recursive).await,
            }
        }
        "resume" => {
            let s = read(&state, &id, false).await?;
            match s.runtime_status {
                st if st.is_terminal() => Err(ApiError::gone()),
                S::Suspended => control(&state, Control::Resume, &id, reason, recursive).await,
                st => Err(ApiError::internal(
                    format!("Instance '{id}' is {st}; only a suspended instance can be resumed."),
                    "System.InvalidOperationException",
                )),
            }
        }
        "rewind" => {
            let s = read(&state, &id, false).await?;
            match s.runtime_status {
                S::Completed | S::Terminated | S::Canceled => Err(ApiError::gone()),
                // Pending: a rewind that was interrupted is finished (the client checks).
                S::Failed | S::Pending => {
                    state.client().rewind(&id, reason).await?;
                    Ok(empty(StatusCode::ACCEPTED))
                }
                st => Err(ApiError::internal(
                    format!("Instance '{id}' is {st}; rewind is only supported on failed orchestration instances."),
                    "System.InvalidOperationException",
                )),
            }
        }
        _ => {
            let new_id = query.bool("restartWithNewInstanceId", true);
            if state.client().status(&id, false).await?.is_none() {
                return Err(ApiError::bad_request(
                    "InstanceId does not match a valid orchestration instance.",
                ));
            }
            let origin = origin(&state, req.uri(), req.headers());
            let started = state.client().restart(&id, new_id).await?;
            reply_started(&state, &origin, &started, &query).await
        }
    }
}

/// `POST …/instances/{id}/raiseEvent/{eventName}`: 202; 404 unknown, 410 finished, 400 for a
/// body that is not `application/json` or not JSON.
pub(crate) async fn raise_event(
    State(state): State<ApiState>,
    path: Result<Path<(String, String, String)>, PathRejection>,
    req: Request,
) -> Result<Response, ApiError> {
    let Path((id, op, event)) = path?;
    if !op.eq_ignore_ascii_case("raiseEvent") {
        return Ok(ApiError::status(
            StatusCode::NOT_FOUND,
            format!("No route serves POST {}.", req.uri().path()),
        )
        .into_response());
    }
    let (parts, body) = req.into_parts();
    check_hub(&state, &Query::of(&parts.uri))?;
    let s = read(&state, &id, false).await?;
    if s.runtime_status.is_terminal() {
        return Err(ApiError::gone());
    }
    if !is_json_content(&parts.headers) {
        return Err(ApiError::bad_request(
            "Only application/json request content is supported",
        ));
    }
    let body = read_body(&parts.headers, body, state.options().max_body_bytes).await?;
    let data = parse_json(&body)?.to_string();
    state.client().raise_event(&id, &event, Some(&data)).await?;
    Ok(empty(StatusCode::ACCEPTED))
}
