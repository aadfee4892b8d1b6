//! Test support for the replay engine, with no storage: a [`HistoryBuilder`] for handcrafted
//! histories and an [`InMemoryHost`] that plays the worker's part (delivering messages, running
//! activities and entity batches, firing timers on a virtual clock) so whole orchestrations can
//! run in memory.
//!
//! The host is a test double of the *worker loop*, not of storage: it exists so core behaviour can
//! be tested exhaustively and fast; everything above core is tested against a real Azurite.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use time::macros::datetime;

use super::action::TaskMessage;
use super::entity::{run_entity_batch, EntityState};
use super::failure::FailureDetails;
use super::history::{
    EventKind, HistoryEvent, HistorySummary, OrchestrationInstance, OrchestrationStatus,
    ParentInstance, Timestamp,
};
use super::registry::{ActivityContext, Registry};
use super::replay::{OrchestrationExecutor, TurnResult};
use super::rewind::{self, RowView};

/// The time handcrafted histories start at.
pub const T0: Timestamp = datetime!(2024-05-01 10:00:00 UTC);

/// Builds a history event by event. Each method appends one event and returns the builder;
/// time advances by one second at every `orchestrator_started`.
///
/// ```text
/// HistoryBuilder::new("i", "Orch", Some("1"))      0 OrchestratorStarted, 1 ExecutionStarted
///     .task_scheduled(0, "A", None)                2 TaskScheduled id 0
///     .orchestrator_completed()                    3 OrchestratorCompleted
///     .orchestrator_started()                      4 OrchestratorStarted
///     .task_completed(0, "\"a\"")                  5 TaskCompleted of 0
/// ```
#[derive(Debug, Clone)]
pub struct HistoryBuilder {
    events: Vec<HistoryEvent>,
    now: Timestamp,
    instance_id: String,
}

impl HistoryBuilder {
    /// Starts a history with `OrchestratorStarted` and `ExecutionStarted` (execution id `e1`).
    pub fn new(instance_id: &str, name: &str, input: Option<&str>) -> Self {
        let mut b = HistoryBuilder {
            events: Vec::new(),
            now: T0,
            instance_id: instance_id.to_string(),
        };
        b.push(-1, EventKind::OrchestratorStarted);
        b.push(-1, execution_started(instance_id, "e1", name, input, None));
        b
    }

    fn push(&mut self, id: i32, kind: EventKind) {
        self.events.push(HistoryEvent::with_id(id, self.now, kind));
    }

    /// The time of the builder's next event (it advances by one second at each
    /// `orchestrator_started`).
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// The instance id the history belongs to.
    pub fn instance_id(&self) -> &str {
        &self.instance_id
    }

    /// Appends `OrchestratorStarted`, one second after the previous one.
    pub fn orchestrator_started(mut self) -> Self {
        self.now += time::Duration::seconds(1);
        self.push(-1, EventKind::OrchestratorStarted);
        self
    }

    /// Appends `OrchestratorCompleted`.
    pub fn orchestrator_completed(mut self) -> Self {
        self.push(-1, EventKind::OrchestratorCompleted);
        self
    }

    /// Appends `TaskScheduled` with task id `id`.
    pub fn task_scheduled(mut self, id: i32, name: &str, input: Option<&str>) -> Self {
        self.push(
            id,
            EventKind::TaskScheduled {
                name: name.into(),
                version: None,
                input: input.map(Into::into),
            },
        );
        self
    }

    /// Appends `TaskCompleted` of task `id` with `result` (JSON text).
    pub fn task_completed(mut self, id: i32, result: &str) -> Self {
        self.push(-1, task_completed(id, result));
        self
    }

    /// Appends `TaskFailed` of task `id` with failure details of `error_type` and `message`.
    pub fn task_failed(mut self, id: i32, error_type: &str, message: &str) -> Self {
        self.push(-1, task_failed(id, error_type, message));
        self
    }

    /// Appends `TimerCreated` with timer id `id`, due at `fire_at`.
    pub fn timer_created(mut self, id: i32, fire_at: Timestamp) -> Self {
        self.push(id, EventKind::TimerCreated { fire_at });
        self
    }

