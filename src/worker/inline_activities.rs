//! A turn that waits a moment for the local activities it schedules, so that their results
//! go into its own commit (`WorkerOptions::local_activity_wait`).
//!
//! Why: with a commit per result, every activity of a sequence costs a history transaction
//! (and the instance a turn). A short activity run inside the turn that schedules it costs
//! none: the turn starts it, takes its result from the instance's session when it comes, runs
//! the orchestration on, and commits `TaskScheduled`, the result and whatever follows in one
//! append, as Temporal's local activities do.
//!
//! Nothing of this is stored before the commit, so nothing is lost: a crash before it brings
//! the turn's inbound messages back, and the turn, its activities with it, runs again (at
//! least once, as always). A failed commit gives the results back to the session like any
//! local result; they are deferred until their task is scheduled again. Activities still
//! running at the deadline are recorded by the commit as local tasks (docs/checkpoint.md) and
//! not started again: their results come to the next turn as usual.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::backend::ReceivedMessage;
use crate::core::{HistoryEvent, OrchestrationExecutor, TaskMessage, TurnResult};

use super::local::Local;
use super::sessions::Sessions;

/// Rounds (results applied, orchestration run on) one turn takes at most: each adds a few
/// history rows, and one commit should stay about one table transaction.
const MAX_ROUNDS: usize = 24;

/// A turn after its wait.
pub(crate) struct Waited {
    /// The turn's result, its rounds merged.
    pub turn: TurnResult,
    /// The results taken into the turn (local messages; inbound with the rest).
    pub results: Vec<ReceivedMessage>,
    /// Requests started during the wait and still running: the commit lists them, and they
    /// are not started again.
    pub running: BTreeSet<i32>,
}

/// Runs the activity requests of `turn` here and waits up to `wait` for their results,
/// running the orchestration on with them (`run_on`) while it schedules more and the deadline
/// allows.
pub(crate) async fn wait_for_results(
    local: &Local,
    sessions: &Sessions,
    instance_id: &str,
    executor: &mut OrchestrationExecutor,
    mut turn: TurnResult,
    wait: Duration,
    mut run_on: impl FnMut(&mut OrchestrationExecutor, Vec<HistoryEvent>) -> TurnResult,
) -> Waited {
    let deadline = tokio::time::Instant::now() + wait;
    let mut running = BTreeSet::new();
    let mut results = Vec::new();
    for _ in 0..MAX_ROUNDS {
        if turn.is_terminal() || turn.new_execution_id.is_some() {
            break;
        }
        let round: Vec<TaskMessage> = turn
            .messages
            .iter()
            .filter(|m| m.is_activity_request() && !running.contains(&m.event.event_id))
            .cloned()
            .collect();
        if !round.is_empty() && tokio::time::Instant::now() < deadline {
            // Room for every one, or the round waits for none (they go the usual way).
            let rooms: Option<Vec<_>> = round.iter().map(|_| local.tasks.try_reserve()).collect();
            if let Some(rooms) = rooms {
                for (request, room) in round.into_iter().zip(rooms) {
                    running.insert(request.event.event_id);
                    local.run_here(request, Some(room), 1);
                }
            }
        }
        if running.is_empty() {
            break;
        }
        let execution = turn_execution(&turn);
        let got = take_results(
            sessions,
            instance_id,
            execution.as_deref(),
            &running,
            deadline,
        )
        .await;
        if got.is_empty() {
            break;
        }
        let answered: BTreeSet<i32> = got
            .iter()
            .filter_map(|m| m.message.event.kind.completes_id())
            .collect();
        running.retain(|id| !answered.contains(id));
        let events = got.iter().map(|m| m.message.event.clone()).collect();
        results.extend(got);
        let next = run_on(executor, events);
        turn = merge(turn, next, &answered);
        if turn.new_execution_id.is_some() {
            // The old execution's tasks still running are of no use to the new one.
            running.clear();
        }
        if tokio::time::Instant::now() >= deadline {
            // What arrives later goes to the next turn, as without a wait.
            break;
        }
    }
    Waited {
        turn,
        results,
        running,
    }
}

/// The execution whose requests the turn holds.
fn turn_execution(turn: &TurnResult) -> Option<String> {
    turn.messages
        .iter()
        .find(|m| m.is_activity_request())
        .and_then(|m| m.instance.execution_id.clone())
}

