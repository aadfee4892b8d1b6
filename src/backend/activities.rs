//! Activity work items: an activity request taken from `{hub}-workitems`, and its completion
//! (the result is sent to the orchestration's control queue first, then the request is deleted).

use crate::core::{EventKind, FailureDetails, HistoryEvent, OrchestrationInstance, TaskMessage};

use super::error::Result;
use super::hub::TaskHub;
use super::messages::ReceivedMessage;

/// One activity to run.
#[derive(Debug, Clone)]
pub struct ActivityWorkItem {
    /// The request as taken from `{hub}-workitems`.
    pub message: ReceivedMessage,
    /// The activity name (`TaskScheduled.Name`).
    pub name: String,
    /// The activity input as JSON text (`TaskScheduled.Input`).
    pub input: Option<String>,
    /// The `TaskScheduledId` to answer.
    pub task_id: i32,
    /// The orchestration that scheduled it.
    pub instance: OrchestrationInstance,
}

impl ActivityWorkItem {
    /// The work item a received message holds, if it is an activity request.
    pub fn from_message(
        message: ReceivedMessage,
    ) -> std::result::Result<Self, Box<ReceivedMessage>> {
        let EventKind::TaskScheduled { name, input, .. } = &message.message.event.kind else {
            return Err(Box::new(message));
        };
        Ok(ActivityWorkItem {
            name: name.clone(),
            input: input.clone(),
            task_id: message.message.event.event_id,
            instance: message.message.instance.clone(),
            message,
        })
    }

    /// The message that reports `result` to the orchestration.
    pub fn response(
        &self,
        result: std::result::Result<String, FailureDetails>,
        now: time::OffsetDateTime,
    ) -> TaskMessage {
        let kind = match result {
            Ok(r) => EventKind::TaskCompleted {
                task_scheduled_id: self.task_id,
                result: Some(r),
            },
            Err(f) => EventKind::TaskFailed {
                task_scheduled_id: self.task_id,
                reason: Some(f.error_message.clone()),
                details: f.stack_trace.clone(),
                failure_details: Some(f),
            },
        };
        TaskMessage {
            instance: self.instance.clone(),
            event: HistoryEvent::new(now, kind),
            visible_at: None,
        }
    }
}

impl TaskHub {
    /// Reports an activity's result (`item.response(..)`), then deletes its request: the result
    /// is durable in the control queue before the request disappears.
    pub async fn complete_activity(
        &self,
        item: &ActivityWorkItem,
        response: &TaskMessage,
    ) -> Result<()> {
        self.send(
            response,
            Some(&item.instance),
            item.message.envelope.episode,
        )
        .await?;
        self.delete_message(&item.message).await
    }
}
