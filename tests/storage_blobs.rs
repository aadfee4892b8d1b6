//! Blobs against real Azurite: put/get, the empty blob, listing by prefix with paging, delete,
//! URLs, and gzip payloads.

mod common;

use common::{test_storage, unique_name};
use taskhub::storage::{gunzip, gzip, Container};

async fn new_container(prefix: &str) -> Container {
    let c = test_storage().await.container(&unique_name(prefix));
    c.create_if_missing().await.unwrap();
    c
}

async fn put_then_get_round_trips_bytes_and_missing_is_not_found() {
    let c = new_container("rt").await;
    c.create_if_missing().await.expect("second create is fine");
    let data: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
    c.put("dir/data.bin", data.clone(), "application/octet-stream")
        .await
        .unwrap();
    assert_eq!(c.get("dir/data.bin").await.unwrap(), data);
    assert_eq!(c.properties("dir/data.bin").await.unwrap(), Some(100_000));
    let err = c.get("nope").await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert_eq!(c.properties("nope").await.unwrap(), None);
}

async fn empty_blob_reads_as_no_bytes() {
    let c = new_container("empty").await;
    c.put("empty.txt", Vec::new(), "text/plain").await.unwrap();
    assert_eq!(c.get("empty.txt").await.unwrap(), Vec::<u8>::new());
    assert_eq!(c.properties("empty.txt").await.unwrap(), Some(0));
    assert!(c.blob_exists("empty.txt").await.unwrap());
}

async fn list_by_prefix_and_delete() {
    let c = new_container("list").await;
    for name in [
        "raw/0.csv",
        "raw/1.csv",
        "raw/sub/2.csv",
        "step1/data_0.csv",
        "rawx",
    ] {
        c.put(name, name.as_bytes().to_vec(), "text/csv")
            .await
            .unwrap();
    }
    let raw = c.list("raw/").await.unwrap();
    assert_eq!(
        raw.iter().map(|b| b.name.as_str()).collect::<Vec<_>>(),
        ["raw/0.csv", "raw/1.csv", "raw/sub/2.csv"]
    );
    assert_eq!(raw[0].size, "raw/0.csv".len() as u64);
    assert_eq!(c.list("").await.unwrap().len(), 5);
    assert!(c.delete("raw/0.csv").await.unwrap());
    assert!(
        !c.delete("raw/0.csv").await.unwrap(),
        "deleting a missing blob reports false"
    );
    assert_eq!(c.list("raw/").await.unwrap().len(), 2);
    c.delete_container().await.unwrap();
    c.delete_container().await.unwrap();
    assert!(!c.exists().await.unwrap());
}

#[tokio::test]
async fn url_points_at_the_blob_and_parses_back() {
    let storage = test_storage().await;
    let c = storage.container(&unique_name("url"));
    c.create_if_missing().await.unwrap();
    c.put("a b/ü.json.gz", gzip(b"{\"big\":true}"), "application/gzip")
        .await
        .unwrap();
    let url = c.url("a b/ü.json.gz");
    let (blob_port, _, _) = common::azurite().await.ports();
    assert_eq!(
        url,
        format!(
            "http://127.0.0.1:{blob_port}/devstoreaccount1/{}/a%20b/%C3%BC.json.gz",
            c.name()
        )
    );
    let (container, blob) = storage.parse_blob_url(&url).unwrap();
    assert_eq!(container, c.name());
    let bytes = storage.container(&container).get(&blob).await.unwrap();
    assert_eq!(gunzip(&bytes).unwrap(), b"{\"big\":true}");
}

on_both_stores!(
    put_then_get_round_trips_bytes_and_missing_is_not_found,
    empty_blob_reads_as_no_bytes,
    list_by_prefix_and_delete,
);
