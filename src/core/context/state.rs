//! The state one execution shares between its context, its tasks and the replay executor.
//!
//! The executor feeds history events in; the orchestrator's code (through the context and its
//! tasks) takes ids, records actions and consumes completions. Everything here is deterministic:
//! it depends only on the history and on the order in which the code asks for things.

use crate::core::entity::messages::SendOrder;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Waker;

use crate::core::action::{Action, ActionKind};
use crate::core::failure::FailureDetails;
use crate::core::history::{ParentInstance, Timestamp};
use crate::core::instance::EntityId;

/// What a completed task produced: its JSON result or its failure, and the history position of
/// the event that completed it (used to break any-of ties in history order).
#[derive(Debug, Clone)]
pub(crate) struct Completion {
    pub result: Result<Option<String>, FailureDetails>,
    pub position: u64,
}

/// An external event that has been raised but not yet consumed.
#[derive(Debug, Clone)]
pub(crate) struct RaisedEvent {
    pub name: String,
    pub input: Option<String>,
    pub position: u64,
}

/// Who a waker belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum WakeKey {
    Action(i32),
    Waiter(u64),
}

/// A pending `wait_for_external_event`.
#[derive(Debug)]
struct Waiter {
    id: u64,
    /// Lowercased: event names match case-insensitively, as in Durable Functions.
    name: String,
}

/// Request to start a new execution when this one returns.
#[derive(Debug, Clone)]
pub(crate) struct ContinueAsNewRequest {
    pub input: Option<String>,
    pub preserve_unprocessed_events: bool,
    /// The new execution's version (`None`: this one's).
    pub version: Option<String>,
}

/// Shared, mutable state of one execution.
#[derive(Debug)]
pub(crate) struct ExecutionState {
    pub instance_id: String,
    pub execution_id: String,
    pub name: String,
    pub version: Option<String>,
    pub input: Option<String>,
    pub parent: Option<ParentInstance>,
    /// The `ParentTraceContext` of the execution's `ExecutionStarted` (trace data only).
    pub trace: Option<crate::core::DistributedTraceContext>,
    pub tags: Option<String>,
    pub generation: Option<i32>,
    /// Time of the latest `OrchestratorStarted` event applied.
    pub current_time: Timestamp,
    pub is_replaying: bool,
    /// Position in history of the event being applied.
    pub position: u64,
    next_id: i32,
    /// Every action of this execution by id.
    pub actions: BTreeMap<i32, Action>,
    completions: HashMap<i32, Completion>,
    /// Ids whose completion has been delivered (to detect duplicates after it was consumed).
    completed: std::collections::HashSet<i32>,
    waiters: Vec<Waiter>,
    next_waiter: u64,
    delivered: HashMap<u64, RaisedEvent>,
    /// Raised events nobody waits for yet, in history order.
    pub buffered: VecDeque<RaisedEvent>,
    wakers: HashMap<WakeKey, Waker>,
    to_wake: Vec<Waker>,
    pub custom_status: Option<String>,
    pub continue_as_new: Option<ContinueAsNewRequest>,
    guid_counter: u64,
    /// The order of this execution's requests to each entity.
    pub entity_sends: SendOrder,
    /// The critical section this execution is in, if any.
    pub critical_section: Option<HeldLocks>,
    /// A rule the code broke that fails the execution at the end of the current poll (a rule
    /// broken by a call that returns no task, such as a signal).
    pub violation: Option<FailureDetails>,
}

/// The locks of a critical section, from the lock request until the release.
#[derive(Debug)]
pub(crate) struct HeldLocks {
    /// The lock request's id (the `id` of its release messages).
    pub id: String,
    /// The locked entities, in locking order.
    pub entities: Vec<EntityId>,
    /// True until the grant has been received.
    pub acquiring: bool,
    /// Locked entities with no call in flight (only those may be called).
    pub available: BTreeSet<EntityId>,
    /// Calls in flight to locked entities, by the waiter of their response.
    pub calls: HashMap<u64, EntityId>,
}

pub(crate) type SharedState = Arc<Mutex<ExecutionState>>;

/// Locks the state. A poisoned lock can only come from a panic in our own code while holding it;
/// the data is still consistent enough to report, so take it.
pub(crate) fn lock(state: &SharedState) -> MutexGuard<'_, ExecutionState> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

impl ExecutionState {
    pub fn new(instance_id: String, execution_id: String, name: String, now: Timestamp) -> Self {
        ExecutionState {
            instance_id,
            execution_id,
            name,
            version: None,
            input: None,
            parent: None,
            trace: None,
            tags: None,
            generation: None,
            current_time: now,
            is_replaying: false,
            position: 0,
            next_id: 0,
            actions: BTreeMap::new(),
            completions: HashMap::new(),
            completed: Default::default(),
            waiters: Vec::new(),
            next_waiter: 0,
            delivered: HashMap::new(),
            buffered: VecDeque::new(),
            wakers: HashMap::new(),
            to_wake: Vec::new(),
            custom_status: None,
            continue_as_new: None,
            guid_counter: 0,
            entity_sends: SendOrder::default(),
            critical_section: None,
            violation: None,
        }
    }

