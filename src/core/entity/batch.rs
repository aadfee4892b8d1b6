//! Running a batch of entity messages: operations one at a time, in the order received, each
//! either committing its state change and signals or, on error, rolling them back; and the
//! locks of critical sections. The batch ends with an implicit continue-as-new that carries the
//! new state (reference §7.2), expressed as a [`TurnResult`] the backend checkpoints like any
//! turn.
//!
//! Locks follow the reference's entity scheduler: while an orchestration holds the entity
//! (`lockedBy`), only that orchestration's requests run; the others wait in the state's
//! `queue`. A lock request is granted when it reaches the head of the queue; the grant goes on
//! to the next entity of the lock set, or back to the orchestration from the last one. A
//! `release` from the holder frees the entity and lets the queue run.

use std::panic::{catch_unwind, AssertUnwindSafe};

use uuid::Uuid;

use super::context::EntityContext;
use super::messages::{
    ReleaseMessage, RequestMessage, ResponseMessage, SendOrder, CONTINUE_EVENT, LOCK_GRANTED,
    OPERATION_EVENT, RELEASE_EVENT,
};
use super::state::EntityState;
use crate::core::action::TaskMessage;
use crate::core::failure::FailureDetails;
use crate::core::history::{
    EventKind, HistoryEvent, OrchestrationInstance, OrchestrationStatus, Timestamp,
};
use crate::core::instance::EntityId;
use crate::core::registry::{panic_message, Registry};
use crate::core::replay::TurnResult;

/// Namespace of the ids of signals entities send.
const SIGNAL_NAMESPACE: Uuid = Uuid::from_u128(0x3f5f_7c2a_91d4_4f0e_b7a1_6c1e_2d9a_8b44);

/// What one batch sends and reports, and what it needs to make ids and stamps.
struct Outbox<'a> {
    instance_id: &'a str,
    new_execution_id: &'a str,
    now: Timestamp,
    messages: Vec<TaskMessage>,
    warnings: Vec<String>,
    signal_counter: u32,
    sends: SendOrder,
}

/// Runs the operations and lock traffic carried by `events` (EventRaised `op` / `op@…`,
/// `release`, `continue`) against `state`. Returns the turn to checkpoint and the new state.
pub fn run_entity_batch(
    registry: &Registry,
    instance_id: &str,
    mut state: EntityState,
    events: &[HistoryEvent],
    now: Timestamp,
    new_execution_id: String,
) -> (TurnResult, EntityState) {
    let entity = EntityId::parse(instance_id).ok();
    let mut out = Outbox {
        instance_id,
        new_execution_id: &new_execution_id,
        now,
        messages: Vec::new(),
        warnings: Vec::new(),
        signal_counter: 0,
        sends: SendOrder::default(),
    };
    state.forget_before(now);
    take_in(&mut state, events, &mut out);
    while let Some(request) = next_runnable(&mut state) {
        if request.is_lock() {
            grant_lock(&mut state, request, &mut out);
            continue;
        }
        let outcome = match &entity {
            Some(id) => run_operation(registry, id, &request, &mut state, now),
            None => Err(FailureDetails::new(
                "InvalidEntityId",
                format!("'{instance_id}' is not an entity id of the form @name@key"),
            )),
        };
        match &outcome {
            Ok((_, signals)) => out.send_signals(signals),
            Err(f) if request.is_signal => out.warnings.push(format!(
                "signal '{}' to {instance_id} failed: {f}",
                request.operation
            )),
            Err(_) => {}
        }
        if !request.is_signal {
            let response = match outcome {
                Ok((result, _)) => ResponseMessage {
                    result,
                    ..Default::default()
                },
                Err(f) => ResponseMessage {
                    result: Some(f.error_message.clone()),
                    exception_type: Some(f.error_type.clone()),
                    failure_details: Some(f),
                },
            };
            out.respond(&request, &response);
        }
        state.processed.push((request.id, now.unix_timestamp()));
    }
    let started = HistoryEvent::new(
        now,
        EventKind::ExecutionStarted {
            orchestration_instance: OrchestrationInstance::new(
                instance_id,
                Some(new_execution_id.clone()),
            ),
            name: instance_id.to_string(),
            version: Some(String::new()),
            input: Some(state.to_input()),
            parent_instance: None,
            scheduled_start_time: None,
            generation: None,
            tags: None,
        },
    );
    let (messages, warnings) = (out.messages, out.warnings);
    let turn = TurnResult {
        new_events: vec![
            HistoryEvent::new(now, EventKind::OrchestratorStarted),
            started,
            HistoryEvent::new(now, EventKind::OrchestratorCompleted),
        ],
        new_execution_id: Some(new_execution_id),
        messages,
        status: OrchestrationStatus::Running,
        output: None,
        failure: None,
        custom_status: serde_json::to_string(&state.status()).ok(),
        warnings,
    };
    (turn, state)
}

