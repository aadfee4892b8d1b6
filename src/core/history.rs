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
}

impl HistoryEvent {
    /// An event with `event_id = -1`.
    pub fn new(timestamp: Timestamp, kind: EventKind) -> Self {
        HistoryEvent {
            event_id: -1,
            timestamp,
            kind,
        }
    }

    /// An event that carries a scheduling id.
    pub fn with_id(event_id: i32, timestamp: Timestamp, kind: EventKind) -> Self {
        HistoryEvent {
            event_id,
            timestamp,
            kind,
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
    #[serde(rename = "InstanceId")]
    pub instance_id: String,
    #[serde(rename = "ExecutionId", default)]
    pub execution_id: Option<String>,
}

impl OrchestrationInstance {
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
    #[serde(rename = "Name", default)]
    pub name: Option<String>,
    #[serde(rename = "OrchestrationInstance")]
    pub orchestration_instance: OrchestrationInstance,
    #[serde(rename = "TaskScheduleId")]
    pub task_schedule_id: i32,
    #[serde(rename = "Version", default)]
    pub version: Option<String>,
}

/// Runtime status of an orchestration instance (the eight DTFx names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OrchestrationStatus {
    Running,
    Completed,
    ContinuedAsNew,
    Failed,
    Canceled,
    Terminated,
    Pending,
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
    ExecutionStarted = 0,
    ExecutionCompleted = 1,
    ExecutionFailed = 2,
    ExecutionTerminated = 3,
    TaskScheduled = 4,
    TaskCompleted = 5,
    TaskFailed = 6,
    SubOrchestrationInstanceCreated = 7,
    SubOrchestrationInstanceCompleted = 8,
    SubOrchestrationInstanceFailed = 9,
    TimerCreated = 10,
    TimerFired = 11,
    OrchestratorStarted = 12,
    OrchestratorCompleted = 13,
    EventSent = 14,
    EventRaised = 15,
    ContinueAsNew = 16,
    GenericEvent = 17,
    HistoryState = 18,
    ExecutionSuspended = 19,
    ExecutionResumed = 20,
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

    pub fn from_i32(n: i32) -> Option<Self> {
        usize::try_from(n)
            .ok()
            .and_then(|i| Self::NAMES.get(i))
            .map(|(_, t)| *t)
    }

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
    ExecutionStarted {
        #[serde(rename = "OrchestrationInstance")]
        orchestration_instance: OrchestrationInstance,
        #[serde(rename = "Name")]
        name: String,
        #[serde(rename = "Version", default)]
        version: Option<String>,
        #[serde(rename = "Input", default)]
        input: Option<String>,
        #[serde(rename = "ParentInstance", default)]
        parent_instance: Option<ParentInstance>,
        #[serde(rename = "ScheduledStartTime", default, with = "opt_ts")]
        scheduled_start_time: Option<Timestamp>,
        #[serde(rename = "Generation", default)]
        generation: Option<i32>,
        /// Tags as a JSON object text, when any.
        #[serde(rename = "Tags", default)]
        tags: Option<String>,
    },
    ExecutionCompleted {
        #[serde(rename = "OrchestrationStatus")]
        status: OrchestrationStatus,
        #[serde(rename = "Result", default)]
        result: Option<String>,
        #[serde(rename = "FailureDetails", default)]
        failure_details: Option<FailureDetails>,
    },
    ExecutionTerminated {
        /// The termination reason (becomes the output).
        #[serde(rename = "Input", default)]
        input: Option<String>,
    },
    ExecutionSuspended {
        #[serde(rename = "Reason", default)]
        reason: Option<String>,
    },
    ExecutionResumed {
        #[serde(rename = "Reason", default)]
        reason: Option<String>,
    },
    OrchestratorStarted,
    OrchestratorCompleted,
    TaskScheduled {
        #[serde(rename = "Name")]
        name: String,
        #[serde(rename = "Version", default)]
        version: Option<String>,
        #[serde(rename = "Input", default)]
        input: Option<String>,
    },
    TaskCompleted {
        #[serde(rename = "TaskScheduledId")]
        task_scheduled_id: i32,
        #[serde(rename = "Result", default)]
        result: Option<String>,
    },
    TaskFailed {
        #[serde(rename = "TaskScheduledId")]
        task_scheduled_id: i32,
        #[serde(rename = "Reason", default)]
        reason: Option<String>,
        #[serde(rename = "Details", default)]
        details: Option<String>,
        #[serde(rename = "FailureDetails", default)]
        failure_details: Option<FailureDetails>,
    },
    SubOrchestrationInstanceCreated {
        #[serde(rename = "Name")]
        name: String,
        #[serde(rename = "Version", default)]
        version: Option<String>,
        #[serde(rename = "InstanceId")]
        instance_id: String,
        #[serde(rename = "Input", default)]
        input: Option<String>,
    },
    SubOrchestrationInstanceCompleted {
        #[serde(rename = "TaskScheduledId")]
        task_scheduled_id: i32,
        #[serde(rename = "Result", default)]
        result: Option<String>,
    },
    SubOrchestrationInstanceFailed {
        #[serde(rename = "TaskScheduledId")]
        task_scheduled_id: i32,
        #[serde(rename = "Reason", default)]
        reason: Option<String>,
        #[serde(rename = "Details", default)]
        details: Option<String>,
        #[serde(rename = "FailureDetails", default)]
        failure_details: Option<FailureDetails>,
    },
    TimerCreated {
        #[serde(rename = "FireAt", with = "time::serde::rfc3339")]
        fire_at: Timestamp,
    },
    TimerFired {
        #[serde(rename = "TimerId")]
        timer_id: i32,
        #[serde(rename = "FireAt", with = "time::serde::rfc3339")]
        fire_at: Timestamp,
    },
    EventSent {
        /// The target instance.
        #[serde(rename = "InstanceId")]
        instance_id: String,
        #[serde(rename = "Name")]
        name: String,
        #[serde(rename = "Input", default)]
        input: Option<String>,
    },
    EventRaised {
        #[serde(rename = "Name")]
        name: String,
        #[serde(rename = "Input", default)]
        input: Option<String>,
    },
    ContinueAsNew {
        #[serde(rename = "Result", default)]
        result: Option<String>,
    },
    GenericEvent {
        #[serde(rename = "Data", default)]
        data: Option<String>,
    },
}

impl EventKind {
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
    pub name: Option<String>,
    pub execution_id: Option<String>,
    pub input: Option<String>,
    pub status: Option<OrchestrationStatus>,
    pub output: Option<String>,
    pub failure: Option<FailureDetails>,
    pub created: Option<Timestamp>,
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
