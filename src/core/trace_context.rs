//! W3C trace context as history data: DurableTask.Core's `DistributedTraceContext`.
//!
//! DurableTask.Core (its `TraceHelper`) carries distributed tracing in the history: the
//! `ParentTraceContext` of an `ExecutionStarted` names the span that started the execution
//! (a client's `create_orchestration`, or the parent orchestration) and, once a worker ran it,
//! the execution's own span (`Id`, `SpanId`, `ActivityStartTime`), so every turn — on any
//! worker — continues the same span; a `TaskScheduled` (and an `EventRaised`) names the span its
//! work continues. This module only holds and parses those values: no clock, no randomness, no
//! exporter (the worker and `telemetry::traces` do that), so the core stays pure.

use serde::{Deserialize, Serialize};

/// DurableTask.Core drops a `tracestate` longer than this rather than truncate it by the W3C
/// rules (`DistributedTraceContext.TraceState`).
const MAX_TRACE_STATE: usize = 513;

/// `DistributedTraceContext`, field for field (PascalCase JSON, as .NET writes it in queue
/// messages and, as JSON text, in the History table's `ParentTraceContext` column).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DistributedTraceContext {
    /// `TraceParent`: the W3C `traceparent` of the parent span.
    #[serde(rename = "TraceParent")]
    pub trace_parent: String,
    /// `TraceState`: the W3C `tracestate`, if any.
    #[serde(rename = "TraceState", default)]
    pub trace_state: Option<String>,
    /// `Id`: on an `ExecutionStarted`, the execution span's own `traceparent`-form id, written
    /// by the first worker that ran it, so later turns continue that span.
    #[serde(rename = "Id", default)]
    pub id: Option<String>,
    /// `SpanId`: on an `ExecutionStarted`, the execution span's id (16 hex digits).
    #[serde(rename = "SpanId", default)]
    pub span_id: Option<String>,
    /// `ActivityStartTime`: on an `ExecutionStarted`, when the execution span began, as .NET
    /// writes a `DateTimeOffset` (kept as text so a .NET value round-trips unchanged).
    #[serde(rename = "ActivityStartTime", default)]
    pub activity_start_time: Option<String>,
}

impl DistributedTraceContext {
    /// A context whose parent is `parent`, carrying `trace_state` (dropped past 513 characters,
    /// as DurableTask.Core does).
    pub fn new(parent: &TraceParent, trace_state: Option<String>) -> Self {
        DistributedTraceContext {
            trace_parent: parent.to_string(),
            trace_state: trace_state.filter(|s| s.len() <= MAX_TRACE_STATE),
            id: None,
            span_id: None,
            activity_start_time: None,
        }
    }

    /// The parsed `TraceParent`, or `None` when it is not a valid W3C `traceparent`.
    pub fn parent(&self) -> Option<TraceParent> {
        TraceParent::parse(&self.trace_parent)
    }

    /// The execution span's id: the one recorded in `SpanId` (by us or by a .NET worker), else
    /// one derived from the instance and execution ids, so that every worker running a turn of
    /// this execution arrives at the same span without having to read it back.
    pub fn execution_span_id(&self, instance_id: &str, execution_id: &str) -> [u8; 8] {
        self.span_id
            .as_deref()
            .and_then(hex_bytes::<8>)
            .filter(|b| b != &[0; 8])
            .unwrap_or_else(|| derived_span_id(&[instance_id, execution_id, &self.trace_parent]))
    }

    /// The execution span as a parent: same trace, its span id, the parent's flags.
    pub fn execution_parent(&self, instance_id: &str, execution_id: &str) -> Option<TraceParent> {
        let parent = self.parent()?;
        Some(TraceParent {
            span_id: self.execution_span_id(instance_id, execution_id),
            ..parent
        })
    }

    /// What the next execution (after continue-as-new) starts from: the same parent, without
    /// this execution's own span.
    pub fn for_next_execution(&self) -> Self {
        DistributedTraceContext {
            trace_parent: self.trace_parent.clone(),
            trace_state: self.trace_state.clone(),
            id: None,
            span_id: None,
            activity_start_time: None,
        }
    }
}

/// A parsed W3C `traceparent`: `00-<trace id>-<parent span id>-<flags>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceParent {
    /// The trace id (not all zeros).
    pub trace_id: [u8; 16],
    /// The parent span id (not all zeros).
    pub span_id: [u8; 8],
    /// The trace flags (bit 0: sampled).
    pub flags: u8,
}

