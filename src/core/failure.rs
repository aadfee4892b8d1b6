//! Failures of user code: the data recorded in history, and the error type user code returns.
//!
//! An orchestration or activity that fails is not an infrastructure error: its [`FailureDetails`]
//! are written to history and the turn completes normally. User functions return
//! `Result<T, Failure>`; any `std::error::Error` converts into a [`Failure`] with `?`, so does a
//! [`TaskError`] (keeping the failure of the activity or sub-orchestration it wraps as the inner
//! failure).

use std::any::Any;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Why something failed: the error's type name, its message and optional details. Serialized with
/// the DTFx names (`ErrorType`, `ErrorMessage`, `StackTrace`, `InnerFailure`, `IsNonRetriable`),
/// as the `FailureDetails` history column holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureDetails {
    /// `ErrorType`: the error's type name (e.g. `TaskFailed`, a Rust error type's short name, or a
    /// .NET exception type).
    #[serde(rename = "ErrorType")]
    pub error_type: String,
    /// `ErrorMessage`: the error message.
    #[serde(rename = "ErrorMessage")]
    pub error_message: String,
    /// `StackTrace`: a stack trace or other details, when there are any.
    #[serde(
        rename = "StackTrace",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub stack_trace: Option<String>,
    /// `InnerFailure`: the failure that caused this one (e.g. the failed activity's, inside an
    /// orchestration's failure).
    #[serde(
        rename = "InnerFailure",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub inner_failure: Option<Box<FailureDetails>>,
    /// `IsNonRetriable`: true when retry policies must not retry the failure.
    #[serde(rename = "IsNonRetriable", default)]
    pub is_non_retriable: bool,
}

impl FailureDetails {
    /// Failure details with a type and a message, retriable and with no inner failure.
    pub fn new(error_type: impl Into<String>, error_message: impl Into<String>) -> Self {
        FailureDetails {
            error_type: error_type.into(),
            error_message: error_message.into(),
            stack_trace: None,
            inner_failure: None,
            is_non_retriable: false,
        }
    }

    /// Error types the runtime itself records.
    pub const NON_DETERMINISM: &'static str = "NonDeterministicOrchestration";
    /// A panic in user code (orchestrator, activity or entity operation).
    pub const PANIC: &'static str = "Panic";
    /// No orchestrator of that name is registered with the worker.
    pub const ORCHESTRATOR_NOT_FOUND: &'static str = "OrchestratorNotFound";
    /// The instance's version is one the worker's version policy does not run.
    pub const VERSION_MISMATCH: &'static str = "VersionMismatch";
    /// No activity of that name is registered with the worker.
    pub const ACTIVITY_NOT_FOUND: &'static str = "ActivityNotFound";
    /// The input could not be decoded into the type the function takes.
    pub const INVALID_INPUT: &'static str = "InvalidInput";
    /// An orchestration broke a rule of critical sections (the reference's
    /// `LockingRulesViolationException`).
    pub const LOCKING_RULES: &'static str = "LockingRulesViolation";
    /// A message was dequeued too many times without being processed; the instance or task is
    /// failed for it.
    pub const POISON_MESSAGE: &'static str = "PoisonMessage";
}

/// `ErrorType: ErrorMessage`, the form DTFx writes to `Instances.Output` for a failed instance.
impl fmt::Display for FailureDetails {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error_type, self.error_message)
    }
}

/// The error type of orchestrator, activity and entity functions.
///
/// Deliberately does not implement `std::error::Error`, so that every error type converts into
/// it with `?` (the same trick as `anyhow::Error`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure(pub FailureDetails);

impl Failure {
    /// A failure with an explicit error type.
    pub fn new(error_type: impl Into<String>, message: impl Into<String>) -> Self {
        Failure(FailureDetails::new(error_type, message))
    }

    /// A failure with a message and the generic error type `Error`.
    pub fn msg(message: impl fmt::Display) -> Self {
        Failure::new("Error", message.to_string())
    }

    /// Marks the failure as not worth retrying: retry policies give up at once.
    pub fn non_retriable(mut self) -> Self {
        self.0.is_non_retriable = true;
        self
    }

