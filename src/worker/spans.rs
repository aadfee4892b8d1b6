//! The trace of an orchestration execution: the spans its turns, timers and activities make,
//! and the trace context a turn writes into what it records and sends.
//!
//! As DurableTask.Core does (`TraceHelper`, `TaskOrchestrationDispatcher`): an execution is one
//! span, `orchestration:{name}`, child of the span in its `ExecutionStarted.ParentTraceContext`
//! (a client's start, or the parent orchestration); its first turn records the span's id there
//! (`Id`, `SpanId`, `ActivityStartTime`), so every later turn — on any worker, .NET or ours —
//! continues it, and it is emitted when the execution ends. An activity request
//! (`TaskScheduled`), a sub-orchestration's start and an event sent to another instance carry
//! the execution span as their `ParentTraceContext`, so the activity's span and the child
//! execution's span are its children: one trace per instance tree. Each turn is a span of its
//! own under the execution's, which every log line of the turn sits in (with `trace_id`), and a
//! timer is a span from its creation to its firing. Where DurableTask.Core adds a client-side
//! span per activity and sub-orchestration (between the execution and the work), we parent the
//! work to the execution span directly; the tree is the same less that level.
//!
//! Nothing here runs while tracing is off (`traces::enabled`), and no trace is started for an
//! execution whose start carries no trace context (DurableTask.Core does the same).

use crate::backend::ReceivedMessage;
use crate::core::{
    DistributedTraceContext, EventKind, HistoryEvent, OrchestrationExecutor, OrchestrationStatus,
    Timestamp, TraceParent, TurnResult,
};
use crate::telemetry::traces::{self, FinishedSpan, Kind};

/// The execution a turn runs in, as far as its trace goes.
pub(super) struct ExecutionTrace {
    instance_id: String,
    name: String,
    version: Option<String>,
    context: DistributedTraceContext,
    /// The execution's span, as the parent of what the turn does.
    span: TraceParent,
}

impl ExecutionTrace {
    /// The trace of the execution this turn's messages run in: the one a start in the batch
    /// begins, else the executor's. `None` when tracing is off or the execution has no trace.
    pub fn of(executor: &OrchestrationExecutor, apply: &[ReceivedMessage]) -> Option<Self> {
        if !traces::enabled() {
            return None;
        }
        let start = apply.iter().find_map(|m| match &m.message.event.kind {
            EventKind::ExecutionStarted {
                orchestration_instance,
                name,
                version,
                ..
            } => Some((
                orchestration_instance,
                name,
                version,
                m.message.event.parent_trace_context.as_ref(),
            )),
            _ => None,
        });
        let (instance_id, execution_id, name, version, context) = match start {
            Some((instance, name, version, context)) => (
                instance.instance_id.clone(),
                instance.execution_id.clone().unwrap_or_default(),
                name.clone(),
                // DurableTask writes "" for no version: `{name}`, not `{name}@()`.
                version.clone().filter(|v| !v.is_empty()),
                context?.clone(),
            ),
            None => {
                let (instance_id, execution_id, context) = executor.trace_context()?;
                let (name, version) = executor.orchestration()?;
                let version = Some(version).filter(|v| !v.is_empty());
                (instance_id, execution_id, name, version, context)
            }
        };
        let span = context.execution_parent(&instance_id, &execution_id)?;
        Some(ExecutionTrace {
            instance_id,
            name,
            version,
            context,
            span,
        })
    }

    /// DurableTask.Core's span names: `{what}:{name}` or `{what}:{name}@({version})`.
    fn span_name(&self, what: &str) -> String {
        match &self.version {
            Some(v) => format!("{what}:{}@({v})", self.name),
            None => format!("{what}:{}", self.name),
        }
    }

    /// The span a turn runs in (not entered yet), under the execution's span.
    pub fn turn_span(&self) -> tracing::Span {
        let span = tracing::info_span!(
            "turn",
            otel.name = %self.span_name("orchestration_turn"),
            otel.kind = "internal",
            "durabletask.type" = "orchestration",
            "durabletask.task.instance_id" = %self.instance_id,
            trace_id = tracing::field::Empty,
        );
        traces::continue_trace(&span, &self.span, self.context.trace_state.as_deref());
        span
    }

    /// Writes the trace context into what the turn records and sends: the execution span's
    /// identity into a new `ExecutionStarted`, the current execution's span as the parent of its
    /// activity requests, sub-orchestration starts and events to other instances.
    pub fn stamp(executor: &OrchestrationExecutor, turn: &mut TurnResult, now: Timestamp) {
        if !traces::enabled() {
            return;
        }
        for event in &mut turn.new_events {
            record_execution_span(event, now);
        }
        // After a continue-as-new, the new execution's (its start is in this turn).
        let Some((instance_id, execution_id, context)) = executor.trace_context() else {
            return;
        };
        let Some(parent) = context.execution_parent(&instance_id, &execution_id) else {
            return;
        };
        let stamp = DistributedTraceContext::new(&parent, context.trace_state.clone());
        let carries = |e: &HistoryEvent| match &e.kind {
            EventKind::TaskScheduled { .. } | EventKind::EventRaised { .. } => true,
            EventKind::ExecutionStarted {
                parent_instance, ..
            } => parent_instance.is_some(),
            _ => false,
        };
        let scheduled = turn
            .new_events
            .iter_mut()
            .filter(|e| matches!(e.kind, EventKind::TaskScheduled { .. }));
        let sent = turn
            .messages
            .iter_mut()
            .map(|m| &mut m.event)
            .filter(|e| carries(e));
        for event in scheduled.chain(sent) {
            if event.parent_trace_context.is_none() {
                event.parent_trace_context = Some(stamp.clone());
            }
        }
    }

