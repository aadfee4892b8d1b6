//! What operators watch: metrics (through the `metrics` facade; [`names`] lists every one) and
//! health (liveness and readiness, [`Health`]).
//!
//! The library only *records* metrics: without a recorder installed the calls cost an atomic
//! load and do nothing. [`prometheus::install`] (feature `http`) installs the Prometheus
//! recorder once per process; the HTTP server's `/metrics` and `taskhub worker --metrics ADDR`
//! render it.

mod health;
pub mod names;
#[cfg(feature = "http")]
pub mod prometheus;
mod record;

pub use health::{Health, HealthReport, RunningGuard};
pub(crate) use record::*;
