//! The invariants that are checked while a simulation runs, inside the in-memory store at the
//! instant each change is applied (so "before" and "after" are exact), plus a trace of every
//! change whose hash tells whether two runs of one seed were the same run.
//!
//! - **Nothing is deleted before what it caused is durable.** When a message is deleted, its
//!   effect must already be stored: its event in the target's history (a start, a completion
//!   of its task id, a raised event, a terminate, suspend or resume), or a copy of it put back on
//!   a queue, or the target's execution is over or another one; an activity request's result
//!   must be in the history or in the orchestration's control queue.
//! - **One committer at a time.** Every History write that adds event rows is fenced by the
//!   sentinel in the same transaction (an insert of a new sentinel or a merge under its ETag),
//!   and it appends right after the rows of its execution already stored — it never leaves a gap
//!   nor writes under rows of its execution that come after it (what a stale second committer
//!   would do).

use std::sync::Mutex;

use taskhub::backend::envelope::Envelope;
use taskhub::backend::history_table::row_to_event;
use taskhub::backend::HubNames;
use taskhub::core::{EventKind, HistoryEvent, TaskMessage};
use taskhub::storage::escape::escape_partition_key;
use taskhub::storage::memory::{Change, Observer, View};
use taskhub::storage::service::{BatchOp, WriteMode};
use taskhub::storage::{EntityExt, TableEntity};

/// Watches one simulated account.
pub struct Checker {
    names: HubNames,
    violations: Mutex<Vec<String>>,
    trace: Mutex<u64>,
    /// When the simulation must pretend the check is off (never: it is how a run proves itself).
    changes: Mutex<u64>,
}

impl Checker {
    pub fn new(names: HubNames) -> Checker {
        Checker {
            names,
            violations: Mutex::new(Vec::new()),
            trace: Mutex::new(0xcbf2_9ce4_8422_2325),
            changes: Mutex::new(0),
        }
    }

    /// What went wrong so far.
    pub fn violations(&self) -> Vec<String> {
        self.violations.lock().unwrap().clone()
    }

    /// A hash of every change applied, in order.
    pub fn trace(&self) -> u64 {
        *self.trace.lock().unwrap()
    }

    /// How many changes were applied.
    pub fn changes(&self) -> u64 {
        *self.changes.lock().unwrap()
    }

    fn fail(&self, what: String) {
        self.violations.lock().unwrap().push(what);
    }

    fn record(&self, parts: &[&str]) {
        let mut h = self.trace.lock().unwrap();
        for p in parts {
            for b in p.bytes().chain(std::iter::once(0)) {
                *h ^= u64::from(b);
                *h = h.wrapping_mul(0x100_0000_01b3);
            }
        }
        *self.changes.lock().unwrap() += 1;
    }

    /// The current execution of an instance as stored: its sentinel execution id and events.
    fn history(&self, view: &View<'_>, instance_id: &str) -> (Option<String>, Vec<HistoryEvent>) {
        let table = self.names.history_table();
        let rows = view.partition(&table, &escape_partition_key(instance_id));
        let exec = rows
            .iter()
            .find(|(rk, _)| *rk == "sentinel")
            .and_then(|(_, e)| e.get_str("ExecutionId").map(str::to_string));
        let events = rows
            .iter()
            .filter(|(rk, e)| *rk != "sentinel" && e.get_str("ExecutionId") == exec.as_deref())
            .filter_map(|(_, e)| row_to_event(e).ok())
            .collect();
        (exec, events)
    }

    /// Whether a message equivalent to `m` (same target and event) is on `queue` now.
    fn copy_queued(&self, view: &View<'_>, queue: &str, m: &TaskMessage) -> bool {
        view.messages(queue).into_iter().any(|text| {
            Envelope::decode(text)
                .ok()
                .and_then(|e| e.message)
                .is_some_and(|c| same_effect(&c, m))
        })
    }

