//! Errors a client call can return: refused input (nothing was written), missing or finished
//! instances, timeouts, and backend trouble.

use crate::backend;
use crate::core::OrchestrationStatus;

/// Why a client call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request was refused before anything was written.
    #[error("{0}")]
    InvalidInput(String),
    /// The instance does not exist.
    #[error("no instance '{0}'")]
    NotFound(String),
    /// The instance is live, so it cannot be started again.
    #[error("instance '{id}' is already {status}; wait for it to finish or use another id")]
    AlreadyRunning {
        /// The instance id.
        id: String,
        /// Its current status (one that is not terminal).
        status: OrchestrationStatus,
    },
    /// The instance has finished (or is not in a state that allows the request).
    #[error("instance '{id}' is {status}; {what} needs a {needs} instance")]
    WrongState {
        /// The instance id.
        id: String,
        /// Its current status.
        status: OrchestrationStatus,
        /// What was asked for, e.g. `purging`.
        what: &'static str,
        /// The status the request needs, e.g. `running` or `finished`.
        needs: &'static str,
    },
    /// Waiting ran out of time.
    #[error("instance '{id}' is still {status} after {seconds:.1} s")]
    Timeout {
        /// The instance id.
        id: String,
        /// Its status when the wait gave up.
        status: OrchestrationStatus,
        /// How long the wait lasted, in seconds.
        seconds: f64,
    },
    /// The instance ended without an output to return: Failed (with its failure), Terminated or
    /// Canceled.
    #[error("instance '{id}' ended {status}: {reason}")]
    Ended {
        /// The instance id.
        id: String,
        /// The status it ended with.
        status: OrchestrationStatus,
        /// The failure (`ErrorType: message`), or the termination's reason.
        reason: String,
    },
    /// A stored value does not fit the type it was read as.
    #[error("{what} does not fit the type asked for: {message}")]
    Decode {
        /// What was read (an instance's output, an entity's state, ...).
        what: String,
        /// The deserializer's message.
        message: String,
    },
    /// The backend (storage) failed.
    #[error(transparent)]
    Backend(#[from] backend::Error),
}

impl From<crate::storage::Error> for Error {
    fn from(e: crate::storage::Error) -> Self {
        Error::Backend(backend::Error::Storage(e))
    }
}

impl Error {
    /// True when the hub's queues, tables or container do not exist (yet).
    pub fn is_missing_hub(&self) -> bool {
        let Error::Backend(backend::Error::Storage(e)) = self else {
            return false;
        };
        e.is_not_found()
            && matches!(
                e.code(),
                Some("QueueNotFound" | "TableNotFound" | "ContainerNotFound")
            )
    }

    /// True when the caller's request was at fault (a 4xx in HTTP terms).
    pub fn is_client_error(&self) -> bool {
        !matches!(
            self,
            Error::Backend(_) | Error::Ended { .. } | Error::Decode { .. }
        )
    }
}

/// Result with the client [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
