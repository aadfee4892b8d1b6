//! Real `taskhub worker` processes for the scenarios that break things (kill, chaos-azurite,
//! chaos-workers, failover), and the verdicts on what they leave behind.
//!
//! Owns [`WorkerProcess`] (a `taskhub worker` child with the account in its environment, killed
//! with SIGKILL on demand and on drop), [`Timeouts`] (the lease and visibility flags it runs with),
//! starting many instances at once, waiting for them with a deadline, and [`Tally`]:
//! - *completed*: Completed with the output its orchestration must return;
//! - *lost*: anything else by the deadline — missing, still running, failed, a wrong output;
//! - *duplicated*: a history event recorded twice — one task, timer or sub-orchestration id
//!   scheduled or completed twice, or the execution started or completed twice. An activity that
//!   ran twice but whose result was recorded once is not a duplicate: that is the at-least-once
//!   contract, and the History table cannot tell it apart from running once.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use serde_json::Value;
use tokio::process::{Child, Command};

use super::{BenchOptions, Error};
use crate::backend::{HubNames, InstanceQuery, InstanceStatus, PartitionsTable};
use crate::client::{Client, StartRequest};
use crate::core::{EventKind, HistoryEvent, OrchestrationStatus};
use crate::worker::WorkerOptions;

/// Starts issued at once: enough to keep Azurite busy, few enough not to time out on it.
const START_CONCURRENCY: usize = 32;
/// How often the waits below look at the Instances table.
const POLL: Duration = Duration::from_millis(500);

/// The `taskhub` binary the scenario runs workers from.
pub(super) fn taskhub_exe<'a>(o: &'a BenchOptions, scenario: &str) -> Result<&'a Path, Error> {
    o.taskhub_exe.as_deref().ok_or_else(|| {
        Error::Failed(format!(
            "the {scenario} scenario runs `taskhub worker` processes: no binary given"
        ))
    })
}

/// The lease and visibility timeouts a worker process runs with; `None` leaves the worker's
/// default (no flag).
#[derive(Debug, Clone, Copy)]
pub(super) struct Timeouts {
    pub lease_seconds: Option<u64>,
    pub visibility_seconds: Option<u64>,
}

impl Timeouts {
    /// The worker's own defaults, as a production worker runs.
    pub const DEFAULT: Timeouts = Timeouts {
        lease_seconds: None,
        visibility_seconds: None,
    };
    /// Short, so a dead worker's partitions and hidden messages come back within seconds: for
    /// the scenarios that count what is lost, not how long recovery takes.
    pub const SHORT: Timeouts = Timeouts {
        lease_seconds: Some(10),
        visibility_seconds: Some(10),
    };

    pub fn lease(&self) -> Duration {
        self.lease_seconds.map_or_else(
            || WorkerOptions::default().lease_duration,
            Duration::from_secs,
        )
    }

    pub fn visibility(&self) -> Duration {
        self.visibility_seconds.map_or_else(
            || WorkerOptions::default().visibility_timeout,
            Duration::from_secs,
        )
    }

    /// "lease 10 s, visibility 10 s" (with "(default)" where no flag is given).
    pub fn describe(&self) -> String {
        let default = |o: Option<u64>| if o.is_none() { " (default)" } else { "" };
        format!(
            "lease {} s{}, visibility {} s{}",
            self.lease().as_secs(),
            default(self.lease_seconds),
            self.visibility().as_secs(),
            default(self.visibility_seconds)
        )
    }
}

/// A `taskhub worker` child process. Dropping it kills it.
pub(super) struct WorkerProcess {
    id: String,
    child: Child,
}

