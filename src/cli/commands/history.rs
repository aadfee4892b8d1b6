//! `taskhub history <id>`: the history of the instance's current execution as a table — position,
//! event type, name, ids, timestamp, the time from a scheduled task, timer or sub-orchestration to
//! its completion, and the input or result shortened — or as JSON (the `HistoryEvent` form).

use crate::cli::input::instance_id;
use crate::cli::output::{duration, print_json, print_table, printable, shorten, time_ms};
use crate::cli::Context;
use crate::client::Error;
use crate::core::{EventKind, FailureDetails, HistoryEvent, Timestamp};
use anyhow::Result;
use clap::Args;
use std::collections::HashMap;

/// Longest detail (input, result, reason) in the table.
const MAX_DETAIL_CHARS: usize = 72;

#[derive(Debug, Args)]
#[command(
    after_help = "Columns: # (position), EVENT (EventType), NAME (for completions: the \
    name of what they complete), EVENTID (ids handed out to scheduled work), SCHEDULEDID \
    (TaskScheduledId or TimerId: the EventId a completion refers to), TIMESTAMP (UTC), DURATION \
    (on a completion: time since its scheduling event), DETAIL (input, result or reason, \
    shortened; --json shows everything)."
)]
pub struct HistoryArgs {
    /// The instance id.
    id: String,

    /// Print the events as a JSON array (DTFx field names, every value in full).
    #[arg(long)]
    json: bool,
}

pub async fn run(args: HistoryArgs, ctx: &mut Context) -> Result<()> {
    let id = instance_id(&args.id)?;
    let client = ctx.client().await?;
    let events = ctx.check(client.history(id).await).await?;
    if events.is_empty() {
        // No history yet: a Pending instance has none; a missing one is an error.
        let status = ctx.check(client.status(id, false).await).await?;
        if status.is_none() {
            return ctx.check(Err(Error::NotFound(id.to_string()))).await;
        }
    }
    if args.json {
        print_json(&events)?;
    } else if events.is_empty() {
        crate::cli::output::status(format!(
            "instance '{}' has no history yet (it has not started)",
            printable(id)
        ));
    } else {
        print_history(&events);
    }
    Ok(())
}

/// Prints a history as a table.
pub fn print_history(events: &[HistoryEvent]) {
    print_table(
        &[
            "#",
            "EVENT",
            "NAME",
            "EVENTID",
            "SCHEDULEDID",
            "TIMESTAMP",
            "DURATION",
            "DETAIL",
        ],
        &rows(events),
    );
}

fn rows(events: &[HistoryEvent]) -> Vec<Vec<String>> {
    // Scheduling events by id: their name and when they happened.
    let scheduled: HashMap<i32, (Option<&str>, Timestamp)> = events
        .iter()
        .filter(|e| e.kind.is_scheduling() && e.event_id >= 0)
        .map(|e| (e.event_id, (e.kind.name(), e.timestamp)))
        .collect();
    events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let completes = e.kind.completes_id();
            let origin = completes.and_then(|id| scheduled.get(&id));
            let name = e
                .kind
                .name()
                .or_else(|| origin.and_then(|(n, _)| *n))
                .unwrap_or("");
            vec![
                i.to_string(),
                e.event_type().to_string(),
                shorten(name, 40),
                if e.event_id >= 0 {
                    e.event_id.to_string()
                } else {
                    String::new()
                },
                completes.map(|id| id.to_string()).unwrap_or_default(),
                time_ms(e.timestamp),
                origin
                    .map(|(_, at)| duration(e.timestamp - *at))
                    .unwrap_or_default(),
                shorten(&detail(&e.kind), MAX_DETAIL_CHARS),
            ]
        })
        .collect()
}

/// The interesting payload of an event, as one line.
fn detail(kind: &EventKind) -> String {
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
                parts.push(format!("start at: {}", time_ms(*t)));
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
        EventKind::TimerCreated { fire_at } => format!("fires at {}", time_ms(*fire_at)),
        EventKind::TimerFired { fire_at, .. } => format!("due at {}", time_ms(*fire_at)),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::OrchestrationInstance;
    use time::macros::datetime;

    #[test]
    fn completions_get_the_name_and_duration_of_what_they_complete() {
        let t0 = datetime!(2024-05-01 10:00:00 UTC);
        let events = vec![
            HistoryEvent::new(
                t0,
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
            HistoryEvent::new(
                t0 + time::Duration::milliseconds(1250),
                EventKind::TaskCompleted {
                    task_scheduled_id: 0,
                    result: Some("\"Hello Tokyo!\"".into()),
                },
            ),
        ];
        let rows = rows(&events);
        assert_eq!(rows[1][2], "SayHello");
        assert_eq!(rows[1][3], "0");
        assert_eq!(rows[1][7], "input: \"Tokyo\"");
        assert_eq!(
            rows[2][1..7],
            [
                "TaskCompleted",
                "SayHello",
                "",
                "0",
                "2024-05-01T10:00:01.250Z",
                "1.2 s"
            ]
        );
        assert_eq!(rows[2][7], "result: \"Hello Tokyo!\"");
    }
}
