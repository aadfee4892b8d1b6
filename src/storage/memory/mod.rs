//! An in-memory storage account for the deterministic simulation: queues, tables and blobs with
//! the semantics the protocol relies on, and nothing else.
//!
//! Owns [`MemoryStorage`], [`MemoryOptions`] and the [`Observer`] hook. What it keeps, as the
//! service does (and as `tests/storage_*.rs` check on both it and Azurite):
//! - tables: ETags on every write, conditional writes and deletes (412), inserts of existing rows
//!   (409), entity-group transactions applied all or nothing with the failing index, the limits
//!   on properties (64 KiB per string, 1 MiB per entity, 255 properties) and on key characters,
//!   OData filters (`odata.rs`), `$select`, `$top` and continuation tokens;
//! - queues: visibility by the service's clock, pop receipts that change on every dequeue and
//!   update (an old one gets 400 `PopReceiptMismatch`), dequeue counts, the 7-day cap on
//!   visibility, 64 KiB messages, TTLs;
//! - blobs: containers, put / get / size / delete, listing by prefix in pages.
//!
//! Each call waits a seeded random latency before it applies and again before it answers, so
//! concurrent requests interleave as they would over a network. An [`Observer`] sees every
//! change as it is applied, with read access to the whole account: the simulation checks its
//! invariants there (for example that a message is deleted only once what it caused is stored).

mod blobs;
pub mod odata;
mod queues;
mod tables;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;

use super::blob::BlobItem;
use super::entity::TableEntity;
use super::error::{Error, Result};
use super::queue::{PeekedMessage, PutReceipt, QueueMessage};
use super::service::{BatchOp, EntityPage, EntityQuery, StorageService, WriteMode};
use super::table::Etag;
use super::{describe, OpKind, StorageAccount};
use crate::clock::Clock;

/// How the in-memory account behaves.
#[derive(Debug, Clone)]
pub struct MemoryOptions {
    /// Each call waits a random time in this range before applying, and again before answering.
    pub latency: (Duration, Duration),
    /// The most entities a query page, or blobs a listing page, returns (the service's are 1,000
    /// and 5,000; smaller pages exercise continuations).
    pub max_page: u32,
}

impl Default for MemoryOptions {
    /// No latency, the service's page sizes.
    fn default() -> Self {
        MemoryOptions {
            latency: (Duration::ZERO, Duration::ZERO),
            max_page: 1000,
        }
    }
}

/// A change the store has just applied.
#[derive(Debug)]
pub enum Change<'a> {
    /// A message was put on a queue.
    MessagePut {
        /// The queue's name.
        queue: &'a str,
        /// The new message's id.
        message_id: &'a str,
        /// The message text.
        text: &'a str,
    },
    /// A message was deleted from a queue (one by one, or by clearing the queue).
    MessageDeleted {
        /// The queue's name.
        queue: &'a str,
        /// The deleted message's id.
        message_id: &'a str,
        /// The message text.
        text: &'a str,
    },
    /// One entity write or a whole transaction on `partition_key` of `table`.
    TableWritten {
        /// The table's name.
        table: &'a str,
        /// The partition all the operations wrote to.
        partition_key: &'a str,
        /// The operations, in order (one for a single-entity write).
        ops: &'a [BatchOp],
    },
}

/// Sees every change as it is applied (inside the store's lock: do not call the store).
pub trait Observer: Send + Sync {
    /// Called with each change just after it is applied, with read access to the whole account.
    fn applied(&self, change: &Change<'_>, view: &View<'_>);
}

/// Read access to the account, for observers and tests.
pub struct View<'a> {
    state: &'a State,
}

impl View<'_> {
    /// One entity as stored (with its annotations).
    pub fn entity(&self, table: &str, partition_key: &str, row_key: &str) -> Option<&TableEntity> {
        self.state
            .tables
            .get(table)?
            .rows
            .get(&(partition_key.to_string(), row_key.to_string()))
            .map(|r| &r.entity)
    }

    /// Every row of one partition, in row-key order.
    pub fn partition(&self, table: &str, partition_key: &str) -> Vec<(&str, &TableEntity)> {
        let Some(t) = self.state.tables.get(table) else {
            return Vec::new();
        };
        t.rows
            .range((partition_key.to_string(), String::new())..)
            .take_while(|((pk, _), _)| pk == partition_key)
            .map(|((_, rk), row)| (rk.as_str(), &row.entity))
            .collect()
    }

    /// The texts of every message in a queue, hidden or not, oldest first.
    pub fn messages(&self, queue: &str) -> Vec<&str> {
        self.state
            .queues
            .get(queue)
            .map(|q| q.messages.iter().map(|m| m.text.as_str()).collect())
            .unwrap_or_default()
    }

    /// Every queue name.
    pub fn queues(&self) -> Vec<&str> {
        self.state.queues.keys().map(String::as_str).collect()
    }
}

