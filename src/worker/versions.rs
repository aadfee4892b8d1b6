//! Which instances this worker runs: those of a version its policy accepts and of an
//! orchestrator it registers (the code for the instance's version, or an unversioned one).
//!
//! Owns [`Gate`] and [`gate`]. The orchestration turn asks before running any code; an instance
//! this worker must not run is either left for a worker that can (Reject: its messages are put
//! back for a while, which does not count as a failed delivery, so a rolling deploy never
//! poisons them) or ended Failed with the reason (Fail), without running any of its code.

use crate::backend::ReceivedMessage;
use crate::core::{
    EventKind, FailureDetails, OrchestrationExecutor, Registry, VersionFailure, VersionMatch,
    VersionPolicy,
};

/// What the worker does with an instance's turn.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Gate {
    /// Run it.
    Run,
    /// Leave its messages for another worker; the failure says why (for the log).
    Reject(FailureDetails),
    /// End it Failed with this failure.
    Fail(FailureDetails),
}

/// The gate for a turn applying `apply`: by the orchestrator and version of the start it
/// applies, else of the current execution. A turn applying nothing runs no code.
pub(crate) fn for_turn(
    policy: &VersionPolicy,
    registry: &Registry,
    executor: &OrchestrationExecutor,
    apply: &[ReceivedMessage],
) -> Gate {
    if apply.is_empty() {
        return Gate::Run;
    }
    let started = apply.iter().find_map(|m| match &m.message.event.kind {
        EventKind::ExecutionStarted { name, version, .. } => {
            Some((name.clone(), version.clone().unwrap_or_default()))
        }
        _ => None,
    });
    match started.or_else(|| executor.orchestration()) {
        Some((name, version)) => gate(policy, registry, &name, &version),
        None => Gate::Run,
    }
}

/// True when the batch terminates the instance (which needs none of its code).
pub(crate) fn terminates(apply: &[ReceivedMessage]) -> bool {
    apply
        .iter()
        .any(|m| matches!(m.message.event.kind, EventKind::ExecutionTerminated { .. }))
}

/// The gate for an instance of orchestrator `name` started with `version`.
pub(crate) fn gate(policy: &VersionPolicy, registry: &Registry, name: &str, version: &str) -> Gate {
    let shown = |v: &str| {
        if v.trim().is_empty() {
            "(none)".to_string()
        } else {
            format!("'{v}'")
        }
    };
    let failure = if !policy.accepts(version) {
        let relation = match policy.matching {
            VersionMatch::CurrentOrOlder => "is newer than",
            _ => "is not",
        };
        FailureDetails::new(
            FailureDetails::VERSION_MISMATCH,
            format!(
                "the instance's version {} {relation} this worker's version {} (version match {})",
                shown(version),
                shown(&policy.version),
                policy.matching
            ),
        )
    } else if registry.orchestrator_version(name, version).is_none() {
        let what = if registry.has_orchestrator(name) {
            format!(
                "orchestrator '{name}' is registered on this worker, but not for version {} nor without a version",
                shown(version)
            )
        } else {
            format!("no orchestrator named '{name}' is registered on this worker")
        };
        FailureDetails::new(FailureDetails::ORCHESTRATOR_NOT_FOUND, what)
    } else {
        return Gate::Run;
    };
    let failure = FailureDetails {
        is_non_retriable: true,
        ..failure
    };
    match policy.on_mismatch {
        VersionFailure::Reject => Gate::Reject(failure),
        VersionFailure::Fail => Gate::Fail(failure),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry() -> Registry {
        let mut r = Registry::new();
        r.add_orchestrator_version("Greet", "1.0", |_ctx| async { Ok("v1") });
        r.add_orchestrator_version("Greet", "2.0", |_ctx| async { Ok("v2") });
        r.add_orchestrator("Plain", |_ctx| async { Ok(()) });
        r
    }

    fn policy(version: &str, matching: VersionMatch, on_mismatch: VersionFailure) -> VersionPolicy {
        VersionPolicy {
            version: version.into(),
            matching,
            on_mismatch,
        }
    }

    #[test]
    fn runs_what_it_accepts_and_registers() {
        let r = registry();
        let p = policy("2.0", VersionMatch::CurrentOrOlder, VersionFailure::Reject);
        assert_eq!(gate(&p, &r, "Greet", "1.0"), Gate::Run);
        assert_eq!(gate(&p, &r, "greet", "2.0"), Gate::Run);
        assert_eq!(
            gate(&p, &r, "Plain", "1.5"),
            Gate::Run,
            "falls back to unversioned"
        );
        assert_eq!(gate(&VersionPolicy::default(), &r, "Plain", "9"), Gate::Run);
    }

    #[test]
    fn newer_versions_and_unknown_names_are_rejected_or_failed_with_the_reason() {
        let r = registry();
        let reject = policy("1.0", VersionMatch::CurrentOrOlder, VersionFailure::Reject);
        let Gate::Reject(f) = gate(&reject, &r, "Greet", "2.0") else {
            panic!("a newer version must be rejected");
        };
        assert_eq!(f.error_type, FailureDetails::VERSION_MISMATCH);
        assert!(
            f.error_message
                .contains("'2.0' is newer than this worker's version '1.0'"),
            "{f}"
        );

        let fail = policy("1.0", VersionMatch::Strict, VersionFailure::Fail);
        let Gate::Fail(f) = gate(&fail, &r, "Greet", "") else {
            panic!("Strict fails another version");
        };
        assert!(f.error_message.contains("version (none) is not"), "{f}");

        // A name this worker does not register, whatever the version policy.
        let Gate::Reject(f) = gate(&VersionPolicy::default(), &r, "Nope", "") else {
            panic!("an unknown name is rejected by default");
        };
        assert_eq!(f.error_type, FailureDetails::ORCHESTRATOR_NOT_FOUND);
        assert!(
            f.error_message.contains("no orchestrator named 'Nope'"),
            "{f}"
        );
        let none = policy("", VersionMatch::None, VersionFailure::Fail);
        let Gate::Fail(f) = gate(&none, &r, "Greet", "3.0") else {
            panic!("no code for 3.0 and no unversioned code");
        };
        assert!(f.error_message.contains("not for version '3.0'"), "{f}");
    }
}
