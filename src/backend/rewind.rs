//! Rewind of a failed instance on the History and Instances tables, the way
//! DurableTask.AzureStorage does it, so a rewind issued by Durable Functions Monitor against
//! this hub and one issued by taskhub leave the same rows:
//!
//! 1. The rows [`crate::core::rewind::plan`] picks in the instance's current execution are
//!    replaced in place (same RowKey, every other column kept; ETag-guarded).
//! 2. Each failed sub-orchestration is rewound the same way, recursively.
//! 3. The Instances row is merged to `RuntimeStatus` Pending.
//! 4. The deepest failed instances of each branch (the leaves) are returned: the caller wakes
//!    each with a `GenericEvent` message. Their completions then wake their parents.
//!
//! One difference: the execution is the sentinel's (the current one), where DurableTask takes
//! the execution of the `OrchestratorStarted` row with the greatest RowKey, which after a
//! continue-as-new may be a stale row of an earlier, longer execution.

use std::future::Future;
use std::pin::Pin;

use crate::core::rewind::{self, rewound_reason, Edit, RowView};
use crate::core::OrchestrationStatus;
use crate::storage::escape::{escape_partition_key, odata_string};
use crate::storage::{EntityExt, Etag, TableEntity};

use super::error::Result;
use super::history_table::SENTINEL;
use super::hub::TaskHub;

type Rows = Vec<(TableEntity, Etag)>;

impl TaskHub {
    /// Rewrites the failed attempt out of `instance_id`'s history and that of its failed
    /// sub-orchestrations, sets them Pending, and returns the instances to wake (the leaves),
    /// deepest first. The caller has checked that the instance is Failed.
    pub async fn rewind_history(&self, instance_id: &str) -> Result<Vec<String>> {
        let mut leaves = Vec::new();
        self.rewind_one(instance_id.to_string(), &mut leaves)
            .await?;
        Ok(leaves)
    }

    fn rewind_one<'a>(
        &'a self,
        instance_id: String,
        leaves: &'a mut Vec<String>,
    ) -> Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>> {
        Box::pin(async move {
            let rows = self.current_execution_rows(&instance_id).await?;
            let views: Vec<RowView<'_>> = rows.iter().map(|(r, _)| view(r)).collect();
            let plan = rewind::plan(&views);
            for (i, edit) in &plan.edits {
                let (row, etag) = &rows[*i];
                self.replace(&instance_id, row, etag, *edit).await?;
            }
            for child in plan.children {
                // A child a resumed rewind finds again may be running (woken by the earlier
                // attempt) or done: its completion comes to the parent by itself.
                let status = self.instances().read(&child, false).await?;
                let waiting = status.is_some_and(|(s, _)| {
                    matches!(
                        s.runtime_status,
                        OrchestrationStatus::Failed | OrchestrationStatus::Pending
                    )
                });
                if waiting {
                    self.rewind_one(child, leaves).await?;
                }
            }
            self.set_pending(&instance_id).await?;
            if !plan.failed_children {
                leaves.push(instance_id);
            }
            Ok(())
        })
    }

    /// The rows of the instance's current execution (the sentinel's), in RowKey order, without
    /// the sentinel.
    async fn current_execution_rows(&self, instance_id: &str) -> Result<Rows> {
        let pk = escape_partition_key(instance_id);
        let filter = format!("PartitionKey eq {}", odata_string(&pk));
        let rows = self
            .history()
            .table()
            .query(Some(&filter), None, None)
            .await?;
        let execution = rows
            .iter()
            .find(|(r, _)| r.row_key() == Some(SENTINEL))
            .or_else(|| {
                rows.iter()
                    .filter(|(r, _)| r.get_str("EventType") == Some("OrchestratorStarted"))
                    .max_by(|a, b| a.0.row_key().cmp(&b.0.row_key()))
            })
            .and_then(|(r, _)| r.get_str("ExecutionId"))
            .map(str::to_string);
        Ok(rows
            .into_iter()
            .filter(|(r, _)| r.row_key() != Some(SENTINEL))
            .filter(|(r, _)| r.get_str("ExecutionId") == execution.as_deref())
            .collect())
    }

    /// Replaces a row by itself with `Reason: Rewound: <its type>` and, to clear it, the
    /// type `GenericEvent` (an ETag-guarded Replace, as DurableTask does).
    async fn replace(
        &self,
        instance_id: &str,
        row: &TableEntity,
        etag: &Etag,
        edit: Edit,
    ) -> Result<()> {
        let mut row = row.clone();
        let was = row.get_str("EventType").unwrap_or_default().to_string();
        row.put_str("Reason", rewound_reason(&was));
        if edit == Edit::Clear {
            row.put_str("EventType", "GenericEvent");
        }
        let pk = escape_partition_key(instance_id);
        let rk = row.row_key().unwrap_or_default().to_string();
        tracing::debug!(instance_id, row = %rk, was, "history row rewound");
        self.history()
            .table()
            .update(&pk, &rk, &row, Some(etag))
            .await?;
        Ok(())
    }

    /// `RuntimeStatus` Pending and `LastUpdatedTime` now, merged into the Instances row.
    async fn set_pending(&self, instance_id: &str) -> Result<()> {
        let mut e = TableEntity::new();
        e.put_str("RuntimeStatus", OrchestrationStatus::Pending.as_str());
        e.put_datetime("LastUpdatedTime", self.clock().now());
        self.instances().upsert_merge(instance_id, &e).await
    }
}

/// The columns of a row the plan looks at.
fn view(row: &TableEntity) -> RowView<'_> {
    RowView {
        event_type: row.get_str("EventType").unwrap_or_default(),
        failed_completion: row.get_str("OrchestrationStatus") == Some("Failed"),
        event_id: row.get_i32("EventId"),
        task_scheduled_id: row.get_i32("TaskScheduledId"),
        instance_id: row.get_str("InstanceId"),
        rewound: row
            .get_str("Reason")
            .is_some_and(|r| r.starts_with(crate::core::history::REWOUND_PREFIX)),
    }
}
