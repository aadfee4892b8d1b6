//! The storage seam: every request taskhub makes of a storage account, one attempt each.
//!
//! Owns [`StorageService`] and the request shapes it takes ([`WriteMode`], [`BatchOp`],
//! [`EntityQuery`]). Two implementations: `azure` (the `azure_*` crates, the product) and
//! `memory` (the deterministic simulation), and a decorator, `faults`, that wraps either. The
//! handles in `queue.rs`, `table.rs`, `batch.rs` and `blob.rs` sit on top: they retry transient
//! failures, count requests and bound how many are in flight, so what is below this trait is one
//! HTTP request per call (or, in memory, one state change).
//!
//! # Contract (what the protocol above relies on; the memory store keeps all of it)
//! - Errors are [`Error`](super::Error)s with the service's status and code: 404 for a missing
//!   queue, table, container, entity, blob or message; 409 for an insert of an existing entity;
//!   412 when an ETag condition fails; 400 for a request the service refuses (a visibility over
//!   7 days, a message over 64 KiB, a property over 64 KiB, bad keys, a stale pop receipt:
//!   `PopReceiptMismatch`).
//! - Tables: every write returns the entity's new ETag; a conditional write or delete applies only
//!   if the stored ETag is the one given. A transaction is all-or-nothing and reports the index
//!   of the operation that failed ([`Error::BatchOperationFailed`](super::Error)).
//! - Queues: a message taken by `get_messages` is hidden until its visibility ends, its dequeue
//!   count is one higher, and only its newest pop receipt updates or deletes it. Visibility is
//!   counted by the service's clock, never the caller's.
//! - A call may be applied even though it returns an error (the answer was lost): callers must
//!   tolerate that, and the fault layer makes it happen on purpose.

use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;

use super::blob::BlobItem;
use super::counters::OpKind;
use super::entity::TableEntity;
use super::error::Result;
use super::queue::{PeekedMessage, PutReceipt, QueueMessage};
use super::table::{Continuation, Etag};

/// How a single-entity write treats an existing entity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteMode {
    /// Fails with 409 if it exists.
    Insert,
    /// Creates, or merges into what exists (properties not given are kept).
    UpsertMerge,
    /// Creates, or replaces what exists.
    UpsertReplace,
    /// Replaces an existing entity whose ETag is this one (`None`: any); 404 if missing.
    Update(Option<Etag>),
    /// Merges into an existing entity whose ETag is this one (`None`: any); 404 if missing.
    Merge(Option<Etag>),
}

impl WriteMode {
    /// The kind of request this write is counted and described as.
    pub fn op_kind(&self) -> OpKind {
        match self {
            WriteMode::Insert => OpKind::TableInsert,
            WriteMode::UpsertMerge | WriteMode::UpsertReplace => OpKind::TableUpsert,
            WriteMode::Update(_) | WriteMode::Merge(_) => OpKind::TableUpdate,
        }
    }
}

/// One operation of an entity-group transaction; the body already carries its keys.
#[derive(Debug, Clone)]
pub enum BatchOp {
    /// Writes one entity in the transaction.
    Write {
        /// The row key (the body carries the same).
        row_key: String,
        /// The entity, with its keys.
        body: TableEntity,
        /// How an existing entity is treated.
        mode: WriteMode,
    },
    /// Deletes the entity if its ETag is this one (`None`: any); 404 if missing.
    Delete {
        /// The row key of the entity to delete.
        row_key: String,
        /// The ETag the entity must have (`None`: any).
        etag: Option<Etag>,
    },
}

impl BatchOp {
    /// The row key the operation is on.
    pub fn row_key(&self) -> &str {
        match self {
            BatchOp::Write { row_key, .. } | BatchOp::Delete { row_key, .. } => row_key,
        }
    }
}

/// One page of a table query.
#[derive(Debug, Clone, Default)]
pub struct EntityQuery {
    /// An OData `$filter`.
    pub filter: Option<String>,
    /// `$select`: only these properties.
    pub select: Option<Vec<String>>,
    /// `$top`: at most this many (1–1000).
    pub top: Option<u32>,
    /// Where the previous page ended.
    pub continuation: Option<Continuation>,
}

/// A page of entities and where the next one starts.
pub type EntityPage = (Vec<(TableEntity, Etag)>, Option<Continuation>);

