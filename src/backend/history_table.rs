//! The `{Hub}History` table: history events as rows, the sentinel that fences every append.
//!
//! # Invariant (the stored format other tools read; reference §2)
//! - `PartitionKey` = escaped instance id; `RowKey` = the event's position in the current
//!   execution as 16 uppercase hex digits; one more row `RowKey = "sentinel"` holds the current
//!   `ExecutionId`, and its ETag is the concurrency token for the whole history.
//! - Every row: `ExecutionId`, `EventType` (the name, a string), `EventId` (Int32), `IsPlayed`
//!   (false), `_Timestamp` (DateTime, the event time); then the event's own columns with the DTFx
//!   names: ids as Int32, `FireAt`/`ScheduledStartTime` as DateTime, complex values
//!   (`OrchestrationInstance`, `ParentInstance`, `FailureDetails`, `Tags`) as JSON text, a null
//!   complex value as the literal `"null"`, null strings omitted.
//! - A variable-size property over 60 KiB (UTF-16) is gzipped to a blob; the column becomes `""`
//!   and `<Prop>BlobName` names the blob.
//! - Appends are entity-group transactions of at most 99 events plus the sentinel (insert on the
//!   first checkpoint, merge under its ETag after); a 409/412 means another writer won.

use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::core::{HistoryEvent, Timestamp};
use crate::storage::escape::{escape_partition_key, odata_string};
use crate::storage::{EntityExt, Etag, Storage, Table, TableEntity};

use super::error::{Error, Result};
use super::large_payload::{history_blob_name, too_large_for_table, LargePayloads};

/// RowKey of the sentinel row.
pub const SENTINEL: &str = "sentinel";
/// Events per transaction: 100 operations minus the sentinel.
const EVENTS_PER_BATCH: usize = 99;
/// Flush a transaction once its estimated size passes this (the service limit is 4 MiB).
const BATCH_BYTES: usize = 3 * 1024 * 1024;
/// Suffix of the column naming a property's blob.
const BLOB_NAME_SUFFIX: &str = "BlobName";

/// Columns that may be offloaded to blobs.
const VARIABLE_SIZE: [&str; 9] = [
    "Name",
    "Input",
    "Result",
    "Output",
    "Reason",
    "Details",
    "Correlation",
    "FailureDetails",
    "Tags",
];
const INT32_COLUMNS: [&str; 4] = ["EventId", "TaskScheduledId", "TimerId", "Generation"];
const DATETIME_COLUMNS: [&str; 2] = ["FireAt", "ScheduledStartTime"];
/// Complex values stored as JSON text; `"null"` when absent.
const JSON_COLUMNS: [&str; 5] = [
    "OrchestrationInstance",
    "ParentInstance",
    "FailureDetails",
    "Tags",
    "ParentTraceContext",
];

/// RowKey of the event at `position`.
pub fn row_key(position: u64) -> String {
    format!("{position:016X}")
}

/// The history of an instance as loaded from the table.
#[derive(Debug, Clone, Default)]
pub struct LoadedHistory {
    /// Events of the current execution, in order.
    pub events: Vec<HistoryEvent>,
    /// The current execution id (the sentinel's), if any history exists.
    pub execution_id: Option<String>,
    /// The sentinel's ETag: pass it to the next append.
    pub etag: Option<Etag>,
    /// Blobs the loaded rows point to (deleted when the execution is replaced).
    pub blob_names: Vec<String>,
    /// Tasks of the execution run by a worker without a queue message and not yet completed
    /// (the sentinel's [`LOCAL_TASKS_COLUMN`](super::local_tasks::LOCAL_TASKS_COLUMN)).
    pub local_tasks: std::collections::BTreeSet<i32>,
}

/// What an append writes to the sentinel besides the execution id and the fence.
#[derive(Debug, Clone, Copy)]
pub struct SentinelUpdate<'a> {
    /// The checkpoint's time (`CheckpointCompletedTimestamp`, on the last transaction).
    pub now: OffsetDateTime,
    /// The new value of the local-tasks column (`local_tasks.rs`), when it changes.
    pub local_tasks: Option<&'a str>,
}

