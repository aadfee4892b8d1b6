//! Tables against real Azurite: point reads, queries with continuation, upsert merge vs replace,
//! ETag concurrency, transactions (all or nothing), quotes in keys and filters, typed properties.

mod common;

use common::{test_storage, unique_hub_name};
use serde::{Deserialize, Serialize};
use serde_json::json;
use taskhub::storage::escape::{odata_datetime, odata_string};
use taskhub::storage::{EntityExt, Error, OpKind, Table, TableEntity};
use time::macros::datetime;

async fn new_table(prefix: &str) -> Table {
    let t = test_storage().await.table(&unique_hub_name(prefix));
    t.create_if_missing().await.unwrap();
    t
}

fn entity(v: serde_json::Value) -> TableEntity {
    v.as_object().unwrap().clone()
}

async fn insert_then_get_returns_entity_and_etag_and_duplicate_is_conflict() {
    let t = new_table("Ins").await;
    t.create_if_missing().await.expect("second create is fine");
    let etag = t
        .insert("p", "r1", &entity(json!({"Name": "one"})))
        .await
        .unwrap();
    let (e, got_etag) = t.get("p", "r1").await.unwrap().expect("entity exists");
    assert_eq!(e.get_str("Name"), Some("one"));
    assert_eq!(e.partition_key(), Some("p"));
    assert_eq!(e.row_key(), Some("r1"));
    assert!(!e.contains_key("odata.etag"));
    assert_eq!(got_etag, etag);
    let err = t.insert("p", "r1", &entity(json!({}))).await.unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert_eq!(err.code(), Some("EntityAlreadyExists"));
    assert_eq!(
        err.to_string(),
        format!(
            "table insert into {} failed: 409 EntityAlreadyExists",
            t.name()
        )
    );
    assert!(t.get("p", "missing").await.unwrap().is_none());
}

async fn body_keys_that_disagree_with_arguments_are_refused() {
    let t = new_table("Keys").await;
    let err = t
        .insert("p", "r", &entity(json!({"PartitionKey": "other"})))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidRequest { .. }), "{err}");
}

async fn query_follows_continuation_and_pages_hand_back_tokens() {
    let t = new_table("Query").await;
    let mut batch = t.batch("p");
    for i in 0..25 {
        batch.insert(&format!("r{i:03}"), &entity(json!({"n": i})));
    }
    batch.execute().await.unwrap();
    let before = t.get("p", "r000").await.unwrap();
    assert!(before.is_some());

    let storage_counters_before = t
        .query(Some("PartitionKey eq 'p'"), None, None)
        .await
        .unwrap();
    assert_eq!(storage_counters_before.len(), 25);

    let (page1, cont) = t
        .query_page(
            Some("PartitionKey eq 'p'"),
            Some(&["RowKey", "n"]),
            Some(10),
            None,
        )
        .await
        .unwrap();
    assert_eq!(page1.len(), 10);
    let cont = cont.expect("more pages");
    let token = cont.to_token();
    let cont = taskhub::storage::Continuation::from_token(&token).expect("token round-trips");
    let (page2, _) = t
        .query_page(Some("PartitionKey eq 'p'"), None, Some(10), Some(cont))
        .await
        .unwrap();
    assert_eq!(page2[0].0.row_key(), Some("r010"));
    assert!(
        !page2[0].1.as_str().is_empty(),
        "query rows carry their ETag"
    );

    let limited = t.query(Some("n ge 5"), None, Some(7)).await.unwrap();
    assert_eq!(limited.len(), 7);

    #[derive(Deserialize)]
    struct Row {
        #[serde(rename = "RowKey")]
        row_key: String,
        n: i32,
    }
    let typed: Vec<(Row, _)> = t.query_as(Some("n lt 3"), None, None).await.unwrap();
    assert_eq!(
        typed
            .iter()
            .map(|(r, _)| (r.row_key.as_str(), r.n))
            .collect::<Vec<_>>(),
        [("r000", 0), ("r001", 1), ("r002", 2)]
    );
}

