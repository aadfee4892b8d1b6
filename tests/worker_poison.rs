//! Poison messages: an activity whose worker keeps dying is failed and its message moved to
//! `{hub}-poison`; an unreadable control message goes there at once.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::hub::{test_worker_options, TestHub};
use taskhub::client::StartRequest;
use taskhub::core::{Failure, OrchestrationContext, OrchestrationStatus, Registry};
use taskhub::worker::WorkerOptions;

fn registry(started: Arc<AtomicUsize>) -> Registry {
    let mut r = Registry::new();
    r.add_orchestrator("CallsHang", |ctx: OrchestrationContext| async move {
        let _: () = ctx.call_activity("Hang", ()).await?;
        Ok::<_, Failure>(())
    });
    // Its first turn runs Quick, so the start is kept as the wake-up; the turn after the timer
    // has no start to keep and sends a wake-up of its own for Hang.
    r.add_orchestrator("QuickThenHang", |ctx: OrchestrationContext| async move {
        let _: () = ctx.call_activity("Quick", ()).await?;
        let at = ctx.current_utc_datetime() + time::Duration::milliseconds(200);
        ctx.create_timer(at).await;
        let _: () = ctx.call_activity("Hang", ()).await?;
        Ok::<_, Failure>(())
    });
    r.add_activity("Quick", |_ctx, _: ()| async { Ok::<_, Failure>(()) });
    r.add_activity("Hang", move |_ctx, _: ()| {
        started.fetch_add(1, Ordering::SeqCst);
        // Never finishes: as if the worker running it hung or died.
        async move { std::future::pending::<Result<(), Failure>>().await }
    });
    r
}

/// The queue path (local activities off, as DurableTask runs activities): the request's own
/// message counts its deliveries. With local activities the instance's wake-up counts them
/// instead (docs/checkpoint.md).
fn options() -> WorkerOptions {
    WorkerOptions {
        poison_dequeue_limit: 2,
        shutdown_grace: Duration::from_millis(300),
        local_activity_backlog: 0,
        ..test_worker_options()
    }
}

/// Stops the worker each time the activity has started once more, `runs` times, starting a
/// new one with `options`; then waits for the instance to end.
async fn stop_after_each_run(
    t: &mut TestHub,
    id: &str,
    started: &Arc<AtomicUsize>,
    runs: usize,
    options: WorkerOptions,
) -> taskhub::backend::InstanceStatus {
    for round in 1..=runs {
        common::wait_until("activity started", Duration::from_secs(30), || async {
            (started.load(Ordering::SeqCst) >= round).then_some(())
        })
        .await;
        t.stop_worker().await;
        t.run_worker(registry(started.clone()), options.clone());
    }
    t.client
        .wait_for_completion(id, Duration::from_secs(60))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_activity_that_never_completes_ends_in_the_poison_queue_and_fails_its_instance() {
    let started = Arc::new(AtomicUsize::new(0));
    let mut t = TestHub::start_with("poison", registry(started.clone()), options()).await;
    let id = t
        .client
        .start(StartRequest::new("CallsHang").with_id("hang"))
        .await
        .unwrap();
    // Workers in a row run the activity and stop without finishing it; each stop makes the
    // message visible again. The first worker runs it straight after scheduling it (no dequeue);
    // the next two take it from the queue (dequeues 1 and 2).
    // The third take exceeds the limit of 2: the task fails, the message goes to poison.
    let s = stop_after_each_run(&mut t, &id, &started, 3, options()).await;
    assert_eq!(s.runtime_status, OrchestrationStatus::Failed, "{s:?}");
    assert!(
        s.output.as_deref().unwrap().contains("dequeued 3 times"),
        "{:?}",
        s.output
    );
    assert_eq!(
        started.load(Ordering::SeqCst),
        3,
        "the poison take does not run the activity"
    );
    let records = t.hub.peek_poison(32).await.unwrap();
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].source_queue, t.hub.names().work_item_queue());
    assert_eq!(records[0].dequeue_count, 3);
    assert!(records[0].message.as_deref().unwrap().contains("\"Hang\""));
    let left = t
        .hub
        .storage()
        .queue(&t.hub.names().work_item_queue())
        .approximate_length()
        .await
        .unwrap();
    assert_eq!(left, 0);
}

/// A local activity that never completes: its deliveries are those of the instance's wake-up
/// (the kept start for `CallsHang`, a wake-up message for `QuickThenHang`), and once they pass
/// the limit the task fails, not the instance. Seen failing with the wake-up's count not passed
/// on (`run_here(.., 1)` in `run_orphans`): `QuickThenHang` ran Hang after every restart and
/// never completed; and with kept starts checked for poison before the load, `CallsHang`
/// failed as a whole on its start ("ExecutionStarted message ... dequeued 3 times").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_activity_that_never_completes_fails_its_task_after_its_wake_ups_limit() {
    let local = || WorkerOptions {
        local_activity_backlog: 100,
        ..options()
    };
    // The worker that schedules the task runs it once without a dequeue. The kept start was
    // taken once already by then; the wake-up message sent for Hang was not.
    for (orchestration, runs) in [("CallsHang", 2), ("QuickThenHang", 3)] {
        let started = Arc::new(AtomicUsize::new(0));
        let mut t = TestHub::start_with("poisonlocal", registry(started.clone()), local()).await;
        let id = t
            .client
            .start(StartRequest::new(orchestration).with_id("hang"))
            .await
            .unwrap();
        let s = stop_after_each_run(&mut t, &id, &started, runs, local()).await;
        assert_eq!(s.runtime_status, OrchestrationStatus::Failed, "{s:?}");
        let output = s.output.as_deref().unwrap_or_default();
        assert!(
            output.contains("activity 'Hang'") && output.contains("dequeued 3 times"),
            "{orchestration}: {output}"
        );
        assert_eq!(started.load(Ordering::SeqCst), runs, "{orchestration}");
        // No message of its own: nothing goes to the poison queue.
        assert!(t.hub.peek_poison(32).await.unwrap().is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_control_message_goes_to_poison_at_once() {
    let t = TestHub::start_with("garbage", Registry::new(), options()).await;
    let q = t.hub.storage().queue(&t.hub.names().control_queue(1));
    q.put("this is not a task message", Duration::ZERO)
        .await
        .unwrap();
    let records = common::wait_until("poison record", Duration::from_secs(30), || async {
        let r = t.hub.peek_poison(32).await.unwrap();
        (!r.is_empty()).then_some(r)
    })
    .await;
    assert_eq!(
        records[0].message.as_deref(),
        Some("this is not a task message")
    );
    assert!(
        records[0].reason.contains("unreadable"),
        "{}",
        records[0].reason
    );
    // Deleted from its queue right after the record is written.
    common::wait_until("control queue empty", Duration::from_secs(30), || async {
        (q.approximate_length().await.unwrap() == 0).then_some(())
    })
    .await;
}
