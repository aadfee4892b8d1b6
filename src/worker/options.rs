//! Worker settings, with the defaults a single worker on a laptop wants.

use std::time::Duration;

use crate::backend::ScaleSettings;
use crate::core::VersionPolicy;

use super::retention_policy::Retention;

/// How a worker behaves. Every field has a documented default (`WorkerOptions::default()`).
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Stable, readable id in the Partitions table: host name and process id by default.
    pub worker_id: String,
    /// Orchestration turns running at once (default 100).
    pub max_concurrent_orchestrations: usize,
    /// Activities running at once (default 16).
    pub max_concurrent_activities: usize,
    /// Control-queue messages taken per dequeue (1–32, default 32).
    pub control_batch_size: u8,
    /// Control-queue messages held in memory across partitions before dequeuing pauses
    /// (default 256).
    pub control_buffer_limit: usize,
    /// Shortest wait between polls of an empty queue (default 10 ms).
    pub min_poll_interval: Duration,
    /// Longest wait between polls of an empty control queue (default 2 s). Work this worker
    /// enqueues for itself wakes it at once; this bounds how long a start from another process
    /// waits, and what an idle worker costs (about 120 queue reads a minute for 4 partitions).
    pub max_poll_interval: Duration,
    /// Longest wait between polls of an empty work-item queue (default 10 s). Activities this
    /// worker schedules run at once (or wake it when all its slots are busy), so only work left
    /// by other workers waits on this.
    pub max_activity_poll_interval: Duration,
    /// How long a message this worker takes stays invisible to others between renewals
    /// (default 30 s). Every message the worker holds — in a session, running as an activity,
    /// waiting for a slot — is renewed every third of this, so if the worker dies its messages
    /// reappear within this long.
    pub visibility_timeout: Duration,
    /// A message taken this many times is moved to the poison queue (default 10).
    pub poison_dequeue_limit: u64,
    /// Entity operations processed in one batch, i.e. one checkpoint (default 100).
    pub max_entity_batch: usize,
    /// Instances whose replay state is kept between turns (default 4,096).
    pub cache_capacity: usize,
    /// Partition leases: duration (default 30 s), how often they are renewed and balanced
    /// (default 10 s).
    pub lease_duration: Duration,
    /// How often partition leases are renewed and rebalanced (default 10 s).
    pub lease_renew_interval: Duration,
    /// On stop, how long running work may take to finish (default 30 s).
    pub shutdown_grace: Duration,
    /// The worker's version, which instance versions it runs, and what becomes of the
    /// instances it must not run (another version's, or an orchestrator it does not register).
    /// Default: no version (every version runs); an unregistered orchestrator's messages are
    /// left for a worker that registers it.
    pub version: VersionPolicy,
    /// How often the worker samples queue depths, message ages and the scale signal into its
    /// metrics (`taskhub_control_queue_*` for the partitions it owns, `taskhub_workitem_queue_*`,
    /// `taskhub_target_workers`). `None` (the default): never. `taskhub worker` samples every
    /// 15 s when it serves `--http` or `--metrics`. A sample costs 6–11 storage requests for 4
    /// partitions (`backend::scale`).
    pub queue_sample_interval: Option<Duration>,
    /// Purge old finished instances in the background (`None`, the default: never). Only the
    /// worker holding partition 0 purges, at most `max_per_minute` instances a minute.
    pub retention: Option<Retention>,
    /// Activities this worker schedules and runs itself without a queue message, waiting or
    /// running at once (default 1,000): their history rows and one wake-up message per
    /// instance are their durable record (docs/checkpoint.md). Requests beyond it go to the
    /// work-item queue for any worker. 0 sends every request through the queue, as
    /// DurableTask.AzureStorage does — required when .NET workers share the hub.
    pub local_activity_backlog: usize,
    /// How long a turn waits for the local activities it schedules before it commits, so that
    /// results that come in time go into the same commit and the orchestration runs on
    /// (default 20 ms; 0 commits at once; `inline_activities.rs`). Activities still running
    /// then are recorded as local tasks as usual. A crash before the commit runs the turn and
    /// its activities again, as any crash before a result is stored does.
    pub local_activity_wait: Duration,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        WorkerOptions {
            worker_id: default_worker_id(),
            max_concurrent_orchestrations: 100,
            max_concurrent_activities: 16,
            control_batch_size: 32,
            control_buffer_limit: 256,
            min_poll_interval: Duration::from_millis(10),
            max_poll_interval: Duration::from_secs(2),
            max_activity_poll_interval: Duration::from_secs(10),
            visibility_timeout: Duration::from_secs(30),
            poison_dequeue_limit: 10,
            max_entity_batch: 100,
            cache_capacity: 4096,
            lease_duration: Duration::from_secs(30),
            lease_renew_interval: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(30),
            version: VersionPolicy::default(),
            queue_sample_interval: None,
            retention: None,
            local_activity_backlog: 1000,
            local_activity_wait: Duration::from_millis(20),
        }
    }
}