impl SentinelUpdate<'_> {
    /// A checkpoint at `now` that leaves the local-tasks column as it is.
    pub fn at(now: OffsetDateTime) -> Self {
        SentinelUpdate {
            now,
            local_tasks: None,
        }
    }
}

/// A property moved to a blob during an append.
#[derive(Debug, Clone)]
pub struct OffloadedProperty {
    /// Index of the event in the appended slice.
    pub index: usize,
    /// The column that was moved, e.g. `Input` (its `InputBlobName` column names the blob).
    pub property: &'static str,
    /// The blob's name in the large-message container.
    pub blob_name: String,
}

/// The History table of a hub.
#[derive(Clone, Debug)]
pub struct HistoryTable {
    table: Table,
    payloads: LargePayloads,
}

impl HistoryTable {
    /// The History table `table_name` of `storage`, offloading large properties through `payloads`.
    pub fn new(storage: &Storage, table_name: &str, payloads: LargePayloads) -> Self {
        HistoryTable {
            table: storage.table(table_name),
            payloads,
        }
    }

    /// The table handle.
    pub fn table(&self) -> &Table {
        &self.table
    }

    /// Loads the current execution's history (reference §2.5): all rows of the partition, the
    /// sentinel's execution id, rows up to the first that belongs to another execution.
    ///
    /// A point read of the sentinel comes first: an instance without one has no history (every
    /// append writes it), and a new instance — the common case — then costs one cheap read
    /// instead of a partition query (Azurite answers queries by scanning the table).
    pub async fn load(&self, instance_id: &str) -> Result<LoadedHistory> {
        let pk = escape_partition_key(instance_id);
        if self.table.get(&pk, SENTINEL).await?.is_none() {
            return Ok(LoadedHistory::default());
        }
        let filter = format!("PartitionKey eq {}", odata_string(&pk));
        let rows = self.table.query(Some(&filter), None, None).await?;
        let mut loaded = LoadedHistory::default();
        let mut event_rows = Vec::with_capacity(rows.len());
        for (row, etag) in rows {
            if row.row_key() == Some(SENTINEL) {
                loaded.execution_id = row.get_str("ExecutionId").map(str::to_string);
                loaded.local_tasks = row
                    .get_str(super::local_tasks::LOCAL_TASKS_COLUMN)
                    .map(super::local_tasks::parse)
                    .unwrap_or_default();
                loaded.etag = Some(etag);
            } else {
                event_rows.push(row);
            }
        }
        if loaded.execution_id.is_none() {
            loaded.execution_id = event_rows
                .first()
                .and_then(|r| r.get_str("ExecutionId"))
                .map(str::to_string);
        }
        for mut row in event_rows {
            if row.get_str("ExecutionId") != loaded.execution_id.as_deref() {
                break;
            }
            self.restore_blobs(&mut row, &mut loaded.blob_names).await?;
            loaded.events.push(row_to_event(&row)?);
        }
        Ok(loaded)
    }

    /// Replaces `<Prop>BlobName` columns by the blob contents.
    async fn restore_blobs(&self, row: &mut TableEntity, names: &mut Vec<String>) -> Result<()> {
        let blob_columns: Vec<(String, String)> = row
            .iter()
            .filter_map(|(k, v)| {
                let prop = k.strip_suffix(BLOB_NAME_SUFFIX)?;
                Some((prop.to_string(), v.as_str()?.to_string()))
            })
            .filter(|(prop, _)| VARIABLE_SIZE.contains(&prop.as_str()))
            .collect();
        for (prop, blob) in blob_columns {
            let text = self.payloads.download(&blob).await?;
            row.insert(prop.clone(), Value::String(text));
            row.remove(&format!("{prop}{BLOB_NAME_SUFFIX}"));
            names.push(blob);
        }
        Ok(())
    }

