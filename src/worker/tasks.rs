//! The worker's background tasks, spawned through one handle.
//!
//! Owns [`Tasks`]: every task a worker starts (dequeue loops, sessions, activities, finishes,
//! the partition manager, the lock keeper) is spawned here, so a graceful stop can wait for the
//! ones doing work, a kill can drop them all at once (in the simulation: a crash, state lost at
//! whatever await point each task was), and a task that panics is logged as an error instead of
//! vanishing unobserved.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};

use futures::FutureExt;
use tokio::task::{AbortHandle, JoinHandle};
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::locked;

/// Spawns and tracks the worker's tasks. Cheap to clone.
#[derive(Clone, Default)]
pub(crate) struct Tasks {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Work a graceful stop waits for (sessions, activities, finishes).
    work: TaskTracker,
    /// Every task, to abort them all on a kill.
    all: Mutex<Vec<AbortHandle>>,
    /// Tasks that panicked.
    panics: std::sync::atomic::AtomicU64,
}

impl Tasks {
    /// Spawns a task that a graceful stop waits for.
    pub fn spawn_work<F>(&self, what: &'static str, fut: F) -> JoinHandle<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let fut = self.inner.work.track_future(fut);
        self.spawn(what, fut)
    }

    /// Spawns a long-running task (a loop that ends when its stop token is cancelled).
    pub fn spawn<F>(&self, what: &'static str, fut: F) -> JoinHandle<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let inner = self.inner.clone();
        let guarded = async move {
            if let Err(panic) = AssertUnwindSafe(fut).catch_unwind().await {
                inner
                    .panics
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                tracing::error!(task = what, panic = %message, "a worker task panicked");
            }
        };
        let handle = tokio::spawn(guarded.in_current_span());
        let mut all = locked(&self.inner.all);
        all.retain(|h| !h.is_finished());
        all.push(handle.abort_handle());
        handle
    }

    /// Stops accepting new work to wait for (spawning still works).
    pub fn close(&self) {
        self.inner.work.close();
    }

    /// Waits until all work spawned with [`Tasks::spawn_work`] has finished (after `close`).
    pub async fn wait(&self) {
        self.inner.work.wait().await;
    }

    /// How many tasks panicked.
    pub fn panics(&self) -> u64 {
        self.inner.panics.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Drops every task at its current await point.
    pub fn abort_all(&self) {
        for h in locked(&self.inner.all).drain(..) {
            h.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_panicking_task_is_observed_and_a_kill_drops_everything() {
        let tasks = Tasks::default();
        let h = tasks.spawn("panics", async { panic!("on purpose") });
        h.await.expect("the panic is caught inside the task");
        assert_eq!(tasks.panics(), 1);

        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let forever = tasks.spawn_work("waits", async move {
            let _tx = tx;
            tokio::time::sleep(Duration::from_secs(3600)).await;
        });
        tasks.abort_all();
        assert!(forever.await.unwrap_err().is_cancelled());
        assert!(rx.await.is_err(), "the task's state was dropped");
        tasks.close();
        tasks.wait().await;
    }
}
