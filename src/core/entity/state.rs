//! What an entity keeps between operation batches, stored (as DTFx does) as the input of the
//! `ExecutionStarted` event that each batch's implicit continue-as-new writes — so it lands in
//! `Instances.Input`, and in a blob when large.

use serde::{Deserialize, Serialize};

use crate::core::history::Timestamp;

/// How long processed request ids are remembered, so a redelivered request is not applied
/// twice (a message comes back only when deleting it failed after its batch was committed,
/// within the queue's visibility timeout).
pub const DEDUPE_WINDOW: time::Duration = time::Duration::minutes(15);

/// The scheduler state of an entity (`SchedulerState` in DTFx; `state` has the same name and
/// meaning there, the rest is ours).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EntityState {
    /// The user state as JSON text; absent when the entity does not exist.
    #[serde(rename = "state", default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
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
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }

    /// True when the entity has a state (it exists).
    pub fn exists(&self) -> bool {
        self.state.is_some()
    }

    pub(crate) fn was_processed(&self, request_id: &str) -> bool {
        self.processed.iter().any(|(id, _)| id == request_id)
    }

    pub(crate) fn forget_before(&mut self, now: Timestamp) {
        let horizon = (now - DEDUPE_WINDOW).unix_timestamp();
        self.processed.retain(|(_, t)| *t >= horizon);
    }
}

/// The entity's `CustomStatus`: whether it exists (DF's `EntityStatus`, default fields omitted).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EntityStatus {
    /// `entityExists`: true when the entity has a state.
    #[serde(rename = "entityExists")]
    pub entity_exists: bool,
}
