//! `{hub}-leases/taskhub.json`: DurableTask.AzureStorage's `TaskHubInfo` (hub name, creation
//! time, partition count), written when the hub is created.
//!
//! Our leases live in `{Hub}Partitions`; this blob is here for the readers of the layout that
//! look for the partition count in the blob lease store instead: the reference's
//! `GetControlQueuesAsync` when the Partitions table is missing, the community KEDA scaler
//! (`wsugarman/durabletask-azurestorage-scaler`) with `useTablePartitionManagement: false`, and
//! tools that take the blob as the sign that a hub exists. Like the reference, an existing blob
//! is kept unless its name or partition count is stale, and then it is rewritten.

use super::names::{HubNames, TASK_HUB_INFO_BLOB};
use crate::storage::{Result, Storage};
use serde::Deserialize;
use time::OffsetDateTime;

/// The content of `taskhub.json`, with the reference's property names.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TaskHubInfo {
    /// The hub name as configured (not lowercased).
    pub task_hub_name: String,
    /// When the blob was first written, with seven fractional digits as .NET writes a UTC
    /// `DateTime`.
    pub created_at: String,
    /// The number of control queues.
    pub partition_count: u32,
}

impl TaskHubInfo {
    /// The info for `names`, created `now`.
    pub fn new(names: &HubNames, now: OffsetDateTime) -> TaskHubInfo {
        TaskHubInfo {
            task_hub_name: names.hub().to_string(),
            created_at: crate::timestamps::ticks(now),
            partition_count: names.partition_count(),
        }
    }

    /// The blob's text, with the properties in the reference's order (Newtonsoft writes them
    /// as declared).
    pub fn to_json(&self) -> String {
        format!(
            r#"{{"TaskHubName":{},"CreatedAt":{},"PartitionCount":{}}}"#,
            serde_json::Value::from(self.task_hub_name.as_str()),
            serde_json::Value::from(self.created_at.as_str()),
            self.partition_count
        )
    }

    /// Whether it describes another hub or another partition count than `names` (the
    /// reference compares names case-insensitively).
    fn is_stale_for(&self, names: &HubNames) -> bool {
        !self
            .task_hub_name
            .eq_ignore_ascii_case(names.hub().as_str())
            || self.partition_count != names.partition_count()
    }
}

/// Reads `taskhub.json`; `None` when it (or its container) does not exist or does not parse.
pub async fn read(storage: &Storage, names: &HubNames) -> Result<Option<TaskHubInfo>> {
    let container = storage.container(&names.leases_container());
    match container.get(TASK_HUB_INFO_BLOB).await {
        Ok(bytes) => Ok(serde_json::from_slice(&bytes).ok()),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Writes `taskhub.json` unless an up-to-date one is there; the container must exist. Two
/// creators racing both write the same hub and count, and one creation time wins.
pub(crate) async fn ensure(storage: &Storage, names: &HubNames, now: OffsetDateTime) -> Result<()> {
    if read(storage, names)
        .await?
        .is_some_and(|info| !info.is_stale_for(names))
    {
        return Ok(());
    }
    let json = TaskHubInfo::new(names, now).to_json();
    storage
        .container(&names.leases_container())
        .put(TASK_HUB_INFO_BLOB, json.into_bytes(), "application/json")
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_shape_and_staleness() {
        let names = HubNames::new("MyHub", 4).unwrap();
        let at = time::macros::datetime!(2024-05-01 10:00:05.1234567 UTC);
        let info = TaskHubInfo::new(&names, at);
        let json = info.to_json();
        assert_eq!(
            json,
            r#"{"TaskHubName":"MyHub","CreatedAt":"2024-05-01T10:00:05.1234567Z","PartitionCount":4}"#
        );
        assert_eq!(serde_json::from_str::<TaskHubInfo>(&json).unwrap(), info);
        assert!(!info.is_stale_for(&HubNames::new("myhub", 4).unwrap()));
        assert!(info.is_stale_for(&HubNames::new("MyHub", 8).unwrap()));
        assert!(info.is_stale_for(&HubNames::new("OtherHub", 4).unwrap()));
    }
}