    /// Appends `TimerFired` of timer `id`.
    pub fn timer_fired(mut self, id: i32, fire_at: Timestamp) -> Self {
        self.push(
            -1,
            EventKind::TimerFired {
                timer_id: id,
                fire_at,
            },
        );
        self
    }

    /// Appends `EventRaised` named `name` with `input` (JSON text).
    pub fn event_raised(mut self, name: &str, input: &str) -> Self {
        self.push(-1, event_raised(name, input));
        self
    }

    /// Appends `SubOrchestrationInstanceCreated` with task id `id` for child `instance_id` (no
    /// input).
    pub fn sub_orchestration_created(mut self, id: i32, name: &str, instance_id: &str) -> Self {
        self.push(
            id,
            EventKind::SubOrchestrationInstanceCreated {
                name: name.into(),
                version: None,
                instance_id: instance_id.into(),
                input: None,
            },
        );
        self
    }

    /// Appends `SubOrchestrationInstanceCompleted` of task `id` with `result` (JSON text).
    pub fn sub_orchestration_completed(mut self, id: i32, result: &str) -> Self {
        self.push(
            -1,
            EventKind::SubOrchestrationInstanceCompleted {
                task_scheduled_id: id,
                result: Some(result.into()),
            },
        );
        self
    }

    /// Appends any event kind, with `id` as its `EventId`.
    pub fn event(mut self, id: i32, kind: EventKind) -> Self {
        self.push(id, kind);
        self
    }

    /// The history built so far.
    pub fn build(self) -> Vec<HistoryEvent> {
        self.events
    }
}

/// An `ExecutionStarted` event kind.
pub fn execution_started(
    instance_id: &str,
    execution_id: &str,
    name: &str,
    input: Option<&str>,
    parent: Option<ParentInstance>,
) -> EventKind {
    EventKind::ExecutionStarted {
        orchestration_instance: OrchestrationInstance::new(
            instance_id,
            Some(execution_id.to_string()),
        ),
        name: name.into(),
        version: None,
        input: input.map(Into::into),
        parent_instance: parent,
        scheduled_start_time: None,
        generation: None,
        tags: None,
    }
}

/// A `TaskCompleted` event kind for task `id`.
pub fn task_completed(id: i32, result: &str) -> EventKind {
    EventKind::TaskCompleted {
        task_scheduled_id: id,
        result: Some(result.into()),
    }
}

/// A `TaskFailed` event kind for task `id`, with `message` as the reason.
pub fn task_failed(id: i32, error_type: &str, message: &str) -> EventKind {
    EventKind::TaskFailed {
        task_scheduled_id: id,
        reason: Some(message.into()),
        details: None,
        failure_details: Some(FailureDetails::new(error_type, message)),
    }
}

/// An `EventRaised` event kind.
pub fn event_raised(name: &str, input: &str) -> EventKind {
    EventKind::EventRaised {
        name: name.into(),
        input: Some(input.into()),
    }
}

/// A small deterministic random generator (xorshift64*) for shuffling deliveries in tests.
#[derive(Debug, Clone)]
pub struct TestRng(u64);

impl TestRng {
    /// A generator seeded with `seed` (0 is taken as 1, since xorshift never leaves 0).
    pub fn new(seed: u64) -> Self {
        TestRng(seed.max(1))
    }

    /// The next pseudo-random number.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// Shuffles `v` in place (Fisher–Yates).
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
    }
}

/// One instance as the in-memory host keeps it.
#[derive(Default)]
struct HostedInstance {
    history: Vec<HistoryEvent>,
    executor: Option<OrchestrationExecutor>,
    turns: usize,
}

/// How the host delivers messages.
#[derive(Debug, Clone)]
pub struct HostOptions {
    /// Keep executors between turns (the worker's cache) instead of replaying from scratch.
    pub cache_executors: bool,
    /// Shuffle deliverable messages with this seed; `None` keeps send order.
    pub shuffle_seed: Option<u64>,
    /// Most messages of one instance handled in one turn.
    pub max_batch: usize,
}

impl Default for HostOptions {
    fn default() -> Self {
        HostOptions {
            cache_executors: true,
            shuffle_seed: None,
            max_batch: 32,
        }
    }
}

