//! Completing an orchestration work item: the checkpoint, in the order that makes it safe
//! (DESIGN §5, reference §6.3):
//!
//! 1. send the turn's messages (activity requests, timers, events, sub-orchestration starts, the
//!    result to a parent);
//! 2. append the new history rows under the sentinel ETag — the commit point; a conflict means
//!    another worker owns the instance and the work item is abandoned;
//! 3. merge the Instances row;
//! 4. once that succeeded, delete the inbound messages.
//!
//! A crash before 2 re-runs the turn (its messages are sent again; receivers deduplicate). A crash
//! after 2 leaves the inbound messages, which come back, find their events already in history and
//! are dropped (and the Instances row is repaired from the history). Nothing is deleted before what
//! it caused is durable. When the commit fails, messages sent hidden for this worker to process
//! itself are made visible again at once.

use std::collections::BTreeSet;

use futures::stream::{self, StreamExt};

use crate::core::{
    EventKind, HistoryEvent, OrchestrationInstance, OrchestrationStatus, TaskMessage, TurnResult,
};
use crate::storage::{EntityExt, Etag, TableEntity};

use super::error::Result;
use super::history_table::{LoadedHistory, OffloadedProperty, SentinelUpdate};
use super::hub::TaskHub;
use super::large_payload::too_large_for_table;
use super::local_tasks;
use super::messages::ReceivedMessage;

/// How many messages of one checkpoint are sent at once.
const SEND_CONCURRENCY: usize = 16;

/// Where an instance's stored history stands: what the next append builds on.
#[derive(Debug, Clone, Default)]
pub struct HistoryCursor {
    /// The stored execution, if any.
    pub execution_id: Option<String>,
    /// Number of events of that execution in the table.
    pub len: u64,
    /// The sentinel ETag (`None`: no sentinel yet).
    pub etag: Option<Etag>,
    /// Blobs the stored rows refer to.
    pub blob_names: Vec<String>,
    /// Episodes (`OrchestratorStarted` events) of that execution in the table: messages a turn
    /// sends carry the episode count after it, as DurableTask.AzureStorage's `Episode`.
    pub episodes: u32,
    /// Tasks run without a queue message and not yet completed, as the sentinel lists them
    /// (`local_tasks.rs`).
    pub local_tasks: BTreeSet<i32>,
}

impl HistoryCursor {
    /// The cursor of a freshly loaded history.
    pub fn of(loaded: &LoadedHistory) -> Self {
        HistoryCursor {
            execution_id: loaded.execution_id.clone(),
            len: loaded.events.len() as u64,
            etag: loaded.etag.clone(),
            blob_names: loaded.blob_names.clone(),
            episodes: episodes_in(&loaded.events),
            local_tasks: loaded.local_tasks.clone(),
        }
    }
}

/// How many episodes (turns) the events hold.
fn episodes_in(events: &[crate::core::HistoryEvent]) -> u32 {
    let n = events
        .iter()
        .filter(|e| matches!(e.kind, crate::core::EventKind::OrchestratorStarted))
        .count();
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// What a checkpoint writes.
pub struct Checkpoint<'a> {
    /// The instance the turn ran for.
    pub instance_id: &'a str,
    /// The turn to store: its new events, messages and status.
    pub turn: &'a TurnResult,
    /// The stored history the turn was computed on.
    pub cursor: &'a HistoryCursor,
    /// The turn begins a new execution over an old one (a re-created instance): its events
    /// overwrite the stored rows from position 0. Continue-as-new is told by the turn itself.
    pub replaces_execution: bool,
    /// Messages the turn consumed or dropped; deleted last.
    pub inbound: &'a [ReceivedMessage],
    /// Outbound messages this says yes to are sent hidden for `hold_for` and handed back in
    /// [`Committed::held`]: the worker processes them itself without dequeuing them.
    pub hold: Option<&'a (dyn Fn(&TaskMessage) -> bool + Sync)>,
    /// How long held messages stay hidden from other workers after they are sent.
    pub hold_for: std::time::Duration,
    /// Told of each held message as soon as it is sent, before the commit: its lease must be
    /// kept from then on (the commit may take longer than `hold_for`).
    pub on_held: Option<&'a (dyn Fn(&ReceivedMessage) + Sync)>,
    /// Activity requests this says yes to are not sent at all: the worker runs them itself,
    /// recorded by their `TaskScheduled` rows and the sentinel's local-tasks column
    /// (`local_tasks.rs`), and gets them back in [`Committed::run_here`]. Asked before
    /// `hold`, once per activity request.
    pub run_here: Option<&'a (dyn Fn(&TaskMessage) -> bool + Sync)>,
    /// The worker holds a wake-up message of this instance already; otherwise a turn that
    /// leaves local tasks pending sends one (hidden, held) before its commit.
    pub has_wake_up: bool,
}

