//! The chaos scenarios: real processes killed at bad moments, and what survives.
//!
//! - [`azurite`] (`chaos-azurite`): the storage emulator is killed under two workers and
//!   restarted on the same ports and data.
//! - [`workers`] (`chaos-workers`): repeated runs, each killing one of two workers at a seeded
//!   random point (and sometimes starting a replacement).
//! - [`failover`] (`failover`): the workers' default timeouts, one worker killed: how long each of
//!   its instances waits before it moves again.
//!
//! Each counts, per instance, completed / lost / duplicated history events
//! ([`super::processes::Tally`]) and fails with [`Error::Lost`] (report attached) when anything was
//! lost. Progress goes to stderr as it happens: the runs take minutes, and a seed or a hub name
//! printed early is what lets someone look into a run that hangs.

pub(super) mod azurite;
pub(super) mod failover;
pub(super) mod workers;

use super::{BenchOptions, Error, Report};

/// One progress line on stderr.
fn progress(scenario: &str, line: impl std::fmt::Display) {
    eprintln!("{scenario}: {line}");
}

/// The report, or [`Error::Lost`] carrying it when `failure` says what went wrong.
fn verdict(report: Report, failure: Option<String>) -> Result<Report, Error> {
    match failure {
        None => Ok(report),
        Some(summary) => Err(Error::Lost {
            summary: format!("{}: {summary}", report.scenario),
            report: Box::new(report),
        }),
    }
}

/// Seconds in a duration, for the report's figures.
fn secs(d: std::time::Duration) -> f64 {
    d.as_secs_f64()
}

/// A note naming the extra worker flags, when there are any.
fn worker_args_note(o: &BenchOptions) -> Option<String> {
    (!o.chaos.worker_args.is_empty()).then(|| {
        format!(
            "every worker ran with the extra flags {}",
            o.chaos.worker_args.join(" ")
        )
    })
}
