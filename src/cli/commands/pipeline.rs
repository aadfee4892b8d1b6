//! `taskhub pipeline`: the project's main job. Starts the sample pipeline (`OrchestratorFunc`)
//! on the hub, runs a worker in this process (unless `--no-worker`: then separate `taskhub
//! worker` processes do the work), shows files going through steps 1–4, and ends with a summary
//! (or the orchestration's output with `--json`).
//!
//! Also home of what the sample-running commands share: [`samples_config`] (the samples'
//! settings from the environment and `--settings`) and [`LocalWorker`].

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::backend::{InstanceQuery, InstanceStatus, TaskHub};
use crate::client::{Client, StartRequest};
use crate::core::{OrchestrationStatus, Registry};
use crate::samples::pipeline::data::SAMPLE_ROWS;
use crate::samples::pipeline::{StepOutput, ORCHESTRATOR};
use crate::samples::{self, SamplesConfig};
use crate::worker::{Worker, WorkerOptions};
use anyhow::{bail, Context as _, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::cli::{output, Context};

#[derive(Debug, Args)]
pub struct PipelineArgs {
    /// Raw files to generate (numFiles).
    #[arg(long, value_name = "N", default_value_t = 4,
          value_parser = clap::value_parser!(u64).range(0..=10_000))]
    files: u64,
    /// Rows of fake personal data per raw file (numRows).
    #[arg(long, value_name = "M", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(0..=10_000_000))]
    rows: u64,
    /// Folder of the raw files in the data container (rawDataPath). Every .csv file under it is
    /// processed, including ones left by earlier runs with more files (see --clean).
    #[arg(long, value_name = "PATH", default_value = "raw")]
    raw_path: String,
    /// Delete the blobs under the raw folder and the four step folders first, so only this
    /// run's files are processed and left.
    #[arg(long)]
    clean: bool,
    /// Instance id of the run (default: a new one).
    #[arg(long, value_name = "ID")]
    id: Option<String>,
    /// Run no worker in this process: rely on `taskhub worker` processes on the same hub.
    #[arg(long)]
    no_worker: bool,
    /// Print the orchestration's output as JSON on stdout (the summary goes to stderr).
    #[arg(long)]
    json: bool,
    /// Give up waiting after this many seconds (the run goes on in the hub).
    #[arg(long, value_name = "SECONDS", default_value_t = 3600)]
    timeout: u64,
}

/// The samples' settings (`DataStorage`, `DataContainer`, `Step1DataSubpath`…): the environment
/// first, then `--settings`; the data lives on the hub's storage unless `DataStorage` names
/// another account.
pub async fn samples_config(ctx: &mut Context) -> Result<SamplesConfig> {
    let hub_storage = ctx.storage().await?;
    let hub_connection = ctx.connection_string();
    let values: BTreeMap<&str, String> = samples::SETTING_NAMES
        .iter()
        .filter_map(|&name| {
            let v = std::env::var(name)
                .ok()
                .or_else(|| ctx.setting(name).map(str::to_string))?;
            // DataStorage naming the hub's own account: share its connection.
            if name == "DataStorage" && v.trim() == hub_connection.trim() {
                return None;
            }
            Some((name, v))
        })
        .collect();
    Ok(SamplesConfig::from_values(hub_storage, |n| {
        values.get(n).cloned()
    })?)
}

/// A worker running the samples inside this process, stopped gracefully by [`LocalWorker::stop`].
pub struct LocalWorker {
    stop: CancellationToken,
    handle: tokio::task::JoinHandle<Result<(), crate::worker::Error>>,
}

impl LocalWorker {
    pub fn start(hub: &TaskHub, registry: Arc<Registry>) -> LocalWorker {
        let options = WorkerOptions {
            // Short polls: this worker exists for one run and should not idle between steps.
            max_poll_interval: Duration::from_millis(250),
            max_activity_poll_interval: Duration::from_millis(250),
            shutdown_grace: Duration::from_secs(10),
            ..WorkerOptions::default()
        };
        let stop = CancellationToken::new();
        let worker = Worker::new(hub.clone(), registry, options);
        let handle = tokio::spawn(worker.run(stop.clone()));
        LocalWorker { stop, handle }
    }