/// A committed checkpoint: its history is in the table.
#[derive(Debug)]
pub struct Committed {
    /// Where the stored history stands now.
    pub cursor: HistoryCursor,
    /// The messages sent hidden, as if just taken from their queues.
    pub held: Vec<ReceivedMessage>,
    /// The activity requests not sent, for the worker to run itself.
    pub run_here: Vec<TaskMessage>,
    /// The wake-up message sent for the instance's local tasks (hidden, held), if one was.
    pub wake_up: Option<ReceivedMessage>,
    execution_id: String,
    offloaded: Vec<OffloadedProperty>,
    replaced: bool,
}

impl TaskHub {
    /// Writes a turn's effects in the safe order: [`commit`](Self::commit) then
    /// [`finish`](Self::finish). A [`LockLost`](super::Error::LockLost) error means nothing was
    /// committed.
    pub async fn checkpoint(&self, cp: Checkpoint<'_>) -> Result<Committed> {
        let committed = self.commit(&cp).await?;
        self.finish(&cp, &committed).await?;
        Ok(committed)
    }

    /// Steps 1 and 2: sends the messages, then appends the history — the commit point. After
    /// this the turn is durable: a caller may hand the held messages on before `finish`.
    pub async fn commit(&self, cp: &Checkpoint<'_>) -> Result<Committed> {
        let turn = cp.turn;
        let execution_id = turn
            .new_execution_id
            .clone()
            .or_else(|| started_execution_id(&turn.new_events))
            .or_else(|| cp.cursor.execution_id.clone())
            .unwrap_or_default();
        let me = OrchestrationInstance::new(cp.instance_id, Some(execution_id.clone()));
        let replaced = turn.new_execution_id.is_some() || cp.replaces_execution;
        let episodes = if replaced { 0 } else { cp.cursor.episodes }
            .saturating_add(episodes_in(&turn.new_events));
        let episode = i32::try_from(episodes).ok();

        // Which requests run here (not sent), and what the sentinel lists after the turn. Only
        // this execution's: a continue-as-new still sends the old execution's requests, whose
        // results the new execution drops.
        let runs_here = |m: &TaskMessage| {
            m.is_activity_request()
                && m.instance.execution_id.as_deref() == Some(execution_id.as_str())
                && cp.run_here.is_some_and(|f| f(m))
        };
        let (run_here, to_send): (Vec<&TaskMessage>, Vec<&TaskMessage>) =
            turn.messages.iter().partition(|m| runs_here(m));
        let local_tasks = local_tasks::after_turn(
            &cp.cursor.local_tasks,
            &turn.new_events,
            replaced,
            turn.is_terminal(),
            run_here.iter().map(|m| m.event.event_id),
        );
        let local_column =
            (local_tasks != cp.cursor.local_tasks).then(|| local_tasks::format(&local_tasks));
        let wake_up = (!local_tasks.is_empty() && !cp.has_wake_up)
            .then(|| local_tasks::wake_up(&me, self.clock().now()));

        // 1. Messages out (the wake-up among them). Futures are built first: a closure inside
        // the stream trips the compiler's higher-ranked lifetime inference when this future is
        // spawned.
        let held_for = cp.hold_for;
        let sends: Vec<_> = to_send
            .into_iter()
            .map(|m| (m, cp.hold.is_some_and(|h| h(m))))
            .chain(wake_up.as_ref().map(|w| (w, true)))
            .map(|(m, hold)| {
                let me = &me;
                async move {
                    if hold {
                        let sent = self.send_held(m, Some(me), episode, held_for).await?;
                        let held = sent.into_received(self.clock().now());
                        if let (Some(h), Some(f)) = (&held, cp.on_held) {
                            f(h);
                        }
                        Ok(held)
                    } else {
                        self.send(m, Some(me), episode).await.map(|_| None)
                    }
                }
            })
            .collect();
        let sent: Vec<Result<Option<ReceivedMessage>>> = stream::iter(sends)
            .buffer_unordered(SEND_CONCURRENCY)
            .collect()
            .await;
        let mut held = Vec::new();
        let mut failed = None;
        for r in sent {
            match r {
                Ok(Some(m)) => held.push(m),
                Ok(None) => {}
                Err(e) => failed = Some(e),
            }
        }
        if let Some(e) = failed {
            self.release_held(&held).await;
            return Err(e);
        }
        let (wake_up, held): (Vec<_>, Vec<_>) = held
            .into_iter()
            .partition(|m| local_tasks::is_wake_up(&m.message));

        // 2. History: the commit point.
        let first = if replaced { 0 } else { cp.cursor.len };
        let appended = self
            .history()
            .append(
                cp.instance_id,
                &execution_id,
                first,
                &turn.new_events,
                cp.cursor.etag.clone(),
                SentinelUpdate {
                    now: self.clock().now(),
                    local_tasks: local_column.as_deref(),
                },
            )
            .await;
        let (etag, offloaded) = match appended {
            Ok(a) => a,
            Err(e) => {
                // Not committed (or not knowably): the held messages go back to their queues now
                // instead of staying hidden for the whole hold, so whoever processes the retried
                // turn — or the instance's next owner — sees them at once.
                self.release_held(&held).await;
                self.release_held(&wake_up).await;
                return Err(e);
            }
        };
        let mut blob_names: Vec<String> = Vec::new();
        if !replaced {
            blob_names.extend(cp.cursor.blob_names.iter().cloned());
        }
        blob_names.extend(offloaded.iter().map(|o| o.blob_name.clone()));
        Ok(Committed {
            cursor: HistoryCursor {
                execution_id: Some(execution_id.clone()),
                len: first + turn.new_events.len() as u64,
                etag: Some(etag),
                blob_names,
                episodes,
                local_tasks,
            },
            held,
            run_here: run_here.into_iter().cloned().collect(),
            wake_up: wake_up.into_iter().next(),
            execution_id,
            offloaded,
            replaced,
        })
    }

