//! The orchestration status object of status and list replies, and the `historyEvents` shape of
//! `showHistory=true` (`docs/http-api.md`, "Bodies").

use std::collections::HashMap;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::backend::InstanceStatus;
use crate::core::{EventKind, HistoryEvent, Timestamp};

/// A status reply. Field order and names as the host writes them; `historyEvents` only when
/// asked for.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StatusBody {
    pub name: String,
    pub instance_id: String,
    pub runtime_status: &'static str,
    pub input: Value,
    pub custom_status: Value,
    pub output: Value,
    pub created_time: String,
    pub last_updated_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history_events: Option<Vec<Value>>,
}

impl StatusBody {
    pub fn new(s: &InstanceStatus, show_input: bool) -> Self {
        // Always present: the Python client formats both and treats a status without
        // createdTime as "no instance".
        let created = s
            .created_time
            .or(s.last_updated_time)
            .unwrap_or(Timestamp::UNIX_EPOCH);
        let updated = s.last_updated_time.unwrap_or(created);
        StatusBody {
            name: s.name.clone(),
            instance_id: s.instance_id.clone(),
            runtime_status: s.runtime_status.as_str(),
            input: if show_input {
                json_or_text(s.input.as_deref())
            } else {
                Value::Null
            },
            custom_status: json_or_text(s.custom_status.as_deref()),
            output: json_or_text(s.output.as_deref()),
            created_time: format_seconds(created),
            last_updated_time: format_seconds(updated),
            history_events: None,
        }
    }
}

/// A stored value as the host returns it: the JSON it holds, or the text itself as a JSON string
/// when it is not JSON (a termination reason, `ErrorType: message` of a failure); whitespace →
/// `""`. An empty string is `null`: the backend writes `""` where DTFx writes no value (an
/// orchestration started without input), and the host answers `null` for that.
pub(crate) fn json_or_text(text: Option<&str>) -> Value {
    match text {
        None | Some("") => Value::Null,
        Some(t) if t.trim().is_empty() => Value::String(String::new()),
        Some(t) => serde_json::from_str(t).unwrap_or_else(|_| Value::String(t.to_string())),
    }
}

/// `2024-05-01T10:00:05Z`: .NET's "s" format in UTC, no fraction.
pub(crate) fn format_seconds(t: Timestamp) -> String {
    crate::timestamps::seconds(t)
}

/// `2024-05-01T10:00:05.1234567Z`: seven fractional digits, as DTFx writes history times.
pub(crate) fn format_ticks(t: Timestamp) -> String {
    crate::timestamps::ticks(t)
}

/// Rewrites an RFC 3339 time field in seven-digit form.
fn retime(obj: &mut Map<String, Value>, key: &str) {
    let parsed = obj.get(key).and_then(Value::as_str).and_then(|s| {
        time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
    });
    if let Some(t) = parsed {
        obj.insert(key.to_string(), Value::String(format_ticks(t)));
    }
}

/// What a completion event takes over from the event that scheduled it.
struct Scheduled {
    name: String,
    input: Option<String>,
    at: Timestamp,
}

/// The `historyEvents` of a status reply, shaped as the host shapes them: orchestrator
/// start/complete markers dropped, scheduling events merged into their completions, `EventId`
/// and bookkeeping fields removed, results only with `show_output`, inputs only with
/// `show_input`.
pub(crate) fn history_json(
    events: &[HistoryEvent],
    show_input: bool,
    show_output: bool,
) -> Vec<Value> {
    let mut scheduled: HashMap<i32, Scheduled> = HashMap::new();
    let mut completed: std::collections::HashSet<i32> = std::collections::HashSet::new();
    for e in events {
        match &e.kind {
            EventKind::TaskScheduled { name, input, .. }
            | EventKind::SubOrchestrationInstanceCreated { name, input, .. } => {
                scheduled.insert(
                    e.event_id,
                    Scheduled {
                        name: name.clone(),
                        input: input.clone(),
                        at: e.timestamp,
                    },
                );
            }
            // Event ids are unique in an execution, so a fired timer's id never names a task.
            kind => completed.extend(kind.completes_id()),
        }
    }

    let mut out = Vec::new();
    for e in events {
        let Ok(Value::Object(mut obj)) = serde_json::to_value(e) else {
            continue;
        };
        obj.remove("EventId");
        obj.remove("IsPlayed");
        retime(&mut obj, "Timestamp");
        match &e.kind {
            EventKind::OrchestratorStarted | EventKind::OrchestratorCompleted => continue,
            EventKind::ExecutionStarted { .. } => {
                if let Some(name) = obj.remove("Name") {
                    obj.insert("FunctionName".into(), name);
                }
                for k in ["OrchestrationInstance", "ParentInstance", "Version", "Tags"] {
                    obj.remove(k);
                }
                retime(&mut obj, "ScheduledStartTime");
            }
            EventKind::TaskScheduled { .. } | EventKind::SubOrchestrationInstanceCreated { .. } => {
                if completed.contains(&e.event_id) {
                    continue;
                }
                obj.remove("Version");
            }
            EventKind::TaskCompleted {
                task_scheduled_id,
                result,
            }
            | EventKind::SubOrchestrationInstanceCompleted {
                task_scheduled_id,
                result,
            } => {
                merge_scheduled(&mut obj, scheduled.get(task_scheduled_id), show_input);
                obj.remove("Result");
                if show_output {
                    obj.insert("Result".into(), json_or_text(result.as_deref()));
                }
            }
            EventKind::TaskFailed {
                task_scheduled_id, ..
            }
            | EventKind::SubOrchestrationInstanceFailed {
                task_scheduled_id, ..
            } => {
                merge_scheduled(&mut obj, scheduled.get(task_scheduled_id), show_input);
            }
            EventKind::ExecutionCompleted { result, .. } => {
                obj.remove("Result");
                if show_output {
                    obj.insert("Result".into(), json_or_text(result.as_deref()));
                }
            }
            EventKind::TimerFired { .. } => {
                obj.remove("TimerId");
                retime(&mut obj, "FireAt");
            }
            EventKind::TimerCreated { .. } => retime(&mut obj, "FireAt"),
            _ => {}
        }
        if !show_input {
            obj.remove("Input");
        }
        out.push(Value::Object(obj));
    }
    out
}

