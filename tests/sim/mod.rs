//! The deterministic simulation harness: several workers and a client in one process, on one
//! thread, on tokio's paused clock, over the in-memory storage account — every random choice
//! drawn from one seed, so a seed names one run and replays it exactly.
//!
//! One run ([`run`]): a hub of 1–4 partitions; 2–3 workers, each with its own storage handle
//! behind a fault layer, its own clock skewed by up to ±1.5 s, and its own limits; a client that
//! starts a dozen instances of the workload's shapes at random times and raises the waiters'
//! events. For the first minutes a chaos loop crashes workers (every task dropped at whatever
//! await point it was), stops them gracefully, starts new ones (partitions move), while the fault
//! layer fails requests, loses answers after applying them, and delays them (leases expire).
//! Then the faults stop and the run waits until every instance is done. Checked after every run:
//! every instance reached its expected status and output; no history event twice and no task
//! completed twice; and, throughout the run (`checker.rs`), nothing deleted before what it
//! caused was stored and only one committer per instance history.

pub mod checker;
pub mod workload;

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use taskhub::backend::{HubNames, TaskHub};
use taskhub::client::{Client, StartRequest};
use taskhub::clock::Clock;
use taskhub::core::{EventKind, OrchestrationStatus};
use taskhub::entropy;
use taskhub::storage::faults::{Fault, FaultPlan, FaultRule, FaultyStorage};
use taskhub::storage::memory::{MemoryOptions, MemoryStorage};
use taskhub::storage::{OpKind, RetryPolicy, Storage, StorageOptions};
use taskhub::worker::{RunningWorker, Worker, WorkerOptions};

use self::checker::Checker;
use self::workload::{Planned, Runs, KINDS};

/// What one run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Hash of every storage change, in order: equal for two runs of one seed.
    pub trace: u64,
    pub changes: u64,
    pub instances: usize,
    pub crashes: u32,
    pub stops: u32,
    pub outages: u32,
    pub starts: u32,
    pub faults: usize,
    pub activity_runs: u64,
    pub repeated_runs: u64,
    pub simulated_seconds: u64,
}

/// Where a run's storage lives.
pub enum Store {
    /// The in-memory account on tokio's paused clock: deterministic, every invariant checked as
    /// each change is applied.
    Memory,
    /// A real Azurite at this connection string, in real time (the same scenario, not
    /// deterministic; outcomes and histories are checked at the end).
    Azurite(String),
}

/// Runs the simulation of `seed` on the in-memory store; `Err` names the seed and what went
/// wrong.
pub fn run(seed: u64) -> Result<Outcome, String> {
    run_on(seed, Store::Memory)
}

/// Runs the simulation of `seed` on `store`.
pub fn run_on(seed: u64, store: Store) -> Result<Outcome, String> {
    let _seeded = entropy::Seeded::install(seed);
    let _log = std::env::var("TASKHUB_SIM_LOG").ok().map(|filter| {
        tracing::subscriber::set_default(
            tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_test_writer()
                .finish(),
        )
    });
    let paused = matches!(store, Store::Memory);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(paused)
        .build()
        .map_err(|e| format!("seed {seed}: no runtime: {e}"))?;
    rt.block_on(simulate(store))
        .map_err(|e| format!("seed {seed}: {e}\n  replay: TASKHUB_SIM_SEED={seed} cargo test --test simulation replay_one_seed -- --nocapture"))
}

/// A random number in `lo..=hi`.
fn pick(lo: u64, hi: u64) -> u64 {
    lo + entropy::below(hi - lo + 1)
}

fn chance(p: f64) -> bool {
    entropy::fraction(0.0, 1.0) < p
}

fn secs(lo: u64, hi: u64) -> Duration {
    Duration::from_millis(pick(lo * 1000, hi * 1000))
}

/// The workers of a run and how to start more.
struct Fleet {
    service: Arc<dyn taskhub::storage::StorageService>,
    account: taskhub::storage::StorageAccount,
    names: HubNames,
    origin: Clock,
    registry: Arc<taskhub::core::Registry>,
    plans: Vec<Arc<FaultPlan>>,
    running: Vec<(String, RunningWorker)>,
    started: u32,
    faults: FaultLevel,
}

#[derive(Debug, Clone, Copy)]
struct FaultLevel {
    fail: f64,
    lose: f64,
    delay: f64,
}

