//! Each partition as a reader sees it: the lease row of `{Hub}Partitions` (owner, requested next
//! owner, when owned, last renewed and expiring, draining) with its control queue's depth. What
//! `taskhub partitions` prints and the dashboard's partitions view shows.

use serde::Serialize;

use crate::backend::error::Result;
use crate::backend::{PartitionsTable, TaskHub};
use crate::core::Timestamp;

/// One partition as shown.
#[derive(Debug, Clone, Serialize)]
pub struct PartitionView {
    /// The control queue name (the partition id).
    pub partition: String,
    /// The worker that holds the lease.
    pub owner: Option<String>,
    /// A worker that asked for the lease (a steal or hand-over in progress).
    pub next_owner: Option<String>,
    /// When the owner claimed it.
    #[serde(with = "time::serde::rfc3339::option")]
    pub owned_since: Option<Timestamp>,
    /// When the owner last renewed it.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_renewal: Option<Timestamp>,
    /// When the lease runs out unless renewed.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<Timestamp>,
    /// Owned, but the lease ran out (its owner stopped renewing).
    pub expired: bool,
    /// The owner is finishing its work before releasing it.
    pub draining: bool,
    /// The control queue's approximate length; `None` when it could not be read.
    pub queue_length: Option<u64>,
}

impl TaskHub {
    /// Every partition of this handle's names, in order, with its lease and queue depth: one
    /// query of `{Hub}Partitions` and one Get Queue Metadata per control queue. Fails with a
    /// not-found storage error when the Partitions table does not exist (no hub).
    pub async fn partition_views(&self) -> Result<Vec<PartitionView>> {
        let names = self.names();
        let leases = PartitionsTable::new(self.storage(), &names.partitions_table())
            .read_all()
            .await?;
        let now = self.clock().now();
        let queues = names.control_queues();
        let lengths = futures::future::join_all(
            queues
                .iter()
                .map(|q| async move { self.storage().queue(q).approximate_length().await.ok() }),
        )
        .await;
        Ok(queues
            .into_iter()
            .zip(lengths)
            .map(|(q, queue_length)| {
                let lease = leases.iter().find(|l| l.partition == q);
                PartitionView {
                    owner: lease.and_then(|l| l.current_owner.clone()),
                    next_owner: lease.and_then(|l| l.next_owner.clone()),
                    owned_since: lease.and_then(|l| l.owned_since),
                    last_renewal: lease.and_then(|l| l.last_renewal),
                    expires_at: lease.and_then(|l| l.expires_at),
                    expired: lease.is_some_and(|l| {
                        l.current_owner.is_some() && l.expires_at.is_none_or(|t| t <= now)
                    }),
                    draining: lease.is_some_and(|l| l.is_draining),
                    queue_length,
                    partition: q,
                }
            })
            .collect())
    }
}
