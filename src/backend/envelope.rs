//! The queue message envelope: DTFx's `MessageData` JSON.
//!
//! We write what DurableTask.AzureStorage writes (reference §4.1): raw UTF-8 JSON with the
//! `$type` names, `EventType` as an integer, `Timestamp` (not `_Timestamp`) on the event, and the
//! target in `TaskMessage.OrchestrationInstance`. When reading we tolerate missing `$type`s,
//! `EventType` as a name, and Base64 bodies (older DTFx). A message too large for a queue is a
//! wrapper whose `CompressedBlobName` names a gzipped blob holding the real envelope
//! (`large_payload.rs`).

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::core::{EventType, HistoryEvent, OrchestrationInstance, TaskMessage};

const MESSAGE_DATA_TYPE: &str = "DurableTask.AzureStorage.MessageData";
const TASK_MESSAGE_TYPE: &str = "DurableTask.Core.TaskMessage";
const INSTANCE_TYPE: &str = "DurableTask.Core.OrchestrationInstance";

/// Process-wide order of sent messages: breaks ties between messages inserted in the same second.
static SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// Why a queue message could not be read. Such a message never becomes readable by waiting.
#[derive(Debug, thiserror::Error)]
#[error("unreadable queue message: {0}")]
pub struct EnvelopeError(pub String);

/// A message as it travels on a queue.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// A new id per sent message; also part of a large message's blob name.
    pub activity_id: Uuid,
    /// The event and its target. `None` only in a large-message wrapper.
    pub message: Option<TaskMessage>,
    /// Set on the wrapper of a large message: the blob holding the real envelope.
    pub compressed_blob_name: Option<String>,
    /// `SequenceNumber`: a process-wide counter of sent messages (from 0), which breaks ties
    /// between messages inserted in the same second.
    pub sequence_number: u64,
    /// The sender's episode (number of turns), for logs.
    pub episode: Option<i32>,
    /// `Sender`: the orchestration that sent the message; `None` for a client's (written, as
    /// the reference writes it, with empty ids: a .NET worker reads it without a null check).
    pub sender: Option<OrchestrationInstance>,
}

impl Envelope {
    /// A new envelope for `message`, with a fresh activity id and sequence number.
    pub fn new(message: TaskMessage, sender: Option<OrchestrationInstance>) -> Self {
        Envelope {
            activity_id: crate::entropy::uuid(),
            message: Some(message),
            compressed_blob_name: None,
            sequence_number: SEQUENCE.fetch_add(1, Ordering::Relaxed),
            episode: None,
            sender,
        }
    }

    /// The wrapper that stands in the queue for a large envelope stored in `blob_name`.
    pub fn wrapper(&self, blob_name: String) -> Self {
        Envelope {
            activity_id: self.activity_id,
            message: None,
            compressed_blob_name: Some(blob_name),
            sequence_number: self.sequence_number,
            episode: self.episode,
            sender: self.sender.clone(),
        }
    }

    /// The JSON text put on the queue.
    pub fn encode(&self) -> String {
        let task_message = match &self.message {
            Some(m) => json!({
                "$type": TASK_MESSAGE_TYPE,
                "Event": event_to_json(&m.event),
                "SequenceNumber": 0,
                "OrchestrationInstance": instance_json(&m.instance),
                "OrchestrationExecutionContext": null,
            }),
            None => Value::Null,
        };
        let mut v = json!({
            "$type": MESSAGE_DATA_TYPE,
            "ActivityId": self.activity_id.to_string(),
            "TaskMessage": task_message,
            "CompressedBlobName": self.compressed_blob_name,
            "SequenceNumber": self.sequence_number,
            "SerializableTraceContext": null,
        });
        if let Some(e) = self.episode {
            v["Episode"] = json!(e);
        }
        v["Sender"] = match &self.sender {
            Some(s) => json!({"InstanceId": s.instance_id, "ExecutionId": s.execution_id}),
            None => json!({"InstanceId": "", "ExecutionId": ""}),
        };
        dotnet_json(&v)
    }