impl Fleet {
    fn storage(&self, plan: Option<&Arc<FaultPlan>>) -> Storage {
        let service: Arc<dyn taskhub::storage::StorageService> = match plan {
            Some(p) => FaultyStorage::new(self.service.clone(), p.clone()),
            None => self.service.clone(),
        };
        let options = StorageOptions {
            retry: RetryPolicy {
                max_attempts: 4,
                max_elapsed: Duration::from_secs(3),
                initial_backoff: Duration::from_millis(50),
                max_backoff: Duration::from_millis(500),
            },
            ..StorageOptions::default()
        };
        Storage::from_service(self.account.clone(), service, options)
    }

    /// A fault plan at this run's level.
    fn plan(&self) -> Arc<FaultPlan> {
        let plan = FaultPlan::new();
        let writes = [
            OpKind::TableBatch,
            OpKind::TableUpsert,
            OpKind::TableUpdate,
            OpKind::TableInsert,
            OpKind::QueuePut,
            OpKind::QueueDelete,
            OpKind::QueueUpdate,
        ];
        let f = self.faults;
        if f.lose > 0.0 {
            plan.add(FaultRule::new(&writes, Fault::LoseResponse).sometimes(f.lose));
        }
        if f.fail > 0.0 {
            plan.add(FaultRule::new(&[], Fault::FailBefore).sometimes(f.fail));
        }
        if f.delay > 0.0 {
            let d = Duration::from_millis(pick(200, 4000));
            plan.add(FaultRule::new(&[], Fault::Delay(d)).sometimes(f.delay));
        }
        plan
    }

    fn start_worker(&mut self) {
        self.started += 1;
        let id = format!("w{}", self.started);
        let plan = self.plan();
        let skew = time::Duration::milliseconds(pick(0, 3000) as i64 - 1500);
        let hub = TaskHub::new(self.storage(Some(&plan)), self.names.clone())
            .with_clock(self.origin.skewed(skew));
        let options = WorkerOptions {
            worker_id: id.clone(),
            max_concurrent_orchestrations: pick(2, 50) as usize,
            max_concurrent_activities: pick(1, 12) as usize,
            control_batch_size: pick(1, 32) as u8,
            control_buffer_limit: 64,
            min_poll_interval: Duration::from_millis(10),
            max_poll_interval: Duration::from_millis(pick(300, 2000)),
            max_activity_poll_interval: Duration::from_millis(pick(300, 3000)),
            visibility_timeout: Duration::from_secs(pick(3, 12)),
            poison_dequeue_limit: 60,
            max_entity_batch: 10,
            cache_capacity: pick(0, 1) as usize * 64,
            lease_duration: Duration::from_secs(15),
            lease_renew_interval: Duration::from_secs(pick(2, 5)),
            shutdown_grace: Duration::from_secs(5),
            // The workload's orchestrators are unversioned and all registered.
            version: Default::default(),
            queue_sample_interval: None,
            // Retention would purge the finished instances whose results the checker reads.
            retention: None,
            // Off, tight (most requests overflow to the work-item queue), and roomy.
            local_activity_backlog: [0, 2, 20, 1000][pick(0, 3) as usize],
            // Commits at once, or waits a little or long for the local activities it runs.
            local_activity_wait: Duration::from_millis([0, 0, 5, 300][pick(0, 3) as usize]),
        };
        let worker = Worker::new(hub, self.registry.clone(), options);
        match worker.start() {
            Ok(w) => {
                self.plans.push(plan);
                self.running.push((id, w));
            }
            Err(e) => panic!("a simulated worker did not start: {e}"),
        }
    }

    /// Takes a random running worker out of the fleet.
    fn take_one(&mut self) -> Option<RunningWorker> {
        if self.running.is_empty() {
            return None;
        }
        let i = entropy::below(self.running.len() as u64) as usize;
        Some(self.running.remove(i).1)
    }
}

