//! The task hub on Azure Storage: resource names, instance → partition mapping, and the hub's
//! lifecycle (create, delete, inspect). Built on `storage`; names no `azure_*` type.
//!
//! Files: `names.rs` (hub-name validation, queue/table/container names), `partition.rs` (FNV-1a),
//! `hub.rs` (create / delete / info). The history, instances, partitions, envelope and work-item
//! seam join these later.

pub mod hub;
pub mod names;
pub mod partition;

pub use hub::{HubInfo, TaskHub};
pub use names::{
    HubNames, NameError, TaskHubName, DEFAULT_HUB_NAME, DEFAULT_PARTITION_COUNT,
    MAX_PARTITION_COUNT,
};
pub use partition::{fnv1a_32, partition_index};
