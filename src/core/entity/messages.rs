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
    /// `Timestamp`: when the request was sent (an orchestration's current time, a client's
    /// clock); from one orchestration to one entity, strictly increasing. Written with seven
    /// fractional digits, as .NET reads dates.
    #[serde(
        rename = "Timestamp",
        alias = "timestamp",
        default,
        skip_serializing_if = "Option::is_none",
        with = "dotnet_time"
    )]
    pub timestamp: Option<Timestamp>,
    /// `Predecessor`: the `Timestamp` of the sender's previous request to this entity, so the
    /// receiver can put them in order.
    #[serde(
        rename = "Predecessor",
        default,
        skip_serializing_if = "Option::is_none",
        with = "dotnet_time"
    )]
    pub predecessor: Option<Timestamp>,
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

/// The order of one sender's requests to each target: a .NET entity's message sorter drops a
/// request whose `Timestamp` is not later than the last it took from the same sender, so
/// requests sent at one orchestration time (one turn) must still get increasing stamps.
#[derive(Debug, Clone, Default)]
pub struct SendOrder {
    last: std::collections::HashMap<String, Timestamp>,
}

impl SendOrder {
    /// `(Timestamp, Predecessor)` of a request to `target` sent at `now`: `now`, or 100 ns (one
    /// .NET tick) after the previous request to it, whichever is later; and that previous
    /// request's stamp.
    pub fn stamp(&mut self, target: &str, now: Timestamp) -> (Timestamp, Option<Timestamp>) {
        let previous = self.last.get(target).copied();
        let tick = time::Duration::nanoseconds(100);
        let at = match previous {
            Some(p) if p + tick > now => p + tick,
            _ => now,
        };
        self.last.insert(target.to_string(), at);
        (at, previous)
    }
}

/// Optional dates as .NET writes and reads them: UTC with seven fractional digits; any
/// RFC 3339 date is read, and .NET's "no date" (`0001-01-01T00:00:00`, no zone) is none.
mod dotnet_time {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::core::history::Timestamp;

    pub fn serialize<S: Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&crate::timestamps::ticks(*t)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
        let Some(text) = Option::<String>::deserialize(d)? else {
            return Ok(None);
        };
        if text.starts_with("0001-01-01") {
            return Ok(None);
        }
        time::OffsetDateTime::parse(&text, &time::format_description::well_known::Rfc3339)
            .map(Some)
            .map_err(serde::de::Error::custom)
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

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn request(timestamp: Timestamp, predecessor: Option<Timestamp>) -> RequestMessage {
        RequestMessage {
            operation: "add".into(),
            is_signal: true,
            input: Some("1".into()),
            id: "r1".into(),
            parent_instance_id: None,
            parent_execution_id: None,
            timestamp: Some(timestamp),
            predecessor,
            scheduled_time: None,
        }
    }

    #[test]
    fn requests_of_one_turn_to_one_entity_get_increasing_stamps() {
        let now = datetime!(2024-05-01 10:00:00 UTC);
        let mut order = SendOrder::default();
        let (a, pa) = order.stamp("@counter@k", now);
        let (b, pb) = order.stamp("@counter@k", now);
        let (other, po) = order.stamp("@counter@j", now);
        assert_eq!((a, pa), (now, None));
        assert_eq!(b, now + time::Duration::nanoseconds(100));
        assert_eq!(pb, Some(a));
        assert_eq!((other, po), (now, None), "each target has its own order");
        // A later turn's time wins over the last stamp plus a tick.
        let later = now + time::Duration::seconds(1);
        assert_eq!(order.stamp("@counter@k", later), (later, Some(b)));
    }

    #[test]
    fn stamps_are_written_as_dotnet_reads_them_and_read_in_both_spellings() {
        let t = datetime!(2024-05-01 10:00:00.123456789 UTC);
        let json = request(t, Some(t)).to_json();
        assert!(
            json.starts_with(r#"{"op":"add","signal":true,"input":"1","id":"r1""#),
            "{json}"
        );
        assert!(
            json.contains(r#""Timestamp":"2024-05-01T10:00:00.1234567Z""#),
            "{json}"
        );
        assert!(
            json.contains(r#""Predecessor":"2024-05-01T10:00:00.1234567Z""#),
            "{json}"
        );
        let ours: RequestMessage =
            serde_json::from_str(r#"{"op":"x","id":"1","timestamp":"2024-05-01T10:00:00Z"}"#)
                .unwrap();
        assert_eq!(ours.timestamp, Some(datetime!(2024-05-01 10:00:00 UTC)));
        let dotnet: RequestMessage = serde_json::from_str(
            r#"{"op":"x","id":"1","Timestamp":"2024-05-01T10:00:00.1234567Z","Predecessor":"0001-01-01T00:00:00"}"#,
        )
        .unwrap();
        assert!(dotnet.timestamp.is_some());
        assert_eq!(dotnet.predecessor, None);
    }
}
