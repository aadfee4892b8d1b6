//! Distributed tracing end to end: real `taskhub` processes configured only through `OTEL_*`
//! variables export to an OTLP/HTTP receiver this test serves on loopback (protobuf from one
//! worker, JSON from the other and from the CLI), and the spans must form one trace per
//! instance tree. Also: a start message in DurableTask's format carrying a .NET client's trace
//! context is continued, and the HTTP API's start honours `traceparent`; a bad OTEL_* setting is
//! one clear error line.
//!
//! How we know the checks bite: with the stamping of the execution span into activity requests
//! and sub-orchestration starts switched off (`ExecutionTrace::stamp` returning at once), the
//! pipeline test fails waiting for its spans: it receives the start, the root orchestration and
//! its turns, but the 14 activities come unnamed (`activity`, outside the trace) and no
//! sub-orchestration is traced at all.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::routing::post;
use prost::Message as _;
use serde_json::Value;

use common::cli::{Cli, WorkerProcess};
use common::hub::TestHub;
use common::{free_port, unique_name, wait_until};

/// One exported span, as the receiver decoded it.
#[derive(Debug, Clone)]
struct Span {
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    name: String,
    service: String,
}

#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<Span>>>);

impl Received {
    fn spans(&self) -> Vec<Span> {
        self.0.lock().unwrap().clone()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Decodes an OTLP/HTTP export request, protobuf or JSON (its content type says which).
fn decode(headers: &HeaderMap, body: &[u8]) -> Vec<Span> {
    let json = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.contains("json"));
    let mut out = Vec::new();
    if json {
        let v: Value = serde_json::from_slice(body).expect("OTLP JSON");
        for rs in v["resourceSpans"].as_array().into_iter().flatten() {
            let service = rs["resource"]["attributes"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|a| a["key"] == "service.name")
                .and_then(|a| a["value"]["stringValue"].as_str())
                .unwrap_or_default()
                .to_string();
            for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
                for s in ss["spans"].as_array().into_iter().flatten() {
                    let text = |k: &str| s[k].as_str().unwrap_or_default().to_lowercase();
                    out.push(Span {
                        trace_id: text("traceId"),
                        span_id: text("spanId"),
                        parent_span_id: text("parentSpanId"),
                        name: text("name"),
                        service: service.clone(),
                    });
                }
            }
        }
    } else {
        use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
        use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
        let req = ExportTraceServiceRequest::decode(body).expect("OTLP protobuf");
        for rs in req.resource_spans {
            let service = rs
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|a| a.key == "service.name")
                .and_then(|a| match a.value.as_ref()?.value.as_ref()? {
                    Any::StringValue(s) => Some(s.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            for ss in rs.scope_spans {
                for s in ss.spans {
                    out.push(Span {
                        trace_id: hex(&s.trace_id),
                        span_id: hex(&s.span_id),
                        parent_span_id: hex(&s.parent_span_id),
                        name: s.name.to_lowercase(),
                        service: service.clone(),
                    });
                }
            }
        }
    }
    out
}

/// An OTLP/HTTP receiver on a free loopback port: `http://127.0.0.1:PORT`.
async fn receiver() -> (String, Received) {
    let received = Received::default();
    let sink = received.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        post(move |headers: HeaderMap, body: Bytes| {
            let sink = sink.clone();
            async move {
                let spans = decode(&headers, &body);
                sink.0.lock().unwrap().extend(spans);
                ""
            }
        }),
    );
    // Bound to port 0 and asked which: a port picked first can be taken by a parallel test
    // before the bind (seen once).
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("bind the receiver");
    let port = listener.local_addr().expect("the receiver's port").port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://127.0.0.1:{port}"), received)
}

/// The OTEL_* settings of one process: quick batches, its own service name and protocol.
fn otel_env(endpoint: &str, service: &str, protocol: &str) -> Vec<(String, String)> {
    [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
        ("OTEL_SERVICE_NAME", service),
        ("OTEL_BSP_SCHEDULE_DELAY", "200"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn with_env(cli: &Cli, extra: Vec<(String, String)>) -> Cli {
    let mut c = cli.with_program(cli.program.clone(), &[]);
    c.envs = cli.envs.iter().cloned().chain(extra).collect();
    c
}

/// Stops a worker so that it flushes its spans (SIGINT: the graceful stop).
fn stop(worker: WorkerProcess) -> String {
    let (status, _, log) = worker.stop(libc::SIGINT);
    assert!(status.success(), "worker exit {status:?}; log:\n{log}");
    log
}

/// Waits (up to 30 s: the last batches arrive as the processes stop) until `done` holds for
/// the spans received; panics listing what came when it does not.
async fn wait_for_spans(
    received: &Received,
    what: &str,
    done: impl Fn(&[Span]) -> bool,
) -> Vec<Span> {
    let start = std::time::Instant::now();
    loop {
        let spans = received.spans();
        if done(&spans) {
            return spans;
        }
        if start.elapsed() > Duration::from_secs(30) {
            let mut names = BTreeMap::<&str, usize>::new();
            for s in &spans {
                *names.entry(&s.name).or_default() += 1;
            }
            panic!("timed out waiting until {what}; received {names:#?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn children<'a>(spans: &'a [Span], parent: &Span) -> Vec<&'a Span> {
    spans
        .iter()
        .filter(|s| s.parent_span_id == parent.span_id && s.trace_id == parent.trace_id)
        .collect()
}

fn one<'a>(spans: &'a [Span], name: &str) -> &'a Span {
    let found: Vec<&Span> = spans.iter().filter(|s| s.name == name).collect();
    assert_eq!(found.len(), 1, "exactly one span {name}: {spans:#?}");
    found[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_run_is_one_trace_with_every_orchestration_and_step() {
    let (endpoint, received) = receiver().await;
    let mut cli = Cli::new("Trace").await;
    let container = unique_name("tracedata");
    cli.partitions = Some(2);
    cli.envs = vec![("DataContainer".into(), container.clone())];
    cli.ok(&["hub", "create"]);
    // Debug logs, to see the lines of turns and activities; one worker logs JSON.
    let debug = || vec![("RUST_LOG".to_string(), "taskhub=debug".to_string())];
    let w1 = with_env(
        &cli,
        [otel_env(&endpoint, "w1", "http/protobuf"), debug()].concat(),
    )
    .spawn_worker(&[]);
    let w2 = with_env(
        &cli,
        [otel_env(&endpoint, "w2", "http/json"), debug()].concat(),
    )
    .spawn_worker(&["--log-format", "json"]);
    let starter = with_env(&cli, otel_env(&endpoint, "cli", "http/json"));
    let files = 3;
    let out = starter.ok(&[
        "pipeline",
        "--no-worker",
        "--files",
        &files.to_string(),
        "--rows",
        "2",
        "--json",
    ]);
    let results: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(results.as_array().unwrap().len(), files);
    let logs = [stop(w1), stop(w2)];

    // The receiver may still be taking the last batches the workers sent as they stopped.
    let wanted = 2 + files + 2 + 4 * files; // client, orchestrations, activities
    let spans = wait_for_spans(&received, "every span is exported", |spans| {
        let n = spans
            .iter()
            .filter(|s| {
                s.name.starts_with("activity:")
                    || s.name.starts_with("orchestration:")
                    || s.name.starts_with("create_orchestration:")
            })
            .count();
        n >= wanted
    })
    .await;

    let start = one(&spans, "create_orchestration:orchestratorfunc");
    assert_eq!(start.service, "cli");
    let traced: BTreeSet<&str> = spans.iter().map(|s| s.trace_id.as_str()).collect();
    assert_eq!(traced.len(), 1, "one trace: {spans:#?}");
    let root = one(&spans, "orchestration:orchestratorfunc");
    assert_eq!(
        root.parent_span_id, start.span_id,
        "the run hangs from the start"
    );

    let under_root = children(&spans, root);
    let names = |v: &[&Span]| -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for s in v {
            *m.entry(s.name.clone()).or_default() += 1;
        }
        m
    };
    let root_children = names(&under_root);
    assert_eq!(
        root_children.get("activity:generatedata"),
        Some(&1),
        "{root_children:?}"
    );
    assert_eq!(
        root_children.get("activity:step0"),
        Some(&1),
        "{root_children:?}"
    );
    assert_eq!(
        root_children.get("orchestration:suborchestratorfunc"),
        Some(&files),
        "{root_children:?}"
    );
    assert!(root_children.contains_key("orchestration_turn:orchestratorfunc"));
    for sub in under_root
        .iter()
        .filter(|s| s.name == "orchestration:suborchestratorfunc")
    {
        let steps = names(&children(&spans, sub));
        for step in 1..=4 {
            assert_eq!(
                steps.get(&format!("activity:step{step}")),
                Some(&1),
                "sub-orchestration {}: {steps:?}",
                sub.span_id
            );
        }
    }
    // Every process that ran work exported its spans, whichever protocol it speaks (which
    // worker gets which work is up to the partition balance; the other test speaks protobuf).
    let services: BTreeSet<&str> = spans.iter().map(|s| s.service.as_str()).collect();
    assert!(services.contains("cli"), "{services:?}");
    for (log, service) in logs.iter().zip(["w1", "w2"]) {
        if log.contains("turn committed") {
            assert!(
                services.contains(service),
                "{service} ran turns: {services:?}"
            );
        }
    }

    // Part 5: the log lines of turns and activities carry the trace id, in text and in JSON.
    let trace_id = &start.trace_id;
    let text = format!("trace_id={trace_id}");
    let json = format!("\"trace_id\":\"{trace_id}\"");
    let lines_with = |wanted: &str| {
        logs.iter()
            .flat_map(|l| l.lines())
            .filter(|l| l.contains("turn committed") && l.contains(wanted))
            .count()
    };
    let turns = logs
        .iter()
        .map(|l| l.matches("turn committed").count())
        .sum::<usize>();
    assert!(turns > 0);
    assert_eq!(
        lines_with(&text) + lines_with(&json),
        turns,
        "every turn's line has the trace id:\n{}",
        logs.join("\n")
    );
}

/// A start message as DurableTask.AzureStorage writes it (reference §1.3, the
/// `MessageManagerTests` fixture with the current class's `ParentTraceContext`): a .NET client
/// started `HelloCities` inside its trace.
fn dotnet_start(instance_id: &str, execution_id: &str, traceparent: &str) -> String {
    format!(
        r#"{{"$type":"DurableTask.AzureStorage.MessageData","ActivityId":"1b4e28ba-2fa1-41d2-883f-0016d3cca427","TaskMessage":{{"$type":"DurableTask.Core.TaskMessage","Event":{{"$type":"DurableTask.Core.History.ExecutionStartedEvent","OrchestrationInstance":{{"$type":"DurableTask.Core.OrchestrationInstance","InstanceId":"{instance_id}","ExecutionId":"{execution_id}"}},"EventType":0,"ParentInstance":null,"Name":"HelloCities","Version":"","Input":null,"Tags":null,"Correlation":null,"ParentTraceContext":{{"$type":"DurableTask.Core.Tracing.DistributedTraceContext","TraceParent":"{traceparent}","TraceState":"vendor=dotnet","Id":null,"SpanId":null,"ActivityStartTime":null}},"ScheduledStartTime":null,"Generation":0,"GenerateNewTrace":false,"EventId":-1,"IsPlayed":false,"Timestamp":"2024-05-01T10:00:00.1234567Z"}},"SequenceNumber":0,"OrchestrationInstance":{{"$type":"DurableTask.Core.OrchestrationInstance","InstanceId":"{instance_id}","ExecutionId":"{execution_id}"}},"OrchestrationExecutionContext":null}},"CompressedBlobName":null,"SequenceNumber":40,"Sender":{{"InstanceId":"","ExecutionId":""}},"SerializableTraceContext":null}}"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dotnet_trace_and_an_http_traceparent_are_continued() {
    let (endpoint, received) = receiver().await;
    let hub = TestHub::create("TraceNet").await;
    let cli = Cli::for_hub(&hub).await;
    let port = free_port();
    let worker = with_env(&cli, otel_env(&endpoint, "w", "http/protobuf"))
        .spawn_worker(&["--http", &format!("127.0.0.1:{port}")]);
    worker.wait_for_log("all partitions acquired", |log| {
        log.matches("partition acquired").count() >= hub.names().partition_count() as usize
    });

    // 1. A .NET client's start, put on the control queue as .NET puts it.
    let dotnet_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let dotnet_span = "00f067aa0ba902b7";
    let traceparent = format!("00-{dotnet_trace}-{dotnet_span}-01");
    let id = unique_name("net");
    let queue = hub.storage().queue(&hub.names().control_queue_for(&id));
    queue
        .put(&dotnet_start(&id, "e1", &traceparent), Duration::ZERO)
        .await
        .unwrap();
    // No Instances row until its first turn (a .NET client writes one; this test does not).
    let client = taskhub::client::Client::new(hub.clone());
    wait_until(
        "the .NET-started run completes",
        Duration::from_secs(120),
        || {
            let client = client.clone();
            let id = id.clone();
            async move {
                let status = client.status(&id, false).await.ok().flatten()?;
                (status.runtime_status == taskhub::core::OrchestrationStatus::Completed)
                    .then_some(())
            }
        },
    )
    .await;

    // 2. A start over HTTP inside the caller's trace.
    let http_trace = "0af7651916cd43dd8448eb211c80319c";
    let http_span = "b7ad6b7169203331";
    let reply = reqwest::Client::new()
        .post(format!(
            "http://127.0.0.1:{port}/runtime/webhooks/durabletask/orchestrators/HelloCities"
        ))
        .header("traceparent", format!("00-{http_trace}-{http_span}-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 202);
    let body: Value = serde_json::from_str(&reply.text().await.unwrap()).unwrap();
    let http_id = body["id"].as_str().unwrap().to_string();
    cli.status_becomes(&http_id, "Completed");

    // The History row records the execution's span, so a .NET worker continues it ("and back").
    let history = cli.json(&["history", &id, "--json"]);
    let started = history
        .as_array()
        .and_then(|events| events.iter().find(|e| e["EventType"] == "ExecutionStarted"))
        .cloned()
        .unwrap_or_else(|| panic!("{history}"));
    let recorded = started["ParentTraceContext"].clone();
    assert_eq!(recorded["TraceParent"], traceparent.as_str(), "{started}");
    assert_eq!(recorded["TraceState"], "vendor=dotnet");
    let execution_span = recorded["SpanId"]
        .as_str()
        .unwrap_or_else(|| panic!("{started}"))
        .to_string();
    stop(worker);

    let spans = wait_for_spans(&received, "the spans of both runs are exported", |spans| {
        spans
            .iter()
            .filter(|s| s.name == "activity:sayhello")
            .count()
            >= 6
    })
    .await;
    for (trace, parent) in [(dotnet_trace, dotnet_span), (http_trace, http_span)] {
        let run: Vec<&Span> = spans.iter().filter(|s| s.trace_id == trace).collect();
        let orchestration: Vec<&&Span> = run
            .iter()
            .filter(|s| s.name == "orchestration:hellocities")
            .collect();
        assert_eq!(orchestration.len(), 1, "trace {trace}: {run:#?}");
        let activities = children(&spans, orchestration[0])
            .into_iter()
            .filter(|s| s.name == "activity:sayhello")
            .count();
        assert_eq!(activities, 3, "trace {trace}: {run:#?}");
        if trace == dotnet_trace {
            // The .NET client's span is the execution's parent; the recorded span is the one
            // exported.
            assert_eq!(orchestration[0].parent_span_id, parent);
            assert_eq!(orchestration[0].span_id, execution_span);
        } else {
            // Over HTTP our client's start span sits between the caller and the execution.
            let start = run
                .iter()
                .find(|s| s.name == "create_orchestration:hellocities")
                .unwrap_or_else(|| panic!("{run:#?}"));
            assert_eq!(start.parent_span_id, parent);
            assert_eq!(orchestration[0].parent_span_id, start.span_id);
        }
    }
}

#[test]
fn an_unsupported_otel_setting_is_one_clear_line() {
    for (name, value, says) in [
        (
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "grpc",
            "grpc is not built in",
        ),
        (
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "carrier-pigeon",
            "is not one of",
        ),
        ("OTEL_TRACES_EXPORTER", "zipkin", "is not supported"),
    ] {
        let out = common::cli::taskhub_with_env(
            &["hub", "info"],
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9"),
                (name, value),
            ],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}={value}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(
            stderr.starts_with("error: OpenTelemetry: ") && stderr.contains(says),
            "{stderr}"
        );
    }
}