async fn query_pages_are_counted_per_request() {
    let storage = test_storage().await;
    let t = storage.table(&unique_hub_name("Count"));
    t.create_if_missing().await.unwrap();
    let mut batch = t.batch("p");
    for i in 0..5 {
        batch.upsert_replace(&format!("r{i}"), &entity(json!({})));
    }
    batch.execute().await.unwrap();
    let before = storage.counters().get(OpKind::TableQuery);
    let mut cont = None;
    let mut pages = 0;
    loop {
        let (_, next) = t.query_page(None, None, Some(2), cont).await.unwrap();
        pages += 1;
        match next {
            Some(n) => cont = Some(n),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(storage.counters().get(OpKind::TableQuery) - before, 3);
    assert_eq!(storage.counters().get(OpKind::TableBatch), 1);
    assert!(storage.counters().snapshot().contains_key("TableCreate"));
}

async fn upsert_merge_keeps_other_properties_and_replace_drops_them() {
    let t = new_table("Upsert").await;
    t.upsert_replace("p", "r", &entity(json!({"a": 1, "b": 2})))
        .await
        .unwrap();
    t.upsert_merge("p", "r", &entity(json!({"b": 3, "c": 4})))
        .await
        .unwrap();
    let (e, _) = t.get("p", "r").await.unwrap().unwrap();
    assert_eq!(
        (e.get_i32("a"), e.get_i32("b"), e.get_i32("c")),
        (Some(1), Some(3), Some(4))
    );
    t.upsert_replace("p", "r", &entity(json!({"c": 5})))
        .await
        .unwrap();
    let (e, _) = t.get("p", "r").await.unwrap().unwrap();
    assert_eq!((e.get_i32("a"), e.get_i32("c")), (None, Some(5)));
}

async fn stale_etag_is_precondition_failed_for_update_merge_and_delete() {
    let t = new_table("Etag").await;
    let old = t.insert("p", "r", &entity(json!({"v": 1}))).await.unwrap();
    let new = t
        .update("p", "r", &entity(json!({"v": 2})), Some(&old))
        .await
        .unwrap();
    assert_ne!(old, new);
    for err in [
        t.update("p", "r", &entity(json!({"v": 3})), Some(&old))
            .await
            .unwrap_err(),
        t.merge("p", "r", &entity(json!({"v": 3})), Some(&old))
            .await
            .unwrap_err(),
        t.delete("p", "r", Some(&old)).await.unwrap_err(),
    ] {
        assert!(err.is_precondition_failed(), "{err}");
        assert!(!err.is_transient());
    }
    let newer = t
        .merge("p", "r", &entity(json!({"w": 1})), Some(&new))
        .await
        .unwrap();
    assert!(t.delete("p", "r", Some(&newer)).await.unwrap());
    assert!(
        !t.delete("p", "r", None).await.unwrap(),
        "deleting a missing entity reports false"
    );
    let err = t
        .update("p", "gone", &entity(json!({})), None)
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
}

async fn failing_transaction_operation_is_reported_and_nothing_is_applied() {
    let t = new_table("Batch").await;
    t.insert("p", "exists", &entity(json!({"v": 0})))
        .await
        .unwrap();
    let mut b = t.batch("p");
    b.insert("new1", &entity(json!({"v": 1})))
        .insert("exists", &entity(json!({"v": 1})))
        .upsert_merge("new2", &entity(json!({"v": 2})));
    let err = b.execute().await.unwrap_err();
    match &err {
        Error::BatchOperationFailed {
            index,
            status,
            code,
            ..
        } => {
            assert_eq!((*index, *status), (1, 409), "{err}");
            assert_eq!(code.as_deref(), Some("EntityAlreadyExists"));
        }
        other => panic!("expected BatchOperationFailed, got {other:?}"),
    }
    assert!(err.is_conflict());
    assert!(t.get("p", "new1").await.unwrap().is_none(), "rolled back");
    assert!(t.get("p", "new2").await.unwrap().is_none(), "rolled back");
}

async fn transaction_returns_etags_in_order_and_checks_etags() {
    let t = new_table("Tx").await;
    let e0 = t.insert("p", "a", &entity(json!({"v": 0}))).await.unwrap();
    t.insert("p", "d", &entity(json!({}))).await.unwrap();
    let mut b = t.batch("p");
    b.update("a", &entity(json!({"v": 1})), Some(&e0))
        .insert("b", &entity(json!({"v": 1})))
        .upsert_replace("c", &entity(json!({"v": 1})))
        .delete("d", None);
    let etags = b.execute().await.unwrap();
    assert_eq!(etags.len(), 4);
    assert!(etags[3].is_none(), "a delete has no ETag");
    let (_, a_etag) = t.get("p", "a").await.unwrap().unwrap();
    assert_eq!(
        etags[0].as_ref(),
        Some(&a_etag),
        "the batch ETag is the entity's new ETag"
    );
    assert!(t.get("p", "d").await.unwrap().is_none());

    let mut stale = t.batch("p");
    stale.merge("a", &entity(json!({"v": 2})), Some(&e0));
    let err = stale.execute().await.unwrap_err();
    assert!(err.is_precondition_failed(), "{err}");
    assert!(
        matches!(err, Error::BatchOperationFailed { index: 0, .. }),
        "{err}"
    );
}

async fn transactions_over_the_limits_are_refused_before_sending() {
    let storage = test_storage().await;
    let t = storage.table(&unique_hub_name("Limit"));
    let mut b = t.batch("p");
    for i in 0..101 {
        b.insert(&format!("r{i}"), &entity(json!({})));
    }
    let before = storage.counters().total();
    assert!(matches!(
        b.execute().await.unwrap_err(),
        Error::InvalidRequest { .. }
    ));
    let mut mixed = t.batch("p");
    mixed.insert("r", &entity(json!({"PartitionKey": "q"})));
    assert!(matches!(
        mixed.execute().await.unwrap_err(),
        Error::InvalidRequest { .. }
    ));
    let mut twice = t.batch("p");
    twice.insert("r", &entity(json!({}))).delete("r", None);
    assert!(matches!(
        twice.execute().await.unwrap_err(),
        Error::InvalidRequest { .. }
    ));
    assert_eq!(storage.counters().total(), before, "nothing was sent");
}

async fn single_quotes_work_in_keys_and_filter_values() {
    let t = new_table("Quote").await;
    let e = t
        .insert("o'p", "o'brien", &entity(json!({"name": "o'brien"})))
        .await
        .unwrap();
    let (got, etag) = t
        .get("o'p", "o'brien")
        .await
        .unwrap()
        .expect("found by quoted keys");
    assert_eq!(got.get_str("name"), Some("o'brien"));
    let e2 = t
        .update(
            "o'p",
            "o'brien",
            &entity(json!({"name": "x'y"})),
            Some(&etag),
        )
        .await
        .unwrap();
    assert_ne!(e, e2);
    let filter = format!(
        "PartitionKey eq {} and name eq {}",
        odata_string("o'p"),
        odata_string("x'y")
    );
    assert_eq!(t.query(Some(&filter), None, None).await.unwrap().len(), 1);
    // An injection attempt stays a literal: it matches nothing instead of everything.
    let injected = format!("name eq {}", odata_string("' or '1' eq '1"));
    assert!(t
        .query(Some(&injected), None, None)
        .await
        .unwrap()
        .is_empty());
    let mut b = t.batch("o'p");
    b.merge("o'brien", &entity(json!({"more": 1})), Some(&e2))
        .delete("o'brien2", None);
    let err = b.execute().await.unwrap_err();
    assert!(
        err.is_not_found(),
        "the batch reached the quoted keys: {err}"
    );
    let mut b = t.batch("o'p");
    b.merge("o'brien", &entity(json!({"more": 1})), Some(&e2));
    b.execute().await.unwrap();
    assert!(t.delete("o'p", "o'brien", None).await.unwrap());
}

async fn typed_properties_round_trip_through_the_service() {
    let t = new_table("Types").await;
    let when = datetime!(2024-05-01 10:00:00.1234567 UTC);
    let mut e = TableEntity::new();
    e.put_str("S", "text")
        .put_i32("I", -42)
        .put_i64("L", (1 << 40) + 1)
        .put_bool("B", true)
        .put_datetime("D", when);
    t.insert("p", "r", &e).await.unwrap();
    let (got, _) = t.get("p", "r").await.unwrap().unwrap();
    assert_eq!(got.get_str("S"), Some("text"));
    assert_eq!(got.get_i32("I"), Some(-42));
    assert_eq!(got.get_i64("L"), Some((1 << 40) + 1));
    assert_eq!(got.get_str("L@odata.type"), Some("Edm.Int64"));
    assert_eq!(got.get_bool("B"), Some(true));
    assert_eq!(got.get_datetime("D"), Some(when));
    assert_eq!(got.get_str("D@odata.type"), Some("Edm.DateTime"));
    assert!(
        got.get_datetime("Timestamp").is_some(),
        "service timestamp is readable"
    );
    // DateTime filters compare as dates, not strings.
    let f = format!("D ge {}", odata_datetime(datetime!(2024-05-01 09:00 UTC)));
    assert_eq!(t.query(Some(&f), None, None).await.unwrap().len(), 1);
    let f = format!("D gt {}", odata_datetime(datetime!(2024-05-01 11:00 UTC)));
    assert!(t.query(Some(&f), None, None).await.unwrap().is_empty());
    // A read entity can be written back as is (metadata and Timestamp are dropped).
    t.upsert_replace("p", "r", &got).await.unwrap();

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct Typed {
        name: String,
        count: i32,
    }
    t.insert(
        "p",
        "typed",
        &Typed {
            name: "n".into(),
            count: 3,
        },
    )
    .await
    .unwrap();
    let (typed, _) = t.get_as::<Typed>("p", "typed").await.unwrap().unwrap();
    assert_eq!(
        typed,
        Typed {
            name: "n".into(),
            count: 3
        }
    );
}

async fn table_lifecycle_is_idempotent() {
    let storage = test_storage().await;
    let t = storage.table(&unique_hub_name("Life"));
    assert!(!t.exists().await.unwrap());
    t.create_if_missing().await.unwrap();
    assert!(t.exists().await.unwrap());
    t.delete_table().await.unwrap();
    t.delete_table().await.unwrap();
    assert!(!t.exists().await.unwrap());
}

on_both_stores!(
    insert_then_get_returns_entity_and_etag_and_duplicate_is_conflict,
    body_keys_that_disagree_with_arguments_are_refused,
    query_follows_continuation_and_pages_hand_back_tokens,
    query_pages_are_counted_per_request,
    upsert_merge_keeps_other_properties_and_replace_drops_them,
    stale_etag_is_precondition_failed_for_update_merge_and_delete,
    failing_transaction_operation_is_reported_and_nothing_is_applied,
    transaction_returns_etags_in_order_and_checks_etags,
    transactions_over_the_limits_are_refused_before_sending,
    single_quotes_work_in_keys_and_filter_values,
    typed_properties_round_trip_through_the_service,
    table_lifecycle_is_idempotent,
);
