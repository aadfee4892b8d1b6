//! Failure paths: non-determinism, panics, unknown names, bad input, duplicates.

use taskhub::core::testing::{task_completed, HistoryBuilder, HostOptions, InMemoryHost, T0};
use taskhub::core::{Failure, FailureDetails, OrchestrationContext, OrchestrationStatus, Registry};

use crate::{run, turn, types};

#[test]
fn a_changed_activity_name_is_reported_as_non_determinism_naming_both() {
    // Old code called "Old"; new code calls "New" at the same id.
    let mut r = Registry::new();
    r.add_orchestrator("O", |ctx: OrchestrationContext| async move {
        let v: i32 = ctx.call_activity("New", ()).await?;
        Ok::<_, Failure>(v)
    });
    let b = HistoryBuilder::new("inst", "O", None)
        .task_scheduled(0, "Old", None)
        .orchestrator_completed()
        .orchestrator_started();
    let now = b.now();
    let res = turn(r, &b.build(), now, vec![task_completed(0, "1")]);
    assert_eq!(res.status, OrchestrationStatus::Failed);
    let f = res.failure.unwrap();
    assert_eq!(f.error_type, FailureDetails::NON_DETERMINISM);
    assert!(
        f.error_message.contains("activity 'Old'"),
        "{}",
        f.error_message
    );
    assert!(
        f.error_message.contains("activity 'New'"),
        "{}",
        f.error_message
    );
    assert!(f.error_message.starts_with("[non-determinism]"));
    // Nothing new is scheduled by a non-deterministic turn.
    assert!(res.messages.is_empty());
}

#[test]
fn a_recorded_event_the_code_no_longer_schedules_is_non_determinism() {
    let mut r = Registry::new();
    r.add_orchestrator("O", |_ctx: OrchestrationContext| async move {
        std::future::pending::<()>().await;
        Ok::<_, Failure>(())
    });
    let b = HistoryBuilder::new("inst", "O", None)
        .timer_created(0, T0)
        .orchestrator_completed()
        .orchestrator_started();
    let now = b.now();
    let res = turn(r, &b.build(), now, vec![]);
    assert_eq!(res.status, OrchestrationStatus::Failed);
    assert!(res
        .failure
        .unwrap()
        .error_message
        .contains("did not schedule anything"));
}

#[test]
fn a_panicking_orchestrator_fails_the_instance_and_the_process_survives() {
    let mut r = Registry::new();
    r.add_orchestrator("P", |ctx: OrchestrationContext| async move {
        let n: i32 = ctx.call_activity("A", ()).await?;
        if n > 0 {
            panic!("boom at {n}");
        }
        Ok::<_, Failure>(n)
    });
    r.add_activity("A", |_ctx, _: ()| async move { Ok::<_, Failure>(7) });
    let host = run(r, "P", None, HostOptions::default());
    let s = host.summary("inst");
    assert_eq!(s.status, Some(OrchestrationStatus::Failed));
    let f = s.failure.unwrap();
    assert_eq!(f.error_type, FailureDetails::PANIC);
    assert!(f.error_message.contains("boom at 7"));
}

#[test]
fn a_panicking_activity_fails_only_its_task() {
    let mut r = Registry::new();
    r.add_orchestrator("P", |ctx: OrchestrationContext| async move {
        let e = ctx.call_activity::<i32>("Boom", ()).await.unwrap_err();
        Ok::<_, Failure>(e.details.error_type)
    });
    r.add_activity("Boom", |_ctx, _: ()| async move {
        if true {
            panic!("activity exploded");
        }
        Ok::<i32, Failure>(1)
    });
    let host = run(r, "P", None, HostOptions::default());
    assert_eq!(host.summary("inst").output.as_deref(), Some("\"Panic\""));
}

