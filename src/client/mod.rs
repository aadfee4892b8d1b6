//! The client: start, query, signal, terminate, suspend, resume, restart and purge instances.
//!
//! Every request is checked before anything is written: a bad id, bad JSON, an unknown
//! orchestrator (when the client knows the registry) or an event to a missing instance gives an
//! [`Error`] and changes nothing. Control requests are messages to the instance's control queue;
//! the worker applies them in order with the instance's other messages.

mod entities;
mod error;
mod rewind;
mod start_span;
mod tree;

use std::time::Duration;
use tokio::time::Instant;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

pub use entities::EntityView;
pub use error::{Error, Result};
pub use tree::{Control, TreeOutcome};

use crate::backend::envelope::Envelope;
use crate::backend::instances_table::PendingRow;
use crate::backend::large_payload::too_large_for_table;
use crate::backend::{
    InstanceCounts, InstancePage, InstanceQuery, InstanceStatus, InstanceTimes, PurgeFilter,
    PurgeLimits, PurgeProgress, PurgeResult, TaskHub,
};
use crate::core::instance::validate_instance_id;
use crate::core::tags::{check_tags, tags_from_json, tags_to_json, Tags};
use crate::core::{
    DistributedTraceContext, EventKind, HistoryEvent, OrchestrationInstance, OrchestrationStatus,
    TaskMessage, Timestamp, TraceParent,
};
use crate::storage::Continuation;

/// How often `wait_for_completion` polls the status at most.
const MAX_WAIT_POLL: Duration = Duration::from_millis(500);

/// What to start.
#[derive(Debug, Clone, Default)]
pub struct StartRequest {
    /// The orchestrator name (any name: the client cannot know what the workers register).
    pub name: String,
    /// The instance id; a new UUID (32 hex digits) when absent.
    pub instance_id: Option<String>,
    /// The input as JSON text (`None`: no input).
    pub input: Option<String>,
    /// Start no earlier than this.
    pub start_at: Option<Timestamp>,
    /// The orchestration version to start (`None`: no version); workers match it against their
    /// own, and the orchestrator code registered for it runs.
    pub version: Option<String>,
    /// Tags: string pairs kept with the instance (`ExecutionStarted.Tags` and the Instances
    /// `Tags` column), shown by `status` and filtered on by `list --tag`.
    pub tags: Tags,
    /// Set by [`StartRequest::with_input`] when its value does not serialize; `start` refuses
    /// the request with it.
    pub input_error: Option<String>,
    /// The caller's W3C trace context (an HTTP request's `traceparent`/`tracestate`): the start
    /// and the execution join that trace.
    pub trace_context: Option<DistributedTraceContext>,
}

impl StartRequest {
    /// A request to start `name`: a new instance id, no input, no delay.
    pub fn new(name: &str) -> Self {
        StartRequest {
            name: name.to_string(),
            ..Default::default()
        }
    }

    /// Adds a tag.
    pub fn with_tag(mut self, name: &str, value: &str) -> Self {
        self.tags.insert(name.to_string(), value.to_string());
        self
    }

    /// Uses `id` as the instance id.
    pub fn with_id(mut self, id: &str) -> Self {
        self.instance_id = Some(id.to_string());
        self
    }

    /// Sets the input: any value that serializes to JSON (a `serde_json::Value`, a struct, a
    /// number…). A value that does not serialize is refused by `start`.
    pub fn with_input<T: Serialize + ?Sized>(mut self, input: &T) -> Self {
        match serde_json::to_string(input) {
            Ok(json) => self.input = Some(json),
            Err(e) => self.input_error = Some(format!("the input cannot be serialized: {e}")),
        }
        self
    }

    /// Starts this version of the orchestration.
    pub fn with_version(mut self, version: &str) -> Self {
        self.version = Some(version.to_string()).filter(|v| !v.trim().is_empty());
        self
    }

