//! In-memory queues: visibility by the service clock, pop receipts, dequeue counts, TTLs.
//!
//! As Azure Storage and Azurite: a get takes visible messages in the order they became visible
//! (then insertion), hides them, counts the dequeue and gives each a new pop receipt; an update
//! or delete with any but the newest pop receipt is 400 `PopReceiptMismatch`, one of a message
//! that is gone is 404 `MessageNotFound`; visibility is at most 7 days and a message at most
//! 64 KiB.

use std::time::Duration;

use time::OffsetDateTime;

use super::super::error::{Error, Result};
use super::super::queue::{PeekedMessage, PutReceipt, QueueMessage};
use super::super::{describe, OpKind};
use super::{http, Owned, State};

/// The longest visibility the service accepts.
const MAX_VISIBILITY: Duration = Duration::from_secs(7 * 24 * 3600);
/// The largest message the service accepts.
const MAX_MESSAGE_BYTES: usize = 64 * 1024;

#[derive(Default)]
pub(crate) struct MemQueue {
    /// In insertion order.
    pub(super) messages: Vec<MemMessage>,
}

pub(crate) struct MemMessage {
    id: String,
    pub(super) text: String,
    inserted_on: OffsetDateTime,
    visible_at: OffsetDateTime,
    expires_at: OffsetDateTime,
    dequeue_count: u64,
    pop_receipt: String,
    /// Insertion order, the tie-break after `visible_at`.
    seq: u64,
}

fn invalid(kind: OpKind, queue: &str, message: String) -> Error {
    Error::Http {
        operation: describe(kind, queue),
        status: 400,
        code: Some(format!("OutOfRangeQueryParameterValue: {message}")),
        source: None,
    }
}

fn later(now: OffsetDateTime, d: Duration) -> OffsetDateTime {
    now + time::Duration::try_from(d).unwrap_or(time::Duration::MAX)
}

impl State {
    fn queue_mut(
        &mut self,
        kind: OpKind,
        queue: &str,
        now: OffsetDateTime,
    ) -> Result<&mut MemQueue> {
        let q = self
            .queues
            .get_mut(queue)
            .ok_or_else(|| http(kind, queue, 404, "QueueNotFound"))?;
        q.messages.retain(|m| m.expires_at > now);
        Ok(q)
    }

    fn receipt(&mut self) -> String {
        format!("pop-{}-{}", self.next(), crate::entropy::uuid().simple())
    }

    pub(super) fn queue_length(&mut self, queue: &str, now: OffsetDateTime) -> Result<u64> {
        Ok(self
            .queue_mut(OpKind::QueueLength, queue, now)?
            .messages
            .len() as u64)
    }

    pub(super) fn put_message(
        &mut self,
        queue: &str,
        text: &str,
        visibility: Duration,
        ttl: Duration,
        now: OffsetDateTime,
        changes: &mut Vec<Owned>,
    ) -> Result<PutReceipt> {
        let kind = OpKind::QueuePut;
        if visibility > MAX_VISIBILITY {
            return Err(invalid(
                kind,
                queue,
                format!("visibility {visibility:?} over 7 days"),
            ));
        }
        if ttl.is_zero() || visibility >= ttl {
            return Err(invalid(
                kind,
                queue,
                "the TTL must exceed the visibility".into(),
            ));
        }
        if text.len() > MAX_MESSAGE_BYTES {
            return Err(http(kind, queue, 413, "RequestBodyTooLarge"));
        }
        let seq = self.next();
        let id = crate::entropy::uuid().hyphenated().to_string();
        let pop_receipt = self.receipt();
        let q = self.queue_mut(kind, queue, now)?;
        let visible_at = later(now, visibility);
        q.messages.push(MemMessage {
            id: id.clone(),
            text: text.to_string(),
            inserted_on: now,
            visible_at,
            expires_at: later(now, ttl),
            dequeue_count: 0,
            pop_receipt: pop_receipt.clone(),
            seq,
        });
        changes.push(Owned::Put {
            queue: queue.to_string(),
            id: id.clone(),
            text: text.to_string(),
        });
        Ok(PutReceipt {
            message_id: id,
            pop_receipt,
            next_visible: visible_at,
        })
    }