/// Runs orchestrations in memory: the worker's loop without storage.
pub struct InMemoryHost {
    registry: Arc<Registry>,
    options: HostOptions,
    rng: TestRng,
    clock: Timestamp,
    queue: VecDeque<TaskMessage>,
    instances: BTreeMap<String, HostedInstance>,
    execution_counter: u64,
    /// Every turn result, in order, for assertions.
    pub turn_log: Vec<(String, TurnResult)>,
}

impl InMemoryHost {
    /// A host with no instances, its clock at [`T0`].
    pub fn new(registry: Registry, options: HostOptions) -> Self {
        let rng = TestRng::new(options.shuffle_seed.unwrap_or(1));
        InMemoryHost {
            registry: Arc::new(registry),
            options,
            rng,
            clock: T0,
            queue: VecDeque::new(),
            instances: BTreeMap::new(),
            execution_counter: 0,
            turn_log: Vec::new(),
        }
    }

    /// The host's virtual clock.
    pub fn now(&self) -> Timestamp {
        self.clock
    }

    /// Enqueues the start of an orchestration.
    pub fn start(&mut self, name: &str, instance_id: &str, input: Option<&str>) {
        self.start_version(name, instance_id, input, None);
    }

    /// Enqueues the start of an orchestration with a version.
    pub fn start_version(
        &mut self,
        name: &str,
        instance_id: &str,
        input: Option<&str>,
        version: Option<&str>,
    ) {
        let exec = self.next_execution_id();
        let mut started = execution_started(instance_id, &exec, name, input, None);
        if let EventKind::ExecutionStarted { version: v, .. } = &mut started {
            *v = version.map(str::to_string);
        }
        self.queue.push_back(TaskMessage {
            instance: OrchestrationInstance::new(instance_id, Some(exec.clone())),
            event: HistoryEvent::new(self.clock, started),
            visible_at: None,
        });
    }

    /// Enqueues an event for an instance (a client's raise-event, terminate, suspend...).
    pub fn send(&mut self, instance_id: &str, kind: EventKind) {
        self.queue.push_back(TaskMessage {
            instance: OrchestrationInstance::new(instance_id, None),
            event: HistoryEvent::new(self.clock, kind),
            visible_at: None,
        });
    }

    /// Rewinds a Failed instance as a task hub does ([`crate::core::rewind`]): the failed
    /// attempt's events are cleared from its history and its failed sub-orchestrations', and
    /// the deepest failed instances are sent the wake-up event (`reason` as its data).
    pub fn rewind(&mut self, instance_id: &str, reason: Option<&str>) {
        let mut leaves = Vec::new();
        let mut todo = vec![instance_id.to_string()];
        while let Some(id) = todo.pop() {
            let Some(inst) = self.instances.get_mut(&id) else {
                continue;
            };
            let plan = {
                let views: Vec<RowView<'_>> = inst.history.iter().map(RowView::of).collect();
                rewind::plan(&views)
            };
            rewind::apply(&mut inst.history, &plan);
            inst.executor = None;
            if !plan.failed_children {
                leaves.push(id);
            }
            todo.extend(plan.children);
        }
        for leaf in leaves {
            let wake = EventKind::GenericEvent {
                data: reason.map(str::to_string),
                reason: None,
            };
            self.send(&leaf, wake);
        }
    }

    fn next_execution_id(&mut self) -> String {
        self.execution_counter += 1;
        format!("exec{}", self.execution_counter)
    }

    /// The history of an instance (empty when it does not exist).
    pub fn history(&self, instance_id: &str) -> &[HistoryEvent] {
        self.instances
            .get(instance_id)
            .map(|i| i.history.as_slice())
            .unwrap_or(&[])
    }

    /// The summary of an instance's history.
    pub fn summary(&self, instance_id: &str) -> HistorySummary {
        HistorySummary::of(self.history(instance_id))
    }

    /// The status of an instance, `None` when it does not exist.
    pub fn status(&self, instance_id: &str) -> Option<OrchestrationStatus> {
        self.summary(instance_id).status
    }

    /// How many turns the instance has run.
    pub fn turns(&self, instance_id: &str) -> usize {
        self.instances.get(instance_id).map_or(0, |i| i.turns)
    }

