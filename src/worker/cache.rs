//! The orchestration cache: replay state of recently used instances, so a turn does not reload
//! and replay their history.
//!
//! An entry is only as good as its cursor: if another worker writes the instance meanwhile, the
//! next checkpoint fails on the sentinel ETag, the entry is dropped and the history is reloaded.
//! Entries of a partition this worker loses are dropped too.

use std::collections::HashMap;

use crate::backend::HistoryCursor;
use crate::core::entity::EntityState;
use crate::core::OrchestrationExecutor;

/// The replay state of one instance.
pub(crate) enum Replay {
    Orchestration(OrchestrationExecutor),
    Entity(EntityState),
}

struct Entry {
    replay: Replay,
    cursor: HistoryCursor,
    partition: String,
    last_used: u64,
}

/// Least-recently-used cache of instance replay states (orchestration executors and entity
/// states).
pub struct OrchestrationCache {
    capacity: usize,
    entries: HashMap<String, Entry>,
    tick: u64,
}

impl OrchestrationCache {
    pub fn new(capacity: usize) -> Self {
        OrchestrationCache {
            capacity,
            entries: HashMap::new(),
            tick: 0,
        }
    }

    /// Takes an instance's state out (the caller owns it during its turn).
    pub fn take(&mut self, instance_id: &str) -> Option<(Replay, HistoryCursor)> {
        self.entries
            .remove(instance_id)
            .map(|e| (e.replay, e.cursor))
    }

    /// Puts an instance's state back after a successful turn.
    pub fn put(
        &mut self,
        instance_id: &str,
        partition: &str,
        replay: Replay,
        cursor: HistoryCursor,
    ) {
        if self.capacity == 0 {
            return;
        }
        self.tick += 1;
        if self.entries.len() >= self.capacity && !self.entries.contains_key(instance_id) {
            if let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(k, _)| k.clone())
            {
                self.entries.remove(&oldest);
            }
        }
        self.entries.insert(
            instance_id.to_string(),
            Entry {
                replay,
                cursor,
                partition: partition.to_string(),
                last_used: self.tick,
            },
        );
    }

    /// Drops every entry of a partition.
    pub fn evict_partition(&mut self, partition: &str) {
        self.entries.retain(|_, e| e.partition != partition);
    }
}
