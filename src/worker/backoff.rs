//! Polling an empty queue: wait longer each time (with jitter) up to a maximum, start again at
//! the minimum as soon as work appears, and wake at once when this process enqueued something.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::sync::Notify;

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
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(queue.to_string()).or_default().clone()
    }

    /// Wakes the poller of `queue`, if this process polls it.
    pub fn wake(&self, queue: &str) {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = map.get(queue) {
            n.notify_one();
        }
    }
}
