//! What an orchestrator asks for: actions, and the messages they become.
//!
//! Each action gets an id from the execution's one counter. When a turn ends, every action not yet
//! recorded in history becomes a scheduling history event (with that id as `EventId`) and an
//! outbound [`TaskMessage`]. During replay, a recorded scheduling event must match the action the
//! code produced under the same id (see `replay::matcher`).

use super::history::{EventKind, HistoryEvent, OrchestrationInstance, ParentInstance, Timestamp};

/// A unit of work the orchestrator scheduled.
#[derive(Debug, Clone, PartialEq)]
pub enum ActionKind {
    /// Run an activity (`TaskScheduled`).
    ScheduleTask {
        /// The activity name.
        name: String,
        /// The activity version, if any.
        version: Option<String>,
        /// The activity input as JSON text.
        input: Option<String>,
    },
    /// Start a sub-orchestration (`SubOrchestrationInstanceCreated`).
    CreateSubOrchestration {
        /// The child orchestration's name.
        name: String,
        /// The child orchestration's version, if any.
        version: Option<String>,
        /// The child's instance id.
        instance_id: String,
        /// Execution id of the child's first execution, derived deterministically.
        execution_id: String,
        /// The child's input as JSON text.
        input: Option<String>,
    },
    /// A durable timer (`TimerCreated`).
    CreateTimer {
        /// When the timer is due (UTC).
        fire_at: Timestamp,
    },
    /// Raise an event on another instance, or send an entity operation (`EventSent`).
    SendEvent {
        /// The target instance (for an entity operation, `@name@key`).
        instance_id: String,
        /// The event name (`op` or `op@<due time>` for an entity operation).
        name: String,
        /// The event payload as JSON text.
        input: Option<String>,
        /// Deliver no earlier than this (scheduled entity signals).
        visible_at: Option<Timestamp>,
    },
}

impl ActionKind {
    /// A short description for error messages: `activity 'Name'`, `timer`, ...
    pub fn describe(&self) -> String {
        match self {
            ActionKind::ScheduleTask { name, .. } => format!("activity '{name}'"),
            ActionKind::CreateSubOrchestration {
                name, instance_id, ..
            } => format!("sub-orchestration '{name}' (instance '{instance_id}')"),
            ActionKind::CreateTimer { .. } => "timer".to_string(),
            ActionKind::SendEvent {
                instance_id, name, ..
            } => format!("event '{name}' to '{instance_id}'"),
        }
    }

    /// The history event that records this action.
    pub fn to_event(&self, id: i32, now: Timestamp) -> HistoryEvent {
        let kind = match self {
            ActionKind::ScheduleTask {
                name,
                version,
                input,
            } => EventKind::TaskScheduled {
                name: name.clone(),
                version: version.clone(),
                input: input.clone(),
            },
            ActionKind::CreateSubOrchestration {
                name,
                version,
                instance_id,
                input,
                ..
            } => EventKind::SubOrchestrationInstanceCreated {
                name: name.clone(),
                version: version.clone(),
                instance_id: instance_id.clone(),
                input: input.clone(),
            },
            ActionKind::CreateTimer { fire_at } => EventKind::TimerCreated { fire_at: *fire_at },
            ActionKind::SendEvent {
                instance_id,
                name,
                input,
                ..
            } => EventKind::EventSent {
                instance_id: instance_id.clone(),
                name: name.clone(),
                input: input.clone(),
            },
        };
        HistoryEvent::with_id(id, now, kind)
    }

    /// The message that carries this action out. `me` is the orchestration that scheduled it.
    pub fn to_message(
        &self,
        id: i32,
        now: Timestamp,
        me: &OrchestrationInstance,
        my_name: &str,
    ) -> TaskMessage {
        match self {
            ActionKind::ScheduleTask { .. } => TaskMessage {
                instance: me.clone(),
                event: self.to_event(id, now),
                visible_at: None,
            },
            ActionKind::CreateSubOrchestration {
                name,
                version,
                instance_id,
                execution_id,
                input,
            } => {
                let child = OrchestrationInstance::new(instance_id, Some(execution_id.clone()));
                TaskMessage {
                    instance: child.clone(),
                    event: HistoryEvent::new(
                        now,
                        EventKind::ExecutionStarted {
                            orchestration_instance: child,
                            name: name.clone(),
                            version: version.clone(),
                            input: input.clone(),
                            parent_instance: Some(ParentInstance {
                                name: Some(my_name.to_string()),
                                orchestration_instance: me.clone(),
                                task_schedule_id: id,
                                version: None,
                            }),
                            scheduled_start_time: None,
                            generation: None,
                            tags: None,
                        },
                    ),
                    visible_at: None,
                }
            }
            ActionKind::CreateTimer { fire_at } => TaskMessage {
                instance: me.clone(),
                event: HistoryEvent::new(
                    now,
                    EventKind::TimerFired {
                        timer_id: id,
                        fire_at: *fire_at,
                    },
                ),
                visible_at: Some(*fire_at),
            },
            ActionKind::SendEvent {
                instance_id,
                name,
                input,
                visible_at,
            } => TaskMessage {
                instance: OrchestrationInstance::new(instance_id, None),
                event: HistoryEvent::new(
                    now,
                    EventKind::EventRaised {
                        name: name.clone(),
                        input: input.clone(),
                    },
                ),
                visible_at: *visible_at,
            },
        }
    }
}

/// An action and whether history already records it.
#[derive(Debug, Clone)]
pub struct Action {
    /// The action's id from the execution's counter: the `EventId` of its scheduling event.
    pub id: i32,
    /// What the action asks for.
    pub kind: ActionKind,
    /// True once the scheduling event is in history (replayed or emitted by a turn).
    pub recorded: bool,
}

/// A message to deliver: the DTFx `TaskMessage` (an event addressed to an instance) plus when it
/// may become visible. A `TaskScheduled` event goes to the work-item queue; everything else goes
/// to the control queue of `instance`.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskMessage {
    /// The target instance (for activity requests and responses: the owning orchestration).
    pub instance: OrchestrationInstance,
    /// The event delivered to the target.
    pub event: HistoryEvent,
    /// Deliver no earlier than this (timers, scheduled signals, scheduled starts).
    pub visible_at: Option<Timestamp>,
}

impl TaskMessage {
    /// True for activity requests, which go to the shared work-item queue.
    pub fn is_activity_request(&self) -> bool {
        matches!(self.event.kind, EventKind::TaskScheduled { .. })
    }
}