/// An in-memory storage account. Share it (`Arc`) between the [`Storage`](super::Storage)
/// handles of several simulated processes.
pub struct MemoryStorage {
    state: Mutex<State>,
    clock: Clock,
    options: MemoryOptions,
    observer: Mutex<Option<Arc<dyn Observer>>>,
}

#[derive(Default)]
pub(crate) struct State {
    queues: BTreeMap<String, queues::MemQueue>,
    tables: BTreeMap<String, tables::MemTable>,
    containers: BTreeMap<String, BTreeMap<String, Vec<u8>>>,
    /// Makes every ETag and pop receipt unique, even when the clock stands still.
    sequence: u64,
}

impl State {
    fn next(&mut self) -> u64 {
        self.sequence += 1;
        self.sequence
    }
}

/// An error the service would answer with.
pub(crate) fn http(kind: OpKind, target: &str, status: u16, code: &str) -> Error {
    Error::Http {
        operation: describe(kind, target),
        status,
        code: Some(code.to_string()),
        source: None,
    }
}

impl MemoryStorage {
    /// An empty account whose service clock is `clock`.
    pub fn new(clock: Clock, options: MemoryOptions) -> Arc<MemoryStorage> {
        Arc::new(MemoryStorage {
            state: Mutex::new(State::default()),
            clock,
            options,
            observer: Mutex::new(None),
        })
    }

    /// The account name and endpoints blob URLs and errors use.
    pub fn account() -> StorageAccount {
        StorageAccount::parse(
            "AccountName=memory;AccountKey=bWVtb3J5;BlobEndpoint=http://memory.invalid/blob;\
             QueueEndpoint=http://memory.invalid/queue;TableEndpoint=http://memory.invalid/table",
        )
        .expect("the memory account's connection string parses")
    }

    /// Installs the observer that sees every change.
    pub fn observe(&self, observer: Arc<dyn Observer>) {
        *self.observer.lock().unwrap_or_else(|p| p.into_inner()) = Some(observer);
    }

    /// Runs `f` on a read-only view of the account.
    pub fn inspect<T>(&self, f: impl FnOnce(&View<'_>) -> T) -> T {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        f(&View { state: &state })
    }

    /// Waits one leg of the configured latency.
    async fn latency(&self) {
        let (lo, hi) = self.options.latency;
        if hi.is_zero() {
            return;
        }
        let span = hi.saturating_sub(lo).as_micros() as u64;
        let d = lo + Duration::from_micros(crate::entropy::below(span + 1));
        tokio::time::sleep(d).await;
    }

    /// Applies `f` to the state at one instant of the service clock, between two latency legs,
    /// and shows the observer what changed.
    async fn apply<T>(
        &self,
        f: impl FnOnce(&mut State, OffsetDateTime, &mut Vec<Owned>) -> Result<T>,
    ) -> Result<T> {
        self.latency().await;
        let result = {
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            let now = self.clock.now();
            let mut changes = Vec::new();
            let result = f(&mut state, now, &mut changes);
            let observer = self
                .observer
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            if let Some(o) = observer {
                let view = View { state: &state };
                for c in &changes {
                    o.applied(&c.borrowed(), &view);
                }
            }
            result
        };
        self.latency().await;
        result
    }
}

/// A change as recorded inside `apply`, before it is lent to the observer.
pub(crate) enum Owned {
    Put {
        queue: String,
        id: String,
        text: String,
    },
    Deleted {
        queue: String,
        id: String,
        text: String,
    },
    Table {
        table: String,
        pk: String,
        ops: Vec<BatchOp>,
    },
}

impl Owned {
    fn borrowed(&self) -> Change<'_> {
        match self {
            Owned::Put { queue, id, text } => Change::MessagePut {
                queue,
                message_id: id,
                text,
            },
            Owned::Deleted { queue, id, text } => Change::MessageDeleted {
                queue,
                message_id: id,
                text,
            },
            Owned::Table { table, pk, ops } => Change::TableWritten {
                table,
                partition_key: pk,
                ops,
            },
        }
    }
}

#[async_trait]
impl StorageService for MemoryStorage {
    async fn create_queue(&self, queue: &str) -> Result<()> {
        self.apply(|s, _, _| {
            s.queues.entry(queue.to_string()).or_default();
            Ok(())
        })
        .await
    }

    async fn delete_queue(&self, queue: &str) -> Result<()> {
        self.apply(|s, _, _| match s.queues.remove(queue) {
            Some(_) => Ok(()),
            None => Err(http(OpKind::QueueDeleteQueue, queue, 404, "QueueNotFound")),
        })
        .await
    }

    async fn queue_length(&self, queue: &str) -> Result<u64> {
        self.apply(|s, now, _| s.queue_length(queue, now)).await
    }

    async fn put_message(
        &self,
        queue: &str,
        text: &str,
        visibility: Duration,
        ttl: Duration,
    ) -> Result<PutReceipt> {
        self.apply(|s, now, changes| s.put_message(queue, text, visibility, ttl, now, changes))
            .await
    }

