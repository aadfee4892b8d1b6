//! The activity dispatcher: runs activity requests — taken from the shared `{hub}-workitems`
//! queue as slots free up, or handed over by this worker's own checkpoints — with their message
//! kept hidden by the lock keeper, then reports the result and lets the request go, in that
//! order, so a crash at any point re-runs the activity rather than losing it.
//!
//! Owns [`Activities`].

use crate::telemetry;
use std::sync::Arc;

use tokio::sync::{mpsc, OwnedSemaphorePermit};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::backend::{ActivityWorkItem, OrchestrationService};
use crate::core::{ActivityContext, FailureDetails, Registry};

use super::handoff::{ActivitySlots, Held};
use super::local::Local;
use super::options::WorkerOptions;
use super::poller::{Polled, QueuePoller};
use super::tasks::Tasks;

/// How long a poison request waits when it could not be moved (it is tried again).
const POISON_RETRY: std::time::Duration = std::time::Duration::from_secs(10);

/// What running activities needs. Cheap to share (`Arc`).
pub(crate) struct Activities {
    pub service: Arc<dyn OrchestrationService>,
    pub registry: Arc<Registry>,
    pub options: Arc<WorkerOptions>,
    pub slots: ActivitySlots,
    pub local: Local,
    pub tasks: Tasks,
}

impl Activities {
    /// Runs held requests as they are handed over, for as long as the worker lives.
    pub async fn run_held(self: Arc<Self>, mut inbox: mpsc::UnboundedReceiver<Held>) {
        while let Some(Held { item, slot, room }) = inbox.recv().await {
            let slot = match slot {
                Some(s) => s,
                None => match self.slots.take().await {
                    Some(s) => s,
                    None => return,
                },
            };
            self.spawn(item, (slot, room));
        }
    }

    /// Takes requests from the work-item queue until `stop` is cancelled.
    pub async fn poll(self: Arc<Self>, stop: CancellationToken) {
        let queue = self.service.names().work_item_queue();
        let o = &self.options;
        let mut poller = QueuePoller::new(
            &self.local.wakers,
            &queue,
            o.min_poll_interval,
            o.max_activity_poll_interval,
        );
        while !stop.is_cancelled() {
            // A free slot first, so that what is taken can start at once; not held while the
            // queue is polled (an idle poll can last seconds), or requests this worker runs
            // itself would wait behind an empty queue.
            tokio::select! {
                biased;
                _ = stop.cancelled() => break,
                p = self.slots.take() => match p {
                    Some(p) => drop(p),
                    None => break,
                },
            };
            let count = self.slots.available().clamp(1, 32) as u8;
            let fetch = || {
                self.service
                    .fetch_activity_work_items(count, o.visibility_timeout)
            };
            let items = match poller.next(&stop, || true, fetch).await {
                Polled::Got(items) => items,
                Polled::Stopped(taken) => {
                    let messages: Vec<_> = taken.into_iter().map(|i| i.message).collect();
                    self.service
                        .abandon_messages(&messages, std::time::Duration::ZERO)
                        .await;
                    break;
                }
            };
            let mut items = items.into_iter();
            while let Some(item) = items.next() {
                // Kept hidden while it waits for a slot (one may have gone to a local request);
                // given back at once if the worker stops meanwhile.
                self.local.locks.hold(&item.message);
                let slot = tokio::select! {
                    biased;
                    _ = stop.cancelled() => None,
                    p = self.slots.take() => p,
                };
                let Some(p) = slot else {
                    let left: Vec<_> = std::iter::once(item)
                        .chain(items)
                        .map(|i| i.message)
                        .collect();
                    self.service
                        .abandon_messages(&left, std::time::Duration::ZERO)
                        .await;
                    break;
                };
                self.spawn(item, (p, None));
            }
        }
    }

    /// Runs a request in the background, holding its slot (and its room among the tasks run
    /// without a message) until it is done.
    fn spawn(
        self: &Arc<Self>,
        item: ActivityWorkItem,
        slot: (OwnedSemaphorePermit, Option<OwnedSemaphorePermit>),
    ) {
        let this = self.clone();
        let span = super::spans::activity_span(
            &item.instance.instance_id,
            item.task_id,
            &item.name,
            &item.message.message.event,
        );
        let work = async move {
            this.run(item).await;
            drop(slot);
        };
        self.tasks.spawn_work("activity", work.instrument(span));
    }

