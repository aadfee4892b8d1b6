//! The orchestration context: everything an orchestrator may do.
//!
//! Orchestrator code must be deterministic: the same history must lead it to ask for the same
//! things in the same order. So it gets time, ids and randomness from here (history time,
//! deterministic UUIDs) and does its I/O through activities. Every method that schedules work takes
//! the next id of the execution's counter; the replay executor checks recorded history against
//! those ids.

mod compose;
mod critical_section;
mod retry;
pub(crate) mod state;
mod tasks;

use serde::de::DeserializeOwned;
use serde::Serialize;
use uuid::Uuid;

pub use compose::{all_of, any_of, select2, AnyOf, Either, Select2};
pub(crate) use critical_section::release_locks;
pub use critical_section::{CriticalSection, LockTask};
pub use retry::RetryPolicy;
pub use tasks::{DurableFuture, Task, Timer, LONG_TIMER_HOP, MAX_TIMER_SEGMENT};

use self::state::{lock, ContinueAsNewRequest, ExecutionState, SharedState};
use self::tasks::{next_timer_segment, Inner, RawTask, RetryPhase, RetryState};
use super::action::ActionKind;
use super::entity::messages::RequestMessage;
use super::failure::{Failure, FailureDetails, TaskKind};
use super::history::Timestamp;
use super::instance::EntityId;

/// Namespace of deterministic UUIDs (the one DTFx uses for `NewGuid`).
const GUID_NAMESPACE: Uuid = Uuid::from_u128(0x9e952958_5e33_4daf_827f_2fa12937b875);

/// Handle an orchestrator uses to schedule work and read its execution's facts. Cheap to clone.
#[derive(Clone)]
pub struct OrchestrationContext {
    state: SharedState,
}

impl std::fmt::Debug for OrchestrationContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = lock(&self.state);
        f.debug_struct("OrchestrationContext")
            .field("instance_id", &st.instance_id)
            .field("execution_id", &st.execution_id)
            .finish()
    }
}

/// Serializes an input to JSON text, or explains why it cannot be.
fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<String, FailureDetails> {
    serde_json::to_string(value)
        .map_err(|e| FailureDetails::new("SerializationError", format!("cannot serialize: {e}")))
}

impl OrchestrationContext {
    pub(crate) fn new(state: SharedState) -> Self {
        OrchestrationContext { state }
    }

    fn with<R>(&self, f: impl FnOnce(&mut ExecutionState) -> R) -> R {
        f(&mut lock(&self.state))
    }

    /// The instance id of this orchestration.
    pub fn instance_id(&self) -> String {
        self.with(|s| s.instance_id.clone())
    }

    /// The id of the current execution (a new one after each continue-as-new).
    pub fn execution_id(&self) -> String {
        self.with(|s| s.execution_id.clone())
    }

    /// The orchestrator's registered name.
    pub fn name(&self) -> String {
        self.with(|s| s.name.clone())
    }

    /// The input, decoded. A missing input decodes as JSON `null`.
    /// The version this instance was started with (`""`: none). Branch on it to keep an old
    /// instance on the code path it started on.
    pub fn version(&self) -> String {
        self.with(|s| s.version.clone().unwrap_or_default())
    }

    /// The orchestration's input, deserialized; an `InvalidInput` failure when it does not fit.
    pub fn input<T: DeserializeOwned>(&self) -> Result<T, Failure> {
        let raw = self.raw_input();
        tasks::decode(raw.as_deref()).map_err(|e| {
            Failure::new(
                FailureDetails::INVALID_INPUT,
                format!("invalid input for orchestrator '{}': {e}", self.name()),
            )
            .non_retriable()
        })
    }

    /// The input as the JSON text it was stored as.
    pub fn raw_input(&self) -> Option<String> {
        self.with(|s| s.input.clone())
    }

    /// The parent orchestration, when this is a sub-orchestration.
    pub fn parent_instance_id(&self) -> Option<String> {
        self.with(|s| {
            s.parent
                .as_ref()
                .map(|p| p.orchestration_instance.instance_id.clone())
        })
    }

