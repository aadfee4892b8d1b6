//! Queues against real Azurite: initial delay, batches, visibility, update, delete, peek, length,
//! dequeue count, raw UTF-8 text.

mod common;

use common::{test_storage, unique_name, wait_until};
use std::time::Duration;
use taskhub::storage::Queue;

async fn new_queue(prefix: &str) -> Queue {
    let q = test_storage().await.queue(&unique_name(prefix));
    q.create_if_missing().await.unwrap();
    q
}

async fn put_with_delay_stays_hidden_until_due() {
    let q = new_queue("delay").await;
    let receipt = q.put("later", Duration::from_secs(2)).await.unwrap();
    assert!(receipt.next_visible > time::OffsetDateTime::now_utc() + Duration::from_millis(500));
    assert!(
        q.get(1, Duration::from_secs(30)).await.unwrap().is_empty(),
        "hidden during the delay"
    );
    assert_eq!(
        q.approximate_length().await.unwrap(),
        1,
        "counted while hidden"
    );
    let msg = wait_until(
        "the delayed message appears",
        Duration::from_secs(10),
        || async { q.get(1, Duration::from_secs(30)).await.unwrap().pop() },
    )
    .await;
    assert_eq!(msg.text, "later");
    assert_eq!(msg.message_id, receipt.message_id);
    assert_eq!(msg.dequeue_count, 1);
}

async fn get_takes_a_batch_and_hides_it_and_delete_removes() {
    let q = new_queue("batch").await;
    for i in 0..5 {
        q.put(&format!("m{i}"), Duration::ZERO).await.unwrap();
    }
    let got = q.get(32, Duration::from_secs(30)).await.unwrap();
    assert_eq!(got.len(), 5);
    assert!(
        q.get(32, Duration::from_secs(30)).await.unwrap().is_empty(),
        "all hidden"
    );
    assert_eq!(q.approximate_length().await.unwrap(), 5);
    for m in &got {
        assert!(q.delete(&m.message_id, &m.pop_receipt).await.unwrap());
    }
    assert!(
        !q.delete(&got[0].message_id, &got[0].pop_receipt)
            .await
            .unwrap(),
        "already gone is not an error"
    );
    assert_eq!(q.approximate_length().await.unwrap(), 0);
    assert!(q.get(0, Duration::ZERO).await.is_err(), "count 0 refused");
    assert!(q.get(33, Duration::ZERO).await.is_err(), "count 33 refused");
}

async fn visibility_expiry_redelivers_with_growing_dequeue_count() {
    let q = new_queue("redeliver").await;
    q.put("again", Duration::ZERO).await.unwrap();
    let first = q
        .get(1, Duration::from_secs(1))
        .await
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(first.dequeue_count, 1);
    let second = wait_until("redelivery", Duration::from_secs(10), || async {
        q.get(1, Duration::from_secs(1)).await.unwrap().pop()
    })
    .await;
    assert_eq!(second.dequeue_count, 2);
    assert_eq!(second.message_id, first.message_id);
    let peeked = wait_until("visible again", Duration::from_secs(10), || async {
        q.peek(1).await.unwrap().pop()
    })
    .await;
    assert_eq!(peeked.dequeue_count, 2, "peek does not count");
    assert_eq!(q.peek(1).await.unwrap()[0].dequeue_count, 2);
}

async fn update_changes_text_and_visibility_and_renews_the_pop_receipt() {
    let q = new_queue("update").await;
    q.put("v1", Duration::ZERO).await.unwrap();
    let mut m = q
        .get(1, Duration::from_secs(30))
        .await
        .unwrap()
        .pop()
        .unwrap();
    let old_receipt = m.pop_receipt.clone();
    q.update(&mut m, Duration::ZERO, None).await.unwrap();
    assert_ne!(m.pop_receipt, old_receipt);
    assert_eq!(m.text, "v1");
    let seen = q.peek(1).await.unwrap();
    assert_eq!(seen[0].text, "v1", "visibility-only update keeps the text");
    let mut m2 = q
        .get(1, Duration::from_secs(30))
        .await
        .unwrap()
        .pop()
        .unwrap();
    q.update(&mut m2, Duration::ZERO, Some("v2 <xml> & ünï"))
        .await
        .unwrap();
    let err = q.delete(&m2.message_id, &m.pop_receipt).await.unwrap_err();
    assert_eq!(
        err.status(),
        Some(400),
        "old pop receipt no longer works: {err}"
    );
    let m3 = q
        .get(1, Duration::from_secs(30))
        .await
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(m3.text, "v2 <xml> & ünï");
    assert_eq!(m3.dequeue_count, 3);
    assert!(q.delete(&m3.message_id, &m3.pop_receipt).await.unwrap());
}

async fn peek_length_clear_and_lifecycle() {
    let storage = test_storage().await;
    let q = storage.queue(&unique_name("life"));
    assert!(!q.exists().await.unwrap());
    let err = q.put("x", Duration::ZERO).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    q.create_if_missing().await.unwrap();
    q.create_if_missing().await.unwrap();
    for i in 0..3 {
        q.put(&format!("{{\"n\":{i}}}"), Duration::ZERO)
            .await
            .unwrap();
    }
    let peeked = q.peek(32).await.unwrap();
    assert_eq!(
        peeked.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(),
        ["{\"n\":0}", "{\"n\":1}", "{\"n\":2}"]
    );
    assert_eq!(q.approximate_length().await.unwrap(), 3);
    q.clear().await.unwrap();
    assert_eq!(q.approximate_length().await.unwrap(), 0);
    q.delete_queue().await.unwrap();
    q.delete_queue().await.unwrap();
    assert!(!q.exists().await.unwrap());
    assert!(storage.counters().get(taskhub::storage::OpKind::QueuePut) >= 4);
}

async fn large_messages_up_to_the_limit() {
    let q = new_queue("large").await;
    let text = "x".repeat(64 * 1024);
    q.put(&text, Duration::ZERO).await.unwrap();
    assert_eq!(
        q.get(1, Duration::from_secs(30)).await.unwrap()[0]
            .text
            .len(),
        64 * 1024
    );
    let err = q
        .put(&format!("{text}y"), Duration::ZERO)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(413), "{err}");
}

on_both_stores!(
    put_with_delay_stays_hidden_until_due,
    get_takes_a_batch_and_hides_it_and_delete_removes,
    visibility_expiry_redelivers_with_growing_dequeue_count,
    update_changes_text_and_visibility_and_renews_the_pop_receipt,
    peek_length_clear_and_lifecycle,
    large_messages_up_to_the_limit,
);
