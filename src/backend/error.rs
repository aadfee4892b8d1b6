//! Errors of the task hub layer.

use crate::storage;

use super::envelope::EnvelopeError;

/// What can go wrong in the backend. Infrastructure only: an orchestration that fails is data in
/// its history, never one of these.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A storage call failed (after its retries).
    #[error(transparent)]
    Storage(#[from] storage::Error),
    /// Another worker checkpointed this instance since we loaded it (the sentinel ETag moved).
    /// Abandon the work item quietly; its messages come back.
    #[error("instance '{instance_id}' was updated by another worker since it was loaded")]
    LockLost {
        /// The instance whose history moved on.
        instance_id: String,
    },
    /// A message that can never be read.
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    /// Stored data that does not parse.
    #[error("corrupt data: {0}")]
    Corrupt(String),
    /// Input refused before anything was written.
    #[error("{0}")]
    InvalidInput(String),
}

impl Error {
    /// Worth retrying later (storage trouble), as opposed to a bug or bad data.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Storage(e) => e.is_transient(),
            Error::LockLost { .. } => true,
            _ => false,
        }
    }
}

/// Result with the backend [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
