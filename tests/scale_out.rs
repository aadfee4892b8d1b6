//! Many workers on one hub, as real `taskhub worker` processes (the built binary) against the
//! harness Azurite: balancing, failover after SIGKILL, hand-over on SIGTERM, and no split brain.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use common::cli::{Cli, WorkerProcess};
use common::hub::{wait_for_split, TestHub};
use taskhub::backend::TaskHub;
use taskhub::client::{Client, StartRequest};
use taskhub::core::{EventKind, HistoryEvent, OrchestrationStatus};

const WAIT: Duration = Duration::from_secs(120);

/// A `taskhub worker` process with this worker id on `hub`.
async fn spawn(hub: &TaskHub, id: &str, extra: &[&str]) -> WorkerProcess {
    let cli = Cli::for_hub(hub).await;
    let mut args = vec!["--worker-id", id];
    args.extend(extra);
    cli.spawn_worker(&args)
}

/// No event appears twice in a history: one scheduling event per id, one completion per id.
fn assert_no_duplicates(id: &str, history: &[HistoryEvent]) {
    let mut scheduled = HashSet::new();
    let mut completed = HashSet::new();
    for e in history {
        if e.kind.is_scheduling() {
            assert!(
                scheduled.insert(e.event_id),
                "{id}: {} #{} twice",
                e.event_type(),
                e.event_id
            );
        }
        if let Some(t) = e.kind.completes_id() {
            assert!(completed.insert(t), "{id}: completion of {t} twice");
        }
        if let EventKind::ExecutionStarted { .. } = e.kind {
            assert!(scheduled.insert(-100), "{id}: ExecutionStarted twice");
        }
    }
}

async fn start_many(client: &Client, prefix: &str, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let id = format!("{prefix}-{i:03}");
        client
            .start(StartRequest::new("HelloCities").with_id(&id))
            .await
            .unwrap();
        ids.push(id);
    }
    ids
}

async fn all_completed_correctly(client: &Client, ids: &[String]) {
    for id in ids {
        let s = client.wait_for_completion(id, WAIT).await.unwrap();
        assert_eq!(
            s.runtime_status,
            OrchestrationStatus::Completed,
            "{id}: {s:?}"
        );
        assert_eq!(
            s.output.as_deref(),
            Some("[\"Hello Tokyo!\",\"Hello Seattle!\",\"Hello London!\"]"),
            "{id}"
        );
        assert_no_duplicates(id, &client.history(id).await.unwrap());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_split_partitions_evenly_and_a_new_worker_takes_its_share() {
    let hub = TestHub::create("procsplit").await;
    let _w1 = spawn(&hub, "w1", &[]).await;
    let _w2 = spawn(&hub, "w2", &[]).await;
    let _w3 = spawn(&hub, "w3", &[]).await;
    wait_for_split(&hub, &[2, 1, 1]).await;
    let _w4 = spawn(&hub, "w4", &[]).await;
    wait_for_split(&hub, &[1, 1, 1, 1]).await;

    let hub16 = TestHub::create_with_partitions("procsplit16", 16).await;
    let _a = spawn(&hub16, "a", &[]).await;
    let _b = spawn(&hub16, "b", &[]).await;
    let _c = spawn(&hub16, "c", &[]).await;
    wait_for_split(&hub16, &[6, 5, 5]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_is_taken_over_and_every_orchestration_completes_once() {
    let hub = TestHub::create("prockill").await;
    let client = Client::new(hub.clone());
    let visibility = ["--visibility-seconds", "10"];
    let mut doomed = spawn(&hub, "doomed", &visibility).await;
    let _survivor = spawn(&hub, "survivor", &visibility).await;
    wait_for_split(&hub, &[2, 2]).await;
    let ids = start_many(&client, "k", 200).await;
    // Kill one worker in the middle of the run: some instances done, most in flight.
    common::wait_until("some progress", WAIT, || async {
        let q = taskhub::backend::InstanceQuery {
            statuses: vec![OrchestrationStatus::Completed],
            ..Default::default()
        };
        let done = client.hub().instances().query_all(&q).await.ok()?.len();
        (done >= 20).then_some(())
    })
    .await;
    doomed.signal(libc::SIGKILL);
    doomed.wait_exit(Duration::from_secs(10));
    // The survivor takes over the dead worker's partitions once their leases expire.
    let counts = wait_for_split(&hub, &[4]).await;
    assert!(counts.contains_key("survivor"));
    all_completed_correctly(&client, &ids).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_hands_partitions_over_within_seconds() {
    let hub = TestHub::create("procterm").await;
    // A long lease: a hand-over that waited for expiry would take 60 s.
    let long = ["--lease-seconds", "60"];
    let mut leaving = spawn(&hub, "leaving", &long).await;
    let _staying = spawn(&hub, "staying", &long).await;
    wait_for_split(&hub, &[2, 2]).await;
    let start = Instant::now();
    leaving.signal(libc::SIGTERM);
    let exit = leaving
        .wait_exit(Duration::from_secs(20))
        .and_then(|s| s.code());
    assert_eq!(exit, Some(0), "{}", leaving.log());
    let counts = wait_for_split(&hub, &[4]).await;
    assert!(counts.contains_key("staying"));
    let took = start.elapsed();
    assert!(
        took < Duration::from_secs(30),
        "hand-over took {took:?}, not a lease expiry"
    );
    assert!(
        leaving.log().contains("partition released"),
        "{}",
        leaving.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_started_together_never_both_process_a_partition() {
    let hub = TestHub::create("procrace").await;
    let client = Client::new(hub.clone());
    let ids = start_many(&client, "r", 40).await;
    let a = spawn(&hub, "racer-a", &[]).await;
    let b = spawn(&hub, "racer-b", &[]).await;
    all_completed_correctly(&client, &ids).await;
    wait_for_split(&hub, &[2, 2]).await;
    // From the logs: no partition was ever held by both at the same time.
    let periods = |w: &WorkerProcess| -> Vec<(String, f64, f64)> {
        let mut open: BTreeMap<String, f64> = BTreeMap::new();
        let mut out = Vec::new();
        let log = w.log();
        for line in log.lines() {
            let Some(t) = line.split_whitespace().next().and_then(|t| {
                time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
            }) else {
                continue;
            };
            let t = t.unix_timestamp_nanos() as f64 / 1e9;
            let Some(p) = line
                .split("partition=")
                .nth(1)
                .and_then(|r| r.split_whitespace().next())
                .map(|p| p.trim_matches('"').to_string())
            else {
                continue;
            };
            if line.contains("partition acquired") {
                open.insert(p, t);
            } else if line.contains("partition released") || line.contains("partition lost") {
                if let Some(from) = open.remove(&p) {
                    out.push((p, from, t));
                }
            }
        }
        out.extend(open.into_iter().map(|(p, from)| (p, from, f64::INFINITY)));
        out
    };
    let (pa, pb) = (periods(&a), periods(&b));
    assert!(
        !pa.is_empty() && !pb.is_empty(),
        "both workers log their partitions:\n{}\n{}",
        a.log(),
        b.log()
    );
    for (p, a_from, a_to) in &pa {
        for (q, b_from, b_to) in &pb {
            if p == q {
                assert!(
                    a_to <= b_from || b_to <= a_from,
                    "{p} held by both: a {a_from}..{a_to}, b {b_from}..{b_to}"
                );
            }
        }
    }
}
