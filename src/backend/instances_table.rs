//! The `{Hub}Instances` table: one row per instance, what status queries read.
//!
//! # Invariant (reference §3)
//! `PartitionKey` = escaped instance id, `RowKey` = `""`. Columns `Name`, `Version`,
//! `RuntimeStatus` (one of the eight status names), `CreatedTime`, `LastUpdatedTime`,
//! `CompletedTime` (DateTime), `Input`, `Output`, `CustomStatus` (`"null"` when unset),
//! `ExecutionId`, `Generation` (Int32), `ScheduledStartTime`, `Tags`, `TaskHubName`. An `Input` or
//! `Output` over 60 KiB is stored as the full URL of a gzipped blob in `{hub}-largemessages`.

use serde::Serialize;
use serde_json::Value;

use crate::core::tags::{has_tags, tags_from_json, Tags};
use crate::core::{OrchestrationStatus, Timestamp};
use crate::storage::escape::{
    escape_partition_key, odata_datetime, odata_string, unescape_partition_key,
};
use crate::storage::{Continuation, EntityExt, Etag, Storage, Table, TableEntity};

use super::envelope::Envelope;
use super::error::{Error, Result};
use super::large_payload::LargePayloads;

/// Columns other than Input (selected when the input is not wanted).
const COLUMNS_WITHOUT_INPUT: [&str; 14] = [
    "PartitionKey",
    "RowKey",
    "Name",
    "Version",
    "RuntimeStatus",
    "CreatedTime",
    "LastUpdatedTime",
    "CompletedTime",
    "Output",
    "CustomStatus",
    "ExecutionId",
    "Generation",
    "ScheduledStartTime",
    "Tags",
];

/// One instance as the Instances table describes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InstanceStatus {
    /// The instance id (the `PartitionKey`, unescaped).
    pub instance_id: String,
    /// `Name`: the orchestration name (for an entity, `@name@key`).
    pub name: String,
    /// `Version`: the orchestration version; `None` when absent or empty.
    pub version: Option<String>,
    /// `RuntimeStatus`: the instance's status (a missing or unknown value reads as Pending).
    pub runtime_status: OrchestrationStatus,
    /// `CreatedTime`: when the current execution started (for a pending instance, when it was
    /// created).
    #[serde(with = "time::serde::rfc3339::option")]
    pub created_time: Option<Timestamp>,
    /// `LastUpdatedTime`: the timestamp of the last history event the row was written for.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_updated_time: Option<Timestamp>,
    /// `CompletedTime`: when the instance finished, if it has.
    #[serde(with = "time::serde::rfc3339::option")]
    pub completed_time: Option<Timestamp>,
    /// Input as JSON text (large values fetched from their blob when asked for).
    pub input: Option<String>,
    /// Output as JSON text, the reason of a termination, or `ErrorType: message` of a failure.
    pub output: Option<String>,
    /// Custom status as JSON text.
    pub custom_status: Option<String>,
    /// `ExecutionId`: the current execution's id.
    pub execution_id: Option<String>,
    /// `Generation`: 0 for the first creation of the id, one more for each re-creation by a client.
    pub generation: Option<i32>,
    /// `ScheduledStartTime`: when a delayed start is due, if one was asked for.
    #[serde(with = "time::serde::rfc3339::option")]
    pub scheduled_start_time: Option<Timestamp>,
    /// `Tags`: the tags as a JSON object text, if any.
    pub tags: Option<String>,
}

/// Instance counts, as [`InstancesTable::count`] makes them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct InstanceCounts {
    /// Every instance counted.
    pub total: u64,
    /// By runtime status (`Running`, `Completed`...), statuses with none left out.
    pub by_status: std::collections::BTreeMap<String, u64>,
    /// By orchestrator name (for an entity, `@name@key`).
    pub by_name: std::collections::BTreeMap<String, u64>,
}

/// Creation and completion times of instances, as [`InstancesTable::times`] reads them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstanceTimes {
    /// Instances read.
    pub rows: usize,
    /// Whether every matching instance was read (false: stopped at the limit).
    pub complete: bool,
    /// `CreatedTime` of each instance read that has one.
    pub created: Vec<Timestamp>,
    /// `CompletedTime` and status of each finished instance read.
    pub finished: Vec<(Timestamp, OrchestrationStatus)>,
}

