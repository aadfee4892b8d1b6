//! `chaos-workers`: a worker dies at a random moment, many times over. Each of `--runs` runs (20)
//! gets a fresh hub and two `taskhub worker` processes; once both own partitions, N `HelloCities`
//! start (`--size`, 100), and one of the two workers, drawn at random, gets SIGKILL once a random
//! number of instances (0 to N-1) has completed, plus up to 100 ms more so the kill lands
//! anywhere in a turn; in half of the runs a new worker process joins a random 0-5 s after the
//! kill. Every instance must complete with its three greetings by the run's deadline, and no
//! surviving worker may exit. A run's wall time runs from its first start to its last instance
//! finished.
//!
//! The plan of every run comes from one seeded RNG (`--seed`, else the clock; always reported),
//! so a failing plan can be run again; the timing it meets is the machine's.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{progress, secs, verdict, worker_args_note};
use crate::backend::{PartitionsTable, TaskHub};
use crate::bench::processes::{
    count_completed, greetings, partitions_owned, start_all, taskhub_exe, unread_partitions,
    wait_spread, wait_terminal, Tally, Timeouts, WorkerProcess,
};
use crate::bench::{
    fresh_hub_tagged, storage, BenchOptions, Error, Percentiles, Report, RunSummary, Scenario,
};
use crate::client::{Client, StartRequest};

const NAME: &str = "chaos-workers";
/// Short timeouts: the tail after a kill is a lease or a visibility timeout, seconds not minutes.
/// This scenario counts what is lost; `failover` measures the default timeouts.
const TIMEOUTS: Timeouts = Timeouts::SHORT;
/// A visible control message this old at the deadline has been left unread (the workers' lease
/// and visibility timeouts are 10 s).
const STALE: Duration = Duration::from_secs(30);
/// Longest wait for the partitions to spread over both workers (a few lease periods).
const SPREAD_WAIT: Duration = Duration::from_secs(60);
/// Longest wait for the completions a kill waits for.
const KILL_WAIT: Duration = Duration::from_secs(300);

/// What one run does, drawn before it starts.
#[derive(Debug, Clone)]
struct Plan {
    /// Which of the two workers dies (0 or 1).
    victim: usize,
    /// It dies once this many instances have completed...
    after_completed: u64,
    /// ...and this much later.
    jitter: Duration,
    /// A new worker starts this long after the kill, in some runs.
    replacement_after: Option<Duration>,
}

impl Plan {
    fn draw(rng: &mut StdRng, n: u64) -> Plan {
        Plan {
            victim: rng.gen_range(0..2),
            after_completed: rng.gen_range(0..n),
            jitter: Duration::from_millis(rng.gen_range(0..100)),
            replacement_after: rng
                .gen_bool(0.5)
                .then(|| Duration::from_millis(rng.gen_range(0..=5000))),
        }
    }
}

/// What one run measured.
struct RunResult {
    summary: RunSummary,
    tally: Tally,
    /// From the kill until every instance was terminal (or the deadline).
    tail: Duration,
    /// Why the run failed, if it did.
    failure: Option<String>,
}

pub(in crate::bench) async fn run(o: &BenchOptions) -> Result<Report, Error> {
    let exe = taskhub_exe(o, NAME)?;
    let n = o.size.unwrap_or(100);
    let runs = o.chaos.runs.unwrap_or(20);
    if runs == 0 {
        return Err(Error::Failed(format!("{NAME} needs at least one run")));
    }
    let deadline = Duration::from_secs(o.chaos.deadline_seconds.unwrap_or(180));
    let seed = o.chaos.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
    });
    progress(
        NAME,
        format!("seed {seed} ({runs} runs of {n}; `--seed {seed}` draws the same plans)"),
    );
    let mut rng = StdRng::seed_from_u64(seed);
    let start = Instant::now();
    let mut results = Vec::new();
    for run in 1..=runs {
        let plan = Plan::draw(&mut rng, n);
        let r = one_run(o, exe, run, n, &plan, deadline).await?;
        progress(
            NAME,
            format!(
                "run {run}/{runs}: {:.1} s, {}",
                r.summary.wall_seconds, r.summary.what
            ),
        );
        results.push(r);
    }

    let mut report = Report::new(NAME);
    report.notes.extend(worker_args_note(o));
    report.wall_seconds = secs(start.elapsed());
    let mut totals: BTreeMap<String, u64> = BTreeMap::new();
    for r in &results {
        for (k, v) in &r.summary.counts {
            *totals.entry(k.clone()).or_default() += v;
        }
    }
    totals.insert("runs".into(), u64::from(runs));
    totals.insert("seed".into(), seed);
    report.counts = totals;
    let ms = |f: &dyn Fn(&RunResult) -> Duration| -> Vec<f64> {
        results
            .iter()
            .map(|r| f(r).as_secs_f64() * 1000.0)
            .collect()
    };
    if let Some(p) = Percentiles::of(ms(&|r| Duration::from_secs_f64(r.summary.wall_seconds))) {
        report.latency.insert("run wall".into(), p);
    }
    if let Some(p) = Percentiles::of(ms(&|r| r.tail)) {
        report.latency.insert("tail after the kill".into(), p);
    }
    report.notes.push(format!(
        "{runs} runs, seed {seed}: each a fresh hub, two `taskhub worker` processes ({}), {n} \
         HelloCities, one worker SIGKILLed after a random number of completions, a new worker \
         started after the kill in some runs; deadline {} s after the kill",
        TIMEOUTS.describe(),
        deadline.as_secs()
    ));
    let mut failed = 0;
    for r in &results {
        if let Some(f) = &r.failure {
            failed += 1;
            report
                .notes
                .push(format!("run {} failed: {f}", r.summary.run));
        }
        if let Some(d) = r.tally.detail() {
            report.notes.push(format!("run {}: {d}", r.summary.run));
        }
    }
    report.runs = results.into_iter().map(|r| r.summary).collect();
    verdict(
        report,
        (failed > 0).then(|| format!("{failed} of {runs} runs failed (seed {seed})")),
    )
}

