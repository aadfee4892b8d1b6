//! What the simulated workers run: a handful of orchestration shapes that between them use every
//! kind of message (activities, fan-out, sub-orchestrations, timers, external events,
//! continue-as-new, retries after a failure), each with an output the harness knows in advance.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use taskhub::core::{Failure, OrchestrationContext, Registry, RetryPolicy};

/// One orchestration shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Three sequential activities.
    Chain,
    /// `n` parallel activities, summed.
    Fan,
    /// Two sub-orchestrations.
    Parent,
    /// A durable timer, then an activity.
    Sleepy,
    /// Waits for an external event.
    Waiter,
    /// Continues as new until its counter reaches the end.
    Looper,
    /// An activity that fails the first time it runs, retried.
    Flaky,
    /// Each execution waits for a timer, then continues as new (timers of new executions).
    Ticker,
}

pub const KINDS: [Kind; 8] = [
    Kind::Chain,
    Kind::Fan,
    Kind::Parent,
    Kind::Sleepy,
    Kind::Waiter,
    Kind::Looper,
    Kind::Flaky,
    Kind::Ticker,
];

/// An instance to start: its id, orchestrator, input and the output it must end with.
#[derive(Debug, Clone)]
pub struct Planned {
    pub id: String,
    pub kind: Kind,
    pub input: Value,
    pub expected: Value,
    /// For a waiter: the event data to raise.
    pub event: Option<u64>,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Chain => "Chain",
            Kind::Fan => "Fan",
            Kind::Parent => "Parent",
            Kind::Sleepy => "Sleepy",
            Kind::Waiter => "Waiter",
            Kind::Looper => "Looper",
            Kind::Flaky => "Flaky",
            Kind::Ticker => "Ticker",
        }
    }

    /// An instance of this shape, its input drawn from `n`.
    pub fn plan(self, id: String, n: u64) -> Planned {
        let (input, expected, event) = match self {
            Kind::Chain => (json!(n), json!(n + 6), None),
            Kind::Fan => {
                let k = 1 + n % 7;
                (json!(k), json!((0..k).map(|i| i * i).sum::<u64>()), None)
            }
            Kind::Parent => (json!(n), json!([n + 6, 5]), None),
            Kind::Sleepy => (json!(1 + n % 50), json!(2), None),
            Kind::Waiter => (json!(null), json!(n + 1), Some(n)),
            Kind::Looper => (json!([0, 1 + n % 4]), json!(1 + n % 4), None),
            Kind::Flaky => (json!(n), json!(n * 10), None),
            Kind::Ticker => (json!([0, 2 + n % 4]), json!(2 + n % 4), None),
        };
        Planned {
            id,
            kind: self,
            input,
            expected,
            event,
        }
    }
}

/// How often each activity ran, per (instance, task): at-least-once means some run twice.
#[derive(Clone, Default)]
pub struct Runs(Arc<Mutex<BTreeMap<(String, i32), u32>>>);

impl Runs {
    /// Counts a run; returns how many times this task has run, this one included.
    fn count(&self, instance: &str, task: i32) -> u32 {
        let mut m = self.0.lock().unwrap();
        let n = m.entry((instance.to_string(), task)).or_default();
        *n += 1;
        *n
    }

    /// Runs in total, and how many of them repeated a task that had run before.
    pub fn totals(&self) -> (u64, u64) {
        let m = self.0.lock().unwrap();
        let total: u64 = m.values().map(|n| u64::from(*n)).sum();
        (total, total - m.len() as u64)
    }
}

/// The registry every simulated worker runs.
pub fn registry(runs: Runs) -> Registry {
    let mut r = Registry::new();
    r.add_orchestrator("Chain", |ctx: OrchestrationContext| async move {
        let mut acc: u64 = ctx.input()?;
        for k in 1..=3u64 {
            acc = ctx.call_activity("Add", json!([acc, k])).await?;
        }
        Ok::<_, Failure>(acc)
    });
    r.add_orchestrator("Fan", |ctx: OrchestrationContext| async move {
        let k: u64 = ctx.input()?;
        let tasks = (0..k).map(|i| ctx.call_activity::<u64>("Square", i));
        let all = ctx.all_of(tasks).await;
        let values = all.into_iter().collect::<Result<Vec<_>, _>>()?;
        Ok::<_, Failure>(values.iter().sum::<u64>())
    });
    r.add_orchestrator("Parent", |ctx: OrchestrationContext| async move {
        let n: u64 = ctx.input()?;
        let a: u64 = ctx.call_sub_orchestrator("Chain", n).await?;
        let b: u64 = ctx.call_sub_orchestrator("Fan", 3).await?;
        Ok::<_, Failure>(json!([a, b]))
    });
    r.add_orchestrator("Sleepy", |ctx: OrchestrationContext| async move {
        let secs: u64 = ctx.input()?;
        ctx.sleep(Duration::from_secs(secs)).await;
        let two: u64 = ctx.call_activity("Add", json!([1, 1])).await?;
        Ok::<_, Failure>(two)
    });
    r.add_orchestrator("Waiter", |ctx: OrchestrationContext| async move {
        let v: u64 = ctx.wait_for_external_event("go").await?;
        Ok::<_, Failure>(v + 1)
    });
    r.add_orchestrator("Looper", |ctx: OrchestrationContext| async move {
        let [i, end]: [u64; 2] = ctx.input()?;
        if i < end {
            ctx.continue_as_new(json!([i + 1, end]));
            return Ok::<_, Failure>(Value::Null);
        }
        Ok(json!(i))
    });
    r.add_orchestrator("Flaky", |ctx: OrchestrationContext| async move {
        let n: u64 = ctx.input()?;
        let policy = RetryPolicy::new(3, Duration::from_secs(2));
        let v: u64 = ctx.call_activity_with_retry("FailOnce", n, policy).await?;
        Ok::<_, Failure>(v)
    });
    r.add_orchestrator("Ticker", |ctx: OrchestrationContext| async move {
        let [i, end]: [u64; 2] = ctx.input()?;
        ctx.sleep(Duration::from_secs(1 + i % 5)).await;
        if i < end {
            ctx.continue_as_new(json!([i + 1, end]));
            return Ok::<_, Failure>(Value::Null);
        }
        Ok(json!(i))
    });
    let add_runs = runs.clone();
    r.add_activity("Add", move |ctx, [a, b]: [u64; 2]| {
        add_runs.count(&ctx.instance_id, ctx.task_id);
        async move { Ok::<_, Failure>(a + b) }
    });
    let square_runs = runs.clone();
    r.add_activity("Square", move |ctx, i: u64| {
        square_runs.count(&ctx.instance_id, ctx.task_id);
        async move { Ok::<_, Failure>(i * i) }
    });
    // Fails the first time any attempt of an instance runs (attempts have their own task ids).
    let first = Runs::default();
    r.add_activity("FailOnce", move |ctx, n: u64| {
        runs.count(&ctx.instance_id, ctx.task_id);
        let nth = first.count(&ctx.instance_id, 0);
        async move {
            if nth == 1 {
                return Err(Failure::new("Flaky", "the first run always fails"));
            }
            Ok(n * 10)
        }
    });
    r
}
