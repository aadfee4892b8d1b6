//! The seam between the worker and the task hub: [`OrchestrationService`], the work-item
//! protocol in the spirit of DurableTask.Core's `IOrchestrationService`. The worker reaches
//! storage only through it; [`TaskHub`] (the classic Azure Storage layout) implements it.
//!
//! # The contract
//!
//! **Messages and their leases.** A fetched message is hidden from others until its lease runs
//! out ([`MessageLease::next_visible`](super::messages::MessageLease::next_visible)); the holder renews it ([`renew_message`]) for as long as
//! it works on it. Every copy of a [`ReceivedMessage`] shares the lease, and the operations on one
//! message run one at a time, so a renewal never leaves a stale pop receipt behind. After a
//! message is deleted, abandoned or deferred it is released: further operations on it do
//! nothing. A message whose lease ran out may be taken by another worker; then this worker's
//! delete or renewal does nothing and the message is simply processed again (delivery is
//! at-least-once).
//!
//! **Orchestration work items.** A work item is an instance's pending messages
//! ([`fetch_orchestration_messages`], grouped by the caller) plus its state
//! ([`load_orchestration_state`], unless the caller still has it). Completing one is two steps, in
//! this order, and nothing else may reorder them:
//! 1. [`commit_orchestration_work_item`]: send the turn's messages, then append its history under
//!    the sentinel ETag. The append is the commit point: once it returns `Ok`, the turn is durable
//!    and its held messages ([`Committed::held`]) may be handed on. It is atomic for turns of up
//!    to 99 events; a longer turn is appended in several transactions, each fenced, and a crash
//!    between them leaves a prefix that replay treats as an unfinished turn (its inbound messages
//!    come back and the rest is scheduled again).
//!    - `Err(LockLost)`: another worker appended since the state was loaded; nothing of this turn
//!      was committed (a lost answer of our own append is recognised and is not `LockLost`). The
//!      caller drops its cached state and abandons the messages; they come back.
//!    - any other `Err`: the commit may or may not have happened (a timeout). The caller drops its
//!      cached state and abandons the messages; on redelivery they are found in history (and
//!      dropped) or not (and applied).
//!    - on every `Err`, messages the turn sent hidden for the caller are made visible again.
//! 2. [`finish_orchestration_work_item`]: merge the Instances row, then — only if that worked —
//!    delete the inbound messages. An `Err` leaves the messages; they come back and the next
//!    turn or [`repair_finished_instance`] brings the row up to date. Finishes of one instance
//!    must run in turn order (the caller keeps that order).
//!
//! A message decided to have no effect is deleted by [`drop_messages`] only after the caller
//! made sure the decision was taken on current state: on freshly loaded history, or on cached
//! state that [`history_unchanged`] confirms.
//!
//! A finish may leave out the Instances merge when the caller knows the row already shows what
//! the turn would write but its `LastUpdatedTime` (the worker coalesces the updates of
//! consecutive Running turns); the inbound messages are then deleted with [`drop_messages`]
//! after the commit.
//!
//! **Activity work items.** [`fetch_activity_work_items`] takes activity requests;
//! [`complete_activity_work_item`] sends the result to the orchestration's control queue and only
//! then deletes the request (a crash in between runs the activity again). A worker that owns the
//! orchestration's partition may instead hand the result to its own session, carried by the
//! request's message, which that session's finish deletes.
//!
//! **Local activities.** The commit may run activity requests in the caller instead of sending
//! them ([`Checkpoint::run_here`], handed back in [`Committed::run_here`]): the same append lists
//! their ids in the sentinel's local-tasks column ([`LoadedHistory::local_tasks`]), and removes
//! each id in the commit that applies its result. While any id is listed a wake-up message of the
//! instance must exist: the commit sends one (hidden, before the append, in
//! [`Committed::wake_up`]) unless the caller says it holds one ([`Checkpoint::has_wake_up`]). The
//! caller deletes it only in the finish of a commit that left the list empty. Whoever takes it
//! loads the history and runs again the listed tasks it does not run itself
//! (`backend::local_tasks`).
//!
//! **Poison.** A message taken too often is poison: first the failure it causes is made durable
//! ([`fail_instance`], or the failed task's response), then the message is moved to the poison
//! queue ([`poison_message`]).
//!
//! **Partitions.** Leases are rows read with [`read_leases`] and written all-or-nothing under
//! their ETags by [`write_leases`]; a 409/412 means another worker changed one first and nothing
//! was written.
//!
//! **Retention.** [`purge_finished`] is one budgeted call of a purge by filter
//! ([`TaskHub::purge_page`]): the worker's retention calls it at a low rate, from one worker of
//! the hub at a time.
//!
//! [`purge_finished`]: OrchestrationService::purge_finished
//! [`renew_message`]: OrchestrationService::renew_message
//! [`fetch_orchestration_messages`]: OrchestrationService::fetch_orchestration_messages
//! [`load_orchestration_state`]: OrchestrationService::load_orchestration_state
//! [`commit_orchestration_work_item`]: OrchestrationService::commit_orchestration_work_item
//! [`finish_orchestration_work_item`]: OrchestrationService::finish_orchestration_work_item
//! [`repair_finished_instance`]: OrchestrationService::repair_finished_instance
//! [`drop_messages`]: OrchestrationService::drop_messages
//! [`history_unchanged`]: OrchestrationService::history_unchanged
//! [`fetch_activity_work_items`]: OrchestrationService::fetch_activity_work_items
//! [`complete_activity_work_item`]: OrchestrationService::complete_activity_work_item
//! [`fail_instance`]: OrchestrationService::fail_instance
//! [`poison_message`]: OrchestrationService::poison_message
//! [`read_leases`]: OrchestrationService::read_leases
//! [`write_leases`]: OrchestrationService::write_leases

