//! Error replies, and the one place where a [`client::Error`] becomes a status code and a body.
//!
//! Shapes follow the Functions host (`docs/http-api.md`, "Bodies"): `{"Message": …}`, with
//! `ExceptionMessage` and `ExceptionType` when there is an exception behind it (the Python client
//! reads `ExceptionMessage` from a 400 on start). Plain 404, 410 and 202 replies have no body.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::client;

/// `Content-Type` of every JSON reply.
pub(crate) const JSON_CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// A reply that ends a request early.
#[derive(Debug)]
pub enum ApiError {
    /// A status with an empty body (the host's plain 404 and 410).
    Empty(StatusCode),
    /// A status with a JSON body.
    Json(StatusCode, Value),
}

const ARGUMENT_MESSAGE: &str = "One or more of the arguments submitted is incorrect";
const INTERNAL_MESSAGE: &str = "Something went wrong while processing your request";

impl ApiError {
    /// 400 `{"Message": message}`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::Json(
            StatusCode::BAD_REQUEST,
            json!({ "Message": message.into() }),
        )
    }

    /// 400 in the shape of an `ArgumentException` escaping a host handler; `detail` becomes
    /// `ExceptionMessage`, which the Python client raises.
    pub fn argument(detail: impl Into<String>) -> Self {
        ApiError::Json(
            StatusCode::BAD_REQUEST,
            json!({
                "Message": ARGUMENT_MESSAGE,
                "ExceptionMessage": detail.into(),
                "ExceptionType": "System.ArgumentException",
            }),
        )
    }

    /// 400 for a body that is not JSON.
    pub fn invalid_json(detail: impl std::fmt::Display) -> Self {
        ApiError::Json(
            StatusCode::BAD_REQUEST,
            json!({
                "Message": "Invalid JSON content",
                "ExceptionMessage": detail.to_string(),
                "ExceptionType": "Newtonsoft.Json.JsonReaderException",
            }),
        )
    }

    /// 500 in the host's catch-all shape, with what went wrong.
    pub fn internal(detail: impl Into<String>, exception_type: &str) -> Self {
        ApiError::Json(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({
                "Message": INTERNAL_MESSAGE,
                "ExceptionMessage": detail.into(),
                "ExceptionType": exception_type,
            }),
        )
    }

    /// 404 with no body (unknown instance or entity).
    pub fn not_found() -> Self {
        ApiError::Empty(StatusCode::NOT_FOUND)
    }

    /// 410 with no body (the instance has finished).
    pub fn gone() -> Self {
        ApiError::Empty(StatusCode::GONE)
    }

    /// A JSON error with any status.
    pub fn status(code: StatusCode, message: impl Into<String>) -> Self {
        ApiError::Json(code, json!({ "Message": message.into() }))
    }

    /// The HTTP status of the reply.
    pub fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Empty(s) | ApiError::Json(s, _) => *s,
        }
    }
}

impl From<client::Error> for ApiError {
    fn from(e: client::Error) -> Self {
        use client::Error as E;
        match e {
            E::InvalidInput(m) => ApiError::argument(m),
            E::NotFound(_) => ApiError::not_found(),
            // The host answers 500 (its catch-all); a 409 with a JSON body says what happened and
            // the Python client raises it all the same.
            e @ E::AlreadyRunning { .. } => ApiError::Json(
                StatusCode::CONFLICT,
                json!({
                    "Message": "An orchestration with this instance id is already running.",
                    "ExceptionMessage": e.to_string(),
                    "ExceptionType": "DurableTask.Core.Exceptions.OrchestrationAlreadyExistsException",
                }),
            ),
            E::WrongState { .. } => ApiError::gone(),
            e @ E::Timeout { .. } => ApiError::internal(e.to_string(), "System.TimeoutException"),
            e => {
                tracing::warn!(error = %e, "HTTP request failed in the backend");
                ApiError::internal(e.to_string(), "System.Exception")
            }
        }
    }
}

impl From<axum::extract::rejection::PathRejection> for ApiError {
    fn from(e: axum::extract::rejection::PathRejection) -> Self {
        ApiError::bad_request(format!("The request path could not be read: {e}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Empty(status) => empty(status),
            ApiError::Json(status, body) => json_response(status, &body),
        }
    }
}

/// A reply with a status and no body.
pub(crate) fn empty(status: StatusCode) -> Response {
    status.into_response()
}

/// A JSON reply.
pub(crate) fn json_response<T: serde::Serialize + ?Sized>(
    status: StatusCode,
    body: &T,
) -> Response {
    let bytes = match serde_json::to_vec(body) {
        Ok(b) => b,
        Err(e) => {
            return ApiError::internal(format!("reply not serializable: {e}"), "System.Exception")
                .into_response()
        }
    };
    let mut response = (status, bytes).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(JSON_CONTENT_TYPE),
    );
    response
}
