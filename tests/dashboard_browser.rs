//! The dashboard in a real headless Chromium (tests/common/browser.rs) against a real
//! `taskhub worker --http … --http-key …` process on the harness Azurite: the page asks for
//! the key once; the partitions view shows the worker as owner; the instance list shows the
//! finished pipeline; its page shows the timeline with each file's four steps; the raise-event
//! and terminate buttons reach their instances; a poison message appears; entities show their
//! state; a large input is previewed and loaded whole on demand; an instance id
//! holding `<script>` and an `<img onerror>` is shown as text and runs nothing. The run writes
//! the README's screenshot, docs/images/dashboard.png.
//!
//! How we know the checks can fail: with `el()` in dashboard.js changed to insert strings as
//! HTML (`node.insertAdjacentHTML("beforeend", c)` instead of a text node), the id check
//! fails (`window.pwned` is set by the injected `<img onerror>`, and the link's text is no
//! longer the id); with the worker started without `--http`, the page never loads; with the
//! spans' children left out of `/timeline`, the steps check fails.

mod common;

use std::time::{Duration, Instant};

use common::browser::Browser;
use common::cli::Cli;
use common::free_port;
use serde_json::{json, Value};

const KEY: &str = "dash-k3y-secret";
/// An id that would run script if it were ever rendered as HTML.
const HOSTILE_ID: &str = "<script>window.pwned=1<img src=x onerror=window.pwned=2>";

