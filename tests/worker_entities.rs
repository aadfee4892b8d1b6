//! Durable entities end to end on Azurite: signals, calls, errors, large state in blobs,
//! restarts.

mod common;

use std::time::Duration;

use common::hub::{test_worker_options, TestHub};
use serde_json::{json, Value};
use taskhub::client::{Client, StartRequest};
use taskhub::core::{EntityId, Failure, OrchestrationContext, OrchestrationStatus, Registry};
use taskhub::samples::hello_counter::Session;

const WAIT: Duration = Duration::from_secs(60);

fn registry() -> Registry {
    let mut r = Registry::new();
    taskhub::samples::hello_counter::register(&mut r);
    r.add_orchestrator("CallCounter", |ctx: OrchestrationContext| async move {
        let key: String = ctx.input()?;
        let counter = EntityId::new("session_handler", &key)?;
        let after_add: i64 = ctx.call_entity(&counter, "add", 5).await?;
        let got: i64 = ctx.call_entity(&counter, "get", ()).await?;
        // An operation that fails: its error comes back, the state is unchanged.
        let bad = ctx
            .call_entity::<i64>(&counter, "add", "not a number")
            .await;
        let unknown = ctx.call_entity::<Value>(&counter, "explode", ()).await;
        let missing = EntityId::new("no_such_entity", "k")?;
        let nobody = ctx.call_entity::<Value>(&missing, "get", ()).await;
        let after: i64 = ctx.call_entity(&counter, "get", ()).await?;
        Ok::<_, Failure>(json!({
            "after_add": after_add,
            "got": got,
            "bad": bad.unwrap_err().details.error_message,
            "unknown": unknown.unwrap_err().details.error_type,
            "nobody": nobody.unwrap_err().details.error_message,
            "after": after,
        }))
    });
    r
}

