//! Critical sections: an orchestration locks a set of entities, calls only those entities while
//! it holds them, and releases them, in the reference's message format, so a .NET orchestration
//! and a taskhub one exclude each other on shared entities.
//!
//! The lock request goes to the first entity of the sorted lock set; each entity, once it grants
//! its lock, passes the request to the next, and the last answers the orchestration (one fixed
//! order for everyone, so two critical sections cannot deadlock). Inside, the reference's rules
//! hold: no nested critical section, no sub-orchestration, calls only to locked entities with no
//! other call to the same entity in flight, no signals to locked entities. Locks are released by
//! [`CriticalSection::release`], by dropping the guard, and in any case when the execution ends
//! (completes, fails, continues as new or is terminated).

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::state::{lock, ExecutionState, HeldLocks, SharedState};
use super::tasks::{DurableFuture, Inner, RawTask};
use super::{new_guid_in, OrchestrationContext};
use crate::core::action::ActionKind;
use crate::core::entity::messages::{LockedEntity, ReleaseMessage, RequestMessage, RELEASE_EVENT};
use crate::core::failure::{FailureDetails, TaskError, TaskKind};
use crate::core::instance::EntityId;

/// A rule of critical sections broken by the orchestration's code.
pub(crate) fn violation(message: &str) -> FailureDetails {
    FailureDetails {
        is_non_retriable: true,
        ..FailureDetails::new(FailureDetails::LOCKING_RULES, message)
    }
}

/// The lock request of a critical section; resolves to the [`CriticalSection`] once every
/// entity has granted its lock.
#[must_use = "the locks are held only once the lock task is awaited"]
pub struct LockTask {
    raw: RawTask,
    state: SharedState,
}

impl Future for LockTask {
    type Output = Result<CriticalSection, TaskError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        match this.raw.poll_raw(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(details)) => Poll::Ready(Err(this.raw.error(details))),
            Poll::Ready(Ok(_)) => {
                let mut st = lock(&this.state);
                if let Some(cs) = &mut st.critical_section {
                    cs.acquiring = false;
                    cs.available = cs.entities.iter().cloned().collect();
                }
                Poll::Ready(Ok(CriticalSection {
                    state: this.state.clone(),
                    released: false,
                }))
            }
        }
    }
}

impl DurableFuture for LockTask {
    fn ready_position(&mut self) -> Option<u64> {
        self.raw.ready_position()
    }
}

/// The locks of a critical section, held until [`release`](Self::release), the guard is
/// dropped, or the execution ends.
pub struct CriticalSection {
    state: SharedState,
    released: bool,
}

impl CriticalSection {
    /// The locked entities, in locking order.
    pub fn entities(&self) -> Vec<EntityId> {
        lock(&self.state)
            .critical_section
            .as_ref()
            .map(|cs| cs.entities.clone())
            .unwrap_or_default()
    }

    /// Releases every lock now (the entities run other callers' operations again).
    pub fn release(mut self) {
        self.release_now();
    }

    fn release_now(&mut self) {
        if !self.released {
            self.released = true;
            release_locks(&mut lock(&self.state));
        }
    }
}

impl Drop for CriticalSection {
    fn drop(&mut self) {
        self.release_now();
    }
}

impl std::fmt::Debug for CriticalSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CriticalSection")
            .field("entities", &self.entities())
            .field("released", &self.released)
            .finish()
    }
}

impl OrchestrationContext {
    /// Locks `entities` for a critical section. Await the task to hold them; then only those
    /// entities may be called (one call in flight per entity), none of them signalled, and no
    /// sub-orchestration started, until the locks are released.
    pub fn lock_entities(&self, entities: &[EntityId]) -> LockTask {
        let what = "lock request".to_string();
        let inner = self.with(|s| match request_locks(s, entities) {
            Ok(waiter) => Inner::Event {
                waiter,
                entity_response: true,
            },
            Err(f) => Inner::Immediate(Some(Err(f))),
        });
        LockTask {
            raw: RawTask::new(self.state.clone(), inner, TaskKind::Entity, what),
            state: self.state.clone(),
        }
    }

