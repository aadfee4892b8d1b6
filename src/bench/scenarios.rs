//! The worker scenarios: sequence, fanout, hello, pipeline, idle.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use serde_json::json;

use super::{
    fresh_hub, peak_rss_mib, spawn_worker, storage, BenchOptions, Error, Percentiles, Report,
    Scenario,
};
use crate::backend::{InstanceQuery, TaskHub};
use crate::client::{Client, StartRequest};
use crate::core::{
    EventKind, Failure, HistoryEvent, OrchestrationContext, OrchestrationStatus, Registry,
};

const WAIT: Duration = Duration::from_secs(600);

/// The benchmark orchestrations, plus the samples (for the pipeline).
pub(super) fn bench_registry(storage: crate::storage::Storage) -> Registry {
    let mut r = crate::samples::registry(&crate::samples::SamplesConfig::new(storage));
    r.add_orchestrator("BenchSequence", |ctx: OrchestrationContext| async move {
        let n: u64 = ctx.input()?;
        for i in 0..n {
            let _: u64 = ctx.call_activity("BenchNoop", i).await?;
        }
        Ok::<_, Failure>(n)
    });
    r.add_orchestrator("BenchFanout", |ctx: OrchestrationContext| async move {
        let n: u64 = ctx.input()?;
        let all = ctx
            .all_of((0..n).map(|i| ctx.call_activity::<u64>("BenchNoop", i)))
            .await;
        let done = all.into_iter().filter(|r| r.is_ok()).count();
        Ok::<_, Failure>(done)
    });
    r.add_activity(
        "BenchNoop",
        |_ctx, i: u64| async move { Ok::<_, Failure>(i) },
    );
    r
}

pub(super) async fn run(scenario: Scenario, o: &BenchOptions) -> Result<Report, Error> {
    let worker_storage = storage(o)?;
    let hub = fresh_hub(o, worker_storage.clone(), scenario).await?;
    let client = Client::new(TaskHub::new(storage(o)?, hub.names().clone()));
    let (stop, handle) = spawn_worker(&hub, bench_registry(worker_storage.clone()), &o.worker);
    // Warm up: partitions owned, connections open, code paths taken once.
    run_one(&client, "BenchSequence", "warmup", json!(2)).await?;

    let before = worker_storage.counters().snapshot();
    let mut report = Report::new(scenario.name());
    let activities = match scenario {
        Scenario::Sequence => sequence(&client, o.size.unwrap_or(100), &mut report).await?,
        Scenario::Fanout => fanout(&client, o.size.unwrap_or(1000), &mut report).await?,
        Scenario::Hello => hello(&client, o.size.unwrap_or(1000), &mut report).await?,
        Scenario::Pipeline => pipeline(&client, &mut report).await?,
        Scenario::Idle => idle(&client, &worker_storage, o.size.unwrap_or(60), &mut report).await?,
        Scenario::Azurite
        | Scenario::Kill
        | Scenario::ChaosAzurite
        | Scenario::ChaosWorkers
        | Scenario::Failover
        | Scenario::Purge
        | Scenario::Retention => {
            // Run by bench::raw, bench::kill, bench::chaos and bench::purge; `bench::run` never
            // sends them here.
            return Err(Error::Failed(format!(
                "{} is not an in-process worker scenario",
                scenario.name()
            )));
        }
    };
    let after = worker_storage.counters().snapshot();
    report.set_ops(&before, &after, activities);
    report.peak_rss_mib = peak_rss_mib();

    stop.cancel();
    let _ = handle.await;
    if let Err(e) = hub.delete().await {
        report
            .notes
            .push(format!("could not delete the benchmark hub: {e}"));
    }
    Ok(report)
}

pub(super) async fn run_one(
    client: &Client,
    name: &str,
    id: &str,
    input: serde_json::Value,
) -> Result<crate::backend::InstanceStatus, Error> {
    client
        .start(StartRequest::new(name).with_id(id).with_input(&input))
        .await?;
    let s = client.wait_for_completion(id, WAIT).await?;
    if s.runtime_status != OrchestrationStatus::Completed {
        return Err(Error::Failed(format!(
            "{name} ended {}: {:?}",
            s.runtime_status, s.output
        )));
    }
    Ok(s)
}

/// Milliseconds between consecutive turns (the time one activity round trip takes).
fn turn_gaps(history: &[HistoryEvent]) -> Vec<f64> {
    let starts: Vec<_> = history
        .iter()
        .filter(|e| matches!(e.kind, EventKind::OrchestratorStarted))
        .map(|e| e.timestamp)
        .collect();
    starts
        .windows(2)
        .map(|w| (w[1] - w[0]).as_seconds_f64() * 1000.0)
        .collect()
}

async fn sequence(client: &Client, n: u64, report: &mut Report) -> Result<Option<u64>, Error> {
    let start = Instant::now();
    run_one(client, "BenchSequence", "sequence", json!(n)).await?;
    report.wall_seconds = start.elapsed().as_secs_f64();
    let history = client.history("sequence").await?;
    if let Some(p) = Percentiles::of(turn_gaps(&history)) {
        report.latency.insert("per_activity".into(), p);
    }
    report.throughput.insert(
        "activities_per_second".into(),
        n as f64 / report.wall_seconds,
    );
    Ok(Some(n))
}

async fn fanout(client: &Client, n: u64, report: &mut Report) -> Result<Option<u64>, Error> {
    let start = Instant::now();
    run_one(client, "BenchFanout", "fanout", json!(n)).await?;
    report.wall_seconds = start.elapsed().as_secs_f64();
    report.throughput.insert(
        "activities_per_second".into(),
        n as f64 / report.wall_seconds,
    );
    report.throughput.insert(
        "events_per_second".into(),
        2.0 * n as f64 / report.wall_seconds,
    );
    Ok(Some(n))
}

