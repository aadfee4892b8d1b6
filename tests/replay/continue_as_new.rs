//! Continue-as-new: a new execution replaces the history, optionally carrying unconsumed events.

use taskhub::core::testing::{event_raised, HostOptions, InMemoryHost};
use taskhub::core::{EventKind, Failure, OrchestrationContext, OrchestrationStatus, Registry};

fn counter(preserve: bool) -> Registry {
    let mut r = Registry::new();
    r.add_orchestrator("Counter", move |ctx: OrchestrationContext| async move {
        let total: i64 = ctx.input()?;
        if total >= 6 {
            return Ok::<_, Failure>(total);
        }
        let add: i64 = ctx.wait_for_external_event("add").await?;
        if preserve {
            ctx.continue_as_new_preserving_events(total + add);
        } else {
            ctx.continue_as_new(total + add);
        }
        Ok(total)
    });
    r
}

#[test]
fn carried_events_are_consumed_by_later_executions() {
    let mut host = InMemoryHost::new(counter(true), HostOptions::default());
    host.start("Counter", "inst", Some("0"));
    host.run_ready();
    // Three events in one batch: the first execution takes one and carries the others.
    host.send("inst", event_raised("add", "1"));
    host.send("inst", event_raised("add", "2"));
    host.send("inst", event_raised("add", "3"));
    host.run(1000);
    let s = host.summary("inst");
    assert_eq!(s.status, Some(OrchestrationStatus::Completed), "{s:?}");
    assert_eq!(s.output.as_deref(), Some("6"));
    // The history is the last execution's only, starting at position 0 with its own
    // ExecutionStarted, whose input is the running total.
    let h = host.history("inst");
    assert!(matches!(h[0].kind, EventKind::OrchestratorStarted));
    match &h[1].kind {
        EventKind::ExecutionStarted {
            input,
            orchestration_instance,
            ..
        } => {
            assert_eq!(input.as_deref(), Some("6"));
            assert_ne!(
                orchestration_instance.execution_id.as_deref(),
                Some("exec1")
            );
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn without_preserving_events_unconsumed_ones_are_dropped() {
    let mut host = InMemoryHost::new(counter(false), HostOptions::default());
    host.start("Counter", "inst", Some("0"));
    host.run_ready();
    host.send("inst", event_raised("add", "1"));
    host.send("inst", event_raised("add", "2"));
    host.run(1000);
    // Only the first event was used; the second was dropped with the old execution.
    let s = host.summary("inst");
    assert_eq!(s.status, Some(OrchestrationStatus::Running));
    assert_eq!(s.input.as_deref(), Some("1"));
    host.send("inst", event_raised("add", "5"));
    host.run(1000);
    assert_eq!(host.summary("inst").output.as_deref(), Some("6"));
}

#[test]
fn the_turn_result_marks_the_new_execution() {
    let mut host = InMemoryHost::new(counter(true), HostOptions::default());
    host.start("Counter", "inst", Some("0"));
    host.run_ready();
    host.send("inst", event_raised("add", "2"));
    host.run_ready();
    let (_, last) = host.turn_log.last().unwrap();
    assert!(last.new_execution_id.is_some());
    assert_eq!(last.status, OrchestrationStatus::Running);
    assert!(matches!(
        last.new_events[1].kind,
        EventKind::ExecutionStarted { .. }
    ));
}

#[test]
fn continuing_as_new_forever_without_waiting_fails_instead_of_spinning() {
    let mut r = Registry::new();
    r.add_orchestrator("Spin", |ctx: OrchestrationContext| async move {
        ctx.continue_as_new(());
        Ok::<_, Failure>(())
    });
    let mut host = InMemoryHost::new(r, HostOptions::default());
    host.start("Spin", "inst", None);
    host.run(10);
    let s = host.summary("inst");
    assert_eq!(s.status, Some(OrchestrationStatus::Failed));
    assert_eq!(s.failure.unwrap().error_type, "ContinueAsNewLoop");
}
