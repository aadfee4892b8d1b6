//! A history as people read it: each event with the name of what it belongs to, the
//! scheduled-to-completed duration of a completion and a one-line detail ([`rows`]); and the
//! spans of a timeline ([`spans`]): activities, sub-orchestrations and timers from their
//! scheduling event to their completion, suspensions until the resume, external events as
//! points, each retry numbered. `taskhub history` prints the rows; the dashboard shows both.

use std::collections::HashMap;

use super::failure::FailureDetails;
use super::history::{EventKind, HistoryEvent, Timestamp};

/// One event with what a reader needs beside it.
#[derive(Debug, Clone)]
pub struct EventRow<'a> {
    /// The event itself.
    pub event: &'a HistoryEvent,
    /// Its own name, or for a completion the name of what it completes.
    pub name: Option<&'a str>,
    /// For a completion (or a fired timer), the `EventId` of its scheduling event.
    pub completes: Option<i32>,
    /// For a completion, the time since its scheduling event.
    pub duration: Option<time::Duration>,
    /// Input, result or reason in one line (full length: callers shorten).
    pub detail: String,
}

/// The rows of `events`, in order.
pub fn rows(events: &[HistoryEvent]) -> Vec<EventRow<'_>> {
    // Scheduling events by id: their name and when they happened.
    let scheduled: HashMap<i32, (Option<&str>, Timestamp)> = events
        .iter()
        .filter(|e| e.kind.is_scheduling() && e.event_id >= 0)
        .map(|e| (e.event_id, (e.kind.name(), e.timestamp)))
        .collect();
    events
        .iter()
        .map(|e| {
            let completes = e.kind.completes_id();
            let origin = completes.and_then(|id| scheduled.get(&id));
            EventRow {
                event: e,
                name: e.kind.name().or_else(|| origin.and_then(|(n, _)| *n)),
                completes,
                duration: origin.map(|(_, at)| e.timestamp - *at),
                detail: detail(&e.kind),
            }
        })
        .collect()
}

/// The interesting payload of an event, as one line.
pub fn detail(kind: &EventKind) -> String {
    let v = |label: &str, text: &Option<String>| match text {
        Some(t) => format!("{label}: {t}"),
        None => String::new(),
    };
    match kind {
        EventKind::ExecutionStarted {
            input,
            parent_instance,
            scheduled_start_time,
            ..
        } => {
            let mut parts = Vec::new();
            if let Some(p) = parent_instance {
                parts.push(format!("parent: {}", p.orchestration_instance.instance_id));
            }
            if let Some(t) = scheduled_start_time {
                parts.push(format!("start at: {}", crate::timestamps::millis(*t)));
            }
            parts.push(v("input", input));
            join(parts)
        }
        EventKind::ExecutionCompleted {
            status,
            result,
            failure_details,
        } => match failure_details {
            Some(f) => format!("{status}: {}", failure(f)),
            None => join(vec![status.to_string(), v("output", result)]),
        },
        EventKind::ExecutionTerminated { input } => v("reason", input),
        EventKind::ExecutionSuspended { reason } | EventKind::ExecutionResumed { reason } => {
            v("reason", reason)
        }
        EventKind::OrchestratorStarted | EventKind::OrchestratorCompleted => String::new(),
        EventKind::TaskScheduled { input, .. } => v("input", input),
        EventKind::TaskCompleted { result, .. }
        | EventKind::SubOrchestrationInstanceCompleted { result, .. } => v("result", result),
        EventKind::TaskFailed {
            reason,
            failure_details,
            ..
        }
        | EventKind::SubOrchestrationInstanceFailed {
            reason,
            failure_details,
            ..
        } => match failure_details {
            Some(f) => format!("failed: {}", failure(f)),
            None => v("failed", reason),
        },
        EventKind::SubOrchestrationInstanceCreated {
            instance_id, input, ..
        } => join(vec![format!("instance: {instance_id}"), v("input", input)]),
        EventKind::TimerCreated { fire_at } => {
            format!("fires at {}", crate::timestamps::millis(*fire_at))
        }
        EventKind::TimerFired { fire_at, .. } => {
            format!("due at {}", crate::timestamps::millis(*fire_at))
        }
        EventKind::EventSent {
            instance_id, input, ..
        } => join(vec![format!("to: {instance_id}"), v("input", input)]),
        EventKind::EventRaised { input, .. } => v("input", input),
        EventKind::ContinueAsNew { result } => v("new input", result),
        EventKind::GenericEvent {
            reason: Some(r), ..
        } => r.clone(),
        EventKind::GenericEvent { data, .. } => v("data", data),
        EventKind::ExecutionRewound { reason, .. } => v("reason", reason),
        EventKind::HistoryState { .. } => String::new(),
    }
}

