//! The OpenTelemetry exporter (feature `otel`): an OTLP/HTTP span exporter configured by the
//! standard `OTEL_*` variables, and the SDK calls behind [`super::traces`].
//!
//! Tracing is on when `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is
//! set (and neither `OTEL_SDK_DISABLED=true` nor `OTEL_TRACES_EXPORTER=none` says otherwise).
//! The SDK and the exporter read the rest themselves: `OTEL_SERVICE_NAME` and
//! `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER(_ARG)`, `OTEL_BSP_*`,
//! `OTEL_EXPORTER_OTLP_(TRACES_)HEADERS` and `_TIMEOUT`. `OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL`
//! is `http/protobuf` (the default) or `http/json`; `grpc` is refused with a clear error (no
//! gRPC stack is built in).

use std::cell::Cell;
use std::str::FromStr;
use std::sync::OnceLock;

use opentelemetry::trace::{
    Span as _, SpanContext, SpanId, SpanKind, Status, TraceContextExt, TraceFlags, TraceId,
    TraceState, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator, SdkTracer, SdkTracerProvider};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::traces::{self, FinishedSpan, Kind};
use crate::core::TraceParent;

/// The tracer every span of the process goes through (set once by [`install_from_env`]).
static TRACER: OnceLock<SdkTracer> = OnceLock::new();

thread_local! {
    /// The span id the next span built on this thread must have (an execution's span, whose id
    /// its first turn recorded): the SDK takes ids only from its id generator.
    static NEXT_SPAN_ID: Cell<Option<SpanId>> = const { Cell::new(None) };
}

/// Random ids, except the one [`emit`] asks for.
#[derive(Debug)]
struct ChosenOrRandomIds(RandomIdGenerator);

impl IdGenerator for ChosenOrRandomIds {
    fn new_trace_id(&self) -> TraceId {
        self.0.new_trace_id()
    }

    fn new_span_id(&self) -> SpanId {
        NEXT_SPAN_ID
            .with(Cell::take)
            .unwrap_or_else(|| self.0.new_span_id())
    }
}

/// Why tracing could not be set up from the environment.
#[derive(Debug, thiserror::Error)]
#[error("OpenTelemetry: {0}")]
pub struct OtelError(String);

/// What [`install_from_env`] installed: the tracer for the `tracing` layer, and the provider,
/// flushed and shut down when this is dropped (at the end of `main`).
pub struct Tracing {
    /// The tracer to give `tracing_opentelemetry::layer().with_tracer(..)`.
    pub tracer: SdkTracer,
    provider: SdkTracerProvider,
}