    /// Steps 3 and 4: the Instances row, then — only once it is written — the deletion of the
    /// inbound messages, then the blobs of a replaced execution. If the Instances write fails the
    /// messages stay: they come back, find their events in history, and the instance's row is
    /// repaired from the history then (a final turn would otherwise leave it Running for good,
    /// with no message left to repair it).
    pub async fn finish(&self, cp: &Checkpoint<'_>, committed: &Committed) -> Result<()> {
        let columns = self
            .instance_columns(
                cp.instance_id,
                cp.turn,
                &committed.execution_id,
                &committed.offloaded,
            )
            .await?;
        self.instances()
            .upsert_merge(cp.instance_id, &columns)
            .await?;
        self.delete_messages(cp.inbound).await;
        if committed.replaced {
            for blob in &cp.cursor.blob_names {
                if let Err(e) = self.payloads().delete(blob).await {
                    tracing::warn!(instance_id = cp.instance_id, %blob, error = %e, "could not delete an old history blob");
                }
            }
        }
        Ok(())
    }

    /// Makes messages sent hidden for a turn that did not commit visible at once.
    async fn release_held(&self, held: &[ReceivedMessage]) {
        for m in held {
            if let Err(e) = self.abandon_message(m, std::time::Duration::ZERO).await {
                tracing::debug!(queue = %m.queue, error = %e, "could not release a held message; it appears when its lock ends");
            }
        }
    }

    /// Deletes processed messages. A failure is logged, not returned: the message comes back and
    /// is recognised as already processed.
    pub async fn delete_messages(&self, messages: &[ReceivedMessage]) {
        let deletes: Vec<_> = messages
            .iter()
            .map(|m| async move { (m, self.delete_message(m).await) })
            .collect();
        let results = stream::iter(deletes)
            .buffer_unordered(SEND_CONCURRENCY)
            .collect::<Vec<_>>()
            .await;
        for (m, r) in results {
            if let Err(e) = r {
                tracing::warn!(message_id = %m.raw.message_id, queue = %m.queue, error = %e, "could not delete a processed message; it will be seen again and dropped");
            }
        }
    }

