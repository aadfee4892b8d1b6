//! Queue requests over `azure_storage_queues`. Text travels as given (UTF-8, XML-escaped by the
//! crate), never base64.

use std::time::Duration;

use azure_storage_queues::PopReceipt;
use time::OffsetDateTime;

use super::super::account::Service;
use super::super::error::Result;
use super::super::queue::{PeekedMessage, PutReceipt, QueueMessage};
use super::super::OpKind;
use super::AzureStorage;

impl AzureStorage {
    fn queue_error(&self, kind: OpKind, queue: &str, e: azure_core::Error) -> super::Error {
        self.error(kind, Service::Queue, queue, e)
    }

    pub(super) async fn queue_create(&self, queue: &str) -> Result<()> {
        self.queues
            .queue_client(queue)
            .create()
            .into_future()
            .await
            .map_err(|e| self.queue_error(OpKind::QueueCreate, queue, e))?;
        Ok(())
    }

    pub(super) async fn queue_delete(&self, queue: &str) -> Result<()> {
        self.queues
            .queue_client(queue)
            .delete()
            .into_future()
            .await
            .map_err(|e| self.queue_error(OpKind::QueueDeleteQueue, queue, e))?;
        Ok(())
    }

    pub(super) async fn queue_len(&self, queue: &str) -> Result<u64> {
        let resp = self
            .queues
            .queue_client(queue)
            .get_metadata()
            .into_future()
            .await
            .map_err(|e| self.queue_error(OpKind::QueueLength, queue, e))?;
        Ok(resp.approximate_messages_count as u64)
    }

    pub(super) async fn message_put(
        &self,
        queue: &str,
        text: &str,
        visibility: Duration,
        ttl: Duration,
    ) -> Result<PutReceipt> {
        let resp = self
            .queues
            .queue_client(queue)
            .put_message(text)
            .visibility_timeout(visibility)
            .ttl(ttl)
            .into_future()
            .await
            .map_err(|e| self.queue_error(OpKind::QueuePut, queue, e))?;
        let m = resp.queue_message;
        Ok(PutReceipt {
            message_id: m.message_id,
            pop_receipt: m.pop_receipt,
            next_visible: m.time_next_visible,
        })
    }

    pub(super) async fn messages_get(
        &self,
        queue: &str,
        count: u8,
        visibility: Duration,
    ) -> Result<Vec<QueueMessage>> {
        let resp = self
            .queues
            .queue_client(queue)
            .get_messages()
            .number_of_messages(count)
            .visibility_timeout(visibility)
            .into_future()
            .await
            .map_err(|e| self.queue_error(OpKind::QueueGet, queue, e))?;
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

    pub(super) async fn messages_peek(&self, queue: &str, count: u8) -> Result<Vec<PeekedMessage>> {
        let resp = self
            .queues
            .queue_client(queue)
            .peek_messages()
            .number_of_messages(count)
            .into_future()
            .await
            .map_err(|e| self.queue_error(OpKind::QueuePeek, queue, e))?;
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

    pub(super) async fn message_update(
        &self,
        queue: &str,
        message_id: &str,
        pop_receipt: &str,
        visibility: Duration,
        text: &str,
    ) -> Result<(String, OffsetDateTime)> {
        let resp = self
            .queues
            .queue_client(queue)
            .pop_receipt_client(PopReceipt::new(message_id, pop_receipt))
            .update(text, visibility)
            .into_future()
            .await
            .map_err(|e| self.queue_error(OpKind::QueueUpdate, queue, e))?;
        Ok((resp.pop_receipt, resp.time_next_visible))
    }

    pub(super) async fn message_delete(
        &self,
        queue: &str,
        message_id: &str,
        pop_receipt: &str,
    ) -> Result<()> {
        self.queues
            .queue_client(queue)
            .pop_receipt_client(PopReceipt::new(message_id, pop_receipt))
            .delete()
            .into_future()
            .await
            .map_err(|e| self.queue_error(OpKind::QueueDelete, queue, e))?;
        Ok(())
    }

    pub(super) async fn queue_clear(&self, queue: &str) -> Result<()> {
        self.queues
            .queue_client(queue)
            .clear_messages()
            .into_future()
            .await
            .map_err(|e| self.queue_error(OpKind::QueueClear, queue, e))?;
        Ok(())
    }
}