impl WorkerProcess {
    /// Starts `taskhub worker --worker-id <id>` on the hub, with `extra` flags after the
    /// timeouts' (`--cache-size 0`, say). Its log goes to `$TASKHUB_BENCH_LOGS/<id>.log` when that
    /// is set.
    pub fn spawn(
        exe: &Path,
        connection_string: &str,
        names: &HubNames,
        id: &str,
        timeouts: Timeouts,
        extra: &[String],
    ) -> Result<WorkerProcess, Error> {
        let mut cmd = Command::new(exe);
        cmd.args(["--hub", names.hub().as_str()])
            .args(["--partitions", &names.partition_count().to_string()])
            .args(["worker", "--worker-id", id]);
        if let Some(s) = timeouts.lease_seconds {
            cmd.args(["--lease-seconds", &s.to_string()]);
        }
        if let Some(s) = timeouts.visibility_seconds {
            cmd.args(["--visibility-seconds", &s.to_string()]);
        }
        cmd.args(extra);
        let child = cmd
            // Through the environment, so the account key is not on a command line others can read.
            .env("AzureWebJobsStorage", connection_string)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file(id))
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| Error::Failed(format!("cannot start {}: {e}", exe.display())))?;
        Ok(WorkerProcess {
            id: id.to_string(),
            child,
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// SIGKILL (no shutdown, no lease release, messages left hidden mid-flight), and waits until
    /// it is gone.
    pub async fn kill(&mut self) -> Result<(), Error> {
        self.child
            .start_kill()
            .map_err(|e| Error::Failed(format!("cannot kill worker {}: {e}", self.id)))?;
        let _ = self.child.wait().await;
        Ok(())
    }

    /// How it ended, when it has exited (on its own, or killed).
    pub fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            Ok(None) => None,
            Err(e) => Some(format!("unknown ({e})")),
        }
    }
}

/// Where a worker's log goes: `$TASKHUB_BENCH_LOGS/<id>.log` when that is set, else nowhere.
fn log_file(id: &str) -> Stdio {
    let Some(dir) = std::env::var_os("TASKHUB_BENCH_LOGS") else {
        return Stdio::null();
    };
    let path = Path::new(&dir).join(format!("{id}.log"));
    match std::fs::create_dir_all(&dir).and_then(|_| std::fs::File::create(&path)) {
        Ok(f) => Stdio::from(f),
        Err(_) => Stdio::null(),
    }
}

/// Starts every request, a few at a time; the first failure fails the whole start.
pub(super) async fn start_all(client: &Client, requests: Vec<StartRequest>) -> Result<(), Error> {
    let started = stream::iter(requests)
        .map(|r| {
            let c = client.clone();
            async move { c.start(r).await }
        })
        .buffer_unordered(START_CONCURRENCY)
        .collect::<Vec<_>>()
        .await;
    for s in started {
        s?;
    }
    Ok(())
}

/// What a `HelloCities` instance must return.
pub(super) fn greetings() -> Value {
    serde_json::json!(["Hello Tokyo!", "Hello Seattle!", "Hello London!"])
}

/// Why an instance counts as lost.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum LostAs {
    /// No Instances row: the start itself is gone.
    Missing,
    /// Still Pending or Running (or any other non-terminal status).
    NotTerminal(OrchestrationStatus),
    /// Terminal, but not Completed with the expected output.
    EndedWrong(OrchestrationStatus, Option<String>),
    /// Its status could not be read.
    Unreadable(String),
}

impl LostAs {
    /// The count it adds to, in a report.
    fn kind(&self) -> &'static str {
        match self {
            LostAs::Missing => "lost_missing",
            LostAs::NotTerminal(_) => "lost_not_terminal",
            LostAs::EndedWrong(..) => "lost_ended_wrong",
            LostAs::Unreadable(_) => "lost_unreadable",
        }
    }
}

impl std::fmt::Display for LostAs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LostAs::Missing => write!(f, "missing (no Instances row)"),
            LostAs::NotTerminal(s) => write!(f, "still {s}"),
            LostAs::EndedWrong(s, output) => write!(f, "{s} with output {output:?}"),
            LostAs::Unreadable(e) => write!(f, "status unreadable ({e})"),
        }
    }
}