async fn simulate(store: Store) -> Result<Outcome, String> {
    let origin_wall = time::macros::datetime!(2026-01-01 00:00 UTC);
    let real = matches!(store, Store::Azurite(_));
    let (origin, service, account, hub, checker) = match store {
        Store::Memory => {
            let origin = Clock::simulated(origin_wall);
            let memory = MemoryStorage::new(
                origin.clone(),
                MemoryOptions {
                    latency: (
                        Duration::from_micros(200),
                        Duration::from_millis(pick(1, 8)),
                    ),
                    max_page: pick(3, 40) as u32,
                },
            );
            let names = HubNames::new("SimHub", pick(1, 4) as u32).map_err(|e| e.to_string())?;
            let checker = Arc::new(Checker::new(names.clone()));
            memory.observe(checker.clone());
            let service: Arc<dyn taskhub::storage::StorageService> = memory;
            (
                origin,
                service,
                MemoryStorage::account(),
                names,
                Some(checker),
            )
        }
        Store::Azurite(connection) => {
            let storage = Storage::connect(&connection).map_err(|e| e.to_string())?;
            let name = format!("Sim{}x{}", std::process::id(), pick(0, 1 << 40));
            let names = HubNames::new(&name, pick(1, 4) as u32).map_err(|e| e.to_string())?;
            let account = storage.account().clone();
            (
                Clock::system(),
                storage.service().clone(),
                account,
                names,
                None,
            )
        }
    };
    let origin_wall = if real { origin.now() } else { origin_wall };
    let names = hub;
    let faults = match pick(0, 9) {
        0..=1 => FaultLevel {
            fail: 0.0,
            lose: 0.0,
            delay: 0.0,
        },
        2..=6 => FaultLevel {
            fail: 0.01,
            lose: 0.01,
            delay: 0.005,
        },
        _ => FaultLevel {
            fail: 0.04,
            lose: 0.03,
            delay: 0.02,
        },
    };
    let runs = Runs::default();
    let mut fleet = Fleet {
        service,
        account,
        names: names.clone(),
        origin: origin.clone(),
        registry: Arc::new(workload::registry(runs.clone())),
        plans: Vec::new(),
        running: Vec::new(),
        started: 0,
        faults,
    };
    let client_hub = TaskHub::new(fleet.storage(None), names.clone()).with_clock(origin.clone());
    client_hub
        .create()
        .await
        .map_err(|e| format!("hub not created: {e}"))?;
    let client = Client::new(client_hub);

    for _ in 0..pick(2, 3) {
        fleet.start_worker();
    }
    let planned: Vec<Planned> = (0..pick(6, 14))
        .map(|i| {
            let kind = KINDS[entropy::below(KINDS.len() as u64) as usize];
            kind.plan(format!("{}-{i}", kind.name().to_lowercase()), pick(0, 100))
        })
        .collect();

    // The client: starts at random times in the first 20 s, events some seconds later.
    let driver = {
        let client = client.clone();
        let planned = planned.clone();
        let mut schedule: Vec<(Duration, usize, bool)> = Vec::new();
        for (i, p) in planned.iter().enumerate() {
            let at = secs(0, 20);
            schedule.push((at, i, false));
            if p.event.is_some() {
                schedule.push((at + secs(0, 40), i, true));
            }
        }
        schedule.sort();
        tokio::spawn(async move {
            let begin = tokio::time::Instant::now();
            for (at, i, is_event) in schedule {
                tokio::time::sleep_until(begin + at).await;
                let p = &planned[i];
                let result = if is_event {
                    let data = p.event.unwrap_or_default().to_string();
                    client.raise_event(&p.id, "go", Some(&data)).await
                } else {
                    let req = StartRequest::new(p.kind.name())
                        .with_id(&p.id)
                        .with_input(&p.input);
                    client.start(req).await.map(|_| ())
                };
                if let Err(e) = result {
                    return Err(format!("client request for '{}' failed: {e}", p.id));
                }
            }
            Ok(())
        })
    };

    // Chaos for a while.
    let mut crashes = 0;
    let mut stops = 0;
    let mut outages = 0;
    let chaos_until = tokio::time::Instant::now() + if real { secs(20, 40) } else { secs(40, 120) };
    let mut stopping = Vec::new();
    while tokio::time::Instant::now() < chaos_until {
        tokio::time::sleep(secs(2, 12)).await;
        match pick(0, 9) {
            0..=2 => {
                if let Some(w) = fleet.take_one() {
                    w.kill();
                    crashes += 1;
                }
            }
            3 if fleet.running.len() > 1 => {
                if let Some(w) = fleet.take_one() {
                    stops += 1;
                    stopping.push(tokio::spawn(w.stop()));
                }
            }
            4..=5 if fleet.running.len() < 4 => fleet.start_worker(),
            6 if !fleet.plans.is_empty() => {
                // An outage: one worker's storage fails every request for a few seconds (a
                // network partition, the service restarting).
                let plan = fleet.plans[entropy::below(fleet.plans.len() as u64) as usize].clone();
                let rule = plan.add(FaultRule::new(&[], Fault::FailBefore));
                outages += 1;
                let length = secs(1, 15);
                tokio::spawn(async move {
                    tokio::time::sleep(length).await;
                    plan.remove(rule);
                });
            }
            _ => {}
        }
        if fleet.running.is_empty() && chance(0.7) {
            fleet.start_worker();
        }
    }
    for p in &fleet.plans {
        p.clear();
    }
    if fleet.running.is_empty() {
        fleet.start_worker();
    }
    match driver.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(e),
        Err(e) => return Err(format!("the client task failed: {e}")),
    }

    // Everything must finish now (leases and locks of crashed workers run out first).
    let patience = Duration::from_secs(if real { 240 } else { 30 * 60 });
    let deadline = tokio::time::Instant::now() + patience;
    let mut pending: Vec<&Planned> = planned.iter().collect();
    while !pending.is_empty() {
        if tokio::time::Instant::now() > deadline {
            let ids: Vec<&str> = pending.iter().map(|p| p.id.as_str()).collect();
            return Err(format!("not finished after {patience:?}: {ids:?}"));
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        let mut still = Vec::new();
        for p in pending {
            match client.status(&p.id, false).await {
                Ok(Some(s)) if s.runtime_status.is_terminal() => {}
                Ok(_) => still.push(p),
                Err(e) => return Err(format!("status of '{}': {e}", p.id)),
            }
        }
        pending = still;
    }
    let simulated = origin.now() - origin_wall;
    for (_, w) in fleet.running.drain(..) {
        w.stop().await;
    }
    for s in stopping {
        let _ = s.await;
    }

    check_outcomes(&client, &planned).await?;
    if let Some(checker) = &checker {
        let violations = checker.violations();
        if !violations.is_empty() {
            return Err(violations.join("; "));
        }
    }
    let (activity_runs, repeated_runs) = runs.totals();
    if real {
        let _ = client.hub().delete().await;
    }
    Ok(Outcome {
        trace: checker.as_ref().map_or(0, |c| c.trace()),
        changes: checker.as_ref().map_or(0, |c| c.changes()),
        instances: planned.len(),
        crashes,
        stops,
        outages,
        starts: fleet.started,
        faults: fleet.plans.iter().map(|p| p.injected().len()).sum(),
        activity_runs,
        repeated_runs,
        simulated_seconds: simulated.whole_seconds() as u64,
    })
}

