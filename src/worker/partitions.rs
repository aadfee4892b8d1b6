//! The partition manager: which control queues this worker listens to, leased through
//! `{Hub}Partitions` (the reference's table partition manager, §5.1).
//!
//! Every tick (each `lease_renew_interval`, every second while something changes hands) it reads
//! all lease rows and, under their ETags in one transaction:
//! - renews what it owns (when the renewal is due);
//! - claims rows that are free, expired, or handed over to it;
//! - stops listening at once to a row someone else now owns;
//! - drains a row another worker asked for (`NextOwner`): stops dequeuing it, lets its in-flight
//!   turns finish, then releases it, so the new owner takes over without waiting for expiry;
//! - balances: with W workers and P partitions, a worker holding fewer than ⌊P/W⌋ asks the most
//!   loaded owner for one row.
//!
//! No split brain: a worker stops dequeuing a partition once its own lease would have expired
//! without a successful renewal, and another worker only claims an expired or released row; the
//! History sentinel ETag still rejects a stale writer's checkpoint.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::backend::{PartitionLease, PartitionsTable};

use super::orchestrations::dequeue_loop;
use super::Shared;

/// A tick while something is changing hands.
const FAST_TICK: Duration = Duration::from_secs(1);
/// How long a drain waits for in-flight turns before releasing anyway.
const MAX_DRAIN: Duration = Duration::from_secs(60);

/// A partition this worker listens to.
pub(crate) struct Owned {
    stop: CancellationToken,
    /// When our lease runs out unless renewed (monotonic clock, with a safety margin).
    valid_until: Instant,
    draining_since: Option<Instant>,
}

/// What this worker knows about its partitions.
#[derive(Default)]
pub(crate) struct Ownership {
    owned: HashMap<String, Owned>,
}

impl Ownership {
    /// True while this worker may dequeue from `queue`.
    pub fn may_dequeue(&self, queue: &str) -> bool {
        self.owned
            .get(queue)
            .is_some_and(|o| o.draining_since.is_none() && Instant::now() < o.valid_until)
    }

    pub fn owned_partitions(&self) -> Vec<String> {
        self.owned.keys().cloned().collect()
    }
}

pub(crate) struct PartitionManager {
    shared: Arc<Shared>,
    table: PartitionsTable,
    me: String,
}

impl PartitionManager {
    pub fn new(shared: Arc<Shared>) -> Self {
        let table =
            PartitionsTable::new(shared.hub.storage(), &shared.hub.names().partitions_table());
        let me = shared.options.worker_id.clone();
        PartitionManager { shared, table, me }
    }