/// Sorts the batch's messages into the state: releases first (a release and the next lock
/// request of one orchestration can arrive together, and the release is the older of the two),
/// then requests, in arrival order, behind the queue unless they come from the lock holder.
fn take_in(state: &mut EntityState, events: &[HistoryEvent], out: &mut Outbox<'_>) {
    let mut requests = Vec::new();
    for event in events {
        let EventKind::EventRaised { name, input } = &event.kind else {
            out.warnings
                .push(format!("{} ignored by entity", event.event_type()));
            continue;
        };
        if name == RELEASE_EVENT {
            release(state, input.as_deref(), out);
        } else if name == OPERATION_EVENT || name.starts_with("op@") {
            requests.push(event);
        } else if name != CONTINUE_EVENT {
            // `continue` resumes a batch the reference suspended; batches here never suspend.
            out.warnings
                .push(format!("event '{name}' ignored by entity"));
        }
    }
    let mut from_holder = Vec::new();
    for event in requests {
        let EventKind::EventRaised { input, .. } = &event.kind else {
            continue;
        };
        let request: RequestMessage = match crate::core::json::decode(input.as_deref()) {
            Ok(r) => r,
            Err(e) => {
                out.warnings
                    .push(format!("unreadable operation request ignored: {e}"));
                continue;
            }
        };
        if state.was_processed(&request.id) {
            out.warnings.push(format!(
                "request {} was already processed; ignored",
                request.id
            ));
            continue;
        }
        if let Some(due) = request.scheduled_time.filter(|d| *d > out.now) {
            // A scheduled signal that arrived early (long delays hop): send it again.
            out.messages.push(TaskMessage {
                instance: OrchestrationInstance::new(out.instance_id, None),
                event: HistoryEvent::new(out.now, event.kind.clone()),
                visible_at: Some(due),
            });
            continue;
        }
        let holder = state.locked_by.is_some() && state.locked_by == request.parent_instance_id;
        if holder {
            from_holder.push(request);
        } else {
            state.queue.push(request);
        }
    }
    // The holder's requests go first: everyone else waits for its release anyway.
    from_holder.append(&mut state.queue);
    state.queue = from_holder;
}

/// A `release` from the orchestration holding the entity frees it. A release of an older
/// critical section (its id is not the current lock's) changes nothing.
fn release(state: &mut EntityState, input: Option<&str>, out: &mut Outbox<'_>) {
    let message: ReleaseMessage = match crate::core::json::decode(input) {
        Ok(m) => m,
        Err(e) => {
            out.warnings
                .push(format!("unreadable lock release ignored: {e}"));
            return;
        }
    };
    let same_holder = state.locked_by.is_some() && state.locked_by == message.parent_instance_id;
    let same_lock = match (&state.lock_id, &message.id) {
        (Some(held), Some(released)) => held == released,
        _ => true,
    };
    if same_holder && same_lock {
        state.locked_by = None;
        state.lock_id = None;
    } else {
        out.warnings.push(format!(
            "release by {:?} ignored: the entity is held by {:?}",
            message.parent_instance_id, state.locked_by
        ));
    }
}

/// The next request that may run: the head of the queue, unless another orchestration holds
/// the entity.
fn next_runnable(state: &mut EntityState) -> Option<RequestMessage> {
    let head = state.queue.first()?;
    match &state.locked_by {
        Some(holder) if head.parent_instance_id.as_ref() != Some(holder) => None,
        _ => Some(state.queue.remove(0)),
    }
}

/// Locks the entity for the request's orchestration and passes the request on: to the next
/// entity of the lock set, or, from the last one, back to the orchestration as the grant.
fn grant_lock(state: &mut EntityState, mut request: RequestMessage, out: &mut Outbox<'_>) {
    state.locked_by = request.parent_instance_id.clone();
    state.lock_id = Some(request.id.clone());
    state
        .processed
        .push((request.id.clone(), out.now.unix_timestamp()));
    let lock_set = request.lock_set.clone().unwrap_or_default();
    request.position += 1;
    match lock_set.get(request.position) {
        Some(next) => {
            let target = next.instance_id();
            let (stamp, predecessor) = out.sends.stamp(&target, out.now);
            request.timestamp = Some(stamp);
            request.predecessor = predecessor;
            out.messages.push(TaskMessage {
                instance: OrchestrationInstance::new(target, None),
                event: HistoryEvent::new(
                    out.now,
                    EventKind::EventRaised {
                        name: OPERATION_EVENT.to_string(),
                        input: Some(request.to_json()),
                    },
                ),
                visible_at: None,
            });
        }
        None => {
            let granted = ResponseMessage {
                result: Some(LOCK_GRANTED.to_string()),
                ..Default::default()
            };
            out.respond(&request, &granted);
        }
    }
}

