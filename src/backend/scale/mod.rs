//! The scale signal: how many workers a hub wants, from its queue depths and message ages.
//!
//! [`recommend`] is a pure function of a [`ScaleSample`] (what the queues look like) and the
//! [`ScaleSettings`] of one worker; [`TaskHub::scale_sample`](crate::backend::TaskHub::scale_sample)
//! takes the sample from storage, and
//! [`TaskHub::recommend_scale`](crate::backend::TaskHub::recommend_scale) does both, for a worker
//! that exports [`TARGET_WORKERS_METRIC`] or a tool that asks once (`taskhub scale`).
//!
//! # The rules, and where they come from
//!
//! Two reference implementations decide worker counts for this storage layout, and the rules here
//! combine them.
//!
//! **Target-based scaling** (Durable Functions, `DurableTaskTargetScaler.GetScaleResultAsync` in
//! `Azure/azure-functions-durable-extension`, and its test table in
//! `DurableTaskTargetScalerTests.TestTargetScaler`, which the tests of `rules.rs` repeat): the activity
//! side needs `ceil(work-item queue length / max concurrent activities)` workers; the
//! orchestration side needs `ceil(sum of control-queue lengths / max concurrent orchestrations)`,
//! but never more than the number of control queues that hold messages, since one partition is
//! served by one worker at a time. The target is the larger of the two (a worker runs its
//! activity slots and its orchestration slots side by side, so the two needs overlap rather than
//! add up).
//!
//! **Latency heuristics** (DurableTask.AzureStorage, `Monitoring/DisconnectedPerformanceMonitor.cs`
//! in `Azure/durabletask`, `MakeScaleRecommendation`): a queue's latency is the age of the
//! message a peek returns; a queue with no visible message counts as empty (length 0) even when
//! its approximate count is not, because its messages are timers not yet due or are held by a
//! worker. The task hub is idle, and wants no workers, when nothing is visible anywhere; with no
//! worker and something waiting, it wants a first one. With workers running, a queue is *late*
//! when its oldest message waited at least the workers' longest poll interval (the monitor uses
//! that bound when the queue may have been idle, since a backed-off poller explains that much
//! delay, and `min(poll interval, 1 s)` otherwise; one sample cannot tell which, so the
//! conservative bound is used). A late work-item queue asks for one worker more than run now; late
//! control queues ask for as many workers as there are late partitions (the monitor scales out
//! one worker at a time until the workers match them). Scaling in is what the target formula
//! gives once the backlog shrinks: the monitor's "more workers than busy partitions while the
//! work-item queue is idle" rule is the formula's partition cap. Its random scale-in (one vote in
//! ten when all latencies are below 200 ms) is left out: it would make the answer
//! non-deterministic, and a deterministic target already shrinks with the backlog.
//!
//! Without a running worker ages say nothing about capacity (every message ages), so the latency
//! rules apply only while `current_workers > 0`.
//!
//! The community KEDA scaler (`wsugarman/durabletask-azurestorage-scaler`,
//! `TaskHubs/OptimalDurableTaskScaleManager.cs`) computes `activities / max activities per worker`
//! *plus* the number of workers that a bin packing of the busy partitions into workers of `max
//! orchestrations per worker` needs; it reads the same things this sampler reads (see
//! `docs/scaling.md`).
//!
//! # What counts as a worker
//!
//! `current_workers` is the number of distinct `CurrentOwner`s with an unexpired lease in
//! `{Hub}Partitions`. A worker that owns no partition (more workers than partitions) runs
//! activities but is not seen, so with more workers than partitions the count is low and
//! [`ScaleAction`] may say `ScaleOut` for workers that already exist; the target itself does not
//! depend on it except through the latency rules.

mod rules;
mod sampler;

pub use rules::recommend;

use serde::{Serialize, Serializer};
use std::time::Duration;

/// The Prometheus gauge that carries [`ScaleRecommendation::target_workers`]; the KEDA
/// ScaledObject in `deploy/` queries it.
pub const TARGET_WORKERS_METRIC: &str = "taskhub_target_workers";

