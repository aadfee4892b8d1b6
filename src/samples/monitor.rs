//! Job monitor: check a job's status by activity, sleep on a durable timer, continue as new until
//! the job finishes or the monitor expires, then record the final status.
//!
//! - `job_monitor`, input `{"jobId": "job1", "pollingIntervalSeconds": 5, "expirySeconds": 300,
//!   "completesAfterSeconds": 20}` (only `jobId` is required). Each execution checks once; the
//!   expiry time, the job's start time and the number of checks travel in the input of the next
//!   execution. Returns the recorded [`JobResult`]; its custom status is
//!   `{"jobId", "status", "checks"}` after each check.
//! - `check_job_status` reports `Running`, `Completed` or `Failed`. The job is simulated: a
//!   blob `jobs/{jobId}.status` in the data container, if there is one, holds its status (write
//!   `Completed` there to finish it); otherwise it is `Completed` once `completesAfterSeconds`
//!   have passed since the monitor started (never without it).
//! - `record_job_status` writes the final result to `jobs/{jobId}.result.json`.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;

use super::config::{LazyContainer, SamplesConfig};
use crate::core::{Failure, FailureDetails, OrchestrationContext, Registry, Timestamp};

/// The orchestrator's name.
pub const ORCHESTRATOR: &str = "job_monitor";

/// The monitor's input (and the state carried from one execution to the next).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MonitorInput {
    /// `jobId`: the job to watch (a name without `/`).
    pub job_id: String,
    /// `pollingIntervalSeconds`: the time between checks (default 5; 1 to 86,400).
    #[serde(default = "default_interval")]
    pub polling_interval_seconds: u64,
    /// `expirySeconds`: how long the monitor watches before it records `Expired` (default 300).
    #[serde(default = "default_expiry")]
    pub expiry_seconds: u64,
    /// The simulated job completes this long after the monitor started (never when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completes_after_seconds: Option<u64>,
    /// Set by the first execution.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub started_at: Option<Timestamp>,
    /// When the monitor gives up; set by the first execution.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub expires_at: Option<Timestamp>,
    /// How many checks have been made.
    #[serde(default)]
    pub checks: u32,
}

fn default_interval() -> u64 {
    5
}

fn default_expiry() -> u64 {
    300
}

impl MonitorInput {
    /// The input to monitor `job_id`, with the default interval and expiry.
    pub fn new(job_id: &str) -> MonitorInput {
        MonitorInput {
            job_id: job_id.to_string(),
            polling_interval_seconds: default_interval(),
            expiry_seconds: default_expiry(),
            completes_after_seconds: None,
            started_at: None,
            expires_at: None,
            checks: 0,
        }
    }
}

/// What the monitor records and returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobResult {
    /// `jobId`: the job.
    pub job_id: String,
    /// `Completed`, `Failed` or `Expired`.
    pub status: String,
    /// How many checks were made.
    pub checks: u32,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CheckRequest {
    job_id: String,
    #[serde(with = "time::serde::rfc3339")]
    started_at: Timestamp,
    completes_after_seconds: Option<u64>,
}

/// Registers `job_monitor`, `check_job_status` and `record_job_status`, on the configured data
/// container.
pub fn register(r: &mut Registry, config: &SamplesConfig) {
    let data = LazyContainer::new(&config.data_storage, &config.data_container);
    r.add_orchestrator(ORCHESTRATOR, monitor);
    let d = data.clone();
    r.add_activity("check_job_status", move |_ctx, req: CheckRequest| {
        check_job_status(d.clone(), req)
    });
    r.add_activity("record_job_status", move |_ctx, result: JobResult| {
        let d = data.clone();
        async move {
            let body = serde_json::to_vec_pretty(&json!({
                "jobId": result.job_id,
                "status": result.status,
                "checks": result.checks,
                "recordedAt": OffsetDateTime::now_utc()
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default(),
            }))?;
            d.write(&result_blob(&result.job_id), body, "application/json")
                .await?;
            tracing::info!(job = %result.job_id, status = %result.status, "job status recorded");
            Ok::<_, Failure>(())
        }
    });
}

/// Where a job's simulated status is read from.
pub fn status_blob(job_id: &str) -> String {
    format!("jobs/{job_id}.status")
}

/// Where the final status is recorded.
pub fn result_blob(job_id: &str) -> String {
    format!("jobs/{job_id}.result.json")
}

async fn check_job_status(data: LazyContainer, req: CheckRequest) -> Result<String, Failure> {
    let blob = status_blob(&req.job_id);
    let container = data.get().await?;
    if container.blob_exists(&blob).await? {
        let text = String::from_utf8_lossy(&data.read(&blob).await?)
            .trim()
            .to_string();
        return Ok(text);
    }
    let done = req
        .completes_after_seconds
        .is_some_and(|s| OffsetDateTime::now_utc() >= req.started_at + Duration::from_secs(s));
    Ok(if done { "Completed" } else { "Running" }.to_string())
}

fn invalid(message: String) -> Failure {
    Failure::new(FailureDetails::INVALID_INPUT, message).non_retriable()
}

async fn monitor(ctx: OrchestrationContext) -> Result<Option<JobResult>, Failure> {
    let mut input: MonitorInput = ctx.input()?;
    if input.job_id.trim().is_empty() || input.job_id.contains('/') {
        return Err(invalid(format!(
            "jobId must be a non-empty name without '/', got '{}'",
            input.job_id
        )));
    }
    if !(1..=86_400).contains(&input.polling_interval_seconds) {
        return Err(invalid(format!(
            "pollingIntervalSeconds must be 1 to 86400, got {}",
            input.polling_interval_seconds
        )));
    }
    let now = ctx.current_utc_datetime();
    let started_at = *input.started_at.get_or_insert(now);
    let expires_at = *input
        .expires_at
        .get_or_insert(now + Duration::from_secs(input.expiry_seconds));

    let status: String = ctx
        .call_activity(
            "check_job_status",
            CheckRequest {
                job_id: input.job_id.clone(),
                started_at,
                completes_after_seconds: input.completes_after_seconds,
            },
        )
        .await?;
    input.checks += 1;
    ctx.set_custom_status(&json!({
        "jobId": input.job_id, "status": status, "checks": input.checks
    }));

    let next_check =
        ctx.current_utc_datetime() + Duration::from_secs(input.polling_interval_seconds);
    let final_status = match status.as_str() {
        "Completed" | "Failed" => Some(status),
        _ if next_check > expires_at => Some("Expired".to_string()),
        _ => None,
    };
    if let Some(status) = final_status {
        let result = JobResult {
            job_id: input.job_id.clone(),
            status,
            checks: input.checks,
        };
        let _: () = ctx.call_activity("record_job_status", &result).await?;
        return Ok(Some(result));
    }
    ctx.create_timer(next_check).await;
    ctx.continue_as_new(&input);
    Ok(None)
}
