//! History events: what an orchestration's history is made of.
//!
//! One variant per Durable Task `EventType`, with the DTFx field names (serialized in PascalCase,
//! `EventType` as the variant name), so a history printed with `--json` reads like the History
//! table. The table-row and queue-message encodings live in the backend; these types know nothing
//! of Azure.
//!
//! # Invariant
//! `event_id` of a scheduling event (TaskScheduled, TimerCreated, SubOrchestrationInstanceCreated,
//! EventSent, ExecutionCompleted) is the id the orchestration context handed out from its one
//! per-execution counter; completion events point back at it through `task_scheduled_id` or
//! `timer_id`. Every other event has `event_id == -1`.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::failure::FailureDetails;
use super::trace_context::DistributedTraceContext;

/// A point in time, always UTC.
pub type Timestamp = OffsetDateTime;

/// One event of an orchestration history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEvent {
    /// The scheduling id for scheduling events, `-1` for all others.
    #[serde(rename = "EventId")]
    pub event_id: i32,
    /// When the event happened (UTC). Stored as `_Timestamp` in the History table.
    #[serde(rename = "Timestamp", with = "time::serde::rfc3339")]
    pub timestamp: Timestamp,
    /// The event's type and its own fields.
    #[serde(flatten)]
    pub kind: EventKind,
    /// `ParentTraceContext`: the W3C trace context DurableTask.Core carries on
    /// `ExecutionStarted`, `TaskScheduled` and `EventRaised` (see [`DistributedTraceContext`]);
    /// `None` on every other event and whenever tracing is off.
    #[serde(
        rename = "ParentTraceContext",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub parent_trace_context: Option<DistributedTraceContext>,
}

impl HistoryEvent {
    /// An event with `event_id = -1`.
    pub fn new(timestamp: Timestamp, kind: EventKind) -> Self {
        HistoryEvent {
            event_id: -1,
            timestamp,
            kind,
            parent_trace_context: None,
        }
    }

    /// An event that carries a scheduling id.
    pub fn with_id(event_id: i32, timestamp: Timestamp, kind: EventKind) -> Self {
        HistoryEvent {
            event_id,
            timestamp,
            kind,
            parent_trace_context: None,
        }
    }

    /// The `EventType` name, as written in the History table.
    pub fn event_type(&self) -> EventType {
        self.kind.event_type()
    }
}

/// The instance an event or message is about: its id and, when known, its execution id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OrchestrationInstance {
    /// `InstanceId`: the instance id, exactly as given (not table-escaped).
    #[serde(rename = "InstanceId")]
    pub instance_id: String,
    /// `ExecutionId`: the execution (generation) id, or `None` when the sender does not know it
    /// (client messages to an instance).
    #[serde(rename = "ExecutionId", default)]
    pub execution_id: Option<String>,
}

impl OrchestrationInstance {
    /// An instance reference from an instance id and an optional execution id.
    pub fn new(instance_id: impl Into<String>, execution_id: Option<String>) -> Self {
        OrchestrationInstance {
            instance_id: instance_id.into(),
            execution_id,
        }
    }
}

/// The parent of a sub-orchestration, recorded in its ExecutionStarted event so that the child
/// can report back to the task that is waiting for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParentInstance {
    /// `Name`: the parent orchestration's name.
    #[serde(rename = "Name", default)]
    pub name: Option<String>,
    /// `OrchestrationInstance`: the parent's instance and execution id, where the child's
    /// completion is sent.
    #[serde(rename = "OrchestrationInstance")]
    pub orchestration_instance: OrchestrationInstance,
    /// `TaskScheduleId`: the `EventId` of the parent's `SubOrchestrationInstanceCreated` event,
    /// which the child's completion answers through `TaskScheduledId`.
    #[serde(rename = "TaskScheduleId")]
    pub task_schedule_id: i32,
    /// `Version`: the parent orchestration's version, if any.
    #[serde(rename = "Version", default)]
    pub version: Option<String>,
}

