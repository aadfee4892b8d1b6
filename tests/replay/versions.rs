//! Versions in the replay engine: each instance runs the code registered for its version (else
//! the unversioned code), sub-orchestrations inherit the parent's version unless given one,
//! continue-as-new may move to a new version, and a worker can end a turn without running any
//! code (a version it must not run, with the Fail strategy).

use taskhub::core::testing::{execution_started, HistoryBuilder, HostOptions, InMemoryHost};
use taskhub::core::{
    EventKind, Failure, FailureDetails, HistoryEvent, OrchestrationContext, OrchestrationExecutor,
    OrchestrationStatus, Registry,
};

use crate::types;

fn registry() -> Registry {
    let mut r = Registry::new();
    r.add_orchestrator_version("Greet", "1.0", |ctx: OrchestrationContext| async move {
        let s: String = ctx.call_activity("Echo", "one").await?;
        Ok::<_, Failure>(format!("v1 {s} at {}", ctx.version()))
    });
    r.add_orchestrator_version("Greet", "2.0", |ctx: OrchestrationContext| async move {
        let s: String = ctx.call_activity("Echo", "two").await?;
        Ok::<_, Failure>(format!("v2 {s} at {}", ctx.version()))
    });
    r.add_orchestrator("Plain", |ctx: OrchestrationContext| async move {
        Ok::<_, Failure>(format!("plain at {:?}", ctx.version()))
    });
    r.add_orchestrator_version("Parent", "2.0", |ctx: OrchestrationContext| async move {
        let inherited: String = ctx.call_sub_orchestrator("Greet", ()).await?;
        let pinned: String = ctx
            .call_sub_orchestrator_with_version("Greet", "1.0", ())
            .await?;
        Ok::<_, Failure>(format!("{inherited} | {pinned}"))
    });
    r.add_orchestrator_version("Upgrade", "1.0", |ctx: OrchestrationContext| async move {
        ctx.continue_as_new_with_version((), "2.0");
        Ok::<_, Failure>(String::new())
    });
    r.add_orchestrator_version("Upgrade", "2.0", |ctx: OrchestrationContext| async move {
        Ok::<_, Failure>(format!("upgraded to {}", ctx.version()))
    });
    r.add_activity("Echo", |_ctx, s: String| async move { Ok::<_, Failure>(s) });
    r
}

fn run_version(name: &str, version: Option<&str>) -> InMemoryHost {
    let mut host = InMemoryHost::new(registry(), HostOptions::default());
    host.start_version(name, "inst", None, version);
    host.run(100_000);
    host
}

fn output(host: &InMemoryHost, id: &str) -> String {
    let s = host.summary(id);
    assert_eq!(
        s.status,
        Some(OrchestrationStatus::Completed),
        "{id}: {s:?}"
    );
    serde_json::from_str(s.output.as_deref().unwrap()).unwrap()
}

#[test]
fn each_instance_runs_the_code_of_its_version() {
    assert_eq!(
        output(&run_version("Greet", Some("1.0")), "inst"),
        "v1 one at 1.0"
    );
    assert_eq!(
        output(&run_version("Greet", Some("2")), "inst"),
        "v2 two at 2",
        "2 and 2.0 are one version"
    );
    // No code for 3.0 and none unversioned: Failed, saying so.
    let host = run_version("Greet", Some("3.0"));
    let s = host.summary("inst");
    assert_eq!(s.status, Some(OrchestrationStatus::Failed));
    let f = s.failure.expect("failure details");
    assert_eq!(f.error_type, FailureDetails::ORCHESTRATOR_NOT_FOUND);
    assert!(f.error_message.contains("for version 3.0"), "{f}");
    // The unversioned code runs instances of any version, and sees it.
    assert_eq!(
        output(&run_version("Plain", Some("7.1")), "inst"),
        "plain at \"7.1\""
    );
    assert_eq!(output(&run_version("Plain", None), "inst"), "plain at \"\"");
}

#[test]
fn sub_orchestrations_inherit_the_parents_version_unless_given_one() {
    let host = run_version("Parent", Some("2.0"));
    assert_eq!(output(&host, "inst"), "v2 two at 2.0 | v1 one at 1.0");
    let child_version = |id: &str| match &host.history(id)[1].kind {
        EventKind::ExecutionStarted { version, .. } => version.clone(),
        other => panic!("{id}: {other:?}"),
    };
    assert_eq!(child_version("inst:exec1:0000").as_deref(), Some("2.0"));
    assert_eq!(child_version("inst:exec1:0001").as_deref(), Some("1.0"));
}

#[test]
fn continue_as_new_can_move_to_a_new_version() {
    let host = run_version("Upgrade", Some("1.0"));
    assert_eq!(output(&host, "inst"), "upgraded to 2.0");
    let started = host
        .history("inst")
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::ExecutionStarted { version, .. } => Some(version.clone()),
            _ => None,
        })
        .expect("a start");
    assert_eq!(started.as_deref(), Some("2.0"));
}

fn refused() -> FailureDetails {
    FailureDetails::new(FailureDetails::VERSION_MISMATCH, "not on this worker")
}

fn executor() -> OrchestrationExecutor {
    OrchestrationExecutor::new(std::sync::Arc::new(registry()))
}

fn start_event(now: taskhub::core::Timestamp) -> HistoryEvent {
    let mut kind = execution_started("inst", "e1", "Greet", None, None);
    if let EventKind::ExecutionStarted { version, .. } = &mut kind {
        *version = Some("2.0".into());
    }
    HistoryEvent::new(now, kind)
}

#[test]
fn a_turn_without_code_records_its_events_and_ends_failed_or_terminated() {
    let now = time::macros::datetime!(2025-01-01 00:00 UTC);
    // A first turn: the code would schedule Echo at once; without code nothing is scheduled.
    let mut ex = executor();
    let turn = ex.run_turn_without_code(now, vec![start_event(now)], refused());
    assert_eq!(turn.status, OrchestrationStatus::Failed);
    assert_eq!(
        turn.failure.as_ref().unwrap().error_message,
        "not on this worker"
    );
    assert!(turn.messages.is_empty(), "{:?}", turn.messages);
    assert_eq!(
        types(&turn.new_events),
        [
            "OrchestratorStarted",
            "ExecutionStarted",
            "ExecutionCompleted#0",
            "OrchestratorCompleted"
        ]
    );

    // A terminate in the batch wins: the instance ends Terminated, still without code.
    let mut ex = executor();
    let terminate = HistoryEvent::new(now, EventKind::ExecutionTerminated { input: None });
    let turn = ex.run_turn_without_code(now, vec![start_event(now), terminate], refused());
    assert_eq!(turn.status, OrchestrationStatus::Terminated);
    assert!(turn.messages.is_empty());

    // A started instance: the completion is recorded, the code does not go on.
    let past = HistoryBuilder::new("inst", "Greet", None)
        .orchestrator_started()
        .task_scheduled(0, "Echo", Some("\"two\""))
        .orchestrator_completed()
        .build();
    let mut ex = OrchestrationExecutor::from_history(std::sync::Arc::new(registry()), &past);
    let completed = HistoryEvent::new(now, taskhub::core::testing::task_completed(0, "\"two\""));
    let turn = ex.run_turn_without_code(now, vec![completed], refused());
    assert_eq!(turn.status, OrchestrationStatus::Failed);
    assert!(turn.messages.is_empty());
    assert_eq!(
        types(&turn.new_events),
        [
            "OrchestratorStarted",
            "TaskCompleted",
            "ExecutionCompleted#1",
            "OrchestratorCompleted"
        ]
    );
}