impl Drop for Tracing {
    fn drop(&mut self) {
        traces::set_enabled(false);
        // Sends what the batch still holds; an unreachable collector only costs its timeout.
        let _ = self.provider.shutdown();
    }
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Installs the OTLP exporter when the environment asks for one (see the module header);
/// `Ok(None)` when it does not. Call once, from a thread that is not inside an async runtime
/// (the exporter's blocking HTTP client is built here).
pub fn install_from_env() -> Result<Option<Tracing>, OtelError> {
    let disabled = var("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true"))
        || var("OTEL_TRACES_EXPORTER").is_some_and(|v| v.eq_ignore_ascii_case("none"));
    let endpoint =
        var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").or_else(|| var("OTEL_EXPORTER_OTLP_ENDPOINT"));
    if disabled || endpoint.is_none() {
        return Ok(None);
    }
    if let Some(exporter) = var("OTEL_TRACES_EXPORTER") {
        if !exporter.eq_ignore_ascii_case("otlp") {
            return Err(OtelError(format!(
                "OTEL_TRACES_EXPORTER={exporter} is not supported (use otlp or none)"
            )));
        }
    }
    let protocol = match var("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        .or_else(|| var("OTEL_EXPORTER_OTLP_PROTOCOL"))
        .as_deref()
        .map(str::trim)
    {
        None | Some("http/protobuf") => opentelemetry_otlp::Protocol::HttpBinary,
        Some("http/json") => opentelemetry_otlp::Protocol::HttpJson,
        Some("grpc") => {
            return Err(OtelError(
                "OTEL_EXPORTER_OTLP_PROTOCOL=grpc is not built in; use http/protobuf (port 4318 on a collector)".into(),
            ))
        }
        Some(other) => {
            return Err(OtelError(format!(
                "OTEL_EXPORTER_OTLP_PROTOCOL={other} is not one of http/protobuf, http/json"
            )))
        }
    };
    use opentelemetry_otlp::WithExportConfig;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(protocol)
        .build()
        .map_err(|e| OtelError(format!("cannot build the OTLP exporter: {e}")))?;
    let mut resource = opentelemetry_sdk::Resource::builder();
    let named = var("OTEL_SERVICE_NAME").is_some()
        || var("OTEL_RESOURCE_ATTRIBUTES").is_some_and(|a| a.contains("service.name="));
    if !named {
        resource = resource.with_service_name("taskhub");
    }
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_id_generator(ChosenOrRandomIds(RandomIdGenerator::default()))
        .with_resource(resource.build())
        .build();
    let tracer = provider.tracer("taskhub");
    let _ = TRACER.set(tracer.clone());
    traces::set_enabled(true);
    Ok(Some(Tracing { tracer, provider }))
}

fn remote_context(parent: &TraceParent, trace_state: Option<&str>) -> Context {
    let state = trace_state
        .and_then(|s| TraceState::from_str(s).ok())
        .unwrap_or_default();
    let span_context = SpanContext::new(
        TraceId::from_bytes(parent.trace_id),
        SpanId::from_bytes(parent.span_id),
        TraceFlags::new(parent.flags),
        true,
        state,
    );
    Context::new().with_remote_span_context(span_context)
}

pub(super) fn set_parent(span: &tracing::Span, parent: &TraceParent, trace_state: Option<&str>) {
    // An error means the span is disabled by the filter or already started: it then stays
    // where it is, which loses a link and nothing else.
    let _ = span.set_parent(remote_context(parent, trace_state));
}

pub(super) fn trace_parent_of(span: &tracing::Span) -> Option<(TraceParent, Option<String>)> {
    let cx = span.context();
    let sc = cx.span().span_context().clone();
    if !sc.is_valid() {
        return None;
    }
    let state = sc.trace_state().header();
    Some((
        TraceParent {
            trace_id: sc.trace_id().to_bytes(),
            span_id: sc.span_id().to_bytes(),
            flags: sc.trace_flags().to_u8(),
        },
        Some(state).filter(|s| !s.is_empty()),
    ))
}

pub(super) fn emit(span: FinishedSpan) {
    let Some(tracer) = TRACER.get() else {
        return;
    };
    let kind = match span.kind {
        Kind::Server => SpanKind::Server,
        Kind::Internal => SpanKind::Internal,
    };
    let attributes = span
        .attributes
        .into_iter()
        .map(|(k, v)| KeyValue::new(k, v))
        .collect::<Vec<_>>();
    let builder = tracer
        .span_builder(span.name)
        .with_kind(kind)
        .with_start_time(std::time::SystemTime::from(span.start))
        .with_attributes(attributes);
    let parent = remote_context(&span.parent, span.trace_state.as_deref());
    NEXT_SPAN_ID.with(|n| n.set(span.span_id.map(SpanId::from_bytes)));
    let mut otel_span = tracer.build_with_context(builder, &parent);
    // Not taken when the span was not built (a provider shut down): never leak into the next.
    NEXT_SPAN_ID.with(|n| n.set(None));
    if let Some(error) = span.error {
        otel_span.set_status(Status::error(error));
    }
    otel_span.end_with_timestamp(std::time::SystemTime::from(span.end));
}
