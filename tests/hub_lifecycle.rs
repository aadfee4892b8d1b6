//! Task hub lifecycle against Azurite: create, info and delete are idempotent and name every
//! resource per the reference; partition mapping matches the reference's FNV-1a vectors.

mod common;

use common::{test_storage, unique_hub_name};
use taskhub::backend::{partition_index, HubNames, TaskHub};
use taskhub::storage::EntityExt;

#[tokio::test]
async fn create_info_delete_are_idempotent() {
    let storage = test_storage().await;
    let names = HubNames::new(&unique_hub_name("Life"), 4).unwrap();
    let hub = TaskHub::new(storage.clone(), names.clone());

    let before = hub.info().await.unwrap();
    assert!(before.absent && !before.complete);

    hub.create().await.unwrap();
    hub.create().await.unwrap();
    let info = hub.info().await.unwrap();
    assert!(info.complete, "{info:#?}");
    let queue_names: Vec<&str> = info.queues.iter().map(|q| q.name.as_str()).collect();
    let lower = names.hub().lowercase();
    assert_eq!(
        queue_names,
        [0, 1, 2, 3]
            .map(|i| format!("{lower}-control-0{i}"))
            .iter()
            .map(String::as_str)
            .chain([
                format!("{lower}-workitems").as_str(),
                format!("{lower}-poison").as_str()
            ])
            .collect::<Vec<_>>()
    );
    assert!(info.queues.iter().all(|q| q.approximate_length == Some(0)));
    let tables: Vec<&str> = info.tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        tables,
        [
            names.history_table(),
            names.instances_table(),
            names.partitions_table()
        ]
    );
    assert_eq!(info.containers[0].name, format!("{lower}-largemessages"));
    assert_eq!(info.containers[1].name, format!("{lower}-leases"));
    assert_eq!(info.poison_count, Some(0));
    assert!(info
        .partitions
        .iter()
        .all(|p| p.lease_row && p.owner.is_none()));

    // One Partitions row per control queue, PartitionKey "" and RowKey the queue name.
    let rows = storage
        .table(&names.partitions_table())
        .query(None, None, None)
        .await
        .unwrap();
    let keys: Vec<(String, String)> = rows
        .iter()
        .map(|(r, _)| {
            (
                r.partition_key().unwrap().to_string(),
                r.row_key().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        keys,
        names
            .control_queues()
            .into_iter()
            .map(|q| (String::new(), q))
            .collect::<Vec<_>>()
    );

    // Messages show up as queue depth per partition.
    storage
        .queue(&names.control_queue(2))
        .put("{}", std::time::Duration::ZERO)
        .await
        .unwrap();
    let info = hub.info().await.unwrap();
    assert_eq!(info.partitions[2].queue_length, Some(1));

    hub.delete().await.unwrap();
    hub.delete().await.unwrap();
    let after = hub.info().await.unwrap();
    assert!(after.absent, "{after:#?}");
}

#[tokio::test]
async fn create_keeps_existing_partition_rows_and_delete_removes_extra_control_queues() {
    let storage = test_storage().await;
    let name = unique_hub_name("Grow");
    let eight = TaskHub::new(storage.clone(), HubNames::new(&name, 8).unwrap());
    eight.create().await.unwrap();
    let partitions = storage.table(&eight.names().partitions_table());
    let mut row = taskhub::storage::TableEntity::new();
    row.put_str("CurrentOwner", "worker-1");
    partitions
        .upsert_merge("", &eight.names().control_queue(0), &row)
        .await
        .unwrap();
    eight.create().await.unwrap();
    let (kept, _) = partitions
        .get("", &eight.names().control_queue(0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        kept.get_str("CurrentOwner"),
        Some("worker-1"),
        "create does not reset lease state"
    );

    let four = TaskHub::new(storage.clone(), HubNames::new(&name, 4).unwrap());
    four.delete().await.unwrap();
    assert!(
        !storage
            .queue(&eight.names().control_queue(7))
            .exists()
            .await
            .unwrap(),
        "control queue 7 deleted too"
    );
    assert!(eight.info().await.unwrap().absent);
}

/// What the community KEDA scaler for DurableTask.AzureStorage reads
/// (`wsugarman/durabletask-azurestorage-scaler`, `TaskHubs/TablePartitionManager.cs`,
/// `BlobPartitionManager.cs`, `TaskHub.cs`), our hub provides: every `{Hub}Partitions` RowKey
/// (all rows, no filter) names a control queue that exists, and `{hub}-leases/taskhub.json`
/// gives the hub name and partition count it derives `{hub}-control-NN` from. Its JSON reader is
/// case-insensitive, so the reference's PascalCase names serve both. (It bites: with the blob
/// never written this failed at the download, and with a stale blob kept, at the count of 8.)
#[tokio::test]
async fn the_community_keda_scaler_finds_what_it_reads() {
    use taskhub::backend::task_hub_info;
    let storage = test_storage().await;
    let name = unique_hub_name("Keda");
    let names = HubNames::new(&name, 4).unwrap();
    let hub = TaskHub::new(storage.clone(), names.clone());
    hub.create().await.unwrap();

    // Table partition management (the scaler's default): RowKeys are queue names.
    let rows = storage
        .table(&names.partitions_table())
        .query(None, Some(&["RowKey"]), None)
        .await
        .unwrap();
    let mut queues: Vec<String> = rows
        .iter()
        .map(|(r, _)| r.row_key().unwrap().to_string())
        .collect();
    queues.sort();
    assert_eq!(queues, names.control_queues());
    for q in queues.iter().chain([&names.work_item_queue()]) {
        assert!(storage.queue(q).exists().await.unwrap(), "{q}");
    }

    // Blob partition management: taskhub.json in {hub}-leases.
    let blob = storage
        .container(&format!("{}-leases", name.to_lowercase()))
        .get("taskhub.json")
        .await
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&blob).unwrap();
    assert_eq!(json["TaskHubName"], name.as_str(), "{json}");
    assert_eq!(json["PartitionCount"], 4, "{json}");
    let created = json["CreatedAt"].as_str().unwrap();
    time::OffsetDateTime::parse(created, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("CreatedAt {created}: {e}"));

    // Created again it is kept; created with another partition count it is rewritten, as the
    // reference does for a stale one.
    hub.create().await.unwrap();
    let again = task_hub_info::read(&storage, &names)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.created_at, created, "an up-to-date blob is kept");
    let eight = HubNames::new(&name, 8).unwrap();
    TaskHub::new(storage.clone(), eight.clone())
        .create()
        .await
        .unwrap();
    let stale = task_hub_info::read(&storage, &eight)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stale.partition_count, 8);

    hub.delete().await.unwrap();
    assert_eq!(task_hub_info::read(&storage, &names).await.unwrap(), None);
}

#[test]
fn partition_mapping_matches_reference_vectors() {
    for (id, m4, m16) in [
        ("", 1, 5),
        ("a", 0, 12),
        ("foobar", 0, 8),
        ("abc123", 1, 5),
        ("@counter@myKey", 0, 0),
        ("b0c6b9c3e9a84c2d8d2f3a1e4b5c6d7e", 3, 7),
        ("ü", 2, 10),
    ] {
        assert_eq!(partition_index(id, 4), m4, "{id:?}");
        assert_eq!(partition_index(id, 16), m16, "{id:?}");
    }
    let names = HubNames::new("MyHub", 16).unwrap();
    assert_eq!(names.control_queue_for("ü"), "myhub-control-10");
}
