//! Benchmarks against a real storage endpoint (the harness Azurite or a given account): how fast,
//! how many storage operations, how much memory. Used by `taskhub bench <scenario>` and
//! `cargo bench --bench scenarios`; never by the tests (timings belong here, not in tests).
//!
//! Each scenario creates its own hub, runs a worker in this process on its own storage client
//! (so the operation counters are the worker's alone), drives the work with a client, and reports
//! wall time, throughput in the Netherite convention (an activity call and its response are two
//! events), storage operations by kind and per activity, and the process's peak RSS.
//!
//! `purge` and `retention` (`purge.rs`) measure purging: a purge by filter of many finished
//! instances in budgeted calls, and a hello run beside a worker's retention.
//!
//! The scenarios that break things (`kill`, `chaos-azurite`, `chaos-workers`, `failover`) run
//! real `taskhub worker` processes instead (`processes`) and report what survived: instances
//! completed, lost and with duplicated history events. They fail with [`Error::Lost`], which
//! still carries the report, when anything was lost. The chaos scenarios' knobs are
//! [`ChaosOptions`].
//!
//! With [`BenchOptions::added_rtt`] every scenario reaches storage through a
//! [`LatencyProxy`] per service (`latency_proxy.rs`), which adds that round-trip time to each
//! request: what the figures become on storage with a real network's latency.

mod chaos;
mod kill;
mod latency_proxy;
mod processes;
mod purge;
mod raw;
mod report;
mod scenarios;

use std::sync::Arc;

pub use latency_proxy::{LatencyProxy, StorageProxies};
pub use purge::{write_finished_instances, FinishedInstances};
pub use report::{Percentiles, Report, RunSummary};

use crate::backend::{HubNames, TaskHub};
use crate::storage::{Storage, StorageAccount, StorageOptions};
use crate::worker::{Worker, WorkerOptions};

/// The scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// One orchestration of 100 sequential no-op activities: latency per activity.
    Sequence,
    /// One orchestration of 1,000 parallel no-op activities: activities per second.
    Fanout,
    /// 1,000 orchestrations of 5 sequential no-op activities: events and orchestrations per second.
    Hello,
    /// The sample pipeline, 10 files of 10 rows.
    Pipeline,
    /// An idle worker: storage operations per minute, and how long a start waits for its turn.
    Idle,
    /// The raw rate of the storage operations a turn uses: the ceiling on this machine.
    Azurite,
    /// Two worker processes, one killed midway: every orchestration still completes.
    Kill,
    /// Two worker processes on a disk Azurite of the scenario's own, which is SIGKILLed midway
    /// and restarted on the same ports and data: what survives.
    ChaosAzurite,
    /// Repeated runs of two worker processes, one SIGKILLed at a random (seeded) point.
    ChaosWorkers,
    /// Default timeouts, one worker SIGKILLed: how long its instances take to resume.
    Failover,
    /// 20,000 finished instances purged by filter in budgeted calls: progress per call.
    Purge,
    /// The hello run with and without a worker's retention purging old instances beside it.
    Retention,
}

impl Scenario {
    /// Every scenario, in the order `taskhub bench` lists them.
    pub const ALL: [Scenario; 12] = [
        Scenario::Sequence,
        Scenario::Fanout,
        Scenario::Hello,
        Scenario::Pipeline,
        Scenario::Idle,
        Scenario::Azurite,
        Scenario::Kill,
        Scenario::ChaosAzurite,
        Scenario::ChaosWorkers,
        Scenario::Failover,
        Scenario::Purge,
        Scenario::Retention,
    ];

    /// The scenario's name on the command line, e.g. `chaos-azurite`.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Sequence => "sequence",
            Scenario::Fanout => "fanout",
            Scenario::Hello => "hello",
            Scenario::Pipeline => "pipeline",
            Scenario::Idle => "idle",
            Scenario::Azurite => "azurite",
            Scenario::Kill => "kill",
            Scenario::ChaosAzurite => "chaos-azurite",
            Scenario::ChaosWorkers => "chaos-workers",
            Scenario::Failover => "failover",
            Scenario::Purge => "purge",
            Scenario::Retention => "retention",
        }
    }

    /// Whether the scenario runs an Azurite of its own (and ignores the given connection).
    pub fn own_azurite(self) -> bool {
        self == Scenario::ChaosAzurite
    }

    /// The scenario named `s` (as [`Scenario::name`] writes it), if any.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.name() == s)
    }
}

