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
