//! One function per thing worth counting, so the code that does the thing says so in one line
//! and the metric names and labels live here and in [`super::names`] only.

use std::time::Duration;

use metrics::{counter, gauge, histogram};

use super::names::*;

/// How a turn ended.
#[derive(Debug, Clone, Copy)]
pub(crate) enum TurnOutcome {
    /// Its checkpoint committed.
    Committed,
    /// Another worker had written the instance.
    LockLost,
    /// The checkpoint failed; its messages come back.
    Failed,
}

pub(crate) fn turn(outcome: TurnOutcome, took: Duration) {
    let outcome = match outcome {
        TurnOutcome::Committed => "committed",
        TurnOutcome::LockLost => "lock_lost",
        TurnOutcome::Failed => "failed",
    };
    counter!(TURNS, "outcome" => outcome).increment(1);
    histogram!(TURN_SECONDS).record(took.as_secs_f64());
}

pub(crate) fn orchestration_started() {
    counter!(ORCHESTRATIONS_STARTED).increment(1);
}

pub(crate) fn orchestration_completed(status: &'static str) {
    counter!(ORCHESTRATIONS_COMPLETED, "status" => status).increment(1);
}

pub(crate) fn activity_started() {
    counter!(ACTIVITIES_STARTED).increment(1);
}

pub(crate) fn activity_completed(succeeded: bool, took: Duration) {
    let result = if succeeded { "succeeded" } else { "failed" };
    counter!(ACTIVITIES_COMPLETED, "result" => result).increment(1);
    histogram!(ACTIVITY_SECONDS).record(took.as_secs_f64());
}

pub(crate) fn entity_operations(n: usize) {
    counter!(ENTITY_OPERATIONS).increment(n as u64);
}

pub(crate) fn control_queue(partition: &str, messages: u64, oldest_age: Option<Duration>) {
    let p = partition.to_string();
    gauge!(CONTROL_QUEUE_MESSAGES, "partition" => p.clone()).set(messages as f64);
    let age = oldest_age.map_or(0.0, |a| a.as_secs_f64());
    gauge!(CONTROL_QUEUE_AGE, "partition" => p).set(age);
}

pub(crate) fn workitem_queue(messages: u64, oldest_age: Option<Duration>) {
    gauge!(WORKITEM_QUEUE_MESSAGES).set(messages as f64);
    gauge!(WORKITEM_QUEUE_AGE).set(oldest_age.map_or(0.0, |a| a.as_secs_f64()));
}

/// A control queue this worker no longer samples (its partition went elsewhere).
pub(crate) fn forget_control_queue(partition: &str) {
    let p = partition.to_string();
    gauge!(CONTROL_QUEUE_MESSAGES, "partition" => p.clone()).set(0.0);
    gauge!(CONTROL_QUEUE_AGE, "partition" => p).set(0.0);
}

pub(crate) fn local_activities(n: usize) {
    gauge!(LOCAL_ACTIVITIES).set(n as f64);
}

pub(crate) fn partitions_owned(n: usize) {
    gauge!(PARTITIONS_OWNED).set(n as f64);
}

pub(crate) fn lease_acquired() {
    counter!(LEASES_ACQUIRED).increment(1);
}

pub(crate) fn lease_lost(released: bool) {
    let reason = if released { "released" } else { "lost" };
    counter!(LEASES_LOST, "reason" => reason).increment(1);
}

pub(crate) fn poison_messages(n: usize) {
    counter!(POISON_MESSAGES).increment(n as u64);
}

pub(crate) fn cache_lookup(hit: bool) {
    if hit {
        counter!(CACHE_HITS).increment(1);
    } else {
        counter!(CACHE_MISSES).increment(1);
    }
}

pub(crate) fn cache_eviction() {
    counter!(CACHE_EVICTIONS).increment(1);
}

pub(crate) fn instance_row_coalesced() {
    counter!(INSTANCE_ROWS_COALESCED).increment(1);
}

/// One storage request attempt: `status` is the HTTP status of a failure, `None` for a
/// transport failure; `ok` when it succeeded.
pub(crate) fn storage_request(operation: &'static str, took: Duration, error: Option<Option<u16>>) {
    counter!(STORAGE_REQUESTS, "operation" => operation).increment(1);
    histogram!(STORAGE_SECONDS, "operation" => operation).record(took.as_secs_f64());
    if let Some(status) = error {
        let status = status.map_or_else(|| "transport".to_string(), |s| s.to_string());
        counter!(STORAGE_ERRORS, "operation" => operation, "status" => status).increment(1);
    }
}

/// The scale signal.
pub(crate) fn target_workers(n: u32) {
    gauge!(TARGET_WORKERS).set(f64::from(n));
}
