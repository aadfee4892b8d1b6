//! The replay executor: runs an orchestrator over its history, one turn at a time.
//!
//! The orchestrator's future is created when `ExecutionStarted` is applied and is polled (on this
//! thread, with no runtime) after every event that wakes one of its tasks, in history order. A
//! task completes only when its completion event is applied, so every replay reaches the same
//! decisions at the same points. At the end of a turn, actions not yet recorded in history become
//! new history events and outbound messages.
//!
//! An executor can be kept between turns (the worker's orchestration cache): feeding it only the
//! new events of the next turn gives the same result as replaying the whole history into a fresh
//! executor, which is what tests check.

mod matcher;
mod poll;

use std::sync::{Arc, Mutex};

pub use matcher::NON_DETERMINISM_PREFIX;

use self::poll::{PollOutcome, RootWaker};
use super::action::{ActionKind, TaskMessage};
use super::context::release_locks;
use super::context::state::{lock, ExecutionState, SharedState};
use super::context::OrchestrationContext;
use super::failure::FailureDetails;
use super::history::{
    EventKind, HistoryEvent, OrchestrationInstance, OrchestrationStatus, Timestamp,
};
use super::registry::{OrchestratorFn, Registry};

/// How many times one turn may continue-as-new without waiting for anything.
const MAX_CONTINUE_AS_NEW_PER_TURN: usize = 100;

/// How the execution ended, once it has.
#[derive(Debug, Clone)]
enum Finished {
    Completed(String),
    Failed(FailureDetails),
    Terminated(Option<String>),
    ContinuedAsNew {
        input: Option<String>,
        preserve_events: bool,
        /// The new execution's version, when it changes.
        version: Option<String>,
    },
    /// History already records the end (a terminal instance replayed).
    Recorded(OrchestrationStatus),
}

/// The result of one turn.
#[derive(Debug, Clone)]
pub struct TurnResult {
    /// Events to append to history, in order: `OrchestratorStarted`, this turn's inbound events,
    /// the scheduling events of new actions, the completion if any, `OrchestratorCompleted`.
    pub new_events: Vec<HistoryEvent>,
    /// Set when the orchestration continued as new: `new_events` is then the whole history of
    /// the new execution, which replaces the old one from position 0.
    pub new_execution_id: Option<String>,
    /// Messages to send: activity requests, sub-orchestration starts, timers, events, and the
    /// result for a parent orchestration.
    pub messages: Vec<TaskMessage>,
    /// Status after the turn.
    pub status: OrchestrationStatus,
    /// The output (JSON) when completed, the reason when terminated.
    pub output: Option<String>,
    /// The failure when the turn failed the execution.
    pub failure: Option<FailureDetails>,
    /// Custom status as JSON text.
    pub custom_status: Option<String>,
    /// Things worth logging that did not fail the instance (duplicate or stray completions).
    pub warnings: Vec<String>,
}

impl TurnResult {
    fn empty(status: OrchestrationStatus) -> Self {
        TurnResult {
            new_events: Vec::new(),
            new_execution_id: None,
            messages: Vec::new(),
            status,
            output: None,
            failure: None,
            custom_status: None,
            warnings: Vec::new(),
        }
    }

    /// True when the turn ended the execution (completed, failed or terminated).
    pub fn is_terminal(&self) -> bool {
        self.status.is_terminal()
    }
}

/// Runs one orchestration instance's executions.
pub struct OrchestrationExecutor {
    registry: Arc<Registry>,
    state: Option<SharedState>,
    root: RootWaker,
    /// Events applied so far in the current execution (= history length).
    position: u64,
    replaying: bool,
    /// Time of the latest `OrchestratorStarted`, kept until the state exists.
    current_time: Option<Timestamp>,
    suspended: bool,
    held_while_suspended: Vec<HistoryEvent>,
    finished: Option<Finished>,
    non_deterministic: bool,
    /// During [`OrchestrationExecutor::run_turn_without_code`]: record events, run nothing.
    without_code: bool,
    /// The highest event id applied in this execution (ids a turn without code must not reuse).
    highest_event_id: i32,
    /// Inside the rows of an attempt a rewind cleared: from its first rewritten row to the
    /// rewritten `ExecutionCompleted`, the last row the failed attempt wrote.
    in_rewound_attempt: bool,
    /// History records the end of this execution (`ExecutionCompleted`, `ContinueAsNew`). A
    /// replay whose code ends without it (the end a rewind cleared, or code that now ends
    /// differently) is still running: its next turn records how it ends.
    completion_recorded: bool,
    warnings: Vec<String>,
}