    /// Delivers messages until none is left that is visible now; then, if timers wait, moves
    /// the clock to the earliest and goes on. Stops after `max_steps` deliveries.
    pub fn run(&mut self, max_steps: usize) {
        self.run_inner(max_steps, true);
    }

    /// Delivers messages that are visible now, without moving the clock to pending timers.
    pub fn run_ready(&mut self) {
        self.run_inner(usize::MAX, false);
    }

    fn run_inner(&mut self, max_steps: usize, advance_clock: bool) {
        let mut steps = 0;
        while steps < max_steps {
            self.clock += time::Duration::milliseconds(1);
            let (mut ready, later): (Vec<_>, Vec<_>) = self
                .queue
                .drain(..)
                .partition(|m| m.visible_at.is_none_or(|t| t <= self.clock));
            self.queue.extend(later);
            if ready.is_empty() {
                match self.queue.iter().filter_map(|m| m.visible_at).min() {
                    Some(t) if advance_clock => {
                        self.clock = t;
                        continue;
                    }
                    _ => return,
                }
            }
            if self.options.shuffle_seed.is_some() {
                self.rng.shuffle(&mut ready);
            }
            steps += ready.len();
            self.deliver(ready);
        }
    }

    fn deliver(&mut self, messages: Vec<TaskMessage>) {
        let mut per_instance: BTreeMap<String, Vec<HistoryEvent>> = BTreeMap::new();
        for m in messages {
            if m.is_activity_request() {
                let response = self.run_activity(&m);
                self.queue.push_back(response);
            } else {
                per_instance
                    .entry(m.instance.instance_id.clone())
                    .or_default()
                    .push(m.event);
            }
        }
        for (id, events) in per_instance {
            let mut events = VecDeque::from(events);
            while !events.is_empty() {
                let take = if self.options.shuffle_seed.is_some() {
                    1 + self.rng.below(self.options.max_batch.min(events.len()))
                } else {
                    self.options.max_batch.min(events.len())
                };
                let batch: Vec<_> = events.drain(..take).collect();
                self.turn(&id, batch);
            }
        }
    }

    fn run_activity(&mut self, m: &TaskMessage) -> TaskMessage {
        let EventKind::TaskScheduled { name, input, .. } = &m.event.kind else {
            unreachable!("only activity requests are run as activities")
        };
        let ctx = ActivityContext {
            instance_id: m.instance.instance_id.clone(),
            execution_id: m.instance.execution_id.clone(),
            name: name.clone(),
            task_id: m.event.event_id,
        };
        let result = futures::executor::block_on(self.registry.run_activity(ctx, input.clone()));
        let kind = match result {
            Ok(r) => EventKind::TaskCompleted {
                task_scheduled_id: m.event.event_id,
                result: Some(r),
            },
            Err(f) => EventKind::TaskFailed {
                task_scheduled_id: m.event.event_id,
                reason: Some(f.error_message.clone()),
                details: None,
                failure_details: Some(f),
            },
        };
        TaskMessage {
            instance: m.instance.clone(),
            event: HistoryEvent::new(self.clock, kind),
            visible_at: None,
        }
    }

    /// The stored state of an entity (`None` when it has none), as the worker reads it.
    pub fn entity_state(&self, entity: &crate::core::instance::EntityId) -> Option<String> {
        let stored = self.entity_state_of(&entity.to_string());
        EntityState::from_input(stored.as_deref()).ok()?.state
    }

    /// One batch of an entity, as the worker runs it: the state comes from the last batch's
    /// `ExecutionStarted` input, and the batch replaces the history.
    fn entity_turn(&mut self, instance_id: &str, events: Vec<HistoryEvent>) {
        let stored = self.entity_state_of(instance_id);
        let state = EntityState::from_input(stored.as_deref()).unwrap_or_default();
        self.execution_counter += 1;
        let (result, _) = run_entity_batch(
            &self.registry,
            instance_id,
            state,
            &events,
            self.clock,
            format!("exec{}", self.execution_counter),
        );
        let inst = self.instances.entry(instance_id.to_string()).or_default();
        inst.history = result.new_events.clone();
        inst.turns += 1;
        self.queue.extend(result.messages.iter().cloned());
        self.turn_log.push((instance_id.to_string(), result));
    }

