//! The dashboard's read endpoints (`docs/dashboard.md`): each one a JSON answer from the client
//! or the backend's read APIs. Bad input is a 400 with one message saying what is wrong, before
//! anything is read.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use futures::stream::{self, StreamExt};
use serde_json::{json, Value};
use tracing::Instrument;

use super::shape;

use crate::backend::{EntityFilter, InstanceQuery, InstanceStatus};
use crate::client;
use crate::core::history_view::{self, SpanKind};
use crate::core::tags::{parse_tag, Tags};
use crate::core::{EventKind, OrchestrationStatus};
use crate::http::error::{json_response, ApiError};
use crate::http::request::{parse_time, Query};
use crate::http::ApiState;

/// Default and largest page of the instance list.
const DEFAULT_TOP: u32 = 50;
const MAX_TOP: u32 = 1000;
/// Most instances read for the histogram of starts.
const MAX_HISTOGRAM_ROWS: usize = 50_000;
/// Most finished instances read for the throughput chart.
const MAX_THROUGHPUT_ROWS: usize = 20_000;
/// Bars of the histogram of starts.
const HISTOGRAM_BUCKETS: usize = 60;
/// Default and longest window of the throughput chart, in minutes.
const DEFAULT_THROUGHPUT_MINUTES: i64 = 15;
const MAX_THROUGHPUT_MINUTES: i64 = 24 * 60;
/// Most sub-orchestrations whose own timeline is read for a parent's.
const MAX_TIMELINE_CHILDREN: usize = 200;

fn ok(body: &Value) -> Result<Response, ApiError> {
    Ok(json_response(StatusCode::OK, body))
}

/// The whole number `key` within `range`, `default` when absent; a 400 saying so otherwise.
fn bounded<T>(
    query: &Query,
    key: &str,
    default: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<T, ApiError>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display,
{
    let Some(text) = query.non_blank(key) else {
        return Ok(default);
    };
    text.trim()
        .parse::<T>()
        .ok()
        .filter(|n| range.contains(n))
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "{key}: {text:?} is not a whole number from {} to {}.",
                range.start(),
                range.end()
            ))
        })
}

/// The instance filters of the list, the counts and the histogram: `status` (comma-separated
/// names), `name`, `from` / `to` (created time), `prefix` (of the id), `tag` (`KEY=VALUE`,
/// repeated: all must match), `entities` (`exclude`, the default, `include` or `only`).
fn filters(query: &Query) -> Result<InstanceQuery, ApiError> {
    let mut statuses = Vec::new();
    for name in query
        .all("status")
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        let s = OrchestrationStatus::parse(name).ok_or_else(|| {
            ApiError::bad_request(format!(
                "status: {name:?} is not one of Running, Completed, ContinuedAsNew, Failed, Canceled, Terminated, Pending, Suspended."
            ))
        })?;
        if !statuses.contains(&s) {
            statuses.push(s);
        }
    }
    let time = |key: &str| match query.non_blank(key) {
        None => Ok(None),
        Some(text) => parse_time(text).map(Some).ok_or_else(|| {
            ApiError::bad_request(format!(
                "{key}: {text:?} is not a time (RFC 3339, e.g. 2024-05-01T10:00:00Z)."
            ))
        }),
    };
    let mut tags = Tags::new();
    for text in query.all("tag").filter(|t| !t.trim().is_empty()) {
        let (k, v) = parse_tag(text).map_err(|e| ApiError::bad_request(format!("tag: {e}.")))?;
        tags.insert(k, v);
    }
    let entities = match query.non_blank("entities").map(str::trim) {
        None | Some("exclude") => EntityFilter::Exclude,
        Some("include") => EntityFilter::Include,
        Some("only") => EntityFilter::Only,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "entities: {other:?} is not exclude, include or only."
            )))
        }
    };
    Ok(InstanceQuery {
        statuses,
        created_from: time("from")?,
        created_to: time("to")?,
        instance_id_prefix: query.non_blank("prefix").map(str::to_string),
        name: query.non_blank("name").map(|n| n.trim().to_string()),
        tags,
        entities,
        ..InstanceQuery::default()
    })
}