/// Runtime status of an orchestration instance (the eight DTFx names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OrchestrationStatus {
    /// Started and not yet finished (entities stay `Running` for ever).
    Running,
    /// Finished with an output.
    Completed,
    /// The execution ended by continuing as new; the next generation runs under a new execution id.
    ContinuedAsNew,
    /// Finished with a failure (its details are in the `ExecutionCompleted` event).
    Failed,
    /// Canceled: a DTFx status that taskhub reads and treats as terminal but never writes.
    Canceled,
    /// Ended by a client's terminate request; the reason is the output.
    Terminated,
    /// Created by a client, not yet started by a worker.
    Pending,
    /// Suspended by a client; events are held until it is resumed.
    Suspended,
}

impl OrchestrationStatus {
    /// All statuses, in DTFx enum order.
    pub const ALL: [OrchestrationStatus; 8] = [
        OrchestrationStatus::Running,
        OrchestrationStatus::Completed,
        OrchestrationStatus::ContinuedAsNew,
        OrchestrationStatus::Failed,
        OrchestrationStatus::Canceled,
        OrchestrationStatus::Terminated,
        OrchestrationStatus::Pending,
        OrchestrationStatus::Suspended,
    ];

    /// The name written in `RuntimeStatus` / `OrchestrationStatus` columns.
    pub fn as_str(self) -> &'static str {
        match self {
            OrchestrationStatus::Running => "Running",
            OrchestrationStatus::Completed => "Completed",
            OrchestrationStatus::ContinuedAsNew => "ContinuedAsNew",
            OrchestrationStatus::Failed => "Failed",
            OrchestrationStatus::Canceled => "Canceled",
            OrchestrationStatus::Terminated => "Terminated",
            OrchestrationStatus::Pending => "Pending",
            OrchestrationStatus::Suspended => "Suspended",
        }
    }

    /// Parses a status name, ignoring ASCII case.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s))
    }

    /// The DTFx integer value of the status.
    pub fn as_i32(self) -> i32 {
        match self {
            OrchestrationStatus::Running => 0,
            OrchestrationStatus::Completed => 1,
            OrchestrationStatus::ContinuedAsNew => 2,
            OrchestrationStatus::Failed => 3,
            OrchestrationStatus::Canceled => 4,
            OrchestrationStatus::Terminated => 5,
            OrchestrationStatus::Pending => 6,
            OrchestrationStatus::Suspended => 7,
        }
    }

    /// True once the instance can make no further progress (Completed, Failed, Terminated,
    /// Canceled).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            OrchestrationStatus::Completed
                | OrchestrationStatus::Failed
                | OrchestrationStatus::Terminated
                | OrchestrationStatus::Canceled
        )
    }
}

impl std::fmt::Display for OrchestrationStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The DTFx `EventType` enum, in its declared order (the integer form is used in queue JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    /// The execution began: name, input, parent and generation.
    ExecutionStarted = 0,
    /// The execution finished (Completed, Failed or Terminated), with its result or failure.
    ExecutionCompleted = 1,
    /// Declared by DTFx but written by none of its classes (there is no `ExecutionFailedEvent`):
    /// there is no [`EventKind`] variant, so a row or message of this type is not read.
    ExecutionFailed = 2,
    /// A client asked for the instance to be terminated.
    ExecutionTerminated = 3,
    /// An activity was scheduled.
    TaskScheduled = 4,
    /// An activity returned a result.
    TaskCompleted = 5,
    /// An activity failed.
    TaskFailed = 6,
    /// A sub-orchestration was started.
    SubOrchestrationInstanceCreated = 7,
    /// A sub-orchestration completed with a result.
    SubOrchestrationInstanceCompleted = 8,
    /// A sub-orchestration failed.
    SubOrchestrationInstanceFailed = 9,
    /// A durable timer was created.
    TimerCreated = 10,
    /// A durable timer fired.
    TimerFired = 11,
    /// An episode began: its timestamp is the orchestration's current time for the episode.
    OrchestratorStarted = 12,
    /// An episode ended.
    OrchestratorCompleted = 13,
    /// The orchestration sent an event (or an entity message) to another instance.
    EventSent = 14,
    /// An external event (or an entity response) arrived.
    EventRaised = 15,
    /// The execution continued as new (rarely stored: DTFx and taskhub store the new generation
    /// instead).
    ContinueAsNew = 16,
    /// A DTFx event with free-form `Data` (the wake-up of a legacy rewind).
    GenericEvent = 17,
    /// A snapshot of the instance's state (read, passed over by replay).
    HistoryState = 18,
    /// A client suspended the instance.
    ExecutionSuspended = 19,
    /// A client resumed the instance.
    ExecutionResumed = 20,
    /// DurableTask.Core's own rewind request and marker (read, passed over by replay).
    ExecutionRewound = 21,
}