/// How to run a scenario. Its `Debug` leaves the connection string out (it holds the key).
#[derive(Clone)]
pub struct BenchOptions {
    /// The storage account to run against (ignored by scenarios that run an Azurite of their own).
    pub connection_string: String,
    /// Partitions (control queues) of the scenario's hub.
    pub partitions: u32,
    /// The options of the worker the scenario runs in this process.
    pub worker: WorkerOptions,
    /// Size knob: activities (sequence, fanout), orchestrations (hello, kill, chaos-*,
    /// retention), job monitors (failover), seconds (idle), instances to purge (purge).
    pub size: Option<u64>,
    /// The `taskhub` binary, for scenarios that run worker processes (kill, chaos-*, failover).
    pub taskhub_exe: Option<std::path::PathBuf>,
    /// The knobs of the chaos scenarios.
    pub chaos: ChaosOptions,
    /// Round-trip time added to every storage request by a loopback proxy in front of each
    /// service (`None` or zero: straight to storage). Needs `http` endpoints (Azurite).
    pub added_rtt: Option<std::time::Duration>,
}

impl std::fmt::Debug for BenchOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BenchOptions")
            .field("connection_string", &"<redacted>")
            .field("partitions", &self.partitions)
            .field("worker", &self.worker)
            .field("size", &self.size)
            .field("taskhub_exe", &self.taskhub_exe)
            .field("chaos", &self.chaos)
            .field("added_rtt", &self.added_rtt)
            .finish()
    }
}

/// Knobs of the chaos scenarios; `None` takes the scenario's default.
#[derive(Debug, Clone, Default)]
pub struct ChaosOptions {
    /// Repetitions (chaos-workers: 20).
    pub runs: Option<u32>,
    /// Seed of the random kill points (chaos-workers: from the clock, and reported).
    pub seed: Option<u64>,
    /// How Azurite is stopped midway (chaos-azurite).
    pub azurite_stop: AzuriteStop,
    /// How long Azurite stays down (chaos-azurite: 5 s).
    pub down_seconds: Option<u64>,
    /// How long the instances may take to finish after the disruption, per run (chaos-azurite
    /// 120 s, chaos-workers 180 s, failover 480 s).
    pub deadline_seconds: Option<u64>,
    /// More `taskhub worker` flags for every worker process (`--cache-size 0`, say), to see
    /// what a setting changes.
    pub worker_args: Vec<String>,
}

/// How chaos-azurite stops Azurite.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AzuriteStop {
    /// SIGKILL to Azurite's process group: a crash, nothing saved.
    #[default]
    Kill,
    /// SIGTERM: Azurite saves its databases and exits.
    Term,
}