/// Takes the results of `running` out of the instance's session as they come, until all are
/// there or the deadline passes.
async fn take_results(
    sessions: &Sessions,
    instance_id: &str,
    execution: Option<&str>,
    running: &BTreeSet<i32>,
    deadline: tokio::time::Instant,
) -> Vec<ReceivedMessage> {
    let mut got: Vec<ReceivedMessage> = Vec::new();
    let mut answered = BTreeSet::new();
    loop {
        let (taken, arrived) = sessions.take_waiting(instance_id, |m| {
            let id = m.message.event.kind.completes_id();
            m.is_local()
                && m.message.instance.execution_id.as_deref() == execution
                && id.is_some_and(|id| running.contains(&id) && !answered.contains(&id))
        });
        for m in taken {
            answered.extend(m.message.event.kind.completes_id());
            got.push(m);
        }
        if answered.len() >= running.len() {
            return got;
        }
        if tokio::time::timeout_at(deadline, arrived.notified())
            .await
            .is_err()
        {
            return got;
        }
    }
}

/// One turn of two rounds: the first's events and messages, less the requests the second
/// answered, then the second's; the state is the second's.
fn merge(first: TurnResult, next: TurnResult, answered: &BTreeSet<i32>) -> TurnResult {
    let mut messages: Vec<TaskMessage> = first
        .messages
        .into_iter()
        .filter(|m| !(m.is_activity_request() && answered.contains(&m.event.event_id)))
        .collect();
    let new_events = if next.new_execution_id.is_some() {
        // Continued as new: the new execution's history replaces the old from the start, and
        // the old execution's requests would only be dropped.
        messages.retain(|m| !m.is_activity_request());
        next.new_events
    } else {
        let mut events = first.new_events;
        events.extend(next.new_events);
        events
    };
    messages.extend(next.messages);
    let mut warnings = first.warnings;
    warnings.extend(next.warnings);
    TurnResult {
        new_events,
        new_execution_id: next.new_execution_id,
        messages,
        status: next.status,
        output: next.output,
        failure: next.failure,
        custom_status: next.custom_status,
        warnings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::testing::{task_completed, T0};
    use crate::core::{EventKind, OrchestrationInstance, OrchestrationStatus};

    fn request(id: i32) -> TaskMessage {
        TaskMessage {
            instance: OrchestrationInstance::new("i", Some("e".into())),
            event: HistoryEvent {
                event_id: id,
                ..HistoryEvent::new(
                    T0,
                    EventKind::TaskScheduled {
                        name: "A".into(),
                        version: None,
                        input: None,
                    },
                )
            },
            visible_at: None,
        }
    }

    fn turn(events: Vec<HistoryEvent>, messages: Vec<TaskMessage>) -> TurnResult {
        TurnResult {
            new_events: events,
            new_execution_id: None,
            messages,
            status: OrchestrationStatus::Running,
            output: None,
            failure: None,
            custom_status: None,
            warnings: Vec::new(),
        }
    }

    #[test]
    fn a_merged_turn_keeps_both_rounds_events_and_drops_the_answered_requests() {
        let first = turn(
            vec![request(0).event, request(1).event],
            vec![request(0), request(1)],
        );
        let result = HistoryEvent::new(T0, task_completed(0, "1"));
        let mut next = turn(vec![result, request(2).event], vec![request(2)]);
        next.custom_status = Some("\"late\"".into());
        let answered = [0].into_iter().collect();
        let merged = merge(first, next, &answered);
        assert_eq!(merged.new_events.len(), 4);
        let ids: Vec<i32> = merged.messages.iter().map(|m| m.event.event_id).collect();
        assert_eq!(ids, [1, 2]);
        assert_eq!(merged.custom_status.as_deref(), Some("\"late\""));
    }

    #[test]
    fn a_continue_as_new_keeps_only_the_new_history_and_no_old_request() {
        let first = turn(vec![request(0).event], vec![request(0), request(1)]);
        let mut next = turn(vec![request(0).event], vec![]);
        next.new_execution_id = Some("f".into());
        let merged = merge(first, next, &[0].into_iter().collect());
        assert_eq!(merged.new_events.len(), 1);
        assert!(merged.messages.is_empty());
    }
}
