//! A typed fan-out/fan-in: one activity per item in parallel, each retried on failure with a
//! backoff, and the results summed.
//!
//! `cargo run --example fan_out` (Azurite on the development ports, or set
//! `AzureWebJobsStorage`; `TASKHUB_HUB` names the hub, default `FanOut`).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use taskhub::prelude::*;

#[derive(Serialize, Deserialize)]
struct Job {
    files: Vec<String>,
}

#[derive(Serialize, Deserialize, Debug)]
struct Report {
    files: usize,
    total_bytes: u64,
}

fn registry(failures: Arc<AtomicU32>) -> Registry {
    let mut r = Registry::new();
    r.add_orchestrator("Measure", |ctx: OrchestrationContext| async move {
        let job: Job = ctx.input()?;
        let retry = RetryPolicy::new(3, Duration::from_secs(1));
        let sizes = job
            .files
            .iter()
            .map(|f| ctx.call_activity_with_retry::<u64>("Size", f, retry.clone()));
        let mut total = 0;
        for size in ctx.all_of(sizes).await {
            total += size?;
        }
        Ok(Report {
            files: job.files.len(),
            total_bytes: total,
        })
    });
    // Fails the first time it runs, to show the retry; then "measures" the name.
    r.add_activity("Size", move |_ctx: ActivityContext, file: String| {
        let first = failures.fetch_add(1, Ordering::SeqCst) == 0;
        async move {
            if first {
                return Err(Failure::new("Flaky", "the first measurement always fails"));
            }
            Ok(file.len() as u64 * 1000)
        }
    });
    r
}

#[tokio::main]
async fn main() -> Result<(), taskhub::Error> {
    let env = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.into());
    let storage = Storage::connect(&env("AzureWebJobsStorage", "UseDevelopmentStorage=true"))?;
    let hub = TaskHub::new(storage, HubNames::new(&env("TASKHUB_HUB", "FanOut"), 4)?);
    let stop = CancellationToken::new();
    let registry = registry(Arc::new(AtomicU32::new(0)));
    let worker = Worker::new(hub.clone(), registry.into(), WorkerOptions::default());
    let running = tokio::spawn(worker.run(stop.clone()));

    let job = Job {
        files: (0..10).map(|i| format!("data/part-{i:02}.csv")).collect(),
    };
    let client = Client::new(hub);
    let id = client
        .start(StartRequest::new("Measure").with_input(&job))
        .await?;
    let report: Report = client.wait_for_output(&id, Duration::from_secs(60)).await?;
    println!("{} files, {} bytes", report.files, report.total_bytes);
    stop.cancel();
    running.await.ok();
    Ok(())
}
