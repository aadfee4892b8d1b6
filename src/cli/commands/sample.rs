//! `taskhub sample hello | monitor | backup | eternal`: runs one of the other seed samples. Like
//! `taskhub pipeline`, each creates the hub if needed and runs a worker in this process unless
//! `--no-worker` is given (then `taskhub worker` processes on the same hub do the work).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::client::{Client, Error as ClientError, StartRequest};
use crate::core::OrchestrationStatus;
use crate::samples::{backup, eternal, hello_counter, monitor};
use anyhow::{bail, Context as _, Result};
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::pipeline::{prepare, LocalWorker};
use crate::cli::{output, Context};

#[derive(Debug, Subcommand)]
pub enum SampleCommand {
    /// Hello with a counter entity: signals `add 2` to the session_handler entity of --key,
    /// runs message_orchestrator (two message_logger calls), then prints the greetings and the
    /// counter's value.
    Hello(HelloArgs),
    /// Job monitor: checks a simulated job by activity every --interval seconds (durable timer,
    /// continue-as-new) until it completes or --expiry passes; records and prints the final
    /// status.
    Monitor(MonitorArgs),
    /// Backup (fan-out/fan-in): copies every file under DIR to blobs in parallel and prints the
    /// total bytes.
    Backup(BackupArgs),
    /// Eternal: starts the singleton instance `eternal`, which moves blobs from
    /// eternal/inbox/ to eternal/processed/ in the data container forever. A second start
    /// while it runs is refused. Without --no-worker, runs a worker until Ctrl-C.
    Eternal(EternalArgs),
}

#[derive(Debug, Args)]
pub struct Common {
    /// Run no worker in this process: rely on `taskhub worker` processes on the same hub.
    #[arg(long)]
    no_worker: bool,
    /// Print the orchestration's output as JSON.
    #[arg(long)]
    json: bool,
    /// Give up waiting after this many seconds (the instance goes on in the hub).
    #[arg(long, value_name = "SECONDS", default_value_t = 600)]
    timeout: u64,
}

#[derive(Debug, Args)]
pub struct HelloArgs {
    /// The session_handler entity's key.
    #[arg(long, value_name = "KEY", default_value = "session1")]
    key: String,
    /// How much to add to the counter.
    #[arg(long, value_name = "N", default_value_t = 2)]
    add: i64,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, Args)]
pub struct MonitorArgs {
    /// The job's id (its simulated status can be set in the blob jobs/<ID>.status).
    #[arg(long, value_name = "ID", default_value = "job1")]
    job_id: String,
    /// Seconds between checks.
    #[arg(long, value_name = "SECONDS", default_value_t = 2,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    interval: u64,
    /// Seconds after which the monitor gives up and records `Expired`.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    expiry: u64,
    /// The simulated job completes this many seconds after the monitor starts; 0: only when
    /// the blob jobs/<ID>.status in the data container says `Completed` (or `Failed`).
    #[arg(long, value_name = "SECONDS", default_value_t = 6)]
    completes_after: u64,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The directory to back up (read by the worker that runs the activities).
    dir: PathBuf,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, Args)]
pub struct EternalArgs {
    /// Seconds to sleep (durable timer) after a round that processed nothing.
    #[arg(long, value_name = "SECONDS", default_value_t = 5)]
    idle: u64,
    /// Terminate the running singleton instead of starting it.
    #[arg(long)]
    stop: bool,
    /// Start it and return: `taskhub worker` processes run it.
    #[arg(long)]
    no_worker: bool,
}

pub async fn run(cmd: SampleCommand, ctx: &mut Context) -> Result<()> {
    match cmd {
        SampleCommand::Hello(a) => run_hello(ctx, a).await,
        SampleCommand::Monitor(a) => {
            let mut input = monitor::MonitorInput::new(&a.job_id);
            input.polling_interval_seconds = a.interval;
            input.expiry_seconds = a.expiry;
            input.completes_after_seconds = (a.completes_after > 0).then_some(a.completes_after);
            let input = serde_json::to_value(&input)?;
            run_to_end(ctx, monitor::ORCHESTRATOR, input, &a.common).await
        }
        SampleCommand::Backup(a) => {
            let dir = std::fs::canonicalize(&a.dir)
                .with_context(|| format!("cannot read directory {}", a.dir.display()))?;
            let input = json!(dir.to_string_lossy());
            run_to_end(ctx, backup::ORCHESTRATOR, input, &a.common).await
        }
        SampleCommand::Eternal(a) => run_eternal(ctx, a).await,
    }
}

/// Starts `name`, waits for it (printing custom status changes), prints its output.
async fn run_to_end(ctx: &mut Context, name: &str, input: Value, common: &Common) -> Result<()> {
    let (client, worker, _) = prepare(ctx, common.no_worker).await?;
    let id = client
        .start(StartRequest::new(name).with_input(&input))
        .await?;
    output::status(format!("{name} {id} started with input {input}"));
    let result = tokio::select! {
        r = wait_showing_status(&client, &id, Duration::from_secs(common.timeout), &worker) => r,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted; instance {id} goes on in the hub")),
    };
    if let Some(w) = worker {
        w.stop().await?;
    }
    let (status, elapsed) = result?;
    let out = status.output.as_deref().unwrap_or("null");
    if status.runtime_status != OrchestrationStatus::Completed {
        bail!("{name} {id} {}: {out}", status.runtime_status);
    }
    if common.json {
        let v: Value = serde_json::from_str(out).unwrap_or(Value::String(out.into()));
        output::print_json(&v)?;
    } else {
        println!(
            "{name} {id} completed in {:.1} s: {out}",
            elapsed.as_secs_f64()
        );
    }
    Ok(())
}