    /// True if the worker ended on its own (an error).
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }

    pub async fn stop(self) -> Result<()> {
        self.stop.cancel();
        self.handle.await.context("the worker task panicked")??;
        Ok(())
    }
}

/// The hub (created if missing), the samples' registry, a client, and a worker unless
/// `no_worker`.
pub async fn prepare(
    ctx: &mut Context,
    no_worker: bool,
) -> Result<(Client, Option<LocalWorker>, SamplesConfig)> {
    let hub = TaskHub::new(ctx.storage().await?, ctx.hub_names()?);
    hub.create()
        .await
        .with_context(|| format!("creating task hub {}", hub.names().hub()))?;
    let config = samples_config(ctx).await?;
    let registry = Arc::new(samples::registry(&config));
    let worker = (!no_worker).then(|| LocalWorker::start(&hub, registry.clone()));
    Ok((Client::new(hub), worker, config))
}

/// Stored JSON text as a value (`null` when absent or not JSON).
fn json_of(text: Option<&str>) -> Value {
    text.and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or(Value::Null)
}

/// Files done per step, from the sub-orchestrations' custom status.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Progress {
    files: Option<u64>,
    /// Files past step 1, 2, 3, 4.
    done: [u64; 4],
    stage: String,
}

impl Progress {
    fn line(&self) -> String {
        let files = self.files.map_or("?".to_string(), |f| f.to_string());
        let steps: Vec<String> = (0..4)
            .map(|i| format!("step{} {}/{files}", i + 1, self.done[i]))
            .collect();
        format!("{}: {}", self.stage, steps.join("  "))
    }
}

async fn read_progress(client: &Client, id: &str, parent: &InstanceStatus) -> Result<Progress> {
    let custom = json_of(parent.custom_status.as_deref());
    let mut p = Progress {
        files: custom.get("files").and_then(Value::as_u64),
        stage: custom
            .get("stage")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| parent.runtime_status.to_string().to_lowercase()),
        ..Progress::default()
    };
    if p.files.is_some() {
        let q = InstanceQuery {
            instance_id_prefix: Some(format!("{id}:")),
            ..Default::default()
        };
        for child in client.hub().instances().query_all(&q).await? {
            let step = json_of(child.custom_status.as_deref())
                .get("step")
                .and_then(Value::as_u64)
                .unwrap_or(0)
                .min(4) as usize;
            for d in &mut p.done[..step] {
                *d += 1;
            }
        }
    }
    Ok(p)
}

