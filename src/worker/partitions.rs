//! The partition manager: which control queues this worker listens to, leased through
//! `{Hub}Partitions` (the reference's table partition manager, §5.1).
//!
//! Owns [`PartitionManager`]. Every tick (each `lease_renew_interval`, every second while
//! something changes hands) it reads all lease rows and, under their ETags in one transaction:
//! - renews what it owns (when the renewal is due);
//! - claims rows that are free, expired, or handed over to it;
//! - stops listening at once to a row someone else now owns;
//! - drains a row another worker asked for (`NextOwner`): stops dequeuing it, lets its in-flight
//!   turns finish, then releases it, so the new owner takes over without waiting for expiry;
//! - balances: with W workers and P partitions, a worker holding fewer than ⌊P/W⌋ asks the most
//!   loaded owner for one row.
//!
//! No split brain: a worker stops dequeuing a partition once its own lease could have expired
//! for others. Both ends of that are taken before the lease rows are read — the wall-clock time
//! written as the start of the lease and the monotonic instant our validity is counted from — so a
//! slow read or write only shortens our validity; and our validity ends a safety margin (a fifth
//! of the lease) before the written expiry, which absorbs clock skew between workers up to that
//! margin (docs/partitions.md). Another worker only claims an expired or released row, and the
//! History sentinel ETag still rejects a stale writer's checkpoint.
//!
//! A dequeue loop that ends on its own while its partition is still owned (it panicked) is
//! reported and started again.

use crate::telemetry;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::backend::{OrchestrationService, PartitionLease};

use super::cache::Cache;
use super::dequeue::ControlQueues;
use super::finishing::Finisher;
use super::local_tasks::LocalTasks;
use super::options::WorkerOptions;
use super::ownership::{next_epoch, Owned, Ownership};
use super::sessions::Sessions;

/// A tick while something is changing hands.
const FAST_TICK: Duration = Duration::from_secs(1);
/// How long a drain waits for in-flight turns before releasing anyway.
const MAX_DRAIN: Duration = Duration::from_secs(60);
/// The part of a lease this worker uses: the rest is the margin for clock skew.
const LEASE_USE: f64 = 0.8;

pub(crate) struct PartitionManager {
    pub service: Arc<dyn OrchestrationService>,
    pub options: Arc<WorkerOptions>,
    pub ownership: Ownership,
    pub control: ControlQueues,
    pub cache: Cache,
    pub sessions: Sessions,
    pub finisher: Finisher,
    pub local_tasks: LocalTasks,
    /// Parent of the dequeue loops' stop tokens.
    pub stopping: CancellationToken,
    pub loops: BTreeMap<String, JoinHandle<()>>,
    pub last_renewal: BTreeMap<String, Instant>,
}

impl PartitionManager {
    fn me(&self) -> &str {
        &self.options.worker_id
    }

    /// Manages leases until `stop`, then releases everything it owns.
    pub async fn run(mut self, stop: CancellationToken) {
        if let Err(e) = self.service.ensure_lease_rows().await {
            tracing::warn!(error = %e, "could not create the partition rows");
        }
        loop {
            let fast = match self.tick().await {
                Ok(fast) => fast,
                Err(e) => {
                    tracing::warn!(error = %e, "partition lease update failed; retrying");
                    self.drop_expired();
                    true
                }
            };
            self.supervise_loops();
            let wait = if fast {
                FAST_TICK
            } else {
                self.options.lease_renew_interval
            };
            tokio::select! {
                biased;
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(wait) => {}
            }
        }
        self.release_all().await;
    }