/// A storage account's queues, tables and blobs, one request per call. See the module docs for
/// the contract. Names are the service's (queue, table, container, blob); keys are unescaped.
#[async_trait]
pub trait StorageService: Send + Sync + 'static {
    // ---- queues
    /// Creates the queue; succeeds when it already exists.
    async fn create_queue(&self, queue: &str) -> Result<()>;
    /// Deletes the queue and its messages; 404 when missing.
    async fn delete_queue(&self, queue: &str) -> Result<()>;
    /// Approximate number of messages, visible or not.
    async fn queue_length(&self, queue: &str) -> Result<u64>;
    /// Adds a message hidden for `visibility` (at most 7 days) that lives for `ttl`.
    async fn put_message(
        &self,
        queue: &str,
        text: &str,
        visibility: Duration,
        ttl: Duration,
    ) -> Result<PutReceipt>;
    /// Takes up to `count` (1–32) visible messages and hides them for `visibility`.
    async fn get_messages(
        &self,
        queue: &str,
        count: u8,
        visibility: Duration,
    ) -> Result<Vec<QueueMessage>>;
    /// Up to `count` (1–32) visible messages, without taking them (dequeue counts and visibility
    /// unchanged).
    async fn peek_messages(&self, queue: &str, count: u8) -> Result<Vec<PeekedMessage>>;
    /// Sets a taken message's visibility and text; returns the new pop receipt and visibility.
    async fn update_message(
        &self,
        queue: &str,
        message_id: &str,
        pop_receipt: &str,
        visibility: Duration,
        text: &str,
    ) -> Result<(String, OffsetDateTime)>;
    /// Deletes a taken message; 404 when it is gone, 400 `PopReceiptMismatch` when `pop_receipt`
    /// is not its newest.
    async fn delete_message(&self, queue: &str, message_id: &str, pop_receipt: &str) -> Result<()>;
    /// Deletes every message of the queue.
    async fn clear_queue(&self, queue: &str) -> Result<()>;

    // ---- tables
    /// Creates the table; 409 when it exists.
    async fn create_table(&self, table: &str) -> Result<()>;
    /// Deletes the table and its entities; 404 when missing.
    async fn delete_table(&self, table: &str) -> Result<()>;
    /// Whether the table exists.
    async fn table_exists(&self, table: &str) -> Result<bool>;
    /// One entity and its ETag; `None` when there is no such entity.
    async fn get_entity(
        &self,
        table: &str,
        partition_key: &str,
        row_key: &str,
    ) -> Result<Option<(TableEntity, Etag)>>;
    /// One page of the entities `query` selects, in partition-key then row-key order.
    async fn query_entities(&self, table: &str, query: &EntityQuery) -> Result<EntityPage>;
    /// Writes one entity (`body` carries its keys); returns its new ETag.
    async fn write_entity(
        &self,
        table: &str,
        partition_key: &str,
        row_key: &str,
        body: &TableEntity,
        mode: &WriteMode,
    ) -> Result<Etag>;
    /// Deletes one entity if its ETag is `etag` (`None`: any); 404 when missing, 412 when the ETag
    /// differs.
    async fn delete_entity(
        &self,
        table: &str,
        partition_key: &str,
        row_key: &str,
        etag: Option<&Etag>,
    ) -> Result<()>;
    /// Applies `ops` (1–100, distinct row keys, one partition) all or nothing; returns each
    /// operation's new ETag (`None` for deletes).
    async fn transaction(
        &self,
        table: &str,
        partition_key: &str,
        ops: &[BatchOp],
    ) -> Result<Vec<Option<Etag>>>;

    // ---- blobs
    /// Creates the container; 409 when it exists.
    async fn create_container(&self, container: &str) -> Result<()>;
    /// Deletes the container and its blobs; 404 when missing.
    async fn delete_container(&self, container: &str) -> Result<()>;
    /// Whether the container exists.
    async fn container_exists(&self, container: &str) -> Result<bool>;
    /// Writes `bytes` as a whole block blob with `content_type`, replacing any blob of that name.
    async fn put_blob(
        &self,
        container: &str,
        blob: &str,
        bytes: &[u8],
        content_type: &str,
    ) -> Result<()>;
    /// The whole blob; 404 when missing.
    async fn get_blob(&self, container: &str, blob: &str) -> Result<Vec<u8>>;
    /// The blob's size, `None` when missing.
    async fn blob_size(&self, container: &str, blob: &str) -> Result<Option<u64>>;
    /// Deletes a blob; 404 when missing.
    async fn delete_blob(&self, container: &str, blob: &str) -> Result<()>;
    /// One page of the blobs whose names start with `prefix`, in name order, and the marker of
    /// the next page.
    async fn list_blobs(
        &self,
        container: &str,
        prefix: &str,
        marker: Option<String>,
    ) -> Result<(Vec<BlobItem>, Option<String>)>;
}
