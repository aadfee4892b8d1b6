//! Polling a queue: wait longer each time it is empty (with jitter) up to a maximum, start again
//! at the minimum as soon as work appears, and wake at once when this process enqueued something
//! for it. [`QueuePoller`] is the loop both dispatchers share: it takes batches, sends unreadable
//! messages to the poison queue, and gives back what it took when it must stop.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::backend::{ReceivedMessage, UnreadableMessage};

use super::{locked, Shared};

/// The wait between polls of one queue.
pub struct Backoff {
    min: Duration,
    max: Duration,
    current: Duration,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Self {
        Backoff {
            min,
            max: max.max(min),
            current: min,
        }
    }

    /// Work was found: poll again at once next time it is empty.
    pub fn reset(&mut self) {
        self.current = self.min;
    }

    /// Waits the current interval (±20%), or until `wake` is notified; then doubles it.
    pub async fn wait(&mut self, wake: &Notify) {
        let jitter = rand::thread_rng().gen_range(0.8..1.2);
        let d = self.current.mul_f64(jitter);
        tokio::select! {
            _ = tokio::time::sleep(d) => {
                self.current = (self.current * 2).min(self.max);
            }
            _ = wake.notified() => {
                self.current = self.min;
            }
        }
    }
}

/// One notifier per queue name, shared by pollers and senders of this process.
#[derive(Clone, Default)]
pub struct Wakers {
    map: Arc<std::sync::Mutex<std::collections::HashMap<String, Arc<Notify>>>>,
}

impl Wakers {
    /// The notifier of a queue.
    pub fn get(&self, queue: &str) -> Arc<Notify> {
        let mut map = locked(&self.map);
        map.entry(queue.to_string()).or_default().clone()
    }

    /// Wakes the poller of `queue`, if this process polls it.
    pub fn wake(&self, queue: &str) {
        let map = locked(&self.map);
        if let Some(n) = map.get(queue) {
            n.notify_one();
        }
    }
}

/// One queue's polling loop state.
pub(crate) struct QueuePoller {
    queue: String,
    wake: Arc<Notify>,
    idle: Backoff,
    failing: Backoff,
}

impl QueuePoller {
    /// A poller of `queue` waiting at most `max_idle` between polls of an empty queue.
    pub fn new(shared: &Shared, queue: &str, max_idle: Duration) -> Self {
        QueuePoller {
            queue: queue.to_string(),
            wake: shared.wakers.get(queue),
            idle: Backoff::new(shared.options.min_poll_interval, max_idle),
            failing: Backoff::new(Duration::from_millis(200), Duration::from_secs(10)),
        }
    }

    /// The next non-empty batch of at most `count` messages, hidden for the visibility timeout;
    /// `None` once `stop` is cancelled or `keep` says the queue is no longer ours (messages taken
    /// meanwhile are made visible again at once).
    ///
    /// A receive is never raced against `stop`: dropping one that reached the service would hide
    /// its messages for the whole visibility timeout.
    pub async fn next(
        &mut self,
        shared: &Shared,
        count: u8,
        stop: &CancellationToken,
        keep: impl Fn() -> bool,
    ) -> Option<Vec<ReceivedMessage>> {
        loop {
            if stop.is_cancelled() || !keep() {
                return None;
            }
            let visibility = shared.options.visibility_timeout;
            let (mut messages, unreadable) = match shared
                .hub
                .receive(&self.queue, count, visibility)
                .await
            {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(queue = %self.queue, error = %e, "could not read the queue; retrying");
                    tokio::select! {
                        _ = stop.cancelled() => return None,
                        _ = self.failing.wait(&self.wake) => continue,
                    }
                }
            };
            self.failing.reset();
            for u in unreadable {
                poison_unreadable(shared, u).await;
            }
            if stop.is_cancelled() || !keep() {
                abandon_all(shared, &mut messages, Some(Duration::ZERO)).await;
                return None;
            }
            if messages.is_empty() {
                tokio::select! {
                    _ = stop.cancelled() => return None,
                    _ = self.idle.wait(&self.wake) => continue,
                }
            }
            self.idle.reset();
            return Some(messages);
        }
    }
}

/// A message nobody can read goes straight to the poison queue.
pub(crate) async fn poison_unreadable(shared: &Shared, u: UnreadableMessage) {
    let reason = u.error.to_string();
    if let Err(e) = shared.hub.move_to_poison(&u.queue, &u.raw, &reason).await {
        tracing::warn!(queue = %u.queue, error = %e, "could not move an unreadable message to the poison queue");
    }
}

/// Makes messages visible again: after `delay`, or after the usual growing backoff.
pub(crate) async fn abandon_all(
    shared: &Shared,
    messages: &mut [ReceivedMessage],
    delay: Option<Duration>,
) {
    for m in messages.iter_mut() {
        let d = delay.unwrap_or_else(|| crate::backend::messages::abandon_delay(m.dequeue_count()));
        if let Err(e) = shared.hub.abandon_message(m, d).await {
            tracing::debug!(error = %e, "could not abandon a message; it reappears when its visibility ends");
        }
    }
}
