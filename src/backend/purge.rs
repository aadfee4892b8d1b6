//! Purge: removing an instance's history rows, its Instances row and its blobs.
//!
//! Blobs are found as the direct contents of the instance's folders — `{instanceId}/` (message
//! blobs) and `{escapedInstanceId}/` (history and instance blobs) — so purging `abc` never
//! touches `abcd`'s blobs (DTFx's prefix has no slash and does), nor `abc/d`'s (whose message
//! blobs live in `abc/d/`).

use serde::Serialize;

use crate::core::{OrchestrationStatus, Timestamp};
use crate::storage::escape::escape_partition_key;

use super::error::Result;
use super::hub::TaskHub;
use super::instances_table::{EntityFilter, InstanceQuery};

/// What a purge removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PurgeResult {
    /// Instances rows deleted.
    pub instances_deleted: u64,
    /// History rows deleted (the sentinel included).
    pub history_rows_deleted: u64,
    /// Blobs deleted from the large-message container.
    pub blobs_deleted: u64,
}

impl PurgeResult {
    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &PurgeResult) {
        self.instances_deleted += other.instances_deleted;
        self.history_rows_deleted += other.history_rows_deleted;
        self.blobs_deleted += other.blobs_deleted;
    }
}

impl TaskHub {
    /// Purges one instance. An instance without an Instances row is left alone (nothing to do).
    pub async fn purge_instance(&self, instance_id: &str) -> Result<PurgeResult> {
        if self.instances().read(instance_id, false).await?.is_none() {
            return Ok(PurgeResult::default());
        }
        let escaped = escape_partition_key(instance_id);
        let mut blobs = self.payloads().delete_folder(instance_id).await?;
        if escaped != instance_id {
            blobs += self.payloads().delete_folder(&escaped).await?;
        }
        let rows = self.history().delete_all(instance_id).await?;
        let deleted = self.instances().delete(instance_id).await?;
        Ok(PurgeResult {
            instances_deleted: u64::from(deleted),
            history_rows_deleted: rows as u64,
            blobs_deleted: blobs as u64,
        })
    }

    /// Purges every finished instance created in the range with one of `statuses` (only terminal
    /// statuses count; an empty list means all terminal ones).
    pub async fn purge_instances(
        &self,
        created_from: Option<Timestamp>,
        created_to: Option<Timestamp>,
        statuses: &[OrchestrationStatus],
    ) -> Result<PurgeResult> {
        let mut terminal: Vec<OrchestrationStatus> = statuses
            .iter()
            .copied()
            .filter(|s| s.is_terminal())
            .collect();
        if terminal.is_empty() {
            if !statuses.is_empty() {
                // Only live statuses were asked for: they are never purged.
                return Ok(PurgeResult::default());
            }
            terminal = OrchestrationStatus::ALL
                .into_iter()
                .filter(|s| s.is_terminal())
                .collect();
        }
        let query = InstanceQuery {
            statuses: terminal,
            created_from,
            created_to,
            entities: EntityFilter::Exclude,
            ..InstanceQuery::default()
        };
        let instances = self.instances().query_all(&query).await?;
        let mut total = PurgeResult::default();
        for chunk in instances.chunks(16) {
            let results = futures::future::join_all(
                chunk.iter().map(|i| self.purge_instance(&i.instance_id)),
            )
            .await;
            for r in results {
                total.add(&r?);
            }
        }
        Ok(total)
    }
}