impl OrchestrationExecutor {
    /// An executor that has run nothing yet: feed it a whole history, or start a new execution with
    /// its first turn.
    pub fn new(registry: Arc<Registry>) -> Self {
        OrchestrationExecutor {
            registry,
            state: None,
            root: RootWaker::new(),
            position: 0,
            replaying: false,
            current_time: None,
            suspended: false,
            held_while_suspended: Vec::new(),
            finished: None,
            non_deterministic: false,
            without_code: false,
            highest_event_id: -1,
            in_rewound_attempt: false,
            completion_recorded: false,
            warnings: Vec::new(),
        }
    }

    /// A fresh executor that has replayed `history` (the persisted history of the current
    /// execution).
    pub fn from_history(registry: Arc<Registry>, history: &[HistoryEvent]) -> Self {
        let mut ex = Self::new(registry);
        ex.replay(history);
        ex
    }

    /// Applies already-persisted events, with `is_replaying` true.
    pub fn replay(&mut self, history: &[HistoryEvent]) {
        self.replaying = true;
        for e in history {
            self.apply(e);
        }
        self.replaying = false;
    }

    /// Number of history events this executor has applied in the current execution.
    pub fn history_len(&self) -> u64 {
        self.position
    }

    /// The orchestrator name and version of the current execution, once started.
    pub fn orchestration(&self) -> Option<(String, String)> {
        let st = lock(self.state.as_ref()?);
        Some((st.name.clone(), st.version.clone().unwrap_or_default()))
    }

    /// The current execution's ids and `ParentTraceContext` (instance id, execution id, trace
    /// context), once started: what its spans hang from.
    pub fn trace_context(&self) -> Option<(String, String, crate::core::DistributedTraceContext)> {
        let st = lock(self.state.as_ref()?);
        let trace = st.trace.clone()?;
        Some((st.instance_id.clone(), st.execution_id.clone(), trace))
    }

    /// True once an `ExecutionStarted` has been applied.
    pub fn is_started(&self) -> bool {
        self.state.is_some()
    }

    /// The status the history applied so far implies.
    pub fn status(&self) -> OrchestrationStatus {
        match &self.finished {
            Some(
                Finished::Completed(_) | Finished::Failed(_) | Finished::ContinuedAsNew { .. },
            ) if !self.completion_recorded => {
                if self.suspended {
                    OrchestrationStatus::Suspended
                } else {
                    OrchestrationStatus::Running
                }
            }
            Some(Finished::Completed(_)) => OrchestrationStatus::Completed,
            Some(Finished::Failed(_)) => OrchestrationStatus::Failed,
            Some(Finished::Terminated(_)) => OrchestrationStatus::Terminated,
            Some(Finished::ContinuedAsNew { .. }) => OrchestrationStatus::ContinuedAsNew,
            Some(Finished::Recorded(s)) => *s,
            None if self.state.is_none() => OrchestrationStatus::Pending,
            None if self.suspended => OrchestrationStatus::Suspended,
            None => OrchestrationStatus::Running,
        }
    }

    /// True when an action with this id was scheduled by the code so far (a completion for it
    /// is then in order).
    pub fn has_scheduled(&self, id: i32) -> bool {
        self.state.as_ref().is_some_and(|s| lock(s).has_action(id))
    }

    /// True when the completion of task `id` has been applied already (a second one would be a
    /// duplicate delivery).
    pub fn has_completed(&self, id: i32) -> bool {
        self.state
            .as_ref()
            .is_some_and(|s| lock(s).has_completed(id))
    }

