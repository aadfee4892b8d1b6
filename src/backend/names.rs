//! Task hub names and the names of every resource of a hub (reference §1.1).
//!
//! Owns [`TaskHubName`] (Durable Functions' rule: 3–45 ASCII letters or digits, starting with a
//! letter) and [`HubNames`]. Queue and container names use the lowercased hub name; table names
//! keep its case. The partition count (1–16, default 4) is part of [`HubNames`] because it fixes
//! the control queues.

use super::partition::partition_index;
use std::fmt;
use std::str::FromStr;

/// The hub name Durable Functions uses when none is configured.
pub const DEFAULT_HUB_NAME: &str = "TestHubName";
/// Control queues when none is configured.
pub const DEFAULT_PARTITION_COUNT: u32 = 4;
/// Most control queues a hub may have.
pub const MAX_PARTITION_COUNT: u32 = 16;

/// A hub name or partition count that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// The hub name breaks Durable Functions' rule.
    #[error("invalid task hub name `{name}`: {reason} (a hub name is 3 to 45 letters or digits and starts with a letter)")]
    HubName {
        /// The name given (its first 60 characters).
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The partition count (given) is not between 1 and [`MAX_PARTITION_COUNT`].
    #[error("invalid partition count {0}: it must be between 1 and {MAX_PARTITION_COUNT}")]
    PartitionCount(u32),
}

/// A validated task hub name, case kept.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TaskHubName(String);

impl TaskHubName {
    /// Validates `name`.
    pub fn new(name: &str) -> Result<TaskHubName, NameError> {
        let err = |reason| {
            Err(NameError::HubName {
                name: name.chars().take(60).collect(),
                reason,
            })
        };
        let len = name.chars().count();
        if len < 3 {
            return err("too short");
        }
        if len > 45 {
            return err("too long");
        }
        if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
            return err("it must start with a letter");
        }
        if !name.chars().all(|c| c.is_ascii_alphanumeric()) {
            return err("only letters and digits are allowed");
        }
        Ok(TaskHubName(name.to_string()))
    }

    /// The name as configured.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The lowercased name used for queues and containers.
    pub fn lowercase(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

impl fmt::Display for TaskHubName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for TaskHubName {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TaskHubName::new(s)
    }
}

/// Every resource name of one hub with a given partition count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubNames {
    hub: TaskHubName,
    lower: String,
    partition_count: u32,
}

impl HubNames {
    /// Validates the hub name and the partition count (1–16).
    pub fn new(hub: &str, partition_count: u32) -> Result<HubNames, NameError> {
        let hub = TaskHubName::new(hub)?;
        if !(1..=MAX_PARTITION_COUNT).contains(&partition_count) {
            return Err(NameError::PartitionCount(partition_count));
        }
        Ok(HubNames {
            lower: hub.lowercase(),
            hub,
            partition_count,
        })
    }

    /// The hub name.
    pub fn hub(&self) -> &TaskHubName {
        &self.hub
    }

    /// Number of partitions (control queues).
    pub fn partition_count(&self) -> u32 {
        self.partition_count
    }

    /// `{hub}-control-{i:02}`, lowercased. Also the partition id everywhere.
    pub fn control_queue(&self, index: u32) -> String {
        format!("{}-control-{:02}", self.lower, index)
    }

    /// All control queues, in partition order.
    pub fn control_queues(&self) -> Vec<String> {
        (0..self.partition_count)
            .map(|i| self.control_queue(i))
            .collect()
    }

    /// The control queue an instance belongs to.
    pub fn control_queue_for(&self, instance_id: &str) -> String {
        self.control_queue(partition_index(instance_id, self.partition_count))
    }

    /// The queue a message goes to (reference §4.4): activity requests to the work-item queue,
    /// everything else to the control queue of its target instance.
    pub fn queue_for(&self, message: &crate::core::TaskMessage) -> String {
        if message.is_activity_request() {
            self.work_item_queue()
        } else {
            self.control_queue_for(&message.instance.instance_id)
        }
    }

    /// `{hub}-workitems`: activity work items, shared by all workers.
    pub fn work_item_queue(&self) -> String {
        format!("{}-workitems", self.lower)
    }

    /// `{hub}-poison`: messages that failed too often (ours; DTFx has none).
    pub fn poison_queue(&self) -> String {
        format!("{}-poison", self.lower)
    }

    /// `{Hub}History`.
    pub fn history_table(&self) -> String {
        format!("{}History", self.hub)
    }

    /// `{Hub}Instances`.
    pub fn instances_table(&self) -> String {
        format!("{}Instances", self.hub)
    }

    /// `{Hub}Partitions`: one row per control queue (table partition manager).
    pub fn partitions_table(&self) -> String {
        format!("{}Partitions", self.hub)
    }

    /// `{hub}-largemessages`: gzipped payloads too large for a queue message or a table property.
    pub fn large_messages_container(&self) -> String {
        format!("{}-largemessages", self.lower)
    }

    /// `{hub}-leases`: DurableTask.AzureStorage's blob lease store. We keep only its
    /// `taskhub.json` there (see [`TASK_HUB_INFO_BLOB`]); the leases are `{Hub}Partitions` rows.
    pub fn leases_container(&self) -> String {
        format!("{}-leases", self.lower)
    }
}

/// The blob in `{hub}-leases` that describes the hub (`{"TaskHubName":…,"CreatedAt":…,
/// "PartitionCount":…}`, DurableTask.AzureStorage's `TaskHubInfo`). Readers of the layout that
/// do not use the Partitions table find the partition count there: the reference's scale
/// monitor when the table is missing, the community KEDA scaler with
/// `useTablePartitionManagement: false`.
pub const TASK_HUB_INFO_BLOB: &str = "taskhub.json";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_reference() {
        let n = HubNames::new("MyHub", 4).unwrap();
        assert_eq!(n.control_queue(0), "myhub-control-00");
        assert_eq!(n.control_queues().last().unwrap(), "myhub-control-03");
        assert_eq!(n.work_item_queue(), "myhub-workitems");
        assert_eq!(n.poison_queue(), "myhub-poison");
        assert_eq!(n.history_table(), "MyHubHistory");
        assert_eq!(n.instances_table(), "MyHubInstances");
        assert_eq!(n.partitions_table(), "MyHubPartitions");
        assert_eq!(n.large_messages_container(), "myhub-largemessages");
        assert_eq!(n.leases_container(), "myhub-leases");
        assert_eq!(n.control_queue_for("@counter@myKey"), "myhub-control-00");
        assert_eq!(
            HubNames::new("H16", 16).unwrap().control_queue(15),
            "h16-control-15"
        );
    }

    #[test]
    fn hub_names_are_validated() {
        for ok in [
            "abc",
            "TestHubName",
            "a1234567890123456789012345678901234567890123",
        ] {
            assert!(TaskHubName::new(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "ab",
            "1abc",
            "my-hub",
            "my_hub",
            "hüb1",
            &"a".repeat(46),
        ] {
            let e = TaskHubName::new(bad).unwrap_err();
            assert!(e.to_string().starts_with("invalid task hub name"), "{e}");
        }
        assert_eq!(
            HubNames::new("abc", 0).unwrap_err(),
            NameError::PartitionCount(0)
        );
        assert!(HubNames::new("abc", 17).is_err());
        assert!(HubNames::new("abc", 1).is_ok());
    }
}