#[test]
fn an_unknown_orchestrator_fails_with_a_clear_message() {
    let host = run(Registry::new(), "Nope", None, HostOptions::default());
    let s = host.summary("inst");
    assert_eq!(s.status, Some(OrchestrationStatus::Failed));
    let f = s.failure.unwrap();
    assert_eq!(f.error_type, FailureDetails::ORCHESTRATOR_NOT_FOUND);
    assert_eq!(
        f.error_message,
        "no orchestrator named 'Nope' is registered"
    );
}

#[test]
fn an_unknown_activity_fails_its_task_with_a_clear_message() {
    let mut r = Registry::new();
    r.add_orchestrator("O", |ctx: OrchestrationContext| async move {
        let v: i32 = ctx.call_activity("Missing", ()).await?;
        Ok::<_, Failure>(v)
    });
    let host = run(r, "O", None, HostOptions::default());
    let f = host.summary("inst").failure.unwrap();
    let inner = f.inner_failure.unwrap();
    assert_eq!(inner.error_type, FailureDetails::ACTIVITY_NOT_FOUND);
    assert!(inner.error_message.contains("'Missing'"));
}

#[test]
fn invalid_input_fails_the_instance_saying_what_is_wrong() {
    let mut r = Registry::new();
    r.add_orchestrator("Typed", |ctx: OrchestrationContext| async move {
        let n: u32 = ctx.input()?;
        Ok::<_, Failure>(n)
    });
    let host = run(r, "Typed", Some("\"not a number\""), HostOptions::default());
    let f = host.summary("inst").failure.unwrap();
    assert_eq!(f.error_type, FailureDetails::INVALID_INPUT);
    assert!(f
        .error_message
        .contains("invalid input for orchestrator 'Typed'"));
}

#[test]
fn an_orchestrator_error_is_recorded_with_its_type_and_message() {
    let mut r = Registry::new();
    r.add_orchestrator("E", |_ctx: OrchestrationContext| async move {
        Err::<(), _>(Failure::new("MyError", "it went wrong"))
    });
    let host = run(r, "E", None, HostOptions::default());
    let s = host.summary("inst");
    let f = s.failure.unwrap();
    assert_eq!(
        (f.error_type.as_str(), f.error_message.as_str()),
        ("MyError", "it went wrong")
    );
}

#[test]
fn duplicate_and_stray_completions_are_recorded_but_ignored() {
    let mut r = Registry::new();
    r.add_orchestrator("O", |ctx: OrchestrationContext| async move {
        let a: i32 = ctx.call_activity("A", ()).await?;
        let b: i32 = ctx.call_activity("A", ()).await?;
        Ok::<_, Failure>(a * 10 + b)
    });
    let b = HistoryBuilder::new("inst", "O", None)
        .task_scheduled(0, "A", None)
        .orchestrator_completed()
        .orchestrator_started();
    let now = b.now();
    let res = turn(
        r,
        &b.build(),
        now,
        vec![
            task_completed(0, "1"),
            task_completed(0, "9"),
            task_completed(77, "5"),
        ],
    );
    assert_eq!(res.status, OrchestrationStatus::Running);
    assert_eq!(
        types(&res.new_events),
        [
            "OrchestratorStarted",
            "TaskCompleted",
            "TaskCompleted",
            "TaskCompleted",
            "TaskScheduled#1",
            "OrchestratorCompleted"
        ]
    );
    assert_eq!(res.warnings.len(), 2, "{:?}", res.warnings);
}

#[test]
fn a_host_keeps_running_other_instances_after_a_failure() {
    let mut r = Registry::new();
    r.add_orchestrator("P", |_ctx: OrchestrationContext| async move {
        if true {
            panic!("first");
        }
        Ok::<(), Failure>(())
    });
    r.add_orchestrator("Ok", |_ctx: OrchestrationContext| async move {
        Ok::<_, Failure>(1)
    });
    let mut host = InMemoryHost::new(r, HostOptions::default());
    host.start("P", "a", None);
    host.start("Ok", "b", None);
    host.run(100);
    assert_eq!(host.status("a"), Some(OrchestrationStatus::Failed));
    assert_eq!(host.status("b"), Some(OrchestrationStatus::Completed));
}
