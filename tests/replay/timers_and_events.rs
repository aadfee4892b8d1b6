//! Timers (including long ones that hop) and external events (buffered, case-insensitive,
//! racing a timer).

use taskhub::core::testing::{event_raised, HistoryBuilder, HostOptions, InMemoryHost, T0};
use taskhub::core::{
    Either, EventKind, Failure, OrchestrationContext, OrchestrationStatus, Registry,
};

use crate::turn;

fn approval() -> Registry {
    let mut r = Registry::new();
    r.add_orchestrator("Approval", |ctx: OrchestrationContext| async move {
        let deadline = ctx.current_utc_datetime() + time::Duration::hours(1);
        let timeout = ctx.create_timer(deadline);
        let answer = ctx.wait_for_external_event::<String>("Answer");
        match ctx.select2(timeout, answer).await {
            Either::Left(((), _)) => Ok::<_, Failure>("timed out".to_string()),
            Either::Right((a, _)) => Ok(format!("answered {}", a?)),
        }
    });
    r
}

#[test]
fn an_event_before_the_deadline_wins_the_race() {
    let mut host = InMemoryHost::new(approval(), HostOptions::default());
    host.start("Approval", "inst", None);
    host.run_ready();
    assert_eq!(host.status("inst"), Some(OrchestrationStatus::Running));
    host.send("inst", event_raised("answer", "\"yes\""));
    host.run(100);
    let s = host.summary("inst");
    assert_eq!(s.output.as_deref(), Some("\"answered yes\""));
    // Completed long before the timer was due.
    let completed_at = host.history("inst").last().unwrap().timestamp;
    assert!(completed_at < T0 + time::Duration::minutes(1));
}

#[test]
fn the_timer_wins_when_no_event_comes() {
    let mut host = InMemoryHost::new(approval(), HostOptions::default());
    host.start("Approval", "inst", None);
    host.run(100);
    assert_eq!(
        host.summary("inst").output.as_deref(),
        Some("\"timed out\"")
    );
    assert!(host.now() >= T0 + time::Duration::hours(1));
    // An event arriving after completion changes nothing.
    host.send("inst", event_raised("Answer", "\"late\""));
    host.run(100);
    assert_eq!(
        host.summary("inst").output.as_deref(),
        Some("\"timed out\"")
    );
}

#[test]
fn the_race_is_decided_by_history_order_when_both_arrive_in_one_turn() {
    let fire = T0 + time::Duration::hours(1);
    let b = HistoryBuilder::new("inst", "Approval", None)
        .timer_created(0, fire)
        .orchestrator_completed()
        .orchestrator_started();
    let now = b.now();
    let past = b.build();
    let fired = EventKind::TimerFired {
        timer_id: 0,
        fire_at: fire,
    };
    let r = turn(
        approval(),
        &past,
        now,
        vec![fired.clone(), event_raised("Answer", "\"x\"")],
    );
    assert_eq!(r.output.as_deref(), Some("\"timed out\""));
    let r = turn(
        approval(),
        &past,
        now,
        vec![event_raised("Answer", "\"x\""), fired],
    );
    assert_eq!(r.output.as_deref(), Some("\"answered x\""));
}

#[test]
fn events_raised_early_are_buffered_and_delivered_in_order_by_name() {
    let mut r = Registry::new();
    r.add_orchestrator("Collect", |ctx: OrchestrationContext| async move {
        let _: () = ctx.call_activity("Slow", ()).await?;
        let a: i32 = ctx.wait_for_external_event("num").await?;
        let b: i32 = ctx.wait_for_external_event("NUM").await?;
        let s: String = ctx.wait_for_external_event("str").await?;
        Ok::<_, Failure>(format!("{a},{b},{s}"))
    });
    let b = HistoryBuilder::new("inst", "Collect", None)
        .task_scheduled(0, "Slow", None)
        .orchestrator_completed()
        .orchestrator_started();
    let now = b.now();
    let res = turn(
        r,
        &b.build(),
        now,
        vec![
            event_raised("Str", "\"s\""),
            event_raised("Num", "1"),
            event_raised("num", "2"),
            taskhub::core::testing::task_completed(0, "null"),
        ],
    );
    assert_eq!(res.output.as_deref(), Some("\"1,2,s\""));
}

#[test]
fn a_ten_day_timer_hops_in_three_day_segments_until_six_days_remain() {
    let mut r = Registry::new();
    r.add_orchestrator("Long", |ctx: OrchestrationContext| async move {
        let start = ctx.current_utc_datetime();
        ctx.create_timer(start + time::Duration::days(10)).await;
        Ok::<_, Failure>((ctx.current_utc_datetime() - start).whole_days())
    });
    let mut host = InMemoryHost::new(r, HostOptions::default());
    host.start("Long", "inst", None);
    host.run(100);
    let s = host.summary("inst");
    assert_eq!(s.status, Some(OrchestrationStatus::Completed));
    assert_eq!(s.output.as_deref(), Some("10"));
    let timers: Vec<_> = host
        .history("inst")
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::TimerCreated { fire_at } => Some(fire_at - e.timestamp),
            _ => None,
        })
        .collect();
    // 3 days, 3 days, then the last 4: every segment within the queues' limit.
    assert_eq!(timers.len(), 3, "{timers:?}");
    assert!(timers.iter().all(|d| *d <= time::Duration::days(6)));
}
