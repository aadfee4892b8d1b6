//! The `kill` scenario: nothing is lost when a worker dies. Two real `taskhub worker` processes
//! share a hub; N `HelloCities` orchestrations (three activities each) are started; when the first
//! has completed one worker is killed with SIGKILL (no shutdown, no lease release, messages left
//! invisible mid-flight). The run passes only if every orchestration completes with all three
//! greetings; it reports the wall time and how long the tail took after the kill, which is bounded
//! by the lease and visibility timeouts the workers run with.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use serde_json::json;
use tokio::process::{Child, Command};

use super::{fresh_hub, storage, BenchOptions, Error, Report, Scenario};
use crate::backend::{InstanceQuery, TaskHub};
use crate::client::{Client, StartRequest};
use crate::core::OrchestrationStatus;

/// Short timeouts so the dead worker's partitions and hidden messages come back within seconds.
const LEASE_SECONDS: &str = "10";
const VISIBILITY_SECONDS: &str = "10";
/// Long enough for a lease and a visibility timeout to pass several times over.
const WAIT: Duration = Duration::from_secs(120);

pub(super) async fn run(o: &BenchOptions) -> Result<Report, Error> {
    let exe = o.taskhub_exe.as_deref().ok_or_else(|| {
        Error::Failed("the kill scenario runs `taskhub worker` processes: no binary given".into())
    })?;
    let n = o.size.unwrap_or(300);
    if n == 0 {
        return Err(Error::Failed(
            "the kill scenario needs at least one orchestration".into(),
        ));
    }
    let hub = fresh_hub(o, storage(o)?, Scenario::Kill).await?;
    let client = Client::new(TaskHub::new(storage(o)?, hub.names().clone()));
    let mut doomed = spawn_worker(exe, o, &hub, "doomed")?;
    let mut survivor = spawn_worker(exe, o, &hub, "survivor")?;

    let ids: Vec<String> = (0..n).map(|i| format!("kill-{i:05}")).collect();
    let start = Instant::now();
    let started = stream::iter(ids.iter().cloned())
        .map(|id| {
            let c = client.clone();
            async move { c.start(StartRequest::new("HelloCities").with_id(&id)).await }
        })
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await;
    for s in started {
        s?;
    }

    // Kill when the first orchestration has completed: with all of them started at once, the
    // rest are then queued, mid-activity or mid-checkpoint on both workers.
    expect_greetings(&client, &ids[0]).await?;
    doomed
        .start_kill()
        .map_err(|e| Error::Failed(format!("cannot kill the worker: {e}")))?;
    let _ = doomed.wait().await;
    let killed_at = start.elapsed();
    let done = InstanceQuery {
        statuses: vec![OrchestrationStatus::Completed],
        ..Default::default()
    };
    let completed_at_kill = client.hub().instances().query_all(&done).await?.len();

    for id in &ids {
        expect_greetings(&client, id).await?;
    }
    let wall = start.elapsed();
    let _ = survivor.start_kill();
    let _ = survivor.wait().await;

    let mut report = Report::new(Scenario::Kill.name());
    report.wall_seconds = wall.as_secs_f64();
    let t = &mut report.throughput;
    t.insert("orchestrations_started".into(), n as f64);
    t.insert("orchestrations_completed".into(), n as f64);
    t.insert("killed_after_seconds".into(), killed_at.as_secs_f64());
    t.insert("completed_when_killed".into(), completed_at_kill as f64);
    t.insert(
        "tail_after_kill_seconds".into(),
        (wall - killed_at).as_secs_f64(),
    );
    report.notes.push(format!(
        "two `taskhub worker` processes (lease {LEASE_SECONDS} s, visibility {VISIBILITY_SECONDS} \
         s); one got SIGKILL when {completed_at_kill} of {n} orchestrations had completed; every \
         one of the {n} then completed with its three greetings"
    ));
    if let Err(e) = hub.delete().await {
        report
            .notes
            .push(format!("could not delete the benchmark hub: {e}"));
    }
    Ok(report)
}

fn spawn_worker(exe: &Path, o: &BenchOptions, hub: &TaskHub, id: &str) -> Result<Child, Error> {
    Command::new(exe)
        .args(["--hub", hub.names().hub().as_str()])
        .args(["--partitions", &o.partitions.to_string()])
        .args(["worker", "--worker-id", id])
        .args(["--lease-seconds", LEASE_SECONDS])
        .args(["--visibility-seconds", VISIBILITY_SECONDS])
        // Through the environment, so the account key is not on a command line others can read.
        .env("AzureWebJobsStorage", &o.connection_string)
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log_file(id))
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| Error::Failed(format!("cannot start {}: {e}", exe.display())))
}

/// Where a worker's log goes: `$TASKHUB_BENCH_LOGS/<id>.log` when that is set, else nowhere.
fn log_file(id: &str) -> Stdio {
    let Some(dir) = std::env::var_os("TASKHUB_BENCH_LOGS") else {
        return Stdio::null();
    };
    let path = std::path::Path::new(&dir).join(format!("{id}.log"));
    match std::fs::create_dir_all(&dir).and_then(|_| std::fs::File::create(&path)) {
        Ok(f) => Stdio::from(f),
        Err(_) => Stdio::null(),
    }
}

/// Waits for one instance and checks it completed with all three greetings.
async fn expect_greetings(client: &Client, id: &str) -> Result<(), Error> {
    let s = client.wait_for_completion(id, WAIT).await?;
    let expected = json!(["Hello Tokyo!", "Hello Seattle!", "Hello London!"]);
    let output: Option<serde_json::Value> = s
        .output
        .as_deref()
        .and_then(|o| serde_json::from_str(o).ok());
    if s.runtime_status != OrchestrationStatus::Completed || output.as_ref() != Some(&expected) {
        return Err(Error::Failed(format!(
            "{id} ended {} with {:?}: work was lost",
            s.runtime_status, s.output
        )));
    }
    Ok(())
}
