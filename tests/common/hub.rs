//! A task hub per test with an in-process worker: create the hub on the harness Azurite, run a
//! `Worker` with the test's registry, and hand out a client. Dropping it stops the worker.

use std::sync::Arc;
use std::time::Duration;

use taskhub::backend::{HubNames, TaskHub};
use taskhub::client::Client;
use taskhub::core::Registry;
use taskhub::worker::{Worker, WorkerOptions};
use tokio_util::sync::CancellationToken;

use super::{test_storage, unique_hub_name};

/// A hub with a running worker.
pub struct TestHub {
    pub hub: TaskHub,
    pub client: Client,
    stop: CancellationToken,
    worker: Option<tokio::task::JoinHandle<()>>,
    /// Further in-process workers, each with its own stop token.
    extra: Vec<(CancellationToken, tokio::task::JoinHandle<()>)>,
}

/// Worker options for tests: quick polling and short leases, small limits.
pub fn test_worker_options() -> WorkerOptions {
    WorkerOptions {
        max_poll_interval: Duration::from_millis(200),
        max_activity_poll_interval: Duration::from_millis(200),
        lease_renew_interval: Duration::from_secs(2),
        shutdown_grace: Duration::from_secs(5),
        ..WorkerOptions::default()
    }
}

impl TestHub {
    /// A fresh hub (4 partitions) and a worker running `registry`.
    pub async fn start(prefix: &str, registry: Registry) -> TestHub {
        Self::start_with(prefix, registry, test_worker_options()).await
    }

    pub async fn start_with(prefix: &str, registry: Registry, options: WorkerOptions) -> TestHub {
        let hub = Self::create(prefix).await;
        Self::start_with_hub(hub, registry, options)
    }

    /// A worker on an existing hub.
    pub fn start_with_hub(hub: TaskHub, registry: Registry, options: WorkerOptions) -> TestHub {
        let mut t = TestHub {
            client: Client::new(hub.clone()),
            hub,
            stop: CancellationToken::new(),
            worker: None,
            extra: Vec::new(),
        };
        t.run_worker(registry, options);
        t
    }

    /// A fresh hub without a worker.
    pub async fn create(prefix: &str) -> TaskHub {
        Self::create_with_partitions(prefix, 4).await
    }

    /// A fresh hub with `partitions` control queues, without a worker.
    pub async fn create_with_partitions(prefix: &str, partitions: u32) -> TaskHub {
        let storage = test_storage().await;
        let names = HubNames::new(&unique_hub_name(prefix), partitions).expect("valid hub name");
        let hub = TaskHub::new(storage, names);
        hub.create().await.expect("hub created");
        hub
    }

    /// Starts (another) in-process worker on this hub.
    pub fn run_worker(&mut self, registry: Registry, options: WorkerOptions) {
        let worker = Worker::new(self.hub.clone(), Arc::new(registry), options);
        let stop = self.stop.clone();
        self.worker = Some(tokio::spawn(async move {
            worker.run(stop).await.expect("worker runs");
        }));
    }

    /// Starts another in-process worker; returns its index for `stop_extra`.
    pub fn run_extra_worker(&mut self, registry: Registry, options: WorkerOptions) -> usize {
        let worker = Worker::new(self.hub.clone(), Arc::new(registry), options);
        let stop = CancellationToken::new();
        let token = stop.clone();
        let handle = tokio::spawn(async move {
            worker.run(token).await.expect("worker runs");
        });
        self.extra.push((stop, handle));
        self.extra.len() - 1
    }

    /// Stops an extra worker gracefully and waits for it.
    pub async fn stop_extra(&mut self, index: usize) {
        let (stop, handle) = &mut self.extra[index];
        stop.cancel();
        let _ = handle.await;
    }

    /// Stops the worker gracefully and waits for it.
    pub async fn stop_worker(&mut self) {
        self.stop.cancel();
        if let Some(w) = self.worker.take() {
            let _ = w.await;
        }
        self.stop = CancellationToken::new();
    }
}

impl Drop for TestHub {
    fn drop(&mut self) {
        self.stop.cancel();
        for (stop, _) in &self.extra {
            stop.cancel();
        }
    }
}

/// Partitions per owner, once every lease is owned and none is changing hands.
pub async fn partition_split(hub: &TaskHub) -> Option<std::collections::BTreeMap<String, usize>> {
    let table =
        taskhub::backend::PartitionsTable::new(hub.storage(), &hub.names().partitions_table());
    let leases = table.read_all().await.ok()?;
    let mut counts = std::collections::BTreeMap::new();
    for l in leases {
        if l.next_owner.is_some() || l.is_draining {
            return None;
        }
        *counts.entry(l.current_owner?).or_insert(0) += 1;
    }
    Some(counts)
}

/// Waits until the partitions are split as `expected` (counts per owner, largest first).
pub async fn wait_for_split(
    hub: &TaskHub,
    expected: &[usize],
) -> std::collections::BTreeMap<String, usize> {
    super::wait_until(
        &format!("split {expected:?}"),
        Duration::from_secs(120),
        || async {
            let counts = partition_split(hub).await?;
            let mut sizes: Vec<usize> = counts.values().copied().collect();
            sizes.sort_unstable_by(|a, b| b.cmp(a));
            (sizes == expected).then_some(counts)
        },
    )
    .await
}

/// Writes `count` instances of `status` that finished `age` ago straight to the hub's tables
/// (`bench::write_finished_instances`: an Instances row and five history rows each), ids
/// `{prefix}000000`, `{prefix}000001`, …
pub async fn write_finished(
    hub: &TaskHub,
    prefix: &str,
    count: u64,
    status: taskhub::core::OrchestrationStatus,
    age: Duration,
) {
    let what = taskhub::bench::FinishedInstances {
        prefix: prefix.into(),
        count,
        status,
        finished_at: hub.clock().now() - age,
    };
    taskhub::bench::write_finished_instances(hub, &what)
        .await
        .expect("finished instances written");
}
