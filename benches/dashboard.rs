//! The dashboard on a large hub: `cargo bench --bench dashboard [instances]` (default 100,000).
//! On the harness's private in-memory Azurite it writes that many finished instances' Instances
//! rows (32 at a time: each row is its own partition, so they cannot share a table batch) and
//! one instance with a 10,000-event history, serves the dashboard in-process, and measures in
//! headless Chromium (tests/common/browser.rs) the time to first paint of the instance list and
//! of the large history and its timeline, plus each endpoint's answer time. Figures in
//! BENCHMARKS.md. Needs Debian's chromium and chromium-driver, like the browser tests.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::browser::Browser;
use futures::stream::{self, StreamExt};
use taskhub::backend::{HubNames, SentinelUpdate, TaskHub};
use taskhub::client::Client;
use taskhub::core::{EventKind, HistoryEvent, OrchestrationInstance, OrchestrationStatus};
use taskhub::http::{HttpOptions, HttpServer};
use taskhub::storage::{EntityExt, TableEntity};
use tokio_util::sync::CancellationToken;

const BIG: &str = "big-history";
/// Activities of the large history: a scheduled and a completed event each, 10,000 events
/// with the start and the completion.
const BIG_TASKS: i32 = 4_998;

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let n: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(100_000);
    let hub = TaskHub::new(
        common::test_storage().await,
        HubNames::new(&common::unique_hub_name("dashbench"), 4).unwrap(),
    );
    hub.create().await.expect("hub created");

    let t = Instant::now();
    write_rows(&hub, n).await;
    let seeded = t.elapsed();
    println!(
        "seeded {n} Instances rows in {:.1} s ({:.0} rows/s)",
        seeded.as_secs_f64(),
        n as f64 / seeded.as_secs_f64()
    );
    let t = Instant::now();
    let events = write_big_history(&hub).await;
    println!(
        "seeded a {events}-event history in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let options = HttpOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..HttpOptions::default()
    };
    let server = HttpServer::bind(Client::new(hub.clone()), options)
        .await
        .expect("server binds");
    let base = format!("http://{}/dashboard", server.local_addr());
    let stop = CancellationToken::new();
    tokio::spawn(server.run(stop.clone()));

    // Each endpoint once, warm (the first call of each also pays for connection setup).
    let http = reqwest::Client::new();
    for path in [
        "instances?top=50",
        "counts",
        "starts",
        "overview",
        "instances/big-history/history",
        "instances/big-history/timeline",
    ] {
        let url = format!("{base}/api/{path}");
        let _ = http.get(&url).send().await;
        let t = Instant::now();
        let r = http.get(&url).send().await.expect("answer");
        let status = r.status();
        let bytes = r.bytes().await.expect("body").len();
        println!(
            "GET /dashboard/api/{path}: {status}, {} ms, {} KiB",
            t.elapsed().as_millis(),
            bytes / 1024
        );
    }

    let browser = Browser::start().await;
    let b = &browser;
    b.client.goto(&format!("{base}#/partitions")).await.unwrap();
    b.wait_for("#partition-list").await;
    for run in 1..=3 {
        b.client.goto("about:blank").await.unwrap();
        let t = Instant::now();
        b.client.goto(&format!("{base}#/instances")).await.unwrap();
        b.wait_for("#instance-list tbody tr").await;
        let list = t.elapsed();
        b.wait_for("#load-more").await.click().await.unwrap();
        b.wait_js(
            "the second page",
            "return document.querySelectorAll('#instance-list tbody tr').length >= 100;",
        )
        .await;
        let second = t.elapsed() - list;
        b.wait_js(
            "the histogram",
            "return document.querySelector('.uplot') !== null;",
        )
        .await;
        let histogram = t.elapsed();

        b.client.goto("about:blank").await.unwrap();
        let t = Instant::now();
        b.client
            .goto(&format!("{base}#/instance/{BIG}"))
            .await
            .unwrap();
        b.wait_for("#history-rows .hrow").await;
        let history = t.elapsed();
        b.wait_for("#gantt .grow").await;
        let timeline = t.elapsed();
        // Scrolling to the end of both renders only the rows in view.
        let t = Instant::now();
        b.wait_js(
            "the last history row after a scroll",
            &format!(
                "const box = document.getElementById('history-rows'); box.scrollTop = box.scrollHeight;
                 return [...box.querySelectorAll('.hrow')].some(r => r.firstChild.textContent === '{}');",
                events - 1
            ),
        )
        .await;
        let scrolled = t.elapsed();
        println!(
            "run {run}: list first paint {} ms, next page {} ms, starts histogram {} ms; \
             {events}-event history first paint {} ms, timeline {} ms, scrolled to its end {} ms",
            list.as_millis(),
            second.as_millis(),
            histogram.as_millis(),
            history.as_millis(),
            timeline.as_millis(),
            scrolled.as_millis()
        );
    }
    browser.close().await;
    stop.cancel();
}

