//! The entity context: what an entity operation sees and may do.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::core::failure::{Failure, FailureDetails};
use crate::core::history::Timestamp;
use crate::core::instance::EntityId;

/// A signal an operation sends to another entity.
#[derive(Debug, Clone)]
pub(crate) struct OutgoingSignal {
    pub target: EntityId,
    pub operation: String,
    pub input: Option<String>,
    pub at: Option<Timestamp>,
}

/// One operation on one entity: its name and input, the entity's state, and signals to send.
/// Changes to the state and signals take effect only if the operation returns `Ok`.
pub struct EntityContext {
    id: EntityId,
    operation: String,
    input: Option<String>,
    pub(crate) state: Option<String>,
    pub(crate) signals: Vec<OutgoingSignal>,
    now: Timestamp,
}

impl EntityContext {
    pub(crate) fn new(
        id: EntityId,
        operation: String,
        input: Option<String>,
        state: Option<String>,
        now: Timestamp,
    ) -> Self {
        EntityContext {
            id,
            operation,
            input,
            state,
            signals: Vec::new(),
            now,
        }
    }

    /// The id of the entity the operation runs on.
    pub fn entity_id(&self) -> &EntityId {
        &self.id
    }

    /// The entity's key (the part after the name in `@name@key`).
    pub fn key(&self) -> &str {
        self.id.key()
    }

    /// The operation's name, as sent.
    pub fn operation(&self) -> &str {
        &self.operation
    }

    /// The time the batch runs at.
    pub fn current_utc_datetime(&self) -> Timestamp {
        self.now
    }

    /// The operation's input, decoded (absent decodes as `null`).
    pub fn input<T: DeserializeOwned>(&self) -> Result<T, Failure> {
        crate::core::json::decode(self.input.as_deref()).map_err(|e| {
            Failure::new(
                FailureDetails::INVALID_INPUT,
                format!(
                    "invalid input for operation '{}' on {}: {e}",
                    self.operation, self.id
                ),
            )
        })
    }

    /// True when the entity has a state (it exists).
    pub fn has_state(&self) -> bool {
        self.state.is_some()
    }

    /// The state, decoded; `None` when the entity does not exist yet.
    pub fn get_state<T: DeserializeOwned>(&self) -> Result<Option<T>, Failure> {
        match &self.state {
            None => Ok(None),
            Some(s) => serde_json::from_str(s).map(Some).map_err(|e| {
                Failure::new("StateDecodeError", format!("state of {}: {e}", self.id))
            }),
        }
    }

    /// The state, or the type's default when the entity does not exist yet.
    pub fn state_or_default<T: DeserializeOwned + Default>(&self) -> Result<T, Failure> {
        Ok(self.get_state()?.unwrap_or_default())
    }

    /// Replaces the state.
    pub fn set_state<T: Serialize + ?Sized>(&mut self, state: &T) -> Result<(), Failure> {
        let json = serde_json::to_string(state).map_err(|e| {
            Failure::new("SerializationError", format!("state of {}: {e}", self.id))
        })?;
        self.state = Some(json);
        Ok(())
    }

    /// Deletes the state: the entity no longer exists.
    pub fn delete_state(&mut self) {
        self.state = None;
    }

    /// Signals another entity (one-way) once this operation succeeds.
    pub fn signal_entity(&mut self, target: &EntityId, operation: &str, input: impl Serialize) {
        self.signals.push(OutgoingSignal {
            target: target.clone(),
            operation: operation.to_string(),
            input: serde_json::to_string(&input).ok(),
            at: None,
        });
    }

    /// The error an entity returns for an operation it does not know.
    pub fn unknown_operation(&self) -> Failure {
        Failure::new(
            "UnknownOperation",
            format!(
                "entity '{}' has no operation '{}'",
                self.id.name(),
                self.operation
            ),
        )
        .non_retriable()
    }
}
