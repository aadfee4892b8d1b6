//! Sending and receiving task messages on the hub's queues, and the lease on a taken message.
//!
//! Routing (reference §4.4): activity requests (`TaskScheduled`) go to `{hub}-workitems`; every
//! other message goes to the control queue of its target instance's partition. A message with a
//! `visible_at` is put with an initial visibility delay (timers, scheduled starts and signals);
//! the queues refuse delays over 7 days, so a longer one is put for the longest allowed delay and
//! the receiver puts it back until it is due ([`TaskHub::defer_until`]). Envelopes over 45 KiB go
//! to a blob and the queue carries a wrapper.
//!
//! A taken message is held through a [`MessageLease`]: its newest pop receipt and visibility,
//! shared by every copy of the message (the session that runs it, the finish that deletes it, the
//! worker's lock keeper that renews it), and one operation at a time, so a renewal never leaves a
//! delete with a stale pop receipt.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use time::OffsetDateTime;

use crate::core::{OrchestrationInstance, TaskMessage, Timestamp};
use crate::storage::{PutReceipt, QueueMessage};

use super::envelope::{Envelope, EnvelopeError};
use super::error::Result;
use super::hub::TaskHub;
use super::large_payload::{message_blob_name, MAX_QUEUE_MESSAGE_BYTES};

/// The longest initial delay a queue accepts is 7 days; stay a little under.
pub const MAX_VISIBILITY_DELAY: Duration = Duration::from_secs(7 * 24 * 3600 - 60);
/// Longest abandon backoff (as DTFx).
const MAX_ABANDON_DELAY: Duration = Duration::from_secs(600);
/// How long a message whose large payload could not be fetched waits before it is tried again.
const FETCH_RETRY_DELAY: Duration = Duration::from_secs(5);

/// This process's claim on a taken message: the pop receipt that deletes or updates it now, and
/// when it becomes visible to others unless renewed.
#[derive(Debug)]
pub struct MessageLease {
    state: Mutex<LeaseState>,
    /// Serialises the operations on the message (each changes the pop receipt).
    op: tokio::sync::Mutex<()>,
}

#[derive(Debug, Clone)]
struct LeaseState {
    pop_receipt: String,
    next_visible: OffsetDateTime,
    /// Deleted, abandoned, or taken by someone else: no longer ours to renew or delete.
    released: bool,
}

impl MessageLease {
    fn new(pop_receipt: String, next_visible: OffsetDateTime) -> Arc<MessageLease> {
        Arc::new(MessageLease {
            state: Mutex::new(LeaseState {
                pop_receipt,
                next_visible,
                released: false,
            }),
            op: tokio::sync::Mutex::new(()),
        })
    }

    fn get(&self) -> LeaseState {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set(&self, f: impl FnOnce(&mut LeaseState)) {
        f(&mut self.state.lock().unwrap_or_else(|p| p.into_inner()));
    }

    /// When the message becomes visible to others unless renewed.
    pub fn next_visible(&self) -> OffsetDateTime {
        self.get().next_visible
    }

    /// True once the message is deleted, abandoned or lost to another taker.
    pub fn is_released(&self) -> bool {
        self.get().released
    }
}

/// A message taken from a queue and decoded.
#[derive(Debug, Clone)]
pub struct ReceivedMessage {
    /// The queue it was taken from.
    pub queue: String,
    /// The message as taken (its pop receipt is the lease's first; use the lease's).
    pub raw: QueueMessage,
    /// The decoded envelope (for a large message, the real one from its blob).
    pub envelope: Envelope,
    /// The event and its target.
    pub message: TaskMessage,
    /// The blob a large message came from (deleted once the message is done).
    pub large_blob: Option<String>,
    /// Shared by every copy of this message.
    pub lease: Arc<MessageLease>,
}

impl ReceivedMessage {
    /// The id of the instance the message is addressed to.
    pub fn instance_id(&self) -> &str {
        &self.message.instance.instance_id
    }

    /// How often the message has been taken, this time included.
    pub fn dequeue_count(&self) -> u64 {
        self.raw.dequeue_count
    }

    /// The queue message id.
    pub fn message_id(&self) -> &str {
        &self.raw.message_id
    }