async fn wait_showing_status(
    client: &Client,
    id: &str,
    timeout: Duration,
    worker: &Option<LocalWorker>,
) -> Result<(crate::backend::InstanceStatus, Duration)> {
    let start = Instant::now();
    let mut last = None;
    loop {
        let s = client
            .status(id, true)
            .await?
            .with_context(|| format!("instance {id} disappeared"))?;
        if s.runtime_status.is_terminal() {
            return Ok((s, start.elapsed()));
        }
        if s.custom_status.is_some() && s.custom_status != last {
            output::status(format!(
                "{id}: {}",
                s.custom_status.as_deref().unwrap_or_default()
            ));
            last = s.custom_status.clone();
        }
        if worker.as_ref().is_some_and(LocalWorker::is_finished) {
            bail!("the in-process worker stopped unexpectedly");
        }
        if start.elapsed() > timeout {
            bail!(
                "instance {id} is still {} after {} s; it goes on in the hub",
                s.runtime_status,
                timeout.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The seed's hello app: the counter signal and the orchestration started together.
async fn run_hello(ctx: &mut Context, a: HelloArgs) -> Result<()> {
    let entity = crate::core::EntityId::new(hello_counter::ENTITY, &a.key)
        .map_err(|e| anyhow::anyhow!("invalid --key: {e}"))?;
    let (client, worker, _) = prepare(ctx, a.common.no_worker).await?;
    let before = session_count(&client, &entity).await?;
    client
        .signal_entity(&entity, "add", Some(&a.add.to_string()), None)
        .await?;
    let id = client
        .start(StartRequest::new(hello_counter::ORCHESTRATOR))
        .await?;
    output::status(format!("signalled {entity}: add {}; started {id}", a.add));
    let timeout = Duration::from_secs(a.common.timeout);
    let waited = wait_showing_status(&client, &id, timeout, &worker).await;
    let start = Instant::now();
    let mut count = before;
    while waited.is_ok() && count < before + a.add && start.elapsed() < timeout {
        tokio::time::sleep(Duration::from_millis(100)).await;
        count = session_count(&client, &entity).await?;
    }
    if let Some(w) = worker {
        w.stop().await?;
    }
    let (status, _) = waited?;
    let greetings = status.output.as_deref().unwrap_or("null");
    if status.runtime_status != OrchestrationStatus::Completed {
        bail!(
            "{} {id} {}: {greetings}",
            hello_counter::ORCHESTRATOR,
            status.runtime_status
        );
    }
    if a.common.json {
        let g: Value = serde_json::from_str(greetings).unwrap_or(Value::Null);
        output::print_json(
            &json!({"instanceId": id, "greetings": g, "entity": entity.to_string(), "count": count}),
        )?;
    } else {
        println!("{id}: {greetings}");
        println!("{entity}: count {count}");
    }
    Ok(())
}

/// The counter of a session_handler entity (0 when it does not exist yet).
async fn session_count(client: &Client, entity: &crate::core::EntityId) -> Result<i64> {
    let view = client.entity(entity).await?;
    let state = view.and_then(|v| v.state);
    Ok(match state {
        Some(s) => serde_json::from_str::<hello_counter::Session>(&s)?.count,
        None => 0,
    })
}

async fn run_eternal(ctx: &mut Context, a: EternalArgs) -> Result<()> {
    let id = eternal::INSTANCE_ID;
    if a.stop {
        let (client, _, _) = prepare(ctx, true).await?;
        client
            .terminate(id, Some("stopped by taskhub sample eternal --stop"))
            .await?;
        output::status(format!("asked instance {id} to terminate"));
        return Ok(());
    }
    let no_worker = a.no_worker;
    let (client, worker, config) = prepare(ctx, no_worker).await?;
    let input = serde_json::to_value(eternal::EternalState {
        idle_seconds: a.idle,
        ..Default::default()
    })?;
    let req = StartRequest::new(eternal::ORCHESTRATOR)
        .with_id(id)
        .with_input(&input);
    match client.start(req).await {
        Ok(_) => output::status(format!(
            "started the singleton {id}; drop blobs into {}/{} to give it records",
            config.data_container,
            eternal::INBOX
        )),
        Err(ClientError::AlreadyRunning { status, .. }) => {
            if let Some(w) = worker {
                w.stop().await?;
            }
            bail!(
                "the singleton {id} is already {status}: a second one is refused \
                 (stop it with `taskhub sample eternal --stop`)"
            );
        }
        Err(e) => return Err(e.into()),
    }
    let Some(worker) = worker else {
        return Ok(());
    };
    output::status("running a worker until Ctrl-C");
    let mut last = None;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
        if worker.is_finished() {
            break;
        }
        if let Some(s) = client.status(id, false).await? {
            if s.runtime_status.is_terminal() {
                output::status(format!("{id} is {}", s.runtime_status));
                break;
            }
            if s.custom_status.is_some() && s.custom_status != last {
                output::status(format!(
                    "{id}: {}",
                    s.custom_status.as_deref().unwrap_or_default()
                ));
                last = s.custom_status;
            }
        }
    }
    worker.stop().await?;
    output::status(format!(
        "worker stopped; {id} goes on with the next `taskhub worker` on this hub"
    ));
    Ok(())
}
