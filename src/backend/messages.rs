//! Sending and receiving task messages on the hub's queues.
//!
//! Routing (reference §4.4): activity requests (`TaskScheduled`) go to `{hub}-workitems`; every
//! other message goes to the control queue of its target instance's partition. A message with a
//! `visible_at` is put with an initial visibility delay (timers, scheduled starts and signals);
//! the queues refuse delays over 7 days, and core already splits timers into segments of at most
//! six, so a longer delay here is clamped (the receiver sees it early and defers it again).
//! Envelopes over 45 KiB go to a blob and the queue carries a wrapper.

use std::time::Duration;

use crate::core::{OrchestrationInstance, TaskMessage, Timestamp};
use crate::storage::{PutReceipt, QueueMessage};

use super::envelope::{Envelope, EnvelopeError};
use super::error::Result;
use super::hub::TaskHub;
use super::large_payload::{message_blob_name, MAX_QUEUE_MESSAGE_BYTES};

/// The longest initial delay a queue accepts is 7 days; stay a little under.
const MAX_VISIBILITY_DELAY: Duration = Duration::from_secs(7 * 24 * 3600 - 60);
/// Longest abandon backoff (as DTFx).
const MAX_ABANDON_DELAY: Duration = Duration::from_secs(600);

/// A message taken from a queue and decoded.
#[derive(Debug, Clone)]
pub struct ReceivedMessage {
    /// The queue it was taken from.
    pub queue: String,
    pub raw: QueueMessage,
    pub envelope: Envelope,
    /// The event and its target.
    pub message: TaskMessage,
    /// The blob a large message came from (deleted once the message is done).
    pub large_blob: Option<String>,
}

impl ReceivedMessage {
    pub fn instance_id(&self) -> &str {
        &self.message.instance.instance_id
    }

    pub fn dequeue_count(&self) -> u64 {
        self.raw.dequeue_count
    }
}

/// A queue message that could not be decoded.
#[derive(Debug)]
pub struct UnreadableMessage {
    pub queue: String,
    pub raw: QueueMessage,
    pub error: EnvelopeError,
}

/// Where a sent message went, with what `put` returned (its pop receipt lets the sender take
/// over the message without dequeuing it).
#[derive(Debug, Clone)]
pub struct SentMessage {
    pub queue: String,
    pub receipt: PutReceipt,
    pub text: String,
    pub envelope: Envelope,
    /// The blob holding a large message.
    pub large_blob: Option<String>,
}

impl SentMessage {
    /// The message as if this process had just taken it from its queue: a message sent hidden
    /// ([`TaskHub::send_held`]) can be processed at once by its sender, and deleted or made
    /// visible with the pop receipt `put` returned.
    pub fn into_received(self) -> Option<ReceivedMessage> {
        let message = self.envelope.message.clone()?;
        let now = time::OffsetDateTime::now_utc();
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
        })
    }
}

impl TaskHub {
    /// The queue a message goes to.
    pub fn queue_for(&self, message: &TaskMessage) -> String {
        if message.is_activity_request() {
            self.names().work_item_queue()
        } else {
            self.names()
                .control_queue_for(&message.instance.instance_id)
        }
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
        hold: Duration,
    ) -> Result<SentMessage> {
        let envelope = Envelope::new(message.clone(), sender.cloned());
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
            None => visibility_delay(message.visible_at, time::OffsetDateTime::now_utc()),
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
    /// large ones). Messages that cannot be decoded come back separately.
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
            match d? {
                Ok(m) => good.push(m),
                Err(u) => bad.push(u),
            }
        }
        Ok((good, bad))
    }

    /// Decodes one queue message. Outer `Err`: storage trouble fetching a large message (worth
    /// retrying); inner `Err`: a message that will never decode.
    pub async fn decode(
        &self,
        queue: &str,
        raw: QueueMessage,
    ) -> Result<std::result::Result<ReceivedMessage, UnreadableMessage>> {
        let unreadable = |raw: QueueMessage, error| UnreadableMessage {
            queue: queue.to_string(),
            raw,
            error,
        };
        let mut envelope = match Envelope::decode(&raw.text) {
            Ok(e) => e,
            Err(error) => return Ok(Err(unreadable(raw, error))),
        };
        let mut large_blob = None;
        if let Some(blob) = envelope.compressed_blob_name.clone() {
            let text = match self.payloads().download(&blob).await {
                Ok(t) => t,
                Err(super::error::Error::Storage(e)) if e.is_not_found() => {
                    let error = EnvelopeError(format!("its large-message blob {blob} is missing"));
                    return Ok(Err(unreadable(raw, error)));
                }
                Err(e) => return Err(e),
            };
            envelope = match Envelope::decode(&text) {
                Ok(e) => e,
                Err(error) => return Ok(Err(unreadable(raw, error))),
            };
            large_blob = Some(blob);
        }
        let Some(message) = envelope.message.clone() else {
            let error = EnvelopeError("large message without a TaskMessage".into());
            return Ok(Err(unreadable(raw, error)));
        };
        Ok(Ok(ReceivedMessage {
            queue: queue.to_string(),
            raw,
            envelope,
            message,
            large_blob,
        }))
    }

    /// Deletes a processed message (and its large-message blob). A message already gone is fine.
    pub async fn delete_message(&self, m: &ReceivedMessage) -> Result<()> {
        self.storage()
            .queue(&m.queue)
            .delete(&m.raw.message_id, &m.raw.pop_receipt)
            .await?;
        if let Some(blob) = &m.large_blob {
            self.payloads().delete(blob).await?;
        }
        Ok(())
    }

    /// Makes a message visible again after `delay` without processing it.
    pub async fn abandon_message(&self, m: &mut ReceivedMessage, delay: Duration) -> Result<()> {
        let q = self.storage().queue(&m.queue);
        match q.update(&mut m.raw, delay, None).await {
            Err(e) if e.is_not_found() => Ok(()),
            other => Ok(other?),
        }
    }

    /// Keeps a message hidden for another `visibility` (its pop receipt changes).
    pub async fn renew_message(&self, m: &mut ReceivedMessage, visibility: Duration) -> Result<()> {
        let q = self.storage().queue(&m.queue);
        q.update(&mut m.raw, visibility, None).await?;
        Ok(())
    }
}

/// The abandon backoff for a message taken `dequeue_count` times: 2^n seconds, at most 10 min.
pub fn abandon_delay(dequeue_count: u64) -> Duration {
    let secs = 1u64 << dequeue_count.min(10);
    Duration::from_secs(secs).min(MAX_ABANDON_DELAY)
}

/// The initial visibility delay for a message due at `visible_at`, rounded up to whole seconds:
/// queues count visibility in seconds, and a timer must never fire early.
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
