//! The lock keeper: keeps the messages this worker holds hidden from others for as long as it
//! works on them, and no longer.
//!
//! Owns [`Locks`]. Every message the worker takes or hands to itself is registered here; it is
//! renewed every third of the lock period (counted on this process's monotonic clock, so clock
//! skew against the storage service does not matter) until the backend reports it released
//! (deleted, abandoned, deferred, or lost to another taker). So the lock period can be short:
//! when a worker dies, what it held reappears within one period instead of after a long
//! visibility timeout, and nothing it holds — a request waiting for an activity slot, an
//! activity's result carried to its session, a message waiting for its session's turn —
//! outlives its visibility.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::backend::{OrchestrationService, ReceivedMessage};

use super::locked;

/// Registered messages. Cheap to clone.
#[derive(Clone, Default)]
pub(crate) struct Locks {
    held: Arc<Mutex<BTreeMap<(String, String), Held>>>,
    /// Wakes the keeper when the first message is registered (it sleeps while none is).
    registered: Arc<tokio::sync::Notify>,
}

struct Held {
    message: ReceivedMessage,
    renewed_at: Instant,
}

impl Locks {
    /// Keeps `message` hidden until the backend releases it.
    pub fn hold(&self, message: &ReceivedMessage) {
        let key = (message.queue.clone(), message.message_id().to_string());
        locked(&self.held).insert(
            key,
            Held {
                message: message.clone(),
                renewed_at: Instant::now(),
            },
        );
        self.registered.notify_one();
    }

    /// How many messages are held.
    pub fn len(&self) -> usize {
        locked(&self.held).len()
    }

    /// On a graceful stop: makes every message still held visible again at once, so another
    /// worker takes it now rather than when its lock ends.
    pub async fn release_all(&self, service: &Arc<dyn OrchestrationService>) {
        let held: Vec<ReceivedMessage> = std::mem::take(&mut *locked(&self.held))
            .into_values()
            .map(|h| h.message)
            .filter(|m| !m.lease.is_released())
            .collect();
        if !held.is_empty() {
            tracing::info!(messages = held.len(), "releasing the messages still held");
            service.abandon_messages(&held, Duration::ZERO).await;
        }
    }

    /// Renews what is due, every third of `lock_for`, until `stop`.
    pub async fn run(
        self,
        service: Arc<dyn OrchestrationService>,
        lock_for: Duration,
        stop: CancellationToken,
    ) {
        let period = lock_for / 3;
        loop {
            let idle = locked(&self.held).is_empty();
            tokio::select! {
                biased;
                _ = stop.cancelled() => return,
                _ = self.registered.notified(), if idle => {}
                _ = tokio::time::sleep(period / 2), if !idle => {}
            }
            let due: Vec<ReceivedMessage> = {
                let mut held = locked(&self.held);
                held.retain(|_, h| !h.message.lease.is_released());
                held.values()
                    .filter(|h| h.renewed_at.elapsed() >= period)
                    .map(|h| h.message.clone())
                    .collect()
            };
            for m in due {
                let started = Instant::now();
                match service.renew_message(&m, lock_for).await {
                    Ok(true) => {
                        let key = (m.queue.clone(), m.message_id().to_string());
                        if let Some(h) = locked(&self.held).get_mut(&key) {
                            h.renewed_at = started;
                        }
                    }
                    Ok(false) => {
                        tracing::debug!(queue = %m.queue, message_id = %m.message_id(), "a held message is no longer ours");
                    }
                    Err(e) => {
                        tracing::warn!(queue = %m.queue, error = %e, "could not renew a held message; it may be delivered again");
                    }
                }
            }
        }
    }
}