    /// Manages leases until `stop`, then releases everything it owns.
    pub async fn run(self, stop: CancellationToken) {
        for q in self.shared.hub.names().control_queues() {
            if let Err(e) = self.table.ensure_row(&q).await {
                tracing::warn!(partition = %q, error = %e, "could not create a partition row");
            }
        }
        let mut last_renewal: HashMap<String, Instant> = HashMap::new();
        loop {
            let fast = match self.tick(&mut last_renewal).await {
                Ok(fast) => fast,
                Err(e) => {
                    tracing::warn!(error = %e, "partition lease update failed; retrying");
                    self.drop_expired();
                    true
                }
            };
            let wait = if fast {
                FAST_TICK
            } else {
                self.shared.options.lease_renew_interval
            };
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(wait) => {}
            }
        }
        self.release_all().await;
    }

    /// One pass over the lease rows. Returns true when something is in flux (tick again soon).
    async fn tick(
        &self,
        last_renewal: &mut HashMap<String, Instant>,
    ) -> crate::backend::error::Result<bool> {
        let names = self.shared.hub.names();
        let mine_names: Vec<String> = names.control_queues();
        let mut leases: Vec<PartitionLease> = self
            .table
            .read_all()
            .await?
            .into_iter()
            .filter(|l| mine_names.contains(&l.partition))
            .collect();
        let now = OffsetDateTime::now_utc();
        let o = &self.shared.options;
        let lease =
            time::Duration::try_from(o.lease_duration).unwrap_or(time::Duration::seconds(30));
        let renew_every = o.lease_renew_interval;
        let mut changed: Vec<usize> = Vec::new();
        let mut claimed: Vec<String> = Vec::new();
        let mut released: Vec<String> = Vec::new();
        let mut fast = false;

        for (i, l) in leases.iter_mut().enumerate() {
            let mine = l.current_owner.as_deref() == Some(self.me.as_str());
            if !mine {
                if self.is_listening(&l.partition) {
                    tracing::warn!(partition = %l.partition, owner = ?l.current_owner, "partition lost to another worker");
                    self.stop_listening(&l.partition);
                    last_renewal.remove(&l.partition);
                }
                if l.claimable_by(&self.me, now) {
                    l.current_owner = Some(self.me.clone());
                    l.next_owner = None;
                    l.owned_since = Some(now);
                    l.last_renewal = Some(now);
                    l.expires_at = Some(now + lease);
                    l.is_draining = false;
                    changed.push(i);
                    claimed.push(l.partition.clone());
                } else if l.current_owner.is_none() || l.next_owner.is_some() || l.is_draining {
                    fast = true; // a hand-over is under way
                }
                continue;
            }
            if l.next_owner.is_some() {
                // Someone asked for this partition: drain, then release.
                fast = true;
                let drained = self.drain_step(&l.partition);
                if drained {
                    l.current_owner = None;
                    l.is_draining = false;
                    l.last_renewal = Some(now);
                    l.expires_at = Some(now + lease);
                    released.push(l.partition.clone());
                } else {
                    l.is_draining = true;
                    l.last_renewal = Some(now);
                    l.expires_at = Some(now + lease);
                }
                changed.push(i);
                continue;
            }
            let due = last_renewal
                .get(&l.partition)
                .is_none_or(|t| t.elapsed() + renew_every / 10 >= renew_every)
                || !self.is_listening(&l.partition);
            if due {
                l.last_renewal = Some(now);
                l.expires_at = Some(now + lease);
                l.is_draining = false;
                changed.push(i);
                claimed.push(l.partition.clone());
            }
        }

        // Balance: ask the most loaded owner for a partition when we hold too few.
        if let Some(i) = self.pick_steal(&leases, now) {
            let l = &mut leases[i];
            tracing::info!(partition = %l.partition, owner = ?l.current_owner, "asking for a partition to balance load");
            l.next_owner = Some(self.me.clone());
            changed.push(i);
            fast = true;
        }

        if changed.is_empty() {
            return Ok(fast);
        }
        changed.sort_unstable();
        changed.dedup();
        let mut to_write: Vec<PartitionLease> =
            changed.iter().map(|i| leases[*i].clone()).collect();
        match self.table.write(&mut to_write).await {
            Ok(()) => {}
            Err(crate::backend::Error::Storage(s))
                if s.is_precondition_failed() || s.is_conflict() =>
            {
                tracing::debug!(error = %s, "a lease row changed meanwhile; reading again");
                return Ok(true); // someone changed a row meanwhile: read again soon
            }
            Err(e) => return Err(e),
        }
        tracing::debug!(partitions = ?to_write.iter().map(|l| &l.partition).collect::<Vec<_>>(), "lease rows written");
        let valid_until = Instant::now() + o.lease_duration.mul_f64(0.8);
        for p in claimed {
            last_renewal.insert(p.clone(), Instant::now());
            self.listen(&p, valid_until);
        }
        for p in released {
            last_renewal.remove(&p);
            self.forget(&p);
            tracing::info!(partition = %p, "partition released to another worker");
        }
        Ok(fast)
    }

    /// The lease to ask for, if this worker holds fewer than its share.
    fn pick_steal(&self, leases: &[PartitionLease], now: OffsetDateTime) -> Option<usize> {
        if leases
            .iter()
            .any(|l| l.next_owner.as_deref() == Some(self.me.as_str()))
        {
            return None; // one request at a time
        }
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        counts.insert(self.me.clone(), 0);
        for l in leases {
            let live = l.expires_at.is_some_and(|t| t > now);
            let Some(owner) = l.next_owner.clone().or_else(|| l.current_owner.clone()) else {
                continue;
            };
            if live || owner == self.me {
                *counts.entry(owner).or_default() += 1;
            }
        }
        let workers = counts.len();
        let floor = leases.len() / workers;
        let mine = counts.get(&self.me).copied().unwrap_or(0);
        if mine >= floor {
            return None;
        }
        let (victim, count) = counts
            .iter()
            .filter(|(w, _)| **w != self.me)
            .max_by_key(|(w, c)| (**c, std::cmp::Reverse((*w).clone())))?;
        if *count <= floor {
            return None;
        }
        leases.iter().position(|l| {
            l.current_owner.as_deref() == Some(victim.as_str())
                && l.next_owner.is_none()
                && l.expires_at.is_some_and(|t| t > now)
        })
    }

    fn is_listening(&self, partition: &str) -> bool {
        self.shared.ownership().owned.contains_key(partition)
    }

    /// Starts (or extends) listening to a partition.
    fn listen(&self, partition: &str, valid_until: Instant) {
        let mut own = self.shared.ownership();
        if let Some(o) = own.owned.get_mut(partition) {
            o.valid_until = valid_until;
            return;
        }
        let stop = self.shared.stopping.child_token();
        own.owned.insert(
            partition.to_string(),
            Owned {
                stop: stop.clone(),
                valid_until,
                draining_since: None,
            },
        );
        drop(own);
        tracing::info!(partition, worker = %self.me, "partition acquired");
        let shared = self.shared.clone();
        let queue = partition.to_string();
        tokio::spawn(dequeue_loop(shared, queue, stop));
    }

    /// Stops dequeuing at once and forgets the partition (it belongs to someone else now).
    fn stop_listening(&self, partition: &str) {
        self.forget(partition);
    }

    fn forget(&self, partition: &str) {
        if let Some(o) = self.shared.ownership().owned.remove(partition) {
            o.stop.cancel();
        }
        self.shared.cache_evict_partition(partition);
    }

    /// Stops dequeuing a partition being handed over; true once its in-flight turns are done.
    fn drain_step(&self, partition: &str) -> bool {
        let started = {
            let mut own = self.shared.ownership();
            let Some(o) = own.owned.get_mut(partition) else {
                return true;
            };
            o.stop.cancel();
            *o.draining_since.get_or_insert_with(Instant::now)
        };
        !self.shared.has_sessions_of(partition) || started.elapsed() > MAX_DRAIN
    }

    /// Drops partitions whose lease ran out without renewal (storage unreachable).
    fn drop_expired(&self) {
        let expired: Vec<String> = self
            .shared
            .ownership()
            .owned
            .iter()
            .filter(|(_, o)| Instant::now() >= o.valid_until)
            .map(|(p, _)| p.clone())
            .collect();
        for p in expired {
            tracing::warn!(partition = %p, "lease could not be renewed in time; stopped processing the partition");
            self.forget(&p);
        }
    }

    /// On shutdown: stop dequeuing, let in-flight turns finish, release every owned row.
    async fn release_all(&self) {
        let owned = self.shared.ownership().owned_partitions();
        for p in &owned {
            if let Some(o) = self.shared.ownership().owned.get(p) {
                o.stop.cancel();
            }
        }
        let deadline = Instant::now() + self.shared.options.shutdown_grace;
        while owned.iter().any(|p| self.shared.has_sessions_of(p)) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        for attempt in 0..3 {
            match self.release_rows(&owned).await {
                Ok(()) => break,
                Err(e) if attempt == 2 => {
                    tracing::warn!(error = %e, "could not release partitions; they expire on their own")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        for p in &owned {
            self.forget(p);
            tracing::info!(partition = %p, "partition released");
        }
    }

    async fn release_rows(&self, owned: &[String]) -> crate::backend::error::Result<()> {
        let now = OffsetDateTime::now_utc();
        let mut rows: Vec<PartitionLease> = self
            .table
            .read_all()
            .await?
            .into_iter()
            .filter(|l| {
                owned.contains(&l.partition) && l.current_owner.as_deref() == Some(self.me.as_str())
            })
            .collect();
        for l in rows.iter_mut() {
            l.current_owner = None;
            l.is_draining = false;
            l.last_renewal = Some(now);
        }
        if rows.is_empty() {
            return Ok(());
        }
        self.table.write(&mut rows).await?;
        Ok(())
    }
}