    /// Appends `events` at positions `first_position..`, guarded by the sentinel `etag` (`None`
    /// for a partition without a sentinel), stamping the checkpoint with `now`. Returns the new
    /// sentinel ETag and the properties that went to blobs. The sentinel's local-tasks column,
    /// when `sentinel_update` gives it, is written by every transaction of the append.
    ///
    /// A 409/412 on the sentinel means someone wrote first — or that this very transaction was
    /// applied and its answer lost, so the retry found the ETag it had itself moved. The two are
    /// told apart by reading the table again (`HistoryTable::landed`); only the first is
    /// [`Error::LockLost`].
    pub async fn append(
        &self,
        instance_id: &str,
        execution_id: &str,
        first_position: u64,
        events: &[HistoryEvent],
        mut etag: Option<Etag>,
        sentinel_update: SentinelUpdate<'_>,
    ) -> Result<(Etag, Vec<OffloadedProperty>)> {
        let SentinelUpdate { now, local_tasks } = sentinel_update;
        let pk = escape_partition_key(instance_id);
        let mut offloaded = Vec::new();
        let mut rows = Vec::with_capacity(events.len());
        for (i, event) in events.iter().enumerate() {
            let rk = row_key(first_position + i as u64);
            let mut row = event_to_row(event, execution_id);
            for prop in VARIABLE_SIZE {
                let Some(text) = row.get_str(prop).filter(|t| too_large_for_table(t)) else {
                    continue;
                };
                let blob = history_blob_name(&pk, &rk, event.event_type().as_str(), prop);
                self.payloads.upload(&blob, text).await?;
                row.put_str(prop, "");
                row.put_str(&format!("{prop}{BLOB_NAME_SUFFIX}"), blob.clone());
                offloaded.push(OffloadedProperty {
                    index: i,
                    property: prop,
                    blob_name: blob,
                });
            }
            let size = estimate_size(&row);
            rows.push((rk, row, size));
        }
        let mut start = 0;
        while start < rows.len() || (rows.is_empty() && start == 0) {
            let mut end = start;
            let mut bytes = 0;
            while end < rows.len() && end - start < EVENTS_PER_BATCH {
                if end > start && bytes + rows[end].2 > BATCH_BYTES {
                    break;
                }
                bytes += rows[end].2;
                end += 1;
            }
            let last = end >= rows.len();
            let mut batch = self.table.batch(&pk);
            for (rk, row, _) in &rows[start..end] {
                batch.upsert_replace(rk, row);
            }
            let mut sentinel = TableEntity::new();
            sentinel.put_str("ExecutionId", execution_id);
            sentinel.put_bool("IsCheckpointComplete", last);
            if let Some(ids) = local_tasks {
                sentinel.put_str(super::local_tasks::LOCAL_TASKS_COLUMN, ids);
            }
            if last {
                sentinel.put_datetime("CheckpointCompletedTimestamp", now);
            }
            match &etag {
                None => batch.insert(SENTINEL, &sentinel),
                Some(e) => batch.merge(SENTINEL, &sentinel, Some(e)),
            };
            etag = match batch.execute().await {
                Ok(etags) => etags.last().cloned().flatten(),
                Err(e) if e.is_conflict() || e.is_precondition_failed() => {
                    let next = first_position + end as u64;
                    match self
                        .landed(&pk, execution_id, rows[start..end].last(), next)
                        .await?
                    {
                        Some(current) => {
                            tracing::info!(
                                instance_id,
                                "a history append whose answer was lost had been applied"
                            );
                            Some(current)
                        }
                        None => {
                            return Err(Error::LockLost {
                                instance_id: instance_id.to_string(),
                            })
                        }
                    }
                }
                Err(e) => return Err(e.into()),
            };
            if rows.is_empty() {
                break;
            }
            start = end;
        }
        let etag = etag.ok_or_else(|| Error::Corrupt("sentinel write returned no ETag".into()))?;
        Ok((etag, offloaded))
    }