/// The `RuntimeStatus` of a row (a missing or unknown value reads as Pending).
fn status_of(row: &TableEntity) -> OrchestrationStatus {
    row.get_str("RuntimeStatus")
        .and_then(OrchestrationStatus::parse)
        .unwrap_or(OrchestrationStatus::Pending)
}

/// Which instances a query returns.
#[derive(Debug, Clone, Default)]
pub struct InstanceQuery {
    /// Any of these statuses (empty: all).
    pub statuses: Vec<OrchestrationStatus>,
    /// Only instances whose `CreatedTime` is at or after this.
    pub created_from: Option<Timestamp>,
    /// Only instances whose `CreatedTime` is at or before this.
    pub created_to: Option<Timestamp>,
    /// Only instances whose `LastUpdatedTime` is at or before this (for a finished instance,
    /// when it finished).
    pub last_updated_to: Option<Timestamp>,
    /// Only instances whose `LastUpdatedTime` is at or after this (what finished or moved since).
    pub last_updated_from: Option<Timestamp>,
    /// Instance ids starting with this.
    pub instance_id_prefix: Option<String>,
    /// Only instances of this orchestrator name (exactly).
    pub name: Option<String>,
    /// Only instances carrying all these tags (checked as the rows arrive: a page may hold
    /// fewer instances than asked for, and the continuation goes on from there).
    pub tags: Tags,
    /// Whether entities are left out, listed too, or listed alone.
    pub entities: EntityFilter,
    /// Fetch inputs (and large outputs) too.
    pub show_input: bool,
}

/// Whether entities (`@name@key` instances) are listed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum EntityFilter {
    /// Orchestrations only (the default of status queries).
    #[default]
    Exclude,
    /// Orchestrations and entities.
    Include,
    /// Entities only.
    Only,
}

impl InstanceQuery {
    /// The OData filter of the query; every literal escaped.
    pub fn to_filter(&self) -> String {
        let mut parts = vec!["RowKey eq ''".to_string()];
        if let Some(t) = self.created_from {
            parts.push(format!("CreatedTime ge {}", odata_datetime(t)));
        }
        if let Some(t) = self.created_to {
            parts.push(format!("CreatedTime le {}", odata_datetime(t)));
        }
        if let Some(t) = self.last_updated_to {
            parts.push(format!("LastUpdatedTime le {}", odata_datetime(t)));
        }
        if let Some(t) = self.last_updated_from {
            parts.push(format!("LastUpdatedTime ge {}", odata_datetime(t)));
        }
        if !self.statuses.is_empty() {
            let any: Vec<String> = self
                .statuses
                .iter()
                .map(|s| format!("RuntimeStatus eq {}", odata_string(s.as_str())))
                .collect();
            parts.push(format!("({})", any.join(" or ")));
        }
        if let Some(name) = &self.name {
            parts.push(format!("Name eq {}", odata_string(name)));
        }
        if let Some(prefix) = self.instance_id_prefix.as_deref().filter(|p| !p.is_empty()) {
            let lower = escape_partition_key(prefix);
            if let Some(upper) = next_prefix(&lower) {
                parts.push(format!(
                    "PartitionKey ge {} and PartitionKey lt {}",
                    odata_string(&lower),
                    odata_string(&upper)
                ));
            } else {
                parts.push(format!("PartitionKey ge {}", odata_string(&lower)));
            }
        }
        match self.entities {
            EntityFilter::Include => {}
            // Entity ids start with '@' (U+0040), just below 'A'.
            EntityFilter::Exclude => {
                parts.push("(PartitionKey lt '@' or PartitionKey ge 'A')".into())
            }
            EntityFilter::Only => parts.push("PartitionKey ge '@' and PartitionKey lt 'A'".into()),
        }
        parts.join(" and ")
    }
}