impl EventType {
    const NAMES: [(&'static str, EventType); 22] = [
        ("ExecutionStarted", EventType::ExecutionStarted),
        ("ExecutionCompleted", EventType::ExecutionCompleted),
        ("ExecutionFailed", EventType::ExecutionFailed),
        ("ExecutionTerminated", EventType::ExecutionTerminated),
        ("TaskScheduled", EventType::TaskScheduled),
        ("TaskCompleted", EventType::TaskCompleted),
        ("TaskFailed", EventType::TaskFailed),
        (
            "SubOrchestrationInstanceCreated",
            EventType::SubOrchestrationInstanceCreated,
        ),
        (
            "SubOrchestrationInstanceCompleted",
            EventType::SubOrchestrationInstanceCompleted,
        ),
        (
            "SubOrchestrationInstanceFailed",
            EventType::SubOrchestrationInstanceFailed,
        ),
        ("TimerCreated", EventType::TimerCreated),
        ("TimerFired", EventType::TimerFired),
        ("OrchestratorStarted", EventType::OrchestratorStarted),
        ("OrchestratorCompleted", EventType::OrchestratorCompleted),
        ("EventSent", EventType::EventSent),
        ("EventRaised", EventType::EventRaised),
        ("ContinueAsNew", EventType::ContinueAsNew),
        ("GenericEvent", EventType::GenericEvent),
        ("HistoryState", EventType::HistoryState),
        ("ExecutionSuspended", EventType::ExecutionSuspended),
        ("ExecutionResumed", EventType::ExecutionResumed),
        ("ExecutionRewound", EventType::ExecutionRewound),
    ];

    /// The name written in the History table's `EventType` column.
    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize].0
    }

    /// The integer written in queue-message JSON.
    pub fn as_i32(self) -> i32 {
        self as i32
    }

    /// The event type of a queue-message `EventType` integer, or `None` outside 0–21.
    pub fn from_i32(n: i32) -> Option<Self> {
        usize::try_from(n)
            .ok()
            .and_then(|i| Self::NAMES.get(i))
            .map(|(_, t)| *t)
    }

    /// The event type of a History-table `EventType` name (exact case), or `None` for an unknown
    /// name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, t)| *t)
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The type-specific part of a history event. Inputs, results and outputs are JSON text, exactly
/// as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "EventType")]
pub enum EventKind {
    /// `ExecutionStarted`: the first event of an execution after its `OrchestratorStarted`.
    ExecutionStarted {
        /// `OrchestrationInstance`: the instance and the new execution id.
        #[serde(rename = "OrchestrationInstance")]
        orchestration_instance: OrchestrationInstance,
        /// `Name`: the orchestration name (for an entity, the full `@name@key`).
        #[serde(rename = "Name")]
        name: String,
        /// `Version`: the orchestration version, if any.
        #[serde(rename = "Version", default)]
        version: Option<String>,
        /// `Input`: the orchestration input as JSON text.
        #[serde(rename = "Input", default)]
        input: Option<String>,
        /// `ParentInstance`: the parent, for a sub-orchestration.
        #[serde(rename = "ParentInstance", default)]
        parent_instance: Option<ParentInstance>,
        /// `ScheduledStartTime`: when a delayed start is due, if one was asked for.
        #[serde(rename = "ScheduledStartTime", default, with = "opt_ts")]
        scheduled_start_time: Option<Timestamp>,
        /// `Generation`: 0 for the first creation of the instance id, one more for each client
        /// re-creation (continue-as-new keeps it).
        #[serde(rename = "Generation", default)]
        generation: Option<i32>,
        /// Tags as a JSON object text, when any.
        #[serde(rename = "Tags", default)]
        tags: Option<String>,
    },
    /// `ExecutionCompleted`: the execution ended; its `EventId` comes from the per-execution
    /// counter.
    ExecutionCompleted {
        /// `OrchestrationStatus`: the final status (Completed, Failed or Terminated).
        #[serde(rename = "OrchestrationStatus")]
        status: OrchestrationStatus,
        /// `Result`: the output as JSON text (the error message when Failed, the reason when
        /// Terminated).
        #[serde(rename = "Result", default)]
        result: Option<String>,
        /// `FailureDetails`: the failure, when Failed.
        #[serde(rename = "FailureDetails", default)]
        failure_details: Option<FailureDetails>,
    },
    /// `ExecutionTerminated`: a client's terminate request.
    ExecutionTerminated {
        /// The termination reason (becomes the output).
        #[serde(rename = "Input", default)]
        input: Option<String>,
    },
    /// `ExecutionSuspended`: a client's suspend request.
    ExecutionSuspended {
        /// `Reason`: the reason the client gave, if any.
        #[serde(rename = "Reason", default)]
        reason: Option<String>,
    },
    /// `ExecutionResumed`: a client's resume request.
    ExecutionResumed {
        /// `Reason`: the reason the client gave, if any.
        #[serde(rename = "Reason", default)]
        reason: Option<String>,
    },
    /// `OrchestratorStarted`: the start of an episode; its timestamp is the orchestration's current
    /// time.
    OrchestratorStarted,
    /// `OrchestratorCompleted`: the end of an episode.
    OrchestratorCompleted,
    /// `TaskScheduled`: an activity call; its `EventId` is the task id its completion refers to.
    TaskScheduled {
        /// `Name`: the activity name.
        #[serde(rename = "Name")]
        name: String,
        /// `Version`: the activity version, if any.
        #[serde(rename = "Version", default)]
        version: Option<String>,
        /// `Input`: the activity input as JSON text.
        #[serde(rename = "Input", default)]
        input: Option<String>,
    },
    /// `TaskCompleted`: an activity's result.
    TaskCompleted {
        /// `TaskScheduledId`: the id of the `TaskScheduled` event this completes.
        #[serde(rename = "TaskScheduledId")]
        task_scheduled_id: i32,
        /// `Result`: the activity output as JSON text.
        #[serde(rename = "Result", default)]
        result: Option<String>,
    },
    /// `TaskFailed`: an activity's failure.
    TaskFailed {
        /// `TaskScheduledId`: the id of the `TaskScheduled` event this completes.
        #[serde(rename = "TaskScheduledId")]
        task_scheduled_id: i32,
        /// `Reason`: the error message.
        #[serde(rename = "Reason", default)]
        reason: Option<String>,
        /// `Details`: more about the error, if any (taskhub writes the failure's stack trace here).
        #[serde(rename = "Details", default)]
        details: Option<String>,
        /// `FailureDetails`: the structured failure, if any.
        #[serde(rename = "FailureDetails", default)]
        failure_details: Option<FailureDetails>,
    },
    /// `SubOrchestrationInstanceCreated`: a sub-orchestration call; its `EventId` is the task id
    /// the child's completion refers to.
    SubOrchestrationInstanceCreated {
        /// `Name`: the child orchestration's name.
        #[serde(rename = "Name")]
        name: String,
        /// `Version`: the child orchestration's version, if any.
        #[serde(rename = "Version", default)]
        version: Option<String>,
        /// `InstanceId`: the child's instance id.
        #[serde(rename = "InstanceId")]
        instance_id: String,
        /// `Input`: the child's input as JSON text.
        #[serde(rename = "Input", default)]
        input: Option<String>,
    },
    /// `SubOrchestrationInstanceCompleted`: a child's result.
    SubOrchestrationInstanceCompleted {
        /// `TaskScheduledId`: the id of the `SubOrchestrationInstanceCreated` event this completes.
        #[serde(rename = "TaskScheduledId")]
        task_scheduled_id: i32,
        /// `Result`: the child's output as JSON text.
        #[serde(rename = "Result", default)]
        result: Option<String>,
    },
    /// `SubOrchestrationInstanceFailed`: a child's failure.
    SubOrchestrationInstanceFailed {
        /// `TaskScheduledId`: the id of the `SubOrchestrationInstanceCreated` event this completes.
        #[serde(rename = "TaskScheduledId")]
        task_scheduled_id: i32,
        /// `Reason`: the error message.
        #[serde(rename = "Reason", default)]
        reason: Option<String>,
        /// `Details`: more text about the error, if any.
        #[serde(rename = "Details", default)]
        details: Option<String>,
        /// `FailureDetails`: the structured failure, if any.
        #[serde(rename = "FailureDetails", default)]
        failure_details: Option<FailureDetails>,
    },
    /// `TimerCreated`: a durable timer; its `EventId` is the timer id.
    TimerCreated {
        /// `FireAt`: when the timer is due (UTC).
        #[serde(rename = "FireAt", with = "time::serde::rfc3339")]
        fire_at: Timestamp,
    },
    /// `TimerFired`: a durable timer came due.
    TimerFired {
        /// `TimerId`: the id of the `TimerCreated` event this completes.
        #[serde(rename = "TimerId")]
        timer_id: i32,
        /// `FireAt`: when the timer was due (UTC).
        #[serde(rename = "FireAt", with = "time::serde::rfc3339")]
        fire_at: Timestamp,
    },
    /// `EventSent`: an event sent to another instance (also each entity request); its `EventId`
    /// comes from the per-execution counter.
    EventSent {
        /// The target instance.
        #[serde(rename = "InstanceId")]
        instance_id: String,
        /// `Name`: the event name (for an entity request, `op` or `op@<due time>`).
        #[serde(rename = "Name")]
        name: String,
        /// `Input`: the event payload as JSON text.
        #[serde(rename = "Input", default)]
        input: Option<String>,
    },
    /// `EventRaised`: an external event delivered to this instance (also an entity's response,
    /// named by the request id).
    EventRaised {
        /// `Name`: the event name.
        #[serde(rename = "Name")]
        name: String,
        /// `Input`: the event payload as JSON text.
        #[serde(rename = "Input", default)]
        input: Option<String>,
    },
    /// `ContinueAsNew`: an execution that continued as new, as DTFx rarely stores it; taskhub
    /// reads it (the execution is over) but stores the new generation instead.
    ContinueAsNew {
        /// `Result`: the result DTFx recorded with it, as JSON text.
        #[serde(rename = "Result", default)]
        result: Option<String>,
    },
    /// `GenericEvent`: a DTFx event with free-form data: the wake-up message of a rewind, and
    /// what a rewind turns the rows of a failed attempt into (their `Reason` then says
    /// `Rewound: <old EventType>`, see [`EventKind::rewound`]).
    GenericEvent {
        /// `Data`: the event's text.
        #[serde(rename = "Data", default)]
        data: Option<String>,
        /// `Reason`: on a row a rewind rewrote, `Rewound: <old EventType>`.
        #[serde(rename = "Reason", default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// `ExecutionRewound`: DurableTask.Core's own rewind (the message that asks a failed
    /// instance to rewind, and the row it leaves in the new history). Replay passes over it;
    /// taskhub rewinds with the row edits of DurableTask.AzureStorage instead.
    ExecutionRewound {
        /// `Reason`: why it was rewound.
        #[serde(rename = "Reason", default)]
        reason: Option<String>,
        /// `ParentExecutionId`: for a sub-orchestration, its parent's new execution.
        #[serde(rename = "ParentExecutionId", default)]
        parent_execution_id: Option<String>,
        /// `InstanceId`: the instance rewound.
        #[serde(rename = "InstanceId", default)]
        instance_id: Option<String>,
    },
    /// `HistoryState`: a snapshot of the instance's state some DurableTask backends write;
    /// replay passes over it.
    HistoryState {
        /// `State`: the `OrchestrationState` as the writer stored it (JSON).
        #[serde(rename = "State", default)]
        state: Option<serde_json::Value>,
    },
}

/// What a rewind writes before the old `EventType` in the `Reason` of a row it rewrote.
pub const REWOUND_PREFIX: &str = "Rewound: ";

impl EventKind {
    /// For a row a rewind rewrote (a `GenericEvent` whose `Reason` is `Rewound: X`), the event
    /// type it was (`X`).
    pub fn rewound(&self) -> Option<&str> {
        match self {
            EventKind::GenericEvent {
                reason: Some(r), ..
            } => r.strip_prefix(REWOUND_PREFIX),
            _ => None,
        }
    }

