//! Rewind: a Failed instance made to run again from its failure, re-running only what failed
//! (the history edit is `backend::rewind`'s; this is the client's side: the checks and the
//! wake-up messages).

use crate::core::instance::validate_instance_id;
use crate::core::{EventKind, OrchestrationStatus};

use super::{Client, Error, Result};

impl Client {
    /// Rewinds a Failed instance: its failed activities are scheduled again and its failed
    /// sub-orchestrations rewound in turn, as DurableTask.AzureStorage does, then the instance
    /// is Pending until a worker runs it. `reason` is recorded in the wake-up event. Anything but
    /// a Failed instance is refused ([`Error::WrongState`]) with nothing written, except an
    /// instance whose rewind was interrupted (Pending, its failure cleared, not run since):
    /// rewinding it again finishes that rewind. Returns the instances woken (the deepest failed
    /// ones).
    pub async fn rewind(&self, id: &str, reason: Option<&str>) -> Result<Vec<String>> {
        validate_instance_id(id).map_err(|e| Error::InvalidInput(e.to_string()))?;
        let status = self
            .status(id, false)
            .await?
            .ok_or_else(|| Error::NotFound(id.to_string()))?;
        let resuming = status.runtime_status == OrchestrationStatus::Pending
            && crate::core::rewind::unfinished(&self.history(id).await?);
        if status.runtime_status != OrchestrationStatus::Failed && !resuming {
            return Err(Error::WrongState {
                id: id.to_string(),
                status: status.runtime_status,
                what: "rewinding",
                needs: "Failed",
            });
        }
        let leaves = self.hub.rewind_history(id).await?;
        for leaf in &leaves {
            let wake = EventKind::GenericEvent {
                data: reason.map(str::to_string),
                reason: None,
            };
            self.send_to(leaf, wake).await?;
        }
        Ok(leaves)
    }
}