    fn entity_state_of(&self, instance_id: &str) -> Option<String> {
        self.history(instance_id)
            .iter()
            .find_map(|e| match &e.kind {
                EventKind::ExecutionStarted { input, .. } => input.clone(),
                _ => None,
            })
    }

    /// One turn for one instance, as the worker would run it.
    fn turn(&mut self, instance_id: &str, events: Vec<HistoryEvent>) {
        if crate::core::instance::is_entity_instance(instance_id) {
            return self.entity_turn(instance_id, events);
        }
        let starts_new = events
            .iter()
            .any(|e| matches!(e.kind, EventKind::ExecutionStarted { .. }));
        let registry = self.registry.clone();
        let cache = self.options.cache_executors;
        let inst = self.instances.entry(instance_id.to_string()).or_default();
        let summary = HistorySummary::of(&inst.history);
        if summary.status.is_none() && !starts_new {
            return; // no such instance: the worker drops such messages
        }
        if summary.status.is_some_and(|s| s.is_terminal()) {
            if !starts_new {
                return; // finished: messages are dropped
            }
            // A new start of a finished instance begins a new execution.
            inst.history.clear();
            inst.executor = None;
        }
        let mut executor = match inst.executor.take() {
            Some(ex) if cache => ex,
            _ => OrchestrationExecutor::from_history(registry, &inst.history),
        };
        let mut counter = self.execution_counter;
        let mut ids = || {
            counter += 1;
            format!("exec{counter}")
        };
        let result = executor.run_turn(self.clock, events, &mut ids);
        self.execution_counter = counter;
        if result.new_execution_id.is_some() {
            inst.history = result.new_events.clone();
        } else {
            inst.history.extend(result.new_events.iter().cloned());
        }
        inst.turns += 1;
        if cache {
            inst.executor = Some(executor);
        }
        self.queue.extend(result.messages.iter().cloned());
        self.turn_log.push((instance_id.to_string(), result));
    }
}

/// Canned histories of long runs, for replay tests and the replay benchmark, with the registry
/// that replays them: `Seq` (activities one after another, summing their results) and `Fan`
/// (activities all at once, summed).
pub mod canned {
    use super::{HistoryBuilder, HistoryEvent};
    use crate::core::{Failure, OrchestrationContext, Registry};

    /// A registry with the orchestrators `Seq` and `Fan` that the canned histories replay (no
    /// `Step` activity: replay does not run activities).
    pub fn registry() -> Registry {
        let mut r = Registry::new();
        r.add_orchestrator("Seq", |ctx: OrchestrationContext| async move {
            let n: i64 = ctx.input()?;
            let mut sum = 0;
            for i in 0..n {
                let v: i64 = ctx.call_activity("Step", i).await?;
                sum += v;
            }
            Ok::<_, Failure>(sum)
        });
        r.add_orchestrator("Fan", |ctx: OrchestrationContext| async move {
            let n: i64 = ctx.input()?;
            let all = ctx
                .all_of((0..n).map(|i| ctx.call_activity::<i64>("Step", i)))
                .await;
            Ok::<_, Failure>(
                all.into_iter()
                    .collect::<Result<Vec<_>, _>>()?
                    .iter()
                    .sum::<i64>(),
            )
        });
        r
    }

    /// `n` sequential activities, all but the last completed: 2 + 4n - 1 events.
    pub fn sequential_history(n: i32) -> Vec<HistoryEvent> {
        let mut b = HistoryBuilder::new("inst", "Seq", Some(&n.to_string()));
        for i in 0..n {
            b = b
                .task_scheduled(i, "Step", None)
                .orchestrator_completed()
                .orchestrator_started();
            if i + 1 < n {
                b = b.task_completed(i, &i.to_string());
            }
        }
        b.build()
    }

    /// `n` activities scheduled at once and all but the last completed: 2n + 3 events.
    pub fn fan_out_history(n: i32) -> Vec<HistoryEvent> {
        let mut b = HistoryBuilder::new("inst", "Fan", Some(&n.to_string()));
        for i in 0..n {
            b = b.task_scheduled(i, "Step", None);
        }
        b = b.orchestrator_completed().orchestrator_started();
        for i in 0..n - 1 {
            b = b.task_completed(i, &i.to_string());
        }
        b.build()
    }
}
