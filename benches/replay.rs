//! Replay micro-benchmark: how long a fresh executor takes to replay a 10,000-event history and
//! finish the turn (the cost a worker pays when an instance is not in its cache).
//!
//! Run with `cargo bench --bench replay`. Plain `std::time` timing (median of repeated runs), so
//! no benchmark framework has to be built by `cargo test`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use taskhub::core::testing::canned::{fan_out_history, registry, sequential_history};
use taskhub::core::testing::task_completed;
use taskhub::core::{HistoryEvent, OrchestrationExecutor, OrchestrationStatus, Registry};

fn measure(name: &str, registry: &Arc<Registry>, history: &[HistoryEvent], last: i32) {
    let now = history[history.len() - 1].timestamp;
    let mut times = Vec::new();
    for _ in 0..21 {
        let start = Instant::now();
        let mut ex = OrchestrationExecutor::from_history(registry.clone(), history);
        let r = ex.run_turn(
            now,
            vec![HistoryEvent::new(now, task_completed(last, "0"))],
            &mut || "x".into(),
        );
        times.push(start.elapsed());
        assert_eq!(r.status, OrchestrationStatus::Completed);
    }
    times.sort();
    let median = times[times.len() / 2];
    let per_event = median.as_nanos() as f64 / history.len() as f64;
    println!(
        "{name:<32} {:>6} events  median {:>8.2} ms  min {:>8.2} ms  {:>6.0} ns/event",
        history.len(),
        ms(median),
        ms(times[0]),
        per_event
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let registry = Arc::new(registry());
    measure(
        "replay sequential (2,500 acts)",
        &registry,
        &sequential_history(2500),
        2499,
    );
    measure(
        "replay fan-out (5,000 acts)",
        &registry,
        &fan_out_history(5000),
        4999,
    );
}
