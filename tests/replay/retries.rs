//! Retry policies: attempts separated by durable timers, with backoff.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use taskhub::core::testing::HostOptions;
use taskhub::core::{
    EventKind, Failure, OrchestrationContext, OrchestrationStatus, Registry, RetryPolicy,
};

use crate::run;

fn registry(fail_times: u32, attempts: u32) -> (Registry, Arc<AtomicU32>) {
    let calls = Arc::new(AtomicU32::new(0));
    let mut r = Registry::new();
    r.add_orchestrator("Retry", move |ctx: OrchestrationContext| async move {
        let policy = RetryPolicy::new(attempts, Duration::from_secs(5))
            .with_backoff_coefficient(2.0)
            .with_max_retry_interval(Duration::from_secs(60));
        let v: String = ctx.call_activity_with_retry("Flaky", (), policy).await?;
        Ok::<_, Failure>(v)
    });
    let c = calls.clone();
    r.add_activity("Flaky", move |_ctx, _: ()| {
        let n = c.fetch_add(1, Ordering::SeqCst) + 1;
        async move {
            if n <= fail_times {
                Err(Failure::new("Transient", format!("attempt {n} failed")))
            } else {
                Ok(format!("ok on attempt {n}"))
            }
        }
    });
    (r, calls)
}

#[test]
fn succeeds_on_the_third_attempt_after_growing_delays() {
    let (r, calls) = registry(2, 5);
    let host = run(r, "Retry", None, HostOptions::default());
    let s = host.summary("inst");
    assert_eq!(s.status, Some(OrchestrationStatus::Completed), "{s:?}");
    assert_eq!(s.output.as_deref(), Some("\"ok on attempt 3\""));
    assert_eq!(calls.load(Ordering::SeqCst), 3);

    let h = host.history("inst");
    let scheduled = h
        .iter()
        .filter(|e| matches!(e.kind, EventKind::TaskScheduled { .. }))
        .count();
    assert_eq!(scheduled, 3);
    // Two backoff timers: 5 s after the first failure, then 10 s after the second.
    let timers: Vec<_> = h
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::TimerCreated { fire_at } => Some((e.timestamp, fire_at)),
            _ => None,
        })
        .collect();
    assert_eq!(timers.len(), 2);
    assert_eq!(timers[0].1 - timers[0].0, time::Duration::seconds(5));
    assert_eq!(timers[1].1 - timers[1].0, time::Duration::seconds(10));
}

#[test]
fn gives_up_after_max_attempts_with_the_last_failure() {
    let (r, calls) = registry(10, 3);
    let host = run(r, "Retry", None, HostOptions::default());
    let s = host.summary("inst");
    assert_eq!(s.status, Some(OrchestrationStatus::Failed));
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    let f = s.failure.expect("failure details");
    assert_eq!(f.error_type, "TaskFailed");
    assert_eq!(f.inner_failure.unwrap().error_message, "attempt 3 failed");
}

#[test]
fn non_retriable_failures_are_not_retried() {
    let mut r = Registry::new();
    let calls = Arc::new(AtomicU32::new(0));
    r.add_orchestrator("Retry", |ctx: OrchestrationContext| async move {
        let v: String = ctx
            .call_activity_with_retry("Bad", (), RetryPolicy::new(5, Duration::from_secs(1)))
            .await?;
        Ok::<_, Failure>(v)
    });
    let c = calls.clone();
    r.add_activity("Bad", move |_ctx, _: ()| {
        c.fetch_add(1, Ordering::SeqCst);
        async move { Err::<String, _>(Failure::msg("no").non_retriable()) }
    });
    let host = run(r, "Retry", None, HostOptions::default());
    assert_eq!(host.status("inst"), Some(OrchestrationStatus::Failed));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}
