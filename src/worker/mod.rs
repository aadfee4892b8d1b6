//! The worker: runs orchestrations, activities and entities out of a task hub, speaking to it
//! only through the backend's [`OrchestrationService`] seam.
//!
//! `WorkerOptions` → [`Worker::new`] → [`Worker::run`] until a shutdown token is cancelled (or
//! [`Worker::start`] → [`RunningWorker::stop`] / [`RunningWorker::kill`]). Its components own
//! their state and talk through handles; `run` wires them:
//! - the partition manager (`partitions.rs`) leases control queues and asks `dequeue.rs` to listen
//!   to the ones it owns; `ownership.rs` is what it established;
//! - dequeue loops hand each instance's messages to its session (`sessions.rs`); the orchestration
//!   dispatcher (`orchestrations.rs`) runs the sessions' turns, entities in `entities.rs`;
//! - the activity dispatcher (`activities.rs`) serves the shared work-item queue and the requests
//!   this worker hands itself (`handoff.rs`, `local.rs`);
//! - the finisher (`finishing.rs`) completes checkpoints beside the next turn, in turn order;
//! - the cache (`cache.rs`) keeps replay state; the lock keeper (`locks.rs`) keeps every held
//!   message hidden while it is worked on; pollers (`poller.rs`) back off when idle and are woken
//!   by work this worker enqueues for itself;
//! - the queue sampler (`sampler.rs`), when asked for, turns queue depths and the scale signal
//!   into metrics;
//! - retention (`retention.rs`, the policy in `retention_policy.rs`) purges old finished
//!   instances in the background, from the worker holding partition 0 only;
//! - `tasks.rs` spawns everything, so a stop can wait and a kill can drop it all.
//!
//! Stopping: no new work is taken, running turns and activities get `shutdown_grace` to finish,
//! partitions are released, and messages still held are made visible again at once.

mod activities;
mod cache;
mod dequeue;
mod entities;
mod finishing;
mod handoff;
mod inline_activities;
mod local;
mod local_tasks;
mod locks;
mod options;
mod orchestrations;
mod outcomes;
mod ownership;
mod partitions;
mod poison;
mod poller;
mod retention;
mod retention_policy;
mod row_coalescing;
mod sampler;
mod sessions;
mod spans;
mod tasks;
mod versions;

use crate::telemetry::Health;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use options::{default_worker_id, WorkerOptions};
pub use retention_policy::{Retention, RetentionError, MAX_RETENTION_PER_MINUTE};

use crate::backend::OrchestrationService;
use crate::core::Registry;

use self::activities::Activities;
use self::cache::Cache;
use self::dequeue::ControlQueues;
use self::entities::Entities;
use self::finishing::Finisher;
use self::handoff::{ActivityInbox, ActivitySlots};
use self::local::Local;
use self::locks::Locks;
use self::orchestrations::Orchestrations;
use self::ownership::Ownership;
use self::partitions::PartitionManager;
use self::poller::Wakers;
use self::retention::RetentionPurger;
use self::sessions::Sessions;
use self::tasks::Tasks;

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Errors that stop a worker from starting.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A setting of [`WorkerOptions`] cannot work (the message names it).
    #[error("invalid worker options: {0}")]
    InvalidOptions(String),
    /// The backend (storage) failed while the worker started.
    #[error(transparent)]
    Backend(#[from] crate::backend::Error),
}

/// A worker for one task hub.
pub struct Worker {
    service: Arc<dyn OrchestrationService>,
    registry: Arc<Registry>,
    options: WorkerOptions,
}

impl Worker {
    /// A worker of the hub `service` serves (a [`TaskHub`](crate::backend::TaskHub)).
    pub fn new(
        service: impl OrchestrationService,
        registry: Arc<Registry>,
        options: WorkerOptions,
    ) -> Self {
        Self::with_service(Arc::new(service), registry, options)
    }

