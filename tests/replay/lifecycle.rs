//! Terminate, suspend and resume.

use taskhub::core::testing::{event_raised, HostOptions, InMemoryHost};
use taskhub::core::{EventKind, Failure, OrchestrationContext, OrchestrationStatus, Registry};

fn waiting() -> Registry {
    let mut r = Registry::new();
    r.add_orchestrator("Wait", |ctx: OrchestrationContext| async move {
        let a: i32 = ctx.wait_for_external_event("go").await?;
        let b: i32 = ctx.call_activity("Inc", a).await?;
        Ok::<_, Failure>(b)
    });
    r.add_activity("Inc", |_ctx, n: i32| async move { Ok::<_, Failure>(n + 1) });
    r
}

#[test]
fn terminate_ends_a_running_instance_with_the_reason_as_output() {
    let mut host = InMemoryHost::new(waiting(), HostOptions::default());
    host.start("Wait", "inst", None);
    host.run_ready();
    host.send(
        "inst",
        EventKind::ExecutionTerminated {
            input: Some("\"enough\"".into()),
        },
    );
    host.run(100);
    let s = host.summary("inst");
    assert_eq!(s.status, Some(OrchestrationStatus::Terminated));
    assert_eq!(s.output.as_deref(), Some("\"enough\""));
    // Events after termination do nothing.
    host.send("inst", event_raised("go", "1"));
    host.run(100);
    assert_eq!(host.status("inst"), Some(OrchestrationStatus::Terminated));
}

#[test]
fn a_suspended_instance_holds_events_until_resumed() {
    let mut host = InMemoryHost::new(waiting(), HostOptions::default());
    host.start("Wait", "inst", None);
    host.run_ready();
    host.send(
        "inst",
        EventKind::ExecutionSuspended {
            reason: Some("pause".into()),
        },
    );
    host.run_ready();
    assert_eq!(host.status("inst"), Some(OrchestrationStatus::Suspended));
    host.send("inst", event_raised("go", "41"));
    host.run(100);
    // The event is in history but not acted on.
    assert_eq!(host.status("inst"), Some(OrchestrationStatus::Suspended));
    assert!(!host
        .history("inst")
        .iter()
        .any(|e| matches!(e.kind, EventKind::TaskScheduled { .. })));
    host.send("inst", EventKind::ExecutionResumed { reason: None });
    host.run(100);
    let s = host.summary("inst");
    assert_eq!(s.status, Some(OrchestrationStatus::Completed));
    assert_eq!(s.output.as_deref(), Some("42"));
}

#[test]
fn terminate_overrides_suspension() {
    let mut host = InMemoryHost::new(waiting(), HostOptions::default());
    host.start("Wait", "inst", None);
    host.run_ready();
    host.send("inst", EventKind::ExecutionSuspended { reason: None });
    host.send("inst", EventKind::ExecutionTerminated { input: None });
    host.run(100);
    assert_eq!(host.status("inst"), Some(OrchestrationStatus::Terminated));
}