    /// Current time as history records it: the start of the current turn. Use this instead of
    /// the system clock.
    pub fn current_utc_datetime(&self) -> Timestamp {
        self.with(|s| s.current_time)
    }

    /// True while the code re-executes past history.
    pub fn is_replaying(&self) -> bool {
        self.with(|s| s.is_replaying)
    }

    /// A UUID that is the same on every replay (name-based, from the instance id, the current
    /// history time and a counter, as DTFx's `NewGuid`).
    pub fn new_guid(&self) -> Uuid {
        self.with(new_guid_in)
    }

    /// Sets the custom status reported by status queries (any JSON value).
    pub fn set_custom_status<T: Serialize + ?Sized>(&self, status: &T) {
        let json = serde_json::to_string(status).ok();
        self.with(|s| s.custom_status = json);
    }

    /// Clears the custom status, so status queries report none (the Instances `CustomStatus` column
    /// is written as `"null"`).
    pub fn clear_custom_status(&self) {
        self.with(|s| s.custom_status = None);
    }

    /// Logs at info level unless replaying.
    pub fn log_info(&self, message: impl std::fmt::Display) {
        let (replaying, id) = self.with(|s| (s.is_replaying, s.instance_id.clone()));
        if !replaying {
            tracing::info!(instance_id = %id, "{message}");
        }
    }

    /// Logs at warn level unless replaying.
    pub fn log_warn(&self, message: impl std::fmt::Display) {
        let (replaying, id) = self.with(|s| (s.is_replaying, s.instance_id.clone()));
        if !replaying {
            tracing::warn!(instance_id = %id, "{message}");
        }
    }

    fn task<T>(&self, inner: Inner, kind: TaskKind, what: String) -> Task<T> {
        Task::from_raw(RawTask::new(self.state.clone(), inner, kind, what))
    }

    fn failed_task<T>(&self, kind: TaskKind, what: String, details: FailureDetails) -> Task<T> {
        self.task(Inner::Immediate(Some(Err(details))), kind, what)
    }

    /// Schedules an activity.
    pub fn call_activity<T: DeserializeOwned>(&self, name: &str, input: impl Serialize) -> Task<T> {
        let what = format!("activity '{name}'");
        match to_json(&input) {
            Ok(input) => {
                let id = self.with(|s| s.schedule(activity_action(name, Some(input))));
                self.task(Inner::Action { id }, TaskKind::Activity, what)
            }
            Err(e) => self.failed_task(TaskKind::Activity, what, e),
        }
    }

    /// Schedules an activity and retries it on failure after durable timers.
    pub fn call_activity_with_retry<T: DeserializeOwned>(
        &self,
        name: &str,
        input: impl Serialize,
        policy: RetryPolicy,
    ) -> Task<T> {
        let what = format!("activity '{name}'");
        let input = match to_json(&input) {
            Ok(i) => i,
            Err(e) => return self.failed_task(TaskKind::Activity, what, e),
        };
        let name = name.to_string();
        let make: Box<dyn Fn(&mut ExecutionState) -> i32 + Send> =
            Box::new(move |s| s.schedule(activity_action(&name, Some(input.clone()))));
        self.retrying(make, policy, TaskKind::Activity, what)
    }

    fn retrying<T>(
        &self,
        make_action: Box<dyn Fn(&mut ExecutionState) -> i32 + Send>,
        policy: RetryPolicy,
        kind: TaskKind,
        what: String,
    ) -> Task<T> {
        let id = self.with(|s| make_action(s));
        let retry = RetryState {
            policy,
            make_action,
            attempt: 1,
            first_failure_at: None,
            phase: RetryPhase::Attempt(id),
        };
        self.task(Inner::Retry(Box::new(retry)), kind, what)
    }

    /// Starts a sub-orchestration with a generated instance id (see
    /// [`default_sub_orchestration_id`]).
    pub fn call_sub_orchestrator<T: DeserializeOwned>(
        &self,
        name: &str,
        input: impl Serialize,
    ) -> Task<T> {
        self.sub_orchestrator(name, None, input, None)
    }