    /// Reads a queue message body: JSON, or Base64 of JSON.
    pub fn decode(text: &str) -> Result<Envelope, EnvelopeError> {
        let trimmed = text.trim_start();
        let json_text;
        let body = if trimmed.starts_with('{') {
            trimmed
        } else {
            use base64::Engine;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(trimmed.trim())
                .map_err(|_| EnvelopeError("neither JSON nor Base64".into()))?;
            json_text = String::from_utf8(bytes)
                .map_err(|_| EnvelopeError("Base64 body is not UTF-8".into()))?;
            json_text.as_str()
        };
        let v: Value =
            serde_json::from_str(body).map_err(|e| EnvelopeError(format!("bad JSON: {e}")))?;
        let obj = v
            .as_object()
            .ok_or_else(|| EnvelopeError("not a JSON object".into()))?;
        let activity_id = obj
            .get("ActivityId")
            .and_then(Value::as_str)
            .and_then(|s| Uuid::parse_str(s).ok())
            .unwrap_or_else(Uuid::nil);
        let compressed_blob_name = obj
            .get("CompressedBlobName")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        let mut message = match obj.get("TaskMessage") {
            Some(Value::Object(tm)) => Some(task_message_from_json(tm)?),
            _ if compressed_blob_name.is_some() => None,
            _ => return Err(EnvelopeError("no TaskMessage".into())),
        };
        if let Some(m) = &mut message {
            if m.event.parent_trace_context.is_none() {
                m.event.parent_trace_context = legacy_trace_context(obj);
            }
        }
        Ok(Envelope {
            activity_id,
            message,
            compressed_blob_name,
            sequence_number: obj
                .get("SequenceNumber")
                .and_then(Value::as_u64)
                .unwrap_or(0),
            episode: obj
                .get("Episode")
                .and_then(Value::as_i64)
                .and_then(|e| i32::try_from(e).ok()),
            sender: obj
                .get("Sender")
                .and_then(|s| serde_json::from_value::<OrchestrationInstance>(s.clone()).ok())
                .filter(|s| !s.instance_id.is_empty()),
        })
    }
}

/// The W3C context of DurableTask's legacy correlation (`SerializableTraceContext`, written by a
/// .NET sender with `CorrelationSettings.EnableDistributedTracing`): a JSON text whose
/// `W3CTraceContext` has a `TraceParent`. Read so such a trace continues here; never written
/// (that serializer's `$id`/`$type` stack of contexts is only for its own reader, which pops
/// from it, and the event's `ParentTraceContext` carries the trace for current readers).
fn legacy_trace_context(obj: &Map<String, Value>) -> Option<crate::core::DistributedTraceContext> {
    let text = obj.get("SerializableTraceContext")?.as_str()?;
    let legacy: Value = serde_json::from_str(text).ok()?;
    let parent = crate::core::TraceParent::parse(legacy.get("TraceParent")?.as_str()?)?;
    let state = legacy
        .get("TraceState")
        .and_then(Value::as_str)
        .map(str::to_string);
    Some(crate::core::DistributedTraceContext::new(&parent, state))
}

/// JSON text as Newtonsoft's `TypeNameHandling` reads it: in every object `$type` comes first
/// (written so by construction, whatever order the map keeps), the other keys follow.
fn dotnet_json(v: &Value) -> String {
    fn write(v: &Value, out: &mut String) {
        match v {
            Value::Object(map) => {
                out.push('{');
                let typed = map.get("$type").map(|t| ("$type", t));
                let rest = map.iter().filter(|(k, _)| k.as_str() != "$type");
                let entries = typed.into_iter().chain(rest.map(|(k, v)| (k.as_str(), v)));
                for (i, (k, v)) in entries.enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(k.to_string()).to_string());
                    out.push(':');
                    write(v, out);
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(item, out);
                }
                out.push(']');
            }
            scalar => out.push_str(&scalar.to_string()),
        }
    }
    let mut out = String::new();
    write(v, &mut out);
    out
}

/// The `$type` of an event: `DurableTask.Core.History.{EventType}Event`, except
/// `GenericEvent`, whose class is named so.
fn event_type_name(t: EventType) -> String {
    match t {
        EventType::GenericEvent => "DurableTask.Core.History.GenericEvent".to_string(),
        t => format!("DurableTask.Core.History.{}Event", t.as_str()),
    }
}

/// The event's date fields, which .NET reads with at most 7 fractional digits (ticks).
const DATE_FIELDS: [&str; 3] = ["Timestamp", "FireAt", "ScheduledStartTime"];