/// The smallest string greater than every string starting with `prefix`, if there is one.
fn next_prefix(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        if let Some(next) = char::from_u32(last as u32 + 1) {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// A page of instances and where the next page starts.
#[derive(Debug, Clone)]
pub struct InstancePage {
    /// The instances of this page.
    pub instances: Vec<InstanceStatus>,
    /// Where the next page starts; `None` on the last page.
    pub continuation: Option<Continuation>,
}

/// The Instances table of a hub.
#[derive(Clone, Debug)]
pub struct InstancesTable {
    table: Table,
    payloads: LargePayloads,
    hub_name: String,
}

impl InstancesTable {
    /// The Instances table `table_name` of `storage` for hub `hub_name` (written to `TaskHubName`),
    /// with large values in `payloads`.
    pub fn new(
        storage: &Storage,
        table_name: &str,
        hub_name: &str,
        payloads: LargePayloads,
    ) -> Self {
        InstancesTable {
            table: storage.table(table_name),
            payloads,
            hub_name: hub_name.to_string(),
        }
    }

    /// The table handle.
    pub fn table(&self) -> &Table {
        &self.table
    }

    /// The hub name written to the `TaskHubName` column.
    pub fn hub_name(&self) -> &str {
        &self.hub_name
    }

    /// Reads an instance's row; large values are fetched when `fetch_large` is set.
    pub async fn read(
        &self,
        instance_id: &str,
        fetch_large: bool,
    ) -> Result<Option<(InstanceStatus, Etag)>> {
        let pk = escape_partition_key(instance_id);
        // A large value's blob is deleted once a newer row no longer points at it (an entity's
        // state that changed between our row read and blob read): read the row again.
        let mut attempts_left = 3;
        loop {
            let Some((row, etag)) = self.table.get(&pk, "").await? else {
                return Ok(None);
            };
            let mut status = row_to_status(&row)?;
            if fetch_large {
                match self.resolve_large(&mut status).await {
                    Err(Error::Storage(e)) if e.is_not_found() && attempts_left > 1 => {
                        attempts_left -= 1;
                        continue;
                    }
                    other => other?,
                }
            }
            return Ok(Some((status, etag)));
        }
    }

    /// Replaces blob URLs in Input/Output by the values they point to.
    pub async fn resolve_large(&self, status: &mut InstanceStatus) -> Result<()> {
        for value in [&mut status.input, &mut status.output] {
            if let Some(text) = value.as_deref() {
                if let Some(resolved) = self.fetch_if_url(text).await? {
                    *value = Some(resolved);
                }
            }
        }
        Ok(())
    }

    /// The value behind a large-value URL, or `None` if `text` is an ordinary value.
    pub async fn fetch_if_url(&self, text: &str) -> Result<Option<String>> {
        let Some(blob) = self.payloads.blob_of_url(text) else {
            return Ok(None);
        };
        let content = self.payloads.download(&blob).await?;
        // A whole start message (a large client start): its input is the event's input.
        if blob.ends_with("ExecutionStarted.json.gz") {
            let env = Envelope::decode(&content)?;
            if let Some(crate::core::EventKind::ExecutionStarted { input, .. }) =
                env.message.map(|m| m.event.kind)
            {
                return Ok(input);
            }
        }
        Ok(Some(content))
    }

    /// Writes the row of a newly started instance: insert when there was no row, otherwise a
    /// replace guarded by the ETag that was read (so two racing starts cannot both win).
    pub async fn write_pending(&self, row: PendingRow<'_>, existing: Option<&Etag>) -> Result<()> {
        let pk = escape_partition_key(row.instance_id);
        let mut e = TableEntity::new();
        e.put_str("Name", row.name);
        e.put_str("Version", row.version);
        e.put_str("RuntimeStatus", OrchestrationStatus::Pending.as_str());
        e.put_datetime("CreatedTime", row.created);
        e.put_datetime("LastUpdatedTime", row.created);
        e.put_str("ExecutionId", row.execution_id);
        e.put_i32("Generation", row.generation);
        e.put_str("TaskHubName", self.hub_name.as_str());
        e.put_str("CustomStatus", "null");
        e.put_str("Tags", row.tags.unwrap_or("null"));
        if let Some(input) = row.input {
            e.put_str("Input", input);
        }
        if let Some(t) = row.scheduled_start_time {
            e.put_datetime("ScheduledStartTime", t);
        }
        match existing {
            None => {
                self.table.insert(&pk, "", &e).await?;
            }
            Some(etag) => {
                self.table.update(&pk, "", &e, Some(etag)).await?;
            }
        }
        Ok(())
    }

    /// Merges columns into an instance's row, creating it if needed.
    pub async fn upsert_merge(&self, instance_id: &str, columns: &TableEntity) -> Result<()> {
        let pk = escape_partition_key(instance_id);
        self.table.upsert_merge(&pk, "", columns).await?;
        Ok(())
    }

    /// Marks an instance that never started Terminated (a terminate that arrived before its
    /// start, reference §3.2c): its start, when it comes, is then dropped.
    pub async fn mark_terminated(
        &self,
        instance_id: &str,
        reason: Option<&str>,
        now: Timestamp,
    ) -> Result<()> {
        let mut e = TableEntity::new();
        e.put_str("RuntimeStatus", OrchestrationStatus::Terminated.as_str());
        e.put_str("Output", reason.unwrap_or_default());
        e.put_datetime("CompletedTime", now);
        e.put_datetime("LastUpdatedTime", now);
        self.upsert_merge(instance_id, &e).await
    }

    /// Deletes an instance's row; returns whether it existed.
    pub async fn delete(&self, instance_id: &str) -> Result<bool> {
        let pk = escape_partition_key(instance_id);
        match self.table.delete(&pk, "", None).await {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// One page of instances matching `query`.
    pub async fn query(
        &self,
        query: &InstanceQuery,
        page_size: Option<u32>,
        continuation: Option<Continuation>,
    ) -> Result<InstancePage> {
        let filter = query.to_filter();
        let select: Option<&[&str]> = if query.show_input {
            None
        } else {
            Some(&COLUMNS_WITHOUT_INPUT)
        };
        let (rows, next) = self
            .table
            .query_page(Some(&filter), select, page_size, continuation)
            .await?;
        let mut instances = Vec::with_capacity(rows.len());
        for (row, _) in rows {
            let mut s = row_to_status(&row)?;
            if !query.tags.is_empty() && !has_tags(&tags_from_json(s.tags.as_deref()), &query.tags)
            {
                continue;
            }
            if query.show_input {
                match self.resolve_large(&mut s).await {
                    // Its large value changed since the query read the row: read it afresh
                    // (gone entirely means purged meanwhile).
                    Err(Error::Storage(e)) if e.is_not_found() => {
                        match self.read(&s.instance_id, true).await? {
                            Some((fresh, _)) => s = fresh,
                            None => continue,
                        }
                    }
                    other => other?,
                }
            }
            instances.push(s);
        }
        Ok(InstancePage {
            instances,
            continuation: next,
        })
    }

    /// Reads every row matching `query` with only `columns` (and the tags when they are
    /// filtered on), a thousand rows a request, handing each matching row to `row` until it
    /// returns false. Returns whether every page was read.
    async fn scan(
        &self,
        query: &InstanceQuery,
        columns: &[&str],
        mut row: impl FnMut(&TableEntity) -> bool,
    ) -> Result<bool> {
        let filter = query.to_filter();
        let mut select = columns.to_vec();
        if !query.tags.is_empty() {
            select.push("Tags");
        }
        let mut continuation = None;
        loop {
            let (rows, next) = self
                .table
                .query_page(Some(&filter), Some(&select), Some(1000), continuation)
                .await?;
            for (entity, _) in rows {
                if !query.tags.is_empty() {
                    let tags = tags_from_json(entity.get_str("Tags"));
                    if !has_tags(&tags, &query.tags) {
                        continue;
                    }
                }
                if !row(&entity) {
                    return Ok(false);
                }
            }
            match next {
                Some(c) => continuation = Some(c),
                None => return Ok(true),
            }
        }
    }

    /// How many instances match `query`, by status and by orchestrator name: every page read
    /// with only the columns counted (and the tags when they are filtered on), so a large
    /// table costs one small request per thousand rows.
    pub async fn count(&self, query: &InstanceQuery) -> Result<InstanceCounts> {
        let mut counts = InstanceCounts::default();
        self.scan(query, &["PartitionKey", "Name", "RuntimeStatus"], |row| {
            let name = row.get_str("Name").unwrap_or_default().to_string();
            counts.total += 1;
            *counts
                .by_status
                .entry(status_of(row).to_string())
                .or_default() += 1;
            *counts.by_name.entry(name).or_default() += 1;
            true
        })
        .await?;
        Ok(counts)
    }

    /// When the instances matching `query` were created and finished, for histograms: pages read
    /// with only those columns, up to `max_rows` instances (`complete` says whether that was
    /// all of them).
    pub async fn times(&self, query: &InstanceQuery, max_rows: usize) -> Result<InstanceTimes> {
        let mut times = InstanceTimes::default();
        let columns = [
            "PartitionKey",
            "RuntimeStatus",
            "CreatedTime",
            "CompletedTime",
        ];
        times.complete = self
            .scan(query, &columns, |row| {
                if times.rows >= max_rows {
                    return false;
                }
                times.rows += 1;
                if let Some(t) = row.get_datetime("CreatedTime") {
                    times.created.push(t);
                }
                let status = status_of(row);
                if status.is_terminal() {
                    if let Some(t) = row.get_datetime("CompletedTime") {
                        times.finished.push((t, status));
                    }
                }
                true
            })
            .await?;
        Ok(times)
    }

    /// Every instance matching `query` (all pages).
    pub async fn query_all(&self, query: &InstanceQuery) -> Result<Vec<InstanceStatus>> {
        let mut all = Vec::new();
        let mut continuation = None;
        loop {
            let page = self.query(query, Some(1000), continuation).await?;
            all.extend(page.instances);
            match page.continuation {
                Some(c) => continuation = Some(c),
                None => return Ok(all),
            }
        }
    }
}

/// The columns of a newly started instance's row.
#[derive(Debug, Clone)]
pub struct PendingRow<'a> {
    /// The instance id.
    pub instance_id: &'a str,
    /// `Name`: the orchestration name.
    pub name: &'a str,
    /// `Version`: the orchestration version it was started with (`""`: none).
    pub version: &'a str,
    /// `ExecutionId`: the id of the execution the start message begins.
    pub execution_id: &'a str,
    /// Input JSON, or the URL of a large one.
    pub input: Option<&'a str>,
    /// `CreatedTime` and `LastUpdatedTime`: the start event's timestamp.
    pub created: Timestamp,
    /// `Generation`: 0 for a new id, one more than the existing row's for a re-creation.
    pub generation: i32,
    /// `ScheduledStartTime`: when a delayed start is due, if one was asked for.
    pub scheduled_start_time: Option<Timestamp>,
    /// `Tags`: the tags' JSON object text, if any.
    pub tags: Option<&'a str>,
}

/// Reads a row into an [`InstanceStatus`].
pub fn row_to_status(row: &TableEntity) -> Result<InstanceStatus> {
    let pk = row
        .partition_key()
        .ok_or_else(|| Error::Corrupt("Instances row without PartitionKey".into()))?;
    let runtime_status = status_of(row);
    let text = |name: &str| row.get_str(name).map(str::to_string);
    Ok(InstanceStatus {
        instance_id: unescape_partition_key(pk),
        name: text("Name").unwrap_or_default(),
        version: text("Version").filter(|v| !v.is_empty()),
        runtime_status,
        created_time: row.get_datetime("CreatedTime"),
        last_updated_time: row.get_datetime("LastUpdatedTime"),
        completed_time: row.get_datetime("CompletedTime"),
        input: text("Input"),
        output: text("Output"),
        custom_status: text("CustomStatus").filter(|s| s != "null"),
        execution_id: text("ExecutionId"),
        generation: row.get_i32("Generation"),
        scheduled_start_time: row.get_datetime("ScheduledStartTime"),
        tags: text("Tags").filter(|s| s != "null"),
    })
}

/// A JSON value as the Instances table stores it (a JSON text, or `"null"`).
pub fn json_or_null(v: Option<&Value>) -> String {
    v.map(Value::to_string).unwrap_or_else(|| "null".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn filters_escape_every_literal() {
        let q = InstanceQuery {
            statuses: vec![OrchestrationStatus::Running, OrchestrationStatus::Failed],
            created_from: Some(datetime!(2024-05-01 10:00 UTC)),
            created_to: None,
            last_updated_to: Some(datetime!(2024-05-02 10:00 UTC)),
            instance_id_prefix: Some("o'b/".into()),
            name: Some("it's".into()),
            entities: EntityFilter::Exclude,
            ..Default::default()
        };
        let f = q.to_filter();
        assert_eq!(
            f,
            "RowKey eq '' and CreatedTime ge datetime'2024-05-01T10:00:00.0000000Z' and \
             LastUpdatedTime le datetime'2024-05-02T10:00:00.0000000Z' and (RuntimeStatus eq 'Running' or RuntimeStatus eq 'Failed') and \
             Name eq 'it''s' and PartitionKey ge 'o''b^0' and PartitionKey lt 'o''b^1' and \
             (PartitionKey lt '@' or PartitionKey ge 'A')"
        );
    }

    #[test]
    fn next_prefix_increments_the_last_char() {
        assert_eq!(next_prefix("abc").as_deref(), Some("abd"));
        assert_eq!(next_prefix("").as_deref(), None);
    }
}