    /// The Instances columns a turn changes (reference §3.2b).
    async fn instance_columns(
        &self,
        instance_id: &str,
        turn: &TurnResult,
        execution_id: &str,
        offloaded: &[OffloadedProperty],
    ) -> Result<TableEntity> {
        let mut row = TableEntity::new();
        row.put_str(
            "CustomStatus",
            turn.custom_status.clone().unwrap_or_else(|| "null".into()),
        );
        row.put_str("ExecutionId", execution_id);
        row.put_str("TaskHubName", self.names().hub().as_str());
        row.put_str("RuntimeStatus", turn.status.as_str());
        if let Some(last) = turn.new_events.last() {
            row.put_datetime("LastUpdatedTime", last.timestamp);
        }
        for (index, event) in turn.new_events.iter().enumerate() {
            match &event.kind {
                EventKind::ExecutionStarted {
                    name,
                    version,
                    input,
                    generation,
                    scheduled_start_time,
                    tags,
                    ..
                } => {
                    row.put_str("Name", name.as_str());
                    row.put_str("Version", version.clone().unwrap_or_default());
                    row.put_datetime("CreatedTime", event.timestamp);
                    row.put_str("Tags", tags.clone().unwrap_or_else(|| "null".into()));
                    if let Some(g) = generation {
                        row.put_i32("Generation", *g);
                    }
                    if let Some(t) = scheduled_start_time {
                        row.put_datetime("ScheduledStartTime", *t);
                    }
                    let value = input.clone().unwrap_or_default();
                    let history_blob = offloaded_blob(offloaded, index, "Input");
                    let stored = self
                        .table_value(instance_id, execution_id, "Input", value, history_blob)
                        .await?;
                    row.put_str("Input", stored);
                }
                EventKind::ExecutionCompleted { .. } => {
                    row.put_datetime("CompletedTime", self.clock().now());
                    // A failure's output is `ErrorType: message`, not the history's Result.
                    let (output, history_blob) = match (&turn.failure, turn.status) {
                        (Some(f), OrchestrationStatus::Failed) => (f.to_string(), None),
                        _ => (
                            turn.output.clone().unwrap_or_default(),
                            offloaded_blob(offloaded, index, "Result"),
                        ),
                    };
                    let stored = self
                        .table_value(instance_id, execution_id, "Output", output, history_blob)
                        .await?;
                    row.put_str("Output", stored);
                }
                _ => {}
            }
        }
        Ok(row)
    }

    /// A value as the Instances table holds it: inline, or the URL of a blob (the History blob of
    /// the same text when there is one).
    async fn table_value(
        &self,
        instance_id: &str,
        execution_id: &str,
        column: &str,
        value: String,
        history_blob: Option<&str>,
    ) -> Result<String> {
        if !too_large_for_table(&value) {
            return Ok(value);
        }
        if let Some(blob) = history_blob {
            return Ok(self.payloads().url(blob));
        }
        let blob = format!(
            "{}/instance-{execution_id}-{column}.json.gz",
            crate::storage::escape::escape_partition_key(instance_id)
        );
        self.payloads().upload(&blob, &value).await?;
        Ok(self.payloads().url(&blob))
    }
}

/// The blob a property of the appended event at `index` went to.
fn offloaded_blob<'a>(
    offloaded: &'a [OffloadedProperty],
    index: usize,
    prop: &str,
) -> Option<&'a str> {
    offloaded
        .iter()
        .find(|o| o.index == index && o.property == prop)
        .map(|o| o.blob_name.as_str())
}

impl TaskHub {
    /// Makes the Instances row of a finished instance agree with its history (reference
    /// §3.2d): a worker that died between the history append and the Instances update leaves
    /// the row Running although the history has ended. A Pending row of another execution (a
    /// new start on its way) is left alone. Returns true when the row was rewritten.
    pub async fn repair_finished_instance(&self, instance_id: &str) -> Result<bool> {
        let loaded = self.history().load(instance_id).await?;
        let summary = crate::core::HistorySummary::of(&loaded.events);
        let Some(status) = summary.status.filter(|s| s.is_terminal()) else {
            return Ok(false);
        };
        let row = self.instances().read(instance_id, false).await?;
        if let Some((r, _)) = &row {
            let same = r.execution_id == loaded.execution_id;
            // Up to date; or Pending for another execution: a client has started the instance
            // afresh and its start is on the way, so the row is ahead of the history, not behind.
            let restarted = !same && r.runtime_status == OrchestrationStatus::Pending;
            if (same && r.runtime_status == status) || restarted {
                return Ok(false);
            }
        }
        let execution_id = loaded.execution_id.clone().unwrap_or_default();
        let turn = TurnResult {
            new_events: loaded.events.clone(),
            new_execution_id: None,
            messages: Vec::new(),
            status,
            output: summary.output.clone(),
            failure: summary.failure.clone(),
            custom_status: None,
            warnings: Vec::new(),
        };
        let offloaded = Vec::new();
        let columns = self
            .instance_columns(instance_id, &turn, &execution_id, &offloaded)
            .await?;
        self.instances().upsert_merge(instance_id, &columns).await?;
        tracing::info!(instance_id, %status, "Instances row repaired from the history");
        Ok(true)
    }
}

/// The execution id of an `ExecutionStarted` among `events`.
pub fn started_execution_id(events: &[HistoryEvent]) -> Option<String> {
    events.iter().find_map(|e| match &e.kind {
        EventKind::ExecutionStarted {
            orchestration_instance,
            ..
        } => orchestration_instance.execution_id.clone(),
        _ => None,
    })
}
