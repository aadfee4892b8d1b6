//! The route table: one module per route group, mounted under the webhook path (and the starter
//! prefix) with the key check, and under the RPC prefix with the loopback exemption. Unknown
//! paths get 404 and unknown methods 405, both with a JSON body; a panicking handler gets 500.

mod entities;
pub(in crate::http) mod instances;
mod ops;
mod orchestrators;

use std::panic::AssertUnwindSafe;

use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use futures::FutureExt;

use super::auth;
use super::error::ApiError;
use super::request::Query;
use super::{ApiState, RPC_PATH, STARTER_PATH, WEBHOOK_PATH};

/// The routes of the webhook API under `prefix`.
fn api_routes(prefix: &str) -> Router<ApiState> {
    Router::new()
        .route(
            &format!("{prefix}/orchestrators/{{name}}"),
            post(orchestrators::start),
        )
        .route(
            &format!("{prefix}/orchestrators/{{name}}/{{id}}"),
            post(orchestrators::start_with_id),
        )
        .route(
            &format!("{prefix}/instances"),
            get(instances::list).delete(instances::purge_where),
        )
        .route(
            &format!("{prefix}/instances/{{id}}"),
            get(instances::status).delete(instances::purge),
        )
        .route(
            &format!("{prefix}/instances/{{id}}/{{operation}}"),
            post(instances::operation),
        )
        .route(
            &format!("{prefix}/instances/{{id}}/{{operation}}/{{event}}"),
            post(instances::raise_event),
        )
        .route(&format!("{prefix}/entities"), get(entities::list_all))
        .route(
            &format!("{prefix}/entities/{{name}}"),
            get(entities::list_named)
                .post(entities::missing_key)
                .delete(entities::missing_key),
        )
        .route(
            &format!("{prefix}/entities/{{name}}/{{key}}"),
            get(entities::state)
                .post(entities::signal)
                .delete(entities::delete),
        )
}

/// The whole API.
pub(crate) fn router(state: ApiState) -> Router {
    let public = api_routes(WEBHOOK_PATH)
        .route(
            &format!("{STARTER_PATH}/{{name}}"),
            post(orchestrators::start),
        )
        .route(
            &format!("{STARTER_PATH}/{{name}}/{{id}}"),
            post(orchestrators::start_with_id),
        )
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_key,
        ));
    let rpc = api_routes(RPC_PATH)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_key_unless_loopback,
        ));
    public
        .merge(rpc)
        .merge(ops::routes())
        .merge(super::dashboard::routes(state.clone()))
        .fallback(not_found)
        .layer(middleware::from_fn(guard))
        .with_state(state)
}

/// The operator routes alone (`taskhub worker --metrics`).
pub(crate) fn operations_router(state: ApiState) -> Router {
    ops::routes()
        .fallback(not_found)
        .layer(middleware::from_fn(guard))
        .with_state(state)
}

/// 404 for a path no route serves.
async fn not_found(req: Request) -> Response {
    ApiError::status(
        StatusCode::NOT_FOUND,
        format!("No route serves {} {}.", req.method(), req.uri().path()),
    )
    .into_response()
}

/// 405 for a method the route does not serve.
async fn method_not_allowed(req: Request) -> Response {
    ApiError::status(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{} is not allowed on {}.", req.method(), req.uri().path()),
    )
    .into_response()
}

/// Outermost layer: logs method, path and status (never the query, which may hold the key) and
/// turns a panic into a JSON 500.
async fn guard(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let response = match AssertUnwindSafe(next.run(req)).catch_unwind().await {
        Ok(r) => r,
        Err(panic) => {
            let what = crate::core::registry::panic_message(panic.as_ref());
            tracing::error!(%method, %path, "HTTP handler panicked: {what}");
            ApiError::internal(
                "The request handler failed unexpectedly.",
                "System.Exception",
            )
            .into_response()
        }
    };
    let status = response.status();
    if status.is_server_error() {
        tracing::warn!(%method, %path, status = status.as_u16(), "HTTP request failed");
    } else {
        tracing::debug!(%method, %path, status = status.as_u16(), "HTTP request");
    }
    response
}

/// Refuses a `taskHub=` naming another hub than the one this server serves.
pub(crate) fn check_hub(state: &ApiState, query: &Query) -> Result<(), ApiError> {
    match query.non_blank("taskHub") {
        Some(h) if !h.trim().eq_ignore_ascii_case(state.hub_name()) => {
            Err(ApiError::bad_request(format!(
                "This server serves the task hub '{}' only, not '{}'.",
                state.hub_name(),
                h.trim()
            )))
        }
        _ => Ok(()),
    }
}

/// Adds `Retry-After`.
pub(crate) fn with_retry_after(mut response: Response, seconds: &'static str) -> Response {
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static(seconds));
    response
}