    /// Starts a sub-orchestration with the given instance id.
    pub fn call_sub_orchestrator_with_id<T: DeserializeOwned>(
        &self,
        name: &str,
        instance_id: &str,
        input: impl Serialize,
    ) -> Task<T> {
        self.sub_orchestrator(name, Some(instance_id), input, None)
    }

    /// Starts a sub-orchestration of a given version (others inherit this instance's version).
    pub fn call_sub_orchestrator_with_version<T: DeserializeOwned>(
        &self,
        name: &str,
        version: &str,
        input: impl Serialize,
    ) -> Task<T> {
        self.sub_orchestrator_of(name, Some(version), None, input, None)
    }

    /// Starts a sub-orchestration and retries it (as a new instance each time unless an id is
    /// given) when it fails.
    pub fn call_sub_orchestrator_with_retry<T: DeserializeOwned>(
        &self,
        name: &str,
        instance_id: Option<&str>,
        input: impl Serialize,
        policy: RetryPolicy,
    ) -> Task<T> {
        self.sub_orchestrator(name, instance_id, input, Some(policy))
    }

    fn sub_orchestrator<T>(
        &self,
        name: &str,
        instance_id: Option<&str>,
        input: impl Serialize,
        policy: Option<RetryPolicy>,
    ) -> Task<T> {
        self.sub_orchestrator_of(name, None, instance_id, input, policy)
    }

    fn sub_orchestrator_of<T>(
        &self,
        name: &str,
        version: Option<&str>,
        instance_id: Option<&str>,
        input: impl Serialize,
        policy: Option<RetryPolicy>,
    ) -> Task<T> {
        let what = match instance_id {
            Some(id) => format!("sub-orchestration '{name}' (instance '{id}')"),
            None => format!("sub-orchestration '{name}'"),
        };
        if let Err(e) = self.with(|s| critical_section::check_sub_orchestration(s)) {
            return self.failed_task(TaskKind::SubOrchestration, what, e);
        }
        let input = match to_json(&input) {
            Ok(i) => i,
            Err(e) => return self.failed_task(TaskKind::SubOrchestration, what, e),
        };
        let name = name.to_string();
        let fixed_id = instance_id.map(str::to_string);
        let version = version.map(str::to_string);
        let make: Box<dyn Fn(&mut ExecutionState) -> i32 + Send> = Box::new(move |s| {
            // A child inherits its parent's version unless given one.
            let v = version.clone().or_else(|| s.version.clone());
            schedule_sub_orchestration(s, &name, v, fixed_id.clone(), &input)
        });
        match policy {
            Some(p) => self.retrying(make, p, TaskKind::SubOrchestration, what),
            None => {
                let id = self.with(|s| make(s));
                self.task(Inner::Action { id }, TaskKind::SubOrchestration, what)
            }
        }
    }

    /// A durable timer firing at `fire_at`. Timers further out than six days hop in three-day
    /// segments, each a real TimerCreated/TimerFired pair in history.
    pub fn create_timer(&self, fire_at: Timestamp) -> Timer {
        let raw = self.with(|s| {
            let first = next_timer_segment(s.current_time, fire_at);
            let hop = s.schedule(ActionKind::CreateTimer { fire_at: first });
            Inner::Timer {
                fire_at,
                hop,
                hop_at: first,
            }
        });
        Timer::from_raw(RawTask::new(
            self.state.clone(),
            raw,
            TaskKind::Activity,
            "timer".to_string(),
        ))
    }

    /// A durable timer firing `delay` after the current history time.
    pub fn sleep(&self, delay: std::time::Duration) -> Timer {
        let fire_at = self.current_utc_datetime() + delay;
        self.create_timer(fire_at)
    }

