//! The span of a client's start, `create_orchestration:{name}` (as DurableTask.Core names it),
//! and the trace context the start message carries to the execution it begins.

use crate::core::{DistributedTraceContext, TraceParent};
use crate::telemetry::traces;

/// The start's span (kept until the start is sent) and the `ParentTraceContext` for its
/// `ExecutionStarted`. With tracing on, the span is a child of `caller` (an HTTP request's
/// `traceparent`) or else of the current span, and the execution hangs from it. With tracing
/// off, the caller's context is passed on as it came, so a worker that traces continues it.
pub(super) fn start_span(
    name: &str,
    version: Option<&str>,
    instance_id: &str,
    caller: Option<&DistributedTraceContext>,
) -> (tracing::Span, Option<DistributedTraceContext>) {
    if !traces::enabled() {
        let passed_on = caller.and_then(|c| {
            let parent = c.parent()?;
            Some(DistributedTraceContext::new(&parent, c.trace_state.clone()))
        });
        return (tracing::Span::none(), passed_on);
    }
    let span_name = match version.filter(|v| !v.is_empty()) {
        Some(v) => format!("create_orchestration:{name}@({v})"),
        None => format!("create_orchestration:{name}"),
    };
    let span = tracing::info_span!(
        "start",
        otel.name = %span_name,
        otel.kind = "producer",
        "durabletask.type" = "orchestration",
        "durabletask.task.name" = %name,
        "durabletask.task.instance_id" = %instance_id,
        trace_id = tracing::field::Empty,
    );
    if let Some((parent, state)) = caller.and_then(|c| Some((c.parent()?, &c.trace_state))) {
        traces::continue_trace(&span, &parent, state.as_deref());
    }
    let context = traces::trace_parent_of(&span).map(|(tp, state): (TraceParent, _)| {
        span.record("trace_id", tracing::field::display(tp.trace_id_hex()));
        DistributedTraceContext::new(&tp, state)
    });
    (span, context)
}
