//! `taskhub scale` on a real hub, through the binary: no workers wanted while the hub is idle,
//! more as a backlog of starts grows with no worker to take it (up to one per busy partition),
//! activity workers for a deep work-item queue, and none again, scaling in, once a worker has
//! drained it all.
//!
//! How we know it bites: with the sampler's peek result dropped (every queue looked
//! invisible), the first backlog step failed (target 0, not 1); with the partition cap taken off
//! the orchestration side, the 200-message step asked for 20 workers and failed; with the worker
//! count always 0, the drained step failed (scaling in needs the running worker seen).

mod common;

use common::cli::Cli;
use common::hub::TestHub;
use common::wait_until;
use futures::{stream, StreamExt, TryStreamExt};
use serde_json::Value;
use std::time::Duration;
use taskhub::client::{Client, StartRequest};

/// `taskhub scale --json` with `extra` flags.
fn scale(cli: &Cli, extra: &[&str]) -> Value {
    cli.json(&[&["scale", "--json"], extra].concat())
}

/// Starts `HelloCities` as `scale-{from}` … `scale-{to - 1}`: fixed ids, so how they spread over
/// the partitions (FNV-1a) is the same every run.
async fn start(client: &Client, ids: std::ops::Range<usize>) {
    stream::iter(ids)
        .map(|i| client.start(StartRequest::new("HelloCities").with_id(&format!("scale-{i}"))))
        .buffer_unordered(16)
        .try_collect::<Vec<_>>()
        .await
        .expect("started");
}

#[tokio::test]
async fn scale_follows_the_backlog_and_goes_to_zero_when_idle() {
    let hub = TestHub::create_with_partitions("scale", 16).await;
    let client = Client::new(hub.clone());
    let cli = Cli::for_hub(&hub).await;

    // Idle: nothing waits, nobody runs.
    let idle = scale(&cli, &[]);
    assert_eq!(idle["target_workers"], 0, "{idle}");
    assert_eq!(idle["current_workers"], 0, "{idle}");
    assert_eq!(idle["action"], "None", "{idle}");
    assert_eq!(idle["reason"], "idle: every queue is empty", "{idle}");
    assert_eq!(
        idle["sample"]["control_queues"].as_array().unwrap().len(),
        16
    );
    assert_eq!(
        idle["settings"]["max_activities"], 16,
        "the worker's default"
    );
    let table = cli.ok(&["scale"]);
    assert!(
        table.contains("target:      0 (keep)") && table.contains("-workitems"),
        "{table}"
    );

    // A backlog of starts and no worker: one worker per 10 messages (at most one per busy
    // partition), growing with the backlog.
    let target = |v: &Value| v["target_workers"].as_u64().unwrap();
    start(&client, 0..5).await;
    let five = scale(&cli, &["--max-orchestrations", "10"]);
    assert_eq!(target(&five), 1, "{five}");
    assert_eq!(five["action"], "ScaleOut", "{five}");
    assert_eq!(five["basis"]["waiting_orchestration_messages"], 5, "{five}");
    start(&client, 5..60).await;
    let sixty = scale(&cli, &["--max-orchestrations", "10"]);
    assert_eq!(target(&sixty), 6, "{sixty}");
    start(&client, 60..200).await;
    let two_hundred = scale(&cli, &["--max-orchestrations", "10"]);
    assert_eq!(target(&two_hundred), 16, "{two_hundred}");
    assert!(
        two_hundred["reason"]
            .as_str()
            .unwrap()
            .ends_with("capped at 16 busy partitions"),
        "{two_hundred}"
    );
    // With the default 100 per worker, 200 messages are two workers.
    assert_eq!(target(&scale(&cli, &[])), 2);
    let oldest = two_hundred["sample"]["control_queues"][0]["oldest_age_ms"].as_u64();
    assert!(oldest.is_some(), "a peeked age: {two_hundred}");

    // A deep work-item queue (messages put by hand; the sampler only counts and peeks them):
    // one worker per --max-activities work items, beyond the partition count.
    let work_items = hub.storage().queue(&hub.names().work_item_queue());
    for i in 0..40 {
        work_items
            .put(&format!("not a real work item {i}"), Duration::ZERO)
            .await
            .unwrap();
    }
    let activities = scale(
        &cli,
        &["--max-activities", "2", "--max-orchestrations", "100"],
    );
    assert_eq!(activities["basis"]["activity_workers"], 20, "{activities}");
    assert_eq!(target(&activities), 20, "{activities}");
    work_items.clear().await.unwrap();

    // A worker drains the backlog; then the hub is idle and one worker is one too many.
    let worker = cli.worker(16);
    wait_until(
        "all 200 instances completed",
        Duration::from_secs(180),
        || async {
            let stats = cli.json(&["stats", "--json"]);
            (stats["by_status"]["Completed"] == 200).then_some(())
        },
    )
    .await;
    let drained = wait_until("the queues are empty", Duration::from_secs(30), || async {
        let v = scale(&cli, &[]);
        (v["target_workers"] == 0).then_some(v)
    })
    .await;
    assert_eq!(drained["current_workers"], 1, "{drained}");
    assert_eq!(drained["action"], "ScaleIn", "{drained}");

    // Stopped gracefully, the worker released its leases: nobody runs, nobody is wanted.
    let (status, _, log) = worker.stop(libc::SIGTERM);
    assert!(status.success(), "{log}");
    let stopped = scale(&cli, &[]);
    assert_eq!(stopped["current_workers"], 0, "{stopped}");
    assert_eq!(stopped["target_workers"], 0, "{stopped}");
    assert_eq!(stopped["action"], "None", "{stopped}");
}

#[tokio::test]
async fn scale_names_a_missing_hub() {
    let cli = Cli::new("noscalehub").await;
    let e = cli.fails(&["scale"]);
    assert!(e.contains("does not exist"), "{e}");
}