    /// A message that never was on a queue: an activity request a worker runs itself, or its
    /// result (`local_tasks.rs`). Its lease is released from the start, so deleting, abandoning
    /// or renewing it does nothing; `id` must be unique among the instance's messages.
    pub fn local(message: TaskMessage, id: String, now: OffsetDateTime) -> ReceivedMessage {
        let lease = MessageLease::new(String::new(), now);
        lease.set(|l| l.released = true);
        ReceivedMessage {
            queue: String::new(),
            raw: QueueMessage {
                message_id: id,
                pop_receipt: String::new(),
                dequeue_count: 1,
                text: String::new(),
                inserted_on: now,
                next_visible: now,
            },
            envelope: Envelope::new(message.clone(), None),
            message,
            large_blob: None,
            lease,
        }
    }

    /// Whether this message never was on a queue ([`ReceivedMessage::local`]).
    pub fn is_local(&self) -> bool {
        self.queue.is_empty()
    }
}

/// A queue message that could not be decoded.
#[derive(Debug)]
pub struct UnreadableMessage {
    /// The queue it was taken from.
    pub queue: String,
    /// The message as taken.
    pub raw: QueueMessage,
    /// Why it could not be decoded.
    pub error: EnvelopeError,
}

/// Where a sent message went, with what `put` returned (its pop receipt lets the sender take
/// over the message without dequeuing it).
#[derive(Debug, Clone)]
pub struct SentMessage {
    /// The queue it was put on.
    pub queue: String,
    /// What the put returned: message id, pop receipt and visibility.
    pub receipt: PutReceipt,
    /// The text put on the queue (for a large message, the wrapper's).
    pub text: String,
    /// The envelope that was sent (for a large message, the real one, not the wrapper).
    pub envelope: Envelope,
    /// The blob holding a large message.
    pub large_blob: Option<String>,
}

impl SentMessage {
    /// The message as if this process had just taken it from its queue: a message sent hidden
    /// ([`TaskHub::send_held`]) can be processed at once by its sender, and deleted or made
    /// visible with the pop receipt `put` returned.
    pub fn into_received(self, now: OffsetDateTime) -> Option<ReceivedMessage> {
        let message = self.envelope.message.clone()?;
        let lease = MessageLease::new(self.receipt.pop_receipt.clone(), self.receipt.next_visible);
        Some(ReceivedMessage {
            queue: self.queue,
            raw: QueueMessage {
                message_id: self.receipt.message_id,
                pop_receipt: self.receipt.pop_receipt,
                dequeue_count: 1,
                text: self.text,
                inserted_on: now,
                next_visible: self.receipt.next_visible,
            },
            envelope: self.envelope,
            message,
            large_blob: self.large_blob,
            lease,
        })
    }
}

impl TaskHub {
    /// The queue a message goes to.
    pub fn queue_for(&self, message: &TaskMessage) -> String {
        self.names().queue_for(message)
    }

    /// Sends one message (a blob first when it is large).
    pub async fn send(
        &self,
        message: &TaskMessage,
        sender: Option<&OrchestrationInstance>,
        episode: Option<i32>,
    ) -> Result<SentMessage> {
        let mut envelope = Envelope::new(message.clone(), sender.cloned());
        envelope.episode = episode;
        self.send_envelope(envelope, false).await
    }

    /// Sends one message hidden for `hold`, so that only the sender (through the returned
    /// receipt) processes it now; if the sender dies, the message appears when `hold` ends and
    /// whoever owns it then processes it.
    pub async fn send_held(
        &self,
        message: &TaskMessage,
        sender: Option<&OrchestrationInstance>,
        episode: Option<i32>,
        hold: Duration,
    ) -> Result<SentMessage> {
        let mut envelope = Envelope::new(message.clone(), sender.cloned());
        envelope.episode = episode;
        self.put_envelope(envelope, false, Some(hold)).await
    }

    /// Sends an envelope; `force_blob` stores it in a blob whatever its size.
    pub async fn send_envelope(&self, envelope: Envelope, force_blob: bool) -> Result<SentMessage> {
        self.put_envelope(envelope, force_blob, None).await
    }

    async fn put_envelope(
        &self,
        envelope: Envelope,
        force_blob: bool,
        hold: Option<Duration>,
    ) -> Result<SentMessage> {
        let Some(message) = envelope.message.as_ref() else {
            return Err(super::error::Error::InvalidInput(
                "an envelope without a message cannot be sent".into(),
            ));
        };
        let queue = self.queue_for(message);
        let delay = match hold {
            Some(h) => h.min(MAX_VISIBILITY_DELAY),
            None => visibility_delay(message.visible_at, self.clock().now()),
        };
        let mut text = envelope.encode();
        let mut large_blob = None;
        if force_blob || text.len() > MAX_QUEUE_MESSAGE_BYTES {
            let blob = self.large_message_blob(&envelope);
            self.payloads().upload(&blob, &text).await?;
            text = envelope.wrapper(blob.clone()).encode();
            large_blob = Some(blob);
        }
        let receipt = self.storage().queue(&queue).put(&text, delay).await?;
        Ok(SentMessage {
            queue,
            receipt,
            text,
            envelope,
            large_blob,
        })
    }

