//! `taskhub bench <scenario>`: runs one benchmark scenario against the hub's storage (the
//! auto-started Azurite by default, or `--connection`), prints the report, and writes it as JSON
//! to `--out` (default `target/bench/<scenario>.json`). `cargo bench --bench scenarios` runs the
//! same scenarios, each on a fresh Azurite. `--added-rtt 5ms` puts a latency proxy between every
//! scenario and its storage. A chaos scenario that lost work still prints and
//! writes its report, then fails.

use std::path::PathBuf;
use std::time::Duration;

use crate::bench::{AzuriteStop, BenchOptions, ChaosOptions, Report, Scenario};
use crate::worker::WorkerOptions;
use anyhow::{Context as _, Result};
use clap::{Args, ValueEnum};

use crate::cli::Context;

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// sequence | fanout | hello | pipeline | idle | azurite | kill | chaos-azurite |
    /// chaos-workers | failover | purge | retention
    #[arg(value_parser = parse_scenario)]
    scenario: Scenario,
    /// Size: activities (sequence 100, fanout 1000), orchestrations (hello 1000, kill 300,
    /// chaos-azurite 200, chaos-workers 100 per run, failover 32 job monitors plus six times as
    /// many HelloCities, retention 400 per run), seconds (idle 60), instances to purge (purge
    /// 20000); pipeline and azurite have a fixed size. chaos-azurite
    /// runs an Azurite of its own and ignores the connection.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    size: Option<u64>,
    /// Where to write the JSON report [default: target/bench/<scenario>.json].
    #[arg(long, value_name = "PATH")]
    out: Option<PathBuf>,
    /// chaos-workers: how many runs [default: 20].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    runs: Option<u32>,
    /// chaos-workers: seed of the random kill points [default: from the clock; reported].
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// chaos-azurite: how Azurite is stopped midway: kill (SIGKILL, a crash) or term (SIGTERM,
    /// a graceful stop that saves its data).
    #[arg(long, value_enum, value_name = "HOW", default_value = "kill")]
    azurite_stop: StopArg,
    /// chaos-azurite: seconds Azurite stays down [default: 5].
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(0..=600))]
    down_seconds: Option<u64>,
    /// chaos scenarios: seconds the instances have to finish after the disruption
    /// [default: chaos-azurite 120, chaos-workers 180 per run, failover 480].
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=86_400))]
    deadline_seconds: Option<u64>,
    /// chaos scenarios: one more flag for every `taskhub worker` process, e.g.
    /// `--worker-arg=--cache-size=0` (repeat for more).
    #[arg(long = "worker-arg", value_name = "FLAG", allow_hyphen_values = true)]
    worker_args: Vec<String>,
    /// Record metrics into the Prometheus recorder and sample the queues every 15 s, as a
    /// worker serving /metrics does, to measure what they cost (in-process scenarios).
    #[arg(long)]
    with_metrics: bool,
    /// Round-trip time to add to every storage request, e.g. `5ms`: each storage service is
    /// reached through a loopback proxy that holds each direction's data for half of it
    /// (0ms-10s; needs http endpoints, i.e. Azurite). Every scenario, worker processes included.
    #[arg(long, value_name = "DURATION", value_parser = parse_added_rtt)]
    added_rtt: Option<Duration>,
    /// In-process scenarios: activities the worker runs at once [default: as `taskhub worker`].
    /// Worker processes take `--worker-arg=--max-activities=N`.
    #[arg(long, value_name = "N",
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=10_000))]
    max_activities: Option<usize>,
    /// In-process scenarios: orchestration turns the worker runs at once [default: as
    /// `taskhub worker`].
    #[arg(long, value_name = "N",
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=10_000))]
    max_orchestrations: Option<usize>,
    /// In-process scenarios: activities the worker runs without a queue message, waiting or
    /// running (0: every request through the work-item queue) [default: as `taskhub worker`].
    /// Worker processes take `--worker-arg=--local-activities=N`.
    #[arg(long, value_name = "N")]
    local_activities: Option<usize>,
    /// In-process scenarios: how long, in milliseconds, a turn waits for the local activities
    /// it schedules before it commits [default: as `taskhub worker`].
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(0..=10_000))]
    local_activity_wait_ms: Option<u64>,
}

fn parse_added_rtt(text: &str) -> Result<Duration, String> {
    let d = crate::durations::parse_duration(text).map_err(|e| e.to_string())?;
    if d > Duration::from_secs(10) {
        return Err("must be at most 10s".into());
    }
    Ok(d)
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum StopArg {
    Kill,
    Term,
}

fn parse_scenario(s: &str) -> Result<Scenario, String> {
    Scenario::parse(s).ok_or_else(|| {
        let names: Vec<&str> = Scenario::ALL.iter().map(|s| s.name()).collect();
        format!("unknown scenario {s:?}; one of {}", names.join(", "))
    })
}

pub async fn run(args: BenchArgs, ctx: &mut Context) -> Result<()> {
    // Starts the project's Azurite first when the connection is the development default; a
    // scenario that runs its own Azurite needs none.
    if !args.scenario.own_azurite() {
        ctx.storage().await?;
    }
    let mut worker = WorkerOptions::default();
    if args.with_metrics {
        crate::telemetry::prometheus::install();
        worker.queue_sample_interval = Some(Duration::from_secs(15));
    }
    if let Some(n) = args.max_activities {
        worker.max_concurrent_activities = n;
    }
    if let Some(n) = args.max_orchestrations {
        worker.max_concurrent_orchestrations = n;
    }
    if let Some(n) = args.local_activities {
        worker.local_activity_backlog = n;
    }
    if let Some(ms) = args.local_activity_wait_ms {
        worker.local_activity_wait = Duration::from_millis(ms);
    }
    let options = BenchOptions {
        connection_string: ctx.connection_string(),
        partitions: ctx.global.partitions,
        worker,
        size: args.size,
        taskhub_exe: std::env::current_exe().ok(),
        chaos: ChaosOptions {
            runs: args.runs,
            seed: args.seed,
            azurite_stop: match args.azurite_stop {
                StopArg::Kill => AzuriteStop::Kill,
                StopArg::Term => AzuriteStop::Term,
            },
            down_seconds: args.down_seconds,
            deadline_seconds: args.deadline_seconds,
            worker_args: args.worker_args,
        },
        added_rtt: args.added_rtt,
    };
    let out = args.out.unwrap_or_else(|| {
        PathBuf::from("target/bench").join(format!("{}.json", args.scenario.name()))
    });
    match crate::bench::run(args.scenario, &options).await {
        Ok(report) => write(&report, &out),
        Err(e) => {
            // Work was lost: the report says what, so show and keep it before failing.
            if let Some(report) = e.report() {
                write(report, &out)?;
            }
            Err(e).with_context(|| format!("benchmark {}", args.scenario.name()))
        }
    }
}

/// Prints the report and writes it as JSON to `out`.
fn write(report: &Report, out: &PathBuf) -> Result<()> {
    print!("{}", report.to_text());
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(out, serde_json::to_string_pretty(report)?)
        .with_context(|| format!("writing {}", out.display()))?;
    eprintln!("report written to {}", out.display());
    Ok(())
}
