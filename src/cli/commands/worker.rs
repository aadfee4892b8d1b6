//! `taskhub worker`: runs the samples' orchestrations, activities and entities from the hub until
//! SIGINT (Ctrl-C) or SIGTERM, then stops gracefully and exits 0. A second signal while
//! stopping exits at once (code 1), leaving unfinished messages to come back to another worker.

use crate::cli::Context;
use crate::core::{VersionFailure, VersionMatch, VersionPolicy};
use crate::worker::{Retention, Worker, WorkerOptions, MAX_RETENTION_PER_MINUTE};
use anyhow::{Context as _, Result};
use clap::Args;
use std::time::Duration;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio_util::sync::CancellationToken;

fn defaults() -> WorkerOptions {
    WorkerOptions::default()
}

#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// This worker's name in the {Hub}Partitions table (CurrentOwner). Default: host name and
    /// process id. Every worker of a hub needs its own.
    #[arg(long, value_name = "ID")]
    worker_id: Option<String>,

    /// Activities running at once.
    #[arg(long, value_name = "N", default_value_t = defaults().max_concurrent_activities,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=10_000))]
    max_activities: usize,

    /// Activities this worker schedules and runs itself without a queue message, waiting or
    /// running at once; beyond that, requests go to the work-item queue for any worker. 0 sends
    /// every request through the queue, as DurableTask.AzureStorage does: needed when .NET
    /// workers share the hub.
    #[arg(long, value_name = "N", default_value_t = defaults().local_activity_backlog,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(0..=100_000))]
    local_activities: usize,

    /// How long, in milliseconds (0-10000), a turn waits for the local activities it schedules
    /// before it commits: results that come in time go into the same commit, and the
    /// orchestration runs on with them (a sequence of short activities then costs one commit
    /// for many steps). 0 commits at once.
    #[arg(long, value_name = "MS", default_value_t = defaults().local_activity_wait.as_millis() as u64,
          value_parser = clap::value_parser!(u64).range(0..=10_000))]
    local_activity_wait_ms: u64,

    /// Orchestration (and entity) turns running at once.
    #[arg(long, value_name = "N", default_value_t = defaults().max_concurrent_orchestrations,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=10_000))]
    max_orchestrations: usize,

    /// Longest wait between two polls of an empty queue, in milliseconds (10-60000), for the
    /// control queues and the work-item queue alike. Default: 2000 for control queues, 10000
    /// for the work-item queue (work this worker enqueues for itself wakes it at once). Polling
    /// speeds up again as soon as work appears.
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(10..=60_000))]
    max_poll_interval_ms: Option<u64>,

    /// Partition lease duration in seconds (3-300); leases are renewed every third of it. A
    /// crashed worker's partitions are taken over by others after this long.
    #[arg(long, value_name = "SECONDS", default_value_t = defaults().lease_duration.as_secs(),
          value_parser = clap::value_parser!(u64).range(3..=300))]
    lease_seconds: u64,

    /// On SIGINT/SIGTERM, how long running turns and activities may take to finish before the
    /// worker releases what is left and exits.
    #[arg(long, value_name = "SECONDS", default_value_t = defaults().shutdown_grace.as_secs(),
          value_parser = clap::value_parser!(u64).range(0..=3600))]
    shutdown_grace_seconds: u64,

    /// Instances whose replay state is kept in memory between turns (0: reload the history
    /// every turn).
    #[arg(long, value_name = "N", default_value_t = defaults().cache_capacity)]
    cache_size: usize,

    /// How long a message this worker holds stays invisible to others between renewals, in
    /// seconds (5-3600). Everything it holds is renewed every third of this; messages held by a
    /// worker that dies come back within this long.
    #[arg(long, value_name = "SECONDS", default_value_t = defaults().visibility_timeout.as_secs(),
          value_parser = clap::value_parser!(u64).range(5..=3600))]
    visibility_seconds: u64,

    /// Entity operations processed in one batch (one checkpoint).
    #[arg(long, value_name = "N", default_value_t = defaults().max_entity_batch,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=10_000))]
    entity_batch: usize,

    /// A message dequeued this many times without completing is moved to the {hub}-poison
    /// queue, and its instance or task failed.
    #[arg(long, value_name = "N", default_value_t = defaults().poison_dequeue_limit,
          value_parser = clap::value_parser!(u64).range(1..=1000))]
    poison_limit: u64,

    /// This worker's orchestration version (Durable Functions' defaultVersion): instances are
    /// run only if --version-match accepts their version, and orchestrations started through
    /// --http without version= get it. Default: none, and every version runs.
    #[arg(long, value_name = "VERSION")]
    version: Option<String>,

    /// Which instance versions a worker with --version runs: None (all), Strict (its own
    /// only) or CurrentOrOlder (its own and older).
    #[arg(long, value_name = "MATCH", default_value_t = VersionMatch::default())]
    version_match: VersionMatch,

    /// What becomes of an instance this worker must not run (another version, or an
    /// orchestrator it does not register): Reject leaves its messages for a worker that can
    /// run it (a rolling deploy fails nothing); Fail ends it Failed, saying why.
    #[arg(long, value_name = "STRATEGY", default_value_t = VersionFailure::default())]
    version_failure: VersionFailure,

    /// Purge old finished instances in the background: STATUS=AGE rules, comma-separated,
    /// e.g. Completed=7d,Failed=30d,Terminated=7d (ages 30s, 15m, 12h, 7d; counted from when
    /// the instance finished). Statuses without a rule are kept. Only the worker holding
    /// partition 0 purges, so one worker of the hub at a time.
    #[arg(long, value_name = "RULES", value_parser = parse_retention)]
    retention: Option<Retention>,

    /// With --retention: instances looked at per minute at most.
    #[arg(long, value_name = "N", default_value_t = 600, requires = "retention",
          value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_RETENTION_PER_MINUTE)))]
    retention_rate: u32,

    /// With --retention: how long to rest after a pass that left nothing to purge (1s to 1d).
    #[arg(long, value_name = "DURATION", default_value = "60s", requires = "retention",
          value_parser = parse_interval)]
    retention_interval: Duration,

    #[command(flatten)]
    http: super::serve::HttpArgs,
}