    /// Joins the caller's trace: `traceparent` and `tracestate` as W3C headers carry them. A
    /// `traceparent` that does not parse is ignored (as the W3C spec asks: a new trace starts).
    pub fn with_trace_parent(mut self, traceparent: &str, tracestate: Option<&str>) -> Self {
        self.trace_context = TraceParent::parse(traceparent)
            .map(|tp| DistributedTraceContext::new(&tp, tracestate.map(str::to_string)));
        self
    }

    /// Sets the input from JSON text (checked by `start`).
    pub fn with_json_input(mut self, json: &str) -> Self {
        self.input = Some(json.to_string());
        self
    }
}

/// `value` as JSON text, or `InvalidInput` naming `what`.
pub(crate) fn encode<T: Serialize + ?Sized>(what: &str, value: &T) -> Result<String> {
    serde_json::to_string(value)
        .map_err(|e| Error::InvalidInput(format!("{what} cannot be serialized: {e}")))
}

/// Stored JSON text read as `T` (`None` text reads as JSON `null`).
pub(crate) fn decode<T: DeserializeOwned>(what: &str, text: Option<&str>) -> Result<T> {
    serde_json::from_str(text.unwrap_or("null")).map_err(|e| Error::Decode {
        what: what.to_string(),
        message: e.to_string(),
    })
}

/// Checks that `text` is JSON; `what` names it in the error.
pub fn check_json(text: &str, what: &str) -> Result<()> {
    serde_json::from_str::<Value>(text)
        .map(|_| ())
        .map_err(|e| Error::InvalidInput(format!("{what} is not valid JSON: {e}")))
}

/// A handle to start and manage instances of one task hub. Cheap to clone.
///
/// It starts any orchestrator name and signals any entity, as Durable Functions clients do: it
/// cannot know what the workers register (an instance whose orchestrator no worker knows fails
/// with an error saying so).
#[derive(Clone, Debug)]
pub struct Client {
    hub: TaskHub,
}

impl Client {
    /// A client of `hub`.
    pub fn new(hub: TaskHub) -> Self {
        Client { hub }
    }

    /// The task hub the client works on.
    pub fn hub(&self) -> &TaskHub {
        &self.hub
    }

    /// Starts an orchestration; returns its instance id. Refuses an id whose instance is still
    /// Pending, Running or Suspended; a finished one is started afresh (a new execution). A hub
    /// that does not exist yet is created first, as DurableTask.AzureStorage's client does.
    pub async fn start(&self, req: StartRequest) -> Result<String> {
        self.creating_hub(|| self.start_once(req.clone())).await
    }

    /// Runs `op`; if it failed because the hub's queues or tables do not exist yet, creates the
    /// hub and runs it once more.
    pub(crate) async fn creating_hub<T, F, Fut>(&self, mut op: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        match op().await {
            Err(e) if e.is_missing_hub() => {
                tracing::info!(hub = %self.hub.names().hub(), "creating the task hub");
                self.hub.create().await?;
                op().await
            }
            other => other,
        }
    }

