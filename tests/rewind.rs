//! Rewind on a real Azurite through the `taskhub` binary: the sample pipeline, with step2
//! failing every attempt for one file (`common::flaky`), ends Failed; `taskhub rewind` re-runs
//! only that step and the pipeline completes with every file's output. The rows are rewritten
//! as DurableTask.AzureStorage rewrites them (so either side's rewind leaves the same history),
//! and rewinding anything but a Failed instance is refused with nothing written.
//!
//! How we know it can fail: with the executor's rewound-attempt rule disabled
//! (`in_rewound_attempt` never set), the retry timers left in the failed sub-orchestration's
//! history stop its replay and the pipeline never completes (the wait times out), which is
//! where DurableTask's own rewind falls short (Azure/durabletask#811).

mod common;

use std::time::Duration;

use common::cli::Cli;
use common::hub::TestHub;
use common::{flaky, test_storage, unique_name};
use serde_json::json;
use taskhub::backend::TaskHub;
use taskhub::client::{Client, StartRequest};
use taskhub::core::{EventKind, HistoryEvent, OrchestrationStatus};
use taskhub::samples::pipeline::StepOutput;
use taskhub::samples::{self, SamplesConfig};
use taskhub::storage::faults::{Fault, FaultPlan, FaultRule, FaultyStorage};
use taskhub::storage::{EntityExt, OpKind, RetryPolicy, Storage, StorageOptions, TableEntity};

const WAIT: Duration = Duration::from_secs(120);

fn cli(c: &Cli, args: &[&str]) -> String {
    tokio::task::block_in_place(|| c.ok(args))
}

fn cli_fails(c: &Cli, args: &[&str]) -> String {
    tokio::task::block_in_place(|| c.fails(args))
}

async fn rows(t: &TestHub, id: &str) -> Vec<TableEntity> {
    let pk = taskhub::storage::escape::escape_partition_key(id);
    let filter = format!("PartitionKey eq '{pk}'");
    let rows = t
        .hub
        .history()
        .table()
        .query(Some(&filter), None, None)
        .await;
    rows.unwrap().into_iter().map(|(r, _)| r).collect()
}

fn scheduled(history: &[HistoryEvent], activity: &str) -> usize {
    history
        .iter()
        .filter(|e| matches!(&e.kind, EventKind::TaskScheduled { name, .. } if name == activity))
        .count()
}

