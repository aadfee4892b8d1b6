//! The messages of entity traffic: an operation request and its response, carried as the input of
//! `EventRaised` events, with the field names Durable Functions uses (`op`, `signal`, `input`, `id`,
//! `parent`, `parentExecution`, `timestamp`; `result`, `exceptionType`, `failureDetails`).

use serde::{Deserialize, Serialize};

use crate::core::failure::FailureDetails;
use crate::core::history::Timestamp;

/// `EventRaised.Name` of an operation request.
pub const OPERATION_EVENT: &str = "op";

/// An operation sent to an entity, as a signal (one-way) or a call (the response goes back to
/// `parent` as an event named after `id`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestMessage {
    /// `op`: the operation name.
    #[serde(rename = "op")]
    pub operation: String,
    /// `signal`: true for a one-way signal (no response), omitted when false.
    #[serde(rename = "signal", default, skip_serializing_if = "std::ops::Not::not")]
    pub is_signal: bool,
    /// The operation input as JSON text.
    #[serde(rename = "input", default, skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    /// Request id; a call's response is raised on the caller under this name.
    #[serde(rename = "id")]
    pub id: String,
    /// `parent`: the calling orchestration's instance id, for a call (where the response goes).
    #[serde(rename = "parent", default, skip_serializing_if = "Option::is_none")]
    pub parent_instance_id: Option<String>,
    /// `parentExecution`: the calling orchestration's execution id, for a call.
    #[serde(
        rename = "parentExecution",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub parent_execution_id: Option<String>,
    /// `timestamp`: when the request was sent (an orchestration's current time, a client's clock).
    #[serde(
        rename = "timestamp",
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub timestamp: Option<Timestamp>,
    /// Delivery time of a scheduled signal.
    #[serde(
        rename = "due",
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub scheduled_time: Option<Timestamp>,
}

impl RequestMessage {
    /// `op`, or `op@<due time>` for a scheduled signal (as Durable Functions names them).
    pub fn event_name(&self) -> String {
        match self.scheduled_time.and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        }) {
            Some(due) => format!("{OPERATION_EVENT}@{due}"),
            None => OPERATION_EVENT.to_string(),
        }
    }

    /// The request as the JSON text carried in the `EventRaised` input.
    pub fn to_json(&self) -> String {
        // A struct of strings and timestamps always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// The result of an entity call, raised on the caller.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ResponseMessage {
    /// The operation's result as JSON text.
    #[serde(rename = "result", default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    /// `exceptionType`: the error type of a failed operation (the error message is then in
    /// `result`).
    #[serde(
        rename = "exceptionType",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub exception_type: Option<String>,
    /// `failureDetails`: the failure of a failed operation (taskhub entities always send it; it
    /// wins over `exceptionType` when decoding).
    #[serde(
        rename = "failureDetails",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub failure_details: Option<FailureDetails>,
}

/// Turns a response event's input into the call's result or failure.
pub fn decode_response(input: Option<&str>) -> Result<Option<String>, FailureDetails> {
    let response: ResponseMessage = serde_json::from_str(input.unwrap_or("{}")).map_err(|e| {
        FailureDetails::new("InvalidEntityResponse", format!("bad entity response: {e}"))
    })?;
    if let Some(f) = response.failure_details {
        return Err(f);
    }
    if let Some(t) = response.exception_type {
        return Err(FailureDetails::new(t, response.result.unwrap_or_default()));
    }
    Ok(response.result)
}
