//! Work this worker hands to itself instead of polling for it: activity requests it just
//! scheduled (when it has a free activity slot), messages for instances of partitions it owns
//! (activity results, sub-orchestration starts and results, events), and results of activities
//! it ran for such instances.
//!
//! Owns [`Local`] (the routing handle) and [`LocalPlan`] (one checkpoint's hand-overs). A held
//! message is still put on its queue — hidden, so no poller takes it — and processed here at once
//! with the pop receipt `put` returned; the lock keeper keeps it hidden while it waits. If this
//! worker dies first, the message appears when its lock ends and whoever owns it then processes
//! it: nothing is lost, the queue stays the source of truth. This saves the dequeue and the
//! polling delay on the hot path.
//!
//! With local activities on (`WorkerOptions::local_activity_backlog`, `local_tasks.rs`), an
//! activity request with room here is not sent at all: the history and the instance's wake-up
//! message are its durable record, and its result comes back as a message that never was on a
//! queue ([`ReceivedMessage::local`]). Requests without room go to the work-item queue, visible,
//! for any worker.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use tokio::sync::OwnedSemaphorePermit;

use crate::backend::{ActivityWorkItem, HubNames, ReceivedMessage};
use crate::clock::Clock;
use crate::core::TaskMessage;

use super::handoff::{ActivityInbox, ActivitySlots, Held};
use super::local_tasks::LocalTasks;
use super::locked;
use super::locks::Locks;
use super::ownership::Ownership;
use super::poller::Wakers;
use super::sessions::Sessions;

/// Routes what this worker hands to itself. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Local {
    pub sessions: Sessions,
    pub inbox: ActivityInbox,
    pub slots: ActivitySlots,
    pub ownership: Ownership,
    pub wakers: Wakers,
    pub locks: Locks,
    pub names: HubNames,
    pub clock: Clock,
    pub tasks: LocalTasks,
}

impl Local {
    /// The hand-overs of one checkpoint: reserves activity slots (or rooms among the local
    /// tasks) for up to `wanted` activity requests.
    pub fn plan(&self, wanted: usize) -> LocalPlan {
        let take = || match self.tasks.enabled() {
            true => self.tasks.try_reserve(),
            false => self.slots.try_take(),
        };
        let mut permits = Vec::new();
        while permits.len() < wanted {
            match take() {
                Some(p) => permits.push(p),
                None => break,
            }
        }
        let n = permits.len();
        LocalPlan {
            permits: Mutex::new(permits),
            activities_left: AtomicUsize::new(n),
            to_wake: Default::default(),
            run_here: self.tasks.enabled(),
        }
    }

    /// Runs an activity request here without a message: one a commit did not send, or one a
    /// cold load found listed without a result (its worker stopped). `room` is its place among
    /// the tasks run here, if it has one. `deliveries` counts the times it was handed out: 1
    /// for a new request, the wake-up's dequeue count for one run again — so a task that
    /// kills its worker every time becomes poison as its request's message would.
    pub fn run_here(
        &self,
        request: TaskMessage,
        room: Option<OwnedSemaphorePermit>,
        deliveries: u64,
    ) {
        let instance = &request.instance;
        let id = format!(
            "local:{}:{}:{}",
            instance.instance_id,
            instance.execution_id.as_deref().unwrap_or_default(),
            request.event.event_id
        );
        let mut received = ReceivedMessage::local(request, id, self.clock.now());
        received.raw.dequeue_count = deliveries.max(1);
        match ActivityWorkItem::from_message(received) {
            Ok(item) => {
                tracing::debug!(instance_id = %item.instance.instance_id, task_id = item.task_id, "activity runs here without a message");
                self.tasks.started(&item.instance, item.task_id);
                let slot = None;
                self.inbox.push(Held { item, slot, room });
            }
            Err(m) => {
                tracing::warn!(message_id = %m.message_id(), "not an activity request; not run")
            }
        }
    }