/// `2024-05-01T10:00:00.123456789Z` → `2024-05-01T10:00:00.1234567Z`: Newtonsoft's ISO parser
/// stops after 7 fractional digits.
fn at_most_seven_digits(date: &str) -> String {
    let Some(dot) = date.find('.') else {
        return date.to_string();
    };
    let digits = date[dot + 1..]
        .find(|c: char| !c.is_ascii_digit())
        .map_or(date.len(), |i| dot + 1 + i);
    if digits - dot - 1 <= 7 {
        return date.to_string();
    }
    format!("{}{}", &date[..dot + 8], &date[digits..])
}

fn instance_json(i: &OrchestrationInstance) -> Value {
    json!({
        "$type": INSTANCE_TYPE,
        "InstanceId": i.instance_id,
        "ExecutionId": i.execution_id,
    })
}

/// The event in queue form: DTFx field names, integer `EventType`, a `$type`.
pub fn event_to_json(event: &HistoryEvent) -> Value {
    let mut v = serde_json::to_value(event).unwrap_or(Value::Null);
    if let Some(obj) = v.as_object_mut() {
        let t = event.event_type();
        obj.insert("$type".into(), json!(event_type_name(t)));
        obj.insert("EventType".into(), json!(t.as_i32()));
        for field in DATE_FIELDS {
            if let Some(Value::String(date)) = obj.get(field) {
                let date = at_most_seven_digits(date);
                obj.insert(field.into(), Value::String(date));
            }
        }
        obj.insert("IsPlayed".into(), json!(false));
        // Tags are a JSON object in messages, a JSON text in our types.
        if let Some(Value::String(tags)) = obj.get("Tags") {
            if let Ok(parsed @ Value::Object(_)) = serde_json::from_str::<Value>(tags) {
                obj.insert("Tags".into(), parsed);
            }
        }
    }
    v
}

/// Reads an event in queue form.
pub fn event_from_json(v: &Value) -> Result<HistoryEvent, EnvelopeError> {
    let mut obj: Map<String, Value> = v
        .as_object()
        .cloned()
        .ok_or_else(|| EnvelopeError("Event is not an object".into()))?;
    let event_type = match obj.get("EventType") {
        Some(Value::Number(n)) => n
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .and_then(EventType::from_i32),
        Some(Value::String(s)) => EventType::parse(s),
        _ => None,
    }
    .ok_or_else(|| EnvelopeError("Event has no known EventType".into()))?;
    obj.insert("EventType".into(), json!(event_type.as_str()));
    obj.remove("$type");
    strip_type_fields(&mut obj);
    // After the `$type`s are gone, so .NET's never reaches the stored Tags.
    if let Some(tags @ Value::Object(_)) = obj.get("Tags") {
        let text = tags.to_string();
        obj.insert("Tags".into(), Value::String(text));
    }
    serde_json::from_value(Value::Object(obj))
        .map_err(|e| EnvelopeError(format!("bad {event_type} event: {e}")))
}

/// Removes `$type` from nested objects (.NET writes them; our types do not need them).
fn strip_type_fields(obj: &mut Map<String, Value>) {
    for v in obj.values_mut() {
        if let Value::Object(inner) = v {
            inner.remove("$type");
            strip_type_fields(inner);
        }
    }
}