impl WorkerOptions {
    /// Checks every setting, naming the first that cannot work.
    pub fn validate(&self) -> Result<(), String> {
        let secs = |d: Duration| d.as_secs_f64();
        let within = |name: &str, d: Duration, lo: Duration, hi: Duration| {
            if d < lo || d > hi {
                Err(format!(
                    "{name} must be between {}s and {}s, not {}s",
                    secs(lo),
                    secs(hi),
                    secs(d)
                ))
            } else {
                Ok(())
            }
        };
        const MS: Duration = Duration::from_millis(1);
        const SECOND: Duration = Duration::from_secs(1);
        const DAY: Duration = Duration::from_secs(24 * 3600);
        if self.worker_id.trim().is_empty() {
            return Err("the worker id is empty".into());
        }
        if self.max_concurrent_activities == 0 || self.max_concurrent_orchestrations == 0 {
            return Err("concurrency limits must be at least 1".into());
        }
        if !(1..=32).contains(&self.control_batch_size) {
            return Err("control batch size must be 1 to 32".into());
        }
        if self.control_buffer_limit == 0 || self.max_entity_batch == 0 {
            return Err("the control buffer and the entity batch must hold at least 1".into());
        }
        if let Some(every) = self.queue_sample_interval {
            within("the queue sample interval", every, SECOND, DAY)?;
        }
        if self.local_activity_wait > Duration::from_secs(10) {
            return Err("the local activity wait must be at most 10s".into());
        }
        if self.poison_dequeue_limit == 0 {
            return Err("the poison dequeue limit must be at least 1".into());
        }
        within("the minimum poll interval", self.min_poll_interval, MS, DAY)?;
        within(
            "the maximum poll interval",
            self.max_poll_interval,
            self.min_poll_interval,
            DAY,
        )?;
        within(
            "the maximum activity poll interval",
            self.max_activity_poll_interval,
            self.min_poll_interval,
            DAY,
        )?;
        within(
            "the visibility timeout",
            self.visibility_timeout,
            3 * SECOND,
            DAY,
        )?;
        within("the lease duration", self.lease_duration, SECOND, DAY)?;
        if self.lease_renew_interval.is_zero() || self.lease_renew_interval >= self.lease_duration {
            return Err("the lease renew interval must be above 0 and below the lease".into());
        }
        if let Some(r) = &self.retention {
            r.validate().map_err(|e| format!("retention: {e}"))?;
        }
        within(
            "the shutdown grace",
            self.shutdown_grace,
            Duration::ZERO,
            DAY,
        )?;
        Ok(())
    }
}

/// What the scale rules need to know of a worker: its concurrency limits and longest poll
/// intervals (limits above `u32::MAX` saturate).
impl From<&WorkerOptions> for ScaleSettings {
    fn from(o: &WorkerOptions) -> Self {
        let limit = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        ScaleSettings {
            max_orchestrations: limit(o.max_concurrent_orchestrations),
            max_activities: limit(o.max_concurrent_activities),
            control_poll_interval: o.max_poll_interval,
            work_item_poll_interval: o.max_activity_poll_interval,
        }
    }
}

/// `host-pid`, e.g. `build-7f3a-12345`.
pub fn default_worker_id() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_string())
                .filter(|h| !h.is_empty())
        })
        .unwrap_or_else(|| "worker".to_string());
    format!("{host}-{}", std::process::id())
}