    /// Waits for an event raised on this instance with `name` (case-insensitive). Events raised
    /// before anyone waits are buffered and delivered in order.
    pub fn wait_for_external_event<T: DeserializeOwned>(&self, name: &str) -> Task<T> {
        let waiter = self.with(|s| s.add_waiter(name));
        self.task(
            Inner::Event {
                waiter,
                entity_response: false,
            },
            TaskKind::Activity,
            format!("external event '{name}'"),
        )
    }

    /// Raises an event on another instance (one-way).
    pub fn send_event(&self, instance_id: &str, name: &str, data: impl Serialize) {
        let input = to_json(&data).ok();
        self.with(|s| {
            s.schedule(ActionKind::SendEvent {
                instance_id: instance_id.to_string(),
                name: name.to_string(),
                input,
                visible_at: None,
            })
        });
    }

    /// Ends this execution when the orchestrator returns and starts a new one with `input`,
    /// dropping events not yet consumed.
    pub fn continue_as_new(&self, input: impl Serialize) {
        self.request_continue_as_new(input, false);
    }

    /// Like [`continue_as_new`](Self::continue_as_new), carrying unconsumed external events
    /// over to the new execution.
    pub fn continue_as_new_preserving_events(&self, input: impl Serialize) {
        self.request_continue_as_new(input, true);
    }

    /// Like [`continue_as_new`](Self::continue_as_new), the new execution running `version`
    /// (for example to move a long-lived instance onto new code).
    pub fn continue_as_new_with_version(&self, input: impl Serialize, version: &str) {
        self.request(input, false, Some(version.to_string()));
    }

    fn request_continue_as_new(&self, input: impl Serialize, preserve: bool) {
        self.request(input, preserve, None);
    }

    fn request(&self, input: impl Serialize, preserve: bool, version: Option<String>) {
        let input = to_json(&input).ok();
        self.with(|s| {
            s.continue_as_new = Some(ContinueAsNewRequest {
                input,
                preserve_unprocessed_events: preserve,
                version,
            })
        });
    }

    /// Sends a one-way operation to an entity.
    ///
    /// Signalling an entity locked by this orchestration's critical section breaks the rules
    /// of critical sections: the signal is not sent and the orchestration fails.
    pub fn signal_entity(&self, entity: &EntityId, operation: &str, input: impl Serialize) {
        self.signal(entity, operation, input, None);
    }

    fn signal(
        &self,
        entity: &EntityId,
        operation: &str,
        input: impl Serialize,
        at: Option<Timestamp>,
    ) {
        let broken = self.with(|s| {
            let broken = critical_section::check_signal(s, entity).err();
            if let Some(f) = &broken {
                s.violation.get_or_insert(f.clone());
            }
            broken
        });
        if broken.is_some() {
            return;
        }
        if let Err(e) = self.send_entity_request(entity, operation, input, true, at) {
            self.log_warn(format!("signal to {entity} not sent: {}", e.error_message));
        }
    }

    /// Sends a one-way operation to an entity, delivered no earlier than `at`.
    pub fn signal_entity_at(
        &self,
        entity: &EntityId,
        operation: &str,
        input: impl Serialize,
        at: Timestamp,
    ) {
        self.signal(entity, operation, input, Some(at));
    }

    /// Calls an entity operation and waits for its result (or its error).
    pub fn call_entity<T: DeserializeOwned>(
        &self,
        entity: &EntityId,
        operation: &str,
        input: impl Serialize,
    ) -> Task<T> {
        let what = format!("entity operation '{operation}' on {entity}");
        if let Err(e) = self.with(|s| critical_section::check_call(s, entity)) {
            return self.failed_task(TaskKind::Entity, what, e);
        }
        match self.send_entity_request(entity, operation, input, false, None) {
            Ok(request_id) => {
                let waiter = self.with(|s| {
                    let waiter = s.add_waiter(&request_id);
                    critical_section::note_call(s, entity, waiter);
                    waiter
                });
                self.task(
                    Inner::Event {
                        waiter,
                        entity_response: true,
                    },
                    TaskKind::Entity,
                    what,
                )
            }
            Err(e) => self.failed_task(TaskKind::Entity, what, e),
        }
    }

