//! What an entity keeps between operation batches, stored (as DTFx does) as the input of the
//! `ExecutionStarted` event that each batch's implicit continue-as-new writes — so it lands in
//! `Instances.Input`, and in a blob when large.

use serde::{Deserialize, Serialize};

use super::messages::RequestMessage;
use crate::core::history::Timestamp;

/// How long processed request ids are remembered, so a redelivered request is not applied
/// twice (a message comes back only when deleting it failed after its batch was committed,
/// within the queue's visibility timeout).
pub const DEDUPE_WINDOW: time::Duration = time::Duration::minutes(15);

/// The scheduler state of an entity (`SchedulerState` in DTFx: `state`, `queue` and `lockedBy`
/// have the same names and meaning there; `exists` is Durable Functions 2.x's marker, without
/// which its entities read a state as absent; `processed` is ours).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EntityState {
    /// `exists`: written true whenever `state` is present (read back from `state`).
    #[serde(rename = "exists", default, skip_serializing_if = "std::ops::Not::not")]
    exists_marker: bool,
    /// The user state as JSON text; absent when the entity does not exist.
    #[serde(rename = "state", default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Requests waiting for a critical section to release the entity, in arrival order.
    #[serde(rename = "queue", default, skip_serializing_if = "Vec::is_empty")]
    pub queue: Vec<RequestMessage>,
    /// The orchestration whose critical section holds this entity.
    #[serde(rename = "lockedBy", default, skip_serializing_if = "Option::is_none")]
    pub locked_by: Option<String>,
    /// `lockId`: the id of the critical section holding the entity (ours, ignored by the
    /// reference), so a late release of an earlier critical section does not free a later one.
    #[serde(rename = "lockId", default, skip_serializing_if = "Option::is_none")]
    pub lock_id: Option<String>,
    /// Recently processed request ids, with when (Unix seconds).
    #[serde(rename = "processed", default, skip_serializing_if = "Vec::is_empty")]
    pub processed: Vec<(String, i64)>,
}

impl EntityState {
    /// Parses the stored form; an absent or empty input is a new, non-existing entity.
    pub fn from_input(input: Option<&str>) -> Result<Self, serde_json::Error> {
        match input {
            None | Some("") => Ok(EntityState::default()),
            Some(text) => crate::core::json::decode(Some(text)),
        }
    }

    /// The stored form: JSON text for the `ExecutionStarted` input.
    pub fn to_input(&self) -> String {
        let marked = EntityState {
            exists_marker: self.exists(),
            ..self.clone()
        };
        serde_json::to_string(&marked).unwrap_or_else(|_| "{}".into())
    }

    /// The entity's `CustomStatus`, as the reference writes it (defaults omitted).
    pub fn status(&self) -> EntityStatus {
        EntityStatus {
            entity_exists: self.exists(),
            queue_size: self.queue.len(),
            locked_by: self.locked_by.clone(),
        }
    }

    /// True when the entity has a state (it exists).
    pub fn exists(&self) -> bool {
        self.state.is_some()
    }

    /// True when the request was applied already, or is waiting in the queue.
    pub(crate) fn was_processed(&self, request_id: &str) -> bool {
        self.processed.iter().any(|(id, _)| id == request_id)
            || self.queue.iter().any(|r| r.id == request_id)
    }

    pub(crate) fn forget_before(&mut self, now: Timestamp) {
        let horizon = (now - DEDUPE_WINDOW).unix_timestamp();
        self.processed.retain(|(_, t)| *t >= horizon);
    }
}

/// The entity's `CustomStatus` (the reference's `EntityStatus`, default fields omitted: a
/// deleted, idle entity is `{}`, as the reference's substring test for `entityExists` needs).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct EntityStatus {
    /// `entityExists`: true when the entity has a state.
    #[serde(
        rename = "entityExists",
        default,
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub entity_exists: bool,
    /// `queueSize`: requests waiting for a lock to be released.
    #[serde(rename = "queueSize", default, skip_serializing_if = "is_zero")]
    pub queue_size: usize,
    /// `lockedBy`: the orchestration holding the entity in a critical section.
    #[serde(rename = "lockedBy", default, skip_serializing_if = "Option::is_none")]
    pub locked_by: Option<String>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}
