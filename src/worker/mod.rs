//! The worker: runs orchestrations and activities out of a task hub.
//!
//! `WorkerOptions` → [`Worker::new`] → [`Worker::run`] until a shutdown token is cancelled. Inside:
//! the partition manager (`partitions.rs`) leases control queues and starts one dequeue loop per
//! owned queue; orchestration sessions (`orchestrations.rs`) run turns with a bounded
//! concurrency and keep replay state in the cache (`cache.rs`); the activity dispatcher
//! (`activities.rs`) serves the shared work-item queue. Pollers back off when idle
//! (`poller.rs`) and are woken at once by work this worker enqueues for itself.
//!
//! Stopping: no new work is taken, running turns and activities get `shutdown_grace` to finish,
//! activities still running are abandoned (made visible again), partitions are released at once.

mod activities;
mod cache;
mod entities;
mod finishing;
mod local;
mod options;
mod orchestrations;
mod partitions;
mod poller;

use std::collections::HashMap;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{Mutex as AsyncMutex, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use options::{default_worker_id, WorkerOptions};

use crate::backend::{ActivityWorkItem, HistoryCursor, TaskHub};
use crate::core::Registry;

use self::cache::{OrchestrationCache, Replay};
use self::orchestrations::Session;
use self::partitions::{Ownership, PartitionManager};
use self::poller::Wakers;

/// State shared by the worker's tasks.
pub(crate) struct Shared {
    hub: TaskHub,
    registry: Arc<Registry>,
    options: WorkerOptions,
    cache: Mutex<OrchestrationCache>,
    wakers: Wakers,
    sessions: Mutex<HashMap<String, Session>>,
    /// Control messages held by sessions (bounded by `control_buffer_limit`).
    buffered: AtomicUsize,
    orchestration_slots: Arc<Semaphore>,
    activity_slots: Arc<Semaphore>,
    /// Sessions and activities in flight.
    tracker: TaskTracker,
    /// Cancelled when the worker stops taking work.
    stopping: CancellationToken,
    ownership: Mutex<Ownership>,
    running_activities: Mutex<HashMap<String, Arc<AsyncMutex<ActivityWorkItem>>>>,
    /// Keeps each instance's checkpoint finishes in turn order.
    finishing: finishing::FinishOrder,
}

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    fn cache_take(&self, id: &str) -> Option<(Replay, HistoryCursor)> {
        locked(&self.cache).take(id)
    }

    fn cache_put(&self, id: &str, partition: &str, replay: Replay, cur: HistoryCursor) {
        locked(&self.cache).put(id, partition, replay, cur);
    }

    fn cache_evict_partition(&self, partition: &str) {
        locked(&self.cache).evict_partition(partition);
    }

    fn ownership(&self) -> MutexGuard<'_, Ownership> {
        locked(&self.ownership)
    }

    /// True while a session of an instance of `partition` holds messages or runs, or the
    /// checkpoint finish of one of its turns is in flight.
    fn has_sessions_of(&self, partition: &str) -> bool {
        let names = self.hub.names();
        let of_partition = |id: &str| names.control_queue_for(id) == partition;
        locked(&self.sessions).keys().any(|id| of_partition(id)) || self.finishing.any(of_partition)
    }

    fn running_activities_insert(&self, key: &str, item: Arc<AsyncMutex<ActivityWorkItem>>) {
        locked(&self.running_activities).insert(key.to_string(), item);
    }

    fn running_activities_remove(&self, key: &str) {
        locked(&self.running_activities).remove(key);
    }
}

/// Errors that stop a worker from starting.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("invalid worker options: {0}")]
    InvalidOptions(String),
    #[error(transparent)]
    Backend(#[from] crate::backend::Error),
}

/// A worker for one task hub.
pub struct Worker {
    hub: TaskHub,
    registry: Arc<Registry>,
    options: WorkerOptions,
}

impl Worker {
    pub fn new(hub: TaskHub, registry: Arc<Registry>, options: WorkerOptions) -> Self {
        Worker {
            hub,
            registry,
            options,
        }
    }

    /// Runs until `shutdown` is cancelled, then stops gracefully.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), Error> {
        let o = &self.options;
        if o.max_concurrent_activities == 0 || o.max_concurrent_orchestrations == 0 {
            return Err(Error::InvalidOptions(
                "concurrency limits must be at least 1".into(),
            ));
        }
        if !(1..=32).contains(&o.control_batch_size) {
            return Err(Error::InvalidOptions(
                "control batch size must be 1 to 32".into(),
            ));
        }
        let stopping = CancellationToken::new();
        let shared = Arc::new(Shared {
            hub: self.hub.clone(),
            registry: self.registry.clone(),
            cache: Mutex::new(OrchestrationCache::new(o.cache_capacity)),
            wakers: Wakers::default(),
            sessions: Mutex::new(HashMap::new()),
            buffered: AtomicUsize::new(0),
            orchestration_slots: Arc::new(Semaphore::new(o.max_concurrent_orchestrations)),
            activity_slots: Arc::new(Semaphore::new(o.max_concurrent_activities)),
            tracker: TaskTracker::new(),
            stopping: stopping.clone(),
            ownership: Mutex::new(Ownership::default()),
            running_activities: Mutex::new(HashMap::new()),
            finishing: Default::default(),
            options: self.options.clone(),
        });
        tracing::info!(worker = %o.worker_id, hub = %self.hub.names().hub(), partitions = self.hub.names().partition_count(), "worker starting");

        let manager_stop = CancellationToken::new();
        let manager = tokio::spawn(PartitionManager::new(shared.clone()).run(manager_stop.clone()));
        let activities = tokio::spawn(activities::dispatch_loop(shared.clone(), stopping.clone()));

        shutdown.cancelled().await;
        tracing::info!(worker = %o.worker_id, "stopping: finishing running work");
        stopping.cancel();
        let _ = activities.await;
        // The manager waits for in-flight turns of its partitions, then releases them.
        manager_stop.cancel();
        let _ = manager.await;
        shared.tracker.close();
        if tokio::time::timeout(o.shutdown_grace, shared.tracker.wait())
            .await
            .is_err()
        {
            abandon_running_activities(&shared).await;
        }
        tracing::info!(worker = %o.worker_id, "stopped");
        Ok(())
    }
}

/// Activities still running at the end of the grace period: make their messages visible again
/// so another worker runs them now rather than after the visibility timeout.
async fn abandon_running_activities(shared: &Shared) {
    let running: Vec<_> = locked(&shared.running_activities)
        .values()
        .cloned()
        .collect();
    for item in running {
        let mut item = item.lock().await;
        if let Err(e) = shared
            .hub
            .abandon_message(&mut item.message, Duration::ZERO)
            .await
        {
            tracing::debug!(error = %e, "could not abandon a running activity");
        }
    }
    tracing::warn!("stopped with activities still running; their messages were released");
}
