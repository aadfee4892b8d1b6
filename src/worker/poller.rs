//! Polling a queue: wait longer each time it is empty (with jitter) up to a maximum, start again
//! at the minimum as soon as work appears, and wake at once when this process enqueued something
//! for it. [`QueuePoller`] is the loop both dispatchers share.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::locked;

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
        let d = self.current.mul_f64(crate::entropy::fraction(0.8, 1.2));
        tokio::select! {
            biased;
            _ = wake.notified() => {
                self.current = self.min;
            }
            _ = tokio::time::sleep(d) => {
                self.current = (self.current * 2).min(self.max);
            }
        }
    }
}

/// One notifier per queue name, shared by pollers and senders of this process.
#[derive(Clone, Default)]
pub struct Wakers {
    map: Arc<std::sync::Mutex<std::collections::BTreeMap<String, Arc<Notify>>>>,
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

/// What one call of [`QueuePoller::next`] gave.
pub(crate) enum Polled<T> {
    /// A non-empty batch.
    Got(Vec<T>),
    /// The poller must stop; these were taken meanwhile and must be given back.
    Stopped(Vec<T>),
}

/// One queue's polling loop state.
pub(crate) struct QueuePoller {
    queue: String,
    wake: Arc<Notify>,
    idle: Backoff,
    failing: Backoff,
}

impl QueuePoller {
    /// A poller of `queue` waiting between `min_idle` and `max_idle` between polls of an empty
    /// queue.
    pub fn new(wakers: &Wakers, queue: &str, min_idle: Duration, max_idle: Duration) -> Self {
        QueuePoller {
            queue: queue.to_string(),
            wake: wakers.get(queue),
            idle: Backoff::new(min_idle, max_idle),
            failing: Backoff::new(Duration::from_millis(200), Duration::from_secs(10)),
        }
    }

    /// The next non-empty batch `fetch` returns; [`Polled::Stopped`] once `stop` is cancelled
    /// or `keep` says the queue is no longer ours.
    ///
    /// A fetch is never raced against `stop`: dropping one that reached the service would hide
    /// its messages for the whole lock period.
    pub async fn next<T, F, Fut>(
        &mut self,
        stop: &CancellationToken,
        keep: impl Fn() -> bool,
        mut fetch: F,
    ) -> Polled<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = crate::backend::error::Result<Vec<T>>>,
    {
        loop {
            if stop.is_cancelled() || !keep() {
                return Polled::Stopped(Vec::new());
            }
            let items = match fetch().await {
                Ok(items) => items,
                Err(e) => {
                    tracing::warn!(queue = %self.queue, error = %e, "could not read the queue; retrying");
                    tokio::select! {
                        biased;
                        _ = stop.cancelled() => return Polled::Stopped(Vec::new()),
                        _ = self.failing.wait(&self.wake) => continue,
                    }
                }
            };
            self.failing.reset();
            if stop.is_cancelled() || !keep() {
                return Polled::Stopped(items);
            }
            if items.is_empty() {
                tokio::select! {
                    biased;
                    _ = stop.cancelled() => return Polled::Stopped(Vec::new()),
                    _ = self.idle.wait(&self.wake) => continue,
                }
            }
            self.idle.reset();
            return Polled::Got(items);
        }
    }
}
