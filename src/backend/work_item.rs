//! What to do with each message of an orchestration work item, given the instance's state:
//! apply it in this turn, drop it (delete without effect), or defer it (let it come back later).
//!
//! These are DTFx's receive-side rules (reference §4.8–4.10), decided on the history:
//! - a second `ExecutionStarted` for a live instance is a duplicate; one for a finished instance
//!   with a new execution id starts a new execution (a re-created instance);
//! - messages addressed to another execution, and messages for a finished instance, are dropped;
//! - a response whose scheduling event is not in history yet outran its checkpoint: defer it;
//! - messages for an instance that does not exist (yet) are deferred a few times, then dropped;
//! - a start scheduled for later, and a timer seen before it is due (a clock difference, or a
//!   segment longer than a queue allows), wait until their time.

use std::time::Duration;

use crate::core::{EventKind, OrchestrationStatus, TaskMessage, Timestamp};

/// How many times a message for a missing instance, or a response without its scheduling event,
/// is deferred before it is dropped.
pub const MAX_DEFERRALS: u64 = 5;

/// The decision for one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Apply in this turn.
    Apply,
    /// Apply as the start of a new execution that replaces a finished one.
    StartNewExecution,
    /// Delete without effect, for this reason.
    Drop(&'static str),
    /// Leave in the queue, visible again after this delay (a failed delivery: it counts toward
    /// the deferral and poison limits).
    Defer(Duration),
    /// Not due yet: put it back to be seen again at this time (not a failure).
    WaitUntil(Timestamp),
}

/// What the worker knows about the instance when it classifies messages.
pub struct InstanceState<'a> {
    /// Current execution id (`None`: no history).
    pub execution_id: Option<&'a str>,
    /// The instance's current status.
    pub status: OrchestrationStatus,
    /// Whether the execution has scheduled the task with this id.
    pub has_scheduled: &'a dyn Fn(i32) -> bool,
    /// Whether the completion of the task with this id is already in history.
    pub has_completed: &'a dyn Fn(i32) -> bool,
    /// Whether the instance is an entity (auto-started by its first operation).
    pub is_entity: bool,
}

/// Decides what to do with `message` (taken `dequeue_count` times) at `now`.
pub fn classify(
    message: &TaskMessage,
    dequeue_count: u64,
    state: &InstanceState<'_>,
    now: Timestamp,
) -> Disposition {
    let exists = state.execution_id.is_some() && state.status != OrchestrationStatus::Pending;
    let finished = state.status.is_terminal();
    let msg_execution = message
        .instance
        .execution_id
        .as_deref()
        .filter(|e| !e.is_empty());

    if let EventKind::ExecutionStarted {
        scheduled_start_time,
        ..
    } = message.event.kind
    {
        if let Some(at) = scheduled_start_time.filter(|t| *t > now) {
            if !exists || finished {
                return Disposition::WaitUntil(at);
            }
        }
        return match (exists, finished) {
            (false, _) => Disposition::Apply,
            (true, true) if msg_execution.is_some() && msg_execution != state.execution_id => {
                Disposition::StartNewExecution
            }
            (true, true) => Disposition::Drop("instance already finished this execution"),
            (true, false) => Disposition::Drop("duplicate start of a running instance"),
        };
    }
    if !exists {
        if state.is_entity {
            return Disposition::Apply;
        }
        return if dequeue_count > MAX_DEFERRALS {
            Disposition::Drop("no such instance")
        } else {
            Disposition::Defer(defer_delay(dequeue_count))
        };
    }
    if let (Some(m), Some(cur)) = (msg_execution, state.execution_id) {
        if m != cur {
            return Disposition::Drop("message for another execution");
        }
    }
    if finished {
        return Disposition::Drop("instance finished");
    }
    if let EventKind::TimerFired { fire_at, .. } = message.event.kind {
        // Early (a clock difference, or a segment longer than the queue allows): wait again, so
        // the orchestration never sees its timer fire before its time.
        if fire_at > now {
            return Disposition::WaitUntil(fire_at);
        }
    }
    if let Some(id) = message.event.kind.completes_id() {
        if (state.has_completed)(id) {
            // The task ran or was delivered twice (at-least-once): history keeps one completion.
            return Disposition::Drop("duplicate completion");
        }
        if !(state.has_scheduled)(id) {
            return if dequeue_count > MAX_DEFERRALS {
                Disposition::Drop("response to a task this execution never scheduled")
            } else {
                Disposition::Defer(defer_delay(dequeue_count))
            };
        }
    }
    Disposition::Apply
}