pub(super) async fn hello(
    client: &Client,
    n: u64,
    report: &mut Report,
) -> Result<Option<u64>, Error> {
    const ACTIVITIES: u64 = 5;
    let start = Instant::now();
    let started_at = time::OffsetDateTime::now_utc();
    let starts = stream::iter(0..n)
        .map(|i| {
            let c = client.clone();
            async move {
                c.start(
                    StartRequest::new("BenchSequence")
                        .with_id(&format!("hello-{i:05}"))
                        .with_input(&json!(ACTIVITIES)),
                )
                .await
            }
        })
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await;
    for s in starts {
        s?;
    }
    // Wait for each in turn with point reads: a table query per poll would load Azurite (a
    // single thread) far more than the work measured.
    let mut durations = Vec::new();
    let mut last_completed = started_at;
    for i in 0..n {
        let s = client
            .wait_for_completion(&format!("hello-{i:05}"), WAIT)
            .await?;
        if s.runtime_status != OrchestrationStatus::Completed {
            return Err(Error::Failed(format!(
                "hello-{i:05} ended {}",
                s.runtime_status
            )));
        }
        if let (Some(created), Some(done)) = (s.created_time, s.completed_time) {
            durations.push((done - created).as_seconds_f64() * 1000.0);
            last_completed = last_completed.max(done);
        }
    }
    report.wall_seconds = start.elapsed().as_secs_f64();
    let events = (n * ACTIVITIES * 2) as f64;
    report
        .throughput
        .insert("events_per_second".into(), events / report.wall_seconds);
    // The waits above read one instance after another, so once all are done the client still
    // needs n reads to see it — n round trips, which storage latency makes seconds. The rate
    // up to the last completion the worker recorded leaves that out.
    let to_last = (last_completed - started_at).as_seconds_f64();
    if to_last > 0.0 {
        report.throughput.insert(
            "events_per_second_to_last_completion".into(),
            events / to_last,
        );
    }
    if let Some(p) = Percentiles::of(durations) {
        report.latency.insert("orchestration".into(), p);
    }
    report.throughput.insert(
        "orchestrations_per_second".into(),
        n as f64 / report.wall_seconds,
    );
    Ok(Some(n * ACTIVITIES))
}

async fn pipeline(client: &Client, report: &mut Report) -> Result<Option<u64>, Error> {
    let start = Instant::now();
    let input = json!({"rawDataPath": "raw", "numFiles": 10, "numRows": 10});
    run_one(client, "OrchestratorFunc", "pipeline", input).await?;
    report.wall_seconds = start.elapsed().as_secs_f64();
    // Per-step times from the histories of the parent and its sub-orchestrations.
    let mut per_step: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut activities = 0;
    let mut ids = vec!["pipeline".to_string()];
    let q = InstanceQuery {
        instance_id_prefix: Some("pipeline:".into()),
        ..Default::default()
    };
    ids.extend(
        client
            .hub()
            .instances()
            .query_all(&q)
            .await?
            .into_iter()
            .map(|s| s.instance_id),
    );
    for id in ids {
        for (name, ms) in activity_durations(&client.history(&id).await?) {
            activities += 1;
            per_step.entry(name).or_default().push(ms);
        }
    }
    for (name, ms) in per_step {
        if let Some(p) = Percentiles::of(ms) {
            report.latency.insert(format!("step {name}"), p);
        }
    }
    Ok(Some(activities))
}

/// (activity name, milliseconds from scheduled to completed) for each activity of a history.
fn activity_durations(history: &[HistoryEvent]) -> Vec<(String, f64)> {
    let mut scheduled = BTreeMap::new();
    let mut out = Vec::new();
    for e in history {
        if let EventKind::TaskScheduled { name, .. } = &e.kind {
            scheduled.insert(e.event_id, (name.clone(), e.timestamp));
        } else if let Some((name, at)) = e.kind.completes_id().and_then(|id| scheduled.get(&id)) {
            out.push((name.clone(), (e.timestamp - *at).as_seconds_f64() * 1000.0));
        }
    }
    out
}

async fn idle(
    client: &Client,
    worker_storage: &crate::storage::Storage,
    seconds: u64,
    report: &mut Report,
) -> Result<Option<u64>, Error> {
    // Let the pollers settle first: right after work they poll fast and back off over ~3 s.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let before = worker_storage.counters().total();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let ops = worker_storage.counters().total() - before;
    report.wall_seconds = seconds as f64;
    report.throughput.insert(
        "idle_storage_ops_per_minute".into(),
        ops as f64 * 60.0 / seconds.max(1) as f64,
    );
    // Start latency after idling: from the client's start to the first turn.
    let mut waits = Vec::new();
    for i in 0..3 {
        if i > 0 {
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
        let id = format!("idle-start-{i}");
        run_one(client, "BenchSequence", &id, json!(0)).await?;
        let history = client.history(&id).await?;
        let sent = history.iter().find_map(|e| match e.kind {
            EventKind::ExecutionStarted { .. } => Some(e.timestamp),
            _ => None,
        });
        if let (Some(sent), Some(first)) = (sent, history.first()) {
            waits.push((first.timestamp - sent).as_seconds_f64() * 1000.0);
        }
    }
    if let Some(p) = Percentiles::of(waits) {
        report.latency.insert("start_to_first_turn".into(), p);
    }
    report.notes.push(format!(
        "idle_storage_ops_per_minute covers {seconds} s after a 10 s settle; storage_ops below \
         cover the settle, the idle period and the three starts after it"
    ));
    Ok(None)
}