impl TraceParent {
    /// Parses a `traceparent` header value. Accepts version `00` exactly and, as the W3C spec
    /// asks, later versions by their first four fields; refuses `ff`, upper-case hex and
    /// all-zero ids.
    pub fn parse(text: &str) -> Option<TraceParent> {
        let text = text.trim();
        let mut parts = text.split('-');
        let version = parts.next()?;
        let trace_id = parts.next()?;
        let span_id = parts.next()?;
        let flags = parts.next()?;
        let rest = parts.next();
        if version.len() != 2 || version == "ff" || (version == "00" && rest.is_some()) {
            return None;
        }
        hex_bytes::<1>(version)?;
        let trace_id = hex_bytes::<16>(trace_id).filter(|b| b != &[0; 16])?;
        let span_id = hex_bytes::<8>(span_id).filter(|b| b != &[0; 8])?;
        let flags = hex_bytes::<1>(flags)?[0];
        Some(TraceParent {
            trace_id,
            span_id,
            flags,
        })
    }

    /// True when the sampled flag is set.
    pub fn sampled(&self) -> bool {
        self.flags & 1 == 1
    }

    /// The trace id as 32 lower-case hex digits (what log lines carry).
    pub fn trace_id_hex(&self) -> String {
        hex(&self.trace_id)
    }

    /// The span id as 16 lower-case hex digits.
    pub fn span_id_hex(&self) -> String {
        hex(&self.span_id)
    }
}

impl std::fmt::Display for TraceParent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "00-{}-{}-{:02x}",
            self.trace_id_hex(),
            self.span_id_hex(),
            self.flags
        )
    }
}

/// A span id from names: the first 8 bytes of a name-based (v5) UUID, the same on every
/// worker and every build.
pub fn derived_span_id(parts: &[&str]) -> [u8; 8] {
    let name = parts.join("\u{1f}");
    let bytes = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, name.as_bytes()).into_bytes();
    let mut id = [0u8; 8];
    id.copy_from_slice(&bytes[..8]);
    if id == [0; 8] {
        id[7] = 1;
    }
    id
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `N` bytes from exactly `2N` lower-case hex digits.
fn hex_bytes<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != 2 * N || !text.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TP: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    #[test]
    fn parses_and_writes_the_w3c_example() {
        let tp = TraceParent::parse(TP).unwrap();
        assert_eq!(tp.trace_id_hex(), "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(tp.span_id_hex(), "b7ad6b7169203331");
        assert!(tp.sampled());
        assert_eq!(tp.to_string(), TP);
    }

    #[test]
    fn refuses_what_the_spec_refuses() {
        for bad in [
            "",
            "00",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
            "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
            "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
            "00-0af7651916cd43dd8448eb211c8031-b7ad6b7169203331-01",
            "0x-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        ] {
            assert_eq!(TraceParent::parse(bad), None, "{bad}");
        }
        // A later version may add fields.
        assert!(
            TraceParent::parse("01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-x")
                .is_some()
        );
    }

    #[test]
    fn the_execution_span_is_the_recorded_one_or_the_same_derived_one() {
        let mut ctx = DistributedTraceContext::new(&TraceParent::parse(TP).unwrap(), None);
        let a = ctx.execution_span_id("i", "e");
        assert_eq!(
            a,
            ctx.execution_span_id("i", "e"),
            "derived the same each time"
        );
        assert_ne!(a, ctx.execution_span_id("i", "e2"));
        ctx.span_id = Some("1111111111111111".into());
        assert_eq!(ctx.execution_span_id("i", "e"), [0x11; 8]);
        let parent = ctx.execution_parent("i", "e").unwrap();
        assert_eq!(parent.trace_id_hex(), "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(parent.span_id, [0x11; 8]);
        assert!(ctx.for_next_execution().span_id.is_none());
    }

    #[test]
    fn a_long_trace_state_is_dropped() {
        let tp = TraceParent::parse(TP).unwrap();
        let long = "k=".to_string() + &"v".repeat(600);
        assert_eq!(
            DistributedTraceContext::new(&tp, Some(long)).trace_state,
            None
        );
        assert_eq!(
            DistributedTraceContext::new(&tp, Some("k=v".into())).trace_state,
            Some("k=v".into())
        );
    }
}