    /// Records the EventSent for an entity request; returns the request id.
    fn send_entity_request(
        &self,
        entity: &EntityId,
        operation: &str,
        input: impl Serialize,
        signal: bool,
        at: Option<Timestamp>,
    ) -> Result<String, FailureDetails> {
        let input = to_json(&input)?;
        Ok(self.with(|s| {
            let request_id = new_guid_in(s).to_string();
            let now = s.current_time;
            let (timestamp, predecessor) = s.entity_sends.stamp(&entity.to_string(), now);
            let request = RequestMessage {
                operation: operation.to_string(),
                is_signal: signal,
                input: Some(input),
                id: request_id.clone(),
                parent_instance_id: if signal {
                    None
                } else {
                    Some(s.instance_id.clone())
                },
                parent_execution_id: if signal {
                    None
                } else {
                    Some(s.execution_id.clone())
                },
                timestamp: Some(timestamp),
                predecessor,
                scheduled_time: at,
                ..Default::default()
            };
            s.schedule(ActionKind::SendEvent {
                instance_id: entity.to_string(),
                name: request.event_name(),
                input: Some(request.to_json()),
                visible_at: at,
            });
            request_id
        }))
    }

    /// Waits for every task; outputs in argument order.
    pub fn all_of<F: std::future::Future>(
        &self,
        tasks: impl IntoIterator<Item = F>,
    ) -> futures::future::JoinAll<F> {
        all_of(tasks)
    }

    /// Waits for the first of several tasks (first in history order). Resolves to
    /// `(index, output, remaining_tasks)`.
    pub fn any_of<F: DurableFuture>(&self, tasks: impl IntoIterator<Item = F>) -> AnyOf<F> {
        any_of(tasks)
    }

    /// Races two tasks of different types.
    pub fn select2<A: DurableFuture, B: DurableFuture>(&self, a: A, b: B) -> Select2<A, B> {
        select2(a, b)
    }
}

/// The input goes in DurableTask's form, a one-element array (`activity_input`).
fn activity_action(name: &str, input: Option<String>) -> ActionKind {
    ActionKind::ScheduleTask {
        name: name.to_string(),
        version: None,
        input: input.map(|i| crate::core::activity_input::wrap(&i)),
    }
}

fn new_guid_in(s: &mut ExecutionState) -> Uuid {
    let n = s.next_guid_counter();
    let time = s
        .current_time
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    Uuid::new_v5(
        &GUID_NAMESPACE,
        format!("{}_{}_{}", s.instance_id, time, n).as_bytes(),
    )
}

/// The default instance id of a sub-orchestration: `{parent}:{first 8 characters of the parent's
/// execution id}:{task id:04}`. The execution part keeps ids unique across continue-as-new and
/// re-created parents, whose task ids start again at 0.
pub fn default_sub_orchestration_id(parent: &str, parent_execution: &str, task_id: i32) -> String {
    let exec: String = parent_execution.chars().take(8).collect();
    format!("{parent}:{exec}:{task_id:04}")
}

/// Schedules a sub-orchestration start; its first execution id is derived from the parent's ids.
fn schedule_sub_orchestration(
    s: &mut ExecutionState,
    name: &str,
    version: Option<String>,
    instance_id: Option<String>,
    input: &str,
) -> i32 {
    let id = s.next_id();
    let instance_id = instance_id
        .unwrap_or_else(|| default_sub_orchestration_id(&s.instance_id, &s.execution_id, id));
    let execution_id = Uuid::new_v5(
        &GUID_NAMESPACE,
        format!("{}_{}_{}", s.instance_id, s.execution_id, id).as_bytes(),
    )
    .simple()
    .to_string();
    s.actions.insert(
        id,
        crate::core::action::Action {
            id,
            kind: ActionKind::CreateSubOrchestration {
                name: name.to_string(),
                version: version.filter(|v| !v.is_empty()),
                instance_id,
                execution_id,
                input: Some(input.to_string()),
            },
            recorded: false,
        },
    );
    id
}