/// Ok when the instance completed with `expected`'s output, else why not.
pub(super) fn check_output(
    status: Option<&InstanceStatus>,
    expected: &dyn Fn(&Value) -> bool,
) -> Result<(), LostAs> {
    let Some(s) = status else {
        return Err(LostAs::Missing);
    };
    let output: Option<Value> = s
        .output
        .as_deref()
        .and_then(|o| serde_json::from_str(o).ok());
    match (s.runtime_status, output) {
        (OrchestrationStatus::Completed, Some(o)) if expected(&o) => Ok(()),
        (status, _) if !status.is_terminal() => Err(LostAs::NotTerminal(status)),
        (status, _) => Err(LostAs::EndedWrong(status, s.output.clone())),
    }
}

/// Waits for one instance and checks it completed with all three greetings.
pub(super) async fn expect_greetings(
    client: &Client,
    id: &str,
    wait: Duration,
) -> Result<(), Error> {
    let s = client.wait_for_completion(id, wait).await?;
    let want = greetings();
    check_output(Some(&s), &|o| *o == want)
        .map_err(|why| Error::Failed(format!("{id} ended {why}: work was lost")))
}

/// How many instances of the hub are Completed.
pub(super) async fn count_completed(client: &Client) -> Result<usize, Error> {
    let done = InstanceQuery {
        statuses: vec![OrchestrationStatus::Completed],
        ..Default::default()
    };
    Ok(client.hub().instances().query_all(&done).await?.len())
}

