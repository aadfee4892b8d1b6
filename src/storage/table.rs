//! One table: point reads, queries with continuation, inserts, upserts, conditional updates and
//! deletes.
//!
//! Owns [`Table`], [`Etag`] and [`Continuation`]. Every write takes the PartitionKey and RowKey as
//! arguments and writes them into the body itself (a body that names other keys is refused), so URL
//! and body can never disagree. Entities come back without the `odata.*` metadata; their ETag is
//! returned beside them.

use super::entity::{strip_metadata, TableEntity};
use super::error::{already_so, Error, Result};
use super::service::{EntityQuery, WriteMode};
use super::{describe, Batch, OpKind, Storage};
use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// An entity's version, used for optimistic concurrency (`If-Match`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Etag(pub String);

impl Etag {
    /// The raw ETag, e.g. `W/"datetime'2024-05-01T10%3A00%3A00.1234567Z'"`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Etag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a paged query goes on: the service's NextPartitionKey / NextRowKey. Serializable, and
/// [`Continuation::to_token`] / [`Continuation::from_token`] turn it into an opaque string a CLI or
/// HTTP API can hand to a user and take back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Continuation {
    /// `NextPartitionKey`: the partition key where the next page starts.
    #[serde(rename = "pk")]
    pub next_partition_key: String,
    /// `NextRowKey`: the row key where the next page starts, when the service gave one.
    #[serde(rename = "rk", default, skip_serializing_if = "Option::is_none")]
    pub next_row_key: Option<String>,
}

impl Continuation {
    /// An opaque, URL-safe token.
    pub fn to_token(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        base64::engine::general_purpose::URL_SAFE.encode(json)
    }