    /// After a turn that did not commit: the results among `messages` that never were on a
    /// queue (nothing brings them back) go to their session again after `delay`, or are
    /// forgotten when the partition is someone else's now (its new owner runs the tasks again).
    pub fn give_back(&self, messages: &[ReceivedMessage], delay: std::time::Duration) {
        let local: Vec<ReceivedMessage> =
            messages.iter().filter(|m| m.is_local()).cloned().collect();
        if local.is_empty() {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            for m in local {
                let id = m.instance_id().to_string();
                if this.holds_control_message(&m.message) {
                    this.sessions.submit(&id, vec![m]);
                } else {
                    let answered = m.message.event.kind.completes_id();
                    this.tasks.done(&m.message.instance, answered);
                }
            }
        });
    }

    /// A control message is held when it is due now and its partition is one this worker owns.
    pub fn holds_control_message(&self, m: &TaskMessage) -> bool {
        self.is_due(m) && self.ownership.may_dequeue(&self.names.queue_for(m))
    }

    /// Whether a message is visible as soon as it is sent (not a timer or a scheduled start).
    fn is_due(&self, m: &TaskMessage) -> bool {
        m.visible_at.is_none_or(|t| t <= self.clock.now())
    }

    /// Hands an activity's result straight to its orchestration's session when this worker
    /// owns the partition: the request's own message (still hidden) stands for the result until
    /// the turn that applies it commits, and that turn's finish deletes it like any inbound
    /// message. Returns false (and hands nothing) otherwise.
    pub fn carry_result(&self, request: &ReceivedMessage, response: &TaskMessage) -> bool {
        if !self.holds_control_message(response) {
            return false;
        }
        let carried = ReceivedMessage {
            message: response.clone(),
            ..request.clone()
        };
        self.locks.hold(&carried);
        self.sessions
            .submit(&response.instance.instance_id, vec![carried]);
        true
    }

    /// Wakes this process's poller of the queue `m` went to.
    pub fn wake_for(&self, m: &TaskMessage) {
        self.wakers.wake(&self.names.queue_for(m));
    }
}

/// The local hand-overs of one checkpoint: activity slots reserved before the messages are
/// sent, and which messages are held.
pub(crate) struct LocalPlan {
    permits: Mutex<Vec<OwnedSemaphorePermit>>,
    activities_left: AtomicUsize,
    /// Queues that get a message due now that is not held: their pollers are woken after the
    /// commit. A held message needs no poll (it is hidden anyway).
    to_wake: Mutex<Vec<String>>,
    /// Activity requests with a reserved place run here without a message (the permits are
    /// rooms among the local tasks, not activity slots).
    run_here: bool,
}

impl LocalPlan {
    /// A plan that holds control messages only (entities schedule no activities).
    pub fn control_only() -> Self {
        LocalPlan {
            permits: Mutex::new(Vec::new()),
            activities_left: AtomicUsize::new(0),
            to_wake: Default::default(),
            run_here: false,
        }
    }

    /// Whether some activity request of the turn has room to run here.
    pub fn runs_any_here(&self) -> bool {
        self.run_here && self.activities_left.load(Ordering::SeqCst) > 0
    }

    /// Whether to run this activity request here without sending it; asked once per request,
    /// before [`holds`](Self::holds).
    pub fn runs_here(&self, m: &TaskMessage) -> bool {
        self.run_here
            && m.is_activity_request()
            && self
                .activities_left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
    }

    /// Whether to hold (send hidden and process here) this message; asked once per message
    /// that is sent.
    pub fn holds(&self, local: &Local, m: &TaskMessage) -> bool {
        let held = if self.run_here && m.is_activity_request() {
            // It had no room here: it goes to any worker.
            false
        } else if m.is_activity_request() {
            self.activities_left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
        } else {
            local.holds_control_message(m)
        };
        if !held && local.is_due(m) {
            locked(&self.to_wake).push(local.names.queue_for(m));
        }
        held
    }

    /// After the commit: wakes this process's pollers of the queues that got visible messages.
    pub fn wake_pollers(&self, local: &Local) {
        for queue in std::mem::take(&mut *locked(&self.to_wake)) {
            local.wakers.wake(&queue);
        }
    }

    /// After the commit: hands the held activity requests to the activity dispatcher and the
    /// held control messages to their sessions (the lock keeper has kept them since they were
    /// sent).
    pub fn dispatch(&self, local: &Local, held: Vec<ReceivedMessage>) {
        for received in held {
            if received.message.is_activity_request() {
                // One slot was reserved per held activity; should one be missing, the
                // dispatcher waits for a free one.
                let slot = locked(&self.permits).pop();
                match ActivityWorkItem::from_message(received) {
                    Ok(item) => local.inbox.push(Held {
                        item,
                        slot,
                        room: None,
                    }),
                    Err(m) => {
                        tracing::warn!(message_id = %m.message_id(), "a held message is not an activity request")
                    }
                }
            } else {
                let id = received.instance_id().to_string();
                local.sessions.submit(&id, vec![received]);
            }
        }
    }

    /// After the commit: runs the requests it did not send, each in a room reserved for it.
    pub fn run_here_all(&self, local: &Local, requests: Vec<TaskMessage>) {
        for request in requests {
            let room = locked(&self.permits).pop();
            local.run_here(request, room, 1);
        }
    }
}