    /// The `EventType` of this kind.
    pub fn event_type(&self) -> EventType {
        match self {
            EventKind::ExecutionStarted { .. } => EventType::ExecutionStarted,
            EventKind::ExecutionCompleted { .. } => EventType::ExecutionCompleted,
            EventKind::ExecutionTerminated { .. } => EventType::ExecutionTerminated,
            EventKind::ExecutionSuspended { .. } => EventType::ExecutionSuspended,
            EventKind::ExecutionResumed { .. } => EventType::ExecutionResumed,
            EventKind::OrchestratorStarted => EventType::OrchestratorStarted,
            EventKind::OrchestratorCompleted => EventType::OrchestratorCompleted,
            EventKind::TaskScheduled { .. } => EventType::TaskScheduled,
            EventKind::TaskCompleted { .. } => EventType::TaskCompleted,
            EventKind::TaskFailed { .. } => EventType::TaskFailed,
            EventKind::SubOrchestrationInstanceCreated { .. } => {
                EventType::SubOrchestrationInstanceCreated
            }
            EventKind::SubOrchestrationInstanceCompleted { .. } => {
                EventType::SubOrchestrationInstanceCompleted
            }
            EventKind::SubOrchestrationInstanceFailed { .. } => {
                EventType::SubOrchestrationInstanceFailed
            }
            EventKind::TimerCreated { .. } => EventType::TimerCreated,
            EventKind::TimerFired { .. } => EventType::TimerFired,
            EventKind::EventSent { .. } => EventType::EventSent,
            EventKind::EventRaised { .. } => EventType::EventRaised,
            EventKind::ContinueAsNew { .. } => EventType::ContinueAsNew,
            EventKind::GenericEvent { .. } => EventType::GenericEvent,
            EventKind::ExecutionRewound { .. } => EventType::ExecutionRewound,
            EventKind::HistoryState { .. } => EventType::HistoryState,
        }
    }

