//! Fault injection at the storage boundary: a [`StorageService`] decorator that makes chosen
//! requests fail, time out, arrive late, or apply and lose their answer, by a plan.
//!
//! Owns [`FaultyStorage`], [`FaultPlan`], [`FaultRule`] and [`Fault`]. It sits below the retry
//! and the protocol code, so what is tested is the real code's reaction to a real-looking
//! failure: a lost answer comes back as a timeout after the request was applied, exactly the case
//! a retried insert sees as 409 or a retried conditional write as 412. Probabilities are drawn
//! from [`crate::entropy`], so a seeded simulation injects the same faults every run.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;

use super::blob::BlobItem;
use super::entity::TableEntity;
use super::error::{Cause, Error, Result};
use super::queue::{PeekedMessage, PutReceipt, QueueMessage};
use super::service::{BatchOp, EntityPage, EntityQuery, StorageService, WriteMode};
use super::table::Etag;
use super::{describe, OpKind};

/// What happens to a request a rule picks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fault {
    /// Refused before it reaches the service (503 ServerBusy): nothing is applied.
    FailBefore,
    /// Applied, and the answer lost: the caller sees a timeout.
    LoseResponse,
    /// Sent this much later than it would be (then applied and answered).
    Delay(Duration),
    /// Applied at once, answered this much later.
    SlowResponse(Duration),
    /// No answer within this long; whether it was applied is a coin toss.
    Timeout(Duration),
}

/// Which requests get a fault, and how often.
#[derive(Debug, Clone)]
pub struct FaultRule {
    /// Kinds of request it applies to (empty: all).
    pub kinds: Vec<OpKind>,
    /// Only requests whose target (queue, table or `container/blob` name) contains this.
    pub target_contains: Option<String>,
    /// What happens to a request the rule picks.
    pub fault: Fault,
    /// Chance that a matching request gets the fault (after `skip`).
    pub probability: f64,
    /// Matching requests let through before the rule starts.
    pub skip: u32,
    /// How many faults the rule injects at most (`None`: no limit).
    pub times: Option<u32>,
}

impl FaultRule {
    /// `fault` for every request of `kinds` (with probability 1, no limit).
    pub fn new(kinds: &[OpKind], fault: Fault) -> FaultRule {
        FaultRule {
            kinds: kinds.to_vec(),
            target_contains: None,
            fault,
            probability: 1.0,
            skip: 0,
            times: None,
        }
    }

    /// Only on targets containing `s`.
    pub fn on(mut self, s: &str) -> Self {
        self.target_contains = Some(s.to_string());
        self
    }

    /// With this probability.
    pub fn sometimes(mut self, probability: f64) -> Self {
        self.probability = probability;
        self
    }

    /// After letting `n` matching requests through.
    pub fn after(mut self, n: u32) -> Self {
        self.skip = n;
        self
    }

    /// At most `n` times.
    pub fn times(mut self, n: u32) -> Self {
        self.times = Some(n);
        self
    }

    fn matches(&self, kind: OpKind, target: &str) -> bool {
        (self.kinds.is_empty() || self.kinds.contains(&kind))
            && self
                .target_contains
                .as_deref()
                .is_none_or(|s| target.contains(s))
    }
}

/// One injected fault, for the record.
#[derive(Debug, Clone, PartialEq)]
pub struct Injected {
    /// The kind of request that got the fault.
    pub kind: OpKind,
    /// Its target (queue, table or `container/blob` name).
    pub target: String,
    /// The fault injected.
    pub fault: Fault,
}

struct RuleState {
    id: u64,
    rule: FaultRule,
    seen: u32,
    fired: u32,
}

/// The faults to inject: rules tried in order, the first that fires wins. Shared by the
/// decorators of one run; changes apply to requests that start afterwards.
#[derive(Default)]
pub struct FaultPlan {
    rules: Mutex<Vec<RuleState>>,
    log: Mutex<Vec<Injected>>,
    next_id: std::sync::atomic::AtomicU64,
}

impl FaultPlan {
    /// A plan without rules (nothing is injected).
    pub fn new() -> Arc<FaultPlan> {
        Arc::new(FaultPlan::default())
    }

    /// Adds a rule; returns its id for [`FaultPlan::remove`].
    pub fn add(&self, rule: FaultRule) -> u64 {
        let id = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        lock(&self.rules).push(RuleState {
            id,
            rule,
            seen: 0,
            fired: 0,
        });
        id
    }

