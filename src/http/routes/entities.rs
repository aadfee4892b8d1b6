//! Entities: signal (`POST`, and `DELETE` = the `delete` operation), read the state, list
//! (`docs/http-api.md`, "Routes"). The name is case-insensitive (lowercased), the key is not.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;
use serde_json::Value;

use super::check_hub;
use super::instances::{continuation, page_response, page_size};
use crate::backend::{EntityFilter, InstanceQuery};
use crate::core::entity::EntityState;
use crate::core::EntityId;
use crate::http::error::{empty, json_response, ApiError};
use crate::http::request::{is_json_content, read_body, Query};
use crate::http::status::{format_ticks, json_or_text};
use crate::http::ApiState;

/// The entity of a URL, or 400.
fn entity_id(name: &str, key: &str) -> Result<EntityId, ApiError> {
    if let Some(c) = key
        .chars()
        .find(|c| matches!(c, '/' | '\\' | '#' | '?') || c.is_control())
    {
        return Err(ApiError::argument(format!(
            "Entity keys must not contain /, \\, #, ? or control characters; found {c:?}."
        )));
    }
    EntityId::new(name, key).map_err(|e| ApiError::argument(e.to_string()))
}

/// `POST|DELETE …/entities/{name}` without a key.
pub(crate) async fn missing_key(req: Request) -> ApiError {
    ApiError::bad_request(format!(
        "An entity key is required: {} {}/{{entityKey}}.",
        req.method(),
        req.uri().path()
    ))
}

/// `POST …/entities/{name}/{key}?op=…`: 202. An `application/json` body is the operation's
/// input; any other body is the input as a string; no body, no input.
pub(crate) async fn signal(
    State(state): State<ApiState>,
    path: Result<Path<(String, String)>, PathRejection>,
    req: Request,
) -> Result<Response, ApiError> {
    let Path((name, key)) = path?;
    let (parts, body) = req.into_parts();
    let query = Query::of(&parts.uri);
    check_hub(&state, &query)?;
    let id = entity_id(&name, &key)?;
    let operation = query.get("op").unwrap_or("").to_string();
    let body = read_body(&parts.headers, body, state.options().max_body_bytes).await?;
    let input = if body.is_empty() {
        None
    } else if is_json_content(&parts.headers) {
        let v: Value = serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("Could not parse JSON content: {e}")))?;
        Some(v.to_string())
    } else {
        let text = String::from_utf8(body.to_vec())
            .map_err(|_| ApiError::bad_request("The request body is not UTF-8 text."))?;
        Some(Value::String(text).to_string())
    };
    state
        .client()
        .signal_entity(&id, &operation, input.as_deref(), None)
        .await?;
    Ok(empty(StatusCode::ACCEPTED))
}

/// `DELETE …/entities/{name}/{key}`: signals the `delete` operation; 202.
pub(crate) async fn delete(
    State(state): State<ApiState>,
    path: Result<Path<(String, String)>, PathRejection>,
    req: Request,
) -> Result<Response, ApiError> {
    let Path((name, key)) = path?;
    check_hub(&state, &Query::of(req.uri()))?;
    let id = entity_id(&name, &key)?;
    state
        .client()
        .signal_entity(&id, "delete", None, None)
        .await?;
    Ok(empty(StatusCode::ACCEPTED))
}

/// `GET …/entities/{name}/{key}`: 200 with the state itself as the body, 404 (no body) when the
/// entity does not exist or has no state. A key of `$` is the empty key.
pub(crate) async fn state(
    State(state): State<ApiState>,
    path: Result<Path<(String, String)>, PathRejection>,
    req: Request,
) -> Result<Response, ApiError> {
    let Path((name, key)) = path?;
    check_hub(&state, &Query::of(req.uri()))?;
    if key == "$" {
        // Entity ids here always have a key, so the empty key names nothing.
        return Err(ApiError::not_found());
    }
    let id = entity_id(&name, &key)?;
    match state.client().entity(&id).await? {
        Some(view) if view.state.is_some() => Ok(json_response(
            StatusCode::OK,
            &json_or_text(view.state.as_deref()),
        )),
        _ => Err(ApiError::not_found()),
    }
}

/// One item of an entity list.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct EntityItem {
    entity_id: EntityKey,
    last_operation_time: String,
    state: Value,
}

#[derive(Debug, Serialize)]
struct EntityKey {
    name: String,
    key: String,
}

/// `GET …/entities`.
pub(crate) async fn list_all(
    State(state): State<ApiState>,
    req: Request,
) -> Result<Response, ApiError> {
    list(state, None, req).await
}

/// `GET …/entities/{name}`.
pub(crate) async fn list_named(
    State(state): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
    req: Request,
) -> Result<Response, ApiError> {
    let Path(name) = path?;
    list(state, Some(name), req).await
}

/// One page of existing entities (`state` only with `fetchState=true`) and the continuation
/// header. A page may hold fewer than `top` items when more exist.
async fn list(state: ApiState, name: Option<String>, req: Request) -> Result<Response, ApiError> {
    let query = Query::of(req.uri());
    check_hub(&state, &query)?;
    let fetch_state = query.bool("fetchState", false);
    let from = query.time("lastOperationTimeFrom");
    let to = query.time("lastOperationTimeTo");
    let filter = InstanceQuery {
        entities: EntityFilter::Only,
        instance_id_prefix: name.map(|n| format!("@{}@", n.to_lowercase())),
        show_input: true,
        ..InstanceQuery::default()
    };
    let token = continuation(&req);
    let page = state
        .client()
        .list(&filter, Some(page_size(&query)), token.as_deref())
        .await?;
    let mut items = Vec::new();
    for row in page.instances {
        let Ok(id) = EntityId::parse(&row.instance_id) else {
            continue;
        };
        let Ok(entity) = EntityState::from_input(row.input.as_deref()) else {
            continue;
        };
        if !entity.exists() {
            continue;
        }
        let Some(last) = row.last_updated_time.or(row.created_time) else {
            continue;
        };
        if from.is_some_and(|f| last < f) || to.is_some_and(|t| last > t) {
            continue;
        }
        items.push(EntityItem {
            entity_id: EntityKey {
                name: id.name().to_string(),
                key: id.key().to_string(),
            },
            last_operation_time: format_ticks(last),
            state: if fetch_state {
                json_or_text(entity.state.as_deref())
            } else {
                Value::Null
            },
        });
    }
    Ok(page_response(
        &items,
        page.continuation.map(|c| c.to_token()),
    ))
}
