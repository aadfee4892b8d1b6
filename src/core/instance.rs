//! Instance and entity identities.
//!
//! An instance id is any non-empty string of at most [`MAX_INSTANCE_ID_CHARS`] characters: slashes,
//! quotes and control characters are allowed because the backend escapes them wherever they meet a
//! table key or a query. An entity's instance id is `@name@key` with the name lowercased, as
//! Durable Functions writes it.

use std::fmt;

/// Longest accepted instance id. Table keys are limited to 1 KiB and escaping can double a
/// character, so this leaves room.
pub const MAX_INSTANCE_ID_CHARS: usize = 256;

/// Why an instance id or entity id is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The id is empty.
    #[error("instance id is empty")]
    Empty,
    /// The id is longer than [`MAX_INSTANCE_ID_CHARS`] characters (the length is given).
    #[error("instance id is {0} characters long; the limit is {MAX_INSTANCE_ID_CHARS}")]
    TooLong(usize),
    /// An orchestration instance id starts with `@`, which entity ids use.
    #[error("instance id {0:?} starts with '@', which is reserved for entities")]
    ReservedForEntities(String),
    /// The id is not of the form `@name@key`.
    #[error("entity id {0:?} is not of the form @name@key")]
    NotAnEntityId(String),
    /// The entity name is empty.
    #[error("entity name is empty")]
    EmptyEntityName,
    /// The entity name contains `@`.
    #[error("entity name {0:?} contains '@'")]
    AtInEntityName(String),
    /// The entity key is empty.
    #[error("entity key is empty")]
    EmptyEntityKey,
}

/// Checks an orchestration instance id given by a user.
pub fn validate_instance_id(id: &str) -> Result<(), IdError> {
    let chars = id.chars().count();
    if chars == 0 {
        return Err(IdError::Empty);
    }
    if chars > MAX_INSTANCE_ID_CHARS {
        return Err(IdError::TooLong(chars));
    }
    if id.starts_with('@') {
        return Err(IdError::ReservedForEntities(id.to_string()));
    }
    Ok(())
}

/// True when the instance id names an entity (`@name@key`).
pub fn is_entity_instance(id: &str) -> bool {
    id.starts_with('@')
}

/// The identity of a durable entity: a lowercased name and a case-preserving key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntityId {
    name: String,
    key: String,
}

impl EntityId {
    /// Builds an entity id; the name is lowercased like Durable Functions does.
    pub fn new(name: &str, key: &str) -> Result<Self, IdError> {
        if name.is_empty() {
            return Err(IdError::EmptyEntityName);
        }
        if name.contains('@') {
            return Err(IdError::AtInEntityName(name.to_string()));
        }
        if key.is_empty() {
            return Err(IdError::EmptyEntityKey);
        }
        let id = EntityId {
            name: name.to_lowercase(),
            key: key.to_string(),
        };
        let chars = id.to_string().chars().count();
        if chars > MAX_INSTANCE_ID_CHARS {
            return Err(IdError::TooLong(chars));
        }
        Ok(id)
    }

    /// Parses `@name@key`.
    pub fn parse(instance_id: &str) -> Result<Self, IdError> {
        let rest = instance_id
            .strip_prefix('@')
            .ok_or_else(|| IdError::NotAnEntityId(instance_id.to_string()))?;
        let (name, key) = rest
            .split_once('@')
            .ok_or_else(|| IdError::NotAnEntityId(instance_id.to_string()))?;
        EntityId::new(name, key)
    }

    /// The entity name, lowercased.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The entity key, as given.
    pub fn key(&self) -> &str {
        &self.key
    }
}

impl fmt::Display for EntityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "@{}@{}", self.name, self.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entity_ids_lowercase_the_name_only() {
        let id = EntityId::new("Counter", "MyKey").unwrap();
        assert_eq!(id.to_string(), "@counter@MyKey");
        assert_eq!(EntityId::parse("@counter@My@Key").unwrap().key(), "My@Key");
        assert!(EntityId::parse("counter@x").is_err());
        assert!(EntityId::new("", "k").is_err());
        assert!(EntityId::new("c", "").is_err());
    }

    #[test]
    fn instance_ids_accept_odd_characters_but_not_empty() {
        assert!(validate_instance_id("a/b\\c#d?e'f\"g\n").is_ok());
        assert_eq!(validate_instance_id(""), Err(IdError::Empty));
        assert!(validate_instance_id(&"x".repeat(257)).is_err());
        assert!(validate_instance_id("@counter@k").is_err());
    }
}
