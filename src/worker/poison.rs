//! Poison: messages of one instance taken too often. The instance is failed first, then the
//! messages go to the poison queue — in that order, so nothing is removed before the failure it
//! causes is stored.

use std::sync::Arc;
use std::time::Duration;

use crate::backend::{OrchestrationService, ReceivedMessage};
use crate::core::FailureDetails;

use super::cache::Cache;
use super::finishing::FinishOrder;

/// How long poison messages wait when the instance could not be failed (they are tried again).
const POISON_RETRY: Duration = Duration::from_secs(10);

/// Messages of one instance taken too often: the instance is failed first (a message that can
/// never be processed would otherwise leave it stuck), then the messages go to the poison queue.
/// In that order, so a crash in between leaves the messages, which come back and finish the job.
pub(crate) async fn fail_and_remove(
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
    crate::telemetry::poison_messages(messages.len());
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