async fn one_run(
    o: &BenchOptions,
    exe: &std::path::Path,
    run: u32,
    n: u64,
    plan: &Plan,
    deadline: Duration,
) -> Result<RunResult, Error> {
    let hub = fresh_hub_tagged(o, storage(o)?, Scenario::ChaosWorkers, &format!("r{run}")).await?;
    let client = Client::new(TaskHub::new(storage(o)?, hub.names().clone()));
    let spawn = |id: &str| {
        WorkerProcess::spawn(
            exe,
            &o.connection_string,
            hub.names(),
            id,
            TIMEOUTS,
            &o.chaos.worker_args,
        )
    };
    let names = [format!("r{run:02}-a"), format!("r{run:02}-b")];
    let mut workers = vec![spawn(&names[0])?, spawn(&names[1])?];
    // Both owning partitions before the work starts, so the kill always takes some of it (a
    // worker killed before it owned anything would test nothing).
    let partitions = PartitionsTable::new(client.hub().storage(), &hub.names().partitions_table());
    let spread = wait_spread(
        &partitions,
        &[names[0].as_str(), names[1].as_str()],
        SPREAD_WAIT,
    )
    .await?;

    let ids: Vec<String> = (0..n).map(|i| format!("chaos-{i:05}")).collect();
    let start = Instant::now();
    let requests = ids
        .iter()
        .map(|id| StartRequest::new("HelloCities").with_id(id))
        .collect();
    start_all(&client, requests).await?;

    while (count_completed(&client).await? as u64) < plan.after_completed {
        if start.elapsed() > KILL_WAIT {
            return Err(Error::Failed(format!(
                "run {run}: {} of {n} instances did not complete within {} s",
                plan.after_completed,
                KILL_WAIT.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(plan.jitter).await;
    let victim = workers[plan.victim].id().to_string();
    let victim_partitions = partitions_owned(&partitions, &victim).await?;
    workers[plan.victim].kill().await?;
    let killed_at = start.elapsed();
    // Counted after the kill: the count that triggered it is a poll (and a jitter) old.
    let completed_when_killed = count_completed(&client).await? as u64;
    let mut what = format!(
        "killed {victim} ({victim_partitions} of {} partitions{}) at {:.1} s with \
         {completed_when_killed} of {n} completed",
        hub.names().partition_count(),
        if spread { "" } else { ", not spread" },
        secs(killed_at)
    );
    // The replacement joins while the instances finish, not before the wait for them starts.
    let replacement = async {
        match plan.replacement_after {
            Some(after) => {
                tokio::time::sleep(after).await;
                Some(spawn(&format!("r{run:02}-c")))
            }
            None => None,
        }
    };
    let finished = async {
        let open = wait_terminal(&client, &ids, start + killed_at + deadline).await;
        (open, start.elapsed())
    };
    let ((open, wall), replacement) = tokio::join!(finished, replacement);
    if let (Some(after), Some(w)) = (plan.replacement_after, replacement) {
        let w = w?;
        what.push_str(&format!(
            ", {} started {:.1} s after it",
            w.id(),
            secs(after)
        ));
        workers.push(w);
    }
    let want = greetings();
    let tally = Tally::of(&client, &ids, &|_, o| *o == want).await;
    let exited: Vec<String> = workers
        .iter_mut()
        .filter(|w| w.id() != victim)
        .filter_map(|w| w.exited().map(|how| format!("{} ({how})", w.id())))
        .collect();
    for w in &mut workers {
        let _ = w.kill().await;
    }

    let mut failure = Vec::new();
    if !tally.lost.is_empty() {
        failure.push(format!("{} of {n} lost", tally.lost.len()));
        failure.extend(unread_partitions(&client, STALE).await);
    }
    if !exited.is_empty() {
        failure.push(format!("worker(s) exited: {}", exited.join(", ")));
    }
    let failure = (!failure.is_empty()).then(|| failure.join("; "));
    match &failure {
        None => {
            if let Err(e) = hub.delete().await {
                tracing::warn!(error = %e, "could not delete the benchmark hub");
            }
        }
        // Keep the hub to look at: its histories and Instances rows say what happened.
        Some(_) => what.push_str(&format!(", hub {} kept", hub.names().hub())),
    }

    let mut counts = BTreeMap::new();
    counts.insert("orchestrations_started".into(), n);
    tally.record(&mut counts);
    counts.insert("not_terminal_by_deadline".into(), open as u64);
    let mut figures = BTreeMap::new();
    figures.insert("killed_after_seconds".into(), secs(killed_at));
    figures.insert(
        "kill_drawn_after_completed".into(),
        plan.after_completed as f64,
    );
    figures.insert("completed_when_killed".into(), completed_when_killed as f64);
    figures.insert("victim_partitions".into(), victim_partitions as f64);
    figures.insert("tail_after_kill_seconds".into(), secs(wall - killed_at));
    if let Some(after) = plan.replacement_after {
        figures.insert("replacement_after_seconds".into(), secs(after));
    }
    Ok(RunResult {
        summary: RunSummary {
            run,
            wall_seconds: secs(wall),
            counts,
            figures,
            what,
        },
        tally,
        tail: wall - killed_at,
        failure,
    })
}
