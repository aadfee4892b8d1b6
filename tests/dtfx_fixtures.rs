//! The DurableTask.AzureStorage fixture suite: messages and rows in the reference's exact
//! format (`tests/fixtures/dtfx/`, each described in its README with its source) are put on a
//! real hub's queues and tables, as a .NET client, a .NET worker or Durable Functions Monitor
//! would write them, and must drive a taskhub worker to the right outcome. The last test checks
//! the other direction: every kind of message taskhub writes follows the reference's rules.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use base64::Engine;
use serde_json::Value;
use taskhub::backend::{Envelope, TaskHub};
use taskhub::core::testing::{HostOptions, InMemoryHost};
use taskhub::core::{
    EntityId, EventKind, Failure, OrchestrationContext, OrchestrationInstance, OrchestrationStatus,
    Registry, RetryPolicy,
};
use taskhub::samples::transfer;

use common::hub::TestHub;

const WAIT: Duration = Duration::from_secs(60);

fn fixture(path: &str) -> String {
    let file = format!("{}/tests/fixtures/dtfx/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// A fixture with its `{{NAME}}` placeholders filled in.
fn fill(path: &str, values: &[(&str, &str)]) -> String {
    let mut text = fixture(path).trim_end().to_string();
    let now = taskhub::timestamps::ticks(time::OffsetDateTime::now_utc());
    for (k, v) in values.iter().chain([("NOW", now.as_str())].iter()) {
        text = text.replace(&format!("{{{{{k}}}}}"), v);
    }
    assert!(
        !text.contains("{{"),
        "unfilled placeholder in {path}: {text}"
    );
    text
}

/// Puts a message body on the control queue of `instance_id`, as the reference does.
async fn put(hub: &TaskHub, instance_id: &str, body: &str) {
    let queue = hub.names().control_queue_for(instance_id);
    hub.storage()
        .queue(&queue)
        .put(body, Duration::ZERO)
        .await
        .unwrap();
}

/// Base64, as DurableTask.AzureStorage 1.x (Durable Functions 2.x, Durable Functions Monitor)
/// encodes bodies.
fn base64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

static FLAKY_FAILED: AtomicBool = AtomicBool::new(false);

fn registry() -> Registry {
    let mut r = Registry::new();
    transfer::register(&mut r);
    r.add_orchestrator(
        "wait_for_approval",
        |ctx: OrchestrationContext| async move {
            let answer: Value = ctx.wait_for_external_event("Approval").await?;
            Ok::<_, Failure>(answer)
        },
    );
    r.add_orchestrator("greet", |ctx: OrchestrationContext| async move {
        let name: String = ctx.input()?;
        let greeting: String = ctx.call_activity("say_hello", &name).await?;
        Ok::<_, Failure>(greeting)
    });
    r.add_activity("say_hello", |_ctx, name: String| async move {
        Ok::<_, Failure>(format!("Hello {}!", name.len()))
    });
    r.add_orchestrator("flaky_once", |ctx: OrchestrationContext| async move {
        let out: String = ctx.call_activity("fails_once", ()).await?;
        Ok::<_, Failure>(out)
    });
    r.add_activity("fails_once", |_ctx, _: Value| async move {
        if !FLAKY_FAILED.swap(true, Ordering::SeqCst) {
            return Err(Failure::new("Flaky", "the first call fails"));
        }
        Ok::<_, Failure>("second time lucky".to_string())
    });
    // Stands for a .NET orchestration that called an entity: it waits for the response,
    // raised under the request's id.
    r.add_orchestrator("dotnet_caller", |ctx: OrchestrationContext| async move {
        let request_id: String = ctx.input()?;
        let response: Value = ctx.wait_for_external_event(&request_id).await?;
        Ok::<_, Failure>(response)
    });
    r
}

/// Starts `name` with the reference's start message (UTF-8 body); returns the execution id.
async fn start(hub: &TaskHub, file: &str, id: &str, name: &str, input: &str) -> String {
    let exec = uuid::Uuid::new_v4().simple().to_string();
    let body = fill(
        &format!("messages/{file}"),
        &[
            ("ID", id),
            ("EXEC", &exec),
            ("NAME", name),
            ("INPUT", input),
        ],
    );
    put(hub, id, &body).await;
    exec
}

async fn status_becomes(t: &TestHub, id: &str, status: OrchestrationStatus) -> Option<String> {
    common::wait_until(&format!("{id} {status}"), WAIT, || async {
        let s = t.client.status(id, false).await.ok()??;
        (s.runtime_status == status).then_some(s.output)
    })
    .await
}

fn json_string(text: &str) -> String {
    serde_json::to_string(text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starts_events_terminate_and_suspend_resume_in_the_reference_format() {
    let t = TestHub::start("fxlife", registry()).await;
    // A start with the captured shape (tags with .NET's dictionary $type), and one with the
    // legacy assembly-qualified type names.
    start(
        &t.hub,
        "start.json",
        "fx-greet",
        "greet",
        &json_string("\"Ada\""),
    )
    .await;
    let out = status_becomes(&t, "fx-greet", OrchestrationStatus::Completed).await;
    assert_eq!(out.as_deref(), Some("\"Hello 3!\""));
    let s = t.client.status("fx-greet", false).await.unwrap().unwrap();
    assert_eq!(
        s.tags.as_deref(),
        Some(r#"{"source":"dotnet"}"#),
        "no $type in tags"
    );
    start(
        &t.hub,
        "start_legacy_type_names.json",
        "fx-legacy",
        "greet",
        &json_string("\"Grace\""),
    )
    .await;
    let out = status_becomes(&t, "fx-legacy", OrchestrationStatus::Completed).await;
    assert_eq!(out.as_deref(), Some("\"Hello 5!\""));

    // An event, Base64 as DT 1.x sends it.
    start(
        &t.hub,
        "start.json",
        "fx-event",
        "wait_for_approval",
        "null",
    )
    .await;
    status_becomes(&t, "fx-event", OrchestrationStatus::Running).await;
    let raise = |id: &str| {
        fill(
            "messages/event_raised.json",
            &[
                ("ID", id),
                ("NAME", "Approval"),
                ("INPUT", &json_string("\"yes\"")),
            ],
        )
    };
    put(&t.hub, "fx-event", &base64(&raise("fx-event"))).await;
    let out = status_becomes(&t, "fx-event", OrchestrationStatus::Completed).await;
    assert_eq!(out.as_deref(), Some("\"yes\""));

    // Terminate.
    start(&t.hub, "start.json", "fx-term", "wait_for_approval", "null").await;
    status_becomes(&t, "fx-term", OrchestrationStatus::Running).await;
    let body = fill(
        "messages/terminate.json",
        &[("ID", "fx-term"), ("INPUT", &json_string("\"stop now\""))],
    );
    put(&t.hub, "fx-term", &body).await;
    let out = status_becomes(&t, "fx-term", OrchestrationStatus::Terminated).await;
    assert_eq!(out.as_deref(), Some("\"stop now\""));

    // Suspend, an event while suspended, resume.
    start(&t.hub, "start.json", "fx-susp", "wait_for_approval", "null").await;
    status_becomes(&t, "fx-susp", OrchestrationStatus::Running).await;
    let suspend = fill(
        "messages/suspend.json",
        &[("ID", "fx-susp"), ("INPUT", &json_string("maintenance"))],
    );
    put(&t.hub, "fx-susp", &suspend).await;
    status_becomes(&t, "fx-susp", OrchestrationStatus::Suspended).await;
    put(&t.hub, "fx-susp", &raise("fx-susp")).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let s = t.client.status("fx-susp", false).await.unwrap().unwrap();
    assert_eq!(
        s.runtime_status,
        OrchestrationStatus::Suspended,
        "held while suspended"
    );
    let resume = fill(
        "messages/resume.json",
        &[("ID", "fx-susp"), ("INPUT", &json_string("done"))],
    );
    put(&t.hub, "fx-susp", &resume).await;
    let out = status_becomes(&t, "fx-susp", OrchestrationStatus::Completed).await;
    assert_eq!(out.as_deref(), Some("\"yes\""));
    let types: Vec<String> = t
        .client
        .history("fx-susp")
        .await
        .unwrap()
        .iter()
        .map(|e| e.event_type().to_string())
        .collect();
    for expected in ["ExecutionSuspended", "EventRaised", "ExecutionResumed"] {
        assert!(types.contains(&expected.to_string()), "{types:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rewind_wake_up_from_durable_functions_monitor_reruns_the_failed_activity() {
    let t = TestHub::start("fxrewind", registry()).await;
    start(&t.hub, "start.json", "fx-flaky", "flaky_once", "null").await;
    status_becomes(&t, "fx-flaky", OrchestrationStatus::Failed).await;
    // The row edits DurableTask.AzureStorage makes (tests/rewind.rs compares them to the
    // reference's), then the wake-up exactly as DT 1.x writes it: a Base64 GenericEvent.
    let leaves = t.hub.rewind_history("fx-flaky").await.unwrap();
    assert_eq!(leaves, ["fx-flaky"]);
    let wake = fill(
        "messages/rewind_wakeup.json",
        &[
            ("ID", "fx-flaky"),
            ("INPUT", &json_string("rewound by DFMon")),
        ],
    );
    put(&t.hub, "fx-flaky", &base64(&wake)).await;
    let out = status_becomes(&t, "fx-flaky", OrchestrationStatus::Completed).await;
    assert_eq!(out.as_deref(), Some("\"second time lucky\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entity_signals_calls_and_locks_in_the_reference_format() {
    let t = TestHub::start("fxentity", registry()).await;
    let account = |k: &str| EntityId::new(transfer::ACCOUNT, k).unwrap();
    let balance = |k: &'static str| {
        let client = t.client.clone();
        async move { client.entity_state::<i64>(&account(k)).await.unwrap() }
    };
    // A signal, as a .NET client sends it (Base64, DT 1.x).
    let req = uuid::Uuid::new_v4().to_string();
    let signal = fill(
        "messages/entity_signal.json",
        &[("ID", "@account@amy"), ("AMOUNT", "25"), ("REQ", &req)],
    );
    put(&t.hub, "@account@amy", &base64(&signal)).await;
    common::wait_until("the signal", WAIT, || async {
        (balance("amy").await == Some(25)).then_some(())
    })
    .await;
    // The same signal again (a redelivery): applied once.
    put(&t.hub, "@account@amy", &signal).await;

    // A call from a .NET orchestration: the response goes back under the request's id.
    let req = uuid::Uuid::new_v4().to_string();
    let pexec = start(
        &t.hub,
        "start.json",
        "dotnet-orch",
        "dotnet_caller",
        &json_string(&json_string(&req)),
    )
    .await;
    status_becomes(&t, "dotnet-orch", OrchestrationStatus::Running).await;
    let call = fill(
        "messages/entity_call.json",
        &[
            ("ID", "@account@amy"),
            ("REQ", &req),
            ("PARENT", "dotnet-orch"),
            ("PEXEC", &pexec),
        ],
    );
    put(&t.hub, "@account@amy", &call).await;
    let out = status_becomes(&t, "dotnet-orch", OrchestrationStatus::Completed).await;
    let response: Value = serde_json::from_str(&out.unwrap()).unwrap();
    assert_eq!(
        response,
        serde_json::json!({"result": "25"}),
        "applied once"
    );

    // A critical section of a .NET orchestration over amy and bob: the lock request goes to
    // the first, is passed to the second, and the grant comes back.
    let lock_id = uuid::Uuid::new_v4().to_string();
    let pexec = start(
        &t.hub,
        "start.json",
        "dotnet-locker",
        "dotnet_caller",
        &json_string(&json_string(&lock_id)),
    )
    .await;
    status_becomes(&t, "dotnet-locker", OrchestrationStatus::Running).await;
    let lock = fill(
        "messages/entity_lock.json",
        &[
            ("ID", "@account@amy"),
            ("REQ", &lock_id),
            ("PARENT", "dotnet-locker"),
            ("PEXEC", &pexec),
            ("KEY1", "amy"),
            ("KEY2", "bob"),
        ],
    );
    put(&t.hub, "@account@amy", &lock).await;
    let out = status_becomes(&t, "dotnet-locker", OrchestrationStatus::Completed).await;
    let grant: Value = serde_json::from_str(&out.unwrap()).unwrap();
    assert_eq!(
        grant,
        serde_json::json!({"result": "Lock Acquisition Completed"})
    );
    // While locked, a client's signal waits in the entity's queue.
    t.client
        .signal_entity(&account("amy"), "deposit", Some("5"), None)
        .await
        .unwrap();
    common::wait_until("the signal queued behind the lock", WAIT, || async {
        let s = t.client.status("@account@amy", false).await.ok()??;
        let status = s.custom_status?;
        status
            .contains(r#""queueSize":1,"lockedBy":"dotnet-locker""#)
            .then_some(())
    })
    .await;
    assert_eq!(balance("amy").await, Some(25));
    // The .NET orchestration releases both; the queued signal runs.
    for key in ["amy", "bob"] {
        let id = format!("@account@{key}");
        let release = fill(
            "messages/entity_release.json",
            &[
                ("ID", &id),
                ("REQ", &lock_id),
                ("PARENT", "dotnet-locker"),
                ("PEXEC", &pexec),
            ],
        );
        put(&t.hub, &id, &release).await;
    }
    common::wait_until("the release", WAIT, || async {
        (balance("amy").await == Some(30)).then_some(())
    })
    .await;
    for key in ["amy", "bob"] {
        common::wait_until("bob released too", WAIT, || async {
            let s = t
                .client
                .status(&format!("@account@{key}"), false)
                .await
                .ok()??;
            (!s.custom_status?.contains("lockedBy")).then_some(())
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_message_in_a_blob_with_the_reference_name_is_read() {
    let t = TestHub::start("fxlarge", registry()).await;
    let id = "fx/large";
    let big = "x".repeat(100 * 1024);
    let exec = uuid::Uuid::new_v4().simple().to_string();
    let envelope = fill(
        "messages/start.json",
        &[
            ("ID", id),
            ("EXEC", &exec),
            ("NAME", "greet"),
            ("INPUT", &json_string(&json_string(&big))),
        ],
    );
    // `{instance}/message-{ActivityId:N}-{EventType}.json.gz`, gzip of the whole envelope.
    let blob = format!(
        "{id}/message-{}-ExecutionStarted.json.gz",
        "3f7a5b8e1c2d4e5f8a9b0c1d2e3f4a5b"
    );
    t.hub.payloads().upload(&blob, &envelope).await.unwrap();
    let wrapper = fill("messages/large_message_wrapper.json", &[("BLOB", &blob)]);
    put(&t.hub, id, &wrapper).await;
    let out = status_becomes(&t, id, OrchestrationStatus::Completed).await;
    assert_eq!(out.as_deref(), Some("\"Hello 102400!\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_rows_with_history_state_and_execution_rewound_replay() {
    let t = TestHub::start("fxrows", registry()).await;
    let id = "fx-rows";
    let exec = uuid::Uuid::new_v4().simple().to_string();
    let when = taskhub::timestamps::ticks(time::OffsetDateTime::now_utc());
    let rows = fill(
        "rows/waiting_with_history_state_and_execution_rewound.json",
        &[("ID", id), ("EXEC", &exec), ("T", &when)],
    );
    let rows: Value = serde_json::from_str(&rows).unwrap();
    let instances = t.hub.instances().table();
    let row = rows["instance"].as_object().unwrap();
    instances.insert(id, "", row).await.unwrap();
    for row in rows["history"].as_array().unwrap() {
        let row = row.as_object().unwrap();
        let rk = row["RowKey"].as_str().unwrap();
        t.hub.history().table().insert(id, rk, row).await.unwrap();
    }
    let loaded = t.client.history(id).await.unwrap();
    assert!(loaded
        .iter()
        .any(|e| matches!(e.kind, EventKind::HistoryState { .. })));
    assert!(loaded.iter().any(|e| matches!(
        &e.kind,
        EventKind::ExecutionRewound { reason: Some(r), .. } if r == "rewound by a .NET worker"
    )));
    let raise = fill(
        "messages/event_raised.json",
        &[
            ("ID", id),
            ("NAME", "Approval"),
            ("INPUT", &json_string("42")),
        ],
    );
    put(&t.hub, id, &raise).await;
    let out = status_becomes(&t, id, OrchestrationStatus::Completed).await;
    assert_eq!(out.as_deref(), Some("42"));
}

/// The reference reader's rules, checked on a message body as text (the order of properties
/// matters to it, and serde_json's maps do not keep it).
fn check_reference_rules(body: &str) -> Result<(), String> {
    // `$type` is honoured only as the first property of an object.
    for (i, _) in body.match_indices(r#""$type""#) {
        let before = body[..i].trim_end();
        if !before.ends_with('{') {
            return Err(format!("$type not first at {i}: {body}"));
        }
    }
    let v: Value = serde_json::from_str(body).map_err(|e| e.to_string())?;
    if v["$type"] != "DurableTask.AzureStorage.MessageData" {
        return Err("envelope $type".into());
    }
    let sender = &v["Sender"];
    if !(sender["InstanceId"].is_string() && sender["ExecutionId"].is_string()) {
        return Err(format!("Sender must be two strings: {sender}"));
    }
    if !v["SequenceNumber"].is_u64() || !v["ActivityId"].is_string() {
        return Err("SequenceNumber / ActivityId".into());
    }
    let tm = &v["TaskMessage"];
    if tm["$type"] != "DurableTask.Core.TaskMessage" {
        return Err("TaskMessage $type".into());
    }
    let event = &tm["Event"];
    let n = event["EventType"]
        .as_i64()
        .ok_or("EventType must be an integer")?;
    let kind = taskhub::core::EventType::from_i32(n as i32).ok_or("unknown EventType")?;
    let class = match kind {
        taskhub::core::EventType::GenericEvent => "GenericEvent".to_string(),
        other => format!("{other}Event"),
    };
    if event["$type"] != format!("DurableTask.Core.History.{class}").as_str() {
        return Err(format!("event $type {} for {kind}", event["$type"]));
    }
    if !event["EventId"].is_i64() || event["IsPlayed"] != false {
        return Err("EventId / IsPlayed".into());
    }
    let instance = &tm["OrchestrationInstance"];
    if instance["$type"] != "DurableTask.Core.OrchestrationInstance"
        || !instance["InstanceId"].is_string()
    {
        return Err("OrchestrationInstance".into());
    }
    let required: &[&str] = match kind {
        taskhub::core::EventType::ExecutionStarted => &["OrchestrationInstance", "Name", "Input"],
        taskhub::core::EventType::TaskScheduled => &["Name", "Input"],
        taskhub::core::EventType::TaskCompleted => &["TaskScheduledId", "Result"],
        taskhub::core::EventType::TaskFailed => &["TaskScheduledId", "Reason"],
        taskhub::core::EventType::SubOrchestrationInstanceCompleted => {
            &["TaskScheduledId", "Result"]
        }
        taskhub::core::EventType::TimerFired => &["TimerId", "FireAt"],
        taskhub::core::EventType::EventRaised => &["Name", "Input"],
        _ => &[],
    };
    for r in required {
        if event.get(*r).is_none() {
            return Err(format!("{kind} without {r}"));
        }
    }
    if kind == taskhub::core::EventType::TaskScheduled {
        let input: Value = serde_json::from_str(event["Input"].as_str().unwrap_or("null"))
            .map_err(|e| e.to_string())?;
        if !input.is_array() {
            return Err("TaskScheduled.Input must be a JSON array".into());
        }
    }
    check_dates(&v)?;
    // Entity requests: the reference finds `id` after skipping only op, signal and input.
    if kind == taskhub::core::EventType::EventRaised
        && event["Name"]
            .as_str()
            .is_some_and(|n| n == "op" || n.starts_with("op@"))
    {
        let text = event["Input"].as_str().unwrap_or_default();
        let request: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        check_dates(&request)?;
        let keys = top_level_keys(text);
        let id_at = keys
            .iter()
            .position(|k| k == "id")
            .ok_or("request without id")?;
        if keys[..id_at]
            .iter()
            .any(|k| !["op", "signal", "input"].contains(&k.as_str()))
        {
            return Err(format!("request keys before id: {keys:?}"));
        }
        for always in ["Timestamp", "Predecessor", "IsLockRequest", "createTrace"] {
            if !keys.iter().any(|k| k == always) {
                return Err(format!("request without {always}: {text}"));
            }
        }
    }
    Ok(())
}

/// Every date-like string is UTC with at most seven fractional digits (or .NET's no-date).
fn check_dates(v: &Value) -> Result<(), String> {
    match v {
        Value::String(s) if looks_like_date(s) => {
            let ok = s == "0001-01-01T00:00:00"
                || (s.ends_with('Z')
                    && s.len() >= 20
                    && s[19..s.len() - 1]
                        .strip_prefix('.')
                        .map_or(s.len() == 20, |frac| {
                            (1..=7).contains(&frac.len())
                                && frac.bytes().all(|b| b.is_ascii_digit())
                        }));
            if ok {
                Ok(())
            } else {
                Err(format!("date not in the reference's form: {s}"))
            }
        }
        Value::Array(a) => a.iter().try_for_each(check_dates),
        Value::Object(o) => o.values().try_for_each(check_dates),
        _ => Ok(()),
    }
}

fn looks_like_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 19
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[..4].iter().all(u8::is_ascii_digit)
}

/// The keys of a JSON object's top level, in their written order.
fn top_level_keys(text: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut de = serde_json::Deserializer::from_str(text);
    struct Keys<'a>(&'a mut Vec<String>);
    impl<'de> serde::de::Visitor<'de> for Keys<'_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            while let Some(k) = map.next_key::<String>()? {
                self.0.push(k);
                map.next_value::<serde::de::IgnoredAny>()?;
            }
            Ok(())
        }
    }
    let _ = serde::Deserializer::deserialize_map(&mut de, Keys(&mut keys));
    keys
}

#[test]
fn every_kind_of_message_taskhub_writes_follows_the_reference_rules() {
    // Orchestrations that make every kind of message: activity calls (with a retry), a timer,
    // a sub-orchestration and its completion to the parent, events, entity calls, signals,
    // lock requests, grants and releases.
    let mut r = Registry::new();
    transfer::register(&mut r);
    r.add_orchestrator("everything", |ctx: OrchestrationContext| async move {
        let _: Value = ctx
            .call_activity_with_retry("sometimes", (), RetryPolicy::new(3, Duration::from_secs(1)))
            .await?;
        ctx.sleep(Duration::from_secs(5)).await;
        let child: i64 = ctx
            .call_sub_orchestrator(transfer::AUDIT, ["a", "b"])
            .await?;
        ctx.send_event("elsewhere", "Ping", child);
        let a = EntityId::new(transfer::ACCOUNT, "a")
            .map_err(|e| Failure::new("Bad", e.to_string()))?;
        ctx.signal_entity(&a, "deposit", 1);
        Ok::<_, Failure>(child)
    });
    let tries = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    r.add_activity("sometimes", move |_ctx, _: Value| {
        let tries = tries.clone();
        async move {
            if tries.fetch_add(1, Ordering::SeqCst) == 0 {
                return Err(Failure::new("Once", "fails the first time"));
            }
            Ok::<_, Failure>(Value::Null)
        }
    });
    let mut host = InMemoryHost::new(r, HostOptions::default());
    host.start("everything", "all", None);
    host.start(
        transfer::TRANSFER,
        "t",
        Some(r#"{"from":"a","to":"b","amount":1}"#),
    );
    host.run(10_000);
    assert_eq!(host.status("all"), Some(OrchestrationStatus::Completed));
    let mut kinds = std::collections::BTreeSet::new();
    // Activity results are written by the worker (the host here makes its own), in the same
    // envelope.
    let me = OrchestrationInstance::new("all", Some("e".into()));
    let results: Vec<taskhub::core::TaskMessage> = [
        taskhub::core::testing::task_completed(0, "\"ok\""),
        taskhub::core::testing::task_failed(1, "Boom", "it failed"),
    ]
    .into_iter()
    .map(|kind| taskhub::core::TaskMessage {
        instance: me.clone(),
        event: taskhub::core::HistoryEvent::new(time::OffsetDateTime::now_utc(), kind),
        visible_at: None,
    })
    .collect();
    let worker_results = ("worker".to_string(), results);
    let turns = host
        .turn_log
        .iter()
        .map(|(sender, turn)| (sender.clone(), turn.messages.clone()))
        .chain(std::iter::once(worker_results));
    for (sender, messages) in turns {
        for m in &messages {
            let from = OrchestrationInstance::new(sender.as_str(), Some("e".into()));
            for envelope in [
                Envelope::new(m.clone(), Some(from)),
                Envelope::new(m.clone(), None),
            ] {
                let body = envelope.encode();
                check_reference_rules(&body).unwrap_or_else(|e| panic!("{e}\n{body}"));
            }
            let name = match &m.event.kind {
                EventKind::EventRaised { name, .. } => format!("EventRaised {name}"),
                other => other.event_type().to_string(),
            };
            kinds.insert(name.split('-').next().unwrap_or_default().to_string());
        }
    }
    for expected in [
        "ExecutionStarted",
        "TaskScheduled",
        "TaskCompleted",
        "TaskFailed",
        "TimerFired",
        "SubOrchestrationInstanceCompleted",
        "EventRaised op",
        "EventRaised release",
        "EventRaised Ping",
    ] {
        assert!(
            kinds.contains(expected),
            "{expected} not written: {kinds:?}"
        );
    }
    // The checker itself rejects what the reference would misread.
    assert!(check_reference_rules(
        r#"{"ActivityId":"x","$type":"DurableTask.AzureStorage.MessageData"}"#
    )
    .is_err());
    assert!(check_dates(&Value::String("2024-05-01T10:00:00.123456789Z".into())).is_err());
}
