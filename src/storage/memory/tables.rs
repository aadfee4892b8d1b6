//! In-memory tables: entities by (PartitionKey, RowKey) with ETags, conditional writes, queries
//! and entity-group transactions.
//!
//! As the table service: an insert of an existing entity is 409 `EntityAlreadyExists`, an update,
//! merge or delete of a missing one 404 `ResourceNotFound`, a stale ETag 412
//! `UpdateConditionNotSatisfied`; a transaction checks every operation against the state as the
//! earlier operations of the same transaction left it and applies all of them or none, naming
//! the failing index. Oversized properties, entities and bad key characters are refused with 400.

use std::collections::BTreeMap;

use serde_json::Value;
use time::OffsetDateTime;

use super::super::entity::TableEntity;
use super::super::error::{Error, Result};
use super::super::escape::format_edm_datetime;
use super::super::service::{BatchOp, EntityPage, EntityQuery, WriteMode};
use super::super::table::{Continuation, Etag};
use super::super::{describe, OpKind};
use super::odata::Filter;
use super::{http, Owned, State};

/// A string property may hold at most 64 KiB (as UTF-16).
const MAX_PROPERTY_BYTES: usize = 64 * 1024;
/// An entity may hold at most 1 MiB.
const MAX_ENTITY_BYTES: usize = 1024 * 1024;
/// An entity may have at most 252 properties of its own (255 with the keys and Timestamp).
const MAX_PROPERTIES: usize = 252;

#[derive(Default)]
pub(crate) struct MemTable {
    pub(super) rows: BTreeMap<(String, String), Row>,
}

pub(crate) struct Row {
    pub(super) entity: TableEntity,
    etag: Etag,
    timestamp: OffsetDateTime,
}

fn batch_failed(table: &str, index: usize, status: u16, code: &str) -> Error {
    Error::BatchOperationFailed {
        operation: describe(OpKind::TableBatch, table),
        index,
        status,
        code: Some(code.to_string()),
    }
}

/// 400 for a body the service would refuse.
fn check_body(kind: OpKind, table: &str, pk: &str, rk: &str, body: &TableEntity) -> Result<()> {
    let bad = |code: &str| Err(http(kind, table, 400, code));
    for key in [pk, rk] {
        let forbidden = |c: char| matches!(c, '/' | '\\' | '#' | '?') || c.is_control();
        if key.chars().any(forbidden) || key.len() > 1024 {
            return bad("OutOfRangeInput");
        }
    }
    let own = body
        .keys()
        .filter(|k| !k.contains('@') && !matches!(k.as_str(), "PartitionKey" | "RowKey"))
        .count();
    if own > MAX_PROPERTIES {
        return bad("TooManyProperties");
    }
    let mut total = 0;
    for (k, v) in body {
        let size = match v {
            Value::String(s) => s.encode_utf16().count() * 2,
            _ => 8,
        };
        if size > MAX_PROPERTY_BYTES {
            return bad("PropertyValueTooLarge");
        }
        total += size + k.len() * 2;
    }
    if total > MAX_ENTITY_BYTES {
        return bad("EntityTooLarge");
    }
    Ok(())
}

/// Copies `from` into `into`, annotations included; a property without an annotation in `from`
/// loses the one `into` had.
fn merge_into(into: &mut TableEntity, from: &TableEntity) {
    for (k, v) in from {
        if !k.contains('@') {
            into.remove(&format!("{k}@odata.type"));
        }
        into.insert(k.clone(), v.clone());
    }
}

