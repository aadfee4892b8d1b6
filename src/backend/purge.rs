//! Purge: removing an instance's history rows, its Instances row and its blobs.
//!
//! Blobs are found as the direct contents of the instance's folders — `{instanceId}/` (message
//! blobs) and `{escapedInstanceId}/` (history and instance blobs) — so purging `abc` never
//! touches `abcd`'s blobs (DTFx's prefix has no slash and does), nor `abc/d`'s (whose message
//! blobs live in `abc/d/`). Purging many instances by a filter is `bulk_purge.rs`.

use serde::Serialize;

use crate::storage::escape::escape_partition_key;

use super::error::Result;
use super::hub::TaskHub;
use super::instances_table::InstanceStatus;

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
        self.purge_instance_if(instance_id, |_| true).await
    }

    /// Purges one instance if its Instances row, read now, passes `check`; otherwise (or without
    /// a row) deletes nothing. A purge by filter checks the row afresh this way, so an instance
    /// started again since the query saw it finished is left alone.
    pub(crate) async fn purge_instance_if(
        &self,
        instance_id: &str,
        check: impl FnOnce(&InstanceStatus) -> bool,
    ) -> Result<PurgeResult> {
        match self.instances().read(instance_id, false).await? {
            Some((status, _)) if check(&status) => {}
            _ => return Ok(PurgeResult::default()),
        }
        let escaped = escape_partition_key(instance_id);
        let mut blobs = self.payloads().delete_folder(instance_id).await?;
        if escaped != instance_id {
            blobs += self.payloads().delete_folder(&escaped).await?;
        }
        let rows = self.history().delete_all(instance_id).await?;
        // The row goes last: while it exists, the instance is found (and purged) again.
        let deleted = self.instances().delete(instance_id).await?;
        Ok(PurgeResult {
            instances_deleted: u64::from(deleted),
            history_rows_deleted: rows as u64,
            blobs_deleted: blobs as u64,
        })
    }
}
