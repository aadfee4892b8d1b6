//! The activity inbox: activity requests this worker scheduled and holds for itself, each with
//! the activity slot reserved for it before the request was sent.
//!
//! Owns [`ActivitySlots`] (the bound on activities running at once) and [`ActivityInbox`].
//! Written by the local hand-over (`local.rs`), read by the activity dispatcher
//! (`activities.rs`); a module of its own so neither imports the other.

use std::sync::Arc;

use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

use crate::backend::ActivityWorkItem;

/// Slots for activities running at once. Cheap to clone.
#[derive(Clone)]
pub(crate) struct ActivitySlots(pub Arc<Semaphore>);

impl ActivitySlots {
    pub fn new(n: usize) -> Self {
        ActivitySlots(Arc::new(Semaphore::new(n)))
    }

    /// A free slot now, if there is one.
    pub fn try_take(&self) -> Option<OwnedSemaphorePermit> {
        self.0.clone().try_acquire_owned().ok()
    }

    /// Waits for a free slot (`None` once the slots are closed).
    pub async fn take(&self) -> Option<OwnedSemaphorePermit> {
        self.0.clone().acquire_owned().await.ok()
    }

    pub fn available(&self) -> usize {
        self.0.available_permits()
    }
}

/// A held activity request, the slot reserved for it (if one could be), and its room among the
/// tasks run without a message (`local_tasks.rs`), kept until it finishes.
pub(crate) struct Held {
    pub item: ActivityWorkItem,
    pub slot: Option<OwnedSemaphorePermit>,
    pub room: Option<OwnedSemaphorePermit>,
}

/// Where held activity requests go. Cheap to clone.
#[derive(Clone)]
pub(crate) struct ActivityInbox(mpsc::UnboundedSender<Held>);

impl ActivityInbox {
    pub fn new() -> (ActivityInbox, mpsc::UnboundedReceiver<Held>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (ActivityInbox(tx), rx)
    }

    /// Hands a request over; it runs as soon as the dispatcher sees it (and has a slot).
    pub fn push(&self, held: Held) {
        if self.0.send(held).is_err() {
            tracing::debug!("the activity dispatcher is gone; the request runs when its lock ends");
        }
    }
}
