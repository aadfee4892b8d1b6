//! Durable entities: small stateful objects addressed by `@name@key`, whose operations run one at
//! a time in the order received.
//!
//! An entity is a function of an [`EntityContext`] registered by name (lowercased). Operations
//! arrive as `EventRaised` events named `op` carrying a [`RequestMessage`]; a batch of them runs
//! through [`run_entity_batch`], which returns the turn to checkpoint: an implicit
//! continue-as-new whose input is the new [`EntityState`] (so the state lives in
//! `Instances.Input`, and in a blob when large), responses to callers, and signals sent by
//! operations.

mod batch;
mod context;
pub mod messages;
mod state;

pub use batch::run_entity_batch;
pub use context::EntityContext;
pub use messages::{RequestMessage, ResponseMessage};
pub use state::{EntityState, EntityStatus, DEDUPE_WINDOW};
