//! A task hub's lifecycle: create, delete and inspect its queues, tables and containers.
//!
//! Owns [`TaskHub`] and [`HubInfo`]. Creation follows DurableTask.AzureStorage's inventory
//! (reference §1.1) plus our poison queue, writes one `{Hub}Partitions` row per control queue
//! (PartitionKey `""`, RowKey = the queue name; an existing row is kept) and
//! `{hub}-leases/taskhub.json` (`task_hub_info.rs`). Every step tolerates
//! "already exists" / "not found", so create and delete are idempotent.

use super::history_table::HistoryTable;
use super::instances_table::InstancesTable;
use super::large_payload::LargePayloads;
use super::names::HubNames;
use super::task_hub_info;
use crate::clock::Clock;
use crate::storage::{EntityExt, Result, Storage, TableEntity};
use futures::future::{join_all, try_join_all};
use serde::Serialize;
use time::OffsetDateTime;

/// One task hub on one storage account: its names and the tables, queues and containers it is
/// made of. Cheap to clone.
#[derive(Clone, Debug)]
pub struct TaskHub {
    storage: Storage,
    names: HubNames,
    clock: Clock,
    payloads: LargePayloads,
    history: HistoryTable,
    instances: InstancesTable,
}

/// What a hub looks like in storage.
#[derive(Debug, Clone, Serialize)]
pub struct HubInfo {
    /// The task hub name.
    pub hub: String,
    /// The storage account name.
    pub account: String,
    /// The number of partitions (control queues) the names were built with.
    pub partition_count: u32,
    /// True when every queue, table and container of the hub exists.
    pub complete: bool,
    /// True when nothing of the hub exists.
    pub absent: bool,
    /// The control queues, the work-item queue and the poison queue.
    pub queues: Vec<QueueInfo>,
    /// The History, Instances and Partitions tables.
    pub tables: Vec<ResourceInfo>,
    /// The large-message container and the lease store (which holds `taskhub.json`).
    pub containers: Vec<ResourceInfo>,
    /// One entry per partition, in index order.
    pub partitions: Vec<PartitionInfo>,
    /// Messages in the poison queue (`None` if it does not exist).
    pub poison_count: Option<u64>,
}

/// A queue of the hub.
#[derive(Debug, Clone, Serialize)]
pub struct QueueInfo {
    /// The queue's name.
    pub name: String,
    /// `control`, `workitems` or `poison`.
    pub role: &'static str,
    /// Whether the queue exists.
    pub exists: bool,
    /// The service's approximate count; `None` if the queue does not exist.
    pub approximate_length: Option<u64>,
}

/// A table or container of the hub.
#[derive(Debug, Clone, Serialize)]
pub struct ResourceInfo {
    /// The table's or container's name.
    pub name: String,
    /// `history`, `instances`, `partitions`, `largemessages` or `leases`.
    pub role: &'static str,
    /// Whether it exists.
    pub exists: bool,
}

/// One partition: its control queue's depth and its row in `{Hub}Partitions`.
#[derive(Debug, Clone, Serialize)]
pub struct PartitionInfo {
    /// The partition's index (0-based).
    pub index: u32,
    /// Its control queue's name (the partition id).
    pub control_queue: String,
    /// The control queue's approximate length; `None` if the queue does not exist.
    pub queue_length: Option<u64>,
    /// Whether its `{Hub}Partitions` row exists.
    pub lease_row: bool,
    /// `CurrentOwner`: the worker that holds the lease, if any.
    pub owner: Option<String>,
    /// `NextOwner`: a worker waiting for the lease to be handed over, if any.
    pub next_owner: Option<String>,
    /// `ExpiresAt`: when the current lease runs out.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
}

impl TaskHub {
    /// A hub handle; sends nothing.
    pub fn new(storage: Storage, names: HubNames) -> TaskHub {
        let payloads = LargePayloads::new(storage.clone(), &names.large_messages_container());
        let history = HistoryTable::new(&storage, &names.history_table(), payloads.clone());
        let instances = InstancesTable::new(
            &storage,
            &names.instances_table(),
            names.hub().as_str(),
            payloads.clone(),
        );
        TaskHub {
            storage,
            names,
            clock: Clock::system(),
            payloads,
            history,
            instances,
        }
    }