    async fn get_messages(
        &self,
        queue: &str,
        count: u8,
        visibility: Duration,
    ) -> Result<Vec<QueueMessage>> {
        self.apply(|s, now, _| s.get_messages(queue, count, visibility, now))
            .await
    }

    async fn peek_messages(&self, queue: &str, count: u8) -> Result<Vec<PeekedMessage>> {
        self.apply(|s, now, _| s.peek_messages(queue, count, now))
            .await
    }

    async fn update_message(
        &self,
        queue: &str,
        message_id: &str,
        pop_receipt: &str,
        visibility: Duration,
        text: &str,
    ) -> Result<(String, OffsetDateTime)> {
        self.apply(|s, now, _| {
            s.update_message(queue, message_id, pop_receipt, visibility, text, now)
        })
        .await
    }

    async fn delete_message(&self, queue: &str, message_id: &str, pop_receipt: &str) -> Result<()> {
        self.apply(|s, now, changes| s.delete_message(queue, message_id, pop_receipt, now, changes))
            .await
    }

    async fn clear_queue(&self, queue: &str) -> Result<()> {
        self.apply(|s, _, changes| s.clear_queue(queue, changes))
            .await
    }

    async fn create_table(&self, table: &str) -> Result<()> {
        self.apply(|s, _, _| s.create_table(table)).await
    }

    async fn delete_table(&self, table: &str) -> Result<()> {
        self.apply(|s, _, _| match s.tables.remove(table) {
            Some(_) => Ok(()),
            None => Err(http(OpKind::TableDeleteTable, table, 404, "TableNotFound")),
        })
        .await
    }

    async fn table_exists(&self, table: &str) -> Result<bool> {
        self.apply(|s, _, _| Ok(s.tables.contains_key(table))).await
    }

    async fn get_entity(
        &self,
        table: &str,
        partition_key: &str,
        row_key: &str,
    ) -> Result<Option<(TableEntity, Etag)>> {
        self.apply(|s, _, _| s.get_entity(table, partition_key, row_key))
            .await
    }

    async fn query_entities(&self, table: &str, query: &EntityQuery) -> Result<EntityPage> {
        let max_page = self.options.max_page;
        self.apply(|s, _, _| s.query_entities(table, query, max_page))
            .await
    }

    async fn write_entity(
        &self,
        table: &str,
        partition_key: &str,
        row_key: &str,
        body: &TableEntity,
        mode: &WriteMode,
    ) -> Result<Etag> {
        self.apply(|s, now, changes| {
            s.write_entity(table, partition_key, row_key, body, mode, now, changes)
        })
        .await
    }

    async fn delete_entity(
        &self,
        table: &str,
        partition_key: &str,
        row_key: &str,
        etag: Option<&Etag>,
    ) -> Result<()> {
        self.apply(|s, _, changes| s.delete_entity(table, partition_key, row_key, etag, changes))
            .await
    }

    async fn transaction(
        &self,
        table: &str,
        partition_key: &str,
        ops: &[BatchOp],
    ) -> Result<Vec<Option<Etag>>> {
        self.apply(|s, now, changes| s.transaction(table, partition_key, ops, now, changes))
            .await
    }

    async fn create_container(&self, container: &str) -> Result<()> {
        self.apply(|s, _, _| s.create_container(container)).await
    }

    async fn delete_container(&self, container: &str) -> Result<()> {
        self.apply(|s, _, _| match s.containers.remove(container) {
            Some(_) => Ok(()),
            None => Err(http(
                OpKind::ContainerDelete,
                container,
                404,
                "ContainerNotFound",
            )),
        })
        .await
    }

    async fn container_exists(&self, container: &str) -> Result<bool> {
        self.apply(|s, _, _| Ok(s.containers.contains_key(container)))
            .await
    }

    async fn put_blob(
        &self,
        container: &str,
        blob: &str,
        bytes: &[u8],
        _content_type: &str,
    ) -> Result<()> {
        self.apply(|s, _, _| s.put_blob(container, blob, bytes))
            .await
    }

    async fn get_blob(&self, container: &str, blob: &str) -> Result<Vec<u8>> {
        self.apply(|s, _, _| s.get_blob(container, blob)).await
    }

    async fn blob_size(&self, container: &str, blob: &str) -> Result<Option<u64>> {
        self.apply(|s, _, _| s.blob_size(container, blob)).await
    }

    async fn delete_blob(&self, container: &str, blob: &str) -> Result<()> {
        self.apply(|s, _, _| s.delete_blob(container, blob)).await
    }

    async fn list_blobs(
        &self,
        container: &str,
        prefix: &str,
        marker: Option<String>,
    ) -> Result<(Vec<BlobItem>, Option<String>)> {
        let max_page = self.options.max_page;
        self.apply(|s, _, _| s.list_blobs(container, prefix, marker.as_deref(), max_page))
            .await
    }
}