/// Shows progress until the instance is finished; returns its final status.
async fn follow(
    client: &Client,
    id: &str,
    timeout: Duration,
    worker: &Option<LocalWorker>,
) -> Result<InstanceStatus> {
    let start = Instant::now();
    let tty = std::io::stderr().is_terminal();
    let bar = if tty {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{elapsed:>4} [{bar:30}] {pos}/{len} file-steps  {wide_msg}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        Some(bar)
    } else {
        None
    };
    let mut last_line = String::new();
    let mut last_print = Instant::now();
    let mut waiting_hint = false;
    loop {
        let status = client
            .status(id, false)
            .await?
            .with_context(|| format!("instance {id} disappeared"))?;
        if status.runtime_status.is_terminal() {
            break;
        }
        let p = read_progress(client, id, &status).await?;
        match &bar {
            Some(bar) => {
                bar.set_length(p.files.unwrap_or(0) * 4);
                bar.set_position(p.done.iter().sum());
                bar.set_message(p.line());
            }
            None => {
                let line = p.line();
                if line != last_line || last_print.elapsed() > Duration::from_secs(30) {
                    output::status(format!(
                        "pipeline {id}: {line} ({:.0} s)",
                        start.elapsed().as_secs_f64()
                    ));
                    last_line = line;
                    last_print = Instant::now();
                }
            }
        }
        if worker.is_none()
            && !waiting_hint
            && status.runtime_status == OrchestrationStatus::Pending
            && start.elapsed() > Duration::from_secs(10)
        {
            waiting_hint = true;
            let msg = format!(
                "instance {id} is still Pending: is a `taskhub worker` running on hub {}?",
                client.hub().names().hub()
            );
            match &bar {
                Some(bar) => bar.println(format!("taskhub: {msg}")),
                None => output::status(msg),
            }
        }
        if worker.as_ref().is_some_and(LocalWorker::is_finished) {
            bail!("the in-process worker stopped unexpectedly");
        }
        if start.elapsed() > timeout {
            if let Some(bar) = &bar {
                bar.abandon();
            }
            bail!(
                "instance {id} is still {} after {} s; it goes on in the hub (see `taskhub status {id}`)",
                status.runtime_status,
                timeout.as_secs()
            );
        }
        let pause = if tty { 250 } else { 1000 };
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    client
        .status(id, true)
        .await?
        .context("instance disappeared")
}

pub async fn run(args: PipelineArgs, ctx: &mut Context) -> Result<()> {
    let (client, worker, config) = prepare(ctx, args.no_worker).await?;
    if args.clean {
        clean(&config, &args.raw_path).await?;
    }
    let input = json!({"rawDataPath": args.raw_path, "numFiles": args.files, "numRows": args.rows});
    let mut req = StartRequest::new(ORCHESTRATOR).with_input(&input);
    if let Some(id) = &args.id {
        req = req.with_id(id);
    }
    let started = Instant::now();
    let id = client.start(req).await?;
    output::status(format!(
        "pipeline {id} started on hub {}: {} files x {} rows into container {}{}",
        client.hub().names().hub(),
        args.files,
        args.rows,
        config.data_container,
        if worker.is_some() {
            ""
        } else {
            " (no worker in this process)"
        }
    ));

    let followed = tokio::select! {
        r = follow(&client, &id, Duration::from_secs(args.timeout), &worker) => r,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!(
            "interrupted; instance {id} goes on in the hub: a `taskhub worker` on hub {} will finish it",
            client.hub().names().hub()
        )),
    };
    let wall = started.elapsed();
    if let Some(w) = worker {
        w.stop().await?;
    }
    let status = followed?;
    if status.runtime_status != OrchestrationStatus::Completed {
        bail!(
            "pipeline {id} {} after {:.1} s: {}",
            status.runtime_status,
            wall.as_secs_f64(),
            status.output.as_deref().unwrap_or("no reason given")
        );
    }
    let text = status.output.as_deref().unwrap_or("[]");
    let results: Vec<Vec<StepOutput>> = serde_json::from_str(text)
        .with_context(|| format!("the output of {id} is not the pipeline's: {text}"))?;
    if results.len() as u64 != args.files {
        output::status(format!(
            "note: {}/{}/ held {} .csv files (earlier runs with more files leave theirs; --clean deletes them first); all were processed",
            config.data_container,
            args.raw_path.trim_matches('/'),
            results.len()
        ));
    }
    let summary = summary(&id, wall, &args.raw_path, &config, &results);
    if args.json {
        output::print_json(&json_of(Some(text)))?;
        eprint!("{summary}");
    } else {
        print!("{summary}");
    }
    Ok(())
}