    /// The same hub, stamping time with `clock` (a simulation's, possibly skewed).
    pub fn with_clock(mut self, clock: Clock) -> TaskHub {
        self.clock = clock;
        self
    }

    /// The clock this hub stamps events, leases and due times with.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The large-message container.
    pub fn payloads(&self) -> &LargePayloads {
        &self.payloads
    }

    /// The History table.
    pub fn history(&self) -> &HistoryTable {
        &self.history
    }

    /// The Instances table.
    pub fn instances(&self) -> &InstancesTable {
        &self.instances
    }

    /// The hub's resource names.
    pub fn names(&self) -> &HubNames {
        &self.names
    }

    /// The storage it lives in.
    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    /// Creates every queue, table and container, and the partition rows. Idempotent.
    pub async fn create(&self) -> Result<()> {
        let n = &self.names;
        let s = &self.storage;
        let tables = [n.history_table(), n.instances_table(), n.partitions_table()];
        let mut queues = n.control_queues();
        queues.push(n.work_item_queue());
        queues.push(n.poison_queue());
        let containers = [n.large_messages_container(), n.leases_container()];
        let (t, q, c) = futures::join!(
            try_join_all(
                tables
                    .iter()
                    .map(|t| async move { s.table(t).create_if_missing().await })
            ),
            try_join_all(
                queues
                    .iter()
                    .map(|q| async move { s.queue(q).create_if_missing().await })
            ),
            try_join_all(
                containers
                    .iter()
                    .map(|c| async move { s.container(c).create_if_missing().await })
            ),
        );
        t?;
        q?;
        c?;
        task_hub_info::ensure(s, n, self.clock.now()).await?;
        let partitions = s.table(&n.partitions_table());
        try_join_all(n.control_queues().into_iter().map(|queue| {
            let partitions = partitions.clone();
            async move {
                match partitions.insert("", &queue, &TableEntity::new()).await {
                    Ok(_) => Ok(()),
                    Err(e) if e.is_conflict() => Ok(()), // the row exists; keep its lease state
                    Err(e) => Err(e),
                }
            }
        }))
        .await?;
        tracing::info!(hub = %n.hub(), partitions = n.partition_count(), "task hub created");
        Ok(())
    }