fn merge_scheduled(obj: &mut Map<String, Value>, s: Option<&Scheduled>, show_input: bool) {
    obj.remove("TaskScheduledId");
    if let Some(s) = s {
        obj.insert("FunctionName".into(), Value::String(s.name.clone()));
        obj.insert("ScheduledTime".into(), Value::String(format_ticks(s.at)));
        if show_input {
            obj.insert(
                "Input".into(),
                s.input.clone().map(Value::String).unwrap_or(Value::Null),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{OrchestrationInstance, OrchestrationStatus};
    use serde_json::json;
    use time::macros::datetime;

    #[test]
    fn stored_values_become_json_or_strings() {
        assert_eq!(json_or_text(None), Value::Null);
        assert_eq!(json_or_text(Some("{\"a\":1}")), json!({"a": 1}));
        assert_eq!(
            json_or_text(Some("\"{\\\"a\\\": 1}\"")),
            json!("{\"a\": 1}")
        );
        assert_eq!(
            json_or_text(Some("Broken: it broke")),
            json!("Broken: it broke")
        );
        assert_eq!(json_or_text(Some("  ")), json!(""));
        assert_eq!(json_or_text(Some("")), Value::Null);
        assert_eq!(json_or_text(Some("null")), Value::Null);
    }

    #[test]
    fn times_use_the_host_formats() {
        let t = datetime!(2024-05-01 10:00:05.123456789 UTC);
        assert_eq!(format_seconds(t), "2024-05-01T10:00:05Z");
        assert_eq!(format_ticks(t), "2024-05-01T10:00:05.1234567Z");
    }

    #[test]
    fn history_merges_scheduling_into_completion() {
        let t0 = datetime!(2024-05-01 10:00 UTC);
        let t1 = datetime!(2024-05-01 10:00:01 UTC);
        let inst = OrchestrationInstance::new("i", Some("e".into()));
        let events = vec![
            HistoryEvent::new(t0, EventKind::OrchestratorStarted),
            HistoryEvent::new(
                t0,
                EventKind::ExecutionStarted {
                    orchestration_instance: inst,
                    name: "Orch".into(),
                    version: None,
                    input: Some("\"x\"".into()),
                    parent_instance: None,
                    scheduled_start_time: None,
                    generation: Some(0),
                    tags: None,
                },
            ),
            HistoryEvent::with_id(
                0,
                t0,
                EventKind::TaskScheduled {
                    name: "SayHello".into(),
                    version: None,
                    input: Some("\"Tokyo\"".into()),
                },
            ),
            HistoryEvent::with_id(
                1,
                t0,
                EventKind::TaskScheduled {
                    name: "Pending".into(),
                    version: None,
                    input: None,
                },
            ),
            HistoryEvent::new(t0, EventKind::OrchestratorCompleted),
            HistoryEvent::new(
                t1,
                EventKind::TaskCompleted {
                    task_scheduled_id: 0,
                    result: Some("\"Hello Tokyo!\"".into()),
                },
            ),
            HistoryEvent::with_id(
                2,
                t1,
                EventKind::ExecutionCompleted {
                    status: OrchestrationStatus::Completed,
                    result: Some("[1]".into()),
                    failure_details: None,
                },
            ),
        ];
        let h = history_json(&events, true, true);
        assert_eq!(h.len(), 4, "{h:#?}");
        assert_eq!(h[0]["EventType"], "ExecutionStarted");
        assert_eq!(h[0]["FunctionName"], "Orch");
        assert_eq!(h[0]["Input"], "\"x\"");
        assert!(h[0].get("OrchestrationInstance").is_none());
        assert!(h[0].get("EventId").is_none());
        assert_eq!(h[0]["Timestamp"], "2024-05-01T10:00:00.0000000Z");
        assert_eq!(h[1]["EventType"], "TaskScheduled");
        assert_eq!(h[1]["Name"], "Pending");
        assert_eq!(h[2]["EventType"], "TaskCompleted");
        assert_eq!(h[2]["FunctionName"], "SayHello");
        assert_eq!(h[2]["Result"], "Hello Tokyo!");
        assert_eq!(h[2]["ScheduledTime"], "2024-05-01T10:00:00.0000000Z");
        assert_eq!(h[2]["Input"], "\"Tokyo\"");
        assert!(h[2].get("TaskScheduledId").is_none());
        assert_eq!(h[3]["OrchestrationStatus"], "Completed");
        assert_eq!(h[3]["Result"], json!([1]));

        let quiet = history_json(&events, false, false);
        assert!(quiet.iter().all(|e| e.get("Input").is_none()));
        assert!(quiet.iter().all(|e| e.get("Result").is_none()));
    }
}
