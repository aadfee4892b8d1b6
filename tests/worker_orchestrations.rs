//! Orchestrations end to end on a real Azurite: a worker, a client, the tables.

mod common;

use std::time::Duration;

use common::hub::{test_worker_options, TestHub};
use serde_json::{json, Value};
use taskhub::client::StartRequest;
use taskhub::core::{
    Either, EventKind, Failure, OrchestrationContext, OrchestrationStatus, Registry, RetryPolicy,
};

const WAIT: Duration = Duration::from_secs(60);

fn registry() -> Registry {
    let mut r = Registry::new();
    r.add_orchestrator("Sequence", |ctx: OrchestrationContext| async move {
        let name: String = ctx.input()?;
        let mut out = Vec::new();
        for city in ["Tokyo", "Seattle", "London"] {
            let s: String = ctx
                .call_activity("SayHello", format!("{city} from {name}"))
                .await?;
            out.push(s);
        }
        Ok::<_, Failure>(out)
    });
    r.add_activity("SayHello", |_ctx, s: String| async move {
        Ok::<_, Failure>(format!("Hello {s}!"))
    });
    r.add_orchestrator("FanOut", |ctx: OrchestrationContext| async move {
        let n: u64 = ctx.input()?;
        let tasks = (0..n).map(|i| ctx.call_activity::<u64>("Double", i));
        let all = ctx.all_of(tasks).await;
        let values = all.into_iter().collect::<Result<Vec<_>, _>>()?;
        Ok::<_, Failure>(values.iter().sum::<u64>())
    });
    r.add_activity(
        "Double",
        |_ctx, n: u64| async move { Ok::<_, Failure>(n * 2) },
    );
    r.add_orchestrator("Parent", |ctx: OrchestrationContext| async move {
        let a: u64 = ctx.call_sub_orchestrator("FanOut", 10).await?;
        let b: u64 = ctx
            .call_sub_orchestrator_with_id("FanOut", "child-of-parent", 3)
            .await?;
        let failed = ctx.call_sub_orchestrator::<Value>("Fails", ()).await;
        let msg = failed
            .err()
            .map(|e| e.details.error_message)
            .unwrap_or_default();
        Ok::<_, Failure>(json!({"a": a, "b": b, "failed": msg}))
    });
    r.add_orchestrator("Fails", |_ctx: OrchestrationContext| async move {
        Err::<(), _>(Failure::new("Broken", "this child always fails"))
    });
    r.add_orchestrator("Timer", |ctx: OrchestrationContext| async move {
        let start = ctx.current_utc_datetime();
        ctx.sleep(Duration::from_secs(2)).await;
        let waited = ctx.current_utc_datetime() - start;
        Ok::<_, Failure>(waited.whole_milliseconds() >= 2000)
    });
    r.add_orchestrator("Approval", |ctx: OrchestrationContext| async move {
        let timeout = ctx.sleep(Duration::from_secs(60));
        let answer = ctx.wait_for_external_event::<String>("Answer");
        match ctx.select2(timeout, answer).await {
            Either::Left(_) => Ok::<_, Failure>("timed out".to_string()),
            Either::Right((a, _)) => Ok(format!("answer: {}", a?)),
        }
    });
    r.add_orchestrator("Counter", |ctx: OrchestrationContext| async move {
        let n: u32 = ctx.input()?;
        if n >= 5 {
            return Ok::<_, Failure>(n);
        }
        let _: () = ctx.call_activity("Noop", ()).await?;
        ctx.continue_as_new(n + 1);
        Ok(n)
    });
    r.add_activity("Noop", |_ctx, _: ()| async move { Ok::<_, Failure>(()) });
    r.add_orchestrator("Retry", |ctx: OrchestrationContext| async move {
        let policy = RetryPolicy::new(4, Duration::from_millis(200));
        let v: String = ctx.call_activity_with_retry("Flaky", (), policy).await?;
        Ok::<_, Failure>(v)
    });
    r.add_activity("Flaky", |ctx, _: ()| async move {
        // Task ids 0 and 2 are the first two attempts (1 and 3 are the backoff timers).
        if ctx.task_id < 4 {
            Err(Failure::new(
                "Transient",
                format!("attempt at task {} failed", ctx.task_id),
            ))
        } else {
            Ok(format!("succeeded at task {}", ctx.task_id))
        }
    });
    r.add_orchestrator("WaitForever", |ctx: OrchestrationContext| async move {
        let v: Value = ctx.wait_for_external_event("go").await?;
        let _: () = ctx.call_activity("Noop", ()).await?;
        Ok::<_, Failure>(v)
    });
    r.add_orchestrator("Echo", |ctx: OrchestrationContext| async move {
        let input: Value = ctx.input()?;
        let echoed: Value = ctx.call_activity("EchoActivity", &input).await?;
        Ok::<_, Failure>(echoed)
    });
    r.add_activity("EchoActivity", |_ctx, v: Value| async move {
        Ok::<_, Failure>(v)
    });
    r
}

