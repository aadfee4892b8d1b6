//! A plain sequence of activities: the first turn's exact output, replay of a handcrafted
//! history, and a whole run.

use taskhub::core::testing::{task_completed, HistoryBuilder, HostOptions, T0};
use taskhub::core::{EventKind, Failure, OrchestrationContext, OrchestrationStatus, Registry};

use crate::{run, turn, types};

fn registry() -> Registry {
    let mut r = Registry::new();
    r.add_orchestrator("Greet", |ctx: OrchestrationContext| async move {
        let name: String = ctx.input()?;
        let a: String = ctx.call_activity("Say", format!("Hello {name}")).await?;
        let b: String = ctx.call_activity("Say", format!("Bye {name}")).await?;
        Ok::<_, Failure>(vec![a, b])
    });
    r.add_activity("Say", |_ctx, s: String| async move {
        Ok::<_, Failure>(format!("{s}!"))
    });
    r
}

#[test]
fn first_turn_schedules_the_first_activity_only() {
    let past = HistoryBuilder::new("inst", "Greet", Some("\"Ann\"")).build();
    let r = turn(registry(), &[], T0, vec![]);
    // No ExecutionStarted at all: nothing runs.
    assert_eq!(r.status, OrchestrationStatus::Pending);
    assert!(r.messages.is_empty());

    let result = turn(registry(), &past, T0, vec![]);
    assert_eq!(result.status, OrchestrationStatus::Running);
    assert_eq!(
        types(&result.new_events),
        [
            "OrchestratorStarted",
            "TaskScheduled#0",
            "OrchestratorCompleted"
        ]
    );
    assert_eq!(result.messages.len(), 1);
    let m = &result.messages[0];
    assert!(m.is_activity_request());
    assert_eq!(m.instance.instance_id, "inst");
    assert_eq!(m.instance.execution_id.as_deref(), Some("e1"));
    match &m.event.kind {
        EventKind::TaskScheduled { name, input, .. } => {
            assert_eq!(name, "Say");
            // DurableTask's form: the parameters as an array (core::activity_input).
            assert_eq!(input.as_deref(), Some("[\"Hello Ann\"]"));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn replaying_a_completed_activity_schedules_the_next() {
    let b = HistoryBuilder::new("inst", "Greet", Some("\"Ann\""))
        .task_scheduled(0, "Say", Some("\"Hello Ann\""))
        .orchestrator_completed()
        .orchestrator_started();
    let now = b.now();
    let past = b.build();
    let r = turn(
        registry(),
        &past,
        now,
        vec![task_completed(0, "\"Hello Ann!\"")],
    );
    assert_eq!(
        types(&r.new_events),
        [
            "OrchestratorStarted",
            "TaskCompleted",
            "TaskScheduled#1",
            "OrchestratorCompleted"
        ]
    );
    match &r.messages[0].event.kind {
        EventKind::TaskScheduled { input, .. } => {
            assert_eq!(input.as_deref(), Some("[\"Bye Ann\"]"))
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn completion_is_recorded_with_the_next_id_and_output() {
    let b = HistoryBuilder::new("inst", "Greet", Some("\"Ann\""))
        .task_scheduled(0, "Say", None)
        .orchestrator_completed()
        .orchestrator_started()
        .task_completed(0, "\"a\"")
        .task_scheduled(1, "Say", None)
        .orchestrator_completed()
        .orchestrator_started();
    let now = b.now();
    let r = turn(
        registry(),
        &b.build(),
        now,
        vec![task_completed(1, "\"b\"")],
    );
    assert_eq!(r.status, OrchestrationStatus::Completed);
    assert_eq!(r.output.as_deref(), Some("[\"a\",\"b\"]"));
    assert_eq!(
        types(&r.new_events),
        [
            "OrchestratorStarted",
            "TaskCompleted",
            "ExecutionCompleted#2",
            "OrchestratorCompleted"
        ]
    );
}

#[test]
fn whole_run_produces_the_output() {
    let host = run(registry(), "Greet", Some("\"Bo\""), HostOptions::default());
    let s = host.summary("inst");
    assert_eq!(s.status, Some(OrchestrationStatus::Completed));
    assert_eq!(s.output.as_deref(), Some("[\"Hello Bo!\",\"Bye Bo!\"]"));
    assert_eq!(host.turns("inst"), 3);
}

#[test]
fn is_replaying_is_true_only_for_past_events() {
    use std::sync::{Arc, Mutex};
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut r = Registry::new();
    let s2 = seen.clone();
    r.add_orchestrator("R", move |ctx: OrchestrationContext| {
        let seen = s2.clone();
        async move {
            seen.lock().unwrap().push(ctx.is_replaying());
            let _: () = ctx.call_activity("A", ()).await?;
            seen.lock().unwrap().push(ctx.is_replaying());
            let _: () = ctx.call_activity("A", ()).await?;
            seen.lock().unwrap().push(ctx.is_replaying());
            Ok::<_, Failure>(())
        }
    });
    let b = HistoryBuilder::new("inst", "R", None)
        .task_scheduled(0, "A", None)
        .orchestrator_completed()
        .orchestrator_started()
        .task_completed(0, "null")
        .task_scheduled(1, "A", None)
        .orchestrator_completed()
        .orchestrator_started();
    let now = b.now();
    let r = turn(r, &b.build(), now, vec![task_completed(1, "null")]);
    assert_eq!(r.status, OrchestrationStatus::Completed);
    assert_eq!(*seen.lock().unwrap(), vec![true, true, false]);
}

#[test]
fn new_guid_and_time_are_the_same_on_every_replay() {
    use std::sync::{Arc, Mutex};
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut r = Registry::new();
    let s2 = seen.clone();
    r.add_orchestrator("G", move |ctx: OrchestrationContext| {
        let seen = s2.clone();
        async move {
            let g1 = ctx.new_guid();
            let t1 = ctx.current_utc_datetime();
            let _: () = ctx.call_activity("A", ()).await?;
            let g2 = ctx.new_guid();
            let t2 = ctx.current_utc_datetime();
            seen.lock().unwrap().push((g1, t1, g2, t2));
            Ok::<_, Failure>(())
        }
    });
    let b = HistoryBuilder::new("inst", "G", None)
        .task_scheduled(0, "A", None)
        .orchestrator_completed()
        .orchestrator_started();
    let now = b.now();
    let past = b.build();
    let a = turn(r.clone(), &past, now, vec![task_completed(0, "null")]);
    let b2 = turn(r, &past, now, vec![task_completed(0, "null")]);
    assert_eq!(a.status, OrchestrationStatus::Completed);
    assert_eq!(b2.status, OrchestrationStatus::Completed);
    let seen = seen.lock().unwrap();
    assert_eq!(seen[0], seen[1]);
    assert_ne!(seen[0].0, seen[0].2);
    assert_eq!(seen[0].1, T0);
    assert_eq!(seen[0].3, now);
}