fn parse_retention(text: &str) -> Result<Retention, String> {
    Retention::parse(text).map_err(|e| e.to_string())
}

fn parse_interval(text: &str) -> Result<Duration, String> {
    let d = crate::durations::parse_duration(text).map_err(|e| e.to_string())?;
    if d < Duration::from_secs(1) || d > Duration::from_secs(86_400) {
        return Err("must be between 1s and 1d".into());
    }
    Ok(d)
}

impl WorkerArgs {
    fn options(&self) -> WorkerOptions {
        let d = defaults();
        let poll = self.max_poll_interval_ms.map(Duration::from_millis);
        let lease = Duration::from_secs(self.lease_seconds);
        WorkerOptions {
            worker_id: self.worker_id.clone().unwrap_or(d.worker_id),
            max_concurrent_activities: self.max_activities,
            max_concurrent_orchestrations: self.max_orchestrations,
            local_activity_backlog: self.local_activities,
            local_activity_wait: Duration::from_millis(self.local_activity_wait_ms),
            min_poll_interval: poll.map_or(d.min_poll_interval, |p| p.min(d.min_poll_interval)),
            max_poll_interval: poll.unwrap_or(d.max_poll_interval),
            max_activity_poll_interval: poll.unwrap_or(d.max_activity_poll_interval),
            lease_duration: lease,
            lease_renew_interval: lease / 3,
            shutdown_grace: Duration::from_secs(self.shutdown_grace_seconds),
            cache_capacity: self.cache_size,
            poison_dequeue_limit: self.poison_limit,
            visibility_timeout: Duration::from_secs(self.visibility_seconds),
            max_entity_batch: self.entity_batch,
            version: VersionPolicy {
                version: self.version.clone().unwrap_or_default().trim().to_string(),
                matching: self.version_match,
                on_mismatch: self.version_failure,
            },
            retention: self.retention.clone().map(|r| Retention {
                max_per_minute: self.retention_rate,
                interval: self.retention_interval,
                ..r
            }),
            ..d
        }
    }
}

pub async fn run(args: WorkerArgs, ctx: &mut Context) -> Result<()> {
    if args
        .worker_id
        .as_deref()
        .is_some_and(|id| id.trim().is_empty())
    {
        anyhow::bail!("--worker-id is empty");
    }
    // Listen before anything else, so a signal during start-up stops the worker cleanly.
    let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;

    let mut options = args.options();
    if args.http.http.is_some() || args.http.metrics.is_some() {
        // Metrics are served: record from the first lease on (a recorder installed later
        // misses what happened before), and keep the queue gauges and scale signal fresh.
        crate::telemetry::prometheus::install();
        options.queue_sample_interval = Some(std::time::Duration::from_secs(15));
    }
    let hub = ctx.task_hub().await?;
    let hub_name = hub.names().hub().to_string();
    hub.create()
        .await
        .with_context(|| format!("creating task hub {hub_name}"))?;
    let registry = ctx.registry().await?;
    tracing::info!(
        hub = %hub_name,
        orchestrators = %registry.orchestrator_names().join(","),
        activities = %registry.activity_names().join(","),
        entities = %registry.entity_names().join(","),
        version = %options.version.version,
        version_match = %options.version.matching,
        version_failure = %options.version.on_mismatch,
        retention = %options.retention.as_ref().map_or("off".to_string(), |r| r.to_string()),
        "running"
    );
    let grace = options.shutdown_grace;
    let stop = CancellationToken::new();
    let version = options.version.version.clone();
    let running = Worker::new(hub.clone(), registry, options).start()?;
    let health = running.health();
    super::serve::start_beside_worker(&args.http, ctx, &hub, &version, health, stop.clone())
        .await?;

    let name = next_signal(&mut term, &mut int).await;
    tracing::info!(
        "{name} received: stopping (running work has {} s to finish; another signal exits at once)",
        grace.as_secs()
    );
    tokio::select! {
        () = running.stop() => {}
        name = next_signal(&mut term, &mut int) => {
            anyhow::bail!("{name} received again: exiting before running work finished");
        }
    }
    stop.cancel();
    tracing::info!(hub = %hub_name, "worker stopped");
    Ok(())
}

/// Waits for SIGTERM or SIGINT; returns its name.
async fn next_signal(term: &mut Signal, int: &mut Signal) -> &'static str {
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}
