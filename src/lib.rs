#![warn(missing_docs)]
//! taskhub: the Durable Task Framework's classic Azure Storage task hub, in Rust.
//!
//! Layers (dependencies point down): `core` (the pure replay engine, no I/O) under `backend` (the task hub on storage) → `storage` (typed
//! wrappers over the azure crates, the only place that names them). `azurite` starts the local
//! storage emulator for the CLI and the tests.

#[cfg(feature = "azurite")]
pub mod azurite;
pub mod backend;
#[cfg(feature = "bench")]
pub mod bench;
#[cfg(feature = "cli")]
pub mod cli;
pub mod client;
pub mod clock;
pub mod core;
pub mod entropy;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "samples")]
pub mod samples;
pub mod storage;
pub mod timestamps;
pub mod worker;
