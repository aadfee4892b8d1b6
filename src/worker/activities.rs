//! The activity dispatcher: takes activity requests from the shared `{hub}-workitems` queue as
//! slots free up, runs each with its message kept invisible (renewed before the visibility ends),
//! then reports the result to the orchestration and deletes the request — in that order, so a
//! crash at any point re-runs the activity rather than losing it.

use std::sync::Arc;

use tokio::sync::{Mutex as AsyncMutex, OwnedSemaphorePermit};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::backend::{ActivityWorkItem, ReceivedMessage};
use crate::core::{ActivityContext, FailureDetails};

use super::local::holds_control_message;
use super::poller::QueuePoller;
use super::Shared;

/// Takes activity requests until `stop` is cancelled.
pub(crate) async fn dispatch_loop(shared: Arc<Shared>, stop: CancellationToken) {
    let queue = shared.hub.names().work_item_queue();
    let mut poller = QueuePoller::new(&shared, &queue, shared.options.max_activity_poll_interval);
    while !stop.is_cancelled() {
        // A slot first, so that what is taken can start at once.
        let first = tokio::select! {
            _ = stop.cancelled() => break,
            p = shared.activity_slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let count = (1 + shared.activity_slots.available_permits()).min(32) as u8;
        let Some(messages) = poller.next(&shared, count, &stop, || true).await else {
            break;
        };
        let mut permit = Some(first);
        for m in messages {
            let p = match permit.take() {
                Some(p) => p,
                // Only this loop and local hand-overs take permits; wait if one took ours.
                None => match shared.activity_slots.clone().acquire_owned().await {
                    Ok(p) => p,
                    Err(_) => break,
                },
            };
            spawn_activity(&shared, m, p);
        }
    }
}

/// Runs an activity request in the background, holding its slot until it is done.
pub(crate) fn spawn_activity(
    shared: &Arc<Shared>,
    message: ReceivedMessage,
    permit: OwnedSemaphorePermit,
) {
    let shared2 = shared.clone();
    let span = tracing::info_span!(parent: None, "activity", instance_id = %message.instance_id(), task = message.message.event.event_id);
    shared.tracker.spawn(
        async move {
            run_activity(&shared2, message).await;
            drop(permit);
        }
        .instrument(span),
    );
}

/// Runs one activity request to its reported result.
async fn run_activity(shared: &Arc<Shared>, message: ReceivedMessage) {
    let item = match ActivityWorkItem::from_message(message) {
        Ok(item) => item,
        Err(m) => {
            let reason = format!(
                "a {} message in the work-item queue",
                m.message.event.event_type()
            );
            if let Err(e) = shared.hub.move_to_poison(&m.queue, &m.raw, &reason).await {
                tracing::warn!(error = %e, "could not move a stray message to the poison queue");
            }
            return;
        }
    };
    if item.message.dequeue_count() > shared.options.poison_dequeue_limit {
        poison_activity(shared, item).await;
        return;
    }
    let ctx = ActivityContext {
        instance_id: item.instance.instance_id.clone(),
        execution_id: item.instance.execution_id.clone(),
        name: item.name.clone(),
        task_id: item.task_id,
    };
    let key = item.message.raw.message_id.clone();
    let held = Arc::new(AsyncMutex::new(item));
    shared.running_activities_insert(&key, held.clone());
    let renewing = CancellationToken::new();
    let renewal = tokio::spawn(keep_invisible(
        shared.clone(),
        held.clone(),
        renewing.clone(),
    ));
    let input = held.lock().await.input.clone();
    let result = shared.registry.run_activity(ctx, input).await;
    renewing.cancel();
    let _ = renewal.await;
    let item = held.lock().await;
    if let Err(e) = &result {
        tracing::debug!(activity = %item.name, error = %e, "activity failed");
    }
    if let Err(e) = report(shared, &item, result).await {
        tracing::warn!(activity = %item.name, error = %e, "could not report the activity's result; it will run again");
    }
    shared.running_activities_remove(&key);
}

/// Reports the result to the orchestration.
///
/// When this worker owns the orchestration's partition, the result goes straight to its
/// session, carried by the request's own queue message: that message (still hidden) stands for
/// the result until the turn that applies it is committed, and that turn's checkpoint deletes
/// it like any inbound message. If the worker dies first, the request reappears and the activity
/// runs again. This saves a put, a delete and a poll per activity on the hot path.
///
/// Otherwise the result is sent to the orchestration's control queue, then the request deleted.
async fn report(
    shared: &Arc<Shared>,
    item: &ActivityWorkItem,
    result: Result<String, FailureDetails>,
) -> Result<(), crate::backend::Error> {
    let response = item.response(result);
    if !holds_control_message(shared, &response) {
        shared.hub.complete_activity(item, &response).await?;
        shared.wakers.wake(&shared.hub.queue_for(&response));
        return Ok(());
    }
    let carried = ReceivedMessage {
        message: response,
        ..item.message.clone()
    };
    super::orchestrations::submit(shared, &item.instance.instance_id, vec![carried]);
    Ok(())
}

/// Extends the request's visibility at half its timeout while the activity runs.
async fn keep_invisible(
    shared: Arc<Shared>,
    item: Arc<AsyncMutex<ActivityWorkItem>>,
    stop: CancellationToken,
) {
    let visibility = shared.options.visibility_timeout;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(visibility / 2) => {}
        }
        let mut item = item.lock().await;
        if let Err(e) = shared
            .hub
            .renew_message(&mut item.message, visibility)
            .await
        {
            tracing::warn!(error = %e, "could not extend an activity's message visibility");
        }
    }
}

/// An activity whose request keeps coming back (the worker running it dies or hangs): fail its
/// task in the orchestration, then move the request to the poison queue.
async fn poison_activity(shared: &Arc<Shared>, item: ActivityWorkItem) {
    let reason = format!(
        "activity '{}' of instance '{}' was dequeued {} times without completing",
        item.name,
        item.instance.instance_id,
        item.message.dequeue_count()
    );
    let failure = FailureDetails {
        is_non_retriable: true,
        ..FailureDetails::new(FailureDetails::POISON_MESSAGE, reason.clone())
    };
    let response = item.response(Err(failure));
    if let Err(e) = shared.hub.send(&response, Some(&item.instance), None).await {
        tracing::warn!(error = %e, "could not fail a poison activity's task");
        return;
    }
    if let Err(e) = shared
        .hub
        .move_to_poison(&item.message.queue, &item.message.raw, &reason)
        .await
    {
        tracing::warn!(error = %e, "could not move a poison activity message");
    }
    let queue = shared
        .hub
        .names()
        .control_queue_for(&item.instance.instance_id);
    shared.wakers.wake(&queue);
}
