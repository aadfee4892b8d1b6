//! Replaying long histories: 10,000 events, sequential and fan-out.

use std::sync::Arc;

use taskhub::core::testing::{task_completed, HistoryBuilder};
use taskhub::core::{
    Failure, HistoryEvent, OrchestrationContext, OrchestrationExecutor, OrchestrationStatus,
    Registry,
};

pub fn registry() -> Registry {
    let mut r = Registry::new();
    r.add_orchestrator("Seq", |ctx: OrchestrationContext| async move {
        let n: i64 = ctx.input()?;
        let mut sum = 0;
        for i in 0..n {
            let v: i64 = ctx.call_activity("Step", i).await?;
            sum += v;
        }
        Ok::<_, Failure>(sum)
    });
    r.add_orchestrator("Fan", |ctx: OrchestrationContext| async move {
        let n: i64 = ctx.input()?;
        let all = ctx
            .all_of((0..n).map(|i| ctx.call_activity::<i64>("Step", i)))
            .await;
        Ok::<_, Failure>(
            all.into_iter()
                .collect::<Result<Vec<_>, _>>()?
                .iter()
                .sum::<i64>(),
        )
    });
    r
}

/// `n` sequential activities, all but the last completed: 2 + 4n - 1 events.
pub fn sequential_history(n: i32) -> Vec<HistoryEvent> {
    let mut b = HistoryBuilder::new("inst", "Seq", Some(&n.to_string()));
    for i in 0..n {
        b = b
            .task_scheduled(i, "Step", None)
            .orchestrator_completed()
            .orchestrator_started();
        if i + 1 < n {
            b = b.task_completed(i, &i.to_string());
        }
    }
    b.build()
}

/// `n` activities scheduled at once and all but the last completed: 2n + 3 events.
pub fn fan_out_history(n: i32) -> Vec<HistoryEvent> {
    let mut b = HistoryBuilder::new("inst", "Fan", Some(&n.to_string()));
    for i in 0..n {
        b = b.task_scheduled(i, "Step", None);
    }
    b = b.orchestrator_completed().orchestrator_started();
    for i in 0..n - 1 {
        b = b.task_completed(i, &i.to_string());
    }
    b.build()
}

fn finish(history: &[HistoryEvent], last: i32) -> taskhub::core::TurnResult {
    let now = history.last().unwrap().timestamp;
    let mut ex = OrchestrationExecutor::from_history(Arc::new(registry()), history);
    ex.run_turn(
        now,
        vec![HistoryEvent::new(
            now,
            task_completed(last, &last.to_string()),
        )],
        &mut || "x".into(),
    )
}

#[test]
fn replays_ten_thousand_sequential_events() {
    let n = 2500;
    let h = sequential_history(n);
    assert!(h.len() >= 9_999, "{}", h.len());
    let r = finish(&h, n - 1);
    assert_eq!(r.status, OrchestrationStatus::Completed, "{:?}", r.failure);
    let expected: i64 = (0..n as i64).sum();
    assert_eq!(r.output, Some(expected.to_string()));
}

#[test]
fn replays_ten_thousand_fan_out_events() {
    let n = 5000;
    let h = fan_out_history(n);
    assert!(h.len() >= 10_000, "{}", h.len());
    let r = finish(&h, n - 1);
    assert_eq!(r.status, OrchestrationStatus::Completed, "{:?}", r.failure);
    let expected: i64 = (0..n as i64).sum();
    assert_eq!(r.output, Some(expected.to_string()));
}