    /// Runs one turn: `new_events` are the events this turn's messages carry, `now` the turn's
    /// time, and `new_execution_id` makes the id of a new execution if the orchestration
    /// continues as new.
    pub fn run_turn(
        &mut self,
        now: Timestamp,
        new_events: Vec<HistoryEvent>,
        new_execution_id: &mut dyn FnMut() -> String,
    ) -> TurnResult {
        if let Some(Finished::Recorded(status)) = self.finished {
            return TurnResult::empty(status);
        }
        if self.completion_recorded {
            return TurnResult::empty(self.status());
        }
        let mut result = TurnResult::empty(OrchestrationStatus::Running);
        self.apply_turn(now, new_events, &mut result);
        let mut continued = 0;
        while let Some(Finished::ContinuedAsNew {
            input,
            preserve_events,
            version,
        }) = self.finished.clone()
        {
            continued += 1;
            if continued > MAX_CONTINUE_AS_NEW_PER_TURN {
                self.finished = Some(Finished::Failed(FailureDetails::new(
                    "ContinueAsNewLoop",
                    format!(
                        "the orchestrator continued as new {MAX_CONTINUE_AS_NEW_PER_TURN} times \
                         in one turn without waiting for anything"
                    ),
                )));
                self.close_turn(now, &mut result);
                break;
            }
            let next = NextExecution {
                input,
                preserve_events,
                version,
                execution_id: new_execution_id(),
            };
            self.start_new_execution(now, next, &mut result);
        }
        result.warnings = std::mem::take(&mut self.warnings);
        result
    }

    /// Runs a turn that records `new_events` without running any orchestrator code: the
    /// execution ends Terminated if they terminate it, else Failed with `failure`. For a worker
    /// that must not run the instance (a version it does not accept, a name it does not host)
    /// and is told to fail it rather than leave it for another worker.
    pub fn run_turn_without_code(
        &mut self,
        now: Timestamp,
        new_events: Vec<HistoryEvent>,
        failure: FailureDetails,
    ) -> TurnResult {
        if let Some(Finished::Recorded(status)) = self.finished {
            return TurnResult::empty(status);
        }
        // What the code did in replay is not trusted either (it may be another version's).
        self.finished = None;
        self.non_deterministic = false;
        self.without_code = true;
        let mut result = TurnResult::empty(OrchestrationStatus::Running);
        self.apply_new_events(now, new_events, &mut result);
        if self.finished.is_none() {
            self.finished = Some(Finished::Failed(failure));
        }
        if let Some(st) = &self.state {
            lock(st).reserve_ids_through(self.highest_event_id);
        }
        self.close_turn(now, &mut result);
        self.without_code = false;
        result.warnings = std::mem::take(&mut self.warnings);
        result
    }

    fn apply_turn(&mut self, now: Timestamp, events: Vec<HistoryEvent>, out: &mut TurnResult) {
        self.apply_new_events(now, events, out);
        self.close_turn(now, out);
    }

    /// Applies a turn's `OrchestratorStarted` and its new events, recording them in `out`.
    fn apply_new_events(
        &mut self,
        now: Timestamp,
        events: Vec<HistoryEvent>,
        out: &mut TurnResult,
    ) {
        let started = HistoryEvent::new(now, EventKind::OrchestratorStarted);
        self.apply(&started);
        out.new_events.push(started);
        for e in events {
            self.apply(&e);
            out.new_events.push(e);
        }
    }