/// Deletes the blobs of the raw folder and the step folders.
async fn clean(config: &SamplesConfig, raw: &str) -> Result<()> {
    let data = config.data_storage.container(&config.data_container);
    if !data.exists().await? {
        return Ok(());
    }
    let mut folders = vec![raw.trim_matches('/').to_string()];
    folders.extend(config.step_subpaths.iter().cloned());
    let mut deleted = 0;
    for folder in folders.iter().filter(|f| !f.is_empty()) {
        for blob in data.list(&format!("{folder}/")).await? {
            data.delete(&blob.name).await?;
            deleted += 1;
        }
    }
    output::status(format!(
        "deleted {deleted} blobs under {} in container {}",
        folders.join("/, ") + "/",
        config.data_container
    ));
    Ok(())
}

/// `min` or `min-max` of some counts.
fn range(values: impl Iterator<Item = u64>) -> String {
    let v: Vec<u64> = values.collect();
    match (v.iter().min(), v.iter().max()) {
        (Some(a), Some(b)) if a == b => a.to_string(),
        (Some(a), Some(b)) => format!("{a}-{b}"),
        _ => "-".to_string(),
    }
}

fn summary(
    id: &str,
    wall: Duration,
    raw: &str,
    config: &SamplesConfig,
    results: &[Vec<StepOutput>],
) -> String {
    let container = &config.data_container;
    let mut out = format!(
        "pipeline {id} completed in {:.1} s: {} files from {container}/{}/\n",
        wall.as_secs_f64(),
        results.len(),
        raw.trim_matches('/'),
    );
    let mut rows = Vec::new();
    for step in 1..=4usize {
        let outputs: Vec<&StepOutput> = results.iter().filter_map(|r| r.get(step - 1)).collect();
        // Rows written: what the next step read; step 4's is its sample size.
        let written = if step < 4 {
            range(
                results
                    .iter()
                    .filter_map(|r| r.get(step))
                    .map(|o| o.row_count),
            )
        } else {
            range(
                outputs
                    .iter()
                    .map(|o| o.row_count.min(SAMPLE_ROWS[2] as u64)),
            )
        };
        rows.push(vec![
            format!("step{step}"),
            outputs.len().to_string(),
            range(outputs.iter().map(|o| o.col_count)),
            range(outputs.iter().map(|o| o.row_count)),
            written,
            format!("{container}/{}/", config.step_subpath(step)),
        ]);
    }
    let headers = ["step", "files", "columns", "rows in", "rows out", "output"];
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.len());
        }
    }
    let mut line = |cells: Vec<&str>| {
        let mut l = String::new();
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            if i == 0 || i + 1 == cells.len() {
                l.push_str(&format!("{c:<w$}  "));
            } else {
                l.push_str(&format!("{c:>w$}  "));
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(headers.to_vec());
    for r in &rows {
        line(r.iter().map(String::as_str).collect());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_table() {
        let config = SamplesConfig::new(
            crate::storage::Storage::connect("UseDevelopmentStorage=true").unwrap(),
        );
        let file = |i: u32| {
            vec![
                StepOutput {
                    step: 1,
                    output_filename: format!("step1/data_{i}.csv"),
                    col_count: 10,
                    row_count: 50,
                },
                StepOutput {
                    step: 2,
                    output_filename: format!("step2/processed_{i}.csv"),
                    col_count: 10,
                    row_count: 100_000,
                },
                StepOutput {
                    step: 3,
                    output_filename: format!("step3/interim_{i}.csv"),
                    col_count: 10,
                    row_count: 100,
                },
                StepOutput {
                    step: 4,
                    output_filename: format!("step4/final_{i}.csv"),
                    col_count: 10,
                    row_count: 10,
                },
            ]
        };
        let s = summary(
            "abc",
            Duration::from_millis(1500),
            "raw",
            &config,
            &[file(0), file(1)],
        );
        assert!(
            s.starts_with("pipeline abc completed in 1.5 s: 2 files from data/raw/\n"),
            "{s}"
        );
        assert!(
            s.contains("step1      2       10       50    100000  data/step1/"),
            "{s}"
        );
        assert!(
            s.contains("step4      2       10       10         5  data/step4/"),
            "{s}"
        );
    }
}