    /// One pass over the lease rows. Returns true when something is in flux (tick again soon).
    async fn tick(&mut self) -> crate::backend::error::Result<bool> {
        // Both clocks are read before the rows: see the module docs.
        let read_at = Instant::now();
        let now = self.service.clock().now();
        let names = self.service.names();
        let ours: Vec<String> = names.control_queues();
        let mut leases: Vec<PartitionLease> = self
            .service
            .read_leases()
            .await?
            .into_iter()
            .filter(|l| ours.contains(&l.partition))
            .collect();
        let lease_len = self.options.lease_duration;
        let lease = time::Duration::try_from(lease_len).unwrap_or(time::Duration::seconds(30));
        let renew_every = self.options.lease_renew_interval;
        let me = self.me().to_string();
        let mut changed: Vec<usize> = Vec::new();
        let mut claimed: Vec<String> = Vec::new();
        let mut released: Vec<String> = Vec::new();
        let mut fast = false;

        for (i, l) in leases.iter_mut().enumerate() {
            let mine = l.current_owner.as_deref() == Some(me.as_str());
            if !mine {
                if self.ownership.is_listening(&l.partition) {
                    tracing::warn!(partition = %l.partition, owner = ?l.current_owner, "partition lost to another worker");
                    self.forget(&l.partition, false);
                }
                if l.claimable_by(&me, now) {
                    l.current_owner = Some(me.clone());
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
                if self.drain_step(&l.partition) {
                    l.current_owner = None;
                    l.is_draining = false;
                    released.push(l.partition.clone());
                } else {
                    l.is_draining = true;
                }
                l.last_renewal = Some(now);
                l.expires_at = Some(now + lease);
                changed.push(i);
                continue;
            }
            let due = self
                .last_renewal
                .get(&l.partition)
                .is_none_or(|t| t.elapsed() + renew_every / 10 >= renew_every)
                || !self.ownership.is_listening(&l.partition);
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
            l.next_owner = Some(me.clone());
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
        match self.service.write_leases(&mut to_write).await {
            Ok(()) => {}
            Err(crate::backend::Error::Storage(s))
                if s.is_precondition_failed() || s.is_conflict() =>
            {
                tracing::debug!(error = %s, "a lease row changed meanwhile; reading again");
                return Ok(true);
            }
            Err(e) => return Err(e),
        }
        tracing::debug!(partitions = ?to_write.iter().map(|l| &l.partition).collect::<Vec<_>>(), "lease rows written");
        let valid_until = read_at + lease_len.mul_f64(LEASE_USE);
        for p in claimed {
            self.last_renewal.insert(p.clone(), read_at);
            self.listen(&p, valid_until);
        }
        for p in released {
            self.forget(&p, true);
            tracing::info!(partition = %p, "partition released to another worker");
        }
        Ok(fast)
    }

    /// The lease to ask for, if this worker holds fewer than its share.
    fn pick_steal(&self, leases: &[PartitionLease], now: OffsetDateTime) -> Option<usize> {
        let me = self.me();
        if leases.iter().any(|l| l.next_owner.as_deref() == Some(me)) {
            return None; // one request at a time
        }
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        counts.insert(me.to_string(), 0);
        for l in leases {
            let live = l.expires_at.is_some_and(|t| t > now);
            let Some(owner) = l.next_owner.clone().or_else(|| l.current_owner.clone()) else {
                continue;
            };
            if live || owner == me {
                *counts.entry(owner).or_default() += 1;
            }
        }
        let workers = counts.len();
        let floor = leases.len() / workers;
        let mine = counts.get(me).copied().unwrap_or(0);
        if mine >= floor {
            return None;
        }
        let (victim, count) = counts
            .iter()
            .filter(|(w, _)| w.as_str() != me)
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

    /// Starts (or extends) listening to a partition. A partition newly (re)acquired starts with
    /// no cached state: whatever was cached may predate another owner's writes.
    fn listen(&mut self, partition: &str, valid_until: Instant) {
        let started = self.ownership.with(|owned| {
            if let Some(o) = owned.get_mut(partition) {
                o.valid_until = valid_until;
                return None;
            }
            let stop = self.stopping.child_token();
            owned.insert(
                partition.to_string(),
                Owned {
                    stop: stop.clone(),
                    valid_until,
                    draining_since: None,
                    epoch: next_epoch(),
                },
            );
            Some(stop)
        });
        if let Some(stop) = started {
            self.cache.evict_partition(partition);
            telemetry::lease_acquired();
            telemetry::partitions_owned(self.ownership.partitions().len());
            tracing::info!(partition, worker = %self.me(), "partition acquired");
            let handle = self.control.listen(partition, stop);
            self.loops.insert(partition.to_string(), handle);
        }
    }

    /// A dequeue loop that ended although its partition is still ours to dequeue (a panic,
    /// already logged by the task group): start it again.
    fn supervise_loops(&mut self) {
        let ended: Vec<String> = self
            .loops
            .iter()
            .filter(|(p, h)| h.is_finished() && self.ownership.may_dequeue(p))
            .map(|(p, _)| p.clone())
            .collect();
        for p in ended {
            tracing::error!(partition = %p, "the partition's dequeue loop ended unexpectedly; starting it again");
            let stop = self.ownership.with(|owned| {
                owned.get_mut(&p).map(|o| {
                    o.stop = self.stopping.child_token();
                    o.stop.clone()
                })
            });
            if let Some(stop) = stop {
                let handle = self.control.listen(&p, stop);
                self.loops.insert(p, handle);
            }
        }
    }

    /// Stops dequeuing and forgets the partition (it is someone else's now: `released` by
    /// this worker, or lost): its loop stops, its cached states go.
    fn forget(&mut self, partition: &str, released: bool) {
        if let Some(o) = self.ownership.with(|owned| owned.remove(partition)) {
            o.stop.cancel();
            telemetry::lease_lost(released);
            telemetry::forget_control_queue(partition);
        }
        telemetry::partitions_owned(self.ownership.partitions().len());
        self.loops.remove(partition);
        self.last_renewal.remove(partition);
        self.cache.evict_partition(partition);
        // The wake-ups of its local tasks go visible now, so its new owner runs what is left
        // (a result that arrives here later is sent as a message).
        let names = self.service.names().clone();
        let wake_ups = self
            .local_tasks
            .forget(|id| names.control_queue_for(id) == partition);
        if !wake_ups.is_empty() {
            let service = self.service.clone();
            tokio::spawn(async move {
                service
                    .abandon_messages(&wake_ups, std::time::Duration::ZERO)
                    .await
            });
        }
    }

    /// True while a session of an instance of `partition` holds messages or runs, the
    /// checkpoint finish of one of its turns is in flight, or one of its activities runs here
    /// without a message.
    fn has_work_of(&self, partition: &str) -> bool {
        let names = self.service.names();
        let of_partition = |id: &str| names.control_queue_for(id) == partition;
        self.sessions.any(of_partition)
            || self.finisher.order().any(of_partition)
            || self.local_tasks.any_in_flight(of_partition)
    }

    /// Stops dequeuing a partition being handed over; true once its in-flight turns are done.
    fn drain_step(&mut self, partition: &str) -> bool {
        let started = self.ownership.with(|owned| {
            owned.get_mut(partition).map(|o| {
                o.stop.cancel();
                *o.draining_since.get_or_insert_with(Instant::now)
            })
        });
        let Some(started) = started else {
            return true;
        };
        self.cache.evict_partition(partition);
        !self.has_work_of(partition) || started.elapsed() > MAX_DRAIN
    }

    /// Drops partitions whose lease ran out without renewal (storage unreachable).
    fn drop_expired(&mut self) {
        let expired: Vec<String> = self.ownership.with(|owned| {
            owned
                .iter()
                .filter(|(_, o)| Instant::now() >= o.valid_until)
                .map(|(p, _)| p.clone())
                .collect()
        });
        for p in expired {
            tracing::warn!(partition = %p, "lease could not be renewed in time; stopped processing the partition");
            self.forget(&p, false);
        }
    }

    /// On shutdown: stop dequeuing, let in-flight turns finish, release every owned row.
    async fn release_all(&mut self) {
        let owned = self.ownership.partitions();
        self.ownership.with(|o| {
            for p in o.values() {
                p.stop.cancel();
            }
        });
        let deadline = Instant::now() + self.options.shutdown_grace;
        while owned.iter().any(|p| self.has_work_of(p)) && Instant::now() < deadline {
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
            self.forget(p, true);
            tracing::info!(partition = %p, "partition released");
        }
    }

    async fn release_rows(&self, owned: &[String]) -> crate::backend::error::Result<()> {
        let now = self.service.clock().now();
        let mut rows: Vec<PartitionLease> = self
            .service
            .read_leases()
            .await?
            .into_iter()
            .filter(|l| {
                owned.contains(&l.partition) && l.current_owner.as_deref() == Some(self.me())
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
        self.service.write_leases(&mut rows).await
    }
}