/// One queue as a sample saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueueSample {
    /// The queue's name.
    pub name: String,
    /// The service's approximate message count, visible and invisible.
    pub length: u64,
    /// How long the first visible message (the one a peek returns) has been in the queue;
    /// `None` when no message is visible.
    #[serde(rename = "oldest_age_ms", serialize_with = "opt_millis")]
    pub oldest_age: Option<Duration>,
}

impl QueueSample {
    /// The messages that wait for a worker: the approximate length when a message is visible (at
    /// least 1, since the count may lag), and 0 when none is (DurableTask.AzureStorage's rule:
    /// timers not yet due and messages a worker holds do not call for workers).
    pub fn waiting(&self) -> u64 {
        match self.oldest_age {
            Some(_) => self.length.max(1),
            None => 0,
        }
    }

    /// Whether its oldest visible message waited at least `poll_interval`.
    fn is_late(&self, poll_interval: Duration) -> bool {
        self.oldest_age.is_some_and(|age| age >= poll_interval)
    }
}

/// What the scale rules look at: every control queue, the work-item queue, and the workers that
/// hold partitions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScaleSample {
    /// One per partition, in partition order.
    pub control_queues: Vec<QueueSample>,
    /// The work-item (activity) queue.
    pub work_items: QueueSample,
    /// Distinct owners of unexpired partition leases.
    pub current_workers: u32,
}

/// What one worker can take on, and how long it may leave a queue unpolled: the worker's
/// `--max-orchestrations`, `--max-activities` and poll intervals (`From<&WorkerOptions>` gives
/// them for a worker's own options).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ScaleSettings {
    /// Orchestration (and entity) turns one worker runs at once.
    pub max_orchestrations: u32,
    /// Activities one worker runs at once.
    pub max_activities: u32,
    /// The longest a worker waits between polls of an empty control queue.
    #[serde(rename = "control_poll_interval_ms", serialize_with = "millis")]
    pub control_poll_interval: Duration,
    /// The longest a worker waits between polls of an empty work-item queue.
    #[serde(rename = "work_item_poll_interval_ms", serialize_with = "millis")]
    pub work_item_poll_interval: Duration,
}

/// Which way the worker count should move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ScaleAction {
    /// More workers are wanted than run now.
    ScaleOut,
    /// Fewer workers would do.
    ScaleIn,
    /// The count is right.
    None,
}

/// The numbers each rule produced, for the reason and for a reader who wants to check it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ScaleBasis {
    /// Work items waiting (visible in the work-item queue).
    pub waiting_work_items: u64,
    /// Orchestration messages waiting, over every control queue that shows one.
    pub waiting_orchestration_messages: u64,
    /// Control queues with a visible message.
    pub busy_partitions: u32,
    /// `ceil(waiting work items / max activities)`.
    pub activity_workers: u32,
    /// `min(busy partitions, ceil(waiting orchestration messages / max orchestrations))`.
    pub orchestration_workers: u32,
    /// Control queues whose oldest message waited past the poll interval while workers ran.
    pub late_partitions: u32,
    /// Whether the oldest work item waited past the poll interval while workers ran.
    pub work_items_late: bool,
}

/// How many workers the hub wants, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScaleRecommendation {
    /// The worker count the hub wants: 0 when nothing waits, at least 1 while anything does.
    pub target_workers: u32,
    /// Workers seen holding partitions (see the module docs for what this misses).
    pub current_workers: u32,
    /// `target_workers` compared with `current_workers`.
    pub action: ScaleAction,
    /// The rule that decided, in a sentence.
    pub reason: String,
    /// What every rule computed.
    pub basis: ScaleBasis,
}

/// A duration in whole milliseconds, for JSON.
fn millis<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    u64::try_from(d.as_millis())
        .unwrap_or(u64::MAX)
        .serialize(s)
}

/// An optional duration in whole milliseconds (`null` for none), for JSON.
fn opt_millis<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => millis(d, s),
        None => s.serialize_none(),
    }
}