    fn check_delete(&self, queue: &str, text: &str, view: &View<'_>) {
        if queue == self.names.poison_queue() {
            return;
        }
        let Ok(envelope) = Envelope::decode(text) else {
            return; // unreadable: moved to the poison queue
        };
        let Some(m) = envelope.message else {
            return; // a large message's wrapper (the workload sends none)
        };
        let id = m.instance.instance_id.clone();
        if id.starts_with('@') || self.copy_queued(view, queue, &m) {
            return;
        }
        let (exec, events) = self.history(view, &id);
        let msg_exec = m.instance.execution_id.clone().filter(|e| !e.is_empty());
        let other_execution = msg_exec.is_some() && exec.is_some() && msg_exec != exec;
        let over = events
            .iter()
            .any(|e| matches!(e.kind, EventKind::ExecutionCompleted { .. }));
        if other_execution || over {
            return;
        }
        let has = |f: &dyn Fn(&EventKind) -> bool| events.iter().any(|e| f(&e.kind));
        let fine = match &m.event.kind {
            EventKind::TaskScheduled { .. } => {
                // An activity request: its result must be stored or on its way.
                let task = m.event.event_id;
                let result_queued = view
                    .messages(&self.names.control_queue_for(&id))
                    .into_iter()
                    .filter_map(|t| Envelope::decode(t).ok()?.message)
                    .any(|r| {
                        r.instance.instance_id == id && r.event.kind.completes_id() == Some(task)
                    });
                result_queued || has(&|k| k.completes_id() == Some(task))
            }
            EventKind::ExecutionStarted { .. } => {
                exec.is_some() || self.terminated_before_start(view, &id)
            }
            kind if kind.completes_id().is_some() => {
                let task = kind.completes_id();
                // Applied; or a response to something never scheduled (its turn did not
                // commit; the turn that does will schedule it again).
                has(&|k| k.completes_id() == task)
                    || !events
                        .iter()
                        .any(|e| e.kind.is_scheduling() && Some(e.event_id) == task)
            }
            EventKind::EventRaised { name, input } => has(
                &|k| matches!(k, EventKind::EventRaised { name: n, input: i } if n == name && i == input),
            ),
            EventKind::ExecutionTerminated { .. } => {
                has(&|k| matches!(k, EventKind::ExecutionTerminated { .. }))
                    || self.terminated_before_start(view, &id)
            }
            EventKind::ExecutionSuspended { .. } => {
                has(&|k| matches!(k, EventKind::ExecutionSuspended { .. }))
            }
            EventKind::ExecutionResumed { .. } => {
                has(&|k| matches!(k, EventKind::ExecutionResumed { .. }))
            }
            _ => true,
        };
        if !fine {
            self.fail(format!(
                "a {} message for '{id}' was deleted from {queue} before its effect was stored",
                m.event.event_type()
            ));
        }
    }

    fn terminated_before_start(&self, view: &View<'_>, id: &str) -> bool {
        view.entity(&self.names.instances_table(), &escape_partition_key(id), "")
            .and_then(|e| e.get_str("RuntimeStatus"))
            == Some("Terminated")
    }

    fn check_history_write(&self, pk: &str, ops: &[BatchOp], view: &View<'_>) {
        let rows: Vec<(u64, &TableEntity)> = ops
            .iter()
            .filter_map(|op| match op {
                BatchOp::Write { row_key, body, .. } => {
                    Some((u64::from_str_radix(row_key, 16).ok()?, body))
                }
                BatchOp::Delete { .. } => None,
            })
            .collect();
        if rows.is_empty() {
            return; // a purge, or a sentinel-only write
        }
        let fenced = ops.iter().any(|op| {
            matches!(op, BatchOp::Write { row_key, mode, .. }
                if row_key == "sentinel" && matches!(mode, WriteMode::Insert | WriteMode::Merge(Some(_))))
        });
        if !fenced {
            self.fail(format!(
                "history rows of '{pk}' written without the sentinel's fence"
            ));
            return;
        }
        let first = rows.iter().map(|(p, _)| *p).min().unwrap_or(0);
        let last = rows.iter().map(|(p, _)| *p).max().unwrap_or(0);
        let exec = rows[0].1.get_str("ExecutionId").unwrap_or_default();
        let table = self.names.history_table();
        let stored = view.partition(&table, pk);
        let of_exec = |p: u64| {
            stored.iter().any(|(rk, e)| {
                u64::from_str_radix(rk, 16).ok() == Some(p)
                    && e.get_str("ExecutionId") == Some(exec)
            })
        };
        if first > 0 && !of_exec(first - 1) {
            self.fail(format!(
                "history of '{pk}' appended at {first} with no row of its execution before it"
            ));
        }
        if of_exec(last + 1) {
            self.fail(format!(
                "history of '{pk}' written at {first}..={last} under a newer row of its execution"
            ));
        }
    }
}

/// Whether two messages would have the same effect (one is a copy of the other).
fn same_effect(a: &TaskMessage, b: &TaskMessage) -> bool {
    a.instance.instance_id == b.instance.instance_id
        && a.event.event_type() == b.event.event_type()
        && a.event.event_id == b.event.event_id
        && a.event.kind.completes_id() == b.event.kind.completes_id()
        && serde_json::to_value(&a.event.kind).ok() == serde_json::to_value(&b.event.kind).ok()
}

impl Observer for Checker {
    fn applied(&self, change: &Change<'_>, view: &View<'_>) {
        match change {
            Change::MessagePut {
                queue, message_id, ..
            } => {
                self.record(&["put", queue, message_id]);
            }
            Change::MessageDeleted {
                queue,
                message_id,
                text,
            } => {
                self.record(&["delete", queue, message_id]);
                self.check_delete(queue, text, view);
            }
            Change::TableWritten {
                table,
                partition_key,
                ops,
            } => {
                let keys: Vec<&str> = ops.iter().map(|o| o.row_key()).collect();
                self.record(&["table", table, partition_key, &keys.join(",")]);
                if *table == self.names.history_table() {
                    self.check_history_write(partition_key, ops, view);
                }
            }
        }
    }
}
