//! The `kill` scenario: nothing is lost when a worker dies. Two real `taskhub worker` processes
//! share a hub; N `HelloCities` orchestrations (three activities each) are started; when the first
//! has completed one worker is killed with SIGKILL (no shutdown, no lease release, messages left
//! invisible mid-flight). The run passes only if every orchestration completes with all three
//! greetings; it reports the wall time and how long the tail took after the kill, which is bounded
//! by the lease and visibility timeouts the workers run with.

use std::time::{Duration, Instant};

use super::processes::{
    count_completed, expect_greetings, start_all, taskhub_exe, Timeouts, WorkerProcess,
};
use super::{fresh_hub, storage, BenchOptions, Error, Report, Scenario};
use crate::backend::TaskHub;
use crate::client::{Client, StartRequest};

/// Short timeouts so the dead worker's partitions and hidden messages come back within seconds.
const TIMEOUTS: Timeouts = Timeouts::SHORT;
/// Long enough for a lease and a visibility timeout to pass several times over.
const WAIT: Duration = Duration::from_secs(120);

pub(super) async fn run(o: &BenchOptions) -> Result<Report, Error> {
    let exe = taskhub_exe(o, "kill")?;
    let n = o.size.unwrap_or(300);
    if n == 0 {
        return Err(Error::Failed(
            "the kill scenario needs at least one orchestration".into(),
        ));
    }
    let hub = fresh_hub(o, storage(o)?, Scenario::Kill).await?;
    let client = Client::new(TaskHub::new(storage(o)?, hub.names().clone()));
    let spawn =
        |id| WorkerProcess::spawn(exe, &o.connection_string, hub.names(), id, TIMEOUTS, &[]);
    let mut doomed = spawn("doomed")?;
    let mut survivor = spawn("survivor")?;

    let ids: Vec<String> = (0..n).map(|i| format!("kill-{i:05}")).collect();
    let start = Instant::now();
    let requests = ids
        .iter()
        .map(|id| StartRequest::new("HelloCities").with_id(id))
        .collect();
    start_all(&client, requests).await?;

    // Kill when the first orchestration has completed: with all of them started at once, the
    // rest are then queued, mid-activity or mid-checkpoint on both workers.
    expect_greetings(&client, &ids[0], WAIT).await?;
    doomed.kill().await?;
    let killed_at = start.elapsed();
    let completed_at_kill = count_completed(&client).await?;

    for id in &ids {
        expect_greetings(&client, id, WAIT).await?;
    }
    let wall = start.elapsed();
    let _ = survivor.kill().await;

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
        "two `taskhub worker` processes ({}); one got SIGKILL when {completed_at_kill} of {n} \
         orchestrations had completed; every one of the {n} then completed with its three \
         greetings",
        TIMEOUTS.describe()
    ));
    if let Err(e) = hub.delete().await {
        report
            .notes
            .push(format!("could not delete the benchmark hub: {e}"));
    }
    Ok(report)
}