    /// The id of the scheduling event this event completes, for completion events
    /// (TaskCompleted/Failed, SubOrchestrationInstanceCompleted/Failed, TimerFired).
    pub fn completes_id(&self) -> Option<i32> {
        match self {
            EventKind::TaskCompleted {
                task_scheduled_id, ..
            }
            | EventKind::TaskFailed {
                task_scheduled_id, ..
            }
            | EventKind::SubOrchestrationInstanceCompleted {
                task_scheduled_id, ..
            }
            | EventKind::SubOrchestrationInstanceFailed {
                task_scheduled_id, ..
            } => Some(*task_scheduled_id),
            EventKind::TimerFired { timer_id, .. } => Some(*timer_id),
            _ => None,
        }
    }

    /// True for events that schedule work under an id of the per-execution counter.
    pub fn is_scheduling(&self) -> bool {
        matches!(
            self,
            EventKind::TaskScheduled { .. }
                | EventKind::TimerCreated { .. }
                | EventKind::SubOrchestrationInstanceCreated { .. }
                | EventKind::EventSent { .. }
        )
    }

    /// The `Name` of the event, where it has one.
    pub fn name(&self) -> Option<&str> {
        match self {
            EventKind::ExecutionStarted { name, .. }
            | EventKind::TaskScheduled { name, .. }
            | EventKind::SubOrchestrationInstanceCreated { name, .. }
            | EventKind::EventSent { name, .. }
            | EventKind::EventRaised { name, .. } => Some(name),
            _ => None,
        }
    }
}

/// Serde for optional RFC 3339 timestamps.
mod opt_ts {
    use super::Timestamp;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct W<'a>(#[serde(with = "time::serde::rfc3339")] &'a Timestamp);
        v.as_ref().map(W).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
        #[derive(Deserialize)]
        struct W(#[serde(with = "time::serde::rfc3339")] Timestamp);
        Ok(Option::<W>::deserialize(d)?.map(|w| w.0))
    }
}