    /// True while this execution holds (or is acquiring) the locks of a critical section.
    pub fn is_in_critical_section(&self) -> bool {
        self.with(|s| s.critical_section.is_some())
    }
}

/// Sends the lock request to the first entity of the sorted lock set; returns the waiter of
/// the grant.
fn request_locks(s: &mut ExecutionState, entities: &[EntityId]) -> Result<u64, FailureDetails> {
    if s.critical_section.is_some() {
        return Err(violation(
            "Must not enter another critical section from within a critical section.",
        ));
    }
    // One global order (name, then key, ordinal) and no duplicates: no deadlocks.
    let sorted: Vec<EntityId> = entities
        .iter()
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let Some(first) = sorted.first() else {
        return Err(violation(
            "A critical section needs at least one entity to lock.",
        ));
    };
    let id = new_guid_in(s).to_string();
    let target = first.to_string();
    let (timestamp, predecessor) = s.entity_sends.stamp(&target, s.current_time);
    let request = RequestMessage {
        id: id.clone(),
        parent_instance_id: Some(s.instance_id.clone()),
        parent_execution_id: Some(s.execution_id.clone()),
        timestamp: Some(timestamp),
        predecessor,
        lock_set: Some(sorted.iter().map(LockedEntity::from).collect()),
        ..Default::default()
    };
    s.schedule(ActionKind::SendEvent {
        instance_id: target,
        name: request.event_name(),
        input: Some(request.to_json()),
        visible_at: None,
    });
    let waiter = s.add_waiter(&id);
    s.critical_section = Some(HeldLocks {
        id,
        entities: sorted,
        acquiring: true,
        available: BTreeSet::new(),
        calls: Default::default(),
    });
    Ok(waiter)
}

/// Checks a call to `entity` against the critical section; on success the entity is busy until
/// the response to `waiter` arrives (see [`note_call`]).
pub(crate) fn check_call(s: &mut ExecutionState, entity: &EntityId) -> Result<(), FailureDetails> {
    let Some(cs) = &mut s.critical_section else {
        return Ok(());
    };
    if cs.available.remove(entity) {
        return Ok(());
    }
    Err(violation(if cs.acquiring {
        "Must await the completion of the lock request prior to calling any entity."
    } else if cs.entities.contains(entity) {
        "Must not call an entity from a critical section while a prior call to the same entity is still pending."
    } else {
        "Must not call an entity from a critical section if it is not one of the locked entities."
    }))
}

/// Remembers the call in flight to a locked entity.
pub(crate) fn note_call(s: &mut ExecutionState, entity: &EntityId, waiter: u64) {
    if let Some(cs) = &mut s.critical_section {
        cs.calls.insert(waiter, entity.clone());
    }
}

/// Checks a signal to `entity`: a locked entity may not be signalled from its critical section.
pub(crate) fn check_signal(s: &ExecutionState, entity: &EntityId) -> Result<(), FailureDetails> {
    match &s.critical_section {
        Some(cs) if cs.entities.contains(entity) => Err(violation(
            "Must not signal a locked entity from a critical section.",
        )),
        _ => Ok(()),
    }
}

/// Checks a sub-orchestration start: none inside a critical section.
pub(crate) fn check_sub_orchestration(s: &ExecutionState) -> Result<(), FailureDetails> {
    match s.critical_section {
        Some(_) => Err(violation(
            "While holding locks, cannot call suborchestrators.",
        )),
        None => Ok(()),
    }
}

/// Schedules a `release` to every locked entity and leaves the critical section; returns the
/// ids of the release actions (none outside a critical section).
pub(crate) fn release_locks(s: &mut ExecutionState) -> Vec<i32> {
    let Some(cs) = s.critical_section.take() else {
        return Vec::new();
    };
    let message = ReleaseMessage {
        parent_instance_id: Some(s.instance_id.clone()),
        id: Some(cs.id),
    };
    let input = serde_json::to_string(&message).ok();
    cs.entities
        .iter()
        .map(|entity| {
            s.schedule(ActionKind::SendEvent {
                instance_id: entity.to_string(),
                name: RELEASE_EVENT.to_string(),
                input: input.clone(),
                visible_at: None,
            })
        })
        .collect()
}