use std::time::Duration;

use async_trait::async_trait;

use crate::clock::Clock;
use crate::core::{FailureDetails, TaskMessage, Timestamp};
use crate::storage::Etag;

use super::activities::ActivityWorkItem;
use super::bulk_purge::{PurgeFilter, PurgeLimits, PurgeProgress};
use super::checkpoint::{Checkpoint, Committed};
use super::error::Result;
use super::history_table::{LoadedHistory, SENTINEL};
use super::hub::TaskHub;
use super::instances_table::InstanceStatus;
use super::messages::ReceivedMessage;
use super::names::HubNames;
use super::partitions_table::{PartitionLease, PartitionsTable};

/// The work-item protocol a worker drives. See the module docs for the contract.
#[async_trait]
pub trait OrchestrationService: Send + Sync + 'static {
    /// The hub's resource names (its control queues are its partitions).
    fn names(&self) -> &HubNames;
    /// The clock the hub stamps events, leases and due times with.
    fn clock(&self) -> &Clock;
    /// Creates whatever of the hub is missing (queues, tables, container, lease rows); what
    /// exists is kept.
    async fn create_hub_if_missing(&self) -> Result<()>;

    // ---- partitions
    /// Creates a free lease row for every partition that has none.
    async fn ensure_lease_rows(&self) -> Result<()>;
    /// Every lease row of the hub, by partition name.
    async fn read_leases(&self) -> Result<Vec<PartitionLease>>;
    /// Writes changed leases all or nothing, each under its ETag; on success each carries its
    /// new ETag.
    async fn write_leases(&self, leases: &mut [PartitionLease]) -> Result<()>;

    // ---- orchestration work items
    /// Takes up to `max` messages of a partition, hidden for `lock_for`. Messages that can never
    /// be read are moved to the poison queue; one whose large payload cannot be fetched now is
    /// released for a retry shortly; the rest are returned.
    async fn fetch_orchestration_messages(
        &self,
        partition: &str,
        max: u8,
        lock_for: Duration,
    ) -> Result<Vec<ReceivedMessage>>;
    /// The instance's current execution as stored, with the sentinel ETag that fences the next
    /// append.
    async fn load_orchestration_state(&self, instance_id: &str) -> Result<LoadedHistory>;
    /// Whether the sentinel still has `etag` (nobody appended since), for decisions taken on
    /// cached state.
    async fn history_unchanged(&self, instance_id: &str, etag: Option<&Etag>) -> Result<bool>;
    /// The instance's Instances row (without large values).
    async fn read_instance(&self, instance_id: &str) -> Result<Option<InstanceStatus>>;
    /// Marks an instance that has not started Terminated (its start is dropped when it comes).
    async fn mark_terminated(&self, instance_id: &str, reason: Option<&str>) -> Result<()>;
    /// Step 1 of completing a work item: send, then append history (the commit point).
    async fn commit_orchestration_work_item(&self, cp: &Checkpoint<'_>) -> Result<Committed>;
    /// Step 2: the Instances row, then the deletion of the inbound messages.
    async fn finish_orchestration_work_item(
        &self,
        cp: &Checkpoint<'_>,
        committed: &Committed,
    ) -> Result<()>;
    /// Makes a finished instance's Instances row agree with its history; true if rewritten.
    async fn repair_finished_instance(&self, instance_id: &str) -> Result<bool>;

    // ---- messages
    /// Deletes messages that have no effect (failures are logged: they come back and are
    /// decided again).
    async fn drop_messages(&self, messages: &[ReceivedMessage]);
    /// Makes messages visible again after `delay` (this counts as a failed delivery: the
    /// dequeue count grows).
    async fn abandon_messages(&self, messages: &[ReceivedMessage], delay: Duration);
    /// Puts a message back to be seen at `due` and deletes the taken copy (waiting for a time is
    /// not a failure: the copy's dequeue count starts again).
    async fn defer_message(&self, message: &ReceivedMessage, due: Timestamp) -> Result<()>;
    /// Keeps a held message hidden for another `lock_for`; false when it is no longer ours.
    async fn renew_message(&self, message: &ReceivedMessage, lock_for: Duration) -> Result<bool>;

    // ---- activity work items
    /// Takes up to `max` activity requests, hidden for `lock_for` (anything else found in the
    /// work-item queue goes to the poison queue).
    async fn fetch_activity_work_items(
        &self,
        max: u8,
        lock_for: Duration,
    ) -> Result<Vec<ActivityWorkItem>>;
    /// Sends the activity's result to its orchestration, then deletes the request.
    async fn complete_activity_work_item(
        &self,
        item: &ActivityWorkItem,
        response: &TaskMessage,
    ) -> Result<()>;

    // ---- poison
    /// Fails a live instance (its history ends Failed, its Instances row says so, a parent is
    /// told); nothing for an instance that does not exist or has finished.
    async fn fail_instance(&self, instance_id: &str, failure: FailureDetails) -> Result<()>;
    /// Fails a poison activity's task in its orchestration (sends the failed result).
    async fn fail_activity_task(
        &self,
        item: &ActivityWorkItem,
        failure: FailureDetails,
    ) -> Result<()>;
    /// Moves a taken message to the poison queue with `reason`.
    async fn poison_message(&self, message: &ReceivedMessage, reason: &str) -> Result<()>;

    // ---- observation
    /// The queue depths and ages and the partition owners the scale rules look at (read only;
    /// cost in `backend::scale`).
    async fn scale_sample(&self) -> Result<crate::backend::scale::ScaleSample>;

    // ---- retention
    /// One budgeted call of a purge by filter, from `continuation` (a token an earlier call
    /// returned); see [`TaskHub::purge_page`].
    async fn purge_finished(
        &self,
        filter: &PurgeFilter,
        limits: &PurgeLimits,
        continuation: Option<&str>,
    ) -> Result<PurgeProgress>;
}

