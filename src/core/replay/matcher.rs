//! Non-determinism detection: a recorded scheduling event must match the action the code
//! scheduled under the same id.

use crate::core::action::ActionKind;
use crate::core::context::state::ExecutionState;
use crate::core::failure::FailureDetails;
use crate::core::history::{EventKind, HistoryEvent};

/// Stable prefix of every non-determinism message, so logs can be searched for it.
pub const NON_DETERMINISM_PREFIX: &str = "[non-determinism]";

/// Describes a recorded scheduling event the way `ActionKind::describe` describes actions.
fn describe_event(kind: &EventKind) -> String {
    match kind {
        EventKind::TaskScheduled { name, .. } => format!("activity '{name}'"),
        EventKind::SubOrchestrationInstanceCreated {
            name, instance_id, ..
        } => format!("sub-orchestration '{name}' (instance '{instance_id}')"),
        EventKind::TimerCreated { .. } => "timer".to_string(),
        EventKind::EventSent {
            instance_id, name, ..
        } => format!("event '{name}' to '{instance_id}'"),
        other => other.event_type().to_string(),
    }
}

fn same(action: &ActionKind, event: &EventKind) -> bool {
    match (action, event) {
        (ActionKind::ScheduleTask { name: a, .. }, EventKind::TaskScheduled { name: b, .. }) => {
            a == b
        }
        (
            ActionKind::CreateSubOrchestration {
                name: a,
                instance_id: ia,
                ..
            },
            EventKind::SubOrchestrationInstanceCreated {
                name: b,
                instance_id: ib,
                ..
            },
        ) => a == b && ia == ib,
        (ActionKind::CreateTimer { .. }, EventKind::TimerCreated { .. }) => true,
        (
            ActionKind::SendEvent {
                instance_id: ia,
                name: a,
                ..
            },
            EventKind::EventSent {
                instance_id: ib,
                name: b,
                ..
            },
        ) => ia == ib && a == b,
        _ => false,
    }
}

/// Marks the action with the event's id as recorded, or explains the mismatch.
pub(crate) fn match_scheduled(
    st: &mut ExecutionState,
    event: &HistoryEvent,
) -> Result<(), FailureDetails> {
    let id = event.event_id;
    let recorded = describe_event(&event.kind);
    let Some(action) = st.actions.get_mut(&id) else {
        return Err(non_determinism(format!(
            "history records {recorded} with id {id}, but the orchestrator did not schedule \
             anything with that id"
        )));
    };
    if action.recorded {
        return Err(non_determinism(format!(
            "history records {recorded} with id {id} twice"
        )));
    }
    if !same(&action.kind, &event.kind) {
        return Err(non_determinism(format!(
            "history records {recorded} with id {id}, but the orchestrator now schedules {}",
            action.kind.describe()
        )));
    }
    action.recorded = true;
    Ok(())
}

pub(crate) fn non_determinism(message: String) -> FailureDetails {
    FailureDetails {
        is_non_retriable: true,
        ..FailureDetails::new(
            FailureDetails::NON_DETERMINISM,
            format!("{NON_DETERMINISM_PREFIX} {message}"),
        )
    }
}
