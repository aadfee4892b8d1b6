//! Metrics, health and JSON logs of a real `taskhub worker` process on an Azurite of the test's
//! own: a pipeline run shows up in `/metrics` (read by a Prometheus text parser) with counts
//! that match the run, `/healthz` and `/readyz` answer, and `/readyz` turns unready within
//! seconds of Azurite being killed. `--metrics ADDR` serves the same routes alone.
//!
//! How we know it can fail: with the activity counter removed from `worker/activities.rs`,
//! the activity counts are missing and the test fails; with the storage probe skipped,
//! `/readyz` stays 200 after the kill and the test fails.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::cli::Cli;
use common::{free_port, unique_hub_name};
use serde_json::Value;
use taskhub::azurite::{Azurite, AzuriteOptions};

async fn get(url: &str) -> (u16, String) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let r = client.get(url).send().await.expect("the server answers");
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Every sample of the scrape: `name{label="v",…}` → value (histograms as their count).
fn scrape(text: &str) -> BTreeMap<String, f64> {
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let parsed = prometheus_parse::Scrape::parse(lines).expect("Prometheus text format");
    let mut out = BTreeMap::new();
    for s in parsed.samples {
        let mut labels: Vec<String> = s
            .labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{v}\""))
            .collect();
        labels.sort();
        let key = if labels.is_empty() {
            s.metric.clone()
        } else {
            format!("{}{{{}}}", s.metric, labels.join(","))
        };
        let v = match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            prometheus_parse::Value::Histogram(h) => h.last().map_or(0.0, |b| b.count),
            prometheus_parse::Value::Summary(_) => continue,
        };
        out.insert(key, v);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_run_shows_in_metrics_and_readiness_follows_storage() {
    let azurite = Azurite::start(AzuriteOptions::default())
        .await
        .expect("Azurite starts");
    let cli = Cli {
        conn: azurite.connection_string(),
        hub: unique_hub_name("Metrics"),
        partitions: Some(2),
        program: std::path::PathBuf::from(env!("CARGO_BIN_EXE_taskhub")),
        envs: Vec::new(),
    };
    let (http, ops) = (free_port(), free_port());
    let http_addr = format!("127.0.0.1:{http}");
    let ops_addr = format!("127.0.0.1:{ops}");
    let worker = cli.spawn_worker(&[
        "--http",
        &http_addr,
        "--metrics",
        &ops_addr,
        "--log-format",
        "json",
    ]);
    worker.wait_for_log("both partitions acquired", |log| {
        log.matches("partition acquired").count() >= 2
    });
    let base = format!("http://{http_addr}");

    let out = tokio::task::block_in_place(|| {
        cli.ok(&[
            "pipeline",
            "--no-worker",
            "--files",
            "2",
            "--rows",
            "3",
            "--json",
        ])
    });
    let results: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(results.as_array().map(Vec::len), Some(2), "{out}");

    let (code, text) = get(&format!("{base}/metrics")).await;
    assert_eq!(code, 200, "{text}");
    let m = scrape(&text);
    let at = |k: &str| {
        m.get(k)
            .copied()
            .unwrap_or_else(|| panic!("{k} missing from:\n{text}"))
    };
    // One pipeline: the parent and one sub-orchestration per file; GenerateData, step0 and
    // four steps per file.
    assert_eq!(
        at(r#"taskhub_orchestrations_completed_total{status="Completed"}"#),
        3.0
    );
    assert_eq!(at("taskhub_orchestrations_started_total"), 3.0);
    assert_eq!(at("taskhub_activities_started_total"), 10.0);
    assert_eq!(
        at(r#"taskhub_activities_completed_total{result="succeeded"}"#),
        10.0
    );
    assert_eq!(
        at("taskhub_activity_duration_seconds"),
        10.0,
        "one duration per activity"
    );
    assert!(at(r#"taskhub_orchestration_turns_total{outcome="committed"}"#) >= 6.0);
    assert_eq!(at("taskhub_partitions_owned"), 2.0);
    assert_eq!(at("taskhub_partition_lease_acquisitions_total"), 2.0);
    assert!(at(r#"taskhub_storage_requests_total{operation="TableBatch"}"#) >= 6.0);
    assert!(
        text.contains("# HELP taskhub_activities_started_total"),
        "help lines"
    );
    // The queue sampler (every 15 s with --http): the scale signal, the work-item queue, and
    // the control queues of the partitions this worker owns.
    assert!(m.contains_key("taskhub_target_workers"), "{text}");
    assert!(m.contains_key("taskhub_workitem_queue_messages"), "{text}");
    let started = Instant::now();
    loop {
        let m = scrape(&get(&format!("{base}/metrics")).await.1);
        let owned = m
            .keys()
            .filter(|k| k.starts_with("taskhub_control_queue_messages{"))
            .count();
        if owned == 2 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(40),
            "control queues sampled: {owned}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // The operator routes alone on --metrics.
    let (code, alone) = get(&format!("http://{ops_addr}/metrics")).await;
    assert_eq!(code, 200);
    assert!(alone.contains("taskhub_activities_started_total"));
    assert_eq!(
        get(&format!(
            "http://{ops_addr}/runtime/webhooks/durabletask/instances"
        ))
        .await
        .0,
        404
    );

    assert_eq!(get(&format!("{base}/healthz")).await.0, 200);
    let (code, body) = get(&format!("{base}/readyz")).await;
    assert_eq!(code, 200, "{body}");
    let ready: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ready["ready"], true);
    assert_eq!(ready["components"]["partition manager"], true, "{ready}");

    // JSON logs: every line an object; the turn's lines carry the instance id.
    let log = worker.log();
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(v.get("level").is_some(), "{line}");
    }

    // Storage goes away: unready within seconds, saying why.
    azurite.kill().await;
    let started = Instant::now();
    loop {
        let (code, body) = get(&format!("{base}/readyz")).await;
        if code == 503 {
            let v: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(v["ready"], false);
            assert!(
                v["not_ready"][0].as_str().unwrap().starts_with("storage: "),
                "{v}"
            );
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "still ready: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(
        get(&format!("{base}/healthz")).await.0,
        200,
        "alive all the same"
    );
}
