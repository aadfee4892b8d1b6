//! `failover`: how long the instances of a dead worker wait, with the workers' default lease and
//! visibility timeouts (no flags). Two `taskhub worker` processes share a hub; once each owns
//! partitions, N `job_monitor` instances start (`--size`, 32: a check activity, a 2 s durable
//! timer and a continue-as-new, over and over, for 30 s — instances that take a while and move
//! every couple of seconds), then a burst of 6 N `HelloCities` (three sequential activities), so
//! that both workers have work queued, dequeued and half done. Once a tenth of the burst has
//! completed, one worker gets SIGKILL.
//!
//! For every instance running at the kill whose partition the dead worker owned just before it
//! (read from the `{Hub}Partitions` table), the *resume time* is how long after the kill it next
//! moved: the first `LastUpdatedTime` after the kill (every turn sets it to the time of its last
//! event; a continue-as-new replaces the history, so the History table cannot be asked
//! afterwards), or its completion. The Instances table is read every half second. The report
//! gives max / p50 / p99 against the goal "lease + 15 s", by kind too; the survivor's own
//! instances give the baseline (their own timer, the queue in front of them). Resume times
//! include up to one 2 s timer of a monitor, and the backlog the survivor works through.
//!
//! Every instance must still complete with its full output; duplicated history events are
//! looked for in each instance's last execution (a monitor's earlier ones are replaced).
//!
//! Expected today: the dead worker's partitions are taken over once its leases expire (30 s),
//! but the messages it had dequeued stay invisible until their visibility timeout (300 s) ends,
//! so the tail is about five minutes. The scenario waits up to `--deadline-seconds` (480).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use time::OffsetDateTime;

use super::{progress, secs, verdict, worker_args_note};
use crate::backend::{InstanceQuery, InstanceStatus, PartitionsTable, TaskHub};
use crate::bench::processes::{
    greetings, start_all, taskhub_exe, wait_spread, wait_terminal, Tally, Timeouts, WorkerProcess,
};
use crate::bench::{fresh_hub, storage, BenchOptions, Error, Percentiles, Report, Scenario};
use crate::client::{Client, StartRequest};
use crate::core::OrchestrationStatus;
use crate::samples::monitor;

const NAME: &str = "failover";
/// The workers' defaults: this scenario is about them.
const TIMEOUTS: Timeouts = Timeouts::DEFAULT;
/// The monitors' durable timer.
const POLLING_INTERVAL_SECONDS: u64 = 2;
/// The simulated job of each monitor completes this long after it started.
const COMPLETES_AFTER_SECONDS: u64 = 30;
/// `HelloCities` started in the burst, per monitor.
const BURST_PER_MONITOR: u64 = 6;
/// The kill comes once this share of the burst has completed (in percent).
const KILL_AT_BURST_PERCENT: u64 = 10;
/// Instance id prefixes, which also tell the kinds apart.
const MONITOR: &str = "failover-monitor-";
const HELLO: &str = "failover-hello-";
/// The goal: every instance of a killed worker moves again within the lease plus this.
const GOAL_SLACK: Duration = Duration::from_secs(15);
/// Longest wait for both workers to own partitions, and then for every instance to run.
const SETTLE_WAIT: Duration = Duration::from_secs(120);
/// How often the Instances table is read after the kill.
const POLL: Duration = Duration::from_millis(500);
/// How often progress is printed while waiting.
const PROGRESS_EVERY: Duration = Duration::from_secs(30);

/// An instance running at the kill.
struct Tracked {
    /// Its partition was the dead worker's.
    on_dead_partition: bool,
    /// A job monitor (else a `HelloCities` of the burst).
    monitor: bool,
    /// When it next moved after the kill.
    resumed_after: Option<Duration>,
}