    /// Blob name of a large envelope: `{instanceId}/message-{activityId}-{EventType}.json.gz`.
    pub fn large_message_blob(&self, envelope: &Envelope) -> String {
        let (instance, event_type) = envelope
            .message
            .as_ref()
            .map(|m| {
                (
                    m.instance.instance_id.as_str(),
                    m.event.event_type().as_str(),
                )
            })
            .unwrap_or(("", "Unknown"));
        message_blob_name(instance, &envelope.activity_id, event_type)
    }

    /// Takes up to `count` messages from `queue` for `visibility`, decoding each (and fetching
    /// large ones). Messages that cannot be decoded come back separately. A message whose large
    /// payload cannot be fetched now (storage trouble) is made visible again after a short delay
    /// on its own; the rest of the batch is returned.
    pub async fn receive(
        &self,
        queue: &str,
        count: u8,
        visibility: Duration,
    ) -> Result<(Vec<ReceivedMessage>, Vec<UnreadableMessage>)> {
        let raw = self.storage().queue(queue).get(count, visibility).await?;
        let mut good = Vec::with_capacity(raw.len());
        let mut bad = Vec::new();
        let decoded =
            futures::future::join_all(raw.into_iter().map(|m| self.decode(queue, m))).await;
        for d in decoded {
            match d {
                Decoded::Good(m) => good.push(*m),
                Decoded::Unreadable(u) => bad.push(u),
                Decoded::NotNow(raw, e) => {
                    tracing::warn!(%queue, message_id = %raw.message_id, error = %e, "could not fetch a large message; trying it again shortly");
                    let q = self.storage().queue(queue);
                    let mut raw = raw;
                    if let Err(e) = q.update(&mut raw, FETCH_RETRY_DELAY, None).await {
                        tracing::debug!(error = %e, "could not release a message whose payload failed");
                    }
                }
            }
        }
        Ok((good, bad))
    }

    /// Decodes one queue message, fetching a large message's blob.
    async fn decode(&self, queue: &str, raw: QueueMessage) -> Decoded {
        let unreadable = |raw: QueueMessage, error| {
            Decoded::Unreadable(UnreadableMessage {
                queue: queue.to_string(),
                raw,
                error,
            })
        };
        let mut envelope = match Envelope::decode(&raw.text) {
            Ok(e) => e,
            Err(error) => return unreadable(raw, error),
        };
        let mut large_blob = None;
        if let Some(blob) = envelope.compressed_blob_name.clone() {
            let text = match self.payloads().download(&blob).await {
                Ok(t) => t,
                Err(super::error::Error::Storage(e)) if e.is_not_found() => {
                    let error = EnvelopeError(format!("its large-message blob {blob} is missing"));
                    return unreadable(raw, error);
                }
                Err(e) => return Decoded::NotNow(raw, e),
            };
            envelope = match Envelope::decode(&text) {
                Ok(e) => e,
                Err(error) => return unreadable(raw, error),
            };
            large_blob = Some(blob);
        }
        let Some(message) = envelope.message.clone() else {
            let error = EnvelopeError("large message without a TaskMessage".into());
            return unreadable(raw, error);
        };
        let lease = MessageLease::new(raw.pop_receipt.clone(), raw.next_visible);
        Decoded::Good(Box::new(ReceivedMessage {
            queue: queue.to_string(),
            raw,
            envelope,
            message,
            large_blob,
            lease,
        }))
    }

    /// Deletes a processed message (and its large-message blob). A message already gone, or one
    /// released earlier, is fine.
    pub async fn delete_message(&self, m: &ReceivedMessage) -> Result<()> {
        self.delete_queue_message(m).await?;
        if let Some(blob) = &m.large_blob {
            self.payloads().delete(blob).await?;
        }
        Ok(())
    }

