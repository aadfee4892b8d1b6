//! Benchmarks against a real storage endpoint (the harness Azurite or a given account): how fast,
//! how many storage operations, how much memory. Used by `taskhub bench <scenario>` and
//! `cargo bench --bench scenarios`; never by the tests (timings belong here, not in tests).
//!
//! Each scenario creates its own hub, runs a worker in this process on its own storage client
//! (so the operation counters are the worker's alone), drives the work with a client, and reports
//! wall time, throughput in the Netherite convention (an activity call and its response are two
//! events), storage operations by kind and per activity, and the process's peak RSS.

mod kill;
mod raw;
mod report;
mod scenarios;

use std::sync::Arc;

pub use report::{Percentiles, Report};

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
}

impl Scenario {
    pub const ALL: [Scenario; 7] = [
        Scenario::Sequence,
        Scenario::Fanout,
        Scenario::Hello,
        Scenario::Pipeline,
        Scenario::Idle,
        Scenario::Azurite,
        Scenario::Kill,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Sequence => "sequence",
            Scenario::Fanout => "fanout",
            Scenario::Hello => "hello",
            Scenario::Pipeline => "pipeline",
            Scenario::Idle => "idle",
            Scenario::Azurite => "azurite",
            Scenario::Kill => "kill",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.name() == s)
    }
}

/// How to run a scenario.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub connection_string: String,
    pub partitions: u32,
    pub worker: WorkerOptions,
    /// Size knob: activities (sequence, fanout), orchestrations (hello, kill), seconds (idle).
    pub size: Option<u64>,
    /// The `taskhub` binary, for scenarios that run worker processes (kill).
    pub taskhub_exe: Option<std::path::PathBuf>,
}

/// Why a benchmark could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error(transparent)]
    Storage(#[from] crate::storage::Error),
    #[error(transparent)]
    Backend(#[from] crate::backend::Error),
    #[error(transparent)]
    Client(#[from] crate::client::Error),
    #[error("{0}")]
    Failed(String),
}

/// Runs one scenario and returns its report.
pub async fn run(scenario: Scenario, options: &BenchOptions) -> Result<Report, Error> {
    match scenario {
        Scenario::Azurite => raw::run(options).await,
        Scenario::Kill => kill::run(options).await,
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
    let stamp = time::OffsetDateTime::now_utc().unix_timestamp() % 1_000_000;
    let name = format!("bench{}{}x{stamp}", scenario.name(), std::process::id());
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
