//! Which partitions this worker owns right now, as the partition manager last established.
//!
//! Owns [`Ownership`]: a shared read handle for the components that must not work on a partition
//! they no longer own (dequeue loops, the cache, local hand-overs) and the manager's write access.
//! Validity is counted on this process's monotonic clock from before the lease read that
//! confirmed it (see `partitions.rs` and docs/partitions.md).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::locked;

/// The partitions this worker holds. Cheap to clone.
#[derive(Clone, Default)]
pub(crate) struct Ownership {
    inner: Arc<Mutex<BTreeMap<String, Owned>>>,
}

/// One partition this worker listens to.
pub(crate) struct Owned {
    /// Cancelled when the partition's dequeue loop must stop.
    pub stop: CancellationToken,
    /// Our lease surely holds until then (monotonic clock, safety margin included).
    pub valid_until: Instant,
    pub draining_since: Option<Instant>,
    /// Which acquisition this is: state computed under an earlier one may be stale.
    pub epoch: u64,
}

/// A number no earlier acquisition of this process has.
pub(crate) fn next_epoch() -> u64 {
    static EPOCH: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    EPOCH.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

impl Ownership {
    /// True while this worker may take messages of `partition`: owned, not being handed over,
    /// lease still valid.
    pub fn may_dequeue(&self, partition: &str) -> bool {
        locked(&self.inner)
            .get(partition)
            .is_some_and(|o| o.draining_since.is_none() && Instant::now() < o.valid_until)
    }

    /// The acquisition `partition` is under while this worker may dequeue it.
    pub fn epoch(&self, partition: &str) -> Option<u64> {
        locked(&self.inner)
            .get(partition)
            .filter(|o| o.draining_since.is_none() && Instant::now() < o.valid_until)
            .map(|o| o.epoch)
    }

    /// How long this worker surely keeps `partition` (while it may dequeue it): what is left of
    /// its validity, which ends a safety margin before the lease others see.
    pub fn lease_left(&self, partition: &str) -> Option<std::time::Duration> {
        locked(&self.inner)
            .get(partition)
            .filter(|o| o.draining_since.is_none())
            .and_then(|o| o.valid_until.checked_duration_since(Instant::now()))
            .filter(|left| !left.is_zero())
    }

    /// True while this worker owns `partition` at all (draining included).
    pub fn is_listening(&self, partition: &str) -> bool {
        locked(&self.inner).contains_key(partition)
    }

    /// The partitions owned now.
    pub fn partitions(&self) -> Vec<String> {
        locked(&self.inner).keys().cloned().collect()
    }

    /// Runs `f` on the owned partitions (the manager's write access).
    pub fn with<T>(&self, f: impl FnOnce(&mut BTreeMap<String, Owned>) -> T) -> T {
        f(&mut locked(&self.inner))
    }
}