    /// Deletes the queue message only (its large payload, if any, stays: it was put again).
    async fn delete_queue_message(&self, m: &ReceivedMessage) -> Result<()> {
        let _op = m.lease.op.lock().await;
        let lease = m.lease.get();
        if lease.released {
            return Ok(());
        }
        let q = self.storage().queue(&m.queue);
        let result = q.delete(&m.raw.message_id, &lease.pop_receipt).await;
        // Done with it whatever the answer: if the delete did not happen, the message reappears
        // when its lock ends and is recognised as processed.
        m.lease.set(|l| l.released = true);
        match result {
            // Gone (404) or taken by someone else since (400): not ours any more either way.
            Ok(_) => Ok(()),
            Err(e) if e.status() == Some(400) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Makes a message visible again after `delay` without processing it; it is no longer ours.
    pub async fn abandon_message(&self, m: &ReceivedMessage, delay: Duration) -> Result<()> {
        let _op = m.lease.op.lock().await;
        let lease = m.lease.get();
        if lease.released {
            return Ok(());
        }
        let q = self.storage().queue(&m.queue);
        let result = q
            .update_message(&m.raw.message_id, &lease.pop_receipt, delay, &m.raw.text)
            .await;
        // Let go whatever the answer: if the update did not happen, the message reappears when
        // its lock ends instead of after `delay`.
        m.lease.set(|l| l.released = true);
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() || e.status() == Some(400) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Keeps a message hidden for another `visibility` (its pop receipt changes). Returns false
    /// when it is no longer ours (released, gone, or taken by someone else).
    pub async fn renew_message(&self, m: &ReceivedMessage, visibility: Duration) -> Result<bool> {
        let _op = m.lease.op.lock().await;
        let lease = m.lease.get();
        if lease.released {
            return Ok(false);
        }
        let q = self.storage().queue(&m.queue);
        match q
            .update_message(
                &m.raw.message_id,
                &lease.pop_receipt,
                visibility,
                &m.raw.text,
            )
            .await
        {
            Ok((pop_receipt, next_visible)) => {
                m.lease.set(|l| {
                    l.pop_receipt = pop_receipt;
                    l.next_visible = next_visible;
                });
                Ok(true)
            }
            Err(e) if e.is_not_found() || e.status() == Some(400) => {
                m.lease.set(|l| l.released = true);
                Ok(false)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Puts a message back to be seen again at `due` (at most the queue's longest delay from
    /// now; it is put back again then if still early), then deletes the taken copy. Unlike an
    /// abandon, the copy starts with a dequeue count of 0: waiting for a time is not a failure.
    pub async fn defer_until(&self, m: &ReceivedMessage, due: Timestamp) -> Result<()> {
        let delay = visibility_delay(Some(due), self.clock().now());
        self.storage()
            .queue(&m.queue)
            .put(&m.raw.text, delay)
            .await?;
        self.delete_queue_message(m).await
    }
}

/// What decoding one queue message gave.
enum Decoded {
    Good(Box<ReceivedMessage>),
    /// Will never decode.
    Unreadable(UnreadableMessage),
    /// Its large payload could not be fetched now.
    NotNow(QueueMessage, super::error::Error),
}

/// The abandon backoff for a message taken `dequeue_count` times: 2^n seconds, at most 10 min.
pub fn abandon_delay(dequeue_count: u64) -> Duration {
    let secs = 1u64 << dequeue_count.min(10);
    Duration::from_secs(secs).min(MAX_ABANDON_DELAY)
}

/// The initial visibility delay for a message due at `visible_at`, rounded up to whole seconds
/// (queues count visibility in seconds, and a timer must never fire early), at most the longest
/// delay a queue accepts.
pub fn visibility_delay(visible_at: Option<Timestamp>, now: Timestamp) -> Duration {
    match visible_at {
        Some(t) if t > now => {
            let d: Duration = (t - now).try_into().unwrap_or(Duration::ZERO);
            let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
            Duration::from_secs(secs).min(MAX_VISIBILITY_DELAY)
        }
        _ => Duration::ZERO,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::testing::T0;

    #[test]
    fn delays_round_up_to_whole_seconds() {
        let at = |ms| Some(T0 + time::Duration::milliseconds(ms));
        assert_eq!(visibility_delay(at(1999), T0), Duration::from_secs(2));
        assert_eq!(visibility_delay(at(2000), T0), Duration::from_secs(2));
        assert_eq!(visibility_delay(at(-5), T0), Duration::ZERO);
        assert_eq!(visibility_delay(None, T0), Duration::ZERO);
        let far = Some(T0 + time::Duration::days(30));
        assert!(visibility_delay(far, T0) < Duration::from_secs(7 * 24 * 3600));
    }
}