    /// Runs one request to its reported result.
    async fn run(&self, item: ActivityWorkItem) {
        let result = if item.message.dequeue_count() <= self.options.poison_dequeue_limit {
            self.run_activity(&item).await
        } else if item.message.is_local() {
            // No message to move: failing the task is its result, reported as any other, and
            // its failure in the history is the record.
            telemetry::poison_messages(1);
            let failure = poison_failure(&item);
            tracing::warn!(reason = %failure.error_message, "local activity failed as poison");
            Err(failure)
        } else {
            self.poison(item).await;
            return;
        };
        let response = item.response(result, self.service.clock().now());
        // The orchestration's partition is ours: the result goes straight to its session,
        // carried by the request's message (see Local::carry_result). Otherwise it is sent.
        if self.local.carry_result(&item.message, &response) {
            return;
        }
        if item.message.is_local() {
            // Not ours any more: the result is sent as any other, and the new owner, woken by
            // the instance's wake-up, uses it (or runs the task again if it is lost).
            self.local.tasks.done(&item.instance, [item.task_id]);
        }
        match self
            .service
            .complete_activity_work_item(&item, &response)
            .await
        {
            Ok(()) => self.local.wake_for(&response),
            Err(e) => {
                tracing::warn!(activity = %item.name, error = %e, "could not report the activity's result; it will run again");
                let d = crate::backend::messages::abandon_delay(item.message.dequeue_count());
                self.service
                    .abandon_messages(std::slice::from_ref(&item.message), d)
                    .await;
            }
        }
    }

    /// Runs the activity's code.
    async fn run_activity(&self, item: &ActivityWorkItem) -> Result<String, FailureDetails> {
        let ctx = ActivityContext {
            instance_id: item.instance.instance_id.clone(),
            execution_id: item.instance.execution_id.clone(),
            name: item.name.clone(),
            task_id: item.task_id,
        };
        telemetry::activity_started();
        let started = std::time::Instant::now();
        let result = self.registry.run_activity(ctx, item.input.clone()).await;
        telemetry::activity_completed(result.is_ok(), started.elapsed());
        if let Err(e) = &result {
            tracing::debug!(activity = %item.name, error = %e, "activity failed");
            super::spans::activity_failed(&e.to_string());
        }
        result
    }

    /// A request that keeps coming back (the worker running it dies or hangs): its task fails in
    /// the orchestration first, then the request moves to the poison queue.
    async fn poison(&self, item: ActivityWorkItem) {
        telemetry::poison_messages(1);
        let failure = poison_failure(&item);
        let reason = failure.error_message.clone();
        if let Err(e) = self.service.fail_activity_task(&item, failure).await {
            tracing::warn!(error = %e, "could not fail a poison activity's task");
            let d = crate::backend::messages::abandon_delay(item.message.dequeue_count());
            self.service
                .abandon_messages(std::slice::from_ref(&item.message), d)
                .await;
            return;
        }
        if let Err(e) = self.service.poison_message(&item.message, &reason).await {
            tracing::warn!(error = %e, "could not move a poison activity message; it comes back");
            self.service
                .abandon_messages(std::slice::from_ref(&item.message), POISON_RETRY)
                .await;
        }
        let queue = self
            .service
            .names()
            .control_queue_for(&item.instance.instance_id);
        self.local.wakers.wake(&queue);
    }
}

/// The failure of a task whose request was handed out more often than the poison limit.
fn poison_failure(item: &ActivityWorkItem) -> FailureDetails {
    let reason = format!(
        "activity '{}' of instance '{}' was dequeued {} times without completing",
        item.name,
        item.instance.instance_id,
        item.message.dequeue_count()
    );
    FailureDetails {
        is_non_retriable: true,
        ..FailureDetails::new(FailureDetails::POISON_MESSAGE, reason)
    }
}