    /// Removes one rule (an outage that ends).
    pub fn remove(&self, id: u64) {
        lock(&self.rules).retain(|r| r.id != id);
    }

    /// Removes every rule (the log stays).
    pub fn clear(&self) {
        lock(&self.rules).clear();
    }

    /// Every fault injected so far, in order.
    pub fn injected(&self) -> Vec<Injected> {
        lock(&self.log).clone()
    }

    fn decide(&self, kind: OpKind, target: &str) -> Option<Fault> {
        let mut rules = lock(&self.rules);
        for r in rules.iter_mut() {
            if !r.rule.matches(kind, target) {
                continue;
            }
            r.seen += 1;
            if r.seen <= r.rule.skip || r.rule.times.is_some_and(|t| r.fired >= t) {
                continue;
            }
            if r.rule.probability < 1.0 && crate::entropy::fraction(0.0, 1.0) >= r.rule.probability
            {
                continue;
            }
            r.fired += 1;
            let fault = r.rule.fault;
            lock(&self.log).push(Injected {
                kind,
                target: target.to_string(),
                fault,
            });
            return Some(fault);
        }
        None
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A storage service whose requests go through a [`FaultPlan`].
pub struct FaultyStorage {
    inner: Arc<dyn StorageService>,
    plan: Arc<FaultPlan>,
}

impl FaultyStorage {
    /// Wraps `inner` so that its requests go through `plan`.
    pub fn new(inner: Arc<dyn StorageService>, plan: Arc<FaultPlan>) -> Arc<FaultyStorage> {
        Arc::new(FaultyStorage { inner, plan })
    }

    async fn run<T, Fut>(&self, kind: OpKind, target: &str, call: impl FnOnce() -> Fut) -> Result<T>
    where
        Fut: Future<Output = Result<T>>,
    {
        let lost = || Error::Timeout {
            operation: describe(kind, target),
            endpoint: "storage".into(),
            source: Cause::new("injected fault: the answer was lost"),
        };
        match self.plan.decide(kind, target) {
            None => call().await,
            Some(Fault::FailBefore) => Err(Error::Http {
                operation: describe(kind, target),
                status: 503,
                code: Some("ServerBusy".into()),
                source: None,
            }),
            Some(Fault::LoseResponse) => {
                let _ = call().await;
                Err(lost())
            }
            Some(Fault::Delay(d)) => {
                tokio::time::sleep(d).await;
                call().await
            }
            Some(Fault::SlowResponse(d)) => {
                let answer = call().await;
                tokio::time::sleep(d).await;
                answer
            }
            Some(Fault::Timeout(d)) => {
                if crate::entropy::below(2) == 0 {
                    let _ = call().await;
                }
                tokio::time::sleep(d).await;
                Err(lost())
            }
        }
    }
}

fn blob_target(container: &str, blob: &str) -> String {
    format!("{container}/{blob}")
}

#[async_trait]
impl StorageService for FaultyStorage {
    async fn create_queue(&self, queue: &str) -> Result<()> {
        self.run(OpKind::QueueCreate, queue, || {
            self.inner.create_queue(queue)
        })
        .await
    }
    async fn delete_queue(&self, queue: &str) -> Result<()> {
        self.run(OpKind::QueueDeleteQueue, queue, || {
            self.inner.delete_queue(queue)
        })
        .await
    }
    async fn queue_length(&self, queue: &str) -> Result<u64> {
        self.run(OpKind::QueueLength, queue, || {
            self.inner.queue_length(queue)
        })
        .await
    }
    async fn put_message(
        &self,
        queue: &str,
        text: &str,
        visibility: Duration,
        ttl: Duration,
    ) -> Result<PutReceipt> {
        self.run(OpKind::QueuePut, queue, || {
            self.inner.put_message(queue, text, visibility, ttl)
        })
        .await
    }
    async fn get_messages(
        &self,
        queue: &str,
        count: u8,
        visibility: Duration,
    ) -> Result<Vec<QueueMessage>> {
        self.run(OpKind::QueueGet, queue, || {
            self.inner.get_messages(queue, count, visibility)
        })
        .await
    }
    async fn peek_messages(&self, queue: &str, count: u8) -> Result<Vec<PeekedMessage>> {
        self.run(OpKind::QueuePeek, queue, || {
            self.inner.peek_messages(queue, count)
        })
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
        self.run(OpKind::QueueUpdate, queue, || {
            self.inner
                .update_message(queue, message_id, pop_receipt, visibility, text)
        })
        .await
    }
    async fn delete_message(&self, queue: &str, message_id: &str, pop_receipt: &str) -> Result<()> {
        self.run(OpKind::QueueDelete, queue, || {
            self.inner.delete_message(queue, message_id, pop_receipt)
        })
        .await
    }
    async fn clear_queue(&self, queue: &str) -> Result<()> {
        self.run(OpKind::QueueClear, queue, || self.inner.clear_queue(queue))
            .await
    }
    async fn create_table(&self, table: &str) -> Result<()> {
        self.run(OpKind::TableCreate, table, || {
            self.inner.create_table(table)
        })
        .await
    }
    async fn delete_table(&self, table: &str) -> Result<()> {
        self.run(OpKind::TableDeleteTable, table, || {
            self.inner.delete_table(table)
        })
        .await
    }
    async fn table_exists(&self, table: &str) -> Result<bool> {
        self.run(OpKind::TableExists, table, || {
            self.inner.table_exists(table)
        })
        .await
    }
    async fn get_entity(
        &self,
        table: &str,
        partition_key: &str,
        row_key: &str,
    ) -> Result<Option<(TableEntity, Etag)>> {
        self.run(OpKind::TableRead, table, || {
            self.inner.get_entity(table, partition_key, row_key)
        })
        .await
    }
    async fn query_entities(&self, table: &str, query: &EntityQuery) -> Result<EntityPage> {
        self.run(OpKind::TableQuery, table, || {
            self.inner.query_entities(table, query)
        })
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
        let kind = mode.op_kind();
        self.run(kind, table, || {
            self.inner
                .write_entity(table, partition_key, row_key, body, mode)
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
        self.run(OpKind::TableDelete, table, || {
            self.inner
                .delete_entity(table, partition_key, row_key, etag)
        })
        .await
    }
    async fn transaction(
        &self,
        table: &str,
        partition_key: &str,
        ops: &[BatchOp],
    ) -> Result<Vec<Option<Etag>>> {
        self.run(OpKind::TableBatch, table, || {
            self.inner.transaction(table, partition_key, ops)
        })
        .await
    }
    async fn create_container(&self, container: &str) -> Result<()> {
        self.run(OpKind::ContainerCreate, container, || {
            self.inner.create_container(container)
        })
        .await
    }
    async fn delete_container(&self, container: &str) -> Result<()> {
        self.run(OpKind::ContainerDelete, container, || {
            self.inner.delete_container(container)
        })
        .await
    }
    async fn container_exists(&self, container: &str) -> Result<bool> {
        self.run(OpKind::ContainerExists, container, || {
            self.inner.container_exists(container)
        })
        .await
    }
    async fn put_blob(
        &self,
        container: &str,
        blob: &str,
        bytes: &[u8],
        content_type: &str,
    ) -> Result<()> {
        self.run(OpKind::BlobPut, &blob_target(container, blob), || {
            self.inner.put_blob(container, blob, bytes, content_type)
        })
        .await
    }
    async fn get_blob(&self, container: &str, blob: &str) -> Result<Vec<u8>> {
        self.run(OpKind::BlobGet, &blob_target(container, blob), || {
            self.inner.get_blob(container, blob)
        })
        .await
    }
    async fn blob_size(&self, container: &str, blob: &str) -> Result<Option<u64>> {
        self.run(
            OpKind::BlobProperties,
            &blob_target(container, blob),
            || self.inner.blob_size(container, blob),
        )
        .await
    }
    async fn delete_blob(&self, container: &str, blob: &str) -> Result<()> {
        self.run(OpKind::BlobDelete, &blob_target(container, blob), || {
            self.inner.delete_blob(container, blob)
        })
        .await
    }
    async fn list_blobs(
        &self,
        container: &str,
        prefix: &str,
        marker: Option<String>,
    ) -> Result<(Vec<BlobItem>, Option<String>)> {
        self.run(OpKind::BlobList, container, || {
            self.inner.list_blobs(container, prefix, marker)
        })
        .await
    }
}