    /// A worker over a shared service handle.
    pub fn with_service(
        service: Arc<dyn OrchestrationService>,
        registry: Arc<Registry>,
        options: WorkerOptions,
    ) -> Self {
        Worker {
            service,
            registry,
            options,
        }
    }

    /// Creates the hub if it is missing, runs until `shutdown` is cancelled, then stops
    /// gracefully.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), Error> {
        self.options.validate().map_err(Error::InvalidOptions)?;
        self.service.create_hub_if_missing().await?;
        let running = self.start()?;
        shutdown.cancelled().await;
        running.stop().await;
        Ok(())
    }

    /// Starts the worker's tasks (inside a tokio runtime) and returns a handle to stop it. The
    /// hub must exist ([`Worker::run`] creates it).
    pub fn start(self) -> Result<RunningWorker, Error> {
        self.options.validate().map_err(Error::InvalidOptions)?;
        let o = Arc::new(self.options);
        let service = self.service;
        tracing::info!(worker = %o.worker_id, hub = %service.names().hub(), partitions = service.names().partition_count(), "worker starting");

        let tasks = Tasks::default();
        let ownership = Ownership::default();
        let locks = Locks::default();
        let wakers = Wakers::default();
        let (sessions, ready) = Sessions::new();
        let (inbox, held) = ActivityInbox::new();
        let slots = ActivitySlots::new(o.max_concurrent_activities);
        let cache = Cache::new(o.cache_capacity, ownership.clone());
        let finisher = Finisher::new(service.clone(), tasks.clone());
        let local_tasks = local_tasks::LocalTasks::new(o.local_activity_backlog);
        let local = Local {
            sessions: sessions.clone(),
            inbox,
            slots: slots.clone(),
            ownership: ownership.clone(),
            wakers: wakers.clone(),
            locks: locks.clone(),
            names: service.names().clone(),
            clock: service.clock().clone(),
            tasks: local_tasks.clone(),
        };
        let entities = Entities {
            service: service.clone(),
            registry: self.registry.clone(),
            options: o.clone(),
            cache: cache.clone(),
            local: local.clone(),
        };
        let orchestrations = Arc::new(Orchestrations {
            service: service.clone(),
            registry: self.registry.clone(),
            options: o.clone(),
            sessions: sessions.clone(),
            cache: cache.clone(),
            local: local.clone(),
            finisher: finisher.clone(),
            entities,
            tasks: tasks.clone(),
            slots: Arc::new(Semaphore::new(o.max_concurrent_orchestrations)),
        });
        let activities = Arc::new(Activities {
            service: service.clone(),
            registry: self.registry.clone(),
            options: o.clone(),
            slots,
            local,
            tasks: tasks.clone(),
        });

        let stopping = CancellationToken::new();
        let manager_stop = CancellationToken::new();
        let lifetime = CancellationToken::new();
        let control = ControlQueues {
            service: service.clone(),
            options: o.clone(),
            sessions: sessions.clone(),
            ownership: ownership.clone(),
            locks: locks.clone(),
            wakers,
            tasks: tasks.clone(),
        };
        let manager_ownership = ownership.clone();
        if let Some(policy) = o.retention.clone() {
            let purger = RetentionPurger {
                service: service.clone(),
                ownership: ownership.clone(),
                policy,
            };
            let span = tracing::info_span!("retention", worker = %o.worker_id);
            tasks.spawn(
                "retention",
                tracing::Instrument::instrument(purger.run(stopping.clone()), span),
            );
        }
        let manager = PartitionManager {
            service: service.clone(),
            options: o.clone(),
            ownership,
            control,
            cache,
            sessions,
            finisher,
            local_tasks,
            stopping: stopping.clone(),
            loops: Default::default(),
            last_renewal: Default::default(),
        };
        // Each long-running component holds a guard while it runs: readiness (`/readyz`) turns
        // false when one ends, panics or is aborted.
        let health = Health::new();
        let watched = |name: &'static str, fut| {
            let guard = health.running(name);
            async move {
                let _running = guard;
                fut.await
            }
        };
        tasks.spawn(
            "orchestration dispatcher",
            watched(
                "orchestration dispatcher",
                Box::pin(orchestrations.clone().dispatch(ready)) as BoxFuture,
            ),
        );
        tasks.spawn("held activities", activities.clone().run_held(held));
        let poll = tasks.spawn(
            "activity poller",
            watched(
                "activity poller",
                Box::pin(activities.clone().poll(stopping.clone())),
            ),
        );
        let keeper = locks
            .clone()
            .run(service.clone(), o.visibility_timeout, lifetime.clone());
        tasks.spawn("lock keeper", watched("lock keeper", Box::pin(keeper)));
        if let Some(every) = o.queue_sample_interval {
            let sampler = sampler::QueueSampler {
                service: service.clone(),
                ownership: manager_ownership.clone(),
                options: o.clone(),
                every,
            };
            tasks.spawn("queue sampler", sampler.run(lifetime.clone()));
        }
        let manager = tasks.spawn(
            "partition manager",
            watched(
                "partition manager",
                Box::pin(manager.run(manager_stop.clone())),
            ),
        );
        Ok(RunningWorker {
            service,
            ownership: manager_ownership,
            options: o,
            tasks,
            locks,
            stopping,
            manager_stop,
            lifetime,
            poll,
            manager,
            health,
        })
    }
}