/// `GET /dashboard/api/overview`: queue depths and ages, partitions, workers, poison count.
pub(super) async fn overview(State(state): State<ApiState>) -> Result<Response, ApiError> {
    let hub = state.client().hub();
    let poison_queue = hub.storage().queue(&hub.names().poison_queue());
    let (sample, partitions, poison) = tokio::join!(
        hub.scale_sample(),
        hub.partition_views(),
        poison_queue.approximate_length(),
    );
    let sample = sample.map_err(client::Error::from)?;
    let partitions = partitions.map_err(client::Error::from)?;
    let poison = match poison {
        Ok(n) => Some(n),
        Err(e) if e.is_not_found() => Some(0),
        Err(_) => None,
    };
    ok(&json!({
        "hub": state.hub_name(),
        "partitionCount": hub.names().partition_count(),
        "controlQueues": sample.control_queues,
        "workItems": sample.work_items,
        "currentWorkers": sample.current_workers,
        "partitions": partitions,
        "poisonCount": poison,
        "now": shape::ms(hub.clock().now()),
    }))
}

/// `GET /dashboard/api/counts?{filters}`: instances by status and by name (reads every
/// matching row's status and name columns: one request per thousand instances).
pub(super) async fn counts(
    State(state): State<ApiState>,
    req: Request,
) -> Result<Response, ApiError> {
    let query = filters(&Query::of(req.uri()))?;
    let counts = state.client().count(&query).await?;
    ok(&serde_json::to_value(&counts).unwrap_or(Value::Null))
}

/// `GET /dashboard/api/throughput?minutes=15`: instances finished in each minute of the last
/// `minutes`, by outcome.
pub(super) async fn throughput(
    State(state): State<ApiState>,
    req: Request,
) -> Result<Response, ApiError> {
    let query = Query::of(req.uri());
    let minutes = bounded(
        &query,
        "minutes",
        DEFAULT_THROUGHPUT_MINUTES,
        1..=MAX_THROUGHPUT_MINUTES,
    )?;
    let now = state.client().hub().clock().now();
    let since = now - time::Duration::minutes(minutes);
    let filter = InstanceQuery {
        statuses: vec![
            OrchestrationStatus::Completed,
            OrchestrationStatus::Failed,
            OrchestrationStatus::Terminated,
        ],
        last_updated_from: Some(since),
        ..InstanceQuery::default()
    };
    let times = state.client().times(&filter, MAX_THROUGHPUT_ROWS).await?;
    // One bucket per minute, the last one the current minute.
    let minute = 60_000;
    let first = shape::ms(since) - shape::ms(since).rem_euclid(minute);
    let n = ((shape::ms(now) - first) / minute + 1) as usize;
    let mut rows = vec![[0u64; 3]; n];
    for (t, status) in &times.finished {
        let at = shape::ms(*t);
        if at < first {
            continue;
        }
        let i = (((at - first) / minute) as usize).min(n - 1);
        let column = match status {
            OrchestrationStatus::Completed => 0,
            OrchestrationStatus::Failed => 1,
            _ => 2,
        };
        rows[i][column] += 1;
    }
    let buckets: Vec<Value> = rows
        .iter()
        .enumerate()
        .map(|(i, [c, f, t])| json!([first + i as i64 * minute, c, f, t]))
        .collect();
    ok(&json!({
        "minutes": minutes,
        "bucketMs": minute,
        "columns": ["start", "completed", "failed", "terminated"],
        "buckets": buckets,
        "rows": times.rows,
        "complete": times.complete,
    }))
}

/// `GET /dashboard/api/instances?{filters}&top=N&continuation=T`: one page, in the table's
/// order, and the token of the next (`null` on the last page).
pub(super) async fn instances(
    State(state): State<ApiState>,
    req: Request,
) -> Result<Response, ApiError> {
    let query = Query::of(req.uri());
    let filter = filters(&query)?;
    let top = bounded(&query, "top", DEFAULT_TOP, 1..=MAX_TOP)?;
    let page = state
        .client()
        .list(&filter, Some(top), query.non_blank("continuation"))
        .await?;
    let items: Vec<Value> = page.instances.iter().map(shape::list_item).collect();
    ok(&json!({
        "instances": items,
        "continuation": page.continuation.map(|c| c.to_token()),
    }))
}

