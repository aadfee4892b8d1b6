//! The control-queue dequeue loops: one per owned partition, taking up to a batch of messages at
//! a time and handing each instance's messages to its session.
//!
//! Owns [`ControlQueues`], which the partition manager asks to listen to a partition. A loop
//! stops when its partition's stop token is cancelled (the partition is lost, handed over, or the
//! worker stops). It pauses while the partition is not ours to dequeue right now (a lease
//! renewal failed; the next may succeed) — what it took meanwhile is made visible again at once —
//! and while the sessions already hold `control_buffer_limit` messages.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::backend::{OrchestrationService, ReceivedMessage};

use super::locks::Locks;
use super::options::WorkerOptions;
use super::ownership::Ownership;
use super::poller::{Polled, QueuePoller, Wakers};
use super::sessions::Sessions;
use super::tasks::Tasks;

/// Starts dequeue loops. Cheap to clone.
#[derive(Clone)]
pub(crate) struct ControlQueues {
    pub service: Arc<dyn OrchestrationService>,
    pub options: Arc<WorkerOptions>,
    pub sessions: Sessions,
    pub ownership: Ownership,
    pub locks: Locks,
    pub wakers: Wakers,
    pub tasks: Tasks,
}

impl ControlQueues {
    /// Listens to `partition` until `stop` is cancelled or it is no longer ours.
    pub fn listen(&self, partition: &str, stop: CancellationToken) -> JoinHandle<()> {
        let this = self.clone();
        let partition = partition.to_string();
        self.tasks.spawn(
            "dequeue loop",
            async move { this.run(partition, stop).await },
        )
    }

    async fn run(self, partition: String, stop: CancellationToken) {
        let o = &self.options;
        let mut poller = QueuePoller::new(
            &self.wakers,
            &partition,
            o.min_poll_interval,
            o.max_poll_interval,
        );
        tracing::debug!(%partition, "listening");
        while !stop.is_cancelled() {
            // Paused while the sessions hold enough, and while our lease is not known to be
            // valid (a renewal that failed may succeed on the next tick: the loop goes on then;
            // when the partition is lost or handed over, `stop` ends it).
            let may = self.ownership.may_dequeue(&partition);
            if !may || self.sessions.buffered() >= o.control_buffer_limit {
                let pause = if may { 20 } else { 200 };
                tokio::select! {
                    biased;
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(Duration::from_millis(pause)) => continue,
                }
            }
            let keep = || self.ownership.may_dequeue(&partition);
            let fetch = || {
                self.service.fetch_orchestration_messages(
                    &partition,
                    o.control_batch_size,
                    o.visibility_timeout,
                )
            };
            let messages = match poller.next(&stop, keep, fetch).await {
                Polled::Got(m) => m,
                Polled::Stopped(taken) => {
                    self.service.abandon_messages(&taken, Duration::ZERO).await;
                    continue;
                }
            };
            let mut groups: Vec<(String, Vec<ReceivedMessage>)> = Vec::new();
            for m in messages {
                self.locks.hold(&m);
                let id = m.instance_id().to_string();
                match groups.iter_mut().find(|(g, _)| *g == id) {
                    Some((_, v)) => v.push(m),
                    None => groups.push((id, vec![m])),
                }
            }
            for (id, group) in groups {
                self.sessions.submit(&id, group);
            }
        }
        tracing::debug!(%partition, "stopped listening");
    }
}
