//! Work this worker hands to itself instead of polling for it: activity requests it just
//! scheduled (when it has a free activity slot), and messages for instances of partitions it owns
//! (activity results, sub-orchestration starts and results, events).
//!
//! Such a message is still put on its queue — hidden for the visibility timeout, so no poller
//! takes it — and processed here at once with the pop receipt `put` returned. If this worker dies
//! first, the message appears when the timeout ends and whoever owns it then processes it:
//! nothing is lost, the queue stays the source of truth. This saves the dequeue and the polling
//! delay on the hot path.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::OwnedSemaphorePermit;

use crate::backend::SentMessage;
use crate::core::TaskMessage;

use super::{locked, Shared};

/// The local hand-overs of one checkpoint: activity slots reserved before the messages are
/// sent, and which messages are held.
pub(crate) struct LocalPlan {
    permits: std::sync::Mutex<Vec<OwnedSemaphorePermit>>,
    activities_left: AtomicUsize,
    /// Queues that get a message due now that is not held: their pollers are woken after the
    /// commit. A held message needs no poll (it is hidden anyway).
    to_wake: std::sync::Mutex<Vec<String>>,
}

impl LocalPlan {
    /// Reserves activity slots for up to as many activity requests as `messages` holds.
    pub fn new(shared: &Shared, messages: &[TaskMessage]) -> Self {
        let wanted = messages.iter().filter(|m| m.is_activity_request()).count();
        let mut permits = Vec::new();
        while permits.len() < wanted {
            match shared.activity_slots.clone().try_acquire_owned() {
                Ok(p) => permits.push(p),
                Err(_) => break,
            }
        }
        let n = permits.len();
        LocalPlan {
            permits: std::sync::Mutex::new(permits),
            activities_left: AtomicUsize::new(n),
            to_wake: Default::default(),
        }
    }

    /// A plan that holds control messages only (entities schedule no activities).
    pub fn control_only() -> Self {
        LocalPlan {
            permits: std::sync::Mutex::new(Vec::new()),
            activities_left: AtomicUsize::new(0),
            to_wake: Default::default(),
        }
    }

    /// Whether to hold (send hidden and process here) this message; asked once per message.
    pub fn holds(&self, shared: &Shared, m: &TaskMessage) -> bool {
        let held = if m.is_activity_request() {
            self.activities_left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
        } else {
            holds_control_message(shared, m)
        };
        if !held && is_due(m) {
            locked(&self.to_wake).push(shared.hub.queue_for(m));
        }
        held
    }

    /// After the commit: wakes this process's pollers of the queues that got visible messages.
    pub fn wake_pollers(&self, shared: &Shared) {
        for queue in std::mem::take(&mut *locked(&self.to_wake)) {
            shared.wakers.wake(&queue);
        }
    }

    /// After the commit: runs the held activities and hands the held control messages to their
    /// sessions.
    pub fn dispatch(&self, shared: &Arc<Shared>, held: Vec<SentMessage>) {
        for sent in held {
            let Some(received) = sent.into_received() else {
                continue;
            };
            if received.message.is_activity_request() {
                let permit = locked(&self.permits).pop();
                match permit {
                    Some(permit) => super::activities::spawn_activity(shared, received, permit),
                    // Cannot happen: one permit was reserved per held activity.
                    None => {
                        tracing::warn!("no slot for a held activity; it runs when its hold ends")
                    }
                }
            } else {
                let id = received.instance_id().to_string();
                super::orchestrations::submit(shared, &id, vec![received]);
            }
        }
    }
}

/// A control message is held when it is due now and its partition is one this worker owns.
pub(crate) fn holds_control_message(shared: &Shared, m: &TaskMessage) -> bool {
    is_due(m) && shared.ownership().may_dequeue(&shared.hub.queue_for(m))
}

/// Whether a message is visible as soon as it is sent (not a timer or a scheduled start).
fn is_due(m: &TaskMessage) -> bool {
    m.visible_at
        .is_none_or(|t| t <= time::OffsetDateTime::now_utc())
}