    /// Replaces the finished execution by a new one and runs its first turn.
    fn start_new_execution(&mut self, now: Timestamp, next: NextExecution, out: &mut TurnResult) {
        let NextExecution {
            input,
            preserve_events,
            version,
            execution_id,
        } = next;
        let Some(state) = self.state.take() else {
            return;
        };
        let (started, carried) = {
            let mut st = lock(&state);
            let carried: Vec<HistoryEvent> = if preserve_events {
                st.buffered
                    .drain(..)
                    .map(|e| {
                        HistoryEvent::new(
                            now,
                            EventKind::EventRaised {
                                name: e.name,
                                input: e.input,
                            },
                        )
                    })
                    .collect()
            } else {
                Vec::new()
            };
            let mut started = HistoryEvent::new(
                now,
                EventKind::ExecutionStarted {
                    orchestration_instance: OrchestrationInstance::new(
                        st.instance_id.clone(),
                        Some(execution_id.clone()),
                    ),
                    name: st.name.clone(),
                    version: version.or_else(|| st.version.clone()),
                    input,
                    parent_instance: st.parent.clone(),
                    scheduled_start_time: None,
                    generation: st.generation,
                    tags: st.tags.clone(),
                },
            );
            // The new execution continues the trace the old one was part of, in a span of its
            // own (as DurableTask.Core's continue-as-new does).
            started.parent_trace_context = st.trace.as_ref().map(|t| t.for_next_execution());
            (started, carried)
        };
        // Timers of the old execution would only be dropped on arrival; other messages
        // (events, sub-orchestration starts, activities) still go out, as in DTFx.
        out.messages
            .retain(|m| !matches!(m.event.kind, EventKind::TimerFired { .. }));
        out.new_events.clear();
        out.new_execution_id = Some(execution_id);
        self.reset();
        let mut events = vec![started];
        events.extend(carried);
        self.apply_turn(now, events, out);
    }

    fn reset(&mut self) {
        self.state = None;
        self.root = RootWaker::new();
        self.position = 0;
        self.suspended = false;
        self.held_while_suspended.clear();
        self.finished = None;
        self.non_deterministic = false;
        self.highest_event_id = -1;
        self.in_rewound_attempt = false;
        self.completion_recorded = false;
    }

    /// Turns unrecorded actions into events and messages and records the turn's outcome.
    fn close_turn(&mut self, now: Timestamp, out: &mut TurnResult) {
        let Some(state) = self.state.clone() else {
            // No ExecutionStarted: nothing to run. The caller decides what to do with messages
            // for an instance that does not exist.
            out.status = OrchestrationStatus::Pending;
            out.new_events
                .push(HistoryEvent::new(now, EventKind::OrchestratorCompleted));
            return;
        };
        let mut st = lock(&state);
        let me = OrchestrationInstance::new(st.instance_id.clone(), Some(st.execution_id.clone()));
        let emit_actions = !self.non_deterministic
            && !self.without_code
            && !matches!(
                self.finished,
                Some(Finished::Terminated(_)) | Some(Finished::Recorded(_))
            );
        if matches!(self.finished, Some(Finished::Terminated(_))) && !self.without_code {
            // A terminated execution runs no more code, but releases the entities its
            // critical section holds (as the code would have on completion).
            let name = st.name.clone();
            for id in release_locks(&mut st) {
                if let Some(action) = st.actions.get_mut(&id) {
                    action.recorded = true;
                    out.new_events.push(action.kind.to_event(id, now));
                    out.messages
                        .push(action.kind.to_message(id, now, &me, &name));
                }
            }
        }
        if emit_actions {
            let name = st.name.clone();
            for action in st.actions.values_mut().filter(|a| !a.recorded) {
                action.recorded = true;
                out.new_events.push(action.kind.to_event(action.id, now));
                out.messages
                    .push(action.kind.to_message(action.id, now, &me, &name));
            }
        }
        out.custom_status = st.custom_status.clone();
        let completion = match self.finished.clone() {
            None | Some(Finished::Recorded(_)) => {
                out.status = self.status();
                None
            }
            Some(Finished::ContinuedAsNew { .. }) => {
                out.status = OrchestrationStatus::ContinuedAsNew;
                return;
            }
            Some(Finished::Completed(output)) => {
                out.status = OrchestrationStatus::Completed;
                out.output = Some(output.clone());
                Some((OrchestrationStatus::Completed, Some(output), None))
            }
            Some(Finished::Failed(f)) => {
                out.status = OrchestrationStatus::Failed;
                out.failure = Some(f.clone());
                Some((
                    OrchestrationStatus::Failed,
                    Some(f.error_message.clone()),
                    Some(f),
                ))
            }
            Some(Finished::Terminated(reason)) => {
                out.status = OrchestrationStatus::Terminated;
                out.output = reason.clone();
                Some((OrchestrationStatus::Terminated, reason, None))
            }
        };
        if let Some((status, result, failure)) = completion {
            let id = st.next_id();
            out.new_events.push(HistoryEvent::with_id(
                id,
                now,
                EventKind::ExecutionCompleted {
                    status,
                    result: result.clone(),
                    failure_details: failure.clone(),
                },
            ));
            if let Some(m) = parent_message(&st, now, status, result, failure) {
                out.messages.push(m);
            }
            self.finished = Some(Finished::Recorded(status));
        }
        drop(st);
        out.new_events
            .push(HistoryEvent::new(now, EventKind::OrchestratorCompleted));
    }

