//! Rewind in the replay engine (the in-memory host applies the same plan as the task hub):
//! only what failed runs again, failed sub-orchestrations are rewound in turn, and an activity
//! called with retries can be rewound, where DurableTask's replay calls the retry timers left
//! in the rewound history non-deterministic (Azure/durabletask#811).
//!
//! How we know these can fail: with the rewound-attempt rule of the executor removed
//! (`in_rewound_attempt` never set), the two tests with retries end Failed with a
//! `[non-determinism]` timer message, as DurableTask does.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use taskhub::core::testing::{HostOptions, InMemoryHost};
use taskhub::core::{
    EventKind, Failure, OrchestrationContext, OrchestrationStatus, Registry, RetryPolicy,
};

/// `Flow`: `Before`, then `Flaky` (with retries when `retries`), then `After`; `Parent` runs
/// `Flow` as a sub-orchestration after its own `Before`. `Flaky` fails while `broken` is set.
/// Each activity counts its calls.
struct Fixture {
    broken: Arc<AtomicBool>,
    calls: Arc<[AtomicUsize; 3]>,
}

impl Fixture {
    fn registry(&self, retries: bool) -> Registry {
        let mut r = Registry::new();
        r.add_orchestrator("Flow", move |ctx: OrchestrationContext| async move {
            let a: String = ctx.call_activity("Before", "a").await?;
            let b: String = if retries {
                let policy = RetryPolicy::new(3, Duration::from_secs(1));
                ctx.call_activity_with_retry("Flaky", "b", policy).await?
            } else {
                ctx.call_activity("Flaky", "b").await?
            };
            let c: String = ctx.call_activity("After", "c").await?;
            Ok::<_, Failure>(format!("{a}{b}{c}"))
        });
        r.add_orchestrator("Parent", |ctx: OrchestrationContext| async move {
            let first: String = ctx.call_activity("Before", "p").await?;
            let rest: String = ctx
                .call_sub_orchestrator_with_id("Flow", "child", ())
                .await?;
            Ok::<_, Failure>(format!("{first}+{rest}"))
        });
        for (i, name) in ["Before", "Flaky", "After"].into_iter().enumerate() {
            let calls = self.calls.clone();
            let broken = self.broken.clone();
            r.add_activity(name, move |_ctx, s: String| {
                calls[i].fetch_add(1, Ordering::SeqCst);
                let fail = name == "Flaky" && broken.load(Ordering::SeqCst);
                async move {
                    if fail {
                        Err(Failure::new("Broken", "the service is down"))
                    } else {
                        Ok(s)
                    }
                }
            });
        }
        r
    }

    fn new() -> Self {
        Fixture {
            broken: Arc::new(AtomicBool::new(true)),
            calls: Arc::new([
                AtomicUsize::new(0),
                AtomicUsize::new(0),
                AtomicUsize::new(0),
            ]),
        }
    }

    fn calls(&self) -> [usize; 3] {
        [0, 1, 2].map(|i| self.calls[i].load(Ordering::SeqCst))
    }
}

fn run_failed(fixture: &Fixture, retries: bool, name: &str) -> InMemoryHost {
    let mut host = InMemoryHost::new(fixture.registry(retries), HostOptions::default());
    host.start(name, "inst", None);
    host.run(100_000);
    assert_eq!(host.status("inst"), Some(OrchestrationStatus::Failed));
    host
}

fn scheduled_ids(host: &InMemoryHost, id: &str, activity: &str) -> Vec<i32> {
    host.history(id)
        .iter()
        .filter(|e| matches!(&e.kind, EventKind::TaskScheduled { name, .. } if name == activity))
        .map(|e| e.event_id)
        .collect()
}

#[test]
fn a_failed_activity_runs_again_and_nothing_else_does() {
    let f = Fixture::new();
    let mut host = run_failed(&f, false, "Flow");
    assert_eq!(f.calls(), [1, 1, 0]);
    let first = scheduled_ids(&host, "inst", "Flaky");
    f.broken.store(false, Ordering::SeqCst);
    host.rewind("inst", Some("fixed"));
    host.run(100_000);
    let s = host.summary("inst");
    assert_eq!(s.status, Some(OrchestrationStatus::Completed), "{s:?}");
    assert_eq!(s.output.as_deref(), Some("\"abc\""));
    assert_eq!(f.calls(), [1, 2, 1], "only Flaky ran again");
    // Scheduled again under the id of the failed call; the old rows are GenericEvents.
    assert_eq!(scheduled_ids(&host, "inst", "Flaky"), first);
    let rewound: Vec<&str> = host
        .history("inst")
        .iter()
        .filter_map(|e| e.kind.rewound())
        .collect();
    assert_eq!(
        rewound,
        ["TaskScheduled", "TaskFailed", "ExecutionCompleted"]
    );
    let wake = host.history("inst").iter().any(|e| {
        matches!(&e.kind, EventKind::GenericEvent { data: Some(d), reason: None } if d == "fixed")
    });
    assert!(wake, "the wake-up event is in history");
}

#[test]
fn an_activity_called_with_retries_is_rewound() {
    let f = Fixture::new();
    let mut host = run_failed(&f, true, "Flow");
    assert_eq!(f.calls(), [1, 3, 0], "three attempts");
    f.broken.store(false, Ordering::SeqCst);
    host.rewind("inst", None);
    host.run(100_000);
    let s = host.summary("inst");
    assert_eq!(s.status, Some(OrchestrationStatus::Completed), "{s:?}");
    assert_eq!(f.calls(), [1, 4, 1]);
}

#[test]
fn a_failed_sub_orchestration_is_rewound_and_its_parent_completes() {
    let f = Fixture::new();
    let mut host = run_failed(&f, true, "Parent");
    assert_eq!(host.status("child"), Some(OrchestrationStatus::Failed));
    assert_eq!(f.calls(), [2, 3, 0]);
    f.broken.store(false, Ordering::SeqCst);
    host.rewind("inst", None);
    host.run(100_000);
    let s = host.summary("inst");
    assert_eq!(s.status, Some(OrchestrationStatus::Completed), "{s:?}");
    assert_eq!(s.output.as_deref(), Some("\"p+abc\""));
    assert_eq!(host.status("child"), Some(OrchestrationStatus::Completed));
    assert_eq!(f.calls(), [2, 4, 1], "neither Before ran again");
    // The parent's record of the child was kept (marked), not cleared: one creation.
    let created = host
        .history("inst")
        .iter()
        .filter(|e| matches!(e.kind, EventKind::SubOrchestrationInstanceCreated { .. }))
        .count();
    assert_eq!(created, 1);
}