/// Polls `status --json` for up to two minutes (the pipeline runs sub-orchestrations and
/// activities on a loaded machine).
fn wait_status(cli: &Cli, id: &str, status: &str) -> Value {
    let start = Instant::now();
    loop {
        let v = cli.json(&["status", id, "--json"]);
        if v["runtime_status"] == status {
            return v;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "{id} is not {status}: {v}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_in_a_real_browser() {
    let cli = Cli::new("dashui").await;
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let worker = cli.spawn_worker(&[
        "--worker-id",
        "dash-worker-1",
        "--http",
        &listen,
        "--http-key",
        KEY,
    ]);
    worker.wait_for_log("all partitions acquired", |log| {
        log.matches("partition acquired").count() >= 4
    });
    let base = format!("http://{listen}/dashboard");

    let raw = format!("raw-{}", cli.hub.to_ascii_lowercase());
    let input = json!({"rawDataPath": raw, "numFiles": "3", "numRows": "5"}).to_string();
    cli.ok(&[
        "start",
        "OrchestratorFunc",
        "--id",
        "dash-pipeline",
        "--input",
        &input,
    ]);
    cli.ok(&["start", "HelloCities", "--id", HOSTILE_ID]);
    for id in ["dash-forever", "dash-forever-2"] {
        cli.ok(&[
            "start",
            "eternal_orchestrator",
            "--id",
            id,
            "--input",
            r#"{"idleSeconds":600}"#,
        ]);
    }
    // An entity with a state, and an instance whose input is larger than a preview (its
    // orchestrator is not registered, so it stays Pending with its input).
    cli.ok(&[
        "entity",
        "signal",
        "session_handler",
        "dash-user",
        "add",
        "5",
    ]);
    let big_input = format!("\"{}\"", "x".repeat(10_000));
    cli.ok(&[
        "start",
        "NotRegistered",
        "--id",
        "dash-big",
        "--input",
        &big_input,
    ]);
    // An unreadable control message, which the worker moves to the poison queue.
    let control = common::put_unreadable_message(&cli.hub).await;
    wait_status(&cli, "dash-pipeline", "Completed");
    wait_status(&cli, HOSTILE_ID, "Completed");

    // The API refuses what the page must not do: no key, or an action that is not JSON.
    let http = reqwest::Client::new();
    let r = http
        .get(format!("{base}/api/overview"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = http
        .post(format!("{base}/api/instances/dash-forever/terminate"))
        .header("x-functions-key", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415, "an action without application/json");
    let r = http
        .get(format!("{base}/api/instances?status=Bogus"))
        .header("x-functions-key", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert!(
        body["Message"].as_str().unwrap().contains("Bogus"),
        "{body}"
    );

    let browser = Browser::start().await;
    let b = &browser;

    // The key is asked for once, then kept for the session.
    b.client.goto(&format!("{base}#/partitions")).await.unwrap();
    b.wait_for("#key-form:not([hidden])").await;
    b.wait_for("#key-input").await.send_keys(KEY).await.unwrap();
    b.wait_for("#key-form button").await.click().await.unwrap();

    // Partitions: every one owned by the worker.
    let owners = b
        .wait_js(
            "the partitions show their owner",
            "const rows = [...document.querySelectorAll('#partition-list tbody tr')];
             const owners = rows.map(r => r.children[1].textContent);
             return owners.length === 4 && owners.every(o => o === 'dash-worker-1') ? owners : null;",
        )
        .await;
    assert_eq!(owners.as_array().unwrap().len(), 4);

    // The list shows the finished pipeline, and the hostile id as text.
    b.client.goto(&format!("{base}#/instances")).await.unwrap();
    b.wait_text("tr[data-instance-id=\"dash-pipeline\"]", "Completed")
        .await;
    b.wait_js(
        "the starts histogram is drawn",
        "return document.querySelector('.uplot canvas') !== null;",
    )
    .await;
    let tmp = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    b.screenshot(&tmp.join("dashboard-instances.png")).await;
    let shown = b
        .wait_js(
            "the hostile id is listed",
            "const links = [...document.querySelectorAll('#instance-list tbody tr td:first-child a')];
             const ids = links.map(a => a.textContent);
             return ids.length >= 4 ? ids : null;",
        )
        .await;
    assert!(
        shown.as_array().unwrap().iter().any(|v| v == HOSTILE_ID),
        "{shown}"
    );
    let inert = b
        .client
        .execute(
            "return {pwned: window.pwned === undefined ? null : window.pwned,
                     images: document.querySelectorAll('main img').length,
                     scripts: document.querySelectorAll('main script').length};",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(inert, json!({"pwned": null, "images": 0, "scripts": 0}));

    // Its own page: the id as the heading, still inert.
    let encoded: String = url_encode(HOSTILE_ID);
    b.client
        .goto(&format!("{base}#/instance/{encoded}"))
        .await
        .unwrap();
    b.wait_text("#instance-status", "Completed").await;
    let heading = b.wait_for("#instance-id").await.text().await.unwrap();
    assert_eq!(heading, HOSTILE_ID);
    let pwned = b
        .client
        .execute(
            "return window.pwned === undefined ? null : window.pwned;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(pwned, Value::Null, "markup in an id ran");

    // The pipeline's page: the timeline holds each file's sub-orchestration with its four steps.
    b.client
        .goto(&format!("{base}#/instance/dash-pipeline"))
        .await
        .unwrap();
    let steps = b
        .wait_js(
            "the timeline shows every file's steps",
            "const rows = [...document.querySelectorAll('#gantt .grow[data-depth=\"1\"][data-kind=\"activity\"]')];
             const byFile = {};
             for (const r of rows) (byFile[r.dataset.parent] ||= []).push(r.dataset.name);
             return Object.keys(byFile).length === 3 ? byFile : null;",
        )
        .await;
    for (file, names) in steps.as_object().unwrap() {
        let mut names: Vec<&str> = names
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["step1", "step2", "step3", "step4"], "{file}");
    }
    let top: Value = b
        .client
        .execute(
            "return [...document.querySelectorAll('#gantt .grow[data-depth=\"0\"]')].map(r => r.dataset.name);",
            vec![],
        )
        .await
        .unwrap();
    for name in ["GenerateData", "step0", "SubOrchestratorFunc"] {
        assert!(
            top.as_array().unwrap().iter().any(|n| n == name),
            "{name} not in {top}"
        );
    }
    b.wait_js(
        "the history table shows rows",
        "return document.querySelectorAll('#history-rows .hrow').length > 10;",
    )
    .await;
    // The README's screenshot.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let shot = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/images/dashboard.png");
    b.screenshot(&shot).await;

    // Raise event: the event reaches the instance's history.
    b.client
        .goto(&format!("{base}#/instance/dash-forever"))
        .await
        .unwrap();
    b.wait_text("#instance-status", "Running").await;
    b.wait_for("#event-name")
        .await
        .send_keys("nudge")
        .await
        .unwrap();
    b.wait_for("#event-data")
        .await
        .send_keys(r#"{"n":1}"#)
        .await
        .unwrap();
    b.wait_for("#action-raise").await.click().await.unwrap();
    b.accept_dialog().await;
    b.wait_text("#action-result", "accepted").await;
    let start = Instant::now();
    loop {
        let history = cli.ok(&["history", "dash-forever"]);
        if history.contains("EventRaised") && history.contains("input: {\"n\":1}") {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the raised event never reached the history:\n{history}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // Terminate: the instance ends Terminated with the reason typed in.
    b.client
        .goto(&format!("{base}#/instance/dash-forever-2"))
        .await
        .unwrap();
    b.wait_text("#instance-status", "Running").await;
    b.wait_for("#action-reason")
        .await
        .send_keys("from the dashboard")
        .await
        .unwrap();
    b.wait_for("#action-terminate").await.click().await.unwrap();
    b.accept_dialog().await;
    b.wait_text("#action-result", "accepted").await;
    let ended = wait_status(&cli, "dash-forever-2", "Terminated");
    assert_eq!(ended["output"], "from the dashboard", "{ended}");

    // Poison: the unreadable message, peeked (it stays in the queue).
    b.client.goto(&format!("{base}#/poison")).await.unwrap();
    b.wait_text("#poison-list", "this is not a task message")
        .await;
    b.wait_text("#poison-list", &control).await;
    assert_eq!(
        cli.json(&["poison", "--json"]).as_array().unwrap().len(),
        1,
        "the page took nothing"
    );

    // Entities: the counter with its state.
    b.client.goto(&format!("{base}#/entities")).await.unwrap();
    b.wait_text("#entity-list", "dash-user").await;
    b.wait_text("#entity-list", "5").await;

    // A large input: a preview first, the rest on demand.
    let r = http
        .get(format!("{base}/api/instances/dash-big"))
        .header("x-functions-key", KEY)
        .send()
        .await
        .unwrap();
    let status: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!(status["input"]["truncated"], true, "{status}");
    assert_eq!(status["input"]["length"], 10_002);
    b.client
        .goto(&format!("{base}#/instance/dash-big"))
        .await
        .unwrap();
    let load_all = b.wait_for("pre[data-value=\"input\"] + button").await;
    let before = b
        .client
        .execute(
            "return document.querySelector('pre[data-value=\"input\"]').textContent.length;",
            vec![],
        )
        .await
        .unwrap();
    assert!(before.as_u64().unwrap() < 5000, "{before}");
    load_all.click().await.unwrap();
    b.wait_js(
        "the whole input is loaded",
        "return document.querySelector('pre[data-value=\"input\"]').textContent.length === 10002;",
    )
    .await;

    // The overview loads with its counts and charts.
    b.client.goto(&format!("{base}#/overview")).await.unwrap();
    b.wait_text("#counts-by-name", "OrchestratorFunc").await;
    b.wait_text("#overview-partitions", "dash-worker-1").await;
    b.wait_js(
        "the throughput chart is drawn",
        "return document.querySelector('.uplot canvas') !== null;",
    )
    .await;
    // For people reading a failed run: what the overview looked like.
    b.screenshot(&tmp.join("dashboard-overview.png")).await;

    browser.close().await;
    let (status, _, log) = worker.stop(libc::SIGTERM);
    assert!(status.success(), "{log}");
    assert!(!log.contains(KEY), "the key was logged:\n{log}");
}

/// Percent-encodes everything but letters, digits and `-_.~` (as encodeURIComponent does).
fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
