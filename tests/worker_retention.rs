//! A worker's retention, through two `taskhub worker --retention …` processes on the harness
//! Azurite: old finished instances are purged, young ones, live ones and statuses kept longer
//! are left, a real instance terminated a few seconds ago goes once its age has passed, and only
//! the worker holding partition 0 purges.
//!
//! How the test is known to catch what it guards (each checked once by breaking the code):
//! - retention not limited to partition 0's owner (`lease_left` taken as always some time in
//!   `worker/retention.rs`): both workers purge and the other worker's log has purges;
//! - a rule's age ignored (`last_updated_to: None`): every finished instance is purged, the
//!   Failed ones kept for a day and the young ones included;
//! - the status of a rule ignored (`statuses: vec![]`, every finished status): the Failed ones
//!   (kept for a day) go after the Completed rule's hour.

mod common;

use std::time::Duration;

use common::cli::Cli;
use common::hub::{wait_for_split, write_finished, TestHub};
use taskhub::backend::{InstanceQuery, PartitionsTable};
use taskhub::client::Client;
use taskhub::core::OrchestrationStatus;

async fn count(client: &Client, prefix: &str) -> u64 {
    let q = InstanceQuery {
        instance_id_prefix: Some(prefix.into()),
        ..InstanceQuery::default()
    };
    client.count(&q).await.unwrap().total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_purges_old_finished_instances_from_the_partition_0_worker_only() {
    let hub = TestHub::create("Retention").await;
    let client = Client::new(hub.clone());
    let cli = Cli::for_hub(&hub).await;
    let retention = [
        "--retention",
        "Completed=1h,Failed=1d,Terminated=3s",
        "--retention-interval",
        "1s",
        "--retention-rate",
        "6000",
    ];
    let a = cli.spawn_worker(&[&["--worker-id", "wa"], &retention[..]].concat());
    a.wait_for_log("all partitions acquired", |log| {
        log.matches("partition acquired").count() >= 4
    });
    assert!(
        a.log()
            .contains("retention=Completed=1h,Failed=1d,Terminated=3s"),
        "{}",
        a.log()
    );
    let b = cli.spawn_worker(&[&["--worker-id", "wb"], &retention[..]].concat());
    wait_for_split(&hub, &[2, 2]).await;
    let lease_0 = || async {
        let leases = PartitionsTable::new(hub.storage(), &hub.names().partitions_table())
            .read_all()
            .await
            .unwrap();
        let l = leases
            .into_iter()
            .find(|l| l.partition == hub.names().control_queue(0))
            .expect("partition 0's lease row");
        (
            l.current_owner.expect("partition 0 is owned"),
            l.owned_since,
        )
    };
    let (owner, owned_since) = lease_0().await;
    let (purger, other) = if owner == "wa" { (&a, &b) } else { (&b, &a) };

    // Written once the split has settled, so only partition 0's owner of now can purge them.
    let two_hours = Duration::from_secs(7200);
    write_finished(&hub, "old-", 200, OrchestrationStatus::Completed, two_hours).await;
    write_finished(
        &hub,
        "oldfailed-",
        20,
        OrchestrationStatus::Failed,
        two_hours,
    )
    .await;
    write_finished(
        &hub,
        "oldrunning-",
        20,
        OrchestrationStatus::Running,
        two_hours,
    )
    .await;
    write_finished(
        &hub,
        "young-",
        20,
        OrchestrationStatus::Completed,
        Duration::from_secs(60),
    )
    .await;
    // Real instances: one that completes (young: kept), one terminated (gone after 3 s).
    cli.ok(&["start", "HelloCities", "--id", "hello-kept"]);
    cli.ok(&[
        "start",
        "eternal_orchestrator",
        "--id",
        "terminated",
        "--input",
        r#"{"idleSeconds":60}"#,
    ]);
    cli.status_becomes("hello-kept", "Completed");
    cli.status_becomes("terminated", "Running");
    cli.ok(&["terminate", "terminated", "--reason", "done"]);
    cli.status_becomes("terminated", "Terminated");
    let history_rows = || async { hub.history().load("terminated").await.unwrap().events.len() };
    assert!(history_rows().await > 0);

    // Batches of up to 5 s, each followed by a rest three times as long: on a loaded machine
    // 200 instances can take a few batches.
    common::wait_until(
        "the old and the terminated instances are purged",
        Duration::from_secs(180),
        || async {
            let gone = count(&client, "old-").await == 0
                && client.status("terminated", false).await.unwrap().is_none();
            gone.then_some(())
        },
    )
    .await;
    assert_eq!(history_rows().await, 0);
    // Kept: another status's longer age, live ones, young ones, the completed hello.
    assert_eq!(count(&client, "oldfailed-").await, 20);
    assert_eq!(count(&client, "oldrunning-").await, 20);
    assert_eq!(count(&client, "young-").await, 20);
    assert!(client.status("hello-kept", false).await.unwrap().is_some());

    let (purger_log, other_log) = (purger.log(), other.log());
    // A worker purges only while it holds partition 0 (its log says when it took the role up
    // and when it left it) ...
    for log in [&purger_log, &other_log] {
        let mut holding = false;
        for line in log.lines() {
            holding = (holding || line.contains("holds partition 0 and purges"))
                && !line.contains("no longer ours");
            assert!(holding || !line.contains("retention purged"), "{log}");
        }
    }
    // ... so, unless partition 0 changed hands meanwhile (a lease renewal lost on a loaded
    // machine), its owner did all the purging and the other worker none.
    if lease_0().await == (owner, owned_since) {
        assert!(
            purger_log.contains("retention purged old instances"),
            "{purger_log}"
        );
        assert!(!other_log.contains("retention purged"), "{other_log}");
    } else {
        assert!(format!("{purger_log}{other_log}").contains("retention purged old instances"));
    }

    // Bad rules: one line each, no worker started, nothing purged.
    for (rules, says) in [
        (
            "Running=1d",
            "Running instances are live and are never purged",
        ),
        ("Completed=7x", "\"7x\" is not a duration"),
        ("Completed=-1d", "no sign"),
        ("Bogus=1d", "unknown status \"Bogus\""),
        ("Completed=1d,Completed=2d", "given twice"),
    ] {
        let e = cli.fails(&["worker", "--retention", rules]);
        assert!(
            e.contains("--retention") && e.contains(says),
            "{rules}: {e}"
        );
    }
    let e = cli.fails(&["worker", "--retention-rate", "10"]);
    assert!(e.contains("--retention"), "{e}");
    assert_eq!(count(&client, "oldfailed-").await, 20);
    assert_eq!(count(&client, "young-").await, 20);

    // Retention does not hold up a stop.
    for w in [a, b] {
        let (exit, took, log) = w.stop(libc::SIGTERM);
        assert!(exit.success(), "{log}");
        assert!(took < Duration::from_secs(10), "stopping took {took:?}");
    }
}