impl Outbox<'_> {
    /// Raises the response to `request` on the orchestration that sent it.
    fn respond(&mut self, request: &RequestMessage, response: &ResponseMessage) {
        let Some(parent) = &request.parent_instance_id else {
            return;
        };
        self.messages.push(TaskMessage {
            instance: OrchestrationInstance::new(
                parent.clone(),
                request.parent_execution_id.clone(),
            ),
            event: HistoryEvent::new(
                self.now,
                EventKind::EventRaised {
                    name: request.id.clone(),
                    input: Some(serde_json::to_string(response).unwrap_or_default()),
                },
            ),
            visible_at: None,
        });
    }

    /// Sends the signals an operation made, with deterministic ids.
    fn send_signals(&mut self, signals: &Signals) {
        for (target, op, input, at) in signals {
            let id = Uuid::new_v5(
                &SIGNAL_NAMESPACE,
                format!(
                    "{}_{}_{}",
                    self.instance_id, self.new_execution_id, self.signal_counter
                )
                .as_bytes(),
            );
            self.signal_counter += 1;
            let (stamp, predecessor) = self.sends.stamp(&target.to_string(), self.now);
            let req = RequestMessage {
                operation: op.clone(),
                is_signal: true,
                input: input.clone(),
                id: id.to_string(),
                timestamp: Some(stamp),
                predecessor,
                scheduled_time: *at,
                ..Default::default()
            };
            self.messages.push(TaskMessage {
                instance: OrchestrationInstance::new(target.to_string(), None),
                event: HistoryEvent::new(
                    self.now,
                    EventKind::EventRaised {
                        name: req.event_name(),
                        input: Some(req.to_json()),
                    },
                ),
                visible_at: *at,
            });
        }
    }
}

type Signals = Vec<(EntityId, String, Option<String>, Option<Timestamp>)>;