    /// Deletes every queue, table and container of the hub. Idempotent. Control queues named in
    /// `{Hub}Partitions` are deleted too, so a hub created with more partitions goes entirely.
    pub async fn delete(&self) -> Result<()> {
        let n = &self.names;
        let s = &self.storage;
        let mut queues = n.control_queues();
        let partitions = s.table(&n.partitions_table());
        match partitions.query(None, Some(&["RowKey"]), None).await {
            Ok(rows) => {
                let prefix = format!("{}-control-", n.hub().lowercase());
                for (row, _) in rows {
                    if let Some(rk) = row.row_key().filter(|rk| rk.starts_with(&prefix)) {
                        if !queues.iter().any(|q| q == rk) {
                            queues.push(rk.to_string());
                        }
                    }
                }
            }
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
        queues.push(n.work_item_queue());
        queues.push(n.poison_queue());
        let tables = [n.history_table(), n.instances_table(), n.partitions_table()];
        let containers = [n.large_messages_container(), n.leases_container()];
        let (q, t, c) = futures::join!(
            try_join_all(
                queues
                    .iter()
                    .map(|q| async move { s.queue(q).delete_queue().await })
            ),
            try_join_all(
                tables
                    .iter()
                    .map(|t| async move { s.table(t).delete_table().await })
            ),
            try_join_all(
                containers
                    .iter()
                    .map(|c| async move { s.container(c).delete_container().await })
            ),
        );
        q?;
        t?;
        c?;
        tracing::info!(hub = %n.hub(), "task hub deleted");
        Ok(())
    }

    /// Whether storage answers for this hub, within `within`: one cheap request (the work-item
    /// queue's length). `Err` says why not, in one line.
    pub async fn probe(&self, within: std::time::Duration) -> std::result::Result<(), String> {
        let queue = self.storage.queue(&self.names.work_item_queue());
        match tokio::time::timeout(within, queue.approximate_length()).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) if e.is_not_found() => Err(format!(
                "the task hub {} does not exist (queue {} is missing)",
                self.names.hub(),
                self.names.work_item_queue()
            )),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {} s", within.as_secs_f64())),
        }
    }

    /// Reads what exists of the hub: queues with approximate lengths, tables, containers,
    /// partition rows. Creates nothing.
    pub async fn info(&self) -> Result<HubInfo> {
        let n = &self.names;
        let s = &self.storage;
        let mut queue_specs: Vec<(String, &'static str)> = n
            .control_queues()
            .into_iter()
            .map(|q| (q, "control"))
            .collect();
        queue_specs.push((n.work_item_queue(), "workitems"));
        queue_specs.push((n.poison_queue(), "poison"));
        let table_specs = [
            (n.history_table(), "history"),
            (n.instances_table(), "instances"),
            (n.partitions_table(), "partitions"),
        ];
        let container_specs = [
            (n.large_messages_container(), "largemessages"),
            (n.leases_container(), "leases"),
        ];

        let lengths = join_all(queue_specs.iter().map(|(q, _)| async move {
            match s.queue(q).approximate_length().await {
                Ok(len) => Ok(Some(len)),
                Err(e) if e.is_not_found() => Ok(None),
                Err(e) => Err(e),
            }
        }));
        let tables = join_all(
            table_specs
                .iter()
                .map(|(t, _)| async move { s.table(t).exists().await }),
        );
        let containers = join_all(
            container_specs
                .iter()
                .map(|(c, _)| async move { s.container(c).exists().await }),
        );
        let (lengths, tables, containers) = futures::join!(lengths, tables, containers);

        let queues: Vec<QueueInfo> = queue_specs
            .into_iter()
            .zip(lengths)
            .map(|((name, role), len)| {
                Ok(QueueInfo {
                    name,
                    role,
                    exists: len.as_ref().is_ok_and(Option::is_some),
                    approximate_length: len?,
                })
            })
            .collect::<Result<_>>()?;
        let tables = resources(table_specs, tables)?;
        let containers = resources(container_specs, containers)?;

        let rows = if tables.iter().any(|t| t.role == "partitions" && t.exists) {
            match s
                .table(&n.partitions_table())
                .query(Some("PartitionKey eq ''"), None, None)
                .await
            {
                Ok(rows) => rows,
                Err(e) if e.is_not_found() => Vec::new(),
                Err(e) => return Err(e),
            }
        } else {
            Vec::new()
        };
        let partitions = (0..n.partition_count())
            .map(|i| {
                let control_queue = n.control_queue(i);
                let row = rows
                    .iter()
                    .map(|(r, _)| r)
                    .find(|r| r.row_key() == Some(control_queue.as_str()));
                PartitionInfo {
                    index: i,
                    queue_length: queues
                        .iter()
                        .find(|q| q.name == control_queue)
                        .and_then(|q| q.approximate_length),
                    lease_row: row.is_some(),
                    owner: row
                        .and_then(|r| r.get_str("CurrentOwner"))
                        .map(str::to_string),
                    next_owner: row.and_then(|r| r.get_str("NextOwner")).map(str::to_string),
                    expires_at: row.and_then(|r| r.get_datetime("ExpiresAt")),
                    control_queue,
                }
            })
            .collect();
        let poison_count = queues
            .iter()
            .find(|q| q.role == "poison")
            .and_then(|q| q.approximate_length);
        let all = queues
            .iter()
            .map(|q| q.exists)
            .chain(tables.iter().map(|t| t.exists))
            .chain(containers.iter().map(|c| c.exists));
        let (complete, absent) = all.fold((true, true), |(c, a), e| (c && e, a && !e));
        Ok(HubInfo {
            hub: n.hub().to_string(),
            account: s.account().account_name().to_string(),
            partition_count: n.partition_count(),
            complete,
            absent,
            queues,
            tables,
            containers,
            partitions,
            poison_count,
        })
    }
}

/// Tables or containers paired with whether each exists; the first failed check fails all.
fn resources(
    specs: impl IntoIterator<Item = (String, &'static str)>,
    exists: Vec<Result<bool>>,
) -> Result<Vec<ResourceInfo>> {
    specs
        .into_iter()
        .zip(exists)
        .map(|((name, role), exists)| {
            Ok(ResourceInfo {
                name,
                role,
                exists: exists?,
            })
        })
        .collect()
}