pub(in crate::bench) async fn run(o: &BenchOptions) -> Result<Report, Error> {
    let exe = taskhub_exe(o, NAME)?;
    let n = o.size.unwrap_or(32);
    let burst = n * BURST_PER_MONITOR;
    let deadline = Duration::from_secs(o.chaos.deadline_seconds.unwrap_or(480));
    let hub = fresh_hub(o, storage(o)?, Scenario::Failover).await?;
    let names = hub.names().clone();
    let client = Client::new(TaskHub::new(storage(o)?, names.clone()));
    let partitions = PartitionsTable::new(client.hub().storage(), &names.partitions_table());
    let ids_of_workers = ["failover-a", "failover-b"];
    let mut workers = Vec::new();
    for id in ids_of_workers {
        workers.push(WorkerProcess::spawn(
            exe,
            &o.connection_string,
            &names,
            id,
            TIMEOUTS,
            &o.chaos.worker_args,
        )?);
    }
    let start = Instant::now();

    // Both workers owning partitions first, so the kill takes some but not all of them.
    let balanced = wait_spread(&partitions, &ids_of_workers, SETTLE_WAIT).await?;
    let balanced_after = start.elapsed();
    progress(
        NAME,
        format!(
            "{} after {:.1} s; starting {n} job monitors",
            if balanced {
                "both workers own partitions"
            } else {
                "the partitions did not spread over both workers"
            },
            secs(balanced_after)
        ),
    );

    let monitors: Vec<String> = (0..n).map(|i| format!("{MONITOR}{i:04}")).collect();
    let hellos: Vec<String> = (0..burst).map(|i| format!("{HELLO}{i:05}")).collect();
    let requests = monitors
        .iter()
        .map(|id| {
            let input = json!({
                "jobId": id,
                "pollingIntervalSeconds": POLLING_INTERVAL_SECONDS,
                // Far beyond the deadline: a monitor that waited five minutes must still find
                // its job Completed, not expire.
                "expirySeconds": 3600,
                "completesAfterSeconds": COMPLETES_AFTER_SECONDS,
            });
            StartRequest::new(monitor::ORCHESTRATOR)
                .with_id(id)
                .with_input(&input)
        })
        .collect();
    start_all(&client, requests).await?;
    let started = Instant::now();
    wait_running(&client, n as usize).await?;
    // A few timer rounds, so every monitor is in its loop, on both workers.
    tokio::time::sleep(Duration::from_secs(3 * POLLING_INTERVAL_SECONDS)).await;
    // The burst, and the kill while both workers are in the middle of it.
    let requests = hellos
        .iter()
        .map(|id| StartRequest::new("HelloCities").with_id(id))
        .collect();
    start_all(&client, requests).await?;
    let kill_at = (burst * KILL_AT_BURST_PERCENT / 100).max(1) as usize;
    let hellos_done = InstanceQuery {
        statuses: vec![OrchestrationStatus::Completed],
        instance_id_prefix: Some(HELLO.into()),
        ..Default::default()
    };
    let burst_began = Instant::now();
    while client
        .hub()
        .instances()
        .query_all(&hellos_done)
        .await?
        .len()
        < kill_at
    {
        if burst_began.elapsed() > SETTLE_WAIT {
            return Err(Error::Failed(format!(
                "{kill_at} of {burst} HelloCities did not complete within {} s",
                SETTLE_WAIT.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ids: Vec<String> = monitors.iter().chain(&hellos).cloned().collect();

    // Who owns what just before the kill.
    let leases = partitions.read_all().await?;
    let owned = |w: &str| {
        leases
            .iter()
            .filter(|l| l.current_owner.as_deref() == Some(w))
            .count()
    };
    let victim = if owned(ids_of_workers[1]) > owned(ids_of_workers[0]) {
        1
    } else {
        0
    };
    let victim_id = ids_of_workers[victim];
    let dead_partitions: HashSet<String> = leases
        .iter()
        .filter(|l| l.current_owner.as_deref() == Some(victim_id))
        .map(|l| l.partition.clone())
        .collect();
    if dead_partitions.is_empty() {
        return Err(Error::Failed(format!(
            "neither worker owns a partition after {} s",
            secs(start.elapsed()) as u64
        )));
    }
    let mut tracked: HashMap<String, Tracked> = all_instances(&client)
        .await?
        .into_iter()
        .filter(|s| !s.runtime_status.is_terminal())
        .map(|s| {
            let on_dead_partition =
                dead_partitions.contains(&names.control_queue_for(&s.instance_id));
            let monitor = s.instance_id.starts_with(MONITOR);
            (
                s.instance_id,
                Tracked {
                    on_dead_partition,
                    monitor,
                    resumed_after: None,
                },
            )
        })
        .collect();
    let on_dead = tracked.values().filter(|t| t.on_dead_partition).count();
    let killed_at_time = OffsetDateTime::now_utc();
    workers[victim].kill().await?;
    let killed = Instant::now();
    let killed_after = killed - started;
    progress(
        NAME,
        format!(
            "SIGKILLed {victim_id} ({} of {} partitions, {on_dead} running instances on them; {} \
             running on the survivor's); waiting up to {} s",
            dead_partitions.len(),
            names.partition_count(),
            tracked.len() - on_dead,
            deadline.as_secs()
        ),
    );

    // Until every tracked instance has moved and every instance is terminal, or the deadline.
    let mut next_progress = killed + PROGRESS_EVERY;
    let mut terminal = 0;
    loop {
        match all_instances(&client).await {
            Ok(all) => {
                terminal = all
                    .iter()
                    .filter(|s| s.runtime_status.is_terminal())
                    .count();
                for s in &all {
                    let Some(t) = tracked.get_mut(&s.instance_id) else {
                        continue;
                    };
                    if t.resumed_after.is_none() {
                        t.resumed_after = moved_after(s, killed_at_time);
                    }
                }
            }
            Err(e) => tracing::debug!(error = %e, "cannot read the instances"),
        }
        let waiting = tracked
            .values()
            .filter(|t| t.resumed_after.is_none())
            .count();
        if waiting == 0 && terminal == ids.len() {
            break;
        }
        if killed.elapsed() >= deadline {
            break;
        }
        if Instant::now() >= next_progress {
            let dead_waiting = tracked
                .values()
                .filter(|t| t.on_dead_partition && t.resumed_after.is_none())
                .count();
            progress(
                NAME,
                format!(
                    "{:.0} s after the kill: {} of {on_dead} instances of the dead worker's \
                     partitions moved again; {terminal} of {} finished",
                    secs(killed.elapsed()),
                    on_dead - dead_waiting,
                    ids.len()
                ),
            );
            next_progress += PROGRESS_EVERY;
        }
        tokio::time::sleep(POLL).await;
    }
    // Whatever is still running has the rest of the deadline to finish.
    let open = wait_terminal(&client, &ids, killed + deadline).await;
    let tail = killed.elapsed();
    let greetings = greetings();
    let expected = |id: &str, o: &Value| {
        if !id.starts_with(MONITOR) {
            return *o == greetings;
        }
        o.get("jobId").and_then(Value::as_str) == Some(id)
            && o.get("status").and_then(Value::as_str) == Some("Completed")
            && o.get("checks")
                .and_then(Value::as_u64)
                .is_some_and(|c| c >= 1)
    };
    let tally = Tally::of(&client, &ids, &expected).await;
    let survivor_exited = workers[1 - victim].exited();
    for w in &mut workers {
        let _ = w.kill().await;
    }

    let lease = TIMEOUTS.lease();
    let goal = lease + GOAL_SLACK;
    // Resume times of the instances on the dead (or the surviving) worker's partitions, of one
    // kind or (None) of both.
    let resumes = |dead: bool, monitor: Option<bool>| -> Vec<Duration> {
        tracked
            .values()
            .filter(|t| t.on_dead_partition == dead && monitor.is_none_or(|m| t.monitor == m))
            .filter_map(|t| t.resumed_after)
            .collect()
    };
    let dead_resumes = resumes(true, None);
    let survivor_resumes = resumes(false, None);
    let not_resumed = on_dead - dead_resumes.len();
    let over_goal = dead_resumes.iter().filter(|d| **d > goal).count() + not_resumed;

    let mut report = Report::new(NAME);
    report.notes.extend(worker_args_note(o));
    report.wall_seconds = secs(start.elapsed());
    let c = &mut report.counts;
    c.insert("orchestrations_started".into(), ids.len() as u64);
    c.insert("job_monitors_started".into(), n);
    c.insert("hello_cities_started".into(), burst);
    tally.record(c);
    c.insert("not_terminal_by_deadline".into(), open as u64);
    c.insert("partitions".into(), u64::from(names.partition_count()));
    c.insert(
        "partitions_of_the_killed_worker".into(),
        dead_partitions.len() as u64,
    );
    c.insert("instances_on_killed_partitions".into(), on_dead as u64);
    c.insert(
        "instances_on_survivor_partitions".into(),
        (tracked.len() - on_dead) as u64,
    );
    c.insert("killed_instances_not_resumed".into(), not_resumed as u64);
    c.insert("killed_instances_over_goal".into(), over_goal as u64);
    // Not the goal's subject, but a tail all the same: an activity of a survivor's instance
    // that the dead worker had taken from the shared work-item queue.
    let survivor_over_goal = survivor_resumes.iter().filter(|d| **d > goal).count()
        + (tracked.len() - on_dead - survivor_resumes.len());
    c.insert(
        "survivor_instances_over_goal".into(),
        survivor_over_goal as u64,
    );
    let t = &mut report.throughput;
    t.insert("lease_seconds".into(), secs(lease));
    t.insert("visibility_seconds".into(), secs(TIMEOUTS.visibility()));
    t.insert("goal_seconds".into(), secs(goal));
    t.insert(
        "killed_after_monitors_started_seconds".into(),
        secs(killed_after),
    );
    t.insert("tail_after_kill_seconds".into(), secs(tail));
    let ms = |v: &[Duration]| v.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
    if let Some(p) = Percentiles::of(ms(&dead_resumes)) {
        t.insert("resume_max_seconds".into(), p.max_ms / 1000.0);
        t.insert("resume_p50_seconds".into(), p.p50_ms / 1000.0);
        t.insert("resume_p99_seconds".into(), p.p99_ms / 1000.0);
        report
            .latency
            .insert("resume after kill, killed worker's".into(), p);
    }
    for (kind, monitor) in [("monitors", true), ("HelloCities", false)] {
        if let Some(p) = Percentiles::of(ms(&resumes(true, Some(monitor)))) {
            report
                .latency
                .insert(format!("resume after kill, killed worker's {kind}"), p);
        }
    }
    if let Some(p) = Percentiles::of(ms(&survivor_resumes)) {
        t.insert("survivor_resume_max_seconds".into(), p.max_ms / 1000.0);
        report
            .latency
            .insert("next move after kill, survivor's".into(), p);
    }

    report.notes.push(format!(
        "two `taskhub worker` processes ({}); {n} job monitors ({POLLING_INTERVAL_SECONDS} s \
         timer, job done after {COMPLETES_AFTER_SECONDS} s), then {burst} HelloCities; \
         {victim_id} SIGKILLed {:.1} s after the monitors started, with {kill_at}+ of the \
         HelloCities completed, owning {} of {} partitions ({})",
        TIMEOUTS.describe(),
        secs(killed_after),
        dead_partitions.len(),
        names.partition_count(),
        if balanced {
            "both workers owned partitions"
        } else {
            "the partitions had not spread over both workers"
        }
    ));
    let max = dead_resumes.iter().max().copied();
    report.notes.push(format!(
        "goal: every instance of the killed worker moves again within lease + {} s = {} s: {}; \
         {} of {on_dead} resumed within it, max {}",
        GOAL_SLACK.as_secs(),
        goal.as_secs(),
        if over_goal == 0 { "met" } else { "missed" },
        on_dead - over_goal,
        max.map_or_else(|| "-".to_string(), |m| format!("{:.1} s", secs(m)))
    ));
    let mut buckets: BTreeMap<u64, usize> = BTreeMap::new();
    for d in &dead_resumes {
        // Ten-second buckets show the two populations: the lease takeover and the visibility
        // timeout of the messages the dead worker held.
        *buckets.entry(d.as_secs() / 10 * 10).or_default() += 1;
    }
    if !buckets.is_empty() {
        let b: Vec<String> = buckets
            .iter()
            .map(|(s, k)| format!("{s}-{} s: {k}", s + 10))
            .collect();
        report.notes.push(format!(
            "resume times of the killed worker's instances: {}",
            b.join(", ")
        ));
    }
    if survivor_over_goal > 0 {
        report.notes.push(format!(
            "{survivor_over_goal} instance(s) of the survivor's own partitions also waited longer \
             than {} s (max {:.1} s): work of theirs the dead worker held",
            goal.as_secs(),
            survivor_resumes.iter().max().map_or(0.0, |d| secs(*d))
        ));
    }
    if let Some(d) = tally.detail() {
        report.notes.push(d);
    }

    let mut failure = Vec::new();
    if !tally.lost.is_empty() {
        failure.push(format!("{} of {n} orchestrations lost", tally.lost.len()));
    }
    if let Some(how) = survivor_exited {
        failure.push(format!("the surviving worker exited ({how})"));
    }
    if failure.is_empty() {
        if let Err(e) = hub.delete().await {
            report
                .notes
                .push(format!("could not delete the benchmark hub: {e}"));
        }
    } else {
        report
            .notes
            .push(format!("hub {} kept for inspection", names.hub()));
    }
    verdict(report, (!failure.is_empty()).then(|| failure.join("; ")))
}

/// Waits until `n` instances are Running.
async fn wait_running(client: &Client, n: usize) -> Result<(), Error> {
    let begin = Instant::now();
    loop {
        let running = all_instances(client)
            .await?
            .iter()
            .filter(|s| s.runtime_status == OrchestrationStatus::Running)
            .count();
        if running >= n {
            return Ok(());
        }
        if begin.elapsed() > SETTLE_WAIT {
            return Err(Error::Failed(format!(
                "only {running} of {n} job monitors were running after {} s",
                SETTLE_WAIT.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn all_instances(client: &Client) -> Result<Vec<InstanceStatus>, Error> {
    Ok(client
        .hub()
        .instances()
        .query_all(&InstanceQuery::default())
        .await?)
}

/// How long after `kill` the instance moved, if this read shows it moved since: its latest turn's
/// time, or its completion. Read every [`POLL`] while instances move every couple of seconds,
/// that latest turn is the first one after the kill.
fn moved_after(s: &InstanceStatus, kill: OffsetDateTime) -> Option<Duration> {
    [s.last_updated_time, s.completed_time]
        .into_iter()
        .flatten()
        .filter(|t| *t > kill)
        .min()
        .and_then(|t| Duration::try_from(t - kill).ok())
}
