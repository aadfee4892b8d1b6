//! `chaos-azurite`: the storage dies under the workers. An Azurite of the scenario's own, on its
//! disk store (a fresh data directory, free ports), serves two `taskhub worker` processes running
//! N `HelloCities`; when a fifth of them have completed, Azurite's process group gets SIGKILL
//! (`--azurite-stop term`: SIGTERM, a graceful stop), stays down a few seconds while the workers
//! retry, and is started again on the same ports and data directory. Every instance must then be
//! terminal by the deadline with its three greetings, and both workers must still be running.
//!
//! What a SIGKILL does to Azurite's disk store, and why this scenario can lose work that `kill`
//! cannot: Azurite keeps its queue, table, blob and extent metadata in LokiJS databases that live
//! in memory and are written out whole on a 5 s autosave interval (`autosaveInterval: 5000` in
//! `azurite/node_modules/azurite/dist/src/*/persistence/Loki*MetadataStore.js`), and on a
//! graceful close (SIGTERM). A SIGKILL therefore forgets up to 5 s of writes Azurite had already
//! acknowledged — history appends, Instances updates, message puts and deletes — and each
//! database rolls back to its own last save. The scenario measures that directly: how many
//! instances it had reported Completed before the crash are not Completed right after the
//! restart. The workers then hold state ahead of the store (cached replay state, pop receipts,
//! leases); `--worker-arg=--cache-size=0` shows how much of the loss comes from their caches.
//! When work is lost, the notes name the control queues left with old visible messages (a
//! partition whose owner does not read it), and Azurite's data directory is kept.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use super::{progress, secs, verdict, worker_args_note};
use crate::azurite::{Azurite, AzuriteData, AzuriteOptions};
use crate::backend::{InstanceQuery, TaskHub};
use crate::bench::processes::{
    count_completed, greetings, start_all, taskhub_exe, unread_partitions, wait_terminal, Tally,
    Timeouts, WorkerProcess,
};
use crate::bench::{fresh_hub, storage, AzuriteStop, BenchOptions, Error, Report, Scenario};
use crate::client::{Client, StartRequest};
use crate::core::OrchestrationStatus;

const NAME: &str = "chaos-azurite";
/// Short timeouts: messages a worker held when Azurite died, and leases it could not renew,
/// come back within seconds. This scenario counts what is lost, not how long recovery takes.
const TIMEOUTS: Timeouts = Timeouts::SHORT;
/// The crash comes when this share of the instances has completed (in percent).
const CRASH_AT_PERCENT: u64 = 20;
/// Longest wait for that share.
const CRASH_WAIT: Duration = Duration::from_secs(300);
/// A visible control message this old at the deadline has been left unread (the workers' lease
/// and visibility timeouts are 10 s).
const STALE: Duration = Duration::from_secs(30);
/// Longer than Azurite's autosave interval (5 s), so what was written before it is on disk.
const PERSISTED: Duration = Duration::from_secs(7);
/// Attempts at restarting Azurite on its ports (a port can take a moment to be free again).
const RESTART_ATTEMPTS: u32 = 5;

