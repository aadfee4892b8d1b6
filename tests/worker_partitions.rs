//! Partition leases between several workers (in this process; the multi-process tests with the
//! built binary are in `tests/scale_out.rs`).

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::hub::{test_worker_options, TestHub};
use taskhub::backend::{PartitionsTable, TaskHub};
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

/// Partitions per owner, once every lease is owned and none is being handed over.
async fn settled(hub: &TaskHub) -> Option<BTreeMap<String, usize>> {
    let table = PartitionsTable::new(hub.storage(), &hub.names().partitions_table());
    let leases = table.read_all().await.ok()?;
    let mut counts = BTreeMap::new();
    for l in leases {
        if l.next_owner.is_some() || l.is_draining {
            return None;
        }
        *counts.entry(l.current_owner?).or_insert(0) += 1;
    }
    Some(counts)
}

async fn wait_for_split(hub: &TaskHub, expected: &[usize]) -> BTreeMap<String, usize> {
    common::wait_until(
        &format!("split {expected:?}"),
        Duration::from_secs(60),
        || async {
            let counts = settled(hub).await?;
            let mut split: Vec<usize> = counts.values().copied().collect();
            split.sort_unstable_by(|a, b| b.cmp(a));
            (split == expected).then_some(counts)
        },
    )
    .await
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
