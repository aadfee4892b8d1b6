//! any-of / select2 decide by history order, not argument order.

use taskhub::core::testing::{task_completed, HistoryBuilder, T0};
use taskhub::core::{
    Either, EventKind, Failure, OrchestrationContext, OrchestrationStatus, Registry,
};

use crate::turn;

/// Schedules A (0) and B (1), waits on a timer (2), then races A and B.
fn registry() -> Registry {
    let mut r = Registry::new();
    r.add_orchestrator("Race", |ctx: OrchestrationContext| async move {
        let a = ctx.call_activity::<String>("A", ());
        let b = ctx.call_activity::<String>("B", ());
        ctx.create_timer(ctx.current_utc_datetime() + time::Duration::minutes(1))
            .await;
        let (index, winner, rest) = ctx.any_of(vec![a, b]).await;
        assert_eq!(rest.len(), 1);
        Ok::<_, Failure>(format!("{index}:{}", winner?))
    });
    r
}

fn history_with_completions_in(
    order: [i32; 2],
) -> (Vec<taskhub::core::HistoryEvent>, time::OffsetDateTime) {
    let fire = T0 + time::Duration::minutes(1);
    let b = HistoryBuilder::new("inst", "Race", None)
        .task_scheduled(0, "A", None)
        .task_scheduled(1, "B", None)
        .timer_created(2, fire)
        .orchestrator_completed()
        .orchestrator_started()
        .task_completed(order[0], if order[0] == 0 { "\"a\"" } else { "\"b\"" })
        .task_completed(order[1], if order[1] == 0 { "\"a\"" } else { "\"b\"" })
        .orchestrator_completed()
        .orchestrator_started();
    let now = b.now();
    (b.build(), now)
}

#[test]
fn any_of_tie_goes_to_the_completion_first_in_history() {
    let fire = T0 + time::Duration::minutes(1);
    let timer_fired = EventKind::TimerFired {
        timer_id: 2,
        fire_at: fire,
    };

    let (past, now) = history_with_completions_in([1, 0]);
    let r = turn(registry(), &past, now, vec![timer_fired.clone()]);
    assert_eq!(r.status, OrchestrationStatus::Completed, "{:?}", r.failure);
    assert_eq!(r.output.as_deref(), Some("\"1:b\""));

    let (past, now) = history_with_completions_in([0, 1]);
    let r = turn(registry(), &past, now, vec![timer_fired]);
    assert_eq!(r.output.as_deref(), Some("\"0:a\""));
}

#[test]
fn any_of_waits_for_the_first_completion() {
    let mut r = Registry::new();
    r.add_orchestrator("First", |ctx: OrchestrationContext| async move {
        let tasks = vec![
            ctx.call_activity::<i32>("X", 0),
            ctx.call_activity::<i32>("X", 1),
            ctx.call_activity::<i32>("X", 2),
        ];
        let (i, v, _) = ctx.any_of(tasks).await;
        Ok::<_, Failure>((i, v?))
    });
    let b = HistoryBuilder::new("inst", "First", None)
        .task_scheduled(0, "X", None)
        .task_scheduled(1, "X", None)
        .task_scheduled(2, "X", None)
        .orchestrator_completed()
        .orchestrator_started();
    let now = b.now();
    let res = turn(
        r,
        &b.build(),
        now,
        vec![task_completed(2, "20"), task_completed(0, "0")],
    );
    assert_eq!(res.output.as_deref(), Some("[2,20]"));
}

#[test]
fn select2_races_different_types_and_returns_the_loser() {
    let mut r = Registry::new();
    r.add_orchestrator("Sel", |ctx: OrchestrationContext| async move {
        let work = ctx.call_activity::<i32>("Work", ());
        let approval = ctx.wait_for_external_event::<bool>("Approve");
        match ctx.select2(work, approval).await {
            Either::Left((w, approval)) => {
                let ok = approval.await?;
                Ok::<_, Failure>(format!("work {} then approval {ok}", w?))
            }
            Either::Right((a, _work)) => Ok(format!("approval first {}", a?)),
        }
    });
    let b = HistoryBuilder::new("inst", "Sel", None)
        .task_scheduled(0, "Work", None)
        .orchestrator_completed()
        .orchestrator_started();
    let now = b.now();
    let past = b.build();
    let res = turn(
        r.clone(),
        &past,
        now,
        vec![
            task_completed(0, "5"),
            taskhub::core::testing::event_raised("approve", "true"),
        ],
    );
    assert_eq!(res.output.as_deref(), Some("\"work 5 then approval true\""));
    let res = turn(
        r,
        &past,
        now,
        vec![
            taskhub::core::testing::event_raised("APPROVE", "false"),
            task_completed(0, "5"),
        ],
    );
    assert_eq!(res.output.as_deref(), Some("\"approval first false\""));
}

#[test]
fn futures_join_works_because_tasks_have_real_wakers() {
    let mut r = Registry::new();
    r.add_orchestrator("J", |ctx: OrchestrationContext| async move {
        let (a, b) = futures::join!(
            ctx.call_activity::<i32>("X", 1),
            ctx.call_activity::<i32>("X", 2)
        );
        Ok::<_, Failure>(a? + b?)
    });
    let b = HistoryBuilder::new("inst", "J", None)
        .task_scheduled(0, "X", None)
        .task_scheduled(1, "X", None)
        .orchestrator_completed()
        .orchestrator_started();
    let now = b.now();
    let res = turn(
        r,
        &b.build(),
        now,
        vec![task_completed(1, "2"), task_completed(0, "1")],
    );
    assert_eq!(res.output.as_deref(), Some("3"));
}
