//! What becomes of messages a turn does not complete: given back with a backoff, deferred,
//! put back until their time, or — taken too often — poison.
//!
//! Shared by the orchestration and entity turns. Every path ends the message's lease (deleted,
//! abandoned or put back), so the lock keeper stops renewing it.

use std::sync::Arc;
use std::time::Duration;

use crate::backend::messages::abandon_delay;
use crate::backend::{OrchestrationService, ReceivedMessage};
use crate::core::{FailureDetails, Timestamp};

use super::cache::Cache;
use super::finishing::FinishOrder;

/// How long poison messages wait when the instance could not be failed (they are tried again).
const POISON_RETRY: Duration = Duration::from_secs(10);

/// Gives messages back after `delay`, or after the growing backoff of their dequeue count.
pub(crate) async fn abandon(
    service: &Arc<dyn OrchestrationService>,
    messages: &[ReceivedMessage],
    delay: Option<Duration>,
) {
    match delay {
        Some(d) => service.abandon_messages(messages, d).await,
        None => {
            for m in messages {
                let d = abandon_delay(m.dequeue_count());
                service.abandon_messages(std::slice::from_ref(m), d).await;
            }
        }
    }
}

/// Defers messages (a counted redelivery after a short delay) and puts back those waiting for
/// a time.
pub(crate) async fn defer(
    service: &Arc<dyn OrchestrationService>,
    defer: Vec<(ReceivedMessage, Duration)>,
    wait: Vec<(ReceivedMessage, Timestamp)>,
) {
    for (m, delay) in defer {
        tracing::debug!(event = %m.message.event.event_type(), ?delay, "message deferred");
        service
            .abandon_messages(std::slice::from_ref(&m), delay)
            .await;
    }
    for (m, due) in wait {
        tracing::debug!(event = %m.message.event.event_type(), %due, "message put back until it is due");
        if let Err(e) = service.defer_message(&m, due).await {
            tracing::warn!(error = %e, "could not put a message back until it is due; it comes back shortly");
            abandon(service, std::slice::from_ref(&m), None).await;
        }
    }
}

/// Messages of one instance taken too often: the instance is failed first (a message that can
/// never be processed would otherwise leave it stuck), then the messages go to the poison queue.
/// In that order, so a crash in between leaves the messages, which come back and finish the job.
pub(crate) async fn poison(
    service: &Arc<dyn OrchestrationService>,
    cache: &Cache,
    finishes: &FinishOrder,
    instance_id: &str,
    messages: Vec<ReceivedMessage>,
) {
    let reason = |m: &ReceivedMessage| {
        format!(
            "{} message for instance '{}' was dequeued {} times without being processed",
            m.message.event.event_type(),
            instance_id,
            m.dequeue_count()
        )
    };
    let Some(first) = messages.first() else {
        return;
    };
    let failure = FailureDetails {
        is_non_retriable: true,
        ..FailureDetails::new(FailureDetails::POISON_MESSAGE, reason(first))
    };
    let _ = cache.take(instance_id);
    // After the instance's pending finishes, or an older Instances update could land after this.
    let slot = finishes.enter(instance_id).await;
    let failed = service.fail_instance(instance_id, failure).await;
    finishes.leave(slot);
    if let Err(e) = failed {
        tracing::warn!(error = %e, "could not fail the instance of a poison message; trying again later");
        service.abandon_messages(&messages, POISON_RETRY).await;
        return;
    }
    for m in &messages {
        if let Err(e) = service.poison_message(m, &reason(m)).await {
            tracing::warn!(error = %e, "could not move a poison message; it comes back");
            service
                .abandon_messages(std::slice::from_ref(m), POISON_RETRY)
                .await;
        }
    }
}
