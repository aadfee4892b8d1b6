//! The `{Hub}Partitions` table: one lease row per control queue (reference §5.1).
//!
//! # Invariant
//! `PartitionKey` = `""`, `RowKey` = the control queue name; columns `CurrentOwner`, `NextOwner`
//! (absent when none), `OwnedSince`, `LastRenewal`, `ExpiresAt` (DateTime) and `IsDraining`
//! (bool). Every change is a replace under the row's ETag, so two workers never both win.

use crate::core::Timestamp;
use crate::storage::{EntityExt, Etag, Storage, Table, TableEntity};

use super::error::Result;

/// One partition's lease.
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionLease {
    /// The control queue name (the partition id).
    pub partition: String,
    /// `CurrentOwner`: the worker id that holds the lease, if any.
    pub current_owner: Option<String>,
    /// `NextOwner`: a worker id that asked for the lease (a steal or hand-over in progress), if
    /// any.
    pub next_owner: Option<String>,
    /// `OwnedSince`: when the current owner claimed the partition.
    pub owned_since: Option<Timestamp>,
    /// `LastRenewal`: when the lease was last renewed.
    pub last_renewal: Option<Timestamp>,
    /// `ExpiresAt`: when the lease runs out unless renewed.
    pub expires_at: Option<Timestamp>,
    /// `IsDraining`: the owner is finishing its work on the partition before releasing it.
    pub is_draining: bool,
    /// The row's ETag, which every change is conditioned on; `None` for a row not yet in the table
    /// (writing it inserts the row).
    pub etag: Option<Etag>,
}

impl PartitionLease {
    /// A free lease for a partition.
    pub fn free(partition: &str) -> Self {
        PartitionLease {
            partition: partition.to_string(),
            current_owner: None,
            next_owner: None,
            owned_since: None,
            last_renewal: None,
            expires_at: None,
            is_draining: false,
            etag: None,
        }
    }

    fn from_row(row: &TableEntity, etag: Etag) -> Option<Self> {
        let s = |n: &str| row.get_str(n).filter(|v| !v.is_empty()).map(str::to_string);
        Some(PartitionLease {
            partition: row.row_key()?.to_string(),
            current_owner: s("CurrentOwner"),
            next_owner: s("NextOwner"),
            owned_since: row.get_datetime("OwnedSince"),
            last_renewal: row.get_datetime("LastRenewal"),
            expires_at: row.get_datetime("ExpiresAt"),
            is_draining: row.get_bool("IsDraining").unwrap_or(false),
            etag: Some(etag),
        })
    }

    fn to_row(&self) -> TableEntity {
        let mut row = TableEntity::new();
        if let Some(o) = &self.current_owner {
            row.put_str("CurrentOwner", o.as_str());
        }
        if let Some(o) = &self.next_owner {
            row.put_str("NextOwner", o.as_str());
        }
        for (name, t) in [
            ("OwnedSince", self.owned_since),
            ("LastRenewal", self.last_renewal),
            ("ExpiresAt", self.expires_at),
        ] {
            if let Some(t) = t {
                row.put_datetime(name, t);
            }
        }
        row.put_bool("IsDraining", self.is_draining);
        row
    }

    /// Whether `worker` (not the current owner) may claim the row at `now`: nobody owns it and
    /// nobody was asked to take it, it was handed over to `worker`, or its lease ran out — an
    /// owner's that stopped renewing, or a hand-over whose next owner never came (the release
    /// gives the next owner one lease period).
    pub fn claimable_by(&self, worker: &str, now: Timestamp) -> bool {
        let unowned = self.current_owner.is_none();
        let handed_over = unowned && self.next_owner.as_deref() == Some(worker);
        let free = unowned && self.next_owner.is_none();
        let expired = self.expires_at.is_none_or(|t| t <= now);
        handed_over || free || expired
    }
}

/// The Partitions table of a hub.
#[derive(Clone, Debug)]
pub struct PartitionsTable {
    table: Table,
}

impl PartitionsTable {
    /// The Partitions table `table_name` of `storage`.
    pub fn new(storage: &Storage, table_name: &str) -> Self {
        PartitionsTable {
            table: storage.table(table_name),
        }
    }

    /// Every lease row, by partition name.
    pub async fn read_all(&self) -> Result<Vec<PartitionLease>> {
        let rows = self
            .table
            .query(Some("PartitionKey eq ''"), None, None)
            .await?;
        let mut leases: Vec<PartitionLease> = rows
            .into_iter()
            .filter_map(|(row, etag)| PartitionLease::from_row(&row, etag))
            .collect();
        leases.sort_by(|a, b| a.partition.cmp(&b.partition));
        Ok(leases)
    }

    /// Creates a free row for a partition; an existing row is kept.
    pub async fn ensure_row(&self, partition: &str) -> Result<()> {
        match self.table.insert("", partition, &TableEntity::new()).await {
            Err(e) if e.is_conflict() => Ok(()),
            other => {
                other?;
                Ok(())
            }
        }
    }

    /// Writes changed leases in one transaction (all rows share PartitionKey `""`), each under
    /// its ETag. On success the leases carry their new ETags. A 412 means someone else changed a
    /// row: nothing was written.
    pub async fn write(&self, leases: &mut [PartitionLease]) -> Result<()> {
        for chunk in leases.chunks_mut(100) {
            let mut batch = self.table.batch("");
            for l in chunk.iter() {
                let row = l.to_row();
                match &l.etag {
                    Some(etag) => batch.update(&l.partition, &row, Some(etag)),
                    None => batch.insert(&l.partition, &row),
                };
            }
            let etags = batch.execute().await?;
            for (l, etag) in chunk.iter_mut().zip(etags) {
                l.etag = etag;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(owner: Option<&str>, next: Option<&str>, expires_in_s: i64) -> PartitionLease {
        PartitionLease {
            current_owner: owner.map(Into::into),
            next_owner: next.map(Into::into),
            expires_at: Some(
                time::OffsetDateTime::now_utc() + time::Duration::seconds(expires_in_s),
            ),
            ..PartitionLease::free("hub-control-00")
        }
    }

    #[test]
    fn who_may_claim_a_lease_row() {
        let now = time::OffsetDateTime::now_utc();
        assert!(PartitionLease::free("q").claimable_by("me", now));
        // Owned and live: nobody else.
        assert!(!lease(Some("a"), None, 10).claimable_by("me", now));
        // Its owner stopped renewing.
        assert!(lease(Some("a"), None, -1).claimable_by("me", now));
        // Released to me, or to someone else who still has time to take it.
        assert!(lease(None, Some("me"), 10).claimable_by("me", now));
        assert!(!lease(None, Some("b"), 10).claimable_by("me", now));
        // Released to a worker that never came.
        assert!(lease(None, Some("b"), -1).claimable_by("me", now));
    }
}