    /// After a conflict on an append: whether the batch that ends with `last_row` (whose next
    /// position is `next`) is what the table holds, with nothing appended after it — in which case
    /// it was ours, applied with its answer lost, and the sentinel's current ETag is returned.
    /// `None` means another writer won. A batch of no rows cannot be told apart and counts as lost.
    async fn landed(
        &self,
        pk: &str,
        execution_id: &str,
        last_row: Option<&(String, TableEntity, usize)>,
        next: u64,
    ) -> Result<Option<Etag>> {
        let Some((rk, ours, _)) = last_row else {
            return Ok(None);
        };
        let Some((sentinel, etag)) = self.table.get(pk, SENTINEL).await? else {
            return Ok(None);
        };
        if sentinel.get_str("ExecutionId") != Some(execution_id) {
            return Ok(None);
        }
        let Some((stored, _)) = self.table.get(pk, rk).await? else {
            return Ok(None);
        };
        let same = ours
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "PartitionKey" | "RowKey" | "Timestamp"))
            .all(|(k, v)| stored.get(k) == Some(v));
        if !same || self.table.get(pk, &row_key(next)).await?.is_some() {
            return Ok(None);
        }
        Ok(Some(etag))
    }

    /// Deletes every row of an instance (all executions); returns how many.
    pub async fn delete_all(&self, instance_id: &str) -> Result<usize> {
        let pk = escape_partition_key(instance_id);
        let filter = format!("PartitionKey eq {}", odata_string(&pk));
        let rows = self
            .table
            .query(Some(&filter), Some(&["PartitionKey", "RowKey"]), None)
            .await?;
        let keys: Vec<String> = rows
            .iter()
            .filter_map(|(r, _)| r.row_key().map(str::to_string))
            .collect();
        for chunk in keys.chunks(100) {
            let mut batch = self.table.batch(&pk);
            for rk in chunk {
                batch.delete(rk, None);
            }
            if let Err(e) = batch.execute().await {
                // A row deleted meanwhile fails the whole batch: fall back to single deletes.
                if !e.is_not_found() {
                    return Err(e.into());
                }
                for rk in chunk {
                    self.table.delete(&pk, rk, None).await?;
                }
            }
        }
        Ok(keys.len())
    }
}

/// 1 KiB per row plus the UTF-16 size of its strings, as DTFx estimates.
fn estimate_size(row: &TableEntity) -> usize {
    1024 + row
        .values()
        .filter_map(Value::as_str)
        .map(|s| s.len() * 2)
        .sum::<usize>()
}

/// The row of an event (without keys, which the batch sets).
pub fn event_to_row(event: &HistoryEvent, execution_id: &str) -> TableEntity {
    let mut row = TableEntity::new();
    row.put_str("ExecutionId", execution_id);
    row.put_str("EventType", event.event_type().as_str());
    row.put_bool("IsPlayed", false);
    row.put_datetime("_Timestamp", event.timestamp);
    let Ok(Value::Object(fields)) = serde_json::to_value(event) else {
        return row;
    };
    for (name, value) in fields {
        match name.as_str() {
            "EventType" | "Timestamp" => {}
            n if INT32_COLUMNS.contains(&n) => {
                if let Some(i) = value.as_i64().and_then(|i| i32::try_from(i).ok()) {
                    row.put_i32(n, i);
                }
            }
            n if DATETIME_COLUMNS.contains(&n) => {
                if let Some(t) = value
                    .as_str()
                    .and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok())
                {
                    row.put_datetime(n, t);
                }
            }
            n if JSON_COLUMNS.contains(&n) => {
                let text = match value {
                    Value::Null => "null".to_string(),
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                row.put_str(n, text);
            }
            n => match value {
                Value::Null => {}
                Value::String(s) => {
                    row.put_str(n, s);
                }
                Value::Bool(b) => {
                    row.put_bool(n, b);
                }
                other => {
                    row.put_str(n, other.to_string());
                }
            },
        }
    }
    row
}

