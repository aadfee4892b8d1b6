//! taskhub: the Durable Task Framework's classic Azure Storage task hub, in Rust.
//!
//! Layers (dependencies point down): `storage` holds typed wrappers over the azure crates and is
//! the only place that names them.

pub mod storage;