/// Every instance ended Completed with its expected output, and its history holds no event
/// twice.
async fn check_outcomes(client: &Client, planned: &[Planned]) -> Result<(), String> {
    for p in planned {
        let s = client
            .status(&p.id, false)
            .await
            .map_err(|e| format!("status of '{}': {e}", p.id))?
            .ok_or_else(|| format!("'{}' has no Instances row", p.id))?;
        let output: Option<Value> = s
            .output
            .as_deref()
            .and_then(|o| serde_json::from_str(o).ok());
        if s.runtime_status != OrchestrationStatus::Completed
            || output.as_ref() != Some(&p.expected)
        {
            return Err(format!(
                "'{}' ended {} with {:?}, expected Completed with {}",
                p.id, s.runtime_status, s.output, p.expected
            ));
        }
        let history = client
            .history(&p.id)
            .await
            .map_err(|e| format!("history of '{}': {e}", p.id))?;
        let mut scheduled = std::collections::BTreeSet::new();
        let mut completed = std::collections::BTreeSet::new();
        let mut starts = 0;
        for e in &history {
            if e.kind.is_scheduling() && !scheduled.insert((e.event_type().as_str(), e.event_id)) {
                return Err(format!("'{}' scheduled task {} twice", p.id, e.event_id));
            }
            if let Some(id) = e.kind.completes_id() {
                if !completed.insert(id) {
                    return Err(format!("'{}' completed task {id} twice", p.id));
                }
            }
            if matches!(e.kind, EventKind::ExecutionStarted { .. }) {
                starts += 1;
            }
        }
        if starts != 1 {
            return Err(format!("'{}' has {starts} ExecutionStarted events", p.id));
        }
    }
    Ok(())
}
