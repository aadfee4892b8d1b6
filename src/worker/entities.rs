//! Entity turns: the operations queued for one entity run in batches (at most
//! `max_entity_batch` per checkpoint), each batch committing the new state as an implicit
//! continue-as-new. The state comes from the cache or from the stored `ExecutionStarted` input.
//!
//! Owns [`Entities`]. Unlike an orchestration turn, an entity batch finishes (Instances row,
//! deletes) before the next batch: its next batch builds on the state just written.

use crate::telemetry;
use std::sync::Arc;
use std::time::Duration;

use crate::backend::{Checkpoint, HistoryCursor, OrchestrationService, ReceivedMessage};
use crate::core::entity::{run_entity_batch, EntityState};
use crate::core::{EventKind, Registry};

use super::cache::{Cache, Replay};
use super::local::{Local, LocalPlan};
use super::options::WorkerOptions;
use super::outcomes;

/// What entity turns need. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Entities {
    pub service: Arc<dyn OrchestrationService>,
    pub registry: Arc<Registry>,
    pub options: Arc<WorkerOptions>,
    pub cache: Cache,
    pub local: Local,
}

impl Entities {
    /// Runs the operations of `batch` on the entity `instance_id`.
    pub async fn run(&self, instance_id: &str, batch: Vec<ReceivedMessage>) {
        let partition = batch[0].queue.clone();
        let epoch = self.local.ownership.epoch(&partition);
        let (mut state, mut cursor) = match self.cache.take(instance_id) {
            Some((Replay::Entity(state), cursor)) => (state, cursor),
            _ => match self.load(instance_id).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "could not load the entity; its messages will be retried");
                    outcomes::abandon(&self.service, &batch, None).await;
                    return;
                }
            },
        };
        let (mut ops, mut stray): (Vec<_>, Vec<_>) = batch
            .into_iter()
            .partition(|m| matches!(m.message.event.kind, EventKind::EventRaised { .. }));
        for m in &stray {
            tracing::warn!(event = %m.message.event.event_type(), "message for an entity dropped");
        }
        ops.sort_by(|a, b| {
            (a.raw.inserted_on, a.envelope.sequence_number)
                .cmp(&(b.raw.inserted_on, b.envelope.sequence_number))
        });
        let max = self.options.max_entity_batch.max(1);
        while !ops.is_empty() {
            let rest = ops.split_off(max.min(ops.len()));
            let mut chunk = std::mem::replace(&mut ops, rest);
            let events: Vec<_> = chunk.iter().map(|m| m.message.event.clone()).collect();
            let now = self.service.clock().now();
            let (turn, new_state) = run_entity_batch(
                &self.registry,
                instance_id,
                state.clone(),
                &events,
                now,
                crate::entropy::uuid().simple().to_string(),
            );
            for w in &turn.warnings {
                tracing::warn!("{w}");
            }
            chunk.append(&mut stray);
            let plan = LocalPlan::control_only();
            let hold = |m: &crate::core::TaskMessage| plan.holds(&self.local, m);
            let keep = |m: &ReceivedMessage| self.local.locks.hold(m);
            let cp = Checkpoint {
                instance_id,
                turn: &turn,
                cursor: &cursor,
                replaces_execution: false,
                inbound: &chunk,
                hold: Some(&hold),
                hold_for: self.options.visibility_timeout,
                on_held: Some(&keep),
                run_here: None,
                has_wake_up: false,
            };
            let committed = match self.service.commit_orchestration_work_item(&cp).await {
                Ok(c) => {
                    telemetry::entity_operations(events.len());
                    c
                }
                Err(e) => {
                    let delay = matches!(e, crate::backend::Error::LockLost { .. })
                        .then_some(Duration::from_secs(1));
                    tracing::warn!(error = %e, "entity checkpoint failed; its operations will be retried");
                    outcomes::abandon(&self.service, &chunk, delay).await;
                    outcomes::abandon(&self.service, &ops, delay).await;
                    return;
                }
            };
            plan.wake_pollers(&self.local);
            let mut committed = committed;
            let held = std::mem::take(&mut committed.held);
            plan.dispatch(&self.local, held);
            if let Err(e) = self
                .service
                .finish_orchestration_work_item(&cp, &committed)
                .await
            {
                // Committed: the state holds. The operations' messages stay and come back; they
                // are found applied then (their request ids are in the new state).
                tracing::warn!(error = %e, "could not finish an entity checkpoint; its messages will be seen again");
                outcomes::abandon(&self.service, &chunk, None).await;
            }
            cursor = committed.cursor;
            state = new_state;
        }
        self.cache.put(
            instance_id,
            &partition,
            epoch,
            Replay::Entity(state),
            cursor,
        );
    }

    /// The stored state of an entity: the input of its last `ExecutionStarted`.
    async fn load(
        &self,
        instance_id: &str,
    ) -> Result<(EntityState, HistoryCursor), crate::backend::Error> {
        let loaded = self.service.load_orchestration_state(instance_id).await?;
        let input = loaded.events.iter().find_map(|e| match &e.kind {
            EventKind::ExecutionStarted { input, .. } => Some(input.clone()),
            _ => None,
        });
        let state = EntityState::from_input(input.flatten().as_deref()).map_err(|e| {
            crate::backend::Error::Corrupt(format!("state of entity '{instance_id}': {e}"))
        })?;
        Ok((state, HistoryCursor::of(&loaded)))
    }
}
