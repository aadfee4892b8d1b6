//! One error for code that uses several layers at once — a `main` that creates a hub, runs a
//! worker and calls a client — so `?` works across them.
//!
//! Owns [`Error`]. Each layer keeps its own error type (`storage::Error`, `backend::Error`,
//! `client::Error`, `worker::Error`), with the detail a caller of that layer needs; this one
//! wraps whichever happened and prints it as it is.

/// Any error of the library.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A storage request failed, or a connection string cannot be used.
    #[error(transparent)]
    Storage(#[from] crate::storage::Error),
    /// The task hub layer failed.
    #[error(transparent)]
    Backend(#[from] crate::backend::Error),
    /// A client call failed or was refused.
    #[error(transparent)]
    Client(#[from] crate::client::Error),
    /// A worker could not start.
    #[error(transparent)]
    Worker(#[from] crate::worker::Error),
    /// A hub name or partition count that cannot be used.
    #[error(transparent)]
    Name(#[from] crate::backend::NameError),
    /// An entity id that cannot be used.
    #[error(transparent)]
    Id(#[from] crate::core::IdError),
}

/// A result with the library's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