    /// Applies one history event and polls the orchestrator if the event woke it.
    fn apply(&mut self, event: &HistoryEvent) {
        let position = self.position;
        self.position += 1;
        self.highest_event_id = self.highest_event_id.max(event.event_id);
        if matches!(
            event.kind,
            EventKind::ExecutionCompleted { .. } | EventKind::ContinueAsNew { .. }
        ) {
            self.completion_recorded = true;
        }
        if let Some(finished) = &self.finished {
            // Events that arrive in the same turn after the code asked to continue as new may
            // be carried over to the new execution.
            if let (Finished::ContinuedAsNew { .. }, EventKind::EventRaised { name, input }) =
                (finished, &event.kind)
            {
                if let Some(st) = &self.state {
                    lock(st).raise_event(name.clone(), input.clone());
                }
            }
            return;
        }
        if let Some(st) = &self.state {
            lock(st).position = position;
        }
        if let Some(was) = event.kind.rewound() {
            self.in_rewound_attempt = was != "ExecutionCompleted";
            return;
        }
        if self.in_rewound_attempt && self.is_leftover_of_rewound_attempt(event) {
            return;
        }
        if self.without_code
            && !matches!(
                event.kind,
                EventKind::OrchestratorStarted
                    | EventKind::ExecutionStarted { .. }
                    | EventKind::ExecutionTerminated { .. }
            )
        {
            return;
        }
        match &event.kind {
            EventKind::OrchestratorStarted => {
                self.current_time = Some(event.timestamp);
                if let Some(st) = &self.state {
                    lock(st).current_time = event.timestamp;
                }
            }
            EventKind::ExecutionStarted { .. } => self.start(event, position),
            kind if kind.is_scheduling() => self.match_scheduled(event),
            EventKind::ExecutionSuspended { .. } => self.suspended = true,
            EventKind::ExecutionResumed { .. } => {
                self.suspended = false;
                for held in std::mem::take(&mut self.held_while_suspended) {
                    self.deliver(&held);
                    self.poll_if_woken();
                }
            }
            EventKind::ExecutionTerminated { input } => {
                self.finished = Some(Finished::Terminated(input.clone()));
            }
            EventKind::ExecutionCompleted { status, .. } => {
                self.finished = Some(Finished::Recorded(*status));
            }
            EventKind::ContinueAsNew { .. } => {
                self.finished = Some(Finished::Recorded(OrchestrationStatus::ContinuedAsNew));
            }
            EventKind::TaskCompleted { .. }
            | EventKind::TaskFailed { .. }
            | EventKind::SubOrchestrationInstanceCompleted { .. }
            | EventKind::SubOrchestrationInstanceFailed { .. }
            | EventKind::TimerFired { .. }
            | EventKind::EventRaised { .. } => {
                if self.suspended {
                    self.held_while_suspended.push(event.clone());
                } else {
                    self.deliver(event);
                }
            }
            _ => {}
        }
        self.poll_if_woken();
    }

