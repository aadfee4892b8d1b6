//! Replay engine tests: handcrafted histories and whole orchestrations run by the in-memory host.
//! No storage is involved; these pin down the core's behaviour exactly.

mod composition;
mod continue_as_new;
mod critical_sections;
mod failures;
mod fan_out;
mod incremental;
mod layering;
mod lifecycle;
mod long_history;
mod retries;
mod rewind;
mod sequence;
mod sub_orchestrations;
mod timers_and_events;
mod versions;

use taskhub::core::testing::{HostOptions, InMemoryHost};
use taskhub::core::{
    EventKind, HistoryEvent, OrchestrationExecutor, Registry, Timestamp, TurnResult,
};

/// Runs one turn of a fresh executor over `past` with `new_events`.
pub fn turn(
    registry: Registry,
    past: &[HistoryEvent],
    now: Timestamp,
    new_events: Vec<EventKind>,
) -> TurnResult {
    let mut ex = OrchestrationExecutor::from_history(std::sync::Arc::new(registry), past);
    let events = new_events
        .into_iter()
        .map(|k| HistoryEvent::new(now, k))
        .collect();
    ex.run_turn(now, events, &mut || "next-exec".to_string())
}

/// The event types of a list of events, for compact assertions.
pub fn types(events: &[HistoryEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| match e.event_id {
            -1 => e.event_type().to_string(),
            id => format!("{}#{id}", e.event_type()),
        })
        .collect()
}

/// Runs an orchestration to the end in the in-memory host and returns the host.
pub fn run(
    registry: Registry,
    name: &str,
    input: Option<&str>,
    options: HostOptions,
) -> InMemoryHost {
    let mut host = InMemoryHost::new(registry, options);
    host.start(name, "inst", input);
    host.run(1_000_000);
    host
}
