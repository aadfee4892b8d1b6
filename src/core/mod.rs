//! The pure heart of taskhub: history events, the orchestration context, the replay executor,
//! the registry. No storage, no network, no Azure types (a test checks that this folder names
//! none); the backend and the worker build on it.
//!
//! ```
//! use taskhub::core::{Failure, OrchestrationContext, Registry};
//!
//! let mut registry = Registry::new();
//! registry.add_orchestrator("Hello", |ctx: OrchestrationContext| async move {
//!     let name: String = ctx.input()?;
//!     let greeting: String = ctx.call_activity("SayHello", &name).await?;
//!     Ok::<_, Failure>(greeting)
//! });
//! registry.add_activity("SayHello", |_ctx, name: String| async move {
//!     Ok::<_, Failure>(format!("Hello {name}!"))
//! });
//! ```

pub mod action;
pub mod activity_input;
pub mod context;
pub mod entity;
pub mod failure;
pub mod history;
pub mod history_view;
pub mod instance;
pub mod json;
pub mod registry;
pub mod replay;
pub mod rewind;
pub mod tags;
pub mod testing;
pub mod trace_context;
pub mod version;

pub use action::{ActionKind, TaskMessage};
pub use context::{
    all_of, any_of, default_sub_orchestration_id, select2, DurableFuture, Either,
    OrchestrationContext, RetryPolicy, Task, Timer,
};
pub use failure::{Failure, FailureDetails, TaskError, TaskKind};
pub use history::{
    EventKind, EventType, HistoryEvent, HistorySummary, OrchestrationInstance, OrchestrationStatus,
    ParentInstance, Timestamp, REWOUND_PREFIX,
};
pub use instance::{EntityId, IdError};
pub use registry::{ActivityContext, Registry};
pub use replay::{OrchestrationExecutor, TurnResult};
pub use tags::Tags;
pub use trace_context::{DistributedTraceContext, TraceParent};
pub use version::{compare_versions, VersionFailure, VersionMatch, VersionPolicy};