    fn start(&mut self, event: &HistoryEvent, position: u64) {
        let EventKind::ExecutionStarted {
            orchestration_instance,
            name,
            version,
            input,
            parent_instance,
            generation,
            tags,
            ..
        } = &event.kind
        else {
            return;
        };
        if self.state.is_some() {
            self.warnings
                .push("a second ExecutionStarted was ignored".to_string());
            return;
        }
        let mut st = ExecutionState::new(
            orchestration_instance.instance_id.clone(),
            orchestration_instance
                .execution_id
                .clone()
                .unwrap_or_default(),
            name.clone(),
            self.current_time.unwrap_or(event.timestamp),
        );
        st.version = version.clone();
        st.input = input.clone();
        st.parent = parent_instance.clone();
        st.trace = event.parent_trace_context.clone();
        st.generation = *generation;
        st.tags = tags.clone();
        st.position = position;
        let state = Arc::new(Mutex::new(st));
        self.state = Some(state.clone());
        if self.without_code {
            return;
        }
        let version = version.as_deref().unwrap_or_default();
        let Some(f) = self.registry.orchestrator_version(name, version).cloned() else {
            let what = if version.is_empty() {
                format!("no orchestrator named '{name}' is registered")
            } else {
                format!("no orchestrator named '{name}' is registered for version {version}")
            };
            self.finished = Some(Finished::Failed(FailureDetails {
                is_non_retriable: true,
                ..FailureDetails::new(FailureDetails::ORCHESTRATOR_NOT_FOUND, what)
            }));
            return;
        };
        self.create_future(f, OrchestrationContext::new(state));
    }

    fn create_future(&mut self, f: OrchestratorFn, ctx: OrchestrationContext) {
        match poll::call_guarded(|| f(ctx)) {
            Ok(fut) => self.root.set_future(fut),
            Err(failure) => self.finished = Some(Finished::Failed(failure)),
        }
    }

    /// Inside a rewound attempt, the rows the failed attempt wrote after its failure that the
    /// code, re-running, has not (yet) asked for: a retry policy's timers and later attempts.
    /// DurableTask's own replay calls them non-deterministic, which is why it cannot rewind an
    /// activity called with retries; here they are skipped (scheduling rows the code does ask
    /// for, and completions of what it scheduled, still apply and are still checked).
    fn is_leftover_of_rewound_attempt(&self, event: &HistoryEvent) -> bool {
        let Some(state) = &self.state else {
            return false;
        };
        let st = lock(state);
        if event.kind.is_scheduling() {
            return !st.has_action(event.event_id);
        }
        match event.kind.completes_id() {
            Some(id) => !st.has_action(id),
            None => false,
        }
    }

    fn match_scheduled(&mut self, event: &HistoryEvent) {
        let Some(state) = &self.state else {
            return;
        };
        let outcome = matcher::match_scheduled(&mut lock(state), event);
        if let Err(failure) = outcome {
            self.non_deterministic = true;
            self.finished = Some(Finished::Failed(failure));
        }
    }

    /// Hands a completion or a raised event to the execution state.
    fn deliver(&mut self, event: &HistoryEvent) {
        let Some(state) = &self.state else {
            return;
        };
        let wakers = {
            let mut st = lock(state);
            if let Some(warning) = deliver_into(&mut st, event) {
                self.warnings.push(warning);
            }
            st.take_wakers()
        };
        for w in wakers {
            w.wake();
        }
    }

    fn poll_if_woken(&mut self) {
        if self.finished.is_some() {
            return;
        }
        if let Some(state) = &self.state {
            lock(state).is_replaying = self.replaying;
        }
        let outcome = self.root.poll_while_woken();
        let broken = self.state.as_ref().and_then(|s| lock(s).violation.take());
        if let Some(state) = &self.state {
            // The execution ends: whatever critical section it is in ends with it.
            if broken.is_some() || !matches!(outcome, PollOutcome::Pending) {
                release_locks(&mut lock(state));
            }
        }
        if let Some(failure) = broken {
            self.finished = Some(Finished::Failed(failure));
            return;
        }
        match outcome {
            PollOutcome::Pending => {}
            PollOutcome::Ready(Ok(output)) => {
                let can = self
                    .state
                    .as_ref()
                    .and_then(|s| lock(s).continue_as_new.take());
                self.finished = Some(match can {
                    Some(c) => Finished::ContinuedAsNew {
                        input: c.input,
                        preserve_events: c.preserve_unprocessed_events,
                        version: c.version,
                    },
                    None => Finished::Completed(output),
                });
            }
            PollOutcome::Ready(Err(failure)) => self.finished = Some(Finished::Failed(failure)),
        }
    }
}

