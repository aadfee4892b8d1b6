//! The poison queue `{hub}-poison`: messages that failed too often are moved there with the
//! reason, instead of being retried for ever as DurableTask.AzureStorage does.
//!
//! A poison record is a small JSON document: the reason, the source queue, the message id, its
//! dequeue count, when it was first inserted, and the original message text (or, when that would
//! not fit a queue message, the name of a blob holding it).

use serde::{Deserialize, Serialize};

use crate::core::{
    EventKind, FailureDetails, HistoryEvent, OrchestrationStatus, TaskMessage, TurnResult,
};
use crate::storage::QueueMessage;

use super::checkpoint::{Checkpoint, HistoryCursor};
use super::error::Result;
use super::hub::TaskHub;
use super::messages::ReceivedMessage;

/// Longest original text kept inline in a poison record.
const MAX_INLINE_TEXT: usize = 40 * 1024;

/// What the poison queue holds for one message.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PoisonRecord {
    /// `Reason`: why the message was moved.
    #[serde(rename = "Reason")]
    pub reason: String,
    /// `SourceQueue`: the queue the message was taken from.
    #[serde(rename = "SourceQueue")]
    pub source_queue: String,
    /// `MessageId`: its id in that queue.
    #[serde(rename = "MessageId")]
    pub message_id: String,
    /// `DequeueCount`: how often it had been taken.
    #[serde(rename = "DequeueCount")]
    pub dequeue_count: u64,
    /// `InsertedOn`: when it was first put on its queue.
    #[serde(rename = "InsertedOn", with = "time::serde::rfc3339")]
    pub inserted_on: time::OffsetDateTime,
    /// `Message`: the original message text, when at most 40 KiB.
    #[serde(rename = "Message", default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// `MessageBlob`: otherwise, the blob in the large-message container that holds the text
    /// (`poison/<message id>.json.gz`).
    #[serde(
        rename = "MessageBlob",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub message_blob: Option<String>,
}

impl PoisonRecord {
    /// The instance id and event type its original message was about, when the message is
    /// inline and reads as a task message.
    pub fn about(&self) -> Option<(String, String)> {
        let text = self.message.as_deref()?;
        let message = super::envelope::Envelope::decode(text).ok()?.message?;
        Some((
            message.instance.instance_id,
            message.event.event_type().to_string(),
        ))
    }
}

impl TaskHub {
    /// Moves a message nobody can read to the poison queue with `reason`, then deletes it from
    /// `queue` (with the pop receipt it was taken with).
    pub async fn move_to_poison(
        &self,
        queue: &str,
        raw: &QueueMessage,
        reason: &str,
    ) -> Result<()> {
        self.put_poison_record(queue, raw, reason).await?;
        self.storage()
            .queue(queue)
            .delete(&raw.message_id, &raw.pop_receipt)
            .await?;
        tracing::warn!(queue, message_id = %raw.message_id, dequeue_count = raw.dequeue_count, reason, "message moved to the poison queue");
        Ok(())
    }

    /// Moves a taken message to the poison queue with `reason`: the record first, then the
    /// delete (through the message's lease). The caller has already made durable whatever the
    /// message's failure causes (a failed task or instance), so nothing is lost if this stops
    /// half-way: the message comes back and is moved again.
    pub async fn poison_message(&self, m: &ReceivedMessage, reason: &str) -> Result<()> {
        self.put_poison_record(&m.queue, &m.raw, reason).await?;
        self.delete_message(m).await?;
        tracing::warn!(queue = %m.queue, message_id = %m.raw.message_id, dequeue_count = m.raw.dequeue_count, reason, "message moved to the poison queue");
        Ok(())
    }

    async fn put_poison_record(&self, queue: &str, raw: &QueueMessage, reason: &str) -> Result<()> {
        let mut record = PoisonRecord {
            reason: reason.to_string(),
            source_queue: queue.to_string(),
            message_id: raw.message_id.clone(),
            dequeue_count: raw.dequeue_count,
            inserted_on: raw.inserted_on,
            message: Some(raw.text.clone()),
            message_blob: None,
        };
        if raw.text.len() > MAX_INLINE_TEXT {
            let blob = format!("poison/{}.json.gz", raw.message_id);
            self.payloads().upload(&blob, &raw.text).await?;
            record.message = None;
            record.message_blob = Some(blob);
        }
        let text = serde_json::to_string(&record).unwrap_or_default();
        let poison = self.storage().queue(&self.names().poison_queue());
        match poison.put(&text, std::time::Duration::ZERO).await {
            Err(e) if e.is_not_found() => {
                poison.create_if_missing().await?;
                poison.put(&text, std::time::Duration::ZERO).await?;
            }
            other => {
                other?;
            }
        }
        Ok(())
    }

    /// Up to `count` (1–32) poison records, without taking them.
    pub async fn peek_poison(&self, count: u8) -> Result<Vec<PoisonRecord>> {
        let poison = self.storage().queue(&self.names().poison_queue());
        let peeked = match poison.peek(count).await {
            Ok(p) => p,
            Err(e) if e.is_not_found() => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        Ok(peeked
            .into_iter()
            .filter_map(|m| serde_json::from_str(&m.text).ok())
            .collect())
    }

    /// Fails a live instance with `failure` (used when one of its messages is poison): appends
    /// the completion to its history, marks the Instances row Failed and tells a parent.
    /// Does nothing for an instance that does not exist or has finished.
    pub async fn fail_instance(&self, instance_id: &str, failure: FailureDetails) -> Result<()> {
        let loaded = self.history().load(instance_id).await?;
        let summary = crate::core::HistorySummary::of(&loaded.events);
        if summary.status.is_none_or(|s| s.is_terminal()) {
            return Ok(());
        }
        let now = self.clock().now();
        let next_id = loaded.events.iter().map(|e| e.event_id).max().unwrap_or(-1) + 1;
        let mut messages = Vec::new();
        if let Some(parent) = loaded.events.iter().find_map(|e| match &e.kind {
            EventKind::ExecutionStarted {
                parent_instance, ..
            } => parent_instance.clone(),
            _ => None,
        }) {
            messages.push(TaskMessage {
                instance: parent.orchestration_instance.clone(),
                event: HistoryEvent::new(
                    now,
                    EventKind::SubOrchestrationInstanceFailed {
                        task_scheduled_id: parent.task_schedule_id,
                        reason: Some(failure.error_message.clone()),
                        details: None,
                        failure_details: Some(failure.clone()),
                    },
                ),
                visible_at: None,
            });
        }
        let turn = TurnResult {
            new_events: vec![
                HistoryEvent::new(now, EventKind::OrchestratorStarted),
                HistoryEvent::with_id(
                    next_id,
                    now,
                    EventKind::ExecutionCompleted {
                        status: OrchestrationStatus::Failed,
                        result: Some(failure.error_message.clone()),
                        failure_details: Some(failure.clone()),
                    },
                ),
                HistoryEvent::new(now, EventKind::OrchestratorCompleted),
            ],
            new_execution_id: None,
            messages,
            status: OrchestrationStatus::Failed,
            output: None,
            failure: Some(failure),
            custom_status: None,
            warnings: Vec::new(),
        };
        let cursor = HistoryCursor::of(&loaded);
        self.checkpoint(Checkpoint {
            instance_id,
            turn: &turn,
            cursor: &cursor,
            replaces_execution: false,
            inbound: &[],
            hold: None,
            hold_for: std::time::Duration::ZERO,
            on_held: None,
            run_here: None,
            has_wake_up: false,
        })
        .await?;
        Ok(())
    }
}