    /// The spans a committed turn completes: each timer that fired, and the execution's own
    /// when the turn ended it.
    pub fn emit(&self, turn: &TurnResult, now: Timestamp) {
        for event in &turn.new_events {
            if let EventKind::TimerFired { timer_id, fire_at } = &event.kind {
                traces::emit(FinishedSpan {
                    name: format!("{}:timer", self.span_name("orchestration")),
                    kind: Kind::Internal,
                    parent: self.span,
                    trace_state: self.context.trace_state.clone(),
                    span_id: None,
                    // A timer message carries the time it was created (as in DurableTask).
                    start: event.timestamp,
                    end: now,
                    attributes: vec![
                        ("durabletask.type", "timer".into()),
                        ("durabletask.task.name", self.name.clone()),
                        ("durabletask.task.instance_id", self.instance_id.clone()),
                        ("durabletask.fire_at", crate::timestamps::ticks(*fire_at)),
                        ("durabletask.task.task_id", timer_id.to_string()),
                    ],
                    error: None,
                });
            }
        }
        if !(turn.is_terminal() || turn.status == OrchestrationStatus::ContinuedAsNew) {
            return;
        }
        let Some(parent) = self.context.parent() else {
            return;
        };
        // Recorded by the first turn: in the history, or in this turn's new events when the
        // execution ends in its first turn.
        let recorded = turn.new_events.iter().find_map(|e| match &e.kind {
            EventKind::ExecutionStarted { .. } => e.parent_trace_context.as_ref(),
            _ => None,
        });
        let start = [Some(&self.context), recorded]
            .into_iter()
            .flatten()
            .find_map(|c| c.activity_start_time.as_deref())
            .and_then(|t| Timestamp::parse(t, &time::format_description::well_known::Rfc3339).ok())
            .unwrap_or(now);
        let error = match turn.status {
            OrchestrationStatus::Failed => Some(
                turn.failure
                    .as_ref()
                    .map(|f| f.error_message.clone())
                    .unwrap_or_else(|| "failed".into()),
            ),
            OrchestrationStatus::Terminated => Some("Terminated".into()),
            _ => None,
        };
        let mut attributes = vec![
            ("durabletask.type", "orchestration".to_string()),
            ("durabletask.task.name", self.name.clone()),
            ("durabletask.task.instance_id", self.instance_id.clone()),
            ("durabletask.task.status", turn.status.to_string()),
        ];
        if let Some(v) = &self.version {
            attributes.push(("durabletask.task.version", v.clone()));
        }
        traces::emit(FinishedSpan {
            name: self.span_name("orchestration"),
            kind: Kind::Server,
            parent,
            trace_state: self.context.trace_state.clone(),
            span_id: Some(self.span.span_id),
            start,
            end: now,
            attributes,
            error,
        });
    }
}

/// On a new execution's `ExecutionStarted` that has a trace context but no span yet: the span
/// its turns continue (its id derived the same way every worker derives it).
fn record_execution_span(event: &mut HistoryEvent, now: Timestamp) {
    let EventKind::ExecutionStarted {
        orchestration_instance,
        ..
    } = &event.kind
    else {
        return;
    };
    let Some(context) = event.parent_trace_context.as_mut() else {
        return;
    };
    if context.span_id.is_some() {
        return;
    }
    let execution_id = orchestration_instance.execution_id.as_deref().unwrap_or("");
    let Some(span) = context.execution_parent(&orchestration_instance.instance_id, execution_id)
    else {
        return;
    };
    context.id = Some(span.to_string());
    context.span_id = Some(span.span_id_hex());
    context.activity_start_time = Some(crate::timestamps::ticks(now));
}

/// The span of an activity (not entered yet): `activity:{name}`, a child of the span its request
/// names, with the trace id in every log line. Without tracing, the plain `activity` span.
pub(super) fn activity_span(
    instance_id: &str,
    task_id: i32,
    name: &str,
    event: &HistoryEvent,
) -> tracing::Span {
    let span = tracing::info_span!(
        parent: None,
        "activity",
        instance_id = %instance_id,
        task = task_id,
        otel.name = tracing::field::Empty,
        otel.kind = tracing::field::Empty,
        "durabletask.type" = tracing::field::Empty,
        "durabletask.task.name" = tracing::field::Empty,
        "durabletask.task.task_id" = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
        otel.status_description = tracing::field::Empty,
        trace_id = tracing::field::Empty,
    );
    if !traces::enabled() {
        return span;
    }
    let Some(context) = &event.parent_trace_context else {
        return span;
    };
    let Some(parent) = context.parent() else {
        return span;
    };
    let version = match &event.kind {
        EventKind::TaskScheduled {
            version: Some(v), ..
        } if !v.is_empty() => format!("@({v})"),
        _ => String::new(),
    };
    // Recorded only now, so that the log lines of an untraced activity stay as they were.
    span.record("otel.name", format!("activity:{name}{version}"));
    span.record("otel.kind", "server");
    span.record("durabletask.type", "activity");
    span.record("durabletask.task.name", name);
    span.record("durabletask.task.task_id", task_id);
    traces::continue_trace(&span, &parent, context.trace_state.as_deref());
    span
}

/// Marks the current activity span failed.
pub(super) fn activity_failed(error: &str) {
    if traces::enabled() {
        let span = tracing::Span::current();
        span.record("otel.status_code", "error");
        span.record("otel.status_description", error);
    }
}