pub(in crate::bench) async fn run(o: &BenchOptions) -> Result<Report, Error> {
    let stamp = time::OffsetDateTime::now_utc().unix_timestamp() % 1_000_000;
    let dir = std::env::temp_dir().join(format!(
        "taskhub-chaos-azurite-{}x{stamp}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let result = crash(o, &dir).await;
    // Kept when work was lost (the report names it), removed after a success or a plain error.
    if !matches!(result, Err(Error::Lost { .. })) {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

async fn crash(o: &BenchOptions, dir: &std::path::Path) -> Result<Report, Error> {
    let exe = taskhub_exe(o, NAME)?;
    let n = o.size.unwrap_or(200);
    let down = Duration::from_secs(o.chaos.down_seconds.unwrap_or(5));
    let deadline = Duration::from_secs(o.chaos.deadline_seconds.unwrap_or(120));
    let stop = o.chaos.azurite_stop;
    let azurite = start_azurite(None, dir).await?;
    let ports = azurite.ports();
    progress(
        NAME,
        format!(
            "Azurite on ports {ports:?}, data in {} (pid {})",
            dir.display(),
            azurite.pid()
        ),
    );
    // Through latency proxies when asked: they reconnect to the restarted Azurite on its ports.
    let (own, _proxies) = crate::bench::through_proxies(&BenchOptions {
        connection_string: azurite.connection_string(),
        ..o.clone()
    })
    .await?;
    let hub = fresh_hub(&own, storage(&own)?, Scenario::ChaosAzurite).await?;
    let client = Client::new(TaskHub::new(storage(&own)?, hub.names().clone()));
    let spawn = |id| {
        WorkerProcess::spawn(
            exe,
            &own.connection_string,
            hub.names(),
            id,
            TIMEOUTS,
            &o.chaos.worker_args,
        )
    };
    let mut workers = [spawn("chaos-azurite-a")?, spawn("chaos-azurite-b")?];
    // Let one autosave pass first: a crash within 5 s of the hub's creation forgets the hub's
    // tables and queues altogether (seen: the Instances table gone after the restart), and this
    // scenario is about the work in flight, not about creating hubs.
    tokio::time::sleep(PERSISTED).await;

    let ids: Vec<String> = (0..n).map(|i| format!("chaos-{i:05}")).collect();
    let start = Instant::now();
    let requests = ids
        .iter()
        .map(|id| StartRequest::new("HelloCities").with_id(id))
        .collect();
    start_all(&client, requests).await?;

    let crash_at = (n * CRASH_AT_PERCENT / 100).max(1) as usize;
    loop {
        if count_completed(&client).await? >= crash_at {
            break;
        }
        if start.elapsed() > CRASH_WAIT {
            return Err(Error::Failed(format!(
                "{crash_at} of {n} instances did not complete within {} s",
                CRASH_WAIT.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let done = InstanceQuery {
        statuses: vec![OrchestrationStatus::Completed],
        ..Default::default()
    };
    let completed_before: HashSet<String> = client
        .hub()
        .instances()
        .query_all(&done)
        .await?
        .into_iter()
        .map(|s| s.instance_id)
        .collect();
    let crashed_at = start.elapsed();
    match stop {
        AzuriteStop::Kill => azurite.kill().await,
        AzuriteStop::Term => azurite.stop().await,
    }
    progress(
        NAME,
        format!(
            "Azurite stopped ({}) at {:.1} s with {} of {n} completed; down for {} s",
            stop_name(stop),
            secs(crashed_at),
            completed_before.len(),
            down.as_secs()
        ),
    );
    tokio::time::sleep(down).await;
    let exited_while_down: Vec<String> = workers
        .iter_mut()
        .filter_map(|w| w.exited().map(|how| format!("{} ({how})", w.id())))
        .collect();

    let restart = Instant::now();
    let azurite = start_azurite(Some(ports), dir).await?;
    let restart_took = restart.elapsed();
    let back_at = start.elapsed();

    // Read at once, before the workers redo anything: what Azurite forgot of what it had said.
    // A read that fails (a table gone) is reported, not fatal: the tally below says what is lost.
    let completed_after_restart = count_completed(&client).await.unwrap_or(0);
    let mut rolled_back = 0u64;
    let mut missing = 0u64;
    let mut unreadable = 0u64;
    for id in &completed_before {
        match client.status(id, false).await {
            Ok(None) => missing += 1,
            Ok(Some(s)) if s.runtime_status != OrchestrationStatus::Completed => rolled_back += 1,
            Ok(Some(_)) => {}
            Err(e) => {
                unreadable += 1;
                tracing::debug!(error = %e, %id, "cannot read the instance after the restart");
            }
        }
    }
    progress(
        NAME,
        format!(
            "Azurite back after {:.1} s; {completed_after_restart} completed now, {rolled_back} \
             of the {} completed before are no longer Completed, {missing} gone; waiting up to {} \
             s",
            secs(restart_took),
            completed_before.len(),
            deadline.as_secs()
        ),
    );

    let open = wait_terminal(&client, &ids, Instant::now() + deadline).await;
    let wall = start.elapsed();
    let want = greetings();
    let tally = Tally::of(&client, &ids, &|_, o| *o == want).await;
    let exited_at_end: Vec<String> = workers
        .iter_mut()
        .filter_map(|w| w.exited().map(|how| format!("{} ({how})", w.id())))
        .collect();
    for w in &mut workers {
        let _ = w.kill().await;
    }

    let mut report = Report::new(NAME);
    report.notes.extend(worker_args_note(o));
    report.wall_seconds = secs(wall);
    let c = &mut report.counts;
    c.insert("orchestrations_started".into(), n);
    tally.record(c);
    c.insert("not_terminal_by_deadline".into(), open as u64);
    c.insert(
        "completed_before_crash".into(),
        completed_before.len() as u64,
    );
    c.insert(
        "completed_right_after_restart".into(),
        completed_after_restart as u64,
    );
    c.insert("rolled_back_by_restart".into(), rolled_back);
    c.insert("missing_after_restart".into(), missing);
    if unreadable > 0 {
        c.insert("unreadable_after_restart".into(), unreadable);
    }
    c.insert("workers_exited".into(), exited_at_end.len() as u64);
    let t = &mut report.throughput;
    t.insert("crashed_after_seconds".into(), secs(crashed_at));
    t.insert("down_seconds".into(), secs(back_at - crashed_at));
    t.insert("restart_seconds".into(), secs(restart_took));
    t.insert("tail_after_restart_seconds".into(), secs(wall - back_at));

    report.notes.push(format!(
        "Azurite on its disk store, stopped with {} when {} of {n} had completed, down {:.1} s \
         (restart included); two `taskhub worker` processes ({})",
        stop_name(stop),
        completed_before.len(),
        secs(back_at - crashed_at),
        TIMEOUTS.describe()
    ));
    if rolled_back + missing > 0 {
        report.notes.push(format!(
            "Azurite forgot acknowledged writes: {rolled_back} instance(s) it had reported \
             Completed were no longer Completed right after the restart, {missing} had no \
             Instances row at all. Its LokiJS store writes each database out every 5 s and on a \
             graceful stop only, so a SIGKILL rolls each back to its last save"
        ));
    } else {
        report.notes.push(
            "nothing Azurite had reported Completed was forgotten by the restart".to_string(),
        );
    }
    if !exited_while_down.is_empty() || !exited_at_end.is_empty() {
        report.notes.push(format!(
            "worker processes exited: {} while Azurite was down, {} by the end",
            list(&exited_while_down),
            list(&exited_at_end)
        ));
    }
    if let Some(d) = tally.detail() {
        report.notes.push(d);
    }
    if !tally.lost.is_empty() {
        for u in unread_partitions(&client, STALE).await {
            report.notes.push(format!("at the deadline {u}"));
        }
    }

    let mut failure = Vec::new();
    if !tally.lost.is_empty() {
        failure.push(format!("{} of {n} orchestrations lost", tally.lost.len()));
    }
    if !exited_at_end.is_empty() {
        failure.push(format!("worker(s) exited: {}", list(&exited_at_end)));
    }
    if failure.is_empty() {
        if let Err(e) = hub.delete().await {
            report
                .notes
                .push(format!("could not delete the benchmark hub: {e}"));
        }
        azurite.stop().await;
    } else {
        // Keep the evidence: the data directory can be served again with
        // `taskhub azurite --data <dir>` to read the stuck instances' histories.
        azurite.stop().await;
        report.notes.push(format!(
            "Azurite's data is kept in {} (hub {})",
            dir.display(),
            hub.names().hub()
        ));
    }
    verdict(report, (!failure.is_empty()).then(|| failure.join("; ")))
}

/// Starts Azurite on its disk store in `dir`, on `ports` (free ones when `None`), retrying a few
/// times on fixed ports in case the old process's are not free yet.
async fn start_azurite(
    ports: Option<(u16, u16, u16)>,
    dir: &std::path::Path,
) -> Result<Azurite, Error> {
    let mut attempt = 1;
    loop {
        let options = AzuriteOptions {
            ports,
            data: AzuriteData::Dir(dir.to_path_buf()),
            watch_parent: true,
            tls: None,
        };
        match Azurite::start(options).await {
            Ok(a) => return Ok(a),
            Err(e) if ports.is_some() && attempt < RESTART_ATTEMPTS => {
                tracing::debug!(error = %e, attempt, "Azurite did not restart yet");
                attempt += 1;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => return Err(Error::Failed(format!("cannot start Azurite: {e}"))),
        }
    }
}

fn stop_name(stop: AzuriteStop) -> &'static str {
    match stop {
        AzuriteStop::Kill => "SIGKILL",
        AzuriteStop::Term => "SIGTERM",
    }
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}
