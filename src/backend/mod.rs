//! The task hub on Azure Storage: everything DurableTask.AzureStorage keeps in queues, tables and
//! blobs, in the layout other tools read (DESIGN §4–5). Built on `storage`; names no `azure_*`
//! type; knows nothing of workers or dispatch loops.
//!
//! - names and layout: `names.rs`, `partition.rs` (FNV-1a), `hub.rs` (create / delete / info);
//! - messages: `envelope.rs` (queue JSON), `messages.rs` (send, receive, abandon, delete),
//!   `large_payload.rs` (gzipped blobs for big messages and properties), `poison.rs`;
//! - state: `history_table.rs` (rows, sentinel fence), `instances_table.rs` (status rows and
//!   queries), `partitions_table.rs` (leases), `partition_view.rs` (leases with queue depths, for
//!   readers);
//! - the seam the worker drives: `work_item.rs` (apply / drop / defer each message),
//!   `checkpoint.rs` (complete an orchestration work item), `activities.rs` (complete an activity
//!   work item), `purge.rs` (one instance), `bulk_purge.rs` (by filter, budgeted, resumable);
//! - `task_hub_info.rs`: `{hub}-leases/taskhub.json`, for readers that take the partition count
//!   from the blob lease store;
//! - the scale signal: `scale/` (the target worker count from queue depths and message ages).

pub mod activities;
pub mod bulk_purge;
pub mod checkpoint;
pub mod envelope;
pub mod error;
pub mod history_table;
pub mod hub;
pub mod instances_table;
pub mod large_payload;
pub mod local_tasks;
pub mod messages;
pub mod names;
pub mod partition;
pub mod partition_view;
pub mod partitions_table;
pub mod poison;
pub mod purge;
pub mod rewind;
pub mod scale;
pub mod service;
pub mod task_hub_info;
pub mod work_item;

pub use activities::ActivityWorkItem;
pub use bulk_purge::{PurgeFilter, PurgeLimits, PurgeProgress};
pub use checkpoint::{Checkpoint, Committed, HistoryCursor};
pub use envelope::{Envelope, EnvelopeError};
pub use error::Error;
pub use history_table::{HistoryTable, LoadedHistory, SentinelUpdate};
pub use hub::{HubInfo, TaskHub};
pub use instances_table::{
    EntityFilter, InstanceCounts, InstancePage, InstanceQuery, InstanceStatus, InstanceTimes,
    InstancesTable,
};
pub use large_payload::LargePayloads;
pub use messages::{MessageLease, ReceivedMessage, SentMessage, UnreadableMessage};
pub use names::{
    HubNames, NameError, TaskHubName, DEFAULT_HUB_NAME, DEFAULT_PARTITION_COUNT,
    MAX_PARTITION_COUNT, TASK_HUB_INFO_BLOB,
};
pub use partition::{fnv1a_32, partition_index};
pub use partition_view::PartitionView;
pub use partitions_table::{PartitionLease, PartitionsTable};
pub use poison::PoisonRecord;
pub use purge::PurgeResult;
pub use scale::{ScaleRecommendation, ScaleSample, ScaleSettings};
pub use service::OrchestrationService;
pub use work_item::{classify, Disposition, InstanceState};
