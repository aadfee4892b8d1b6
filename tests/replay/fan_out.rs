//! Fan-out/fan-in: 1,000 activities completing in random order, in random batch sizes.

use taskhub::core::testing::HostOptions;
use taskhub::core::{EventKind, Failure, OrchestrationContext, OrchestrationStatus, Registry};

use crate::run;

fn registry() -> Registry {
    let mut r = Registry::new();
    r.add_orchestrator("FanOut", |ctx: OrchestrationContext| async move {
        let n: u64 = ctx.input()?;
        let tasks = (0..n).map(|i| ctx.call_activity::<u64>("Square", i));
        let results = ctx.all_of(tasks).await;
        let squares = results.into_iter().collect::<Result<Vec<u64>, _>>()?;
        // Outputs come back in argument order whatever the completion order.
        let in_order = squares
            .iter()
            .enumerate()
            .all(|(i, s)| *s == (i as u64) * (i as u64));
        Ok::<_, Failure>((squares.iter().sum::<u64>(), in_order))
    });
    r.add_activity(
        "Square",
        |_ctx, i: u64| async move { Ok::<_, Failure>(i * i) },
    );
    r
}

#[test]
fn a_thousand_activities_in_random_order_fan_in_exactly() {
    let options = HostOptions {
        cache_executors: true,
        shuffle_seed: Some(42),
        max_batch: 32,
    };
    let host = run(registry(), "FanOut", Some("1000"), options);
    let s = host.summary("inst");
    assert_eq!(s.status, Some(OrchestrationStatus::Completed), "{s:?}");
    let expected: u64 = (0..1000u64).map(|i| i * i).sum();
    assert_eq!(s.output, Some(format!("[{expected},true]")));

    let history = host.history("inst");
    let scheduled = history
        .iter()
        .filter(|e| matches!(e.kind, EventKind::TaskScheduled { .. }))
        .count();
    let completed: Vec<i32> = history
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::TaskCompleted {
                task_scheduled_id, ..
            } => Some(task_scheduled_id),
            _ => None,
        })
        .collect();
    assert_eq!(scheduled, 1000);
    assert_eq!(completed.len(), 1000);
    // The shuffle really delivered completions out of order, over several turns.
    assert!(completed.windows(2).any(|w| w[0] > w[1]));
    assert!(host.turns("inst") > 10);
}

#[test]
fn cached_and_replayed_runs_write_the_same_history() {
    let run_with = |cache| {
        let options = HostOptions {
            cache_executors: cache,
            shuffle_seed: Some(7),
            max_batch: 16,
        };
        run(registry(), "FanOut", Some("200"), options)
            .history("inst")
            .to_vec()
    };
    let cached = run_with(true);
    let replayed = run_with(false);
    assert_eq!(cached.len(), replayed.len());
    assert_eq!(cached, replayed);
}