/// `GET /dashboard/api/starts?{filters}`: a histogram of creation times of the matching
/// instances (at most [`MAX_HISTOGRAM_ROWS`] read; `complete` says whether that was all).
pub(super) async fn starts(
    State(state): State<ApiState>,
    req: Request,
) -> Result<Response, ApiError> {
    let filter = filters(&Query::of(req.uri()))?;
    let times = state.client().times(&filter, MAX_HISTOGRAM_ROWS).await?;
    let mut body = shape::histogram(&times.created, HISTOGRAM_BUCKETS);
    if let Value::Object(map) = &mut body {
        map.insert("rows".into(), json!(times.rows));
        map.insert("complete".into(), json!(times.complete));
    }
    ok(&body)
}

/// `GET /dashboard/api/instances/{id}`: its status with previews of large values.
pub(super) async fn instance(
    State(state): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path(id) = path?;
    let s = read_status(&state, &id).await?;
    ok(&shape::instance(&s))
}

/// `GET /dashboard/api/instances/{id}/value/{input|output|customStatus}`: one value in full.
pub(super) async fn value(
    State(state): State<ApiState>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path((id, which)) = path?;
    if !matches!(which.as_str(), "input" | "output" | "customStatus") {
        return Err(ApiError::bad_request(format!(
            "{which:?} is not input, output or customStatus."
        )));
    }
    let s = read_status(&state, &id).await?;
    let text = match which.as_str() {
        "input" => s.input,
        "output" => s.output,
        _ => s.custom_status,
    };
    ok(&json!({ "text": text }))
}

/// `GET /dashboard/api/instances/{id}/history`: the rows of the history table, the spans of its
/// own timeline, the parent (from `ExecutionStarted`) and the sub-orchestrations it started.
pub(super) async fn history(
    State(state): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path(id) = path?;
    let events = read_history(&state, &id).await?;
    let rows: Vec<Value> = history_view::rows(&events)
        .iter()
        .enumerate()
        .map(|(i, r)| shape::event_row(i, r))
        .collect();
    let parent = events.iter().find_map(|e| match &e.kind {
        EventKind::ExecutionStarted {
            parent_instance: Some(p),
            ..
        } => Some(json!({
            "instanceId": p.orchestration_instance.instance_id,
            "name": p.name,
        })),
        _ => None,
    });
    let spans = history_view::spans(&events);
    let children: Vec<Value> = spans
        .iter()
        .filter(|s| s.kind == SpanKind::SubOrchestration)
        .map(
            |s| json!({"instanceId": s.instance_id, "name": s.name, "outcome": s.outcome.as_str()}),
        )
        .collect();
    ok(&json!({
        "events": rows,
        "parent": parent,
        "children": children,
    }))
}

/// `GET /dashboard/api/instances/{id}/history/{index}`: one event in full.
pub(super) async fn event(
    State(state): State<ApiState>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path((id, index)) = path?;
    let index: usize = index
        .parse()
        .map_err(|_| ApiError::bad_request(format!("{index:?} is not an event position.")))?;
    let events = read_history(&state, &id).await?;
    let e = events.get(index).ok_or_else(|| {
        ApiError::bad_request(format!(
            "the history has {} events; there is none at {index}.",
            events.len()
        ))
    })?;
    ok(&shape::event(e))
}

