//! Retention: old finished instances purged in the background, at a low, bounded rate
//! (`WorkerOptions::retention`, `taskhub worker --retention Completed=7d,…`).
//!
//! Owns [`RetentionPurger`]. **One worker of the hub purges at a time: the one holding the lease
//! of partition 0.** It checks that before every batch (a look at its own ownership, no storage
//! call) and gives each batch at most what is left of that lease's validity, which ends a safety
//! margin before any other worker may claim the lease (`partitions.rs`). So during a hand-over
//! neither purges, and after it only the new owner does. (Two purging at once would only repeat
//! idempotent deletes, but would double the rate.)
//!
//! The rate: a batch looks at up to [`Retention::batch`] instances — one query page of that many
//! keys, then each instance purged (2 at a time) unless its row, read again, no longer
//! qualifies — and the purger then rests for as long as that many instances are worth at
//! `max_per_minute`, and at least three times as long as the batch took (so it is busy a quarter
//! of the time at most, and slows down when the storage account is slow because it is busy), and
//! at least half a second. The rules are scanned one after another, each
//! scan going on from where its last batch stopped; once every rule's scan has reached its end
//! it rests `interval`, so a hub with nothing old costs one query per rule per interval. docs/instance-management.md counts the
//! storage operations.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::backend::{OrchestrationService, PurgeFilter, PurgeLimits};

use super::ownership::Ownership;
use super::retention_policy::Retention;

/// Instances of one batch purged at once: low, so a batch never crowds the worker's own work.
const CONCURRENCY: usize = 2;
/// The longest a batch may take (less when the lease of partition 0 has less left).
const MAX_BATCH_TIME: Duration = Duration::from_secs(5);
/// The shortest rest between two batches.
const MIN_REST: Duration = Duration::from_millis(500);
/// A batch is followed by a rest of at least this many times what it took: retention is busy a
/// quarter of the time at most.
const BUSY_SHARE_REST: u32 = 3;
/// How often a worker that does not hold partition 0 looks whether it has come to hold it (a
/// look at its own state: free).
const OWNERSHIP_POLL: Duration = Duration::from_secs(1);

/// Purges what the retention rules no longer keep, while this worker holds partition 0.
pub(crate) struct RetentionPurger {
    pub service: Arc<dyn OrchestrationService>,
    pub ownership: Ownership,
    pub policy: Retention,
}

impl RetentionPurger {
    /// Purges until `stop`; a batch under way when it comes is dropped where it is (an
    /// instance's Instances row is deleted last, so a half-purged one is found and finished by
    /// the next purge).
    pub async fn run(self, stop: CancellationToken) {
        let partition = self.service.names().control_queue(0);
        let rules = &self.policy.rules;
        let mut cursors: Vec<Option<String>> = vec![None; rules.len()];
        let mut rule = 0;
        let mut holding = false;
        let mut rest = OWNERSHIP_POLL;
        loop {
            tokio::select! {
                biased;
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(rest) => {}
            }
            let Some(lease_left) = self.ownership.lease_left(&partition) else {
                if holding {
                    tracing::info!("retention: partition 0 is no longer ours; its owner purges");
                    holding = false;
                }
                rest = OWNERSHIP_POLL;
                continue;
            };
            if !holding {
                tracing::info!(retention = %self.policy, per_minute = self.policy.max_per_minute,
                    "retention: this worker holds partition 0 and purges for the hub");
                holding = true;
            }
            let (status, age) = rules[rule];
            let filter = PurgeFilter {
                last_updated_to: Some(self.service.clock().now() - age),
                statuses: vec![status],
                ..PurgeFilter::default()
            };
            let batch = self.policy.batch();
            let limits = PurgeLimits {
                budget: MAX_BATCH_TIME.min(lease_left),
                page_size: batch,
                concurrency: CONCURRENCY,
                max_instances: Some(u64::from(batch)),
            };
            let batch_start = tokio::time::Instant::now();
            let call = self
                .service
                .purge_finished(&filter, &limits, cursors[rule].as_deref());
            let progress = tokio::select! {
                biased;
                _ = stop.cancelled() => return,
                p = call => p,
            };
            let p = match progress {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(error = %e, %status, "retention: purge failed; trying again after the interval");
                    cursors[rule] = None;
                    rest = self.policy.interval;
                    continue;
                }
            };
            if p.result.instances_deleted > 0 {
                tracing::info!(
                    %status,
                    instances = p.result.instances_deleted,
                    history_rows = p.result.history_rows_deleted,
                    blobs = p.result.blobs_deleted,
                    "retention purged old instances"
                );
            }
            // What this batch looked at, at the rate allowed; and never less than three times
            // what it took, so that on a slow (busy) storage account it backs off.
            let worth =
                Duration::from_secs(60).mul_f64(p.examined as f64) / self.policy.max_per_minute;
            rest = worth
                .max(BUSY_SHARE_REST * batch_start.elapsed())
                .max(MIN_REST);
            cursors[rule] = p.continuation;
            if cursors[rule].is_none() {
                rule = (rule + 1) % rules.len();
                if rule == 0 {
                    rest = rest.max(self.policy.interval);
                }
            }
        }
    }
}
