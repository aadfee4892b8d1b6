//! The instance cache: replay state of recently used instances, so a turn does not reload and
//! replay their history.
//!
//! Owns [`Cache`]. An entry is only as good as its cursor: if another worker writes the instance
//! meanwhile, the next commit fails on the sentinel ETag, the entry is gone (a turn takes it out)
//! and the history is reloaded. Three rules keep a stale entry from doing harm without a write
//! (a decision to drop a message, say): entries of a partition are evicted when this worker loses
//! it and again when it (re)acquires it; an entry is only put back while this worker owns the
//! partition under the same acquisition as when its turn began; and a drop decided on a cached
//! entry is confirmed against the sentinel first (`orchestrations.rs`).

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use lru::LruCache;

use crate::backend::HistoryCursor;
use crate::core::entity::EntityState;
use crate::core::OrchestrationExecutor;
use crate::telemetry;

use super::locked;
use super::ownership::Ownership;

/// The replay state of one instance.
pub(crate) enum Replay {
    Orchestration(OrchestrationExecutor),
    Entity(EntityState),
}

struct Entry {
    replay: Replay,
    cursor: HistoryCursor,
    partition: String,
}

/// Least-recently-used cache of instance replay states. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Cache {
    entries: Option<Arc<Mutex<LruCache<String, Entry>>>>,
    ownership: Ownership,
}

impl Cache {
    /// A cache of `capacity` instances (0: no caching).
    pub fn new(capacity: usize, ownership: Ownership) -> Self {
        Cache {
            entries: NonZeroUsize::new(capacity).map(|c| Arc::new(Mutex::new(LruCache::new(c)))),
            ownership,
        }
    }

    /// Takes an instance's state out (the caller owns it during its turn).
    pub fn take(&self, instance_id: &str) -> Option<(Replay, HistoryCursor)> {
        let entries = self.entries.as_ref()?;
        let found = locked(entries)
            .pop(instance_id)
            .map(|e| (e.replay, e.cursor));
        telemetry::cache_lookup(found.is_some());
        found
    }

    /// Puts an instance's state back after a turn, if this worker still owns its partition
    /// under the acquisition `epoch` the turn started in (a partition lost and taken back
    /// meanwhile may have been written by another owner).
    pub fn put(
        &self,
        instance_id: &str,
        partition: &str,
        epoch: Option<u64>,
        replay: Replay,
        cursor: HistoryCursor,
    ) {
        let Some(entries) = &self.entries else {
            return;
        };
        if epoch.is_none() || self.ownership.epoch(partition) != epoch {
            return;
        }
        let entry = Entry {
            replay,
            cursor,
            partition: partition.to_string(),
        };
        let pushed_out = locked(entries).push(instance_id.to_string(), entry);
        // `push` also returns the old entry of the same instance: only another's is an eviction.
        if pushed_out.is_some_and(|(id, _)| id != instance_id) {
            telemetry::cache_eviction();
        }
    }

    /// Drops every entry of a partition.
    pub fn evict_partition(&self, partition: &str) {
        let Some(entries) = &self.entries else {
            return;
        };
        let mut entries = locked(entries);
        let stale: Vec<String> = entries
            .iter()
            .filter(|(_, e)| e.partition == partition)
            .map(|(k, _)| k.clone())
            .collect();
        for k in stale {
            entries.pop(&k);
        }
    }
}
