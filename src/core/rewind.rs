//! Which history rows a rewind rewrites: DurableTask.AzureStorage's algorithm
//! (`AzureTableTrackingStore.RewindHistoryAsync`), as a pure function over the rows of the
//! instance's current execution. `backend::rewind` applies the plan to the History table, and
//! [`crate::core::testing::InMemoryHost::rewind`] to an in-memory history.
//!
//! Every row that records the failure — `TaskFailed`, `SubOrchestrationInstanceFailed` and the
//! `ExecutionCompleted` whose `OrchestrationStatus` is `Failed` — is cleared: it becomes a
//! `GenericEvent` whose `Reason` is `Rewound: <old EventType>`, keeping its RowKey, so replay
//! skips it. So is the `TaskScheduled` row of each failed activity, so the code schedules it
//! again. The `SubOrchestrationInstanceCreated` row of each failed sub-orchestration is only
//! marked (the `Reason`): the child keeps its id and is rewound itself.

use super::history::{EventKind, HistoryEvent, OrchestrationStatus, REWOUND_PREFIX};

/// The columns of a history row the plan looks at.
#[derive(Debug, Clone, Copy, Default)]
pub struct RowView<'a> {
    /// `EventType`.
    pub event_type: &'a str,
    /// `OrchestrationStatus` is `Failed` (the failed `ExecutionCompleted`).
    pub failed_completion: bool,
    /// `EventId`.
    pub event_id: Option<i32>,
    /// `TaskScheduledId`.
    pub task_scheduled_id: Option<i32>,
    /// `InstanceId` (of a sub-orchestration's row).
    pub instance_id: Option<&'a str>,
    /// `Reason` says an earlier rewind marked or cleared the row (`Rewound: …`).
    pub rewound: bool,
}

impl<'a> RowView<'a> {
    /// The view of an event.
    pub fn of(event: &'a HistoryEvent) -> Self {
        let (task_scheduled_id, instance_id, failed_completion) = match &event.kind {
            EventKind::SubOrchestrationInstanceCreated { instance_id, .. } => {
                (None, Some(instance_id.as_str()), false)
            }
            EventKind::ExecutionCompleted { status, .. } => {
                (None, None, *status == OrchestrationStatus::Failed)
            }
            kind => (kind.completes_id(), None, false),
        };
        RowView {
            event_type: event.kind.event_type().as_str(),
            failed_completion,
            event_id: Some(event.event_id),
            task_scheduled_id,
            instance_id,
            rewound: event.kind.rewound().is_some(),
        }
    }
}

/// What to do to one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edit {
    /// Becomes a `GenericEvent` with `Reason` `Rewound: <old type>`.
    Clear,
    /// Keeps its type and gets that `Reason` (a failed sub-orchestration's creation).
    Mark,
}

/// The rows to rewrite (by index in the rows given to [`plan`], in the order DurableTask
/// writes them) and the failed sub-orchestrations to rewind in turn.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RewindPlan {
    /// Row index and edit.
    pub edits: Vec<(usize, Edit)>,
    /// Ids of the failed sub-orchestrations, in history order.
    pub children: Vec<String>,
    /// A sub-orchestration failed (then this instance is not a leaf to wake: its children's
    /// completions wake it).
    pub failed_children: bool,
}

/// The `Reason` a rewritten row gets.
pub fn rewound_reason(old_event_type: &str) -> String {
    format!("{REWOUND_PREFIX}{old_event_type}")
}