/// Facts derived from a history: what a reader of an instance wants without replaying it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HistorySummary {
    /// The orchestration name, from `ExecutionStarted`.
    pub name: Option<String>,
    /// The execution id, from `ExecutionStarted`.
    pub execution_id: Option<String>,
    /// The input as JSON text, from `ExecutionStarted`.
    pub input: Option<String>,
    /// The status the history ends in: Running after `ExecutionStarted`, then as completion,
    /// termination, suspension and resume events change it; `None` when it has none of these
    /// events.
    pub status: Option<OrchestrationStatus>,
    /// The output: the result, the error message of a failure, or the terminate reason.
    pub output: Option<String>,
    /// The failure, when the status is Failed.
    pub failure: Option<FailureDetails>,
    /// When the execution started: the `ExecutionStarted` timestamp.
    pub created: Option<Timestamp>,
    /// The timestamp of the last event.
    pub last_updated: Option<Timestamp>,
}

impl HistorySummary {
    /// Folds a history into its status, input and output.
    pub fn of(history: &[HistoryEvent]) -> Self {
        let mut s = HistorySummary::default();
        for e in history {
            s.last_updated = Some(e.timestamp);
            match &e.kind {
                EventKind::ExecutionStarted {
                    orchestration_instance,
                    name,
                    input,
                    ..
                } => {
                    s.name = Some(name.clone());
                    s.execution_id = orchestration_instance.execution_id.clone();
                    s.input = input.clone();
                    s.status = Some(OrchestrationStatus::Running);
                    s.created = Some(e.timestamp);
                }
                EventKind::ExecutionCompleted {
                    status,
                    result,
                    failure_details,
                } => {
                    s.status = Some(*status);
                    s.output = result.clone();
                    s.failure = failure_details.clone();
                }
                EventKind::ExecutionTerminated { input } => {
                    s.status = Some(OrchestrationStatus::Terminated);
                    s.output = input.clone();
                }
                EventKind::ExecutionSuspended { .. }
                    if s.status == Some(OrchestrationStatus::Running) =>
                {
                    s.status = Some(OrchestrationStatus::Suspended);
                }
                EventKind::ExecutionResumed { .. }
                    if s.status == Some(OrchestrationStatus::Suspended) =>
                {
                    s.status = Some(OrchestrationStatus::Running);
                }
                _ => {}
            }
        }
        s
    }
}
