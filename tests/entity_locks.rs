//! Critical sections with real workers: two `taskhub worker` processes on the harness Azurite
//! run the `transfer` and `audit` samples side by side. Every audit locks both accounts and
//! reads them; transfers move money between them under the same locks, so no audit may see the
//! total change. (How we know the test can fail: with the entity's lock check disabled in
//! `core/entity/batch.rs` `next_runnable`, audits report totals off by a transfer in flight;
//! tests/replay/critical_sections.rs also runs an unlocked audit as a control.)

mod common;

use std::time::Duration;

use common::cli::Cli;
use common::hub::{wait_for_split, TestHub};
use taskhub::client::{Client, StartRequest};
use taskhub::core::{EntityId, OrchestrationStatus};
use taskhub::samples::transfer::{Transfer, ACCOUNT, AUDIT, TRANSFER};

const WAIT: Duration = Duration::from_secs(180);
const START: i64 = 1_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audits_never_see_the_total_change_while_transfers_run_on_two_workers() {
    let hub = TestHub::create("locks").await;
    let cli = Cli::for_hub(&hub).await;
    let _w1 = cli.spawn_worker(&["--worker-id", "w1"]);
    let _w2 = cli.spawn_worker(&["--worker-id", "w2"]);
    wait_for_split(&hub, &[2, 2]).await;
    let client = Client::new(hub.clone());
    let accounts: Vec<EntityId> = ["alice", "bob"]
        .iter()
        .map(|k| EntityId::new(ACCOUNT, k).unwrap())
        .collect();
    for a in &accounts {
        client
            .signal_entity(a, "deposit", Some(&START.to_string()), None)
            .await
            .unwrap();
    }
    for a in &accounts {
        common::wait_until("the deposits", WAIT, || async {
            let balance: Option<i64> = client.entity_state(a).await.ok()?;
            (balance == Some(START)).then_some(())
        })
        .await;
    }
    let mut transfers = Vec::new();
    let mut audits = Vec::new();
    for i in 0..8 {
        let (from, to) = if i % 2 == 0 {
            ("alice", "bob")
        } else {
            ("bob", "alice")
        };
        let t = Transfer {
            from: from.into(),
            to: to.into(),
            amount: 100 + i,
        };
        let id = format!("transfer-{i}");
        client
            .start(StartRequest::new(TRANSFER).with_id(&id).with_input(&t))
            .await
            .unwrap();
        transfers.push(id);
        let id = format!("audit-{i}");
        client
            .start(
                StartRequest::new(AUDIT)
                    .with_id(&id)
                    .with_input(&["alice", "bob"]),
            )
            .await
            .unwrap();
        audits.push(id);
    }
    for id in &audits {
        let s = client.wait_for_completion(id, WAIT).await.unwrap();
        assert_eq!(
            s.runtime_status,
            OrchestrationStatus::Completed,
            "{id}: {s:?}"
        );
        assert_eq!(
            s.output.as_deref(),
            Some((2 * START).to_string().as_str()),
            "{id} saw the total change"
        );
    }
    for id in &transfers {
        let s = client.wait_for_completion(id, WAIT).await.unwrap();
        assert_eq!(
            s.runtime_status,
            OrchestrationStatus::Completed,
            "{id}: {s:?}"
        );
        assert_eq!(s.output.as_deref(), Some("true"), "{id}");
    }
    let mut total = 0;
    for a in &accounts {
        total += client.entity_state::<i64>(a).await.unwrap().unwrap();
        // Every lock is released: the entity's status comes to say it exists and nothing
        // more (the last releases travel after the orchestrations' completion).
        let key = a.to_string();
        common::wait_until("the locks released", WAIT, || async {
            let status = client.status(&key, false).await.ok()??;
            (status.custom_status.as_deref() == Some(r#"{"entityExists":true}"#)).then_some(())
        })
        .await;
    }
    assert_eq!(total, 2 * START);
}