/// What one write does to a (possibly missing) row, or the status and code it fails with.
fn written(
    existing: Option<&Row>,
    body: &TableEntity,
    mode: &WriteMode,
) -> std::result::Result<TableEntity, (u16, &'static str)> {
    let etag_ok = |etag: &Option<Etag>, row: &Row| etag.as_ref().is_none_or(|e| *e == row.etag);
    match (mode, existing) {
        (WriteMode::Insert, Some(_)) => Err((409, "EntityAlreadyExists")),
        (WriteMode::Insert | WriteMode::UpsertReplace | WriteMode::UpsertMerge, None) => {
            Ok(body.clone())
        }
        (WriteMode::UpsertReplace, Some(_)) => Ok(body.clone()),
        (WriteMode::UpsertMerge, Some(row)) => {
            let mut merged = row.entity.clone();
            merge_into(&mut merged, body);
            Ok(merged)
        }
        (WriteMode::Update(_) | WriteMode::Merge(_), None) => Err((404, "ResourceNotFound")),
        (WriteMode::Update(etag), Some(row)) if etag_ok(etag, row) => Ok(body.clone()),
        (WriteMode::Merge(etag), Some(row)) if etag_ok(etag, row) => {
            let mut merged = row.entity.clone();
            merge_into(&mut merged, body);
            Ok(merged)
        }
        (WriteMode::Update(_) | WriteMode::Merge(_), Some(_)) => {
            Err((412, "UpdateConditionNotSatisfied"))
        }
    }
}

impl State {
    fn table_mut(&mut self, kind: OpKind, table: &str) -> Result<&mut MemTable> {
        self.tables
            .get_mut(table)
            .ok_or_else(|| http(kind, table, 404, "TableNotFound"))
    }

    fn new_etag(&mut self, now: OffsetDateTime) -> Etag {
        let n = self.next();
        Etag(format!("W/\"datetime'{}'-{n}\"", format_edm_datetime(now)))
    }

    pub(super) fn create_table(&mut self, table: &str) -> Result<()> {
        if self.tables.contains_key(table) {
            return Err(http(OpKind::TableCreate, table, 409, "TableAlreadyExists"));
        }
        self.tables.insert(table.to_string(), MemTable::default());
        Ok(())
    }

    pub(super) fn get_entity(
        &mut self,
        table: &str,
        pk: &str,
        rk: &str,
    ) -> Result<Option<(TableEntity, Etag)>> {
        let t = self.table_mut(OpKind::TableRead, table)?;
        Ok(t.rows
            .get(&(pk.to_string(), rk.to_string()))
            .map(|r| (r.read(None), r.etag.clone())))
    }

