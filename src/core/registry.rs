//! The registry: orchestrators and activities by name, with typed helpers.
//!
//! Functions are stored in a plain JSON form (JSON text in, JSON text out) so the executor and the
//! worker need not know user types; the typed `add_*` methods wrap user functions with serde.
//! Names match exactly first and then ignoring case, as Durable Functions function names do.

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::FutureExt;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::context::OrchestrationContext;
use super::entity::EntityContext;
use super::failure::{Failure, FailureDetails};
use super::version::compare_versions;

/// An orchestrator in plain form: the context in, the output as JSON text out.
pub type OrchestratorFn = Arc<
    dyn Fn(OrchestrationContext) -> BoxFuture<'static, Result<String, FailureDetails>>
        + Send
        + Sync,
>;

/// An activity in plain form: JSON text in, JSON text out.
pub type ActivityFn = Arc<
    dyn Fn(ActivityContext, Option<String>) -> BoxFuture<'static, Result<String, FailureDetails>>
        + Send
        + Sync,
>;

/// An entity in plain form: the operation's context in, its result as JSON text out.
pub type EntityFn = Arc<dyn Fn(&mut EntityContext) -> Result<String, FailureDetails> + Send + Sync>;

/// What an activity knows about the call it serves.
#[derive(Debug, Clone)]
pub struct ActivityContext {
    /// The orchestration that scheduled the activity.
    pub instance_id: String,
    /// The execution id of that orchestration, from the request's `OrchestrationInstance`.
    pub execution_id: Option<String>,
    /// The activity's name.
    pub name: String,
    /// The `TaskScheduledId` of the call.
    pub task_id: i32,
}

/// Orchestrators and activities by name.
#[derive(Clone, Default)]
pub struct Registry {
    /// By name, each with its versions (`""`: the one registered without a version).
    orchestrators: HashMap<String, Vec<(String, OrchestratorFn)>>,
    activities: HashMap<String, ActivityFn>,
    /// By lowercased name, as entity ids carry it.
    entities: HashMap<String, EntityFn>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("orchestrators", &self.orchestrator_names())
            .field("activities", &self.activity_names())
            .field("entities", &self.entity_names())
            .finish()
    }
}

fn serialize_output<O: Serialize>(what: &str, out: &O) -> Result<String, FailureDetails> {
    serde_json::to_string(out).map_err(|e| {
        FailureDetails::new(
            "SerializationError",
            format!("cannot serialize the output of {what}: {e}"),
        )
    })
}