/// Short, growing delays for deferred messages: 1, 2, 4, 8, 16 s.
fn defer_delay(dequeue_count: u64) -> Duration {
    Duration::from_secs(1 << dequeue_count.saturating_sub(1).min(4))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::testing::{execution_started, task_completed, T0};
    use crate::core::{HistoryEvent, OrchestrationInstance};

    fn msg(kind: EventKind, exec: Option<&str>) -> TaskMessage {
        TaskMessage {
            instance: OrchestrationInstance::new("i", exec.map(str::to_string)),
            event: HistoryEvent::new(T0, kind),
            visible_at: None,
        }
    }

    fn state(exec: Option<&str>, status: OrchestrationStatus) -> InstanceState<'_> {
        InstanceState {
            execution_id: exec,
            status,
            has_scheduled: &|id| id == 0 || id == 1,
            has_completed: &|id| id == 1,
            is_entity: false,
        }
    }

    #[test]
    fn starts() {
        let start = msg(execution_started("i", "e2", "O", None, None), Some("e2"));
        assert_eq!(
            classify(&start, 1, &state(None, OrchestrationStatus::Pending), T0),
            Disposition::Apply
        );
        assert!(matches!(
            classify(
                &start,
                1,
                &state(Some("e1"), OrchestrationStatus::Running),
                T0
            ),
            Disposition::Drop(_)
        ));
        assert_eq!(
            classify(
                &start,
                1,
                &state(Some("e1"), OrchestrationStatus::Completed),
                T0
            ),
            Disposition::StartNewExecution
        );
        assert!(matches!(
            classify(
                &start,
                1,
                &state(Some("e2"), OrchestrationStatus::Completed),
                T0
            ),
            Disposition::Drop(_)
        ));
    }

    #[test]
    fn early_starts_and_timers_wait_for_their_time() {
        let later = T0 + time::Duration::days(30);
        let mut kind = execution_started("i", "e2", "O", None, None);
        if let EventKind::ExecutionStarted {
            scheduled_start_time,
            ..
        } = &mut kind
        {
            *scheduled_start_time = Some(later);
        }
        let start = msg(kind, Some("e2"));
        assert_eq!(
            classify(&start, 1, &state(None, OrchestrationStatus::Pending), T0),
            Disposition::WaitUntil(later)
        );
        assert_eq!(
            classify(&start, 1, &state(None, OrchestrationStatus::Pending), later),
            Disposition::Apply
        );
        let timer = msg(
            EventKind::TimerFired {
                timer_id: 0,
                fire_at: later,
            },
            Some("e1"),
        );
        let running = state(Some("e1"), OrchestrationStatus::Running);
        assert_eq!(
            classify(&timer, 1, &running, T0),
            Disposition::WaitUntil(later)
        );
    }

    #[test]
    fn responses() {
        let done = msg(task_completed(0, "1"), Some("e1"));
        let running = state(Some("e1"), OrchestrationStatus::Running);
        assert_eq!(classify(&done, 1, &running, T0), Disposition::Apply);
        let twice = msg(task_completed(1, "1"), Some("e1"));
        assert_eq!(
            classify(&twice, 1, &running, T0),
            Disposition::Drop("duplicate completion")
        );
        let early = msg(task_completed(7, "1"), Some("e1"));
        assert!(matches!(
            classify(&early, 1, &running, T0),
            Disposition::Defer(_)
        ));
        assert!(matches!(
            classify(&early, 9, &running, T0),
            Disposition::Drop(_)
        ));
        let stale = msg(task_completed(0, "1"), Some("old"));
        assert!(matches!(
            classify(&stale, 1, &running, T0),
            Disposition::Drop(_)
        ));
        let finished = state(Some("e1"), OrchestrationStatus::Completed);
        assert!(matches!(
            classify(&done, 1, &finished, T0),
            Disposition::Drop(_)
        ));
        let missing = state(None, OrchestrationStatus::Pending);
        assert!(matches!(
            classify(&done, 1, &missing, T0),
            Disposition::Defer(_)
        ));
    }
}
