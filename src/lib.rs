#![warn(missing_docs)]
//! # taskhub
//!
//! Durable workflows on Azure Storage, in Rust: a worker, a client and tools for the Durable Task
//! Framework's classic **task hub**, in the layout DurableTask.AzureStorage (and so Durable
//! Functions) uses, so Durable Functions Monitor and Storage Explorer read what taskhub writes.
//!
//! ## What a task hub is
//!
//! A task hub is a set of queues, tables and a blob container in one storage account: control
//! queues (one per *partition*) that carry the messages of orchestration instances, a work-item
//! queue for activities, a `History` table with every event of every instance, an `Instances`
//! table with each instance's status, and a `Partitions` table through which workers lease the
//! control queues. An **orchestration** is an `async` function whose progress is recorded in its
//! history: each time a message arrives, a worker replays the history to bring the function back
//! to where it was, runs it on, and commits the new events. What it waits for — an
//! **activity** (any code with side effects), a durable timer, an external event, a
//! sub-orchestration, an **entity** (a small addressable piece of state) — survives crashes and
//! restarts. Any number of workers share one hub; each instance belongs to one partition, and one
//! worker at a time processes a partition.
//!
//! ## Quickstart
//!
//! Register your functions, run a worker and start an instance with a client. This runs against
//! the local Azurite of `UseDevelopmentStorage=true` (`npm install -g azurite` and `azurite`, or
//! `taskhub azurite` from this repository) or any account in `AzureWebJobsStorage`:
//!
//! ```no_run
//! use std::time::Duration;
//! use taskhub::prelude::*;
//!
//! #[tokio::main]
//! async fn main() -> Result<(), taskhub::Error> {
//!     let mut registry = Registry::new();
//!     registry.add_orchestrator("Greet", |ctx: OrchestrationContext| async move {
//!         let name: String = ctx.input()?;
//!         let greeting: String = ctx.call_activity("SayHello", &name).await?;
//!         ctx.signal_entity(&EntityId::new("greetings", "total")?, "add", 1);
//!         Ok(greeting)
//!     });
//!     registry.add_activity("SayHello", |_ctx: ActivityContext, name: String| async move {
//!         Ok(format!("Hello, {name}!"))
//!     });
//!     registry.add_entity("greetings", |ctx: &mut EntityContext| {
//!         let total: u64 = ctx.state_or_default()?;
//!         let added: u64 = ctx.input()?;
//!         ctx.set_state(&(total + added))?;
//!         Ok(())
//!     });
//!
//!     let connection = std::env::var("AzureWebJobsStorage")
//!         .unwrap_or_else(|_| "UseDevelopmentStorage=true".into());
//!     let hub = TaskHub::new(Storage::connect(&connection)?, HubNames::new("QuickStart", 4)?);
//!
//!     // The worker creates the hub if it is missing and runs until the token is cancelled.
//!     let stop = CancellationToken::new();
//!     let worker = Worker::new(hub.clone(), registry.into(), WorkerOptions::default());
//!     let running = tokio::spawn(worker.run(stop.clone()));
//!
//!     let client = Client::new(hub);
//!     let id = client.start(StartRequest::new("Greet").with_input("Ada")).await?;
//!     let greeting: String = client.wait_for_output(&id, Duration::from_secs(60)).await?;
//!     println!("{greeting}");
//!     let counter = EntityId::new("greetings", "total")?;
//!     println!("{:?}", client.entity_state::<u64>(&counter).await?);
//!
//!     stop.cancel();
//!     running.await.ok();
//!     Ok(())
//! }
//! ```
//!
//! Orchestrator code must be deterministic: take time from `ctx.current_utc_datetime()`, ids
//! from `ctx.new_guid()`, and do I/O only in activities. `examples/` has more: a fan-out with
//! retries, an orchestration unit test, and your registry behind the full `taskhub` command line
//! ([`cli::run`], feature `cli`).
//!
//! ## Testing an orchestration without storage
//!
//! [`core::testing::InMemoryHost`] plays the worker's part in memory — delivering messages,
//! running activities, firing timers on a virtual clock — so an orchestration's logic can be
//! tested in a plain unit test:
//!
//! ```
//! use taskhub::core::testing::{HostOptions, InMemoryHost};
//! use taskhub::prelude::*;
//!
//! let mut registry = Registry::new();
//! registry.add_orchestrator("Double", |ctx: OrchestrationContext| async move {
//!     let n: u64 = ctx.input()?;
//!     let doubled: u64 = ctx.call_activity("Times2", n).await?;
//!     Ok(doubled)
//! });
//! registry.add_activity("Times2", |_ctx: ActivityContext, n: u64| async move { Ok(n * 2) });
//!
//! let mut host = InMemoryHost::new(registry, HostOptions::default());
//! host.start("Double", "d1", Some("21"));
//! host.run(100);
//! assert_eq!(host.status("d1"), Some(OrchestrationStatus::Completed));
//! assert_eq!(host.summary("d1").output.as_deref(), Some("42"));
//! ```
//!
//! ## Several workers
//!
//! Start as many workers on one hub as you like, in one process or many, with the same hub name
//! and partition count and distinct [`WorkerOptions::worker_id`](worker::WorkerOptions)s (the
//! default, host name and process id, is unique). They lease the partitions among themselves,
//! hand them over when one joins or stops, and take over a dead worker's within about a lease
//! period; activities are shared through the work-item queue. A stopped worker
//! ([`worker::RunningWorker::stop`]) releases its partitions at once.
//!
//! ## Features
//!
//! The default build has everything. With `default-features = false` the crate is the library
//! alone — `core`, `storage`, `backend`, `worker`, `client` — and these add the rest:
//! `cli` (the `taskhub` command line and [`cli::run`]), `http` (the Durable Functions HTTP API),
//! `samples` (the seed samples, among them the file pipeline), `bench` (benchmark and chaos
//! scenarios), `azurite` (installing and starting the local emulator), `otel` (OpenTelemetry
//! traces over OTLP/HTTP, configured by the `OTEL_*` variables: `telemetry::otel`; without it the
//! worker's and client's tracing calls do nothing), `identity` (storage connections without a
//! key: Microsoft Entra ID tokens from a managed identity, workload identity or the Azure CLI,
//! see [`storage::StorageAccount::identity`]).
//!
//! ## Layers
//!
//! `core` is the pure replay engine (no I/O); `backend` is the task hub on storage, behind the
//! [`backend::OrchestrationService`] seam the worker speaks to; `storage` is the storage
//! account, behind [`storage::StorageService`] (the Azure crates, an in-memory account for
//! simulation, a fault-injecting decorator); `worker` and `client` sit on top. ARCHITECTURE.md in
//! the repository draws the picture.

#[cfg(feature = "azurite")]
pub mod azurite;
pub mod backend;
#[cfg(feature = "bench")]
pub mod bench;
#[cfg(feature = "cli")]
pub mod cli;
pub mod client;
pub mod clock;
pub mod core;
pub mod durations;
pub mod entropy;
pub mod error;
#[cfg(feature = "http")]
pub mod http;
pub mod prelude;
#[cfg(feature = "samples")]
pub mod samples;
pub mod storage;
pub mod telemetry;
pub mod timestamps;
pub mod worker;

pub use error::{Error, Result};
/// Cancels a [`worker::Worker::run`]: the token its signature takes.
pub use tokio_util::sync::CancellationToken;
