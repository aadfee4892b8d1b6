//! Replaying long histories: 10,000 events, sequential and fan-out.

use std::sync::Arc;

use taskhub::core::testing::canned::{fan_out_history, registry, sequential_history};
use taskhub::core::testing::task_completed;
use taskhub::core::{HistoryEvent, OrchestrationExecutor, OrchestrationStatus};

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
