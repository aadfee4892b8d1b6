//! Activities a worker runs itself without a work-item message: how the task hub records them.
//!
//! The durable record of such a task is its `TaskScheduled` row plus its id in the sentinel's
//! `TaskhubLocalTasks` column (written by the same transaction that appends the row); the
//! result is applied by a later turn's commit, which removes the id. While the column lists any
//! id, a *wake-up message* — a `GenericEvent` whose data is [`WAKE_UP_DATA`] — lies hidden on
//! the instance's control queue, renewed by the worker running the tasks. Should that worker
//! die, the wake-up appears, the partition's owner loads the history and runs the listed tasks
//! that have no result again. The wake-up is deleted only by the finish of a turn whose commit
//! left the column empty, so a listed task always has one.
//!
//! DurableTask.AzureStorage ignores the column; a .NET worker taking the wake-up appends a
//! harmless `GenericEvent`, but would never run the listed tasks: a hub shared with .NET runs
//! with local activities off (`WorkerOptions::local_activity_backlog = 0`).

use std::collections::BTreeSet;

use crate::core::{EventKind, HistoryEvent, OrchestrationInstance, TaskMessage, Timestamp};

/// The sentinel column listing the ids of the tasks run without a message and not yet
/// completed, as ranges: `0-99,102`.
pub const LOCAL_TASKS_COLUMN: &str = "TaskhubLocalTasks";

/// The data of the wake-up message of an instance with local tasks.
pub const WAKE_UP_DATA: &str = "taskhub.local-tasks";

/// The task ids a column value lists. An unreadable part is skipped (only taskhub writes the
/// column; its tasks would then wait for a result that never comes rather than crash a load).
pub fn parse(text: &str) -> BTreeSet<i32> {
    let mut ids = BTreeSet::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        if let (Ok(a), Ok(b)) = (a.parse::<i32>(), b.parse::<i32>()) {
            if a <= b && b - a < 1_000_000 {
                ids.extend(a..=b);
            }
        }
    }
    ids
}

/// The column value for `ids` (ranges of consecutive ids; empty for none).
pub fn format(ids: &BTreeSet<i32>) -> String {
    let mut out = String::new();
    let mut iter = ids.iter().copied().peekable();
    while let Some(start) = iter.next() {
        let mut end = start;
        while iter.peek() == Some(&(end + 1)) {
            end += 1;
            iter.next();
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}-{end}"));
        }
    }
    out
}

/// The local tasks after a turn: those before it (unless the turn starts a new execution)
/// without the ones its events complete, plus the ones it runs here; none once the execution
/// `ends`.
pub fn after_turn(
    before: &BTreeSet<i32>,
    new_events: &[HistoryEvent],
    starts_over: bool,
    ends: bool,
    run_here: impl IntoIterator<Item = i32>,
) -> BTreeSet<i32> {
    let mut ids = if starts_over {
        BTreeSet::new()
    } else {
        before.clone()
    };
    for e in new_events {
        if let Some(id) = e.kind.completes_id() {
            ids.remove(&id);
        }
    }
    ids.extend(run_here);
    if ends {
        ids.clear();
    }
    ids
}

/// The wake-up message of `instance`.
pub fn wake_up(instance: &OrchestrationInstance, now: Timestamp) -> TaskMessage {
    TaskMessage {
        instance: instance.clone(),
        event: HistoryEvent::new(
            now,
            EventKind::GenericEvent {
                data: Some(WAKE_UP_DATA.into()),
                reason: None,
            },
        ),
        visible_at: None,
    }
}

/// Whether `m` is a wake-up message.
pub fn is_wake_up(m: &TaskMessage) -> bool {
    matches!(&m.event.kind, EventKind::GenericEvent { data: Some(d), reason: None } if d == WAKE_UP_DATA)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::testing::{task_completed, T0};

    #[test]
    fn ranges_round_trip() {
        let ids: BTreeSet<i32> = [0, 1, 2, 3, 7, 9, 10].into_iter().collect();
        assert_eq!(format(&ids), "0-3,7,9-10");
        assert_eq!(parse("0-3,7,9-10"), ids);
        assert_eq!(format(&BTreeSet::new()), "");
        assert!(parse("").is_empty());
    }

    #[test]
    fn unreadable_parts_are_skipped() {
        let ids: BTreeSet<i32> = [4].into_iter().collect();
        assert_eq!(parse("x,4,3-1,0-99999999"), ids);
    }

    #[test]
    fn a_turn_removes_what_it_completes_and_adds_what_it_runs_here() {
        let before: BTreeSet<i32> = [1, 2].into_iter().collect();
        let events = vec![HistoryEvent::new(T0, task_completed(1, "\"r\""))];
        let after = after_turn(&before, &events, false, false, [3]);
        assert_eq!(after, [2, 3].into_iter().collect());
        let over = after_turn(&before, &events, true, false, [0]);
        assert_eq!(over, [0].into_iter().collect());
        assert!(after_turn(&before, &events, false, true, []).is_empty());
    }

    #[test]
    fn the_wake_up_is_told_from_a_rewind_wake_up() {
        let i = OrchestrationInstance::new("i", Some("e".into()));
        assert!(is_wake_up(&wake_up(&i, T0)));
        let mut other = wake_up(&i, T0);
        other.event.kind = EventKind::GenericEvent {
            data: Some("rewind".into()),
            reason: None,
        };
        assert!(!is_wake_up(&other));
    }
}