    async fn start_once(&self, req: StartRequest) -> Result<String> {
        if req.name.trim().is_empty() {
            return Err(Error::InvalidInput("orchestrator name is empty".into()));
        }
        let id = req
            .instance_id
            .clone()
            .unwrap_or_else(|| crate::entropy::uuid().simple().to_string());
        validate_instance_id(&id).map_err(|e| Error::InvalidInput(e.to_string()))?;
        if let Some(e) = &req.input_error {
            return Err(Error::InvalidInput(e.clone()));
        }
        check_tags(&req.tags).map_err(Error::InvalidInput)?;
        let tags = tags_to_json(&req.tags);
        if let Some(input) = &req.input {
            check_json(input, "the input")?;
        }
        let existing = self.hub.instances().read(&id, false).await?;
        let generation = match &existing {
            Some((s, _)) if !s.runtime_status.is_terminal() => {
                return Err(Error::AlreadyRunning {
                    id,
                    status: s.runtime_status,
                })
            }
            Some((s, _)) => s.generation.unwrap_or(0) + 1,
            None => 0,
        };
        let execution_id = crate::entropy::uuid().simple().to_string();
        let now = self.hub.clock().now();
        let instance = OrchestrationInstance::new(&id, Some(execution_id.clone()));
        // Held to the end of the start, so the span covers the sending.
        let (_span, trace) = start_span::start_span(
            &req.name,
            req.version.as_deref(),
            &id,
            req.trace_context.as_ref(),
        );
        let mut message = TaskMessage {
            instance: instance.clone(),
            event: HistoryEvent::new(
                now,
                EventKind::ExecutionStarted {
                    orchestration_instance: instance,
                    name: req.name.clone(),
                    version: req.version.clone(),
                    input: req.input.clone(),
                    parent_instance: None,
                    scheduled_start_time: req.start_at,
                    generation: Some(generation),
                    tags: tags.clone(),
                },
            ),
            visible_at: req.start_at,
        };
        message.event.parent_trace_context = trace;
        // An input too big for the Instances row travels in a blob, whose URL the row holds
        // (as DTFx does for large start messages).
        let large = req.input.as_deref().is_some_and(too_large_for_table);
        let envelope = Envelope::new(message, None);
        let sent = self.hub.send_envelope(envelope.clone(), large).await?;
        let input_column = if large {
            Some(
                self.hub
                    .payloads()
                    .url(&self.hub.large_message_blob(&envelope)),
            )
        } else {
            req.input.clone()
        };
        let row = PendingRow {
            instance_id: &id,
            name: &req.name,
            version: req.version.as_deref().unwrap_or_default(),
            execution_id: &execution_id,
            input: input_column.as_deref(),
            created: now,
            generation,
            scheduled_start_time: req.start_at,
            tags: tags.as_deref(),
        };
        let etag = existing.as_ref().map(|(_, e)| e);
        if let Err(e) = self.hub.instances().write_pending(row, etag).await {
            let raced = matches!(&e, crate::backend::Error::Storage(s) if s.is_conflict() || s.is_precondition_failed());
            if !raced {
                return Err(e.into());
            }
            // Either a worker already took our start (the row carries our execution id, or a
            // later one if the orchestration has continued as new, or it has even finished) or
            // another client started the same id first. Only a Pending row of another
            // execution says the latter for sure; otherwise, as DurableTask.AzureStorage, the
            // race is taken as ours.
            match self.hub.instances().read(&id, false).await? {
                Some((s, _))
                    if s.runtime_status == OrchestrationStatus::Pending
                        && s.execution_id.as_deref() != Some(execution_id.as_str()) =>
                {
                    return Err(Error::AlreadyRunning {
                        id,
                        status: s.runtime_status,
                    })
                }
                Some(_) => {}
                None => return Err(e.into()),
            }
        }
        tracing::debug!(instance_id = %id, queue = %sent.queue, "started");
        Ok(id)
    }

    /// The instance's status; `None` when it does not exist. `show_input` also fetches the
    /// input (and resolves large values).
    pub async fn status(&self, id: &str, show_input: bool) -> Result<Option<InstanceStatus>> {
        let read = self.hub.instances().read(id, show_input).await?;
        Ok(read.map(|(mut s, _)| {
            if !show_input {
                s.input = None;
            }
            s
        }))
    }

    /// The instance's status with large values resolved, or `NotFound`.
    pub async fn get(&self, id: &str) -> Result<InstanceStatus> {
        self.status(id, true)
            .await?
            .ok_or_else(|| Error::NotFound(id.to_string()))
    }

    /// The history of the instance's current execution.
    pub async fn history(&self, id: &str) -> Result<Vec<HistoryEvent>> {
        Ok(self.hub.history().load(id).await?.events)
    }

    /// Waits until the instance is Completed, Failed or Terminated (or ContinuedAsNew is never
    /// final). Polls with growing intervals up to half a second.
    pub async fn wait_for_completion(&self, id: &str, timeout: Duration) -> Result<InstanceStatus> {
        let start = Instant::now();
        let mut interval = Duration::from_millis(20);
        loop {
            let status = self
                .status(id, true)
                .await?
                .ok_or_else(|| Error::NotFound(id.to_string()))?;
            if status.runtime_status.is_terminal() {
                return Ok(status);
            }
            let elapsed = start.elapsed();
            if elapsed >= timeout {
                return Err(Error::Timeout {
                    id: id.to_string(),
                    status: status.runtime_status,
                    seconds: elapsed.as_secs_f64(),
                });
            }
            tokio::time::sleep(interval.min(timeout - elapsed)).await;
            interval = (interval * 2).min(MAX_WAIT_POLL);
        }
    }

