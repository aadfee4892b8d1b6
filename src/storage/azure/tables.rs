//! Table requests over `azure_data_tables`. Keys that go into an entity URL have `'` doubled
//! here, because the crate does not. Entities come back without the `odata.*` metadata; their
//! ETag is returned beside them.

use azure_core::prelude::Continuable;
use azure_data_tables::prelude::{Filter, IfMatchCondition, Select, Top};
use futures::StreamExt;
use serde_json::Value;

use super::super::account::Service;
use super::super::entity::{strip_metadata, TableEntity};
use super::super::error::{Error, Result};
use super::super::escape::url_key;
use super::super::service::{BatchOp, EntityPage, EntityQuery, WriteMode};
use super::super::table::{Continuation, Etag};
use super::super::{describe, OpKind};
use super::batch_capture::{parse_failure, CaptureSlot};
use super::AzureStorage;

fn if_match(etag: Option<&Etag>) -> IfMatchCondition {
    match etag {
        Some(e) => IfMatchCondition::Etag(azure_core::Etag::from(e.0.clone())),
        None => IfMatchCondition::Any,
    }
}

impl From<azure_core::Etag> for Etag {
    fn from(e: azure_core::Etag) -> Self {
        Etag(e.to_string())
    }
}

impl AzureStorage {
    fn table_error(&self, kind: OpKind, table: &str, e: azure_core::Error) -> Error {
        self.error(kind, Service::Table, table, e)
    }

    pub(super) async fn table_create(&self, table: &str) -> Result<()> {
        self.tables
            .table_client(table)
            .create()
            .into_future()
            .await
            .map_err(|e| self.table_error(OpKind::TableCreate, table, e))?;
        Ok(())
    }

    pub(super) async fn table_delete(&self, table: &str) -> Result<()> {
        self.tables
            .table_client(table)
            .delete()
            .into_future()
            .await
            .map_err(|e| self.table_error(OpKind::TableDeleteTable, table, e))?;
        Ok(())
    }

    /// A one-row query: 404 means the table is not there.
    pub(super) async fn table_probe(&self, table: &str) -> Result<bool> {
        let page = self
            .tables
            .table_client(table)
            .query()
            .top(Top::new(1))
            .into_stream::<Value>()
            .next()
            .await
            .transpose();
        match page {
            Ok(_) => Ok(true),
            Err(e) => {
                let e = self.table_error(OpKind::TableExists, table, e);
                if e.is_not_found() {
                    Ok(false)
                } else {
                    Err(e)
                }
            }
        }
    }

    pub(super) async fn entity_get(
        &self,
        table: &str,
        pk: &str,
        rk: &str,
    ) -> Result<Option<(TableEntity, Etag)>> {
        let got = self
            .tables
            .table_client(table)
            .partition_key_client(url_key(pk))
            .entity_client(url_key(rk))
            .get::<TableEntity>()
            .into_future()
            .await;
        match got {
            Ok(resp) => {
                let mut e = resp.entity;
                strip_metadata(&mut e);
                Ok(Some((e, resp.etag.into())))
            }
            Err(e) => {
                let e = self.table_error(OpKind::TableRead, table, e);
                if e.is_not_found() {
                    Ok(None)
                } else {
                    Err(e)
                }
            }
        }
    }

    pub(super) async fn entities_query(&self, table: &str, q: &EntityQuery) -> Result<EntityPage> {
        let mut builder = self.tables.table_client(table).query();
        if let Some(f) = &q.filter {
            builder = builder.filter(Filter::new(f.clone()));
        }
        if let Some(cols) = &q.select {
            builder = builder.select(Select::new(cols.join(",")));
        }
        if let Some(n) = q.top {
            builder = builder.top(Top::new(n.clamp(1, 1000)));
        }
        if let Some(c) = q.continuation.clone() {
            builder = builder.initial_partition_key(c.next_partition_key);
            if let Some(rk) = c.next_row_key {
                builder = builder.initial_row_key(rk);
            }
        }
        let page = builder
            .into_stream::<TableEntity>()
            .next()
            .await
            .transpose()
            .map_err(|e| self.table_error(OpKind::TableQuery, table, e))?;
        let Some(page) = page else {
            return Ok((Vec::new(), None));
        };
        let next = page.continuation().map(|(pk, rk)| Continuation {
            next_partition_key: pk,
            next_row_key: rk,
        });
        let mut rows = Vec::with_capacity(page.entities.len());
        for mut e in page.entities {
            let etag = e
                .get("odata.etag")
                .and_then(Value::as_str)
                .map(|s| Etag(s.to_string()))
                .unwrap_or(Etag(String::new()));
            strip_metadata(&mut e);
            rows.push((e, etag));
        }
        Ok((rows, next))
    }