async fn count(c: &Client, id: &EntityId) -> Option<i64> {
    let view = c.entity(id).await.unwrap()?;
    let s: Session = serde_json::from_str(view.state.as_deref()?).unwrap();
    Some(s.count)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_signals_from_ten_clients_sum_exactly() {
    let t = TestHub::start("ent1000", registry()).await;
    let counter = EntityId::new("session_handler", "shared").unwrap();
    let mut senders = Vec::new();
    for client in 0..10i64 {
        let c = t.client.clone();
        let id = counter.clone();
        senders.push(tokio::spawn(async move {
            for _ in 0..100 {
                let n = (client + 1).to_string();
                c.signal_entity(&id, "add", Some(&n), None).await.unwrap();
            }
        }));
    }
    for s in senders {
        s.await.unwrap();
    }
    // 100 × (1 + 2 + … + 10)
    let expected = 5500;
    let got = common::wait_until("all signals applied", WAIT, || async {
        let c = count(&t.client, &counter).await?;
        (c == expected).then_some(c)
    })
    .await;
    assert_eq!(got, expected);
    // The entity is listed, with its state.
    let list = t
        .client
        .list_entities(Some("session_handler"))
        .await
        .unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].key, "shared");
    // Entities do not show up in ordinary instance listings.
    let page = t
        .client
        .list(&Default::default(), None, None)
        .await
        .unwrap();
    assert!(page.instances.is_empty(), "{:?}", page.instances);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orchestrations_call_entities_and_get_results_or_errors() {
    let t = TestHub::start("entcall", registry()).await;
    let id = t
        .client
        .start(
            StartRequest::new("CallCounter")
                .with_id("caller")
                .with_input(&json!("k1")),
        )
        .await
        .unwrap();
    let s = t.client.wait_for_completion(&id, WAIT).await.unwrap();
    assert_eq!(s.runtime_status, OrchestrationStatus::Completed, "{s:?}");
    let out: Value = serde_json::from_str(s.output.as_deref().unwrap()).unwrap();
    assert_eq!(out["after_add"], 5);
    assert_eq!(out["got"], 5);
    assert_eq!(
        out["after"], 5,
        "a failed operation leaves the state unchanged: {out}"
    );
    assert!(
        out["bad"]
            .as_str()
            .unwrap()
            .contains("invalid input for operation 'add'"),
        "{out}"
    );
    assert_eq!(out["unknown"], "UnknownOperation");
    assert_eq!(
        out["nobody"],
        "no entity named 'no_such_entity' is registered"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_state_moves_to_a_blob_and_the_old_blob_goes_when_it_shrinks() {
    let mut t = TestHub::start("entbig", registry()).await;
    let id = EntityId::new("session_handler", "big").unwrap();
    let chunk = Value::String("y".repeat(10 * 1024)).to_string();
    t.client
        .signal_entity(&id, "add", Some("7"), None)
        .await
        .unwrap();
    for _ in 0..8 {
        t.client
            .signal_entity(&id, "append", Some(&chunk), None)
            .await
            .unwrap();
    }
    let state = common::wait_until("state grown", WAIT, || async {
        let v = t.client.entity(&id).await.unwrap()?;
        let s: Session = serde_json::from_str(v.state.as_deref()?).unwrap();
        (s.log.len() == 8).then_some(s)
    })
    .await;
    assert_eq!(state.count, 7);
    assert!(
        state.log.iter().all(|l| l.len() == 10 * 1024),
        "read back intact"
    );
    // The Instances row holds the URL of a blob, not the state.
    let raw = t
        .hub
        .instances()
        .read(&id.to_string(), false)
        .await
        .unwrap()
        .unwrap()
        .0;
    let url = raw.input.unwrap();
    assert!(url.starts_with("http"), "{}", &url[..url.len().min(60)]);
    let container = t.hub.payloads().container().clone();
    let blobs = || async {
        let all = container.list("@session_handler@big/").await.unwrap();
        all.into_iter().map(|b| b.name).collect::<Vec<_>>()
    };
    assert_eq!(blobs().await.len(), 1);

    // The state survives a worker restart (the new worker loads it from storage).
    t.stop_worker().await;
    t.run_worker(registry(), test_worker_options());
    t.client
        .signal_entity(&id, "add", Some("1"), None)
        .await
        .unwrap();
    common::wait_until("count after restart", WAIT, || async {
        (count(&t.client, &id).await? == 8).then_some(())
    })
    .await;
    // Each batch writes a new blob and deletes the previous one after its commit.
    common::wait_until("one blob left", WAIT, || async {
        (blobs().await.len() == 1).then_some(())
    })
    .await;

    // A small state again: the blob is deleted once the new state is committed.
    t.client
        .signal_entity(&id, "reset", None, None)
        .await
        .unwrap();
    t.client
        .signal_entity(&id, "add", Some("3"), None)
        .await
        .unwrap();
    common::wait_until("small state", WAIT, || async {
        (count(&t.client, &id).await? == 3).then_some(())
    })
    .await;
    // The old blob goes right after the commit that made it unneeded.
    common::wait_until("old blob deleted", WAIT, || async {
        blobs().await.is_empty().then_some(())
    })
    .await;
    let raw = t
        .hub
        .instances()
        .read(&id.to_string(), false)
        .await
        .unwrap()
        .unwrap()
        .0;
    assert!(raw.input.unwrap().starts_with('{'));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_entity_requests_are_refused() {
    let hub = TestHub::create("entbad").await;
    let c = Client::new(hub.clone());
    let counter = EntityId::new("session_handler", "k").unwrap();
    let e = c
        .signal_entity(&counter, "add", Some("{oops"), None)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("not valid JSON"), "{e}");
    // Any entity name is signalled, as Durable Functions clients do: only the workers know
    // what they run.
    let nobody = EntityId::new("nobody", "k").unwrap();
    c.signal_entity(&nobody, "add", None, None).await.unwrap();
    assert!(EntityId::new("session_handler", "").is_err());
    assert!(c.entity(&counter).await.unwrap().is_none());
    // A key with characters a table key cannot hold is escaped, not refused.
    let odd = EntityId::new("session_handler", "a/b#c?d\\e").unwrap();
    c.signal_entity(&odd, "add", Some("1"), None).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_odd_key_round_trips() {
    let t = TestHub::start("entodd", registry()).await;
    let odd = EntityId::new("session_handler", "a/b#c?d\\e'f").unwrap();
    t.client
        .signal_entity(&odd, "add", Some("4"), None)
        .await
        .unwrap();
    common::wait_until("odd key applied", WAIT, || async {
        (count(&t.client, &odd).await? == 4).then_some(())
    })
    .await;
    let list = t.client.list_entities(None).await.unwrap();
    assert_eq!(list[0].key, "a/b#c?d\\e'f");
}
