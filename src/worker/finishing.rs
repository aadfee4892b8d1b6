//! The second half of an orchestration turn's checkpoint — the Instances update and the deletes
//! of the inbound messages — runs after the session has moved on, beside its next turn, instead
//! of on the critical path of a chain of activities. Both may happen any time after the history
//! commit (a crash before them is repaired by the next turn or by redelivery, see
//! docs/checkpoint.md); what must hold is their order: the finishes of one instance run one at a
//! time, in turn order, so an older Instances update never lands after a newer one.
//!
//! Owns [`Finisher`] and [`FinishOrder`].

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};
use tracing::Instrument;

use crate::backend::{Checkpoint, Committed, HistoryCursor, OrchestrationService, ReceivedMessage};
use crate::core::TurnResult;
use crate::telemetry;

use super::locked;
use super::row_coalescing::RowCoalescing;
use super::tasks::Tasks;

/// One lock per instance with a finish in flight (or waiting).
#[derive(Default)]
pub(crate) struct FinishOrder {
    per_instance: Mutex<BTreeMap<String, Arc<AsyncMutex<()>>>>,
}

/// The right to run an instance's next finish; the one after it waits until this is released.
pub(crate) struct FinishSlot {
    instance_id: String,
    lock: Arc<AsyncMutex<()>>,
    guard: OwnedMutexGuard<()>,
}

impl FinishOrder {
    /// Waits until the instance's previous finish is done (usually long since).
    pub async fn enter(&self, instance_id: &str) -> FinishSlot {
        let lock = locked(&self.per_instance)
            .entry(instance_id.to_string())
            .or_default()
            .clone();
        let guard = lock.clone().lock_owned().await;
        FinishSlot {
            instance_id: instance_id.to_string(),
            lock,
            guard,
        }
    }

    /// Whether an instance `matches` has a finish in flight (a partition is not handed over
    /// before its finishes are done).
    pub fn any(&self, mut matches: impl FnMut(&str) -> bool) -> bool {
        locked(&self.per_instance).keys().any(|id| matches(id))
    }

    /// Lets the next finish of the instance run; forgets the instance when none waits.
    pub fn leave(&self, slot: FinishSlot) {
        let FinishSlot {
            instance_id,
            lock,
            guard,
        } = slot;
        drop(guard);
        let mut map = locked(&self.per_instance);
        // Held by the map and by us only: nobody is waiting (a waiter clones under this lock).
        if Arc::strong_count(&lock) == 2 {
            map.remove(&instance_id);
        }
    }
}

/// What a finish needs, owned so it can outlive the turn that committed it.
pub(crate) struct PendingFinish {
    pub instance_id: String,
    pub turn: TurnResult,
    pub cursor: HistoryCursor,
    pub replaces_execution: bool,
    pub inbound: Vec<ReceivedMessage>,
    pub committed: Committed,
}

/// Runs finishes in the background, each after its instance's previous one. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Finisher {
    service: Arc<dyn OrchestrationService>,
    order: Arc<FinishOrder>,
    rows: Arc<RowCoalescing>,
    tasks: Tasks,
}

impl Finisher {
    pub fn new(service: Arc<dyn OrchestrationService>, tasks: Tasks) -> Self {
        Finisher {
            service,
            order: Arc::new(FinishOrder::default()),
            rows: Arc::new(RowCoalescing::default()),
            tasks,
        }
    }

    /// The instances' finish order, for work that must not overtake a pending finish.
    pub fn order(&self) -> &FinishOrder {
        &self.order
    }

    /// Runs `f` after the instance's previous finish; a graceful stop waits for it like for
    /// any session.
    pub async fn spawn(&self, f: PendingFinish) {
        let slot = self.order.enter(&f.instance_id).await;
        let service = self.service.clone();
        let order = self.order.clone();
        let rows = self.rows.clone();
        let work = async move {
            let id = &f.instance_id;
            let execution = f
                .committed
                .cursor
                .execution_id
                .as_deref()
                .unwrap_or_default();
            if rows.may_skip(id, execution, &f.turn) {
                // The row already says all this turn would change but `LastUpdatedTime`
                // (row_coalescing.rs); the history holds the turn, so its messages may go.
                telemetry::instance_row_coalesced();
                service.drop_messages(&f.inbound).await;
                order.leave(slot);
                return;
            }
            let cp = Checkpoint {
                instance_id: id,
                turn: &f.turn,
                cursor: &f.cursor,
                replaces_execution: f.replaces_execution,
                inbound: &f.inbound,
                hold: None,
                hold_for: std::time::Duration::ZERO,
                on_held: None,
                run_here: None,
                has_wake_up: false,
            };
            match service
                .finish_orchestration_work_item(&cp, &f.committed)
                .await
            {
                Ok(()) => rows.written(id, execution, &f.turn),
                Err(e) => {
                    // The history holds the turn; the inbound messages are given back, come
                    // back, find their events in history, and the Instances row is brought up
                    // to date then.
                    rows.forget(id);
                    tracing::warn!(error = %e, "could not update the Instances row after a checkpoint; its messages will be seen again");
                    super::outcomes::abandon(&service, &f.inbound, None).await;
                }
            }
            order.leave(slot);
        };
        self.tasks.spawn_work("finish", work.in_current_span());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn finishes_of_one_instance_wait_their_turn_and_are_forgotten_after() {
        let order = Arc::new(FinishOrder::default());
        let first = order.enter("a").await;
        // Another instance does not wait.
        let other = tokio::time::timeout(Duration::from_secs(1), order.enter("b"))
            .await
            .expect("another instance's finish runs at once");
        let (tx, mut rx) = tokio::sync::oneshot::channel();
        let waiting = {
            let order = order.clone();
            tokio::spawn(async move {
                let second = order.enter("a").await;
                let _ = tx.send(());
                order.leave(second);
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            rx.try_recv().is_err(),
            "the second finish waits for the first"
        );
        assert!(order.any(|id| id == "a"));
        order.leave(first);
        waiting.await.unwrap();
        assert!(rx.try_recv().is_ok());
        assert!(
            !order.any(|id| id == "a"),
            "nothing left once all have left"
        );
        assert!(order.any(|id| id == "b"));
        order.leave(other);
        assert!(!order.any(|_| true));
    }
}
