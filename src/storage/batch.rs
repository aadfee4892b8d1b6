//! Entity-group transactions: up to 100 operations on one partition key, all or nothing.
//!
//! Owns [`Batch`], the builder. Limits that Azure enforces but Azurite does not (one partition
//! key, ≤ 100 operations, each row key once) are checked here before anything is sent; the
//! service below reports a failed transaction as [`Error::BatchOperationFailed`] naming the
//! operation's index, status and code.

use super::error::{Error, Result};
use super::service::{BatchOp, WriteMode};
use super::table::{entity_body, Etag, Table};
use super::{describe, OpKind};
use serde::Serialize;
use std::collections::HashSet;

/// The most operations one transaction may hold.
pub const MAX_BATCH_OPERATIONS: usize = 100;

/// A transaction under construction. Add operations, then [`Batch::execute`].
pub struct Batch {
    table: Table,
    partition_key: String,
    ops: Vec<BatchOp>,
    invalid: Option<String>,
}

impl Batch {
    pub(crate) fn new(table: Table, partition_key: &str) -> Batch {
        Batch {
            table,
            partition_key: partition_key.to_string(),
            ops: Vec::new(),
            invalid: None,
        }
    }

    /// Number of operations so far.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// True when no operation was added.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// The partition key every operation must use.
    pub fn partition_key(&self) -> &str {
        &self.partition_key
    }

    fn push_write(&mut self, row_key: &str, entity: &impl Serialize, mode: WriteMode) -> &mut Self {
        match entity_body(&self.operation(), &self.partition_key, row_key, entity) {
            Ok(body) => self.ops.push(BatchOp::Write {
                row_key: row_key.to_string(),
                body,
                mode,
            }),
            // Remember the first problem; execute() reports it without sending anything.
            Err(err) => {
                self.invalid.get_or_insert(err.to_string());
            }
        }
        self
    }

    /// Adds an insert (fails the batch with 409 if the entity exists).
    pub fn insert(&mut self, row_key: &str, entity: &impl Serialize) -> &mut Self {
        self.push_write(row_key, entity, WriteMode::Insert)
    }

    /// Adds an insert-or-replace.
    pub fn upsert_replace(&mut self, row_key: &str, entity: &impl Serialize) -> &mut Self {
        self.push_write(row_key, entity, WriteMode::UpsertReplace)
    }

    /// Adds an insert-or-merge.
    pub fn upsert_merge(&mut self, row_key: &str, entity: &impl Serialize) -> &mut Self {
        self.push_write(row_key, entity, WriteMode::UpsertMerge)
    }

    /// Adds a replace guarded by `etag` (`None`: any version; 404 if missing).
    pub fn update(
        &mut self,
        row_key: &str,
        entity: &impl Serialize,
        etag: Option<&Etag>,
    ) -> &mut Self {
        self.push_write(row_key, entity, WriteMode::Update(etag.cloned()))
    }

    /// Adds a merge guarded by `etag` (`None`: any version; 404 if missing).
    pub fn merge(
        &mut self,
        row_key: &str,
        entity: &impl Serialize,
        etag: Option<&Etag>,
    ) -> &mut Self {
        self.push_write(row_key, entity, WriteMode::Merge(etag.cloned()))
    }

    /// Adds a delete guarded by `etag` (`None`: any version; 404 if missing).
    pub fn delete(&mut self, row_key: &str, etag: Option<&Etag>) -> &mut Self {
        self.ops.push(BatchOp::Delete {
            row_key: row_key.to_string(),
            etag: etag.cloned(),
        });
        self
    }

    fn operation(&self) -> String {
        describe(OpKind::TableBatch, self.table.name())
    }

    fn check(&self) -> Result<()> {
        let invalid = |message: String| {
            Err(Error::InvalidRequest {
                operation: self.operation(),
                message,
            })
        };
        if let Some(m) = &self.invalid {
            return invalid(m.clone());
        }
        if self.ops.len() > MAX_BATCH_OPERATIONS {
            return invalid(format!(
                "{} operations, at most {MAX_BATCH_OPERATIONS} are allowed",
                self.ops.len()
            ));
        }
        let mut seen = HashSet::new();
        for op in &self.ops {
            if !seen.insert(op.row_key()) {
                return invalid(format!("row key `{}` appears twice", op.row_key()));
            }
        }
        Ok(())
    }

    /// Sends the transaction. Returns each operation's new ETag in order (`None` for deletes).
    /// If any operation fails, nothing is applied and the error is
    /// [`Error::BatchOperationFailed`] naming the operation's index, status and code.
    pub async fn execute(&self) -> Result<Vec<Option<Etag>>> {
        self.check()?;
        if self.ops.is_empty() {
            return Ok(Vec::new());
        }
        let table = self.table.name();
        self.table
            .storage
            .run(OpKind::TableBatch, |s| {
                s.transaction(table, &self.partition_key, &self.ops)
            })
            .await
    }
}