/// Runs one operation; on success the state is replaced and the signals returned.
fn run_operation(
    registry: &Registry,
    id: &EntityId,
    request: &RequestMessage,
    state: &mut EntityState,
    now: Timestamp,
) -> Result<(Option<String>, Signals), FailureDetails> {
    let Some(f) = registry.entity(id.name()) else {
        return Err(FailureDetails {
            is_non_retriable: true,
            ..FailureDetails::new(
                "EntityNotFound",
                format!("no entity named '{}' is registered", id.name()),
            )
        });
    };
    let mut ctx = EntityContext::new(
        id.clone(),
        request.operation.clone(),
        request.input.clone(),
        state.state.clone(),
        now,
    );
    let result = catch_unwind(AssertUnwindSafe(|| f(&mut ctx))).unwrap_or_else(|p| {
        Err(FailureDetails::new(
            FailureDetails::PANIC,
            format!(
                "operation '{}' on {id} panicked: {}",
                request.operation,
                panic_message(&*p)
            ),
        ))
    })?;
    state.state = ctx.state;
    let signals = ctx
        .signals
        .into_iter()
        .map(|s| (s.target, s.operation, s.input, s.at))
        .collect();
    Ok((Some(result), signals))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::entity::messages::LockedEntity;
    use time::macros::datetime;

    const NOW: Timestamp = datetime!(2024-05-01 10:00:00 UTC);

    fn counter(r: &mut Registry) {
        r.add_entity("counter", |ctx: &mut EntityContext| {
            let n: i64 = ctx.state_or_default()?;
            let n = n + ctx.input::<Option<i64>>()?.unwrap_or(0);
            ctx.set_state(&n)?;
            Ok(serde_json::json!(n))
        });
    }

    fn raised(name: &str, body: String) -> HistoryEvent {
        HistoryEvent::new(
            NOW,
            EventKind::EventRaised {
                name: name.into(),
                input: Some(body),
            },
        )
    }

    fn call(id: &str, parent: &str, n: i64) -> HistoryEvent {
        let r = RequestMessage {
            operation: "add".into(),
            input: Some(n.to_string()),
            id: id.into(),
            parent_instance_id: Some(parent.into()),
            parent_execution_id: Some("e".into()),
            ..Default::default()
        };
        raised(OPERATION_EVENT, r.to_json())
    }

    fn lock(id: &str, parent: &str, keys: &[&str]) -> HistoryEvent {
        let r = RequestMessage {
            id: id.into(),
            parent_instance_id: Some(parent.into()),
            parent_execution_id: Some("e".into()),
            lock_set: Some(
                keys.iter()
                    .map(|k| LockedEntity {
                        name: "counter".into(),
                        key: (*k).into(),
                    })
                    .collect(),
            ),
            ..Default::default()
        };
        raised(OPERATION_EVENT, r.to_json())
    }

    fn release(id: &str, parent: &str) -> HistoryEvent {
        raised(
            RELEASE_EVENT,
            format!(r#"{{"parent":"{parent}","id":"{id}"}}"#),
        )
    }

    fn batch(state: EntityState, events: &[HistoryEvent]) -> (TurnResult, EntityState) {
        let mut r = Registry::new();
        counter(&mut r);
        run_entity_batch(&r, "@counter@a", state, events, NOW, "x".into())
    }

    fn targets(turn: &TurnResult) -> Vec<(String, String)> {
        turn.messages
            .iter()
            .map(|m| match &m.event.kind {
                EventKind::EventRaised { name, .. } => {
                    (m.instance.instance_id.clone(), name.clone())
                }
                other => (
                    m.instance.instance_id.clone(),
                    other.event_type().to_string(),
                ),
            })
            .collect()
    }

    #[test]
    fn a_lock_is_passed_on_and_others_wait_until_the_holder_releases() {
        let (turn, state) = batch(
            EntityState::default(),
            &[lock("L", "orch", &["a", "b"]), call("c1", "other", 5)],
        );
        // Passed on to the next entity of the set; the other caller waits.
        assert_eq!(
            targets(&turn),
            [("@counter@b".to_string(), "op".to_string())]
        );
        assert_eq!(state.locked_by.as_deref(), Some("orch"));
        assert_eq!(state.queue.len(), 1);
        let status: serde_json::Value =
            serde_json::from_str(turn.custom_status.as_deref().unwrap()).unwrap();
        assert_eq!(status, serde_json::json!({"queueSize":1,"lockedBy":"orch"}));
        // The holder's own call runs.
        let (turn, state) = batch(state, &[call("h1", "orch", 2)]);
        assert_eq!(targets(&turn), [("orch".to_string(), "h1".to_string())]);
        assert_eq!(state.state.as_deref(), Some("2"));
        // A release of another critical section changes nothing.
        let (_, state) = batch(state, &[release("older", "orch")]);
        assert_eq!(state.locked_by.as_deref(), Some("orch"));
        // The holder's release lets the waiting call run.
        let (turn, state) = batch(state, &[release("L", "orch")]);
        assert_eq!(targets(&turn), [("other".to_string(), "c1".to_string())]);
        assert_eq!(state.state.as_deref(), Some("7"));
        assert_eq!(state.locked_by, None);
        assert!(state.queue.is_empty());
        let stored: serde_json::Value = serde_json::from_str(&state.to_input()).unwrap();
        assert_eq!(stored["exists"], true, "the DF 2.x marker");
    }

    #[test]
    fn the_last_entity_of_the_set_grants_the_lock_to_the_orchestration() {
        let mut request = lock("L", "orch", &["0", "a"]);
        if let EventKind::EventRaised { input, .. } = &mut request.kind {
            *input = Some(
                input
                    .as_ref()
                    .unwrap()
                    .replace(r#""IsLockRequest""#, r#""pos":1,"IsLockRequest""#),
            );
        }
        let (turn, state) = batch(EntityState::default(), &[request]);
        assert_eq!(targets(&turn), [("orch".to_string(), "L".to_string())]);
        let EventKind::EventRaised { input, .. } = &turn.messages[0].event.kind else {
            unreachable!()
        };
        assert_eq!(
            input.as_deref(),
            Some(r#"{"result":"Lock Acquisition Completed"}"#)
        );
        assert_eq!(state.locked_by.as_deref(), Some("orch"));
        // A second delivery of the same lock request is not granted twice.
        let again = lock("L", "orch", &["0", "a"]);
        let (turn, _) = batch(state, &[again]);
        assert!(turn.messages.is_empty());
    }

    #[test]
    fn a_release_and_the_next_lock_request_in_one_batch_apply_in_the_order_sent() {
        let (_, state) = batch(EntityState::default(), &[lock("L1", "orch", &["a"])]);
        // The new request arrives first in the batch; the release still applies to L1 first.
        let (turn, state) = batch(state, &[lock("L2", "orch", &["a"]), release("L1", "orch")]);
        assert_eq!(targets(&turn), [("orch".to_string(), "L2".to_string())]);
        assert_eq!(state.lock_id.as_deref(), Some("L2"));
    }

    #[test]
    fn a_deleted_idle_entity_has_an_empty_status() {
        let (turn, _) = batch(EntityState::default(), &[]);
        assert_eq!(turn.custom_status.as_deref(), Some("{}"));
    }
}