/// The plan for the rows of one execution (RowKey order, sentinel left out).
///
/// A rewind that was interrupted (storage went away between instances) is finished by
/// planning again: a sub-orchestration an earlier rewind marked and whose completion has not
/// come back is a child to rewind (or wake) again, so the parent is not taken for a leaf.
pub fn plan(rows: &[RowView<'_>]) -> RewindPlan {
    let find = |id: Option<i32>, event_type: &str| {
        rows.iter()
            .position(|r| r.event_id == Some(id.unwrap_or_default()) && r.event_type == event_type)
    };
    let mut out = RewindPlan::default();
    for (i, row) in rows.iter().enumerate() {
        let failed_task = row.event_type == "TaskFailed";
        let failed_child = row.event_type == "SubOrchestrationInstanceFailed";
        // A completion an earlier rewind cleared keeps its status column; it is done.
        let failed_completion = row.failed_completion && row.event_type == "ExecutionCompleted";
        if !(failed_task || failed_child || failed_completion) {
            continue;
        }
        if failed_task {
            if let Some(s) = find(row.task_scheduled_id, "TaskScheduled") {
                out.edits.push((s, Edit::Clear));
            }
        }
        if failed_child {
            out.failed_children = true;
            if let Some(c) = find(row.task_scheduled_id, "SubOrchestrationInstanceCreated") {
                out.edits.push((c, Edit::Mark));
                if let Some(child) = rows[c].instance_id {
                    out.children.push(child.to_string());
                }
            }
        }
        out.edits.push((i, Edit::Clear));
    }
    for row in rows {
        let Some(child) = row
            .instance_id
            .filter(|_| row.event_type == "SubOrchestrationInstanceCreated" && row.rewound)
        else {
            continue;
        };
        let came_back = rows.iter().any(|r| {
            r.event_type == "SubOrchestrationInstanceCompleted"
                && r.task_scheduled_id == row.event_id
        });
        if !came_back && !out.children.iter().any(|c| c == child) {
            out.failed_children = true;
            out.children.push(child.to_string());
        }
    }
    out
}

/// True when the rows are those of a rewind that has not finished: the failed completion
/// was cleared and the execution has not ended since (the instance is then Pending, perhaps
/// with its wake-up never sent; rewinding it again finishes the rewind).
pub fn unfinished(events: &[HistoryEvent]) -> bool {
    let cleared = events
        .iter()
        .rposition(|e| e.kind.rewound() == Some("ExecutionCompleted"));
    cleared.is_some_and(|at| {
        !events[at..]
            .iter()
            .any(|e| matches!(e.kind, EventKind::ExecutionCompleted { .. }))
    })
}

/// Applies a plan's edits to in-memory events (the `Mark` of a creation has no event field to
/// hold it and changes nothing replay sees).
pub fn apply(events: &mut [HistoryEvent], plan: &RewindPlan) {
    for (i, edit) in &plan.edits {
        if *edit == Edit::Clear {
            let e = &mut events[*i];
            e.kind = EventKind::GenericEvent {
                data: None,
                reason: Some(rewound_reason(e.kind.event_type().as_str())),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scheduling row (`EventId`).
    fn scheduled(event_type: &'static str, id: i32) -> RowView<'static> {
        RowView {
            event_type,
            event_id: Some(id),
            ..RowView::default()
        }
    }

    /// A completion row (`TaskScheduledId`).
    fn completes(event_type: &'static str, id: i32) -> RowView<'static> {
        RowView {
            event_type,
            task_scheduled_id: Some(id),
            ..RowView::default()
        }
    }

    fn failed_completion() -> RowView<'static> {
        RowView {
            event_type: "ExecutionCompleted",
            failed_completion: true,
            ..RowView::default()
        }
    }

    #[test]
    fn a_failed_activity_clears_its_schedule_its_failure_and_the_completion() {
        let rows = [
            scheduled("ExecutionStarted", -1),
            scheduled("TaskScheduled", 0),
            completes("TaskFailed", 0),
            failed_completion(),
        ];
        let p = plan(&rows);
        assert_eq!(
            p.edits,
            vec![(1, Edit::Clear), (2, Edit::Clear), (3, Edit::Clear)]
        );
        assert!(!p.failed_children && p.children.is_empty());
    }

    #[test]
    fn a_failed_child_is_marked_and_rewound_and_completed_work_is_kept() {
        let rows = [
            scheduled("TaskScheduled", 0),
            completes("TaskCompleted", 0),
            RowView {
                instance_id: Some("child"),
                ..scheduled("SubOrchestrationInstanceCreated", 1)
            },
            completes("SubOrchestrationInstanceFailed", 1),
            failed_completion(),
        ];
        let p = plan(&rows);
        assert_eq!(
            p.edits,
            vec![(2, Edit::Mark), (3, Edit::Clear), (4, Edit::Clear)]
        );
        assert_eq!(p.children, vec!["child".to_string()]);
        assert!(p.failed_children);
    }
}