/// A component's future, boxed so [`Health`] guards of different components share one wrapper.
type BoxFuture = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// A started worker.
pub struct RunningWorker {
    service: Arc<dyn OrchestrationService>,
    ownership: Ownership,
    options: Arc<WorkerOptions>,
    tasks: Tasks,
    locks: Locks,
    stopping: CancellationToken,
    manager_stop: CancellationToken,
    lifetime: CancellationToken,
    poll: JoinHandle<()>,
    manager: JoinHandle<()>,
    health: Health,
}

impl RunningWorker {
    /// Stops gracefully: takes no new work, lets running work finish within the grace period,
    /// releases the partitions, and makes what is still held visible again at once.
    pub async fn stop(self) {
        let o = &self.options;
        tracing::info!(worker = %o.worker_id, "stopping: finishing running work");
        self.stopping.cancel();
        let _ = self.poll.await;
        // The manager waits for in-flight turns of its partitions, then releases them.
        self.manager_stop.cancel();
        let _ = self.manager.await;
        self.tasks.close();
        if tokio::time::timeout(o.shutdown_grace, self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("stopped with work still running; its messages were released");
        }
        self.lifetime.cancel();
        self.locks.release_all(&self.service).await;
        self.tasks.abort_all();
        tracing::info!(worker = %o.worker_id, "stopped");
    }

    /// Stops at once, as a crash would: every task is dropped wherever it is, nothing is
    /// released (leases expire, held messages reappear when their locks end).
    pub fn kill(self) {
        self.tasks.abort_all();
    }

    /// The worker's components for readiness checks (`HttpOptions::health`): the partition
    /// manager, the orchestration dispatcher, the activity poller and the lock keeper, each
    /// marked stopped when it ends.
    pub fn health(&self) -> Health {
        self.health.clone()
    }

    /// How many of the worker's tasks have panicked (each is logged as an error; a dequeue loop
    /// is started again).
    pub fn task_panics(&self) -> u64 {
        self.tasks.panics()
    }

    /// Messages this worker holds right now.
    pub fn held_messages(&self) -> usize {
        self.locks.len()
    }

    /// The partitions (control queues) this worker may take messages from right now: owned,
    /// not being handed over, lease surely valid.
    pub fn partitions(&self) -> Vec<String> {
        let o = &self.ownership;
        o.partitions()
            .into_iter()
            .filter(|p| o.may_dequeue(p))
            .collect()
    }
}
