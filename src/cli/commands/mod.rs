//! The commands, one file each. To add one: a variant here with its doc comment (that is its
//! `--help` line), a match arm in [`run`], and `commands/<name>.rs` with its `Args` and
//! `async fn run(args, &mut Context) -> anyhow::Result<()>`.

mod azurite;
mod bench;
mod control;
mod entity;
mod history;
mod hub;
mod list;
mod partitions;
mod pipeline;
mod poison;
mod purge;
mod raise;
mod restart;
mod resume;
mod rewind;
mod sample;
mod scale;
mod serve;
mod start;
mod stats;
mod status;
mod suspend;
mod terminate;
mod wait;
mod worker;

use super::Context;
use clap::Subcommand;

pub use pipeline::samples_config;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the sample pipeline (raw -> step1 -> step2 -> step3 -> step4) and show its progress.
    Pipeline(pipeline::PipelineArgs),
    /// Run another seed sample: hello with a counter entity, job monitor, backup
    /// (fan-out/fan-in), eternal singleton.
    #[command(subcommand)]
    Sample(sample::SampleCommand),
    /// Run a worker for the hub (this binary's orchestrations, activities and entities) until
    /// Ctrl-C or SIGTERM. Creates the hub if it is missing.
    #[command(disable_version_flag = true)]
    Worker(worker::WorkerArgs),
    /// Serve the Durable Functions HTTP API for the hub without a worker (`worker --http` runs
    /// both) until Ctrl-C or SIGTERM. Creates the hub if it is missing.
    Serve(serve::ServeArgs),
    /// Start an orchestration; prints its instance id.
    // Its --version is the orchestration's, not the program's.
    #[command(disable_version_flag = true)]
    Start(start::StartArgs),
    /// Show an instance's status, input, output and custom status (and its history).
    Status(status::StatusArgs),
    /// Wait until an instance finishes and print its final status.
    /// Exit code 0: Completed; 2: Failed, Terminated or Canceled; 3: timed out; 1: error.
    Wait(wait::WaitArgs),
    /// Raise an external event on a running instance.
    Raise(raise::RaiseArgs),
    /// Terminate a running, pending or suspended instance.
    Terminate(terminate::TerminateArgs),
    /// Suspend a running instance: it keeps its messages but does nothing until resumed.
    Suspend(suspend::SuspendArgs),
    /// Resume a suspended instance.
    Resume(resume::ResumeArgs),
    /// Start a finished instance's orchestrator again with the same input; prints the id.
    Restart(restart::RestartArgs),
    /// Rewind a Failed instance: re-run only what failed (its failed sub-orchestrations too).
    Rewind(rewind::RewindArgs),
    /// Delete finished instances: history rows, Instances row and blobs.
    Purge(purge::PurgeArgs),
    /// List instances (in instance id order) with status, time and prefix filters and paging.
    List(list::ListArgs),
    /// Count instances by status and by orchestrator name (the filters of `list`).
    Stats(stats::StatsArgs),
    /// Print an instance's history as a table (or JSON).
    History(history::HistoryArgs),
    /// List the messages in the hub's poison queue (without taking them).
    Poison(poison::PoisonArgs),
    /// Show each partition's owner, lease expiry, draining state and queue depth.
    Partitions(partitions::PartitionsArgs),
    /// How many workers the hub wants now, from its queue depths and message ages (the rules of
    /// Durable Functions' target-based scaler and DurableTask.AzureStorage's monitor), and why.
    Scale(scale::ScaleArgs),
    /// Signal an entity, read its state, or list entities.
    #[command(subcommand)]
    Entity(entity::EntityCommand),
    /// Create, delete or inspect the task hub's queues, tables and container.
    #[command(subcommand)]
    Hub(hub::HubCommand),
    /// Run a benchmark scenario against the hub's storage and write its report as JSON.
    Bench(bench::BenchArgs),
    /// Run the project's Azurite in the foreground on 127.0.0.1:10000-10002 until Ctrl-C.
    Azurite(azurite::AzuriteArgs),
}

impl Command {
    /// The log filter when `RUST_LOG` is not set: the worker tells what it does (`info` for
    /// taskhub), every other command only warns.
    pub fn default_log_filter(&self) -> &'static str {
        match self {
            Command::Worker(_) | Command::Serve(_) => "warn,taskhub=info",
            _ => "warn",
        }
    }
}

/// Runs one command.
pub async fn run(command: Command, ctx: &mut Context) -> anyhow::Result<()> {
    if matches!(command, Command::Pipeline(_) | Command::Sample(_)) && !ctx.hosts_samples() {
        anyhow::bail!(
            "`pipeline` and `sample` run the seed samples, which this binary does not host; use the stock `taskhub`"
        );
    }
    match command {
        Command::Pipeline(args) => pipeline::run(args, ctx).await,
        Command::Sample(cmd) => sample::run(cmd, ctx).await,
        Command::Worker(args) => worker::run(args, ctx).await,
        Command::Serve(args) => serve::run(args, ctx).await,
        Command::Start(args) => start::run(args, ctx).await,
        Command::Status(args) => status::run(args, ctx).await,
        Command::Wait(args) => wait::run(args, ctx).await,
        Command::Raise(args) => raise::run(args, ctx).await,
        Command::Terminate(args) => terminate::run(args, ctx).await,
        Command::Suspend(args) => suspend::run(args, ctx).await,
        Command::Resume(args) => resume::run(args, ctx).await,
        Command::Restart(args) => restart::run(args, ctx).await,
        Command::Rewind(args) => rewind::run(args, ctx).await,
        Command::Purge(args) => purge::run(args, ctx).await,
        Command::List(args) => list::run(args, ctx).await,
        Command::Stats(args) => stats::run(args, ctx).await,
        Command::History(args) => history::run(args, ctx).await,
        Command::Poison(args) => poison::run(args, ctx).await,
        Command::Partitions(args) => partitions::run(args, ctx).await,
        Command::Scale(args) => scale::run(args, ctx).await,
        Command::Entity(cmd) => entity::run(cmd, ctx).await,
        Command::Hub(cmd) => hub::run(cmd, ctx).await,
        Command::Bench(args) => bench::run(args, ctx).await,
        Command::Azurite(args) => azurite::run(args, ctx).await,
    }
}
