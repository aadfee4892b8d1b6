//! Entity turns: the operations queued for one entity run in batches (at most
//! `max_entity_batch` per checkpoint), each batch committing the new state as an implicit
//! continue-as-new. The state comes from the cache or from the stored `ExecutionStarted` input.

use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use crate::backend::{Checkpoint, HistoryCursor, ReceivedMessage};
use crate::core::entity::{run_entity_batch, EntityState};
use crate::core::EventKind;

use super::cache::Replay;
use super::local::LocalPlan;
use super::poller::abandon_all;
use super::Shared;

/// Runs the operations of `batch` on the entity `instance_id`.
pub(crate) async fn run_entity_turns(
    shared: &Arc<Shared>,
    instance_id: &str,
    batch: Vec<ReceivedMessage>,
) {
    let partition = batch[0].queue.clone();
    let (mut state, mut cursor) = match shared.cache_take(instance_id) {
        Some((Replay::Entity(state), cursor)) => (state, cursor),
        _ => match load(shared, instance_id).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "could not load the entity; its messages will be retried");
                let mut batch = batch;
                abandon_all(shared, &mut batch, None).await;
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
    let max = shared.options.max_entity_batch.max(1);
    while !ops.is_empty() {
        let rest = ops.split_off(max.min(ops.len()));
        let mut chunk = std::mem::replace(&mut ops, rest);
        let events: Vec<_> = chunk.iter().map(|m| m.message.event.clone()).collect();
        let now = time::OffsetDateTime::now_utc();
        let (turn, new_state) = run_entity_batch(
            &shared.registry,
            instance_id,
            state.clone(),
            &events,
            now,
            Uuid::new_v4().simple().to_string(),
        );
        for w in &turn.warnings {
            tracing::warn!("{w}");
        }
        chunk.append(&mut stray);
        let plan = LocalPlan::control_only();
        let hold = |m: &crate::core::TaskMessage| plan.holds(shared, m);
        let result = shared
            .hub
            .checkpoint(Checkpoint {
                instance_id,
                turn: &turn,
                cursor: &cursor,
                replaces_execution: false,
                inbound: &chunk,
                hold: Some(&hold),
                hold_for: shared.options.visibility_timeout,
            })
            .await;
        match result {
            Ok(committed) => {
                cursor = committed.cursor;
                state = new_state;
                plan.wake_pollers(shared);
                plan.dispatch(shared, committed.held);
            }
            Err(e) => {
                let delay = matches!(e, crate::backend::Error::LockLost { .. })
                    .then_some(Duration::from_secs(1));
                tracing::warn!(error = %e, "entity checkpoint failed; its operations will be retried");
                abandon_all(shared, &mut chunk, delay).await;
                abandon_all(shared, &mut ops, delay).await;
                return;
            }
        }
    }
    shared.cache_put(instance_id, &partition, Replay::Entity(state), cursor);
}

/// The stored state of an entity: the input of its last `ExecutionStarted`.
async fn load(
    shared: &Shared,
    instance_id: &str,
) -> Result<(EntityState, HistoryCursor), crate::backend::Error> {
    let loaded = shared.hub.history().load(instance_id).await?;
    let input = loaded.events.iter().find_map(|e| match &e.kind {
        EventKind::ExecutionStarted { input, .. } => Some(input.clone()),
        _ => None,
    });
    let state = EntityState::from_input(input.flatten().as_deref()).map_err(|e| {
        crate::backend::Error::Corrupt(format!("state of entity '{instance_id}': {e}"))
    })?;
    Ok((state, HistoryCursor::of(&loaded)))
}