async fn run(
    t: &TestHub,
    name: &str,
    id: &str,
    input: Option<&str>,
) -> taskhub::backend::InstanceStatus {
    let mut req = StartRequest::new(name).with_id(id);
    req.input = input.map(str::to_string);
    let id = t.client.start(req).await.unwrap();
    t.client.wait_for_completion(&id, WAIT).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sequence_of_activities_completes() {
    let t = TestHub::start("seq", registry()).await;
    let s = run(&t, "Sequence", "seq-1", Some("\"Ann\"")).await;
    assert_eq!(s.runtime_status, OrchestrationStatus::Completed, "{s:?}");
    assert_eq!(
        s.output.as_deref(),
        Some("[\"Hello Tokyo from Ann!\",\"Hello Seattle from Ann!\",\"Hello London from Ann!\"]")
    );
    let h = t.client.history("seq-1").await.unwrap();
    // Four turns of four events: start + 3 activities, then the completion.
    assert_eq!(h.len(), 16, "{h:#?}");
}

/// A chain of activities runs from the worker's cache: its result turns do not reload the
/// history. Before the fix a turn applying an activity's result (carried from the work-item
/// queue) was filed under that queue instead of the instance's partition, so its state was never
/// cached: this test saw 3 table queries with that line put back, 1 without (one query during
/// the run is not a result turn's; not yet tracked down).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_of_activities_never_reloads_its_history() {
    let t = TestHub::start("seqcache", registry()).await;
    let storage = t.hub.storage().clone();
    let before = storage.counters().get(taskhub::storage::OpKind::TableQuery);
    let s = run(&t, "Sequence", "seq-cached", Some("\"Ann\"")).await;
    assert_eq!(s.runtime_status, OrchestrationStatus::Completed, "{s:?}");
    let queries = storage.counters().get(taskhub::storage::OpKind::TableQuery) - before;
    assert!(queries <= 1, "{queries} table queries during the run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fan_out_and_in_of_500_activities() {
    let t = TestHub::start("fan", registry()).await;
    let s = run(&t, "FanOut", "fan-500", Some("500")).await;
    assert_eq!(s.runtime_status, OrchestrationStatus::Completed, "{s:?}");
    assert_eq!(s.output.as_deref(), Some(&*(499 * 500).to_string()));
    let h = t.client.history("fan-500").await.unwrap();
    let completed = h
        .iter()
        .filter(|e| matches!(e.kind, EventKind::TaskCompleted { .. }))
        .count();
    let scheduled = h
        .iter()
        .filter(|e| matches!(e.kind, EventKind::TaskScheduled { .. }))
        .count();
    // Exactly once each in history, whatever was delivered more than once.
    assert_eq!((scheduled, completed), (500, 500));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sub_orchestrations_return_results_and_failures() {
    let t = TestHub::start("sub", registry()).await;
    let s = run(&t, "Parent", "parent-1", None).await;
    assert_eq!(s.runtime_status, OrchestrationStatus::Completed, "{s:?}");
    let out: Value = serde_json::from_str(s.output.as_deref().unwrap()).unwrap();
    assert_eq!(out["a"], 90);
    assert_eq!(out["b"], 6);
    assert_eq!(out["failed"], "this child always fails");
    let child = t
        .client
        .status("child-of-parent", false)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(child.runtime_status, OrchestrationStatus::Completed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_durable_timer_fires_after_its_delay() {
    let t = TestHub::start("tmr", registry()).await;
    let s = run(&t, "Timer", "timer-1", None).await;
    assert_eq!(s.output.as_deref(), Some("true"), "{s:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_external_event_wins_the_race_with_a_timer() {
    let t = TestHub::start("evt", registry()).await;
    let id = t
        .client
        .start(StartRequest::new("Approval").with_id("appr"))
        .await
        .unwrap();
    // Raised as soon as the instance runs (events before that are buffered anyway).
    common::wait_until("instance running", WAIT, || async {
        let s = t.client.status(&id, false).await.unwrap()?;
        (s.runtime_status == OrchestrationStatus::Running).then_some(())
    })
    .await;
    t.client
        .raise_event(&id, "Answer", Some("\"yes\""))
        .await
        .unwrap();
    let s = t.client.wait_for_completion(&id, WAIT).await.unwrap();
    assert_eq!(s.output.as_deref(), Some("\"answer: yes\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn continue_as_new_runs_new_executions_until_done() {
    let t = TestHub::start("can", registry()).await;
    let s = run(&t, "Counter", "counter-1", Some("0")).await;
    assert_eq!(s.runtime_status, OrchestrationStatus::Completed);
    assert_eq!(s.output.as_deref(), Some("5"));
    // The stored history is the last execution's only.
    let h = t.client.history("counter-1").await.unwrap();
    match &h[1].kind {
        EventKind::ExecutionStarted { input, .. } => assert_eq!(input.as_deref(), Some("5")),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(s.input.as_deref(), Some("5"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_succeed_after_failures() {
    let t = TestHub::start("rty", registry()).await;
    let s = run(&t, "Retry", "retry-1", None).await;
    assert_eq!(s.runtime_status, OrchestrationStatus::Completed, "{s:?}");
    assert_eq!(s.output.as_deref(), Some("\"succeeded at task 4\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminate_suspend_resume_and_purge() {
    let t = TestHub::start("ctl", registry()).await;
    let c = &t.client;
    for id in ["to-terminate", "to-suspend"] {
        c.start(StartRequest::new("WaitForever").with_id(id))
            .await
            .unwrap();
    }
    let running = |id: &'static str| async move {
        let s = c.status(id, false).await.unwrap()?;
        (s.runtime_status == OrchestrationStatus::Running).then_some(())
    };
    common::wait_until("running", WAIT, || running("to-terminate")).await;
    common::wait_until("running", WAIT, || running("to-suspend")).await;

    c.terminate("to-terminate", Some("no longer needed"))
        .await
        .unwrap();
    let s = c.wait_for_completion("to-terminate", WAIT).await.unwrap();
    assert_eq!(s.runtime_status, OrchestrationStatus::Terminated);
    assert_eq!(s.output.as_deref(), Some("\"no longer needed\""));

    c.suspend("to-suspend", Some("pause")).await.unwrap();
    common::wait_until("suspended", WAIT, || async {
        let s = c.status("to-suspend", false).await.unwrap()?;
        (s.runtime_status == OrchestrationStatus::Suspended).then_some(())
    })
    .await;
    c.raise_event("to-suspend", "go", Some("42")).await.unwrap();
    // Give the worker a chance to (wrongly) act on the event; it must stay suspended.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let s = c.status("to-suspend", false).await.unwrap().unwrap();
    assert_eq!(s.runtime_status, OrchestrationStatus::Suspended);
    c.resume("to-suspend", None).await.unwrap();
    let s = c.wait_for_completion("to-suspend", WAIT).await.unwrap();
    assert_eq!(
        (s.runtime_status, s.output.as_deref()),
        (OrchestrationStatus::Completed, Some("42"))
    );

    // Purge removes the rows (and nothing of the other instance).
    let purged = c.purge("to-terminate").await.unwrap();
    assert_eq!(purged.instances_deleted, 1);
    assert!(purged.history_rows_deleted > 0);
    assert!(c.status("to-terminate", false).await.unwrap().is_none());
    assert!(c.history("to-terminate").await.unwrap().is_empty());
    assert!(c.status("to-suspend", false).await.unwrap().is_some());
    // Purging a live instance is refused.
    c.start(StartRequest::new("WaitForever").with_id("live"))
        .await
        .unwrap();
    assert!(c.purge("live").await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_mib_input_and_output_travel_through_blobs() {
    let t = TestHub::start("big", registry()).await;
    let big = "x".repeat(1024 * 1024);
    let input = Value::String(big.clone()).to_string();
    let s = run(&t, "Echo", "big-1", Some(&input)).await;
    assert_eq!(
        s.runtime_status,
        OrchestrationStatus::Completed,
        "{:?}",
        s.output.as_ref().map(|o| o.len())
    );
    assert_eq!(s.output.as_deref(), Some(input.as_str()));
    assert_eq!(s.input.as_deref(), Some(input.as_str()));
    // The Instances row holds blob URLs, not the values.
    let raw = t
        .hub
        .instances()
        .read("big-1", false)
        .await
        .unwrap()
        .unwrap()
        .0;
    assert!(
        raw.input.as_deref().unwrap().starts_with("http"),
        "{:?}",
        &raw.input.as_deref().map(|i| &i[..40.min(i.len())])
    );
    assert!(raw.output.as_deref().unwrap().starts_with("http"));
    // The blobs exist, and purge removes them.
    let blobs = t.hub.payloads().container().list("big-1/").await.unwrap();
    assert!(!blobs.is_empty());
    t.client.purge("big-1").await.unwrap();
    assert!(t
        .hub
        .payloads()
        .container()
        .list("big-1/")
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_instance_ids_work_and_stay_exact() {
    let t = TestHub::start("odd", registry()).await;
    for id in [
        "a/b\\c#d?e",
        "it's \"quoted\"",
        "line\nbreak\ttab",
        "ünï-€-中",
    ] {
        let s = run(&t, "Sequence", id, Some("\"x\"")).await;
        assert_eq!(s.instance_id, id);
        assert_eq!(s.runtime_status, OrchestrationStatus::Completed, "{id:?}");
        assert_eq!(t.client.history(id).await.unwrap().len(), 16);
    }
    // A prefix listing with a quote in it is escaped, not injected.
    let q = taskhub::backend::InstanceQuery {
        instance_id_prefix: Some("it's".into()),
        ..Default::default()
    };
    let page = t.client.list(&q, None, None).await.unwrap();
    assert_eq!(page.instances.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_rows_have_the_reference_columns_and_types() {
    let t = TestHub::start("cols", registry()).await;
    run(&t, "Sequence", "cols-1", Some("\"x\"")).await;
    // A plain query of the table, not our history reader.
    let table = t.hub.storage().table(&t.hub.names().history_table());
    let rows = table
        .query(Some("PartitionKey eq 'cols-1'"), None, None)
        .await
        .unwrap();
    assert_eq!(rows.len(), 17); // 16 events and the sentinel
    let (first, _) = &rows[0];
    assert_eq!(first["RowKey"], "0000000000000000");
    assert_eq!(first["EventType"], "OrchestratorStarted");
    assert_eq!(first["_Timestamp@odata.type"], "Edm.DateTime");
    assert!(first["EventId"].is_i64(), "EventId is a plain Int32 number");
    let scheduled = rows
        .iter()
        .map(|(r, _)| r)
        .find(|r| r["EventType"] == "TaskScheduled")
        .unwrap();
    assert_eq!(scheduled["Name"], "SayHello");
    assert_eq!(scheduled["EventId"], 0);
    let completed = rows
        .iter()
        .map(|(r, _)| r)
        .find(|r| r["EventType"] == "TaskCompleted")
        .unwrap();
    assert_eq!(completed["TaskScheduledId"], 0);
    assert!(completed["Result"].is_string());
    let started = rows
        .iter()
        .map(|(r, _)| r)
        .find(|r| r["EventType"] == "ExecutionStarted")
        .unwrap();
    assert_eq!(started["ParentInstance"], "null");
    assert!(started["OrchestrationInstance"]
        .as_str()
        .unwrap()
        .contains("\"InstanceId\":\"cols-1\""));
    let sentinel = rows
        .iter()
        .map(|(r, _)| r)
        .find(|r| r["RowKey"] == "sentinel")
        .unwrap();
    assert_eq!(sentinel["ExecutionId"], started["ExecutionId"]);
    assert_eq!(sentinel["IsCheckpointComplete"], true);
    for (r, _) in &rows {
        assert_eq!(r["ExecutionId"], started["ExecutionId"]);
    }
    // And the Instances row.
    let inst = t.hub.storage().table(&t.hub.names().instances_table());
    let (row, _) = inst.get("cols-1", "").await.unwrap().unwrap();
    assert_eq!(row["RuntimeStatus"], "Completed");
    assert_eq!(row["CreatedTime@odata.type"], "Edm.DateTime");
    assert_eq!(row["CustomStatus"], "null");
    assert_eq!(row["TaskHubName"], t.hub.names().hub().as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_client_input_is_refused_and_changes_nothing() {
    let t = TestHub::create("bad").await;
    let c = taskhub::client::Client::new(t.clone());
    let err = |r: Result<String, taskhub::client::Error>| r.unwrap_err().to_string();
    assert!(err(c.start(StartRequest::new(" ")).await).contains("empty"));
    assert!(err(c
        .start(StartRequest::new("Echo").with_json_input("{bad"))
        .await)
    .contains("not valid JSON"));
    assert!(err(c.start(StartRequest::new("Echo").with_id("")).await).contains("empty"));
    assert!(c
        .raise_event("missing", "e", None)
        .await
        .unwrap_err()
        .to_string()
        .contains("no instance 'missing'"));
    assert!(c.terminate("missing", None).await.is_err());
    let page = c.list(&Default::default(), None, None).await.unwrap();
    assert!(page.instances.is_empty());
    assert_eq!(
        t.storage()
            .queue(&t.names().control_queue(0))
            .approximate_length()
            .await
            .unwrap(),
        0
    );
    // A second start of a live id is refused.
    c.start(StartRequest::new("WaitForever").with_id("once"))
        .await
        .unwrap();
    let e = err(c
        .start(StartRequest::new("WaitForever").with_id("once"))
        .await);
    assert!(e.contains("already Pending"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_instance_can_be_terminated() {
    // Start and terminate before any worker runs: both messages meet in one batch.
    let hub = TestHub::create("pendterm").await;
    let c = taskhub::client::Client::new(hub.clone());
    c.start(
        StartRequest::new("Sequence")
            .with_id("p1")
            .with_json_input("\"x\""),
    )
    .await
    .unwrap();
    c.terminate("p1", Some("changed my mind")).await.unwrap();
    // A scheduled start, terminated while it waits for its time.
    let at = time::OffsetDateTime::now_utc() + time::Duration::seconds(3);
    let mut req = StartRequest::new("Sequence")
        .with_id("p2")
        .with_json_input("\"x\"");
    req.start_at = Some(at);
    c.start(req).await.unwrap();
    c.terminate("p2", Some("not needed")).await.unwrap();
    let t = TestHub::start_with_hub(hub, registry(), common::hub::test_worker_options());
    for (id, reason) in [("p1", "\"changed my mind\""), ("p2", "\"not needed\"")] {
        let s = t.client.wait_for_completion(id, WAIT).await.unwrap();
        assert_eq!(
            s.runtime_status,
            OrchestrationStatus::Terminated,
            "{id}: {s:?}"
        );
        assert_eq!(s.output.as_deref(), Some(reason));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instances_row_left_running_by_a_crash_is_repaired_from_history() {
    let t = TestHub::start("repair", registry()).await;
    run(&t, "Sequence", "crashed", Some("\"x\"")).await;
    // As if the worker died after committing the history but before updating the row.
    let mut cols = taskhub::storage::TableEntity::new();
    taskhub::storage::EntityExt::put_str(&mut cols, "RuntimeStatus", "Running");
    taskhub::storage::EntityExt::put_str(&mut cols, "Output", "");
    t.hub
        .instances()
        .upsert_merge("crashed", &cols)
        .await
        .unwrap();
    // The inbound message that worker never deleted comes back.
    let msg = taskhub::core::TaskMessage {
        instance: taskhub::core::OrchestrationInstance::new("crashed", None),
        event: taskhub::core::HistoryEvent::new(
            time::OffsetDateTime::now_utc(),
            taskhub::core::testing::task_completed(2, "\"Hello London from x!\""),
        ),
        visible_at: None,
    };
    t.hub.send(&msg, None, None).await.unwrap();
    let s = common::wait_until("row repaired", WAIT, || async {
        let s = t.client.status("crashed", false).await.unwrap()?;
        (s.runtime_status == OrchestrationStatus::Completed).then_some(s)
    })
    .await;
    assert!(
        s.output
            .as_deref()
            .unwrap()
            .contains("Hello London from x!"),
        "{s:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_over_leftover_history_falls_back_to_reading_it() {
    // A new start skips reading history it believes absent; when rows are there after all (its
    // Instances row was deleted by hand), the sentinel conflict sends it back to read them.
    let t = TestHub::start("leftover", registry()).await;
    run(&t, "Sequence", "again", Some("\"a\"")).await;
    t.hub.instances().delete("again").await.unwrap();
    let s = run(&t, "Sequence", "again", Some("\"b\"")).await;
    assert_eq!(s.runtime_status, OrchestrationStatus::Completed, "{s:?}");
    assert!(s.output.as_deref().unwrap().contains("from b"), "{s:?}");
    let h = t.client.history("again").await.unwrap();
    assert_eq!(h.len(), 16, "the new execution replaced the old one");
}

/// Options whose leases are not written during a short run, so that every table transaction
/// counted is a history append.
fn waiting_options(wait: Duration) -> taskhub::worker::WorkerOptions {
    taskhub::worker::WorkerOptions {
        local_activity_wait: wait,
        lease_duration: Duration::from_secs(180),
        lease_renew_interval: Duration::from_secs(60),
        ..test_worker_options()
    }
}

/// A turn that waits for its local activities commits a sequence of short ones at once: one
/// history append for the three activities and the completion, where committing at once takes
/// four. Seen failing with the wait not taken (4 appends).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sequence_of_short_local_activities_commits_once_when_its_turn_waits() {
    let t = TestHub::start_with(
        "seqwait",
        registry(),
        waiting_options(Duration::from_secs(5)),
    )
    .await;
    // The partitions are owned once a first instance has run.
    run(&t, "Sequence", "seq-warm", Some("\"Bo\"")).await;
    let storage = t.hub.storage().clone();
    let before = storage.counters().get(taskhub::storage::OpKind::TableBatch);
    let s = run(&t, "Sequence", "seq-wait", Some("\"Ann\"")).await;
    assert_eq!(s.runtime_status, OrchestrationStatus::Completed, "{s:?}");
    let out: Vec<String> = serde_json::from_str(s.output.as_deref().unwrap()).unwrap();
    assert_eq!(out[2], "Hello London from Ann!");
    let appends = storage.counters().get(taskhub::storage::OpKind::TableBatch) - before;
    assert_eq!(appends, 1, "history appends");
    let h = t.client.history("seq-wait").await.unwrap();
    let completed = h
        .iter()
        .filter(|e| matches!(e.kind, EventKind::TaskCompleted { .. }))
        .count();
    assert_eq!(completed, 3);
}

/// An activity still running when its turn's wait ends is recorded as a local task and runs
/// once: the commit lists it, and nothing starts it again. Seen failing with the running ones
/// started again after the commit (Slow ran twice).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_activity_longer_than_the_wait_runs_once_and_completes_later() {
    let runs = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut r = registry();
    r.add_orchestrator("SlowThenHello", |ctx: OrchestrationContext| async move {
        let slow: String = ctx.call_activity("Slow", ()).await?;
        let hello: String = ctx.call_activity("SayHello", slow).await?;
        Ok::<_, Failure>(hello)
    });
    let counted = runs.clone();
    r.add_activity("Slow", move |_ctx, _: ()| {
        counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            Ok::<_, Failure>("slowly".to_string())
        }
    });
    let t = TestHub::start_with("slowwait", r, waiting_options(Duration::from_millis(50))).await;
    let s = run(&t, "SlowThenHello", "slow-wait", None).await;
    assert_eq!(s.runtime_status, OrchestrationStatus::Completed, "{s:?}");
    assert_eq!(s.output.as_deref(), Some("\"Hello slowly!\""));
    // Another start of Slow would have begun within the half second the first one slept.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 1);
}