fn failure(f: &FailureDetails) -> String {
    format!("{}: {}", f.error_type, f.error_message)
}

fn join(parts: Vec<String>) -> String {
    parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a timeline span stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpanKind {
    /// `TaskScheduled` to `TaskCompleted` / `TaskFailed`.
    Activity,
    /// `SubOrchestrationInstanceCreated` to its completion or failure.
    SubOrchestration,
    /// `TimerCreated` to `TimerFired` (also the waits of a retry and of an event with a timeout).
    Timer,
    /// `ExecutionSuspended` to `ExecutionResumed`.
    Suspension,
    /// `EventRaised`: an external event arriving (a point).
    Event,
}

impl SpanKind {
    /// The name the dashboard's JSON uses.
    pub fn as_str(self) -> &'static str {
        match self {
            SpanKind::Activity => "activity",
            SpanKind::SubOrchestration => "subOrchestration",
            SpanKind::Timer => "timer",
            SpanKind::Suspension => "suspension",
            SpanKind::Event => "event",
        }
    }
}

/// How a span ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanOutcome {
    /// Completed (a timer fired, an event arrived, a suspension was resumed).
    Completed,
    /// Failed (an activity or sub-orchestration).
    Failed,
    /// Not ended in this history (still running, or the instance ended first).
    Open,
}

impl SpanOutcome {
    /// The name the dashboard's JSON uses.
    pub fn as_str(self) -> &'static str {
        match self {
            SpanOutcome::Completed => "completed",
            SpanOutcome::Failed => "failed",
            SpanOutcome::Open => "open",
        }
    }
}

/// One bar (or point) of a timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    /// What it stands for.
    pub kind: SpanKind,
    /// The activity, sub-orchestration or event name; `"timer"` / `"suspended"` otherwise.
    pub name: String,
    /// The scheduling event's `EventId` (-1 for suspensions and events).
    pub event_id: i32,
    /// When it was scheduled (or the event arrived).
    pub start: Timestamp,
    /// When it ended; `None` while open.
    pub end: Option<Timestamp>,
    /// How it ended.
    pub outcome: SpanOutcome,
    /// 1 for the first call of this name with this input, 2 for the first retry, and so on (a
    /// retry schedules the same name with the same input again).
    pub attempt: u32,
    /// A sub-orchestration's instance id.
    pub instance_id: Option<String>,
    /// The position of the starting event in the history.
    pub start_index: usize,
    /// The position of the ending event, if any.
    pub end_index: Option<usize>,
}