async fn wait_for(client: &Client, id: &str) -> OrchestrationStatus {
    client
        .wait_for_completion(id, WAIT)
        .await
        .unwrap()
        .runtime_status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_pipeline_is_rewound_and_completes_rerunning_only_the_failed_step() {
    let mut config = SamplesConfig::new(test_storage().await);
    config.data_container = unique_name("data");
    let mut registry = samples::registry(&config);
    flaky::make_step2_flaky(&mut registry, &config);
    let t = TestHub::start("Rewind", registry).await;
    let c = Cli::for_hub(&t.hub).await;

    let id = "flaky-cli";
    let input = json!({"rawDataPath": unique_name("raw"), "numFiles": 3, "numRows": 3});
    let start = StartRequest::new(samples::pipeline::ORCHESTRATOR).with_id(id);
    t.client.start(start.with_input(&input)).await.unwrap();
    assert_eq!(wait_for(&t.client, id).await, OrchestrationStatus::Failed);
    let children = t.client.children(id).await.unwrap();
    assert_eq!(children.len(), 3);
    let mut failed = Vec::new();
    let mut before = Vec::new();
    for child in &children {
        let s = t.client.get(child).await.unwrap();
        if s.runtime_status == OrchestrationStatus::Failed {
            failed.push(child.clone());
        }
        before.push(t.client.history(child).await.unwrap().len());
    }
    assert_eq!(failed.len(), 1, "one file's step2 failed");
    let failed = &failed[0];

    // Refused, nothing written: unknown, finished otherwise, and (below) Completed.
    let err = cli_fails(&c, &["rewind", "nobody"]);
    assert!(err.contains("no instance 'nobody'"), "{err}");
    let ok_child = children.iter().find(|ch| *ch != failed).unwrap();
    let rows_before = rows(&t, ok_child).await;
    let err = cli_fails(&c, &["rewind", ok_child]);
    assert!(
        err.contains("is Completed; rewinding needs a Failed instance"),
        "{err}"
    );
    assert_eq!(rows(&t, ok_child).await, rows_before);

    let out = cli(&c, &["rewind", id, "--reason", "fixed"]);
    assert!(out.is_empty(), "{out}");
    assert_eq!(
        wait_for(&t.client, id).await,
        OrchestrationStatus::Completed
    );

    // Every file's four steps are in the output.
    let s = t.client.get(id).await.unwrap();
    let results: Vec<Vec<StepOutput>> = serde_json::from_str(s.output.as_deref().unwrap()).unwrap();
    assert_eq!(results.len(), 3);
    assert!(results.iter().all(|r| r.len() == 4), "{results:?}");
    // Only the failed step ran again: the other children are untouched, and the failed one
    // scheduled step1 once and step2 once more (its old attempts are GenericEvents now).
    for (child, len) in children.iter().zip(&before) {
        let history = t.client.history(child).await.unwrap();
        if child == failed {
            assert_eq!(scheduled(&history, "step1"), 1);
            assert_eq!(scheduled(&history, "step2"), 1);
            assert_eq!(scheduled(&history, "step4"), 1);
        } else {
            assert_eq!(history.len(), *len, "{child} was not touched");
        }
    }
    assert_eq!(
        t.client.get(failed).await.unwrap().runtime_status,
        OrchestrationStatus::Completed
    );

    // The rows, as DurableTask.AzureStorage rewrites them.
    let reasons = |rows: &[TableEntity]| -> Vec<(String, String)> {
        rows.iter()
            .filter_map(|r| {
                let reason = r.get_str("Reason")?.strip_prefix("Rewound: ")?;
                Some((r.get_str("EventType")?.to_string(), reason.to_string()))
            })
            .collect()
    };
    let parent = reasons(&rows(&t, id).await);
    let generic = |was: &str| ("GenericEvent".to_string(), was.to_string());
    assert!(
        parent.contains(&(
            "SubOrchestrationInstanceCreated".into(),
            "SubOrchestrationInstanceCreated".into()
        )),
        "{parent:?}"
    );
    assert!(
        parent.contains(&generic("SubOrchestrationInstanceFailed")),
        "{parent:?}"
    );
    assert!(
        parent.contains(&generic("ExecutionCompleted")),
        "{parent:?}"
    );
    let child_rows = rows(&t, failed).await;
    let child = reasons(&child_rows);
    assert_eq!(
        child
            .iter()
            .filter(|r| **r == generic("TaskScheduled"))
            .count(),
        3,
        "{child:?}"
    );
    assert_eq!(
        child
            .iter()
            .filter(|r| **r == generic("TaskFailed"))
            .count(),
        3,
        "{child:?}"
    );
    assert!(child.contains(&generic("ExecutionCompleted")), "{child:?}");
    // A rewritten row keeps its other columns (the activity's name here).
    let old_schedule = child_rows
        .iter()
        .find(|r| r.get_str("Reason") == Some("Rewound: TaskScheduled"))
        .unwrap();
    assert_eq!(old_schedule.get_str("Name"), Some("step2"));
    // The wake-up event carries the reason.
    let history = t.client.history(failed).await.unwrap();
    assert!(history.iter().any(|e| matches!(&e.kind,
        EventKind::GenericEvent { data: Some(d), reason: None } if d == "fixed")));

    // A Completed instance is refused, and nothing changes.
    let rows_before = rows(&t, id).await;
    let err = cli_fails(&c, &["rewind", id]);
    assert!(err.contains("is Completed"), "{err}");
    assert_eq!(rows(&t, id).await, rows_before);
}

/// A client whose storage requests go through `plan`, one retry at most.
fn faulty_client(t: &TestHub, plan: &std::sync::Arc<FaultPlan>) -> Client {
    let storage = t.hub.storage();
    let options = StorageOptions {
        retry: RetryPolicy {
            max_attempts: 1,
            max_elapsed: Duration::from_secs(1),
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(10),
        },
        ..StorageOptions::default()
    };
    let faulty = Storage::from_service(
        storage.account().clone(),
        FaultyStorage::new(storage.service().clone(), plan.clone()),
        options,
    );
    Client::new(TaskHub::new(faulty, t.hub.names().clone()))
}

/// A rewind cut short by storage going away is finished by rewinding again: first the
/// failed child's `Pending` write fails (the child's rows are rewritten, the parent's too, but
/// no one is Pending and nothing is woken), then the wake-up fails (everything Pending, no
/// wake-up sent); the third rewind wakes the child and the pipeline completes.
///
/// How we know it can fail: without the plan's rule for children an earlier rewind marked,
/// the last rewind takes the parent for a leaf and wakes only it (the test sees the parent
/// woken), and the parent would wait forever for its child.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_rewind_is_finished_by_rewinding_again() {
    let mut config = SamplesConfig::new(test_storage().await);
    config.data_container = unique_name("data");
    let mut registry = samples::registry(&config);
    flaky::make_step2_flaky(&mut registry, &config);
    let t = TestHub::start("RewindCut", registry).await;
    let id = "flaky-cut";
    let input = json!({"rawDataPath": unique_name("raw"), "numFiles": 2, "numRows": 2});
    let start = StartRequest::new(samples::pipeline::ORCHESTRATOR).with_id(id);
    t.client.start(start.with_input(&input)).await.unwrap();
    assert_eq!(wait_for(&t.client, id).await, OrchestrationStatus::Failed);
    let instances = t.hub.names().instances_table();

    // 1. The first Instances write (the failed child's Pending) fails.
    let plan = FaultPlan::new();
    plan.add(FaultRule::new(&[OpKind::TableUpsert], Fault::FailBefore).on(&instances));
    let cut = faulty_client(&t, &plan);
    assert!(cut.rewind(id, Some("cut")).await.is_err());
    assert_eq!(
        t.client.get(id).await.unwrap().runtime_status,
        OrchestrationStatus::Failed
    );

    // 2. Everything is set Pending, but the wake-up is not sent.
    let plan = FaultPlan::new();
    plan.add(FaultRule::new(&[OpKind::QueuePut], Fault::FailBefore));
    let cut = faulty_client(&t, &plan);
    assert!(cut.rewind(id, Some("cut again")).await.is_err());
    assert_eq!(
        t.client.get(id).await.unwrap().runtime_status,
        OrchestrationStatus::Pending
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        t.client.get(id).await.unwrap().runtime_status,
        OrchestrationStatus::Pending,
        "nothing woke it"
    );

    // 3. Rewinding the Pending instance finishes the rewind.
    let woken = t.client.rewind(id, Some("finish")).await.unwrap();
    assert_eq!(woken.len(), 1, "{woken:?}");
    assert_ne!(woken[0], id, "the failed child is woken, not the parent");
    assert_eq!(
        wait_for(&t.client, id).await,
        OrchestrationStatus::Completed
    );
    // A Pending instance with no rewind in progress is still refused.
    let err = t.client.rewind(id, None).await.unwrap_err();
    assert!(err.to_string().contains("Completed"), "{err}");
}
