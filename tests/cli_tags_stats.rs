//! Tags and counts from the command line, on the harness Azurite: `start --tag` writes them to
//! the start message and the Instances row, `status` shows them, `list --tag / --name` filter
//! on them, bad tags are refused with nothing written, and `taskhub stats` counts 10,000
//! instances exactly by status and by name.

mod common;

use std::collections::BTreeMap;

use common::cli::Cli;
use common::hub::TestHub;
use futures::StreamExt;
use serde_json::{json, Value};
use taskhub::core::EventKind;
use taskhub::storage::{EntityExt, TableEntity};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_are_kept_shown_and_filtered_on_and_bad_ones_change_nothing() {
    let hub = TestHub::create("Tags").await;
    let cli = Cli::for_hub(&hub).await;
    cli.ok(&[
        "start",
        "HelloCities",
        "--id",
        "t1",
        "--tag",
        "team=billing",
        "--tag",
        "env=prod",
    ]);
    cli.ok(&[
        "start",
        "HelloCities",
        "--id",
        "t2",
        "--tag",
        "team=billing",
    ]);
    cli.ok(&["start", "Other", "--id", "t3", "--tag", "team=search"]);

    // On the row (status) and on the start message the worker will read.
    let s = cli.json(&["status", "t1", "--json"]);
    assert_eq!(s["tags"], json!({"env": "prod", "team": "billing"}), "{s}");
    let human = cli.ok(&["status", "t1"]);
    assert!(
        human.contains("Tags") && human.contains("env=prod, team=billing"),
        "{human}"
    );
    let queue = hub.storage().queue(&hub.names().control_queue_for("t1"));
    let peeked = queue.peek(32).await.unwrap();
    let started = peeked
        .iter()
        .filter_map(|m| taskhub::backend::envelope::Envelope::decode(&m.text).ok())
        .filter_map(|e| e.message)
        .find(|m| m.instance.instance_id == "t1")
        .expect("t1's start message");
    match &started.event.kind {
        EventKind::ExecutionStarted { tags, .. } => {
            let tags: Value = serde_json::from_str(tags.as_deref().unwrap()).unwrap();
            assert_eq!(tags, json!({"env": "prod", "team": "billing"}));
        }
        other => panic!("{other:?}"),
    }

    assert_eq!(cli.list_ids(&["--tag", "team=billing"]), ["t1", "t2"]);
    assert_eq!(
        cli.list_ids(&["--tag", "team=billing", "--tag", "env=prod"]),
        ["t1"]
    );
    assert!(cli.list_ids(&["--tag", "team=nobody"]).is_empty());
    assert_eq!(cli.list_ids(&["--name", "Other"]), ["t3"]);
    let stats = cli.json(&["stats", "--json", "--tag", "team=billing"]);
    assert_eq!(stats["total"], 2, "{stats}");

    // The worker's checkpoints keep them (it writes the row from the start event).
    let worker = cli.worker(4);
    let done = cli.status_becomes("t1", "Completed");
    assert_eq!(
        done["tags"],
        json!({"env": "prod", "team": "billing"}),
        "{done}"
    );
    let (exit, _, log) = worker.stop(libc::SIGTERM);
    assert!(exit.success(), "{log}");

    // Bad tags: one line each, nothing started.
    for (args, says) in [
        (vec!["--tag", "novalue"], "is not KEY=VALUE"),
        (vec!["--tag", "=v"], "empty key"),
        (vec!["--tag", "k=a\u{1}b"], "control character"),
    ] {
        let mut all = vec!["start", "HelloCities", "--id", "bad"];
        all.extend(args);
        let e = cli.fails(&all);
        assert!(e.contains("--tag") && e.contains(says), "{e}");
    }
    let big = format!("k={}", "x".repeat(20_000));
    let e = cli.fails(&["start", "HelloCities", "--id", "bad", "--tag", &big]);
    assert!(e.contains("at most 16384"), "{e}");
    let e = cli.fails(&["list", "--tag", "nope"]);
    assert!(e.contains("KEY=VALUE"), "{e}");
    let e = cli.fails(&["stats", "--name", " "]);
    assert!(e.contains("--name is empty"), "{e}");
    assert_eq!(
        cli.list_ids(&[]),
        ["t1", "t2", "t3"],
        "nothing else was written"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_counts_ten_thousand_instances_by_status_and_name() {
    let hub = TestHub::create("Stats").await;
    const N: usize = 10_000;
    let statuses = ["Completed", "Failed", "Running", "Terminated"];
    let names = ["Alpha", "Beta", "Gamma"];
    // Rows written straight to the table (one request each, 32 at a time): what the counts
    // read, without running 10,000 orchestrations.
    let instances = hub.instances();
    futures::stream::iter(0..N)
        .map(|i| {
            let mut row = TableEntity::new();
            row.put_str("Name", names[i % names.len()]);
            row.put_str("RuntimeStatus", statuses[i % statuses.len()]);
            row.put_str("TaskHubName", hub.names().hub().to_string());
            async move {
                instances
                    .upsert_merge(&format!("i{i:05}"), &row)
                    .await
                    .unwrap()
            }
        })
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await;

    let mut by_status: BTreeMap<&str, u64> = BTreeMap::new();
    let mut by_name: BTreeMap<&str, u64> = BTreeMap::new();
    let mut failed_beta = 0;
    for i in 0..N {
        *by_status.entry(statuses[i % 4]).or_default() += 1;
        *by_name.entry(names[i % 3]).or_default() += 1;
        failed_beta += u64::from(statuses[i % 4] == "Failed" && names[i % 3] == "Beta");
    }
    let cli = Cli::for_hub(&hub).await;
    let stats = cli.json(&["stats", "--json"]);
    assert_eq!(stats["total"], N as u64, "{stats}");
    assert_eq!(stats["by_status"], json!(by_status));
    assert_eq!(stats["by_name"], json!(by_name));
    let some = cli.json(&["stats", "--json", "--status", "failed", "--name", "Beta"]);
    assert_eq!(some["total"], failed_beta, "{some}");
    assert_eq!(some["by_status"], json!({"Failed": failed_beta}));
    let human = cli.ok(&["stats"]);
    assert!(human.contains("10000 instances"), "{human}");
    assert!(
        human.contains("Completed") && human.contains("2500"),
        "{human}"
    );
}
