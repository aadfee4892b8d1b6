//! The messages of entity traffic: an operation request and its response, carried as the input of
//! `EventRaised` events, with the field names Durable Functions uses (`op`, `signal`, `input`, `id`,
//! `parent`, `parentExecution`, `timestamp`; `result`, `exceptionType`, `failureDetails`).

use serde::{Deserialize, Serialize};

use crate::core::failure::FailureDetails;
use crate::core::history::Timestamp;
use crate::core::instance::EntityId;

/// `EventRaised.Name` of an operation request.
pub const OPERATION_EVENT: &str = "op";

/// An operation sent to an entity, as a signal (one-way) or a call (the response goes back to
/// `parent` as an event named after `id`), or a lock request of a critical section (`lockset`).
///
/// Fields are declared in the reference's order: its reader finds `id` by skipping only `op`,
/// `signal` and `input` before it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RequestMessage {
    /// `op`: the operation name; empty for a lock request (written `null`, as the reference does).
    #[serde(rename = "op", with = "empty_as_null")]
    pub operation: String,
    /// `signal`: true for a one-way signal (no response), omitted when false.
    #[serde(rename = "signal", default, skip_serializing_if = "std::ops::Not::not")]
    pub is_signal: bool,
    /// The operation input as JSON text.
    #[serde(rename = "input", default, skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    /// Request id; a call's response (or a lock grant) is raised on the caller under this name.
    #[serde(rename = "id")]
    pub id: String,
    /// `parent`: the calling orchestration's instance id, for a call or a lock request.
    #[serde(rename = "parent", default, skip_serializing_if = "Option::is_none")]
    pub parent_instance_id: Option<String>,
    /// `parentExecution`: the calling orchestration's execution id.
    #[serde(
        rename = "parentExecution",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub parent_execution_id: Option<String>,
    /// Delivery time of a scheduled signal.
    #[serde(
        rename = "due",
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub scheduled_time: Option<Timestamp>,
    /// `Timestamp`: when the request was sent (an orchestration's current time, a client's
    /// clock); from one orchestration to one entity, strictly increasing. Written with seven
    /// fractional digits, as .NET reads dates.
    #[serde(
        rename = "Timestamp",
        alias = "timestamp",
        default,
        with = "dotnet_time"
    )]
    pub timestamp: Option<Timestamp>,
    /// `Predecessor`: the `Timestamp` of the sender's previous request to this entity, so the
    /// receiver can put them in order (.NET's "no date" when there was none).
    #[serde(rename = "Predecessor", default, with = "dotnet_time")]
    pub predecessor: Option<Timestamp>,
    /// `lockset`: the entities a lock request locks, in the order they are locked.
    #[serde(rename = "lockset", default, skip_serializing_if = "Option::is_none")]
    pub lock_set: Option<Vec<LockedEntity>>,
    /// `pos`: which entity of `lockset` this lock request is at (0: the first).
    #[serde(rename = "pos", default, skip_serializing_if = "is_zero")]
    pub position: usize,
    /// `IsLockRequest`: written beside `lockset` (`to_json` keeps it equal to
    /// `lockset.is_some()`; readers here go by `lockset`).
    #[serde(rename = "IsLockRequest", default)]
    pub is_lock_request: bool,
    /// `createTrace`: the reference's tracing flag, always written.
    #[serde(rename = "createTrace", default)]
    pub create_trace: bool,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// One entity of a lock set, as the reference writes an `EntityId`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LockedEntity {
    /// The entity name (lowercase).
    pub name: String,
    /// The entity key.
    pub key: String,
}

impl From<&EntityId> for LockedEntity {
    fn from(id: &EntityId) -> Self {
        LockedEntity {
            name: id.name().to_string(),
            key: id.key().to_string(),
        }
    }
}

impl LockedEntity {
    /// The instance id of the entity, `@name@key`.
    pub fn instance_id(&self) -> String {
        format!("@{}@{}", self.name, self.key)
    }
}

/// `EventRaised.Name` of a lock release.
pub const RELEASE_EVENT: &str = "release";
/// `EventRaised.Name` of the reference's "continue" self-message (resumes a suspended batch).
pub const CONTINUE_EVENT: &str = "continue";
/// The `result` of the response that grants a critical section's last lock.
pub const LOCK_GRANTED: &str = "Lock Acquisition Completed";

/// A critical section's release of one entity (`{"parent","id"}`), named `release`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReleaseMessage {
    /// The orchestration that held the lock.
    #[serde(rename = "parent", default)]
    pub parent_instance_id: Option<String>,
    /// The critical section's id (its lock request's id).
    #[serde(rename = "id", default)]
    pub id: Option<String>,
}

/// A lock request's `op`, an empty name, is written `null` and `null` is read as empty.
mod empty_as_null {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(op: &str, s: S) -> Result<S::Ok, S::Error> {
        if op.is_empty() {
            s.serialize_none()
        } else {
            s.serialize_str(op)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
    }
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

    /// True for a critical section's lock request (it carries a lock set).
    pub fn is_lock(&self) -> bool {
        self.lock_set.is_some()
    }

    /// The request as the JSON text carried in the `EventRaised` input, `IsLockRequest` set
    /// from `lockset` as the reference computes it.
    pub fn to_json(&self) -> String {
        // A struct of strings and timestamps always serializes.
        if self.is_lock_request != self.is_lock() {
            let mut fixed = self.clone();
            fixed.is_lock_request = fixed.is_lock();
            return serde_json::to_string(&fixed).unwrap_or_default();
        }
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

    /// .NET's `DateTime.MinValue`, what the reference writes for "no date".
    const NO_DATE: &str = "0001-01-01T00:00:00";

    pub fn serialize<S: Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&crate::timestamps::ticks(*t)),
            None => s.serialize_str(NO_DATE),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
        let Some(text) = Option::<String>::deserialize(d)? else {
            return Ok(None);
        };
        if text.starts_with(NO_DATE) {
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
            ..Default::default()
        }
    }

    #[test]
    fn always_written_fields_are_written_and_a_lock_request_has_a_null_op() {
        let t = datetime!(2024-05-01 10:00:00 UTC);
        let json = request(t, None).to_json();
        assert!(
            json.ends_with(
                r#""Predecessor":"0001-01-01T00:00:00","IsLockRequest":false,"createTrace":false}"#
            ),
            "{json}"
        );
        let lock = RequestMessage {
            id: "l1".into(),
            parent_instance_id: Some("o".into()),
            lock_set: Some(vec![LockedEntity {
                name: "counter".into(),
                key: "k".into(),
            }]),
            position: 1,
            ..Default::default()
        };
        let json = lock.to_json();
        assert!(
            json.starts_with(r#"{"op":null,"id":"l1","parent":"o""#),
            "{json}"
        );
        assert!(
            json.contains(
                r#""lockset":[{"name":"counter","key":"k"}],"pos":1,"IsLockRequest":true"#
            ),
            "{json}"
        );
        let back: RequestMessage = serde_json::from_str(&json).unwrap();
        assert!(back.is_lock());
        assert_eq!(back.operation, "");
        assert_eq!(back.position, 1);
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
