//! Eternal: an orchestration that never ends. Each execution runs `process_records` once; when it
//! processed nothing (or failed) the orchestration sleeps on a durable timer; then it continues as
//! new, so its history stays short however long it runs.
//!
//! - `eternal_orchestrator`, input `{"idleSeconds": 5}` (optional). Started as a singleton under
//!   the fixed instance id [`INSTANCE_ID`]: a second start while it runs is refused
//!   (`Client::start` refuses a live id; the HTTP API answers 409). Its custom status is
//!   `{"iteration", "lastProcessed", "totalProcessed", "lastError"}`.
//! - `process_records` moves up to 100 blobs from `eternal/inbox/` to `eternal/processed/` in
//!   the data container and returns how many it moved. Drop files into the inbox to give it work.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::config::{LazyContainer, SamplesConfig};
use crate::core::{Failure, OrchestrationContext, Registry};

/// The orchestrator's name.
pub const ORCHESTRATOR: &str = "eternal_orchestrator";
/// The singleton's instance id.
pub const INSTANCE_ID: &str = "eternal";
/// Where records wait, and where processed ones go.
pub const INBOX: &str = "eternal/inbox/";
/// Where processed records go (blobs moved from [`INBOX`]).
pub const PROCESSED: &str = "eternal/processed/";
/// Records processed per activity call at most.
const BATCH: usize = 100;

/// The input, carried from one execution to the next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EternalState {
    /// `idleSeconds`: how long to sleep after an execution that processed nothing (default 5; kept
    /// between 1 and 86,400).
    #[serde(default = "default_idle")]
    pub idle_seconds: u64,
    /// `iteration`: how many executions have run, this one included.
    #[serde(default)]
    pub iteration: u64,
    /// `totalProcessed`: records processed over all executions.
    #[serde(default)]
    pub total_processed: u64,
}

fn default_idle() -> u64 {
    5
}

impl Default for EternalState {
    fn default() -> Self {
        EternalState {
            idle_seconds: default_idle(),
            iteration: 0,
            total_processed: 0,
        }
    }
}

/// Registers `eternal_orchestrator` and `process_records`, on the configured data container.
pub fn register(r: &mut Registry, config: &SamplesConfig) {
    let data = LazyContainer::new(&config.data_storage, &config.data_container);
    r.add_orchestrator(ORCHESTRATOR, eternal);
    r.add_activity("process_records", move |_ctx, _input: serde_json::Value| {
        process_records(data.clone())
    });
}

async fn process_records(data: LazyContainer) -> Result<u64, Failure> {
    let names = data.list(INBOX).await?;
    let mut moved = 0;
    for name in names.into_iter().take(BATCH) {
        let bytes = data.read(&name).await?;
        let rest = name.strip_prefix(INBOX).unwrap_or(&name);
        data.write(
            &format!("{PROCESSED}{rest}"),
            bytes,
            "application/octet-stream",
        )
        .await?;
        data.delete(&name).await?;
        moved += 1;
    }
    if moved > 0 {
        tracing::info!(records = moved, "eternal: processed records");
    }
    Ok(moved)
}

async fn eternal(ctx: OrchestrationContext) -> Result<(), Failure> {
    let state: Option<EternalState> = ctx.input()?;
    let mut state = state.unwrap_or_default();
    state.idle_seconds = state.idle_seconds.clamp(1, 86_400);
    state.iteration += 1;
    let result = ctx.call_activity::<u64>("process_records", ()).await;
    let (processed, error) = match result {
        Ok(n) => (n, None),
        Err(e) => {
            ctx.log_warn(format!("process_records failed: {}", e.details));
            (0, Some(e.details.to_string()))
        }
    };
    state.total_processed += processed;
    ctx.set_custom_status(&json!({
        "iteration": state.iteration,
        "lastProcessed": processed,
        "totalProcessed": state.total_processed,
        "lastError": error,
    }));
    if processed == 0 {
        ctx.sleep(Duration::from_secs(state.idle_seconds)).await;
    }
    ctx.continue_as_new(&state);
    Ok(())
}