/// The spans of `events`, in the order they started.
pub fn spans(events: &[HistoryEvent]) -> Vec<Span> {
    let mut out: Vec<Span> = Vec::new();
    // Open spans by scheduling id, as positions in `out`.
    let mut open: HashMap<i32, usize> = HashMap::new();
    let mut attempts: HashMap<(SpanKind, &str, Option<&str>), u32> = HashMap::new();
    let mut suspended: Option<usize> = None;
    let mut attempt = |kind, name, input| {
        let n = attempts.entry((kind, name, input)).or_insert(0);
        *n += 1;
        *n
    };
    for (index, e) in events.iter().enumerate() {
        let start = |kind, name: &str, attempt, instance_id| Span {
            kind,
            name: name.to_string(),
            event_id: e.event_id,
            start: e.timestamp,
            end: None,
            outcome: SpanOutcome::Open,
            attempt,
            instance_id,
            start_index: index,
            end_index: None,
        };
        let opened = match &e.kind {
            EventKind::TaskScheduled { name, input, .. } => {
                let n = attempt(SpanKind::Activity, name, input.as_deref());
                Some(start(SpanKind::Activity, name, n, None))
            }
            EventKind::SubOrchestrationInstanceCreated {
                name,
                input,
                instance_id,
                ..
            } => {
                let n = attempt(SpanKind::SubOrchestration, name, input.as_deref());
                Some(start(
                    SpanKind::SubOrchestration,
                    name,
                    n,
                    Some(instance_id.clone()),
                ))
            }
            EventKind::TimerCreated { .. } => Some(start(SpanKind::Timer, "timer", 1, None)),
            _ => None,
        };
        if let Some(span) = opened {
            open.insert(e.event_id, out.len());
            out.push(span);
            continue;
        }
        let close = |out: &mut Vec<Span>, at: usize, outcome| {
            let span = &mut out[at];
            span.end = Some(e.timestamp);
            span.outcome = outcome;
            span.end_index = Some(index);
        };
        match &e.kind {
            EventKind::TaskCompleted { .. }
            | EventKind::SubOrchestrationInstanceCompleted { .. }
            | EventKind::TimerFired { .. } => {
                if let Some(at) = e.kind.completes_id().and_then(|id| open.remove(&id)) {
                    close(&mut out, at, SpanOutcome::Completed);
                }
            }
            EventKind::TaskFailed { .. } | EventKind::SubOrchestrationInstanceFailed { .. } => {
                if let Some(at) = e.kind.completes_id().and_then(|id| open.remove(&id)) {
                    close(&mut out, at, SpanOutcome::Failed);
                }
            }
            EventKind::ExecutionSuspended { .. } => {
                suspended = Some(out.len());
                out.push(start(SpanKind::Suspension, "suspended", 1, None));
            }
            EventKind::ExecutionResumed { .. } => {
                if let Some(at) = suspended.take() {
                    close(&mut out, at, SpanOutcome::Completed);
                }
            }
            EventKind::EventRaised { name, .. } => {
                let mut point = start(SpanKind::Event, name, 1, None);
                point.end = Some(e.timestamp);
                point.end_index = Some(index);
                point.outcome = SpanOutcome::Completed;
                out.push(point);
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::OrchestrationInstance;
    use time::macros::datetime;
    use time::Duration;

    fn started(t: Timestamp) -> HistoryEvent {
        HistoryEvent::new(
            t,
            EventKind::ExecutionStarted {
                orchestration_instance: OrchestrationInstance::new("i", Some("e".into())),
                name: "HelloCities".into(),
                version: None,
                input: None,
                parent_instance: None,
                scheduled_start_time: None,
                generation: None,
                tags: None,
            },
        )
    }

    fn scheduled(id: i32, t: Timestamp, name: &str, input: &str) -> HistoryEvent {
        HistoryEvent::with_id(
            id,
            t,
            EventKind::TaskScheduled {
                name: name.into(),
                version: None,
                input: Some(input.into()),
            },
        )
    }

    #[test]
    fn completions_get_the_name_and_duration_of_what_they_complete() {
        let t0 = datetime!(2024-05-01 10:00:00 UTC);
        let events = vec![
            started(t0),
            scheduled(0, t0, "SayHello", "\"Tokyo\""),
            HistoryEvent::new(
                t0 + Duration::milliseconds(1250),
                EventKind::TaskCompleted {
                    task_scheduled_id: 0,
                    result: Some("\"Hello Tokyo!\"".into()),
                },
            ),
        ];
        let rows = rows(&events);
        assert_eq!(rows[1].name, Some("SayHello"));
        assert_eq!(rows[1].detail, "input: \"Tokyo\"");
        assert_eq!(rows[2].name, Some("SayHello"));
        assert_eq!(rows[2].completes, Some(0));
        assert_eq!(rows[2].duration, Some(Duration::milliseconds(1250)));
        assert_eq!(rows[2].detail, "result: \"Hello Tokyo!\"");
        assert_eq!(rows[0].duration, None);
    }

    #[test]
    fn spans_pair_scheduling_with_completion_and_number_retries() {
        let t0 = datetime!(2024-05-01 10:00:00 UTC);
        let s = |n| t0 + Duration::seconds(n);
        let events = vec![
            started(t0),
            scheduled(0, s(0), "step2", "\"f1\""),
            scheduled(1, s(0), "step2", "\"f2\""),
            HistoryEvent::new(
                s(1),
                EventKind::TaskFailed {
                    task_scheduled_id: 0,
                    reason: Some("boom".into()),
                    details: None,
                    failure_details: None,
                },
            ),
            HistoryEvent::with_id(2, s(1), EventKind::TimerCreated { fire_at: s(3) }),
            HistoryEvent::new(
                s(3),
                EventKind::TimerFired {
                    timer_id: 2,
                    fire_at: s(3),
                },
            ),
            scheduled(3, s(3), "step2", "\"f1\""),
            HistoryEvent::new(
                s(4),
                EventKind::EventRaised {
                    name: "Approve".into(),
                    input: None,
                },
            ),
            HistoryEvent::new(
                s(5),
                EventKind::TaskCompleted {
                    task_scheduled_id: 3,
                    result: None,
                },
            ),
        ];
        let spans = spans(&events);
        let summary: Vec<_> = spans
            .iter()
            .map(|s| (s.kind, s.name.as_str(), s.attempt, s.outcome, s.end_index))
            .collect();
        use SpanKind::*;
        use SpanOutcome::*;
        assert_eq!(
            summary,
            vec![
                (Activity, "step2", 1, Failed, Some(3)),
                (Activity, "step2", 1, Open, None),
                (Timer, "timer", 1, Completed, Some(5)),
                (Activity, "step2", 2, Completed, Some(8)),
                (Event, "Approve", 1, Completed, Some(7)),
            ]
        );
        assert_eq!(spans[3].end, Some(s(5)));
        assert_eq!(spans[0].start, s(0));
    }
}