    /// Takes the next id of the per-execution counter.
    pub fn next_id(&mut self) -> i32 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Makes ids up to `id` taken (events recorded without the code that scheduled them).
    pub fn reserve_ids_through(&mut self, id: i32) {
        self.next_id = self.next_id.max(id.saturating_add(1));
    }

    /// Records a new action under the next id.
    pub fn schedule(&mut self, kind: ActionKind) -> i32 {
        let id = self.next_id();
        self.actions.insert(
            id,
            Action {
                id,
                kind,
                recorded: false,
            },
        );
        id
    }

    /// Stores a completion for `id` and wakes the task waiting for it. Returns false (and changes
    /// nothing) for a duplicate.
    pub fn complete(&mut self, id: i32, result: Result<Option<String>, FailureDetails>) -> bool {
        if !self.completed.insert(id) {
            return false;
        }
        let position = self.position;
        self.completions.insert(id, Completion { result, position });
        self.wake(WakeKey::Action(id));
        true
    }

    pub fn peek_completion(&self, id: i32) -> Option<&Completion> {
        self.completions.get(&id)
    }

    pub fn take_completion(&mut self, id: i32) -> Option<Completion> {
        self.completions.remove(&id)
    }

    /// Delivers a raised event to the oldest waiter for its name, or buffers it.
    pub fn raise_event(&mut self, name: String, input: Option<String>) {
        let event = RaisedEvent {
            name,
            input,
            position: self.position,
        };
        let lower = event.name.to_lowercase();
        if let Some(i) = self.waiters.iter().position(|w| w.name == lower) {
            let waiter = self.waiters.remove(i);
            // A call's response frees its locked entity for the next call.
            if let Some(cs) = &mut self.critical_section {
                if let Some(entity) = cs.calls.remove(&waiter.id) {
                    cs.available.insert(entity);
                }
            }
            self.delivered.insert(waiter.id, event);
            self.wake(WakeKey::Waiter(waiter.id));
        } else {
            self.buffered.push_back(event);
        }
    }

    /// Registers a wait for an event by name. Takes a buffered event at once when there is one.
    pub fn add_waiter(&mut self, name: &str) -> u64 {
        let id = self.next_waiter;
        self.next_waiter += 1;
        let lower = name.to_lowercase();
        if let Some(i) = self
            .buffered
            .iter()
            .position(|e| e.name.to_lowercase() == lower)
        {
            if let Some(event) = self.buffered.remove(i) {
                self.delivered.insert(id, event);
                return id;
            }
        }
        self.waiters.push(Waiter { id, name: lower });
        id
    }

    pub fn peek_delivered(&self, waiter: u64) -> Option<&RaisedEvent> {
        self.delivered.get(&waiter)
    }

    pub fn take_delivered(&mut self, waiter: u64) -> Option<RaisedEvent> {
        self.delivered.remove(&waiter)
    }

    /// A waiter was dropped before consuming its event: forget it, and put an event it had
    /// received back into the buffer (in history order) so a later wait can still take it.
    pub fn drop_waiter(&mut self, waiter: u64) {
        self.waiters.retain(|w| w.id != waiter);
        self.wakers.remove(&WakeKey::Waiter(waiter));
        if let Some(event) = self.delivered.remove(&waiter) {
            let at = self
                .buffered
                .iter()
                .position(|e| e.position > event.position)
                .unwrap_or(self.buffered.len());
            self.buffered.insert(at, event);
        }
    }

    pub fn register_waker(&mut self, key: WakeKey, waker: &Waker) {
        match self.wakers.get(&key) {
            Some(w) if w.will_wake(waker) => {}
            _ => {
                self.wakers.insert(key, waker.clone());
            }
        }
    }

    fn wake(&mut self, key: WakeKey) {
        if let Some(w) = self.wakers.remove(&key) {
            self.to_wake.push(w);
        }
    }

    /// Wakers to call once the lock is released.
    pub fn take_wakers(&mut self) -> Vec<Waker> {
        std::mem::take(&mut self.to_wake)
    }

    /// Next value of the counter behind `new_guid`.
    pub fn next_guid_counter(&mut self) -> u64 {
        let n = self.guid_counter;
        self.guid_counter += 1;
        n
    }

    /// True when an action with this id exists (was scheduled by the code).
    pub fn has_action(&self, id: i32) -> bool {
        self.actions.contains_key(&id)
    }

    /// True when the completion of this id has been applied already.
    pub fn has_completed(&self, id: i32) -> bool {
        self.completed.contains(&id)
    }
}