/// Why a benchmark could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A storage call failed.
    #[error(transparent)]
    Storage(#[from] crate::storage::Error),
    /// The backend failed.
    #[error(transparent)]
    Backend(#[from] crate::backend::Error),
    /// A client call failed.
    #[error(transparent)]
    Client(#[from] crate::client::Error),
    /// The scenario could not run (the message says why).
    #[error("{0}")]
    Failed(String),
    /// The scenario ran, but work was lost (or a worker process died); the report says what.
    #[error("{summary}")]
    Lost {
        /// What was lost, in one line.
        summary: String,
        /// The report of the run.
        report: Box<Report>,
    },
}

impl Error {
    /// The report of a run that lost work, to print even though it failed.
    pub fn report(&self) -> Option<&Report> {
        match self {
            Error::Lost { report, .. } => Some(report),
            _ => None,
        }
    }
}

/// Runs one scenario and returns its report.
pub async fn run(scenario: Scenario, options: &BenchOptions) -> Result<Report, Error> {
    // chaos-azurite puts the proxies in front of the Azurite it starts itself.
    let (proxied, proxies) = if scenario.own_azurite() {
        (options.clone(), None)
    } else {
        through_proxies(options).await?
    };
    let mut result = run_scenario(scenario, &proxied).await;
    drop(proxies);
    if let Some(rtt) = options.added_rtt.filter(|d| !d.is_zero()) {
        let report = match &mut result {
            Ok(report) => Some(report),
            Err(Error::Lost { report, .. }) => Some(report.as_mut()),
            Err(_) => None,
        };
        if let Some(r) = report {
            r.added_rtt_ms = Some(rtt.as_secs_f64() * 1000.0);
            r.notes.push(format!(
                "storage reached through a latency proxy adding {} ms round-trip time",
                rtt.as_millis()
            ));
        }
    }
    result
}

/// `options` with its connection string pointed at latency proxies when it asks for added
/// round-trip time, and the proxies (which stop when dropped).
async fn through_proxies(
    options: &BenchOptions,
) -> Result<(BenchOptions, Option<StorageProxies>), Error> {
    match options.added_rtt.filter(|d| !d.is_zero()) {
        None => Ok((options.clone(), None)),
        Some(rtt) => {
            let proxies = StorageProxies::start(&options.connection_string, rtt).await?;
            let proxied = BenchOptions {
                connection_string: proxies.connection_string().to_string(),
                ..options.clone()
            };
            Ok((proxied, Some(proxies)))
        }
    }
}

async fn run_scenario(scenario: Scenario, options: &BenchOptions) -> Result<Report, Error> {
    match scenario {
        Scenario::Azurite => raw::run(options).await,
        Scenario::Kill => kill::run(options).await,
        Scenario::ChaosAzurite => chaos::azurite::run(options).await,
        Scenario::ChaosWorkers => chaos::workers::run(options).await,
        Scenario::Failover => chaos::failover::run(options).await,
        Scenario::Purge => purge::purge(options).await,
        Scenario::Retention => purge::retention(options).await,
        _ => scenarios::run(scenario, options).await,
    }
}

/// A fresh storage client (its own counters) on the benchmark's account.
fn storage(options: &BenchOptions) -> Result<Storage, Error> {
    let account = StorageAccount::parse(&options.connection_string)?;
    Ok(Storage::new(account, StorageOptions::default())?)
}

/// A new hub for one run, created.
async fn fresh_hub(
    options: &BenchOptions,
    storage: Storage,
    scenario: Scenario,
) -> Result<TaskHub, Error> {
    fresh_hub_tagged(options, storage, scenario, "").await
}

/// A new hub for one run of several (`tag` tells them apart), created.
async fn fresh_hub_tagged(
    options: &BenchOptions,
    storage: Storage,
    scenario: Scenario,
    tag: &str,
) -> Result<TaskHub, Error> {
    let stamp = time::OffsetDateTime::now_utc().unix_timestamp() % 1_000_000;
    // Hub names are letters and digits only: "chaos-workers" becomes "chaosworkers".
    let label: String = format!("{}{tag}", scenario.name())
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    let name = format!("bench{label}{}x{stamp}", std::process::id());
    let names =
        HubNames::new(&name, options.partitions).map_err(|e| Error::Failed(e.to_string()))?;
    let hub = TaskHub::new(storage, names);
    hub.create().await?;
    Ok(hub)
}

/// A worker running in this process until the returned token is cancelled.
fn spawn_worker(
    hub: &TaskHub,
    registry: crate::core::Registry,
    options: &WorkerOptions,
) -> (
    tokio_util::sync::CancellationToken,
    tokio::task::JoinHandle<()>,
) {
    let stop = tokio_util::sync::CancellationToken::new();
    let worker = Worker::new(hub.clone(), Arc::new(registry), options.clone());
    let token = stop.clone();
    let handle = tokio::spawn(async move {
        if let Err(e) = worker.run(token).await {
            tracing::error!(error = %e, "benchmark worker failed");
        }
    });
    (stop, handle)
}

/// Peak resident set size of this process, in MiB (Linux; `None` elsewhere).
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}
