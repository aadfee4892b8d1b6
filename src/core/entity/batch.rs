//! Running a batch of entity operations: one at a time, in the order received, each either
//! committing its state change and signals or, on error, rolling them back. The batch ends with
//! an implicit continue-as-new that carries the new state (reference §7.2), expressed as a
//! [`TurnResult`] the backend checkpoints like any turn.

use std::panic::{catch_unwind, AssertUnwindSafe};

use uuid::Uuid;

use super::context::EntityContext;
use super::messages::{RequestMessage, ResponseMessage, OPERATION_EVENT};
use super::state::{EntityState, EntityStatus};
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

/// Runs the operations carried by `events` (EventRaised `op` / `op@…`) against `state`.
/// Returns the turn to checkpoint and the new state.
pub fn run_entity_batch(
    registry: &Registry,
    instance_id: &str,
    mut state: EntityState,
    events: &[HistoryEvent],
    now: Timestamp,
    new_execution_id: String,
) -> (TurnResult, EntityState) {
    let entity = EntityId::parse(instance_id).ok();
    let mut messages = Vec::new();
    let mut warnings = Vec::new();
    state.forget_before(now);
    let mut signal_counter = 0u32;
    let mut sends = super::messages::SendOrder::default();
    for event in events {
        let EventKind::EventRaised { name, input } = &event.kind else {
            warnings.push(format!("{} ignored by entity", event.event_type()));
            continue;
        };
        if name != OPERATION_EVENT && !name.starts_with("op@") {
            warnings.push(format!("event '{name}' ignored by entity"));
            continue;
        }
        let request: RequestMessage = match crate::core::json::decode(input.as_deref()) {
            Ok(r) => r,
            Err(e) => {
                warnings.push(format!("unreadable operation request ignored: {e}"));
                continue;
            }
        };
        if state.was_processed(&request.id) {
            warnings.push(format!(
                "request {} was already processed; ignored",
                request.id
            ));
            continue;
        }
        if let Some(due) = request.scheduled_time.filter(|d| *d > now) {
            // A scheduled signal that arrived early (long delays hop): send it again.
            messages.push(TaskMessage {
                instance: OrchestrationInstance::new(instance_id, None),
                event: HistoryEvent::new(now, event.kind.clone()),
                visible_at: Some(due),
            });
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
            Ok((_, signals)) => {
                for (target, op, input, at) in signals {
                    let id = Uuid::new_v5(
                        &SIGNAL_NAMESPACE,
                        format!("{instance_id}_{new_execution_id}_{signal_counter}").as_bytes(),
                    );
                    signal_counter += 1;
                    let (stamp, predecessor) = sends.stamp(&target.to_string(), now);
                    let req = RequestMessage {
                        operation: op.clone(),
                        is_signal: true,
                        input: input.clone(),
                        id: id.to_string(),
                        parent_instance_id: None,
                        parent_execution_id: None,
                        timestamp: Some(stamp),
                        predecessor,
                        scheduled_time: *at,
                    };
                    messages.push(TaskMessage {
                        instance: OrchestrationInstance::new(target.to_string(), None),
                        event: HistoryEvent::new(
                            now,
                            EventKind::EventRaised {
                                name: req.event_name(),
                                input: Some(req.to_json()),
                            },
                        ),
                        visible_at: *at,
                    });
                }
            }
            Err(f) if request.is_signal => {
                warnings.push(format!(
                    "signal '{}' to {instance_id} failed: {f}",
                    request.operation
                ));
            }
            Err(_) => {}
        }
        if let (false, Some(parent)) = (request.is_signal, &request.parent_instance_id) {
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
            messages.push(TaskMessage {
                instance: OrchestrationInstance::new(
                    parent.clone(),
                    request.parent_execution_id.clone(),
                ),
                event: HistoryEvent::new(
                    now,
                    EventKind::EventRaised {
                        name: request.id.clone(),
                        input: Some(serde_json::to_string(&response).unwrap_or_default()),
                    },
                ),
                visible_at: None,
            });
        }
        state.processed.push((request.id, now.unix_timestamp()));
    }
    let status = EntityStatus {
        entity_exists: state.exists(),
    };
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
        custom_status: serde_json::to_string(&status).ok(),
        warnings,
    };
    (turn, state)
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