    /// Reads a token made by [`Continuation::to_token`]; `None` if it is not one.
    pub fn from_token(token: &str) -> Option<Continuation> {
        let bytes = base64::engine::general_purpose::URL_SAFE
            .decode(token)
            .ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

/// A table handle. Cheap to clone.
#[derive(Clone)]
pub struct Table {
    pub(crate) storage: Storage,
    name: String,
}

impl Table {
    pub(crate) fn new(storage: Storage, name: &str) -> Table {
        Table {
            storage,
            name: name.to_string(),
        }
    }

    /// The table name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Creates the table; an existing one is fine.
    pub async fn create_if_missing(&self) -> Result<()> {
        let result = self
            .storage
            .run(OpKind::TableCreate, |s| s.create_table(&self.name))
            .await;
        already_so(result, Error::is_conflict)
    }

    /// Deletes the table; a missing one is fine.
    pub async fn delete_table(&self) -> Result<()> {
        let result = self
            .storage
            .run(OpKind::TableDeleteTable, |s| s.delete_table(&self.name))
            .await;
        already_so(result, Error::is_not_found)
    }

    /// Whether the table exists.
    pub async fn exists(&self) -> Result<bool> {
        self.storage
            .run(OpKind::TableExists, |s| s.table_exists(&self.name))
            .await
    }

    /// Reads one entity; `None` if it does not exist.
    pub async fn get(
        &self,
        partition_key: &str,
        row_key: &str,
    ) -> Result<Option<(TableEntity, Etag)>> {
        self.storage
            .run(OpKind::TableRead, |s| {
                s.get_entity(&self.name, partition_key, row_key)
            })
            .await
    }

    /// Reads one entity into `T`; `None` if it does not exist.
    pub async fn get_as<T: DeserializeOwned>(
        &self,
        partition_key: &str,
        row_key: &str,
    ) -> Result<Option<(T, Etag)>> {
        match self.get(partition_key, row_key).await? {
            Some((e, etag)) => Ok(Some((self.decode(OpKind::TableRead, e)?, etag))),
            None => Ok(None),
        }
    }

    /// One page of a query. `filter` is an OData `$filter` (build literals with
    /// [`odata_string`](super::escape::odata_string)); `select` limits the columns; `page_size` is
    /// `$top` (the service caps a page at 1000). Pass the returned continuation to get the next page.
    pub async fn query_page(
        &self,
        filter: Option<&str>,
        select: Option<&[&str]>,
        page_size: Option<u32>,
        continuation: Option<Continuation>,
    ) -> Result<(Vec<(TableEntity, Etag)>, Option<Continuation>)> {
        let query = EntityQuery {
            filter: filter.map(str::to_string),
            select: select.map(|cols| cols.iter().map(|c| c.to_string()).collect()),
            top: page_size.map(|n| n.clamp(1, 1000)),
            continuation,
        };
        self.storage
            .run(OpKind::TableQuery, |s| s.query_entities(&self.name, &query))
            .await
    }

    /// All entities matching `filter` (following continuation), at most `top` of them.
    pub async fn query(
        &self,
        filter: Option<&str>,
        select: Option<&[&str]>,
        top: Option<u32>,
    ) -> Result<Vec<(TableEntity, Etag)>> {
        let mut out = Vec::new();
        let mut cont = None;
        loop {
            let remaining = top.map(|t| t.saturating_sub(out.len() as u32));
            if remaining == Some(0) {
                break;
            }
            let (rows, next) = self
                .query_page(filter, select, remaining.map(|r| r.min(1000)), cont)
                .await?;
            out.extend(rows);
            match next {
                Some(n) => cont = Some(n),
                None => break,
            }
        }
        Ok(out)
    }

    /// [`Table::query`] into `T`.
    pub async fn query_as<T: DeserializeOwned>(
        &self,
        filter: Option<&str>,
        select: Option<&[&str]>,
        top: Option<u32>,
    ) -> Result<Vec<(T, Etag)>> {
        self.query(filter, select, top)
            .await?
            .into_iter()
            .map(|(e, etag)| Ok((self.decode(OpKind::TableQuery, e)?, etag)))
            .collect()
    }

    /// Inserts a new entity; 409 `EntityAlreadyExists` if it exists.
    pub async fn insert(
        &self,
        partition_key: &str,
        row_key: &str,
        entity: &impl Serialize,
    ) -> Result<Etag> {
        self.write(partition_key, row_key, entity, WriteMode::Insert)
            .await
    }

    /// Inserts or merges (properties not in `entity` are kept).
    pub async fn upsert_merge(
        &self,
        partition_key: &str,
        row_key: &str,
        entity: &impl Serialize,
    ) -> Result<Etag> {
        self.write(partition_key, row_key, entity, WriteMode::UpsertMerge)
            .await
    }

    /// Inserts or replaces (properties not in `entity` are removed).
    pub async fn upsert_replace(
        &self,
        partition_key: &str,
        row_key: &str,
        entity: &impl Serialize,
    ) -> Result<Etag> {
        self.write(partition_key, row_key, entity, WriteMode::UpsertReplace)
            .await
    }

    /// Replaces an existing entity if its ETag still is `etag` (`None`: any version).
    /// 412 when someone else wrote first, 404 when it does not exist.
    pub async fn update(
        &self,
        partition_key: &str,
        row_key: &str,
        entity: &impl Serialize,
        etag: Option<&Etag>,
    ) -> Result<Etag> {
        let mode = WriteMode::Update(etag.cloned());
        self.write(partition_key, row_key, entity, mode).await
    }

    /// Merges into an existing entity if its ETag still is `etag` (`None`: any version).
    pub async fn merge(
        &self,
        partition_key: &str,
        row_key: &str,
        entity: &impl Serialize,
        etag: Option<&Etag>,
    ) -> Result<Etag> {
        let mode = WriteMode::Merge(etag.cloned());
        self.write(partition_key, row_key, entity, mode).await
    }

    /// Deletes an entity if its ETag still is `etag` (`None`: any version). Returns `false` if it
    /// was not there; 412 if it changed.
    pub async fn delete(
        &self,
        partition_key: &str,
        row_key: &str,
        etag: Option<&Etag>,
    ) -> Result<bool> {
        match self
            .storage
            .run(OpKind::TableDelete, |s| {
                s.delete_entity(&self.name, partition_key, row_key, etag)
            })
            .await
        {
            Ok(()) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Starts an entity-group transaction on one partition key.
    pub fn batch(&self, partition_key: &str) -> Batch {
        Batch::new(self.clone(), partition_key)
    }

    async fn write(
        &self,
        pk: &str,
        rk: &str,
        entity: &impl Serialize,
        mode: WriteMode,
    ) -> Result<Etag> {
        let kind = mode.op_kind();
        let body = entity_body(&describe(kind, &self.name), pk, rk, entity)?;
        self.storage
            .run(kind, |s| s.write_entity(&self.name, pk, rk, &body, &mode))
            .await
    }

    fn decode<T: DeserializeOwned>(&self, kind: OpKind, e: TableEntity) -> Result<T> {
        serde_json::from_value(Value::Object(e)).map_err(|err| Error::Decode {
            operation: describe(kind, &self.name),
            message: format!("entity does not fit the expected type: {err}"),
        })
    }
}

/// Serializes `entity` to a JSON object, drops read-only metadata, and sets the keys. A body that
/// already names different keys is refused rather than silently rewritten.
pub(crate) fn entity_body(
    operation: &str,
    pk: &str,
    rk: &str,
    entity: &impl Serialize,
) -> Result<TableEntity> {
    let invalid = |message: String| Error::InvalidRequest {
        operation: operation.to_string(),
        message,
    };
    let mut map = match serde_json::to_value(entity) {
        Ok(Value::Object(m)) => m,
        Ok(_) => return Err(invalid("an entity must serialize to a JSON object".into())),
        Err(e) => return Err(invalid(format!("entity cannot be serialized: {e}"))),
    };
    strip_metadata(&mut map);
    map.remove("Timestamp");
    map.remove("Timestamp@odata.type");
    for (prop, want) in [("PartitionKey", pk), ("RowKey", rk)] {
        match map.get(prop) {
            Some(Value::String(have)) if have != want => {
                let msg = format!("the entity's {prop} `{have}` differs from the key `{want}`");
                return Err(invalid(msg));
            }
            Some(Value::String(_)) | None => {}
            Some(_) => return Err(invalid(format!("the entity's {prop} is not a string"))),
        }
        map.insert(prop.to_string(), Value::String(want.to_string()));
    }
    Ok(map)
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table").field("name", &self.name).finish()
    }
}