/// The event a row holds (blob columns already restored).
pub fn row_to_event(row: &TableEntity) -> Result<HistoryEvent> {
    let corrupt = |why: String| {
        Error::Corrupt(format!(
            "History row {}/{}: {why}",
            row.partition_key().unwrap_or("?"),
            row.row_key().unwrap_or("?")
        ))
    };
    let event_type = row
        .get_str("EventType")
        .ok_or_else(|| corrupt("no EventType".into()))?;
    let timestamp: Timestamp = row
        .get_datetime("_Timestamp")
        .ok_or_else(|| corrupt("no _Timestamp".into()))?;
    let mut obj = Map::new();
    obj.insert("EventType".into(), Value::String(event_type.to_string()));
    obj.insert(
        "EventId".into(),
        Value::from(row.get_i32("EventId").unwrap_or(-1)),
    );
    obj.insert("Timestamp".into(), Value::String(rfc3339(timestamp)));
    for (name, value) in row {
        let n = name.as_str();
        if n.contains('@')
            || matches!(
                n,
                "PartitionKey"
                    | "RowKey"
                    | "Timestamp"
                    | "_Timestamp"
                    | "EventType"
                    | "EventId"
                    | "ExecutionId"
                    | "IsPlayed"
            )
        {
            continue;
        }
        let v = if INT32_COLUMNS.contains(&n) {
            row.get_i32(n).map(Value::from).unwrap_or(Value::Null)
        } else if DATETIME_COLUMNS.contains(&n) {
            row.get_datetime(n)
                .map(|t| Value::String(rfc3339(t)))
                .unwrap_or(Value::Null)
        } else if JSON_COLUMNS.contains(&n) && n != "Tags" {
            match value.as_str() {
                None | Some("null") | Some("") => Value::Null,
                Some(text) => serde_json::from_str(text)
                    .map_err(|e| corrupt(format!("column {n} is not JSON: {e}")))?,
            }
        } else if n == "Tags" && value.as_str() == Some("null") {
            Value::Null
        } else {
            value.clone()
        };
        obj.insert(name.clone(), v);
    }
    strip_dotnet_types(&mut obj);
    serde_json::from_value(Value::Object(obj)).map_err(|e| corrupt(format!("{event_type}: {e}")))
}