    pub(super) fn get_messages(
        &mut self,
        queue: &str,
        count: u8,
        visibility: Duration,
        now: OffsetDateTime,
    ) -> Result<Vec<QueueMessage>> {
        let kind = OpKind::QueueGet;
        if !(1..=32).contains(&count) {
            return Err(invalid(kind, queue, format!("count {count} not in 1..=32")));
        }
        if visibility < Duration::from_secs(1) || visibility > MAX_VISIBILITY {
            return Err(invalid(kind, queue, format!("visibility {visibility:?}")));
        }
        let receipts: Vec<String> = (0..count).map(|_| self.receipt()).collect();
        let q = self.queue_mut(kind, queue, now)?;
        let mut visible: Vec<usize> = (0..q.messages.len())
            .filter(|&i| q.messages[i].visible_at <= now)
            .collect();
        visible.sort_by_key(|&i| (q.messages[i].visible_at, q.messages[i].seq));
        let visible_at = later(now, visibility);
        Ok(visible
            .into_iter()
            .take(count as usize)
            .zip(receipts)
            .map(|(i, receipt)| {
                let m = &mut q.messages[i];
                m.dequeue_count += 1;
                m.visible_at = visible_at;
                m.pop_receipt = receipt;
                QueueMessage {
                    message_id: m.id.clone(),
                    pop_receipt: m.pop_receipt.clone(),
                    dequeue_count: m.dequeue_count,
                    text: m.text.clone(),
                    inserted_on: m.inserted_on,
                    next_visible: m.visible_at,
                }
            })
            .collect())
    }

    pub(super) fn peek_messages(
        &mut self,
        queue: &str,
        count: u8,
        now: OffsetDateTime,
    ) -> Result<Vec<PeekedMessage>> {
        let kind = OpKind::QueuePeek;
        if !(1..=32).contains(&count) {
            return Err(invalid(kind, queue, format!("count {count} not in 1..=32")));
        }
        let q = self.queue_mut(kind, queue, now)?;
        let mut visible: Vec<&MemMessage> =
            q.messages.iter().filter(|m| m.visible_at <= now).collect();
        visible.sort_by_key(|m| (m.visible_at, m.seq));
        Ok(visible
            .into_iter()
            .take(count as usize)
            .map(|m| PeekedMessage {
                message_id: m.id.clone(),
                dequeue_count: m.dequeue_count,
                text: m.text.clone(),
                inserted_on: m.inserted_on,
            })
            .collect())
    }

    /// The index of a message addressed by id and pop receipt.
    fn find(
        q: &MemQueue,
        kind: OpKind,
        queue: &str,
        message_id: &str,
        pop_receipt: &str,
    ) -> Result<usize> {
        let i = q
            .messages
            .iter()
            .position(|m| m.id == message_id)
            .ok_or_else(|| http(kind, queue, 404, "MessageNotFound"))?;
        if q.messages[i].pop_receipt != pop_receipt {
            return Err(http(kind, queue, 400, "PopReceiptMismatch"));
        }
        Ok(i)
    }

    pub(super) fn update_message(
        &mut self,
        queue: &str,
        message_id: &str,
        pop_receipt: &str,
        visibility: Duration,
        text: &str,
        now: OffsetDateTime,
    ) -> Result<(String, OffsetDateTime)> {
        let kind = OpKind::QueueUpdate;
        if visibility > MAX_VISIBILITY {
            return Err(invalid(
                kind,
                queue,
                format!("visibility {visibility:?} over 7 days"),
            ));
        }
        if text.len() > MAX_MESSAGE_BYTES {
            return Err(http(kind, queue, 413, "RequestBodyTooLarge"));
        }
        let receipt = self.receipt();
        let q = self.queue_mut(kind, queue, now)?;
        let i = Self::find(q, kind, queue, message_id, pop_receipt)?;
        let m = &mut q.messages[i];
        m.pop_receipt = receipt.clone();
        m.visible_at = later(now, visibility);
        m.text = text.to_string();
        Ok((receipt, m.visible_at))
    }

    pub(super) fn delete_message(
        &mut self,
        queue: &str,
        message_id: &str,
        pop_receipt: &str,
        now: OffsetDateTime,
        changes: &mut Vec<Owned>,
    ) -> Result<()> {
        let kind = OpKind::QueueDelete;
        let q = self.queue_mut(kind, queue, now)?;
        let i = Self::find(q, kind, queue, message_id, pop_receipt)?;
        let m = q.messages.remove(i);
        changes.push(Owned::Deleted {
            queue: queue.to_string(),
            id: m.id,
            text: m.text,
        });
        Ok(())
    }

    pub(super) fn clear_queue(&mut self, queue: &str, changes: &mut Vec<Owned>) -> Result<()> {
        let q = self
            .queues
            .get_mut(queue)
            .ok_or_else(|| http(OpKind::QueueClear, queue, 404, "QueueNotFound"))?;
        for m in q.messages.drain(..) {
            changes.push(Owned::Deleted {
                queue: queue.to_string(),
                id: m.id,
                text: m.text,
            });
        }
        Ok(())
    }
}