    /// Waits until the instance finishes and reads its output as `T`: `Ended` if it Failed, was
    /// Terminated or Canceled, `Timeout` if it is still running after `timeout`.
    pub async fn wait_for_output<T: DeserializeOwned>(
        &self,
        id: &str,
        timeout: Duration,
    ) -> Result<T> {
        let status = self.wait_for_completion(id, timeout).await?;
        if status.runtime_status != OrchestrationStatus::Completed {
            return Err(Error::Ended {
                id: id.to_string(),
                status: status.runtime_status,
                reason: status.output.unwrap_or_default(),
            });
        }
        decode(&format!("the output of '{id}'"), status.output.as_deref())
    }

    /// Raises an external event whose data is any value that serializes to JSON.
    pub async fn raise<T: Serialize + ?Sized>(&self, id: &str, name: &str, data: &T) -> Result<()> {
        let json = encode("the event data", data)?;
        self.raise_event(id, name, Some(&json)).await
    }

    /// Reads a live instance's status, or explains why the request does not apply.
    async fn live(&self, id: &str, what: &'static str) -> Result<InstanceStatus> {
        validate_instance_id(id).map_err(|e| Error::InvalidInput(e.to_string()))?;
        let status = self
            .status(id, false)
            .await?
            .ok_or_else(|| Error::NotFound(id.to_string()))?;
        if status.runtime_status.is_terminal() {
            return Err(Error::WrongState {
                id: id.to_string(),
                status: status.runtime_status,
                what,
                needs: "running",
            });
        }
        Ok(status)
    }

    pub(crate) async fn send_to(&self, id: &str, kind: EventKind) -> Result<()> {
        let message = TaskMessage {
            instance: OrchestrationInstance::new(id, None),
            event: HistoryEvent::new(self.hub.clock().now(), kind),
            visible_at: None,
        };
        self.hub.send(&message, None, None).await?;
        Ok(())
    }

    /// Raises an event on a live instance. `data` is JSON text.
    pub async fn raise_event(&self, id: &str, name: &str, data: Option<&str>) -> Result<()> {
        if name.trim().is_empty() {
            return Err(Error::InvalidInput("event name is empty".into()));
        }
        if let Some(d) = data {
            check_json(d, "the event data")?;
        }
        self.live(id, "raising an event").await?;
        self.send_to(
            id,
            EventKind::EventRaised {
                name: name.to_string(),
                input: data.map(str::to_string),
            },
        )
        .await
    }

    /// Terminates a live instance; `reason` becomes its output (as a JSON string).
    pub async fn terminate(&self, id: &str, reason: Option<&str>) -> Result<()> {
        self.live(id, "terminating").await?;
        let input = reason.map(|r| Value::String(r.to_string()).to_string());
        self.send_to(id, EventKind::ExecutionTerminated { input })
            .await
    }

    /// Suspends a running instance: it keeps receiving events but acts on none until resumed.
    pub async fn suspend(&self, id: &str, reason: Option<&str>) -> Result<()> {
        self.live(id, "suspending").await?;
        self.send_to(
            id,
            EventKind::ExecutionSuspended {
                reason: reason.map(str::to_string),
            },
        )
        .await
    }

    /// Resumes a suspended instance.
    pub async fn resume(&self, id: &str, reason: Option<&str>) -> Result<()> {
        self.live(id, "resuming").await?;
        self.send_to(
            id,
            EventKind::ExecutionResumed {
                reason: reason.map(str::to_string),
            },
        )
        .await
    }