/// Waits until every one of `ids` is terminal, or `deadline`. Storage errors are retried until
/// the deadline (Azurite may be restarting). Returns how many were not terminal at the end.
pub(super) async fn wait_terminal(client: &Client, ids: &[String], deadline: Instant) -> usize {
    let wanted: HashSet<&str> = ids.iter().map(String::as_str).collect();
    let mut open = ids.len();
    loop {
        match client
            .hub()
            .instances()
            .query_all(&InstanceQuery::default())
            .await
        {
            Ok(all) => {
                let terminal = all
                    .iter()
                    .filter(|s| {
                        wanted.contains(s.instance_id.as_str()) && s.runtime_status.is_terminal()
                    })
                    .count();
                open = ids.len() - terminal;
                if open == 0 {
                    return 0;
                }
            }
            Err(e) => tracing::debug!(error = %e, "cannot read the instances yet"),
        }
        if Instant::now() >= deadline {
            return open;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Waits until each of `workers` owns a partition and every partition has an owner, the same in
/// two reads a second apart: the hub's work is then shared, so killing either takes some of it.
/// `false` when that did not happen within `max`.
pub(super) async fn wait_spread(
    partitions: &PartitionsTable,
    workers: &[&str],
    max: Duration,
) -> Result<bool, Error> {
    let begin = Instant::now();
    let mut last: Option<Vec<Option<String>>> = None;
    while begin.elapsed() < max {
        let owners: Vec<Option<String>> = partitions
            .read_all()
            .await?
            .into_iter()
            .map(|l| l.current_owner)
            .collect();
        let spread = !owners.is_empty()
            && owners.iter().all(Option::is_some)
            && workers
                .iter()
                .all(|w| owners.iter().any(|o| o.as_deref() == Some(*w)));
        if spread && last.as_ref() == Some(&owners) {
            return Ok(true);
        }
        last = spread.then_some(owners);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Ok(false)
}

/// How many partitions `worker` owns now.
pub(super) async fn partitions_owned(
    partitions: &PartitionsTable,
    worker: &str,
) -> Result<usize, Error> {
    Ok(partitions
        .read_all()
        .await?
        .iter()
        .filter(|l| l.current_owner.as_deref() == Some(worker))
        .count())
}

/// The control queues that hold visible messages older than `age`, with the partition's owner:
/// a partition nobody reads, although someone may hold its lease. For the notes of a run that
/// lost work: it tells a stuck listener from a message that is gone.
pub(super) async fn unread_partitions(client: &Client, age: Duration) -> Vec<String> {
    let hub = client.hub();
    let names = hub.names();
    let leases = PartitionsTable::new(hub.storage(), &names.partitions_table())
        .read_all()
        .await
        .unwrap_or_default();
    let now = time::OffsetDateTime::now_utc();
    let mut out = Vec::new();
    for q in names.control_queues() {
        let Ok(peeked) = hub.storage().queue(&q).peek(32).await else {
            continue;
        };
        let stale: Vec<_> = peeked
            .iter()
            .filter(|m| now - m.inserted_on > age)
            .collect();
        let Some(oldest) = stale.iter().map(|m| now - m.inserted_on).max() else {
            continue;
        };
        let never_taken = stale.iter().filter(|m| m.dequeue_count == 0).count();
        let owner = leases
            .iter()
            .find(|l| l.partition == q)
            .and_then(|l| l.current_owner.clone())
            .unwrap_or_else(|| "nobody".into());
        out.push(format!(
            "{q} (owner {owner}) holds {}{} visible message(s) up to {:.0} s old, {never_taken} \
             never dequeued",
            stale.len(),
            if stale.len() == 32 { "+" } else { "" },
            oldest.as_seconds_f64()
        ));
    }
    out
}

/// Extra copies of events that must appear once per id: the scheduling and the completion of
/// each task, timer and sub-orchestration id, and the start and end of the execution.
pub(super) fn duplicated_events(history: &[HistoryEvent]) -> u64 {
    let mut scheduled: HashMap<i32, u64> = HashMap::new();
    let mut completed: HashMap<i32, u64> = HashMap::new();
    let (mut starts, mut ends) = (0u64, 0u64);
    for e in history {
        if e.kind.is_scheduling() {
            *scheduled.entry(e.event_id).or_default() += 1;
        } else if let Some(id) = e.kind.completes_id() {
            *completed.entry(id).or_default() += 1;
        }
        match e.kind {
            EventKind::ExecutionStarted { .. } => starts += 1,
            EventKind::ExecutionCompleted { .. } => ends += 1,
            _ => {}
        }
    }
    let extra = |n: u64| n.saturating_sub(1);
    scheduled.into_values().map(extra).sum::<u64>()
        + completed.into_values().map(extra).sum::<u64>()
        + extra(starts)
        + extra(ends)
}

/// What became of a set of instances.
#[derive(Debug, Default)]
pub(super) struct Tally {
    pub completed: u64,
    /// `id: why`, for every instance lost.
    pub lost: Vec<String>,
    /// Lost instances by [`LostAs`] kind.
    pub lost_as: BTreeMap<&'static str, u64>,
    /// Duplicated history events, summed over the instances.
    pub duplicated_events: u64,
    /// Instances with at least one duplicated history event.
    pub duplicated_instances: Vec<String>,
    /// Histories that could not be read (not checked for duplicates).
    pub unreadable_histories: u64,
}

impl Tally {
    /// Reads every instance's status and current history; one that cannot be read is lost.
    pub async fn of(
        client: &Client,
        ids: &[String],
        expected: &dyn Fn(&str, &Value) -> bool,
    ) -> Tally {
        let mut t = Tally::default();
        for id in ids {
            // A read that fails is a verdict too (after a storage crash a table may be gone).
            let status = match client.status(id, false).await {
                Ok(s) => s,
                Err(e) => {
                    t.lose(id, LostAs::Unreadable(e.to_string()), "");
                    continue;
                }
            };
            let history = match client.history(id).await {
                Ok(h) => h,
                Err(e) => {
                    tracing::warn!(error = %e, %id, "cannot read the history");
                    t.unreadable_histories += 1;
                    Vec::new()
                }
            };
            match check_output(status.as_ref(), &|o| expected(id, o)) {
                Ok(()) => t.completed += 1,
                Err(why) => {
                    let last = history
                        .last()
                        .map_or_else(|| "none".to_string(), |e| e.event_type().to_string());
                    t.lose(
                        id,
                        why,
                        &format!(", history {} events, last {last}", history.len()),
                    );
                }
            }
            let dups = duplicated_events(&history);
            if dups > 0 {
                t.duplicated_events += dups;
                t.duplicated_instances.push(id.clone());
            }
        }
        t
    }

    fn lose(&mut self, id: &str, why: LostAs, more: &str) {
        *self.lost_as.entry(why.kind()).or_default() += 1;
        self.lost.push(format!("{id}: {why}{more}"));
    }

    /// Adds the counts to a report's (or a run's) counts.
    pub fn record(&self, counts: &mut BTreeMap<String, u64>) {
        counts.insert("orchestrations_completed".into(), self.completed);
        counts.insert("orchestrations_lost".into(), self.lost.len() as u64);
        for (kind, n) in &self.lost_as {
            counts.insert(kind.to_string(), *n);
        }
        counts.insert("duplicated_history_events".into(), self.duplicated_events);
        counts.insert(
            "instances_with_duplicates".into(),
            self.duplicated_instances.len() as u64,
        );
        if self.unreadable_histories > 0 {
            counts.insert("unreadable_histories".into(), self.unreadable_histories);
        }
    }

    /// A note naming the first few lost and duplicated instances, if any.
    pub fn detail(&self) -> Option<String> {
        const SHOWN: usize = 5;
        let mut parts = Vec::new();
        if !self.lost.is_empty() {
            parts.push(format!(
                "lost {}: {}{}",
                self.lost.len(),
                self.lost[..self.lost.len().min(SHOWN)].join("; "),
                if self.lost.len() > SHOWN { "; …" } else { "" }
            ));
        }
        if !self.duplicated_instances.is_empty() {
            let d = &self.duplicated_instances;
            parts.push(format!(
                "duplicated history events in {}: {}{}",
                d.len(),
                d[..d.len().min(SHOWN)].join(", "),
                if d.len() > SHOWN { ", …" } else { "" }
            ));
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{HistoryEvent, OrchestrationInstance};

    fn at(kind: EventKind, event_id: i32) -> HistoryEvent {
        let mut e = HistoryEvent::new(time::OffsetDateTime::UNIX_EPOCH, kind);
        e.event_id = event_id;
        e
    }

    fn scheduled(id: i32) -> HistoryEvent {
        at(
            EventKind::TaskScheduled {
                name: "SayHello".into(),
                version: None,
                input: None,
            },
            id,
        )
    }

    fn completed(id: i32) -> HistoryEvent {
        at(
            EventKind::TaskCompleted {
                task_scheduled_id: id,
                result: None,
            },
            -1,
        )
    }

    #[test]
    fn a_clean_history_has_no_duplicates() {
        let h = vec![scheduled(0), completed(0), scheduled(1), completed(1)];
        assert_eq!(duplicated_events(&h), 0);
    }

    #[test]
    fn a_task_scheduled_or_completed_twice_is_counted() {
        let h = vec![
            scheduled(0),
            scheduled(0),
            completed(0),
            completed(0),
            completed(0),
        ];
        assert_eq!(duplicated_events(&h), 3);
    }

    #[test]
    fn a_second_execution_start_is_counted() {
        let start = || {
            at(
                EventKind::ExecutionStarted {
                    orchestration_instance: OrchestrationInstance::new("i", None),
                    name: "HelloCities".into(),
                    version: None,
                    input: None,
                    parent_instance: None,
                    scheduled_start_time: None,
                    generation: None,
                    tags: None,
                },
                -1,
            )
        };
        assert_eq!(duplicated_events(&[start(), start()]), 1);
    }
}
