//! What becomes of messages a turn does not complete: given back with a backoff, deferred, or
//! put back until their time (poison is `poison.rs`).
//!
//! Shared by the orchestration and entity turns and the finisher. Every path ends the message's
//! lease (abandoned or put back), so the lock keeper stops renewing it.

use std::sync::Arc;
use std::time::Duration;

use crate::backend::messages::abandon_delay;
use crate::backend::{OrchestrationService, ReceivedMessage};
use crate::core::Timestamp;

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