fn task_message_from_json(tm: &Map<String, Value>) -> Result<TaskMessage, EnvelopeError> {
    let event = event_from_json(
        tm.get("Event")
            .ok_or_else(|| EnvelopeError("TaskMessage has no Event".into()))?,
    )?;
    let instance = tm
        .get("OrchestrationInstance")
        .and_then(|i| {
            let mut i = i.clone();
            if let Some(o) = i.as_object_mut() {
                o.remove("$type");
            }
            serde_json::from_value::<OrchestrationInstance>(i).ok()
        })
        .ok_or_else(|| EnvelopeError("TaskMessage has no OrchestrationInstance".into()))?;
    Ok(TaskMessage {
        instance,
        event,
        visible_at: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::testing::{task_completed, T0};
    use crate::core::EventKind;

    #[test]
    fn round_trips_with_dtfx_shape() {
        let msg = TaskMessage {
            instance: OrchestrationInstance::new("abc", Some("9f".into())),
            event: HistoryEvent::new(T0, task_completed(0, "\"Hello world\"")),
            visible_at: None,
        };
        let env = Envelope::new(msg.clone(), Some(OrchestrationInstance::new("abc", None)));
        let text = env.encode();
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["$type"], MESSAGE_DATA_TYPE);
        assert_eq!(v["TaskMessage"]["Event"]["EventType"], 5);
        assert_eq!(
            v["TaskMessage"]["Event"]["$type"],
            "DurableTask.Core.History.TaskCompletedEvent"
        );
        assert_eq!(v["TaskMessage"]["Event"]["TaskScheduledId"], 0);
        assert_eq!(
            v["TaskMessage"]["OrchestrationInstance"]["InstanceId"],
            "abc"
        );
        let back = Envelope::decode(&text).unwrap();
        assert_eq!(back.message.unwrap(), msg);
        assert_eq!(back.activity_id, env.activity_id);
    }

    #[test]
    fn reads_the_reference_example_and_base64() {
        let text = r#"{"$type":"DurableTask.AzureStorage.MessageData",
 "ActivityId":"1b4e28ba-2fa1-41d2-883f-0016d3cca427",
 "TaskMessage":{"$type":"DurableTask.Core.TaskMessage",
   "Event":{"$type":"DurableTask.Core.History.TaskCompletedEvent","EventType":5,
            "TaskScheduledId":0,"Result":"\"Hello world\"",
            "EventId":-1,"IsPlayed":false,"Timestamp":"2024-05-01T10:00:02.5Z"},
   "SequenceNumber":0,
   "OrchestrationInstance":{"$type":"DurableTask.Core.OrchestrationInstance","InstanceId":"abc","ExecutionId":"9f0c"},
   "OrchestrationExecutionContext":null},
 "CompressedBlobName":null,"SequenceNumber":17,"Episode":1,
 "Sender":{"InstanceId":"abc","ExecutionId":"9f0c"},"SerializableTraceContext":null}"#;
        let env = Envelope::decode(text).unwrap();
        let m = env.message.unwrap();
        assert_eq!(m.instance.execution_id.as_deref(), Some("9f0c"));
        assert!(matches!(
            m.event.kind,
            EventKind::TaskCompleted {
                task_scheduled_id: 0,
                ..
            }
        ));
        assert_eq!(env.sequence_number, 17);
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode(text);
        assert!(Envelope::decode(&b64).is_ok());
    }

    #[test]
    fn writes_what_the_reference_reads() {
        let now = time::macros::datetime!(2024-05-01 10:00:00.123456789 UTC);
        let wake = TaskMessage {
            instance: OrchestrationInstance::new("abc", None),
            event: HistoryEvent::new(
                now,
                EventKind::GenericEvent {
                    data: Some("fixed".into()),
                    reason: None,
                },
            ),
            visible_at: None,
        };
        let text = Envelope::new(wake, None).encode();
        // `$type` first in every object, by construction.
        assert!(
            text.starts_with(r#"{"$type":"DurableTask.AzureStorage.MessageData","#),
            "{text}"
        );
        assert!(
            text.contains(r#""TaskMessage":{"$type":"DurableTask.Core.TaskMessage","#),
            "{text}"
        );
        assert!(
            text.contains(r#""Event":{"$type":"DurableTask.Core.History.GenericEvent","#),
            "{text}"
        );
        assert!(
            text.contains(r#"{"$type":"DurableTask.Core.OrchestrationInstance","#),
            "{text}"
        );
        let v: Value = serde_json::from_str(&text).unwrap();
        // A client's message has a Sender with empty ids.
        assert_eq!(v["Sender"], json!({"InstanceId": "", "ExecutionId": ""}));
        assert_eq!(
            v["TaskMessage"]["Event"]["Timestamp"],
            "2024-05-01T10:00:00.1234567Z"
        );
        assert_eq!(v["TaskMessage"]["Event"]["Data"], "fixed");
        assert!(v["TaskMessage"]["Event"].get("Reason").is_none());
        // Read back: the empty Sender is no sender.
        let back = Envelope::decode(&text).unwrap();
        assert_eq!(back.sender, None);
    }

    #[test]
    fn dates_keep_at_most_seven_fractional_digits() {
        for (from, to) in [
            ("2024-05-01T10:00:00Z", "2024-05-01T10:00:00Z"),
            ("2024-05-01T10:00:00.5Z", "2024-05-01T10:00:00.5Z"),
            (
                "2024-05-01T10:00:00.1234567Z",
                "2024-05-01T10:00:00.1234567Z",
            ),
            (
                "2024-05-01T10:00:00.123456789Z",
                "2024-05-01T10:00:00.1234567Z",
            ),
            (
                "2024-05-01T10:00:00.123456789+02:00",
                "2024-05-01T10:00:00.1234567+02:00",
            ),
        ] {
            assert_eq!(at_most_seven_digits(from), to);
        }
    }

    /// A .NET client's start of `Hello` as DurableTask.AzureStorage writes it, with `event` (more
    /// fields of the event) and `envelope` (more fields of the envelope).
    fn dotnet_start(event: &str, envelope: &str) -> String {
        format!(
            r#"{{"$type":"DurableTask.AzureStorage.MessageData","ActivityId":"1b4e28ba-2fa1-41d2-883f-0016d3cca427",
 "TaskMessage":{{"$type":"DurableTask.Core.TaskMessage","Event":{{"$type":"DurableTask.Core.History.ExecutionStartedEvent",
   "EventType":0,"EventId":-1,"Timestamp":"2024-05-01T10:00:00Z","Name":"Hello","Input":null,
   "OrchestrationInstance":{{"$type":"DurableTask.Core.OrchestrationInstance","InstanceId":"t1","ExecutionId":"e1"}}{event}}},
   "OrchestrationInstance":{{"InstanceId":"t1","ExecutionId":"e1"}}}},"SequenceNumber":1{envelope}}}"#
        )
    }

    #[test]
    fn a_dotnet_tags_type_does_not_reach_the_stored_tags() {
        let text = &dotnet_start(
            r#","Tags":{"$type":"System.Collections.Generic.Dictionary`2[[System.String],[System.String]]","team":"blue"}"#,
            "",
        );
        let m = Envelope::decode(text).unwrap().message.unwrap();
        let EventKind::ExecutionStarted { tags, .. } = m.event.kind else {
            panic!("not a start");
        };
        assert_eq!(tags.as_deref(), Some(r#"{"team":"blue"}"#));
    }

    #[test]
    fn a_dotnet_trace_context_is_read_from_the_event_or_the_legacy_envelope_field() {
        // The current DurableTask.Core form: `ParentTraceContext` on the event.
        let text = &dotnet_start(
            r#","ParentTraceContext":{"$type":"DurableTask.Core.Tracing.DistributedTraceContext","TraceParent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01","TraceState":"k=v","Id":null,"SpanId":null,"ActivityStartTime":null},"GenerateNewTrace":false"#,
            r#","SerializableTraceContext":null"#,
        );
        let m = Envelope::decode(text).unwrap().message.unwrap();
        let ctx = m.event.parent_trace_context.clone().expect("read");
        assert_eq!(
            ctx.parent().unwrap().span_id_hex(),
            "b7ad6b7169203331",
            "{ctx:?}"
        );
        assert_eq!(ctx.trace_state.as_deref(), Some("k=v"));
        // Written back in the same field.
        let v: Value = serde_json::from_str(&Envelope::new(m, None).encode()).unwrap();
        assert_eq!(
            v["TaskMessage"]["Event"]["ParentTraceContext"]["TraceParent"],
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        );
        assert_eq!(v["SerializableTraceContext"], Value::Null);

        // The legacy correlation form: a W3CTraceContext as JSON text in the envelope.
        let legacy = dotnet_start(
            "",
            r#","SerializableTraceContext":"{\"$id\":\"1\",\"$type\":\"DurableTask.Core.W3CTraceContext, DurableTask.Core\",\"TraceParent\":\"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\",\"TraceState\":null,\"ParentSpanId\":null}""#,
        );
        let m = Envelope::decode(&legacy).unwrap().message.unwrap();
        let ctx = m
            .event
            .parent_trace_context
            .expect("read from the legacy field");
        assert_eq!(
            ctx.trace_parent,
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bad in [
            "",
            "{",
            "[]",
            "{}",
            "{\"TaskMessage\":{}}",
            "%%%",
            "{\"TaskMessage\":{\"Event\":{\"EventType\":99}}}",
        ] {
            assert!(Envelope::decode(bad).is_err(), "{bad}");
        }
    }
}
