//! Every metric taskhub records, with its help text: Prometheus conventions, a `taskhub_`
//! prefix, `_total` on counters, `_seconds` on durations.

/// Orchestration turns run (label `outcome`: `committed`, `lock_lost`, `failed`).
pub const TURNS: &str = "taskhub_orchestration_turns_total";
/// How long a turn took, from its messages in hand to its checkpoint committed.
pub const TURN_SECONDS: &str = "taskhub_orchestration_turn_duration_seconds";
/// Orchestration executions started (their `ExecutionStarted` applied by a turn).
pub const ORCHESTRATIONS_STARTED: &str = "taskhub_orchestrations_started_total";
/// Orchestration executions ended (label `status`: `Completed`, `Failed`, `Terminated`,
/// `ContinuedAsNew`).
pub const ORCHESTRATIONS_COMPLETED: &str = "taskhub_orchestrations_completed_total";
/// Activities started.
pub const ACTIVITIES_STARTED: &str = "taskhub_activities_started_total";
/// Activities ended (label `result`: `succeeded`, `failed`).
pub const ACTIVITIES_COMPLETED: &str = "taskhub_activities_completed_total";
/// How long an activity's code ran.
pub const ACTIVITY_SECONDS: &str = "taskhub_activity_duration_seconds";
/// Entity operations run.
pub const ENTITY_OPERATIONS: &str = "taskhub_entity_operations_total";
/// Messages in a control queue (label `partition`), sampled.
pub const CONTROL_QUEUE_MESSAGES: &str = "taskhub_control_queue_messages";
/// Age of the oldest visible message of a control queue (label `partition`), sampled.
pub const CONTROL_QUEUE_AGE: &str = "taskhub_control_queue_oldest_message_age_seconds";
/// Messages in the work-item queue, sampled.
pub const WORKITEM_QUEUE_MESSAGES: &str = "taskhub_workitem_queue_messages";
/// Age of the oldest visible message of the work-item queue, sampled.
pub const WORKITEM_QUEUE_AGE: &str = "taskhub_workitem_queue_oldest_message_age_seconds";
/// Activities in flight on this worker without a queue message (local activities).
pub const LOCAL_ACTIVITIES: &str = "taskhub_local_activities";
/// Partitions this worker owns.
pub const PARTITIONS_OWNED: &str = "taskhub_partitions_owned";
/// Partition leases acquired.
pub const LEASES_ACQUIRED: &str = "taskhub_partition_lease_acquisitions_total";
/// Partition leases lost or released (label `reason`: `lost`, `released`).
pub const LEASES_LOST: &str = "taskhub_partition_lease_losses_total";
/// Messages moved to the poison queue.
pub const POISON_MESSAGES: &str = "taskhub_poison_messages_total";
/// Instance-cache lookups that found the instance's replay state.
pub const CACHE_HITS: &str = "taskhub_cache_hits_total";
/// Instance-cache lookups that did not.
pub const CACHE_MISSES: &str = "taskhub_cache_misses_total";
/// Replay states pushed out of the instance cache by newer ones.
pub const CACHE_EVICTIONS: &str = "taskhub_cache_evictions_total";
/// Running turns whose Instances update was skipped (the row was written less than five seconds
/// of event time earlier and would change only in `LastUpdatedTime`).
pub const INSTANCE_ROWS_COALESCED: &str = "taskhub_instance_row_updates_coalesced_total";
/// Storage requests (label `operation`: `QueuePut`, `TableBatch`, …), each attempt counted.
pub const STORAGE_REQUESTS: &str = "taskhub_storage_requests_total";
/// How long a storage request took (label `operation`).
pub const STORAGE_SECONDS: &str = "taskhub_storage_request_duration_seconds";
/// Storage requests that failed (labels `operation`, `status`: the HTTP status or
/// `transport`); 404, 409 and 412 are answers the protocol expects and not counted.
pub const STORAGE_ERRORS: &str = "taskhub_storage_errors_total";
/// The number of workers the hub's backlog calls for (the scale signal).
pub const TARGET_WORKERS: &str = "taskhub_target_workers";

/// Every metric with its help text, for the exporter's `# HELP` lines.
pub const ALL: &[(&str, &str)] = &[
    (TURNS, "Orchestration turns run, by outcome."),
    (
        TURN_SECONDS,
        "Duration of orchestration turns, messages in hand to checkpoint committed.",
    ),
    (ORCHESTRATIONS_STARTED, "Orchestration executions started."),
    (
        ORCHESTRATIONS_COMPLETED,
        "Orchestration executions ended, by status.",
    ),
    (ACTIVITIES_STARTED, "Activities started."),
    (ACTIVITIES_COMPLETED, "Activities ended, by result."),
    (ACTIVITY_SECONDS, "Duration of activity code."),
    (ENTITY_OPERATIONS, "Entity operations run."),
    (
        CONTROL_QUEUE_MESSAGES,
        "Messages in a control queue (sampled).",
    ),
    (
        CONTROL_QUEUE_AGE,
        "Age of the oldest visible message of a control queue (sampled).",
    ),
    (
        WORKITEM_QUEUE_MESSAGES,
        "Messages in the work-item queue (sampled).",
    ),
    (
        WORKITEM_QUEUE_AGE,
        "Age of the oldest visible message of the work-item queue (sampled).",
    ),
    (
        LOCAL_ACTIVITIES,
        "Activities in flight on this worker without a queue message.",
    ),
    (PARTITIONS_OWNED, "Partitions this worker owns."),
    (LEASES_ACQUIRED, "Partition leases acquired."),
    (LEASES_LOST, "Partition leases lost or released, by reason."),
    (
        POISON_MESSAGES,
        "Messages moved to the poison queue, and local activities failed as poison.",
    ),
    (
        CACHE_HITS,
        "Instance-cache lookups that found the replay state.",
    ),
    (CACHE_MISSES, "Instance-cache lookups that did not."),
    (
        CACHE_EVICTIONS,
        "Replay states pushed out of the instance cache.",
    ),
    (
        INSTANCE_ROWS_COALESCED,
        "Running turns whose Instances row update was coalesced with an earlier one.",
    ),
    (
        STORAGE_REQUESTS,
        "Storage requests (each attempt), by operation.",
    ),
    (
        STORAGE_SECONDS,
        "Duration of storage requests, by operation.",
    ),
    (
        STORAGE_ERRORS,
        "Failed storage requests, by operation and status.",
    ),
    (TARGET_WORKERS, "Workers the hub's backlog calls for."),
];
