//! Partition leases between several workers (in this process; the multi-process tests with the
//! built binary are in `tests/scale_out.rs`).

mod common;

use std::time::Duration;

use common::hub::{test_worker_options, wait_for_split, TestHub};

use taskhub::core::Registry;
use taskhub::worker::WorkerOptions;

fn options(id: &str) -> WorkerOptions {
    WorkerOptions {
        worker_id: id.to_string(),
        lease_duration: Duration::from_secs(6),
        lease_renew_interval: Duration::from_secs(1),
        ..test_worker_options()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_split_four_partitions_two_one_one_and_a_fourth_takes_its_share() {
    let hub = TestHub::create("split4").await;
    let mut t = TestHub::start_with_hub(hub, Registry::new(), options("w1"));
    wait_for_split(&t.hub, &[4]).await;
    t.run_extra_worker(Registry::new(), options("w2"));
    t.run_extra_worker(Registry::new(), options("w3"));
    wait_for_split(&t.hub, &[2, 1, 1]).await;
    t.run_extra_worker(Registry::new(), options("w4"));
    wait_for_split(&t.hub, &[1, 1, 1, 1]).await;
    // A graceful stop hands the partitions over at once (not after the lease expires).
    t.stop_extra(2).await;
    let counts = wait_for_split(&t.hub, &[2, 1, 1]).await;
    assert!(!counts.contains_key("w4"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_split_sixteen_partitions_six_five_five() {
    let hub = TestHub::create_with_partitions("split16", 16).await;
    let mut t = TestHub::start_with_hub(hub, Registry::new(), options("a"));
    t.run_extra_worker(Registry::new(), options("b"));
    t.run_extra_worker(Registry::new(), options("c"));
    wait_for_split(&t.hub, &[6, 5, 5]).await;
}

/// A worker that asked for a partition and died before taking it leaves the row released to it
/// (no current owner, it as the next owner). Once the hand-over's lease period has passed, a
/// live worker takes the partition; it used to stay unowned forever, its queue unread (found by
/// `taskhub bench kill`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_handed_to_a_worker_that_died_is_taken_by_another() {
    let hub = TestHub::create("ghostnext").await;
    let table =
        taskhub::backend::PartitionsTable::new(hub.storage(), &hub.names().partitions_table());
    let mut leases = table.read_all().await.unwrap();
    let past = time::OffsetDateTime::now_utc() - time::Duration::seconds(5);
    for l in &mut leases {
        l.current_owner = None;
        l.next_owner = Some("ghost".into());
        l.expires_at = Some(past);
    }
    table.write(&mut leases).await.unwrap();
    let _t = TestHub::start_with_hub(hub.clone(), Registry::new(), options("alive"));
    let counts = wait_for_split(&hub, &[4]).await;
    assert_eq!(counts.get("alive"), Some(&4));
}
