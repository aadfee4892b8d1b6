//! The purge scenarios: `purge` (a purge by filter of many finished instances, in budgeted
//! calls) and `retention` (a hello run with and without a worker's retention purging old
//! instances beside it), and [`write_finished_instances`], which makes the instances to purge
//! without running them.

use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use serde_json::json;

use super::scenarios::{bench_registry, hello, run_one};
use super::{fresh_hub_tagged, peak_rss_mib, spawn_worker, storage, BenchOptions, Error, Report};
use super::{RunSummary, Scenario};
use crate::backend::{PurgeFilter, SentinelUpdate, TaskHub};
use crate::client::Client;
use crate::core::{EventKind, HistoryEvent, OrchestrationInstance, OrchestrationStatus, Timestamp};
use crate::storage::{EntityExt, TableEntity};
use crate::worker::Retention;

/// Finished instances to write with [`write_finished_instances`].
#[derive(Debug, Clone)]
pub struct FinishedInstances {
    /// Instance ids are this and a six-digit number: `old-000042`.
    pub prefix: String,
    /// How many.
    pub count: u64,
    /// Their final status (also their last history event's).
    pub status: OrchestrationStatus,
    /// When they finished: their `LastUpdatedTime` and `CompletedTime`; `CreatedTime` is a
    /// second earlier.
    pub finished_at: Timestamp,
}

/// Writes finished instances straight to the hub's tables, as if each had returned its input
/// without scheduling anything: an Instances row and a history of one episode (four events plus
/// the sentinel, one transaction), 32 instances at a time. Far quicker than running them, and a
/// purge does the same operations per instance whatever the history's length (one query, one
/// batch delete of up to 100 rows). Fewer rows matter on Azurite, whose inserts and queries scan
/// as the tables grow: 20,000 instances of nine rows each took well over an hour to write.
pub async fn write_finished_instances(
    hub: &TaskHub,
    what: &FinishedInstances,
) -> Result<(), Error> {
    let results = stream::iter(0..what.count)
        .map(|i| {
            let hub = hub.clone();
            let id = format!("{}{i:06}", what.prefix);
            let (status, finished) = (what.status, what.finished_at);
            async move { write_one(&hub, &id, status, finished).await }
        })
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await;
    results.into_iter().collect()
}

async fn write_one(
    hub: &TaskHub,
    id: &str,
    status: OrchestrationStatus,
    finished: Timestamp,
) -> Result<(), Error> {
    let created = finished - Duration::from_secs(1);
    let execution = crate::entropy::uuid().simple().to_string();
    let instance = OrchestrationInstance::new(id, Some(execution.clone()));
    let at = |kind| HistoryEvent::new(created, kind);
    let events = [
        at(EventKind::OrchestratorStarted),
        at(EventKind::ExecutionStarted {
            orchestration_instance: instance,
            name: "BenchSequence".into(),
            version: None,
            input: Some("1".into()),
            parent_instance: None,
            scheduled_start_time: None,
            generation: Some(0),
            tags: None,
        }),
        HistoryEvent::with_id(
            0,
            finished,
            EventKind::ExecutionCompleted {
                status,
                result: Some("1".into()),
                failure_details: None,
            },
        ),
        HistoryEvent::new(finished, EventKind::OrchestratorCompleted),
    ];
    hub.history()
        .append(
            id,
            &execution,
            0,
            &events,
            None,
            SentinelUpdate::at(finished),
        )
        .await?;
    let mut row = TableEntity::new();
    row.put_str("Name", "BenchSequence");
    row.put_str("RuntimeStatus", status.as_str());
    row.put_datetime("CreatedTime", created);
    row.put_datetime("LastUpdatedTime", finished);
    row.put_datetime("CompletedTime", finished);
    row.put_str("ExecutionId", execution);
    row.put_str("Input", "1");
    row.put_str("Output", "1");
    row.put_str("CustomStatus", "null");
    row.put_str("TaskHubName", hub.names().hub().as_str());
    hub.instances().upsert_merge(id, &row).await?;
    Ok(())
}