    /// The failure details.
    pub fn details(&self) -> &FailureDetails {
        &self.0
    }

    /// The failure details, by value.
    pub fn into_details(self) -> FailureDetails {
        self.0
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl From<FailureDetails> for Failure {
    fn from(d: FailureDetails) -> Self {
        Failure(d)
    }
}

impl<E> From<E> for Failure
where
    E: std::error::Error + Send + Sync + 'static,
{
    fn from(e: E) -> Self {
        let boxed: Box<dyn Any> = Box::new(e);
        match boxed.downcast::<TaskError>() {
            Ok(task_error) => Failure(task_error.into_failure_details()),
            Err(other) => match other.downcast::<E>() {
                Ok(e) => Failure(details_of_error(&*e)),
                // Unreachable: the box holds an `E`.
                Err(_) => Failure::msg("unknown error"),
            },
        }
    }
}

/// Failure details of any error, with its `source()` chain as inner failures.
pub fn details_of_error<E: std::error::Error + ?Sized>(e: &E) -> FailureDetails {
    let mut details = FailureDetails::new(short_type_name::<E>(), e.to_string());
    if let Some(source) = e.source() {
        details.inner_failure = Some(Box::new(details_of_dyn(source)));
    }
    details
}

fn details_of_dyn(e: &(dyn std::error::Error + 'static)) -> FailureDetails {
    let mut details = FailureDetails::new("Error", e.to_string());
    if let Some(source) = e.source() {
        details.inner_failure = Some(Box::new(details_of_dyn(source)));
    }
    details
}

/// `serde_json::error::Error` → `serde_json::Error`-like short names: the last path segment, with
/// generic arguments kept.
fn short_type_name<E: ?Sized>() -> String {
    let full = std::any::type_name::<E>();
    let base = full.split('<').next().unwrap_or(full);
    let short = base.rsplit("::").next().unwrap_or(base);
    short.to_string() + &full[base.len()..]
}

/// What kind of durable task failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskKind {
    /// An activity.
    Activity,
    /// A sub-orchestration.
    SubOrchestration,
    /// An entity operation called from an orchestration.
    Entity,
    /// The task's result could not be decoded into the type the orchestrator asked for.
    Decode,
}

/// The failure of a durable task, as an orchestrator sees it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{what} failed: {details}")]
pub struct TaskError {
    /// What kind of task failed.
    pub kind: TaskKind,
    /// Human description of the task, e.g. `activity 'SayHello' (task 3)`.
    pub what: String,
    /// The failure reported by the task.
    pub details: FailureDetails,
}

impl TaskError {
    /// Failure details to record when an orchestrator fails because of this task: the task's
    /// failure becomes the inner failure.
    pub fn into_failure_details(self) -> FailureDetails {
        let error_type = match self.kind {
            TaskKind::Activity => "TaskFailed",
            TaskKind::SubOrchestration => "SubOrchestrationFailed",
            TaskKind::Entity => "EntityOperationFailed",
            TaskKind::Decode => "DecodeFailed",
        };
        let message = format!("{} failed: {}", self.what, self.details);
        let mut d = FailureDetails::new(error_type, message);
        d.is_non_retriable = self.details.is_non_retriable;
        d.inner_failure = Some(Box::new(self.details));
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn std_errors_convert_with_their_type_name() {
        let e = serde_json::from_str::<u32>("x").unwrap_err();
        let f: Failure = e.into();
        assert_eq!(f.0.error_type, "Error");
        assert!(f.0.error_message.contains("expected value"));
    }

    #[test]
    fn task_errors_keep_the_inner_failure() {
        let te = TaskError {
            kind: TaskKind::Activity,
            what: "activity 'A' (task 0)".into(),
            details: FailureDetails::new("Boom", "it broke"),
        };
        let f: Failure = te.into();
        assert_eq!(f.0.error_type, "TaskFailed");
        assert_eq!(f.0.inner_failure.as_ref().unwrap().error_type, "Boom");
    }
}
