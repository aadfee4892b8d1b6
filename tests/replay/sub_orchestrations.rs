//! Sub-orchestrations: results and failures flow back to the parent as typed values.

use taskhub::core::testing::HostOptions;
use taskhub::core::{
    EventKind, Failure, OrchestrationContext, OrchestrationStatus, Registry, TaskKind,
};

use crate::run;

fn registry() -> Registry {
    let mut r = Registry::new();
    r.add_orchestrator("Parent", |ctx: OrchestrationContext| async move {
        let ok: i32 = ctx.call_sub_orchestrator("Child", 20).await?;
        let named: i32 = ctx
            .call_sub_orchestrator_with_id("Child", "child-x", 1)
            .await?;
        match ctx.call_sub_orchestrator::<i32>("Child", -1).await {
            Err(e) => {
                assert_eq!(e.kind, TaskKind::SubOrchestration);
                Ok::<_, Failure>(format!("{ok} {named} caught: {}", e.details.error_message))
            }
            Ok(v) => Ok(format!("unexpected {v}")),
        }
    });
    r.add_orchestrator("Child", |ctx: OrchestrationContext| async move {
        let n: i32 = ctx.input()?;
        if n < 0 {
            return Err(Failure::new("NegativeInput", format!("cannot double {n}")));
        }
        let d: i32 = ctx.call_activity("Double", n).await?;
        Ok::<_, Failure>(d)
    });
    r.add_activity(
        "Double",
        |_ctx, n: i32| async move { Ok::<_, Failure>(n * 2) },
    );
    r.add_orchestrator("Propagate", |ctx: OrchestrationContext| async move {
        let v: i32 = ctx.call_sub_orchestrator("Child", -5).await?;
        Ok::<_, Failure>(v)
    });
    r
}

#[test]
fn results_and_failures_come_back_to_the_parent() {
    let host = run(registry(), "Parent", None, HostOptions::default());
    let s = host.summary("inst");
    assert_eq!(s.status, Some(OrchestrationStatus::Completed), "{s:?}");
    assert_eq!(
        s.output.as_deref(),
        Some("\"40 2 caught: cannot double -1\"")
    );
    // Generated child ids are {parent}:{execution}:{task id}; the named one keeps its id.
    assert_eq!(
        host.status("inst:exec1:0000"),
        Some(OrchestrationStatus::Completed)
    );
    assert_eq!(host.status("child-x"), Some(OrchestrationStatus::Completed));
    assert_eq!(
        host.status("inst:exec1:0002"),
        Some(OrchestrationStatus::Failed)
    );
    // The child's ExecutionStarted names its parent and the waiting task.
    match &host.history("child-x")[1].kind {
        EventKind::ExecutionStarted {
            parent_instance: Some(p),
            ..
        } => {
            assert_eq!(p.orchestration_instance.instance_id, "inst");
            assert_eq!(p.task_schedule_id, 1);
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn an_unhandled_child_failure_fails_the_parent_with_the_child_failure_inside() {
    let host = run(registry(), "Propagate", None, HostOptions::default());
    let s = host.summary("inst");
    assert_eq!(s.status, Some(OrchestrationStatus::Failed));
    let f = s.failure.unwrap();
    assert_eq!(f.error_type, "SubOrchestrationFailed");
    let inner = f.inner_failure.unwrap();
    assert_eq!(inner.error_type, "NegativeInput");
    assert_eq!(inner.error_message, "cannot double -5");
}
