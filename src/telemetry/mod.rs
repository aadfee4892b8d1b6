//! What operators watch: metrics (through the `metrics` facade; [`names`] lists every one) and
//! health (liveness and readiness, [`Health`]).
//!
//! The library only *records* metrics: without a recorder installed the calls cost an atomic
//! load and do nothing. [`prometheus::install`] (feature `http`) installs the Prometheus
//! recorder once per process; the HTTP server's `/metrics` and `taskhub worker --metrics ADDR`
//! render it.
//!
//! Traces: [`traces`] is what the worker and client call (a no-op while no exporter is
//! installed); [`otel::install_from_env`] (feature `otel`) installs the OTLP exporter the
//! `OTEL_*` variables describe.

mod health;
pub mod names;
#[cfg(feature = "otel")]
pub mod otel;
#[cfg(feature = "http")]
pub mod prometheus;
mod record;
pub mod traces;

pub use health::{Health, HealthReport, RunningGuard};
pub(crate) use record::*;