    pub(super) async fn entity_write(
        &self,
        table: &str,
        pk: &str,
        rk: &str,
        body: &TableEntity,
        mode: &WriteMode,
    ) -> Result<Etag> {
        let client = self.tables.table_client(table);
        let kind = mode.op_kind();
        let err = |e| self.table_error(kind, table, e);
        if *mode == WriteMode::Insert {
            let resp = client.insert::<_, Value>(body).map_err(err)?.await;
            return Ok(resp.map_err(err)?.etag.into());
        }
        let entity = client
            .partition_key_client(url_key(pk))
            .entity_client(url_key(rk));
        let resp = match mode {
            WriteMode::Insert => unreachable!("handled above"),
            WriteMode::UpsertMerge => entity.insert_or_merge(body).map_err(err)?.await,
            WriteMode::UpsertReplace => entity.insert_or_replace(body).map_err(err)?.await,
            WriteMode::Update(etag) => {
                entity
                    .update(body, if_match(etag.as_ref()))
                    .map_err(err)?
                    .await
            }
            WriteMode::Merge(etag) => {
                entity
                    .merge(body, if_match(etag.as_ref()))
                    .map_err(err)?
                    .await
            }
        };
        Ok(resp.map_err(err)?.etag.into())
    }

    pub(super) async fn entity_delete(
        &self,
        table: &str,
        pk: &str,
        rk: &str,
        etag: Option<&Etag>,
    ) -> Result<()> {
        self.tables
            .table_client(table)
            .partition_key_client(url_key(pk))
            .entity_client(url_key(rk))
            .delete()
            .if_match(if_match(etag))
            .into_future()
            .await
            .map_err(|e| self.table_error(OpKind::TableDelete, table, e))?;
        Ok(())
    }

    /// An entity-group transaction. The crate reports a failed one as `Ok` with one failing
    /// sub-status and drops the body that says which operation failed and why; the capture
    /// policy keeps that body, so a failure becomes [`Error::BatchOperationFailed`].
    pub(super) async fn batch(
        &self,
        table: &str,
        pk: &str,
        ops: &[BatchOp],
    ) -> Result<Vec<Option<Etag>>> {
        let operation = describe(OpKind::TableBatch, table);
        let slot = CaptureSlot::default();
        let mut ctx = azure_core::Context::new();
        ctx.insert(slot.clone());
        let pk_client = self
            .tables
            .table_client(table)
            .partition_key_client(url_key(pk));
        let built = ops
            .iter()
            .try_fold(pk_client.transaction().context(ctx), |tx, op| match op {
                BatchOp::Write {
                    row_key,
                    body,
                    mode,
                } => {
                    let rk = url_key(row_key);
                    match mode {
                        WriteMode::Insert => tx.insert(body),
                        WriteMode::UpsertReplace => tx.insert_or_replace(rk, body),
                        WriteMode::UpsertMerge => tx.insert_or_merge(rk, body),
                        WriteMode::Update(etag) => {
                            tx.update(rk, body, Some(if_match(etag.as_ref())))
                        }
                        WriteMode::Merge(etag) => tx.merge(rk, body, Some(if_match(etag.as_ref()))),
                    }
                }
                BatchOp::Delete { row_key, etag } => {
                    tx.delete(url_key(row_key), Some(if_match(etag.as_ref())))
                }
            });
        let resp = match built {
            Ok(tx) => tx.await,
            Err(e) => Err(e),
        }
        .map_err(|e| Error::from_azure(operation.clone(), self.endpoint(Service::Table), e))?;
        let statuses: Vec<u16> = resp
            .operation_responses
            .iter()
            .map(|r| u16::from(r.status_code))
            .collect();
        if let Some(pos) = statuses.iter().position(|s| *s >= 300) {
            let body = slot.take();
            let (index, code) = parse_failure(body.as_deref().unwrap_or_default());
            return Err(Error::BatchOperationFailed {
                operation,
                index: index.unwrap_or(pos),
                status: statuses[pos],
                code,
            });
        }
        if statuses.len() != ops.len() {
            return Err(Error::Decode {
                operation,
                message: format!(
                    "{} operations sent but {} results received",
                    ops.len(),
                    statuses.len()
                ),
            });
        }
        Ok(resp
            .operation_responses
            .into_iter()
            .zip(ops)
            .map(|(r, op)| match op {
                BatchOp::Delete { .. } => None,
                BatchOp::Write { .. } => r.etag.map(Etag::from),
            })
            .collect())
    }
}
