//! Coalescing the Instances updates of consecutive Running turns.
//!
//! Every checkpoint used to merge the instance's Instances row, although a Running turn of a
//! running instance changes nothing there but `LastUpdatedTime`. A chain of activities paid one
//! table write per activity for it. Now a Running turn skips the merge when this worker itself
//! wrote the row for the same execution less than [`WINDOW`] of event time earlier, Running and
//! with the same custom status; its inbound messages are deleted at once (the history holds the
//! turn, and the row's status is already right).
//!
//! What a reader of the row sees: the status, custom status, input and output are always current
//! (a turn that changes any of them is written); `LastUpdatedTime` may lag the newest turn by less
//! than [`WINDOW`], and only while the instance is Running. A turn that starts an execution, ends
//! one, suspends or resumes it, or replaces it is always written.
//!
//! Owns [`RowCoalescing`]; used by the finisher, whose per-instance order makes the decisions of
//! one instance sequential.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::core::{EventKind, OrchestrationStatus, Timestamp, TurnResult};

use super::locked;

/// The longest a Running row's `LastUpdatedTime` lags behind the instance's newest turn.
pub(crate) const WINDOW: time::Duration = time::Duration::seconds(5);

/// Rows remembered before the stale ones are forgotten (a row older than the window is of no
/// use: the next turn is written anyway).
const PRUNE_ABOVE: usize = 1024;

/// What this worker last wrote to an instance's row.
#[derive(Debug, Clone, PartialEq)]
struct Written {
    execution_id: String,
    custom_status: Option<String>,
    last_updated: Timestamp,
}

/// The Instances rows this worker wrote for Running instances recently.
#[derive(Default)]
pub(crate) struct RowCoalescing {
    rows: Mutex<BTreeMap<String, Written>>,
}

impl RowCoalescing {
    /// Whether the turn's Instances update may be skipped; when it may not, the caller writes
    /// it and calls [`written`](Self::written) once that succeeded.
    pub fn may_skip(&self, instance_id: &str, execution_id: &str, turn: &TurnResult) -> bool {
        let Some(last) = turn.new_events.last().map(|e| e.timestamp) else {
            return false;
        };
        if !is_plain_running(turn) {
            return false;
        }
        let rows = locked(&self.rows);
        rows.get(instance_id).is_some_and(|w| {
            w.execution_id == execution_id
                && w.custom_status == turn.custom_status
                && last - w.last_updated < WINDOW
        })
    }

    /// The turn's row was written: remembered while the instance runs, forgotten once it ends.
    pub fn written(&self, instance_id: &str, execution_id: &str, turn: &TurnResult) {
        let mut rows = locked(&self.rows);
        let last = turn.new_events.last().map(|e| e.timestamp);
        match last {
            Some(last_updated) if turn.status == OrchestrationStatus::Running => {
                if rows.len() >= PRUNE_ABOVE {
                    rows.retain(|_, w| last_updated - w.last_updated < WINDOW);
                }
                rows.insert(
                    instance_id.to_string(),
                    Written {
                        execution_id: execution_id.to_string(),
                        custom_status: turn.custom_status.clone(),
                        last_updated,
                    },
                );
            }
            _ => {
                rows.remove(instance_id);
            }
        }
    }

    /// The row's state is unknown (its update failed): the next turn writes it.
    pub fn forget(&self, instance_id: &str) {
        locked(&self.rows).remove(instance_id);
    }
}

/// A Running turn that neither starts nor ends an execution nor changes its status.
fn is_plain_running(turn: &TurnResult) -> bool {
    turn.status == OrchestrationStatus::Running
        && turn.new_execution_id.is_none()
        && !turn.new_events.iter().any(|e| {
            matches!(
                e.kind,
                EventKind::ExecutionStarted { .. }
                    | EventKind::ExecutionCompleted { .. }
                    | EventKind::ExecutionResumed { .. }
                    | EventKind::ExecutionSuspended { .. }
                    | EventKind::ExecutionRewound { .. }
                    | EventKind::ContinueAsNew { .. }
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::HistoryEvent;

    fn at(ms: i64) -> Timestamp {
        time::macros::datetime!(2026-12-02 10:00 UTC) + time::Duration::milliseconds(ms)
    }

    fn turn(ms: i64, status: OrchestrationStatus, custom: Option<&str>) -> TurnResult {
        TurnResult {
            new_events: vec![
                HistoryEvent::new(at(ms), EventKind::OrchestratorStarted),
                HistoryEvent::new(at(ms), EventKind::OrchestratorCompleted),
            ],
            new_execution_id: None,
            messages: Vec::new(),
            status,
            output: None,
            failure: None,
            custom_status: custom.map(str::to_string),
            warnings: Vec::new(),
        }
    }

    #[test]
    fn running_turns_within_the_window_of_a_written_row_are_skipped() {
        let c = RowCoalescing::default();
        let first = turn(0, OrchestrationStatus::Running, None);
        assert!(!c.may_skip("a", "e1", &first), "nothing written yet");
        c.written("a", "e1", &first);
        let window = WINDOW.whole_milliseconds() as i64;
        assert!(c.may_skip("a", "e1", &turn(400, OrchestrationStatus::Running, None)));
        assert!(c.may_skip(
            "a",
            "e1",
            &turn(window - 1, OrchestrationStatus::Running, None)
        ));
        assert!(
            !c.may_skip("a", "e1", &turn(window, OrchestrationStatus::Running, None)),
            "a row never lags a whole window"
        );
        assert!(!c.may_skip("b", "e1", &turn(400, OrchestrationStatus::Running, None)));
        assert!(
            !c.may_skip("a", "e2", &turn(400, OrchestrationStatus::Running, None)),
            "another execution"
        );
    }

    #[test]
    fn a_change_the_row_shows_is_always_written() {
        let c = RowCoalescing::default();
        c.written("a", "e1", &turn(0, OrchestrationStatus::Running, None));
        assert!(!c.may_skip(
            "a",
            "e1",
            &turn(10, OrchestrationStatus::Running, Some("\"x\""))
        ));
        assert!(!c.may_skip("a", "e1", &turn(10, OrchestrationStatus::Completed, None)));
        assert!(!c.may_skip("a", "e1", &turn(10, OrchestrationStatus::Suspended, None)));
        let mut ended = turn(10, OrchestrationStatus::Running, None);
        ended.new_events.push(HistoryEvent::new(
            at(10),
            EventKind::ExecutionResumed { reason: None },
        ));
        assert!(!c.may_skip("a", "e1", &ended), "a resume is written");
        let mut new_execution = turn(10, OrchestrationStatus::Running, None);
        new_execution.new_execution_id = Some("e2".into());
        assert!(!c.may_skip("a", "e1", &new_execution));
    }

    #[test]
    fn an_ended_or_failed_write_is_forgotten() {
        let c = RowCoalescing::default();
        c.written("a", "e1", &turn(0, OrchestrationStatus::Running, None));
        c.written("a", "e1", &turn(10, OrchestrationStatus::Completed, None));
        assert!(!c.may_skip("a", "e1", &turn(20, OrchestrationStatus::Running, None)));
        c.written("b", "e1", &turn(0, OrchestrationStatus::Running, None));
        c.forget("b");
        assert!(!c.may_skip("b", "e1", &turn(20, OrchestrationStatus::Running, None)));
    }
}