/// What a continue-as-new starts.
struct NextExecution {
    input: Option<String>,
    preserve_events: bool,
    version: Option<String>,
    execution_id: String,
}

/// Applies a completion or raised event to the state; returns a warning when it was ignored.
fn deliver_into(st: &mut ExecutionState, event: &HistoryEvent) -> Option<String> {
    let (id, result, expected): (i32, Result<Option<String>, FailureDetails>, &str) =
        match &event.kind {
            EventKind::EventRaised { name, input } => {
                st.raise_event(name.clone(), input.clone());
                return None;
            }
            EventKind::TaskCompleted {
                task_scheduled_id,
                result,
            } => (*task_scheduled_id, Ok(result.clone()), "activity"),
            EventKind::TaskFailed {
                task_scheduled_id,
                reason,
                details,
                failure_details,
            } => (
                *task_scheduled_id,
                Err(failure_of(reason, details, failure_details, "TaskFailed")),
                "activity",
            ),
            EventKind::SubOrchestrationInstanceCompleted {
                task_scheduled_id,
                result,
            } => (*task_scheduled_id, Ok(result.clone()), "sub-orchestration"),
            EventKind::SubOrchestrationInstanceFailed {
                task_scheduled_id,
                reason,
                details,
                failure_details,
            } => (
                *task_scheduled_id,
                Err(failure_of(
                    reason,
                    details,
                    failure_details,
                    "SubOrchestrationFailed",
                )),
                "sub-orchestration",
            ),
            EventKind::TimerFired { timer_id, .. } => (*timer_id, Ok(None), "timer"),
            _ => return None,
        };
    let kind_matches = match st.actions.get(&id).map(|a| &a.kind) {
        Some(ActionKind::ScheduleTask { .. }) => expected == "activity",
        Some(ActionKind::CreateSubOrchestration { .. }) => expected == "sub-orchestration",
        Some(ActionKind::CreateTimer { .. }) => expected == "timer",
        Some(ActionKind::SendEvent { .. }) | None => false,
    };
    let what = event.event_type();
    if !kind_matches {
        return Some(format!(
            "{what} for id {id} ignored: no {expected} was scheduled with that id"
        ));
    }
    if !st.complete(id, result) {
        return Some(format!("duplicate {what} for id {id} ignored"));
    }
    None
}

/// The failure a TaskFailed / SubOrchestrationInstanceFailed event carries.
fn failure_of(
    reason: &Option<String>,
    details: &Option<String>,
    failure_details: &Option<FailureDetails>,
    default_type: &str,
) -> FailureDetails {
    failure_details.clone().unwrap_or_else(|| FailureDetails {
        stack_trace: details.clone(),
        ..FailureDetails::new(default_type, reason.clone().unwrap_or_default())
    })
}

/// The message that tells a parent orchestration how its sub-orchestration ended.
fn parent_message(
    st: &ExecutionState,
    now: Timestamp,
    status: OrchestrationStatus,
    result: Option<String>,
    failure: Option<FailureDetails>,
) -> Option<TaskMessage> {
    let parent = st.parent.as_ref()?;
    let id = parent.task_schedule_id;
    let kind = match status {
        OrchestrationStatus::Completed => EventKind::SubOrchestrationInstanceCompleted {
            task_scheduled_id: id,
            result,
        },
        _ => {
            let failure = failure.unwrap_or_else(|| {
                FailureDetails::new(
                    status.as_str(),
                    format!(
                        "sub-orchestration '{}' was {}: {}",
                        st.instance_id,
                        status.as_str().to_lowercase(),
                        result.clone().unwrap_or_default()
                    ),
                )
            });
            EventKind::SubOrchestrationInstanceFailed {
                task_scheduled_id: id,
                reason: Some(failure.error_message.clone()),
                details: None,
                failure_details: Some(failure),
            }
        }
    };
    Some(TaskMessage {
        instance: parent.orchestration_instance.clone(),
        event: HistoryEvent::new(now, kind),
        visible_at: None,
    })
}