#[async_trait]
impl OrchestrationService for TaskHub {
    fn names(&self) -> &HubNames {
        TaskHub::names(self)
    }

    fn clock(&self) -> &Clock {
        TaskHub::clock(self)
    }

    async fn create_hub_if_missing(&self) -> Result<()> {
        Ok(self.create().await?)
    }

    async fn ensure_lease_rows(&self) -> Result<()> {
        let table = self.partitions();
        for q in TaskHub::names(self).control_queues() {
            table.ensure_row(&q).await?;
        }
        Ok(())
    }

    async fn read_leases(&self) -> Result<Vec<PartitionLease>> {
        self.partitions().read_all().await
    }

    async fn write_leases(&self, leases: &mut [PartitionLease]) -> Result<()> {
        self.partitions().write(leases).await
    }

    async fn fetch_orchestration_messages(
        &self,
        partition: &str,
        max: u8,
        lock_for: Duration,
    ) -> Result<Vec<ReceivedMessage>> {
        let (good, unreadable) = self.receive(partition, max, lock_for).await?;
        for u in unreadable {
            let reason = u.error.to_string();
            if let Err(e) = self.move_to_poison(&u.queue, &u.raw, &reason).await {
                tracing::warn!(queue = %u.queue, error = %e, "could not move an unreadable message to the poison queue");
            }
        }
        Ok(good)
    }