/// `n` Completed instances' rows, 32 requests at a time.
async fn write_rows(hub: &TaskHub, n: u64) {
    let now = hub.clock().now();
    stream::iter(0..n)
        .map(|i| {
            let hub = hub.clone();
            async move {
                let finished = now - Duration::from_secs(i % 86_400);
                let mut row = TableEntity::new();
                row.put_str("Name", if i % 3 == 0 { "Nightly" } else { "Hourly" });
                row.put_str("RuntimeStatus", OrchestrationStatus::Completed.as_str());
                row.put_datetime("CreatedTime", finished - Duration::from_secs(2));
                row.put_datetime("LastUpdatedTime", finished);
                row.put_datetime("CompletedTime", finished);
                row.put_str("ExecutionId", format!("e{i}"));
                row.put_str("Output", "1");
                row.put_str("CustomStatus", "null");
                hub.instances()
                    .upsert_merge(&format!("bench-{i:07}"), &row)
                    .await
                    .expect("row written");
            }
        })
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await;
}

/// One Completed instance whose history is 10,000 events: activities `step1`…`step4` in turn.
async fn write_big_history(hub: &TaskHub) -> usize {
    let t0 = hub.clock().now() - Duration::from_secs(3600);
    let at = |ms: i64| t0 + time::Duration::milliseconds(ms);
    let mut events = vec![
        HistoryEvent::new(at(0), EventKind::OrchestratorStarted),
        HistoryEvent::new(
            at(0),
            EventKind::ExecutionStarted {
                orchestration_instance: OrchestrationInstance::new(BIG, Some("big".into())),
                name: "Big".into(),
                version: None,
                input: Some("null".into()),
                parent_instance: None,
                scheduled_start_time: None,
                generation: Some(0),
                tags: None,
            },
        ),
    ];
    for i in 0..BIG_TASKS {
        let start = i64::from(i) * 300;
        events.push(HistoryEvent::with_id(
            i,
            at(start),
            EventKind::TaskScheduled {
                name: format!("step{}", i % 4 + 1),
                version: None,
                input: Some(format!("[\"file-{}\"]", i / 4)),
            },
        ));
        events.push(HistoryEvent::new(
            at(start + 250),
            EventKind::TaskCompleted {
                task_scheduled_id: i,
                result: Some(format!("{{\"rows\":{i}}}")),
            },
        ));
    }
    let end = at(i64::from(BIG_TASKS) * 300);
    events.push(HistoryEvent::with_id(
        BIG_TASKS,
        end,
        EventKind::ExecutionCompleted {
            status: OrchestrationStatus::Completed,
            result: Some("\"done\"".into()),
            failure_details: None,
        },
    ));
    events.push(HistoryEvent::new(end, EventKind::OrchestratorCompleted));
    hub.history()
        .append(BIG, "big", 0, &events, None, SentinelUpdate::at(end))
        .await
        .expect("history written");
    let mut row = TableEntity::new();
    row.put_str("Name", "Big");
    row.put_str("RuntimeStatus", "Completed");
    row.put_datetime("CreatedTime", t0);
    row.put_datetime("LastUpdatedTime", end);
    row.put_datetime("CompletedTime", end);
    row.put_str("ExecutionId", "big");
    row.put_str("Output", "\"done\"");
    row.put_str("CustomStatus", "null");
    hub.instances()
        .upsert_merge(BIG, &row)
        .await
        .expect("row written");
    events.len()
}
