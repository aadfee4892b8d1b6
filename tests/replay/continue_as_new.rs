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

#[test]
fn the_next_execution_continues_the_trace_in_a_span_of_its_own() {
    use std::sync::Arc;
    use taskhub::core::testing::{execution_started, T0};
    use taskhub::core::{
        DistributedTraceContext, HistoryEvent, OrchestrationExecutor, TraceParent,
    };
    let mut r = Registry::new();
    r.add_orchestrator("Again", |ctx: OrchestrationContext| async move {
        let n: i64 = ctx.input()?;
        if n == 0 {
            ctx.continue_as_new(1);
        }
        Ok::<_, Failure>(n)
    });
    let mut executor = OrchestrationExecutor::new(Arc::new(r));
    let parent =
        TraceParent::parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01").unwrap();
    let mut context = DistributedTraceContext::new(&parent, Some("k=v".into()));
    // The first execution's own span, as its first turn records it.
    context.span_id = Some("1111111111111111".into());
    let mut start = HistoryEvent::new(T0, execution_started("i", "e1", "Again", Some("0"), None));
    start.parent_trace_context = Some(context);
    let turn = executor.run_turn(T0, vec![start], &mut || "e2".to_string());
    assert_eq!(turn.new_execution_id.as_deref(), Some("e2"));
    let next = turn
        .new_events
        .iter()
        .find(|e| matches!(e.kind, EventKind::ExecutionStarted { .. }))
        .expect("the next execution's start");
    let carried = next.parent_trace_context.as_ref().expect("trace carried");
    // Same parent and state; not the old execution's span.
    assert_eq!(carried.trace_parent, parent.to_string());
    assert_eq!(carried.trace_state.as_deref(), Some("k=v"));
    assert_eq!(carried.span_id, None);
    let (instance, execution, _) = executor.trace_context().expect("traced");
    assert_eq!((instance.as_str(), execution.as_str()), ("i", "e2"));
}
