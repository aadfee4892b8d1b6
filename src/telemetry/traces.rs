//! Distributed tracing, as the worker and client call it: put a `tracing` span into a trace,
//! read a span's trace context, emit a span whose identity and times are already known.
//!
//! Always compiled, so callers need no `cfg`: without the `otel` feature, or with it but no
//! exporter installed ([`enabled`] false), every call is an atomic load and nothing else. With
//! [`super::otel::install_from_env`] (feature `otel`) the spans go to an OTLP endpoint.
//!
//! The span tree follows DurableTask.Core's `TraceHelper` (names `create_orchestration:{name}`,
//! `orchestration:{name}`, `activity:{name}`, `orchestration:{name}:timer`; attributes
//! `durabletask.*`), so a trace reads the same whichever side ran a step.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::core::{Timestamp, TraceParent};

static ENABLED: AtomicBool = AtomicBool::new(false);

/// True when spans are exported (an exporter was installed in this process).
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Called by the exporter's installer.
#[cfg_attr(not(feature = "otel"), allow(dead_code))]
pub(crate) fn set_enabled(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

/// The OpenTelemetry span kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Runs work another side asked for (an execution, an activity).
    Server,
    /// Neither (a timer).
    Internal,
}

/// A span whose identity and times are known when it is emitted: an execution's span (its id
/// fixed by its first turn and recorded in `ExecutionStarted.ParentTraceContext`) at its end, a
/// timer when it fires.
#[cfg_attr(not(feature = "otel"), allow(dead_code))]
pub(crate) struct FinishedSpan {
    pub name: String,
    pub kind: Kind,
    pub parent: TraceParent,
    pub trace_state: Option<String>,
    /// `None`: a fresh id.
    pub span_id: Option<[u8; 8]>,
    pub start: Timestamp,
    pub end: Timestamp,
    pub attributes: Vec<(&'static str, String)>,
    /// Set when the work failed: the span's error status description.
    pub error: Option<String>,
}

/// Emits `span` (nothing when tracing is off).
pub(crate) fn emit(span: FinishedSpan) {
    if !enabled() {
        return;
    }
    #[cfg(feature = "otel")]
    super::otel::emit(span);
    #[cfg(not(feature = "otel"))]
    drop(span);
}

/// Makes `span` (not yet entered) a child of `parent` in its trace, and records the trace id in
/// its `trace_id` field, so every log line inside it carries the trace id.
pub(crate) fn continue_trace(
    span: &tracing::Span,
    parent: &TraceParent,
    trace_state: Option<&str>,
) {
    if !enabled() {
        return;
    }
    #[cfg(feature = "otel")]
    super::otel::set_parent(span, parent, trace_state);
    #[cfg(not(feature = "otel"))]
    let _ = trace_state;
    span.record("trace_id", tracing::field::display(parent.trace_id_hex()));
}

/// The trace context of `span` as a parent for work it starts (`None` when tracing is off or
/// the span is not sampled into any trace).
pub(crate) fn trace_parent_of(span: &tracing::Span) -> Option<(TraceParent, Option<String>)> {
    if !enabled() {
        return None;
    }
    #[cfg(feature = "otel")]
    return super::otel::trace_parent_of(span);
    #[cfg(not(feature = "otel"))]
    {
        let _ = span;
        None
    }
}