/// `GET /dashboard/api/instances/{id}/timeline`: its spans, each sub-orchestration's with the
/// child's own spans beneath (one level; up to [`MAX_TIMELINE_CHILDREN`] children read, eight
/// at a time).
pub(super) async fn timeline(
    State(state): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path(id) = path?;
    let events = read_history(&state, &id).await?;
    let spans = history_view::spans(&events);
    let wanted: Vec<String> = spans
        .iter()
        .filter(|s| s.kind == SpanKind::SubOrchestration)
        .filter_map(|s| s.instance_id.clone())
        .take(MAX_TIMELINE_CHILDREN)
        .collect();
    let client = state.client();
    let children: Vec<(String, Vec<Value>)> = stream::iter(wanted)
        .map(|child| async move {
            let read = client.history(&child).instrument(instance_span(&child));
            let spans = match read.await {
                Ok(events) => history_view::spans(&events)
                    .iter()
                    .map(|s| shape::span(s, None))
                    .collect(),
                // A child that cannot be read (purged, say) shows without its steps.
                Err(_) => Vec::new(),
            };
            (child, spans)
        })
        .buffered(8)
        .collect()
        .await;
    let mut children: std::collections::HashMap<String, Vec<Value>> =
        children.into_iter().collect();
    let out: Vec<Value> = spans
        .iter()
        .map(|s| {
            let nested = s.instance_id.as_ref().and_then(|c| children.remove(c));
            shape::span(s, nested)
        })
        .collect();
    let end = events.last().map(|e| shape::ms(e.timestamp));
    ok(
        &json!({ "spans": out, "historyEnd": end, "truncatedChildren": spans.iter().filter(|s| s.kind == SpanKind::SubOrchestration).count() > MAX_TIMELINE_CHILDREN }),
    )
}

/// The span of a read about one instance: its storage calls log under the instance id.
fn instance_span(id: &str) -> tracing::Span {
    tracing::debug_span!("dashboard", instance_id = %id)
}

/// The instance's status with its values in full, or 404.
async fn read_status(state: &ApiState, id: &str) -> Result<InstanceStatus, ApiError> {
    async {
        state
            .client()
            .status(id, true)
            .await?
            .ok_or_else(ApiError::not_found)
    }
    .instrument(instance_span(id))
    .await
}

/// The history, or 404 when the instance does not exist (a Pending one has an empty history).
async fn read_history(
    state: &ApiState,
    id: &str,
) -> Result<Vec<crate::core::HistoryEvent>, ApiError> {
    async {
        let events = state.client().history(id).await?;
        if events.is_empty() && state.client().status(id, false).await?.is_none() {
            return Err(ApiError::not_found());
        }
        Ok(events)
    }
    .instrument(instance_span(id))
    .await
}

/// `GET /dashboard/api/entities?name=N`: every existing entity (of that name), with its state.
pub(super) async fn entities(
    State(state): State<ApiState>,
    req: Request,
) -> Result<Response, ApiError> {
    let query = Query::of(req.uri());
    let name = query.non_blank("name").map(str::trim);
    let list = state.client().list_entities(name).await?;
    let items: Vec<Value> = list
        .iter()
        .map(|e| {
            json!({
                "id": e.id,
                "name": e.name,
                "key": e.key,
                "state": shape::preview(e.state.as_deref()),
                "lastModified": e.last_modified.map(shape::ms),
            })
        })
        .collect();
    ok(&json!({ "entities": items }))
}

/// `GET /dashboard/api/partitions`: each partition's lease and queue depth.
pub(super) async fn partitions(State(state): State<ApiState>) -> Result<Response, ApiError> {
    let hub = state.client().hub();
    let views = hub.partition_views().await.map_err(client::Error::from)?;
    ok(&json!({
        "partitions": views,
        "now": shape::ms(hub.clock().now()),
    }))
}

/// `GET /dashboard/api/poison?top=N`: up to N (1–32) poison records, peeked (never taken).
pub(super) async fn poison(
    State(state): State<ApiState>,
    req: Request,
) -> Result<Response, ApiError> {
    let query = Query::of(req.uri());
    let top: u8 = bounded(&query, "top", 32, 1..=32)?;
    let hub = state.client().hub();
    let records = hub.peek_poison(top).await.map_err(client::Error::from)?;
    let items: Vec<Value> = records
        .iter()
        .map(|r| {
            let about = r.about();
            json!({
                "reason": r.reason,
                "sourceQueue": r.source_queue,
                "messageId": r.message_id,
                "dequeueCount": r.dequeue_count,
                "insertedOn": shape::ms(r.inserted_on),
                "instanceId": about.as_ref().map(|a| &a.0),
                "eventType": about.as_ref().map(|a| &a.1),
                "message": shape::preview(r.message.as_deref()),
                "messageBlob": r.message_blob,
            })
        })
        .collect();
    ok(&json!({ "records": items, "queue": hub.names().poison_queue() }))
}