    pub(super) fn query_entities(
        &mut self,
        table: &str,
        q: &EntityQuery,
        max_page: u32,
    ) -> Result<EntityPage> {
        let kind = OpKind::TableQuery;
        let filter = match &q.filter {
            Some(f) => Some(Filter::parse(f).map_err(|m| Error::Http {
                operation: describe(kind, table),
                status: 400,
                code: Some(format!("InvalidInput: {m}")),
                source: None,
            })?),
            None => None,
        };
        let page = q.top.unwrap_or(1000).clamp(1, 1000).min(max_page.max(1)) as usize;
        let t = self.table_mut(kind, table)?;
        let start = match &q.continuation {
            Some(c) => (
                c.next_partition_key.clone(),
                c.next_row_key.clone().unwrap_or_default(),
            ),
            None => (String::new(), String::new()),
        };
        let mut rows = Vec::new();
        let mut next = None;
        for ((pk, rk), row) in t.rows.range(start..) {
            if filter.as_ref().is_some_and(|f| !f.matches(&row.entity)) {
                continue;
            }
            if rows.len() == page {
                next = Some(Continuation {
                    next_partition_key: pk.clone(),
                    next_row_key: Some(rk.clone()),
                });
                break;
            }
            rows.push((row.read(q.select.as_deref()), row.etag.clone()));
        }
        Ok((rows, next))
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn write_entity(
        &mut self,
        table: &str,
        pk: &str,
        rk: &str,
        body: &TableEntity,
        mode: &WriteMode,
        now: OffsetDateTime,
        changes: &mut Vec<Owned>,
    ) -> Result<Etag> {
        let kind = mode.op_kind();
        check_body(kind, table, pk, rk, body)?;
        let etag = self.new_etag(now);
        let t = self.table_mut(kind, table)?;
        let key = (pk.to_string(), rk.to_string());
        let entity =
            written(t.rows.get(&key), body, mode).map_err(|(s, c)| http(kind, table, s, c))?;
        t.rows.insert(
            key,
            Row {
                entity,
                etag: etag.clone(),
                timestamp: now,
            },
        );
        changes.push(Owned::Table {
            table: table.to_string(),
            pk: pk.to_string(),
            ops: vec![BatchOp::Write {
                row_key: rk.to_string(),
                body: body.clone(),
                mode: mode.clone(),
            }],
        });
        Ok(etag)
    }

    pub(super) fn delete_entity(
        &mut self,
        table: &str,
        pk: &str,
        rk: &str,
        etag: Option<&Etag>,
        changes: &mut Vec<Owned>,
    ) -> Result<()> {
        let kind = OpKind::TableDelete;
        let t = self.table_mut(kind, table)?;
        let key = (pk.to_string(), rk.to_string());
        let Some(row) = t.rows.get(&key) else {
            return Err(http(kind, table, 404, "ResourceNotFound"));
        };
        if etag.is_some_and(|e| *e != row.etag) {
            return Err(http(kind, table, 412, "UpdateConditionNotSatisfied"));
        }
        t.rows.remove(&key);
        changes.push(Owned::Table {
            table: table.to_string(),
            pk: pk.to_string(),
            ops: vec![BatchOp::Delete {
                row_key: rk.to_string(),
                etag: etag.cloned(),
            }],
        });
        Ok(())
    }

    pub(super) fn transaction(
        &mut self,
        table: &str,
        pk: &str,
        ops: &[BatchOp],
        now: OffsetDateTime,
        changes: &mut Vec<Owned>,
    ) -> Result<Vec<Option<Etag>>> {
        let kind = OpKind::TableBatch;
        if ops.is_empty() || ops.len() > 100 {
            return Err(http(kind, table, 400, "InvalidInput"));
        }
        for (i, op) in ops.iter().enumerate() {
            if let BatchOp::Write { row_key, body, .. } = op {
                if body.get("PartitionKey").and_then(Value::as_str) != Some(pk) {
                    return Err(batch_failed(
                        table,
                        i,
                        400,
                        "CommandsInBatchActOnDifferentPartitions",
                    ));
                }
                check_body(kind, table, pk, row_key, body)
                    .map_err(|e| batch_failed(table, i, 400, e.code().unwrap_or("InvalidInput")))?;
            }
        }
        let etags: Vec<Etag> = ops.iter().map(|_| self.new_etag(now)).collect();
        let t = self.table_mut(kind, table)?;
        // Decide every operation against the rows as the earlier ones leave them, then apply.
        let mut staged: BTreeMap<String, Option<Row>> = BTreeMap::new();
        for (i, op) in ops.iter().enumerate() {
            let rk = op.row_key().to_string();
            let current: Option<&Row> = match staged.get(&rk) {
                Some(s) => s.as_ref(),
                None => t.rows.get(&(pk.to_string(), rk.clone())),
            };
            let next = match op {
                BatchOp::Write { body, mode, .. } => {
                    let entity = written(current, body, mode)
                        .map_err(|(s, c)| batch_failed(table, i, s, c))?;
                    Some(Row {
                        entity,
                        etag: etags[i].clone(),
                        timestamp: now,
                    })
                }
                BatchOp::Delete { etag, .. } => {
                    let Some(row) = current else {
                        return Err(batch_failed(table, i, 404, "ResourceNotFound"));
                    };
                    if etag.as_ref().is_some_and(|e| *e != row.etag) {
                        return Err(batch_failed(table, i, 412, "UpdateConditionNotSatisfied"));
                    }
                    None
                }
            };
            staged.insert(rk, next);
        }
        for (rk, row) in staged {
            let key = (pk.to_string(), rk);
            match row {
                Some(r) => t.rows.insert(key, r),
                None => t.rows.remove(&key),
            };
        }
        changes.push(Owned::Table {
            table: table.to_string(),
            pk: pk.to_string(),
            ops: ops.to_vec(),
        });
        Ok(ops
            .iter()
            .zip(etags)
            .map(|(op, e)| matches!(op, BatchOp::Write { .. }).then_some(e))
            .collect())
    }
}

impl Row {
    /// The entity as a read returns it: with `Timestamp`, only the `select`ed properties.
    fn read(&self, select: Option<&[String]>) -> TableEntity {
        let mut e = self.entity.clone();
        e.insert(
            "Timestamp".into(),
            Value::String(format_edm_datetime(self.timestamp)),
        );
        if let Some(cols) = select {
            e.retain(|k, _| {
                let name = k.split('@').next().unwrap_or(k);
                cols.iter().any(|c| c == name)
            });
        }
        e
    }
}