/// Removes `$type` fields .NET may have left inside JSON columns.
fn strip_dotnet_types(obj: &mut Map<String, Value>) {
    obj.remove("$type");
    for v in obj.values_mut() {
        if let Value::Object(inner) = v {
            strip_dotnet_types(inner);
        }
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::testing::{execution_started, task_failed, T0};
    use crate::core::{EventKind, FailureDetails, ParentInstance};
    use crate::core::{OrchestrationInstance, OrchestrationStatus};

    fn round_trip(event: HistoryEvent) -> TableEntity {
        let row = event_to_row(&event, "e1");
        let back = row_to_event(&row).unwrap();
        assert_eq!(back, event);
        row
    }

    #[test]
    fn execution_started_columns() {
        let parent = ParentInstance {
            name: Some("P".into()),
            orchestration_instance: OrchestrationInstance::new("p", Some("pe".into())),
            task_schedule_id: 3,
            version: None,
        };
        let e = HistoryEvent::new(
            T0,
            execution_started("i", "e1", "Orch", Some("{\"a\":1}"), Some(parent)),
        );
        let row = round_trip(e);
        assert_eq!(row.get_str("EventType"), Some("ExecutionStarted"));
        assert_eq!(row.get_i32("EventId"), Some(-1));
        assert_eq!(row.get_str("Input"), Some("{\"a\":1}"));
        assert_eq!(row.get_str("Tags"), Some("null"));
        assert!(row
            .get_str("OrchestrationInstance")
            .unwrap()
            .contains("\"InstanceId\":\"i\""));
        assert!(row
            .get_str("ParentInstance")
            .unwrap()
            .contains("\"TaskScheduleId\":3"));
        assert_eq!(row.get_str("_Timestamp@odata.type"), Some("Edm.DateTime"));
        assert!(!row.contains_key("Version"));
        let no_parent = round_trip(HistoryEvent::new(
            T0,
            execution_started("i", "e1", "O", None, None),
        ));
        assert_eq!(no_parent.get_str("ParentInstance"), Some("null"));
        assert!(!no_parent.contains_key("Input"));
    }

    #[test]
    fn the_trace_context_is_a_json_column() {
        let mut event = HistoryEvent::new(T0, execution_started("i1", "e1", "Hello", None, None));
        let tp = crate::core::TraceParent::parse(
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        )
        .unwrap();
        let mut ctx = crate::core::DistributedTraceContext::new(&tp, None);
        ctx.span_id = Some("1111111111111111".into());
        event.parent_trace_context = Some(ctx.clone());
        let row = event_to_row(&event, "e1");
        let column: Value =
            serde_json::from_str(row.get_str("ParentTraceContext").unwrap()).unwrap();
        assert_eq!(column["TraceParent"], tp.to_string());
        assert_eq!(column["SpanId"], "1111111111111111");
        assert_eq!(row_to_event(&row).unwrap().parent_trace_context, Some(ctx));
        // Without one, no column (as before tracing).
        let plain = event_to_row(
            &HistoryEvent::new(T0, execution_started("i1", "e1", "Hello", None, None)),
            "e1",
        );
        assert!(plain.get_str("ParentTraceContext").is_none());
    }

    #[test]
    fn every_kind_round_trips() {
        let events = vec![
            HistoryEvent::new(T0, EventKind::OrchestratorStarted),
            HistoryEvent::with_id(
                0,
                T0,
                EventKind::TaskScheduled {
                    name: "A".into(),
                    version: None,
                    input: Some("1".into()),
                },
            ),
            HistoryEvent::new(T0, task_failed(0, "Boom", "bad")),
            HistoryEvent::with_id(1, T0, EventKind::TimerCreated { fire_at: T0 }),
            HistoryEvent::new(
                T0,
                EventKind::TimerFired {
                    timer_id: 1,
                    fire_at: T0,
                },
            ),
            HistoryEvent::with_id(
                2,
                T0,
                EventKind::EventSent {
                    instance_id: "x".into(),
                    name: "n".into(),
                    input: None,
                },
            ),
            HistoryEvent::new(
                T0,
                EventKind::EventRaised {
                    name: "n".into(),
                    input: Some("\"v\"".into()),
                },
            ),
            HistoryEvent::with_id(
                3,
                T0,
                EventKind::SubOrchestrationInstanceCreated {
                    name: "S".into(),
                    version: None,
                    instance_id: "c".into(),
                    input: None,
                },
            ),
            HistoryEvent::new(
                T0,
                EventKind::SubOrchestrationInstanceCompleted {
                    task_scheduled_id: 3,
                    result: Some("2".into()),
                },
            ),
            HistoryEvent::new(
                T0,
                EventKind::ExecutionSuspended {
                    reason: Some("r".into()),
                },
            ),
            HistoryEvent::new(T0, EventKind::ExecutionResumed { reason: None }),
            HistoryEvent::new(
                T0,
                EventKind::ExecutionTerminated {
                    input: Some("\"why\"".into()),
                },
            ),
            HistoryEvent::with_id(
                4,
                T0,
                EventKind::ExecutionCompleted {
                    status: OrchestrationStatus::Failed,
                    result: Some("m".into()),
                    failure_details: Some(FailureDetails::new("T", "m")),
                },
            ),
            HistoryEvent::new(T0, EventKind::OrchestratorCompleted),
            HistoryEvent::new(
                T0,
                EventKind::GenericEvent {
                    data: Some("d".into()),
                    reason: Some("Rewound: TaskFailed".into()),
                },
            ),
        ];
        for e in events {
            round_trip(e);
        }
        let row = event_to_row(
            &HistoryEvent::with_id(1, T0, EventKind::TimerCreated { fire_at: T0 }),
            "e",
        );
        assert_eq!(row.get_str("FireAt@odata.type"), Some("Edm.DateTime"));
        assert_eq!(row.get_i32("EventId"), Some(1));
    }

    #[test]
    fn row_keys_are_sixteen_uppercase_hex_digits() {
        assert_eq!(row_key(10), "000000000000000A");
        assert!(row_key(u64::MAX).as_str() < SENTINEL);
    }
}