fn find<'a, V>(map: &'a HashMap<String, V>, name: &str) -> Option<&'a V> {
    map.get(name).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers an orchestrator: an async function of the context returning a serializable
    /// output. Read the input with `ctx.input::<T>()`.
    pub fn add_orchestrator<F, Fut, O>(&mut self, name: &str, f: F) -> &mut Self
    where
        F: Fn(OrchestrationContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O, Failure>> + Send + 'static,
        O: Serialize + 'static,
    {
        self.add_orchestrator_version(name, "", f)
    }

    /// Registers one version of an orchestrator: an instance started with `version` (compared
    /// as [`compare_versions`] does) runs this code; an instance of a version not registered
    /// runs the one registered without a version, if any.
    pub fn add_orchestrator_version<F, Fut, O>(
        &mut self,
        name: &str,
        version: &str,
        f: F,
    ) -> &mut Self
    where
        F: Fn(OrchestrationContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O, Failure>> + Send + 'static,
        O: Serialize + 'static,
    {
        let what = if version.is_empty() {
            format!("orchestrator '{name}'")
        } else {
            format!("orchestrator '{name}' version {version}")
        };
        let f = Arc::new(f);
        let plain: OrchestratorFn = Arc::new(move |ctx| {
            let fut = f(ctx);
            let what = what.clone();
            async move {
                match fut.await {
                    Ok(out) => serialize_output(&what, &out),
                    Err(failure) => Err(failure.into_details()),
                }
            }
            .boxed()
        });
        let versions = self.orchestrators.entry(name.to_string()).or_default();
        versions.retain(|(v, _)| compare_versions(v, version) != std::cmp::Ordering::Equal);
        versions.push((version.to_string(), plain));
        self
    }

    /// Registers an activity with a typed input and output.
    pub fn add_activity<F, Fut, I, O>(&mut self, name: &str, f: F) -> &mut Self
    where
        F: Fn(ActivityContext, I) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O, Failure>> + Send + 'static,
        I: DeserializeOwned + Send + 'static,
        O: Serialize + 'static,
    {
        let what = format!("activity '{name}'");
        let f = Arc::new(f);
        let plain: ActivityFn = Arc::new(move |ctx, input| {
            let what = what.clone();
            let parsed: Result<I, _> = super::json::decode(input.as_deref());
            match parsed {
                Err(e) => {
                    let details = FailureDetails {
                        is_non_retriable: true,
                        ..FailureDetails::new(
                            FailureDetails::INVALID_INPUT,
                            format!("invalid input for {what}: {e}"),
                        )
                    };
                    async move { Err(details) }.boxed()
                }
                Ok(input) => {
                    let fut = f(ctx, input);
                    async move {
                        match fut.await {
                            Ok(out) => serialize_output(&what, &out),
                            Err(failure) => Err(failure.into_details()),
                        }
                    }
                    .boxed()
                }
            }
        });
        self.activities.insert(name.to_string(), plain);
        self
    }

    /// Registers an entity: a function of the operation's context returning the operation's
    /// result. The name is lowercased, like entity ids.
    pub fn add_entity<F, O>(&mut self, name: &str, f: F) -> &mut Self
    where
        F: Fn(&mut EntityContext) -> Result<O, Failure> + Send + Sync + 'static,
        O: Serialize + 'static,
    {
        let what = format!("entity '{name}'");
        let plain: EntityFn = Arc::new(move |ctx| match f(ctx) {
            Ok(out) => serialize_output(&what, &out),
            Err(failure) => Err(failure.into_details()),
        });
        self.entities.insert(name.to_lowercase(), plain);
        self
    }

    /// The entity registered under `name` (ignoring case), if any.
    pub fn entity(&self, name: &str) -> Option<&EntityFn> {
        self.entities.get(&name.to_lowercase())
    }

    /// True when an entity is registered under `name` (ignoring case).
    pub fn has_entity(&self, name: &str) -> bool {
        self.entity(name).is_some()
    }

    /// The registered entity names (lowercased), sorted.
    pub fn entity_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.entities.keys().cloned().collect();
        v.sort();
        v
    }

    /// The orchestrator registered under `name` without a version: the exact name first, then
    /// ignoring case.
    pub fn orchestrator(&self, name: &str) -> Option<&OrchestratorFn> {
        self.orchestrator_version(name, "")
    }

    /// The code for an instance of `name` started with `version`: that version's, else the one
    /// registered without a version; `None` when neither is registered.
    pub fn orchestrator_version(&self, name: &str, version: &str) -> Option<&OrchestratorFn> {
        let versions = find(&self.orchestrators, name)?;
        let exact = versions
            .iter()
            .find(|(v, _)| compare_versions(v, version) == std::cmp::Ordering::Equal);
        let unversioned = versions.iter().find(|(v, _)| v.is_empty());
        exact.or(unversioned).map(|(_, f)| f)
    }

    /// The versions registered for an orchestrator name (`""` for the unversioned one).
    pub fn orchestrator_versions(&self, name: &str) -> Vec<String> {
        find(&self.orchestrators, name)
            .map(|v| v.iter().map(|(v, _)| v.clone()).collect())
            .unwrap_or_default()
    }

    /// The activity registered under `name`: the exact name first, then ignoring case.
    pub fn activity(&self, name: &str) -> Option<&ActivityFn> {
        find(&self.activities, name)
    }

    /// True when any version of an orchestrator is registered under `name` (exact name or
    /// ignoring case).
    pub fn has_orchestrator(&self, name: &str) -> bool {
        find(&self.orchestrators, name).is_some_and(|v| !v.is_empty())
    }

    /// The registered orchestrator names, sorted.
    pub fn orchestrator_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.orchestrators.keys().cloned().collect();
        v.sort();
        v
    }

    /// The registered activity names, sorted.
    pub fn activity_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.activities.keys().cloned().collect();
        v.sort();
        v
    }

    /// Runs an activity by name. An unknown name, a panic or an error all become failure details;
    /// the caller (the worker) records them as the task's failure.
    pub async fn run_activity(
        &self,
        ctx: ActivityContext,
        input: Option<String>,
    ) -> Result<String, FailureDetails> {
        let Some(f) = self.activity(&ctx.name).cloned() else {
            return Err(FailureDetails {
                is_non_retriable: true,
                ..FailureDetails::new(
                    FailureDetails::ACTIVITY_NOT_FOUND,
                    format!("no activity named '{}' is registered", ctx.name),
                )
            });
        };
        let name = ctx.name.clone();
        let input = super::activity_input::unwrap(input.as_deref());
        match AssertUnwindSafe(f(ctx, input)).catch_unwind().await {
            Ok(result) => result,
            Err(panic) => Err(FailureDetails::new(
                FailureDetails::PANIC,
                format!("activity '{name}' panicked: {}", panic_message(&*panic)),
            )),
        }
    }
}

/// The message of a panic payload.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic payload".to_string()
    }
}
