//! One queue: put with an initial delay, get a batch under a visibility timeout, update, delete,
//! peek, approximate length.
//!
//! Owns [`Queue`], [`QueueMessage`], [`PutReceipt`] and [`PeekedMessage`]. Messages are put with
//! a TTL of `i32::MAX` seconds (~68 years): the Azure crate cannot send the service's `-1` for
//! "never expires".

use super::error::{already_so, Error, Result};
use super::{describe, OpKind, Storage};
use std::time::Duration;
use time::OffsetDateTime;

/// The longest TTL the crate can express; effectively infinite.
pub(crate) const MESSAGE_TTL: Duration = Duration::from_secs(i32::MAX as u64);

/// What a put returns.
#[derive(Debug, Clone)]
pub struct PutReceipt {
    /// The service's id of the new message.
    pub message_id: String,
    /// The pop receipt of the new message (needed to update or delete it before it is taken).
    pub pop_receipt: String,
    /// When the message becomes visible (now + the initial delay).
    pub next_visible: OffsetDateTime,
}

/// A message taken from the queue; invisible to others until `next_visible`.
#[derive(Debug, Clone)]
pub struct QueueMessage {
    /// The service's id of the message.
    pub message_id: String,
    /// Needed to update or delete it; changes with every update.
    pub pop_receipt: String,
    /// How often it was taken, this time included.
    pub dequeue_count: u64,
    /// The message text (taskhub's JSON envelope, as put).
    pub text: String,
    /// When the message was put.
    pub inserted_on: OffsetDateTime,
    /// When the message becomes visible again unless it is updated or deleted first.
    pub next_visible: OffsetDateTime,
}

/// A message seen without taking it.
#[derive(Debug, Clone)]
pub struct PeekedMessage {
    /// The service's id of the message.
    pub message_id: String,
    /// How often it was taken so far.
    pub dequeue_count: u64,
    /// The message text.
    pub text: String,
    /// When the message was put.
    pub inserted_on: OffsetDateTime,
}

/// A queue handle. Cheap to clone.
#[derive(Clone)]
pub struct Queue {
    storage: Storage,
    name: String,
}

impl Queue {
    pub(crate) fn new(storage: Storage, name: &str) -> Queue {
        Queue {
            storage,
            name: name.to_string(),
        }
    }

    /// The queue name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn check_count(&self, kind: OpKind, count: u8) -> Result<()> {
        if (1..=32).contains(&count) {
            return Ok(());
        }
        Err(Error::InvalidRequest {
            operation: describe(kind, &self.name),
            message: format!("count must be 1 to 32, not {count}"),
        })
    }

    /// Creates the queue; an existing one is fine.
    pub async fn create_if_missing(&self) -> Result<()> {
        let result = self
            .storage
            .run(OpKind::QueueCreate, |s| s.create_queue(&self.name))
            .await;
        already_so(result, Error::is_conflict)
    }

    /// Deletes the queue and its messages; a missing one is fine.
    pub async fn delete_queue(&self) -> Result<()> {
        let result = self
            .storage
            .run(OpKind::QueueDeleteQueue, |s| s.delete_queue(&self.name))
            .await;
        already_so(result, Error::is_not_found)
    }

    /// Whether the queue exists.
    pub async fn exists(&self) -> Result<bool> {
        match self.approximate_length().await {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Adds a message that becomes visible after `initial_visibility` (at most 7 days).
    pub async fn put(&self, text: &str, initial_visibility: Duration) -> Result<PutReceipt> {
        self.storage
            .run(OpKind::QueuePut, |s| {
                s.put_message(&self.name, text, initial_visibility, MESSAGE_TTL)
            })
            .await
    }

    /// Takes up to `count` (1–32) visible messages and hides them for `visibility`.
    pub async fn get(&self, count: u8, visibility: Duration) -> Result<Vec<QueueMessage>> {
        self.check_count(OpKind::QueueGet, count)?;
        self.storage
            .run(OpKind::QueueGet, |s| {
                s.get_messages(&self.name, count, visibility)
            })
            .await
    }

    /// Sets a taken message's visibility (and, if given, its text). `msg` gets the new pop
    /// receipt, visibility time and text; the old pop receipt no longer works afterwards.
    pub async fn update(
        &self,
        msg: &mut QueueMessage,
        visibility: Duration,
        new_text: Option<&str>,
    ) -> Result<()> {
        let text = new_text.unwrap_or(&msg.text).to_string();
        let (pop_receipt, next_visible) = self
            .update_message(&msg.message_id, &msg.pop_receipt, visibility, &text)
            .await?;
        msg.pop_receipt = pop_receipt;
        msg.next_visible = next_visible;
        msg.text = text;
        Ok(())
    }

    /// Low-level update by id and pop receipt. The service replaces the text, so pass the current
    /// text to change only the visibility. Returns the new pop receipt and visibility time.
    pub async fn update_message(
        &self,
        message_id: &str,
        pop_receipt: &str,
        visibility: Duration,
        text: &str,
    ) -> Result<(String, OffsetDateTime)> {
        self.storage
            .run(OpKind::QueueUpdate, |s| {
                s.update_message(&self.name, message_id, pop_receipt, visibility, text)
            })
            .await
    }

    /// Deletes a taken message. Returns `false` if it was already gone (404).
    pub async fn delete(&self, message_id: &str, pop_receipt: &str) -> Result<bool> {
        match self
            .storage
            .run(OpKind::QueueDelete, |s| {
                s.delete_message(&self.name, message_id, pop_receipt)
            })
            .await
        {
            Ok(()) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Looks at up to `count` (1–32) visible messages without taking them.
    pub async fn peek(&self, count: u8) -> Result<Vec<PeekedMessage>> {
        self.check_count(OpKind::QueuePeek, count)?;
        self.storage
            .run(OpKind::QueuePeek, |s| s.peek_messages(&self.name, count))
            .await
    }

    /// The service's approximate message count (visible and invisible).
    pub async fn approximate_length(&self) -> Result<u64> {
        self.storage
            .run(OpKind::QueueLength, |s| s.queue_length(&self.name))
            .await
    }

    /// Deletes every message.
    pub async fn clear(&self) -> Result<()> {
        self.storage
            .run(OpKind::QueueClear, |s| s.clear_queue(&self.name))
            .await
    }
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue").field("name", &self.name).finish()
    }
}
