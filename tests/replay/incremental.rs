//! A cached executor fed only each turn's new events gives exactly the results of a fresh
//! executor replaying the whole history every turn.

use std::sync::Arc;
use std::time::Duration;

use taskhub::core::testing::{HostOptions, InMemoryHost};
use taskhub::core::{
    EventKind, Failure, HistoryEvent, OrchestrationContext, OrchestrationExecutor, Registry,
    RetryPolicy,
};

/// An orchestration that uses most features: activities with retry, a sub-orchestration, a
/// timer, an external event, custom status and continue-as-new.
fn registry() -> Registry {
    let mut r = Registry::new();
    r.add_orchestrator("Mixed", |ctx: OrchestrationContext| async move {
        let round: u32 = ctx.input()?;
        ctx.set_custom_status(&format!("round {round}"));
        let a: u32 = ctx
            .call_activity_with_retry("Flaky", round, RetryPolicy::new(3, Duration::from_secs(1)))
            .await?;
        let child: u32 = ctx.call_sub_orchestrator("Child", a).await?;
        ctx.sleep(Duration::from_secs(30)).await;
        let fanned = ctx
            .all_of((0..5u32).map(|i| ctx.call_activity::<u32>("Id", i)))
            .await;
        let sum: u32 = fanned
            .into_iter()
            .collect::<Result<Vec<_>, _>>()?
            .iter()
            .sum();
        let _ping: String = ctx.wait_for_external_event("ping").await?;
        if round < 2 {
            ctx.continue_as_new(round + 1);
        }
        Ok::<_, Failure>(child + sum)
    });
    r.add_orchestrator("Child", |ctx: OrchestrationContext| async move {
        let n: u32 = ctx.input()?;
        let v: u32 = ctx.call_activity("Id", n * 2).await?;
        Ok::<_, Failure>(v)
    });
    r.add_activity("Id", |_ctx, n: u32| async move { Ok::<_, Failure>(n) });
    r.add_activity("Flaky", |ctx, n: u32| async move {
        // Fails on the first attempt of each round (task id 0), succeeds on the retry.
        if ctx.task_id == 0 {
            Err(Failure::msg("even"))
        } else {
            Ok(n)
        }
    });
    r
}

fn run(cache: bool) -> InMemoryHost {
    let mut host = InMemoryHost::new(
        registry(),
        HostOptions {
            cache_executors: cache,
            shuffle_seed: Some(3),
            max_batch: 4,
        },
    );
    host.start("Mixed", "inst", Some("0"));
    for _ in 0..3 {
        host.run(10_000);
        host.send(
            "inst",
            taskhub::core::testing::event_raised("ping", "\"p\""),
        );
    }
    host.run(10_000);
    host
}

#[test]
fn cached_and_fresh_executors_agree_turn_by_turn() {
    let cached = run(true);
    let fresh = run(false);
    // Round 2 (after two continue-as-new): child = 2 * 2, fan-out sum = 0+1+2+3+4.
    assert_eq!(cached.summary("inst").output.as_deref(), Some("14"));
    assert_eq!(cached.turn_log.len(), fresh.turn_log.len());
    for ((ia, a), (ib, b)) in cached.turn_log.iter().zip(fresh.turn_log.iter()) {
        assert_eq!(ia, ib);
        assert_eq!(a.new_events, b.new_events);
        assert_eq!(a.messages, b.messages);
        assert_eq!(a.status, b.status);
        assert_eq!(a.custom_status, b.custom_status);
    }
    assert_eq!(cached.history("inst"), fresh.history("inst"));
}

#[test]
fn an_executor_knows_what_it_scheduled() {
    let host = run(true);
    let history: Vec<HistoryEvent> = host.history("inst").to_vec();
    let ex = OrchestrationExecutor::from_history(Arc::new(registry()), &history);
    let scheduled: Vec<i32> = history
        .iter()
        .filter(|e| matches!(e.kind, EventKind::TaskScheduled { .. }))
        .map(|e| e.event_id)
        .collect();
    assert!(!scheduled.is_empty());
    assert!(scheduled.iter().all(|id| ex.has_scheduled(*id)));
    assert!(!ex.has_scheduled(10_000));
}