    async fn load_orchestration_state(&self, instance_id: &str) -> Result<LoadedHistory> {
        self.history().load(instance_id).await
    }

    async fn history_unchanged(&self, instance_id: &str, etag: Option<&Etag>) -> Result<bool> {
        let pk = crate::storage::escape::escape_partition_key(instance_id);
        let sentinel = self.history().table().get(&pk, SENTINEL).await?;
        Ok(sentinel.map(|(_, e)| e).as_ref() == etag)
    }

    async fn read_instance(&self, instance_id: &str) -> Result<Option<InstanceStatus>> {
        Ok(self
            .instances()
            .read(instance_id, false)
            .await?
            .map(|(s, _)| s))
    }

    async fn mark_terminated(&self, instance_id: &str, reason: Option<&str>) -> Result<()> {
        self.instances()
            .mark_terminated(instance_id, reason, TaskHub::clock(self).now())
            .await
    }

    async fn commit_orchestration_work_item(&self, cp: &Checkpoint<'_>) -> Result<Committed> {
        self.commit(cp).await
    }

    async fn finish_orchestration_work_item(
        &self,
        cp: &Checkpoint<'_>,
        committed: &Committed,
    ) -> Result<()> {
        self.finish(cp, committed).await
    }

    async fn repair_finished_instance(&self, instance_id: &str) -> Result<bool> {
        TaskHub::repair_finished_instance(self, instance_id).await
    }

    async fn drop_messages(&self, messages: &[ReceivedMessage]) {
        self.delete_messages(messages).await
    }

    async fn abandon_messages(&self, messages: &[ReceivedMessage], delay: Duration) {
        for m in messages {
            if let Err(e) = self.abandon_message(m, delay).await {
                tracing::debug!(error = %e, "could not abandon a message; it reappears when its lease ends");
            }
        }
    }

    async fn defer_message(&self, message: &ReceivedMessage, due: Timestamp) -> Result<()> {
        self.defer_until(message, due).await
    }

    async fn renew_message(&self, message: &ReceivedMessage, lock_for: Duration) -> Result<bool> {
        TaskHub::renew_message(self, message, lock_for).await
    }

    async fn fetch_activity_work_items(
        &self,
        max: u8,
        lock_for: Duration,
    ) -> Result<Vec<ActivityWorkItem>> {
        let queue = TaskHub::names(self).work_item_queue();
        let messages =
            OrchestrationService::fetch_orchestration_messages(self, &queue, max, lock_for).await?;
        let mut items = Vec::with_capacity(messages.len());
        for m in messages {
            match ActivityWorkItem::from_message(m) {
                Ok(item) => items.push(item),
                Err(m) => {
                    let reason = format!(
                        "a {} message in the work-item queue",
                        m.message.event.event_type()
                    );
                    if let Err(e) = self.poison_message(&m, &reason).await {
                        tracing::warn!(error = %e, "could not move a stray message to the poison queue");
                    }
                }
            }
        }
        Ok(items)
    }

    async fn complete_activity_work_item(
        &self,
        item: &ActivityWorkItem,
        response: &TaskMessage,
    ) -> Result<()> {
        self.complete_activity(item, response).await
    }

    async fn fail_instance(&self, instance_id: &str, failure: FailureDetails) -> Result<()> {
        TaskHub::fail_instance(self, instance_id, failure).await
    }

    async fn fail_activity_task(
        &self,
        item: &ActivityWorkItem,
        failure: FailureDetails,
    ) -> Result<()> {
        let response = item.response(Err(failure), TaskHub::clock(self).now());
        self.send(
            &response,
            Some(&item.instance),
            item.message.envelope.episode,
        )
        .await?;
        Ok(())
    }

    async fn poison_message(&self, message: &ReceivedMessage, reason: &str) -> Result<()> {
        TaskHub::poison_message(self, message, reason).await
    }

    async fn scale_sample(&self) -> Result<crate::backend::scale::ScaleSample> {
        TaskHub::scale_sample(self).await
    }

    async fn purge_finished(
        &self,
        filter: &PurgeFilter,
        limits: &PurgeLimits,
        continuation: Option<&str>,
    ) -> Result<PurgeProgress> {
        self.purge_page(filter, limits, continuation).await
    }
}

impl TaskHub {
    /// The Partitions table.
    pub fn partitions(&self) -> PartitionsTable {
        PartitionsTable::new(self.storage(), &self.names().partitions_table())
    }
}
