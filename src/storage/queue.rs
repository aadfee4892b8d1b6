//! One queue: put with an initial delay, get a batch under a visibility timeout, update, delete,
//! peek, approximate length.
//!
//! Owns [`Queue`], [`QueueMessage`], [`PutReceipt`] and [`PeekedMessage`]. Text travels as given
//! (UTF-8, XML-escaped by the crate), never base64. Messages are put with a TTL of `i32::MAX`
//! seconds (~68 years): the crate cannot send the service's `-1` for "never expires".

use super::error::{already_so, Error, Result};
use super::{describe, OpKind, Service, Storage};
use azure_storage_queues::{PopReceipt, QueueClient};
use std::time::Duration;
use time::OffsetDateTime;

/// The longest TTL the crate can express; effectively infinite.
const MESSAGE_TTL: Duration = Duration::from_secs(i32::MAX as u64);

/// What a put returns.
#[derive(Debug, Clone)]
pub struct PutReceipt {
    pub message_id: String,
    pub pop_receipt: String,
    /// When the message becomes visible (now + the initial delay).
    pub next_visible: OffsetDateTime,
}

/// A message taken from the queue; invisible to others until `next_visible`.
#[derive(Debug, Clone)]
pub struct QueueMessage {
    pub message_id: String,
    /// Needed to update or delete it; changes with every update.
    pub pop_receipt: String,
    /// How often it was taken, this time included.
    pub dequeue_count: u64,
    pub text: String,
    pub inserted_on: OffsetDateTime,
    pub next_visible: OffsetDateTime,
}

/// A message seen without taking it.
#[derive(Debug, Clone)]
pub struct PeekedMessage {
    pub message_id: String,
    pub dequeue_count: u64,
    pub text: String,
    pub inserted_on: OffsetDateTime,
}

/// A queue handle. Cheap to clone.
#[derive(Clone)]
pub struct Queue {
    storage: Storage,
    client: QueueClient,
    name: String,
}

impl Queue {
    pub(crate) fn new(storage: Storage, client: QueueClient, name: &str) -> Queue {
        Queue {
            storage,
            client,
            name: name.to_string(),
        }
    }

    /// The queue name.
    pub fn name(&self) -> &str {
        &self.name
    }

    async fn run<T, F, Fut>(&self, kind: OpKind, call: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = azure_core::Result<T>>,
    {
        self.storage
            .run(kind, Service::Queue, &self.name, call)
            .await
    }

    fn invalid(&self, kind: OpKind, message: String) -> Error {
        Error::InvalidRequest {
            operation: describe(kind, &self.name),
            message,
        }
    }

    /// Creates the queue; an existing one is fine.
    pub async fn create_if_missing(&self) -> Result<()> {
        let result = self
            .run(OpKind::QueueCreate, || self.client.create().into_future())
            .await;
        already_so(result, Error::is_conflict)
    }

    /// Deletes the queue and its messages; a missing one is fine.
    pub async fn delete_queue(&self) -> Result<()> {
        let result = self
            .run(OpKind::QueueDeleteQueue, || {
                self.client.delete().into_future()
            })
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
        let resp = self
            .run(OpKind::QueuePut, || {
                self.client
                    .put_message(text)
                    .visibility_timeout(initial_visibility)
                    .ttl(MESSAGE_TTL)
                    .into_future()
            })
            .await?;
        let m = resp.queue_message;
        Ok(PutReceipt {
            message_id: m.message_id,
            pop_receipt: m.pop_receipt,
            next_visible: m.time_next_visible,
        })
    }

    /// Takes up to `count` (1–32) visible messages and hides them for `visibility`.
    pub async fn get(&self, count: u8, visibility: Duration) -> Result<Vec<QueueMessage>> {
        if !(1..=32).contains(&count) {
            return Err(self.invalid(
                OpKind::QueueGet,
                format!("count must be 1 to 32, not {count}"),
            ));
        }
        let resp = self
            .run(OpKind::QueueGet, || {
                self.client
                    .get_messages()
                    .number_of_messages(count)
                    .visibility_timeout(visibility)
                    .into_future()
            })
            .await?;
        Ok(resp
            .messages
            .into_iter()
            .map(|m| QueueMessage {
                message_id: m.message_id,
                pop_receipt: m.pop_receipt,
                dequeue_count: m.dequeue_count,
                text: m.message_text,
                inserted_on: m.insertion_time,
                next_visible: m.time_next_visible,
            })
            .collect())
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
        let receipt = PopReceipt::new(message_id, pop_receipt);
        let resp = self
            .run(OpKind::QueueUpdate, || {
                self.client
                    .pop_receipt_client(receipt.clone())
                    .update(text, visibility)
                    .into_future()
            })
            .await?;
        Ok((resp.pop_receipt, resp.time_next_visible))
    }

    /// Deletes a taken message. Returns `false` if it was already gone (404).
    pub async fn delete(&self, message_id: &str, pop_receipt: &str) -> Result<bool> {
        let receipt = PopReceipt::new(message_id, pop_receipt);
        match self
            .run(OpKind::QueueDelete, || {
                self.client
                    .pop_receipt_client(receipt.clone())
                    .delete()
                    .into_future()
            })
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Looks at up to `count` (1–32) visible messages without taking them.
    pub async fn peek(&self, count: u8) -> Result<Vec<PeekedMessage>> {
        if !(1..=32).contains(&count) {
            return Err(self.invalid(
                OpKind::QueuePeek,
                format!("count must be 1 to 32, not {count}"),
            ));
        }
        let resp = self
            .run(OpKind::QueuePeek, || {
                self.client
                    .peek_messages()
                    .number_of_messages(count)
                    .into_future()
            })
            .await?;
        Ok(resp
            .messages
            .into_iter()
            .map(|m| PeekedMessage {
                message_id: m.message_id,
                dequeue_count: m.dequeue_count,
                text: m.message_text,
                inserted_on: m.insertion_time,
            })
            .collect())
    }

    /// The service's approximate message count (visible and invisible).
    pub async fn approximate_length(&self) -> Result<u64> {
        let resp = self
            .run(OpKind::QueueLength, || {
                self.client.get_metadata().into_future()
            })
            .await?;
        Ok(resp.approximate_messages_count as u64)
    }

    /// Deletes every message.
    pub async fn clear(&self) -> Result<()> {
        self.run(OpKind::QueueClear, || {
            self.client.clear_messages().into_future()
        })
        .await?;
        Ok(())
    }
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue").field("name", &self.name).finish()
    }
}
