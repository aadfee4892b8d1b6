//! Recursive terminate and purge on the sample pipeline, through the `taskhub` binary: the
//! parent and its per-file sub-orchestrations as one tree. The worker runs in the test process
//! with `step2` replaced by an activity that never finishes, so every sub-orchestration is
//! caught Running.
//!
//! How we know the checks can fail: a non-recursive terminate of a second pipeline leaves its
//! children Running (asserted below), which is what a `--recursive` that only reached the root
//! would do; and purge's refusal is checked to leave every row in place.

mod common;

use std::time::Duration;

use common::cli::Cli;
use common::hub::TestHub;
use common::{test_storage, unique_name, wait_until};
use serde_json::{json, Value};
use taskhub::client::{Client, StartRequest};
use taskhub::core::{Failure, OrchestrationStatus};
use taskhub::samples::pipeline::SUB_ORCHESTRATOR;
use taskhub::samples::{self, SamplesConfig};

const FILES: usize = 3;

/// Starts a pipeline and waits until each of its sub-orchestrations is Running with step1 done
/// (so step2, which never ends, is in flight); returns the children's ids.
async fn pipeline_caught_in_step2(client: &Client, id: &str) -> Vec<String> {
    let input = json!({"rawDataPath": unique_name("raw"), "numFiles": FILES, "numRows": 3});
    client
        .start(
            StartRequest::new(samples::pipeline::ORCHESTRATOR)
                .with_id(id)
                .with_input(&input),
        )
        .await
        .unwrap();
    let children = wait_until(
        "the pipeline's children exist",
        Duration::from_secs(60),
        || async {
            let c = client.children(id).await.unwrap();
            (c.len() == FILES).then_some(c)
        },
    )
    .await;
    for child in &children {
        wait_until("step1 done", Duration::from_secs(60), || async {
            let s = client.status(child, false).await.unwrap()?;
            let custom: Value = serde_json::from_str(s.custom_status.as_deref()?).ok()?;
            (s.runtime_status == OrchestrationStatus::Running && custom["step"] == 1).then_some(())
        })
        .await;
        let s = client.status(child, false).await.unwrap().unwrap();
        assert_eq!(s.name, SUB_ORCHESTRATOR);
    }
    children
}

async fn status_of(client: &Client, id: &str) -> Option<OrchestrationStatus> {
    client
        .status(id, false)
        .await
        .unwrap()
        .map(|s| s.runtime_status)
}

async fn blob_count(t: &TestHub, id: &str) -> usize {
    let container = test_storage()
        .await
        .container(&t.hub.names().large_messages_container());
    container.list(&format!("{id}/")).await.unwrap().len()
}

fn cli(cli: &Cli, args: &[&str]) -> String {
    tokio::task::block_in_place(|| cli.ok(args))
}

fn cli_fails(cli: &Cli, args: &[&str]) -> String {
    tokio::task::block_in_place(|| cli.fails(args))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recursive_terminate_stops_the_pipeline_and_recursive_purge_removes_it() {
    let mut config = SamplesConfig::new(test_storage().await);
    config.data_container = unique_name("data");
    let mut registry = samples::registry(&config);
    registry.add_activity("step2", |_ctx, _input: Value| async move {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok::<Value, Failure>(Value::Null)
    });
    let t = TestHub::start("Trees", registry).await;
    let c = Cli::for_hub(&t.hub).await;

    // Not recursive (the default): the parent stops, its children go on.
    let kept = pipeline_caught_in_step2(&t.client, "pipe-kept").await;
    let out = cli(&c, &["terminate", "pipe-kept"]);
    assert!(out.is_empty(), "{out}");
    wait_until("pipe-kept terminated", Duration::from_secs(30), || async {
        (status_of(&t.client, "pipe-kept").await == Some(OrchestrationStatus::Terminated))
            .then_some(())
    })
    .await;
    for child in &kept {
        assert_eq!(
            status_of(&t.client, child).await,
            Some(OrchestrationStatus::Running)
        );
    }
    // A recursive purge of that tree is refused while a child runs, and deletes nothing.
    let err = cli_fails(&c, &["purge", "pipe-kept", "--recursive"]);
    assert!(err.contains("is Running"), "{err}");
    assert!(kept.iter().any(|k| err.contains(k.as_str())), "{err}");
    assert!(status_of(&t.client, "pipe-kept").await.is_some());
    assert!(!t.client.history("pipe-kept").await.unwrap().is_empty());
    for child in &kept {
        assert_eq!(
            status_of(&t.client, child).await,
            Some(OrchestrationStatus::Running)
        );
    }
    // --recursive needs an id.
    cli_fails(&c, &["purge", "--recursive", "--status", "Terminated"]);

    // Recursive: no sub-orchestration is left Running. The reason is large enough to go to
    // blobs, so each instance of the tree has blobs for the purge to remove.
    let children = pipeline_caught_in_step2(&t.client, "pipe").await;
    let reason = "r".repeat(70 * 1024);
    cli(
        &c,
        &["terminate", "pipe", "--recursive", "--reason", &reason],
    );
    for id in children.iter().chain([&"pipe".to_string()]) {
        wait_until("terminated", Duration::from_secs(30), || async {
            (status_of(&t.client, id).await == Some(OrchestrationStatus::Terminated)).then_some(())
        })
        .await;
    }
    // The only instances still Running in the hub are the other tree's children.
    let counts = t
        .client
        .count(&taskhub::backend::InstanceQuery::default())
        .await
        .unwrap();
    assert_eq!(
        counts.by_status.get("Running"),
        Some(&(FILES as u64)),
        "{counts:?}"
    );
    for id in children.iter().chain([&"pipe".to_string()]) {
        assert!(blob_count(&t, id).await > 0, "{id} has no blob to purge");
    }

    let out = cli(&c, &["purge", "pipe", "--recursive"]);
    assert!(
        out.starts_with(&format!("purged {} instances, ", FILES + 1)),
        "{out}"
    );
    for id in children.iter().chain([&"pipe".to_string()]) {
        assert_eq!(status_of(&t.client, id).await, None, "{id}");
        assert!(t.client.history(id).await.unwrap().is_empty(), "{id}");
        assert_eq!(blob_count(&t, id).await, 0, "{id}");
    }
    // The other tree was not touched.
    assert!(status_of(&t.client, "pipe-kept").await.is_some());
}
