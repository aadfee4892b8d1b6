//! What most programs that use taskhub need, in one import: `use taskhub::prelude::*;`.

pub use crate::backend::{HubNames, InstanceStatus, TaskHub};
pub use crate::client::{Client, StartRequest};
pub use crate::core::entity::EntityContext;
pub use crate::core::{
    ActivityContext, EntityId, Failure, OrchestrationContext, OrchestrationStatus, Registry,
    RetryPolicy,
};
pub use crate::storage::Storage;
pub use crate::worker::{Worker, WorkerOptions};
pub use crate::{CancellationToken, Error};