/// `purge`: N finished instances (default 20,000) created ten days ago and 100 Running ones,
/// then `purge --older-than 7d` in calls of a 5 s budget: per call, how many were deleted and how
/// long it took; in all, instances per second and storage operations per instance.
pub(super) async fn purge(o: &BenchOptions) -> Result<Report, Error> {
    const BUDGET: Duration = Duration::from_secs(5);
    let n = o.size.unwrap_or(20_000);
    let hub = fresh_hub_tagged(o, storage(o)?, Scenario::Purge, "").await?;
    let ten_days_ago = hub.clock().now() - Duration::from_secs(10 * 86_400);
    let write_start = Instant::now();
    for (prefix, count, status) in [
        ("old-", n, OrchestrationStatus::Completed),
        ("live-", 100, OrchestrationStatus::Running),
    ] {
        let what = FinishedInstances {
            prefix: prefix.into(),
            count,
            status,
            finished_at: ten_days_ago,
        };
        write_finished_instances(&hub, &what).await?;
    }
    let write_seconds = write_start.elapsed().as_secs_f64();

    // The purge has a storage client of its own, so its counters are the purge's alone.
    let purge_storage = storage(o)?;
    let client = Client::new(TaskHub::new(purge_storage.clone(), hub.names().clone()));
    let filter = PurgeFilter {
        created_to: Some(hub.clock().now() - Duration::from_secs(7 * 86_400)),
        ..PurgeFilter::default()
    };
    let mut report = Report::new(Scenario::Purge.name());
    let before = purge_storage.counters().snapshot();
    let start = Instant::now();
    let mut token = None;
    let mut deleted = 0;
    let mut call_ms = Vec::new();
    loop {
        let call_start = Instant::now();
        let p = client.purge_page(&filter, BUDGET, token.as_deref()).await?;
        let seconds = call_start.elapsed().as_secs_f64();
        call_ms.push(seconds * 1000.0);
        deleted += p.result.instances_deleted;
        report.runs.push(RunSummary {
            run: report.runs.len() as u32 + 1,
            wall_seconds: seconds,
            counts: [("deleted".to_string(), p.result.instances_deleted)].into(),
            figures: [(
                "instances_per_second".to_string(),
                p.result.instances_deleted as f64 / seconds,
            )]
            .into(),
            what: format!(
                "{:.0} instances/s; {deleted} of {n} so far",
                p.result.instances_deleted as f64 / seconds
            ),
        });
        token = p.continuation;
        if token.is_none() {
            break;
        }
    }
    report.wall_seconds = start.elapsed().as_secs_f64();
    let after = purge_storage.counters().snapshot();
    report.set_ops(&before, &after, None);
    let left = client
        .count(&crate::backend::InstanceQuery::default())
        .await?;
    report.counts.insert("instances_deleted".into(), deleted);
    report.counts.insert("instances_left".into(), left.total);
    report.throughput.insert(
        "instances_per_second".into(),
        deleted as f64 / report.wall_seconds,
    );
    report.throughput.insert(
        "storage_ops_per_instance".into(),
        report.storage_ops_total as f64 / deleted.max(1) as f64,
    );
    if let Some(p) = super::Percentiles::of(call_ms) {
        report.latency.insert("per_call".into(), p);
    }
    report.peak_rss_mib = peak_rss_mib();
    report.notes.push(format!(
        "{n} Completed instances (an Instances row and 5 history rows each) and 100 Running ones \
         written in {write_seconds:.1} s, then purged with a {} s budget per call; the 100 \
         Running ones must be left",
        BUDGET.as_secs()
    ));
    if deleted != n || left.total != 100 {
        return Err(Error::Failed(format!(
            "purged {deleted} of {n}, {} instances left instead of 100",
            left.total
        )));
    }
    delete_hub(&hub, &mut report).await;
    Ok(report)
}

/// `retention`: the hello run (N orchestrations, default 400) four times, each on a fresh hub
/// holding as many instances finished ten days ago, alternately without retention (the ceiling)
/// and with a worker whose retention (`Completed=7d`, 600 a minute: N of them take longer than
/// the run) purges them beside the run. Alternating keeps a drift of the machine's load out of
/// the comparison; the figures are the means of each pair.
pub(super) async fn retention(o: &BenchOptions) -> Result<Report, Error> {
    let n = o.size.unwrap_or(400);
    let old = n;
    let mut report = Report::new(Scenario::Retention.name());
    let rules = Retention::parse("Completed=7d").map_err(|e| Error::Failed(e.to_string()))?;
    let mut rates: [Vec<f64>; 2] = Default::default();
    for round in 0..4 {
        let on = round % 2 == 1;
        let tag = if on { "on" } else { "off" };
        let worker_storage = storage(o)?;
        let hub = fresh_hub_tagged(o, worker_storage.clone(), Scenario::Retention, tag).await?;
        let what = FinishedInstances {
            prefix: "old-".into(),
            count: old,
            status: OrchestrationStatus::Completed,
            finished_at: hub.clock().now() - Duration::from_secs(10 * 86_400),
        };
        write_finished_instances(&hub, &what).await?;
        let client = Client::new(TaskHub::new(storage(o)?, hub.names().clone()));
        let options = crate::worker::WorkerOptions {
            retention: on.then(|| rules.clone()),
            ..o.worker.clone()
        };
        let registry = bench_registry(worker_storage.clone());
        let (stop, handle) = spawn_worker(&hub, registry, &options);
        run_one(&client, "BenchSequence", "warmup", json!(2)).await?;
        let mut run = Report::new("hello");
        let start = Instant::now();
        hello(&client, n, &mut run).await?;
        let wall = start.elapsed().as_secs_f64();
        stop.cancel();
        let _ = handle.await;
        let old_query = crate::backend::InstanceQuery {
            instance_id_prefix: Some("old-".into()),
            ..Default::default()
        };
        let purged = old - client.count(&old_query).await?.total;
        let events = run
            .throughput
            .get("events_per_second")
            .copied()
            .unwrap_or(0.0);
        rates[usize::from(on)].push(events);
        report.runs.push(RunSummary {
            run: round + 1,
            wall_seconds: wall,
            counts: [("old_purged".to_string(), purged)].into(),
            figures: [("events_per_second".to_string(), events)].into(),
            what: format!(
                "retention {tag}: hello {events:.0} events/s, {purged} old purged ({:.0} a minute)",
                purged as f64 * 60.0 / wall
            ),
        });
        report.wall_seconds += wall;
        delete_hub(&hub, &mut report).await;
    }
    for (tag, rates) in ["off", "on"].iter().zip(rates) {
        let mean = rates.iter().sum::<f64>() / rates.len().max(1) as f64;
        report
            .throughput
            .insert(format!("hello_events_per_second_retention_{tag}"), mean);
    }
    report.peak_rss_mib = peak_rss_mib();
    report.notes.push(format!(
        "hello with {n} orchestrations on a hub holding {old} Completed instances finished ten \
         days ago; runs 1 and 3 without retention, 2 and 4 with --retention Completed=7d at the \
         default 600 instances a minute (the hello instances are young and kept); the two \
         throughput figures are the means of those two runs each"
    ));
    Ok(report)
}

async fn delete_hub(hub: &TaskHub, report: &mut Report) {
    if let Err(e) = hub.delete().await {
        report
            .notes
            .push(format!("could not delete the benchmark hub: {e}"));
    }
}
