//! Taking a [`ScaleSample`] from storage, as DurableTask.AzureStorage's performance monitor
//! does: the control queues named in `{Hub}Partitions`, each queue's approximate count, and one
//! peek for the age of its first visible message.
//!
//! # Cost of one sample
//!
//! One query of `{Hub}Partitions` (its rows fit one page: at most 16), then per queue (each
//! control queue and the work-item queue) one Get Queue Metadata for the count and, only when
//! the count is above zero, one Peek Messages of one message. An idle hub with 4 partitions costs
//! 6 requests; a busy one 11. The queues are sampled concurrently.

use super::{recommend, QueueSample, ScaleRecommendation, ScaleSample, ScaleSettings};
use crate::backend::error::Result;
use crate::backend::{PartitionLease, PartitionsTable, TaskHub};
use crate::storage::Queue;
use futures::future::try_join_all;
use std::collections::BTreeSet;
use std::time::Duration;
use time::OffsetDateTime;

impl TaskHub {
    /// Samples the queues and partition owners the scale rules look at. Costs one query of
    /// `{Hub}Partitions`, then per queue one Get Queue Metadata and, for a non-empty queue, one
    /// peek: 6 requests for an idle hub of 4 partitions, 11 for a busy one.
    ///
    /// The control queues are the rows of `{Hub}Partitions` (as the reference's scale monitor
    /// counts them), so a hub created with more partitions than this handle's names is sampled
    /// whole. Fails with a not-found storage error when the Partitions table does not exist (no
    /// hub); a missing queue counts as empty.
    pub async fn scale_sample(&self) -> Result<ScaleSample> {
        let names = self.names();
        let leases = PartitionsTable::new(self.storage(), &names.partitions_table())
            .read_all()
            .await?;
        let now = self.clock().now();
        let prefix = format!("{}-control-", names.hub().lowercase());
        let mut control: Vec<String> = leases
            .iter()
            .map(|l| l.partition.clone())
            .filter(|p| p.starts_with(&prefix))
            .collect();
        if control.is_empty() {
            control = names.control_queues();
        }
        let queues = control
            .iter()
            .chain(std::iter::once(&names.work_item_queue()))
            .map(|name| self.storage().queue(name))
            .collect::<Vec<_>>();
        let mut samples = try_join_all(queues.iter().map(|q| sample_queue(q, now))).await?;
        let work_items = samples.pop().unwrap_or_else(|| QueueSample {
            name: names.work_item_queue(),
            length: 0,
            oldest_age: None,
        });
        Ok(ScaleSample {
            control_queues: samples,
            work_items,
            current_workers: live_owners(&leases, now),
        })
    }

    /// [`scale_sample`](TaskHub::scale_sample) and [`recommend`] in one call: what a worker
    /// calls periodically to export [`TARGET_WORKERS_METRIC`](super::TARGET_WORKERS_METRIC)
    /// (with `ScaleSettings::from(&its_options)`), and what `taskhub scale` prints.
    pub async fn recommend_scale(&self, settings: &ScaleSettings) -> Result<ScaleRecommendation> {
        Ok(recommend(&self.scale_sample().await?, settings))
    }
}

/// One queue's count and, when it holds anything, the age of its first visible message.
async fn sample_queue(queue: &Queue, now: OffsetDateTime) -> Result<QueueSample> {
    let length = match queue.approximate_length().await {
        Ok(n) => n,
        Err(e) if e.is_not_found() => 0,
        Err(e) => return Err(e.into()),
    };
    // An empty count is not worth a peek: an idle hub is the common case for a periodic sample,
    // and a message the count missed is seen by the next one.
    let oldest_age = if length == 0 {
        None
    } else {
        match queue.peek(1).await {
            Ok(peeked) => peeked.first().map(|m| age(now, m.inserted_on)),
            Err(e) if e.is_not_found() => None,
            Err(e) => return Err(e.into()),
        }
    };
    Ok(QueueSample {
        name: queue.name().to_string(),
        length,
        oldest_age,
    })
}

/// How long ago `inserted` was; zero if the clocks disagree and it lies ahead.
fn age(now: OffsetDateTime, inserted: OffsetDateTime) -> Duration {
    Duration::try_from(now - inserted).unwrap_or(Duration::ZERO)
}

/// Distinct owners whose lease has not run out.
fn live_owners(leases: &[PartitionLease], now: OffsetDateTime) -> u32 {
    let owners: BTreeSet<&str> = leases
        .iter()
        .filter(|l| l.expires_at.is_some_and(|t| t > now))
        .filter_map(|l| l.current_owner.as_deref())
        .collect();
    u32::try_from(owners.len()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_distinct_unexpired_owners_count() {
        let now = OffsetDateTime::now_utc();
        let lease = |owner: Option<&str>, expires_in_s: i64| PartitionLease {
            current_owner: owner.map(Into::into),
            expires_at: Some(now + time::Duration::seconds(expires_in_s)),
            ..PartitionLease::free("hub-control-00")
        };
        let leases = [
            lease(Some("a"), 10),
            lease(Some("a"), 10),
            lease(Some("b"), 10),
            lease(Some("dead"), -1),
            lease(None, 10),
            PartitionLease::free("hub-control-05"),
        ];
        assert_eq!(live_owners(&leases, now), 2);
        assert_eq!(live_owners(&[], now), 0);
    }

    #[test]
    fn ages_are_never_negative() {
        let now = OffsetDateTime::now_utc();
        assert_eq!(
            age(now, now - time::Duration::milliseconds(1500)),
            Duration::from_millis(1500)
        );
        assert_eq!(age(now, now + time::Duration::seconds(3)), Duration::ZERO);
    }
}