    /// Starts the instance's orchestrator again with its original input: under the same id
    /// (which must have finished) or, with `new_id`, under a fresh one. Returns the id.
    pub async fn restart(&self, id: &str, new_id: bool) -> Result<String> {
        let old = self.get(id).await?;
        let input = match old.input.as_deref() {
            Some("") | None => None,
            Some(i) => Some(i.to_string()),
        };
        let req = StartRequest {
            name: old.name,
            instance_id: if new_id { None } else { Some(id.to_string()) },
            input,
            version: old.version,
            tags: tags_from_json(old.tags.as_deref()),
            ..StartRequest::default()
        };
        self.start(req).await
    }

    /// Purges one instance: its history rows, its Instances row and its blobs.
    pub async fn purge(&self, id: &str) -> Result<PurgeResult> {
        validate_instance_id(id).map_err(|e| Error::InvalidInput(e.to_string()))?;
        if let Some(s) = self.status(id, false).await? {
            if !s.runtime_status.is_terminal() {
                return Err(Error::WrongState {
                    id: id.to_string(),
                    status: s.runtime_status,
                    what: "purging",
                    needs: "finished",
                });
            }
        }
        Ok(self.hub.purge_instance(id).await?)
    }

    /// Purges every finished instance created in a time range with one of `statuses` (only
    /// terminal statuses count; an empty list means all four): [`Client::purge_page`] called
    /// until no match is left, so memory stays one page however many there are.
    pub async fn purge_where(
        &self,
        created_from: Option<Timestamp>,
        created_to: Option<Timestamp>,
        statuses: &[OrchestrationStatus],
    ) -> Result<PurgeResult> {
        let filter = PurgeFilter {
            created_from,
            created_to,
            statuses: statuses.to_vec(),
            ..PurgeFilter::default()
        };
        let budget = PurgeLimits::default().budget;
        let mut total = PurgeResult::default();
        let mut continuation = None;
        loop {
            let p = self
                .purge_page(&filter, budget, continuation.as_deref())
                .await?;
            total.add(&p.result);
            match p.continuation {
                Some(next) => continuation = Some(next),
                None => return Ok(total),
            }
        }
    }

    /// One budgeted call of a purge by filter: purges matching finished instances from
    /// `continuation` (the token an earlier call returned; `None`: from the start) and stops
    /// starting new ones once `budget` is spent (the ones in flight finish, so the call takes
    /// about `budget` plus one instance's purge; each call purges at least one instance if any
    /// matches). Returns what it deleted and, unless nothing matching is left, the token to go on
    /// from. Give the same filter to every call of one purge. Refuses, deleting nothing, a token
    /// it did not issue.
    pub async fn purge_page(
        &self,
        filter: &PurgeFilter,
        budget: Duration,
        continuation: Option<&str>,
    ) -> Result<PurgeProgress> {
        let limits = PurgeLimits {
            budget,
            ..PurgeLimits::default()
        };
        match self.hub.purge_page(filter, &limits, continuation).await {
            Err(crate::backend::Error::InvalidInput(m)) => Err(Error::InvalidInput(m)),
            other => Ok(other?),
        }
    }

    /// How many instances match `query`, by status and by orchestrator name.
    pub async fn count(&self, query: &InstanceQuery) -> Result<InstanceCounts> {
        Ok(self.hub.instances().count(query).await?)
    }

    /// When the instances matching `query` were created and finished, up to `max_rows` of them
    /// (for histograms of starts and of throughput).
    pub async fn times(&self, query: &InstanceQuery, max_rows: usize) -> Result<InstanceTimes> {
        Ok(self.hub.instances().times(query, max_rows).await?)
    }

    /// One page of instances matching `query`.
    pub async fn list(
        &self,
        query: &InstanceQuery,
        page_size: Option<u32>,
        continuation: Option<&str>,
    ) -> Result<InstancePage> {
        let continuation = match continuation {
            Some(token) => Some(Continuation::from_token(token).ok_or_else(|| {
                Error::InvalidInput("the continuation token is not one we issued".into())
            })?),
            None => None,
        };
        Ok(self
            .hub
            .instances()
            .query(query, page_size, continuation)
            .await?)
    }
}
