//! Orchestrations end to end on a real Azurite: a worker, a client, the tables.

mod common;

use std::time::Duration;

use common::hub::TestHub;
use taskhub::client::StartRequest;
use taskhub::core::{Failure, OrchestrationContext, OrchestrationStatus, Registry};

fn registry() -> Registry {
    let mut r = Registry::new();
    r.add_orchestrator("Sequence", |ctx: OrchestrationContext| async move {
        let name: String = ctx.input()?;
        let mut out = Vec::new();
        for city in ["Tokyo", "Seattle", "London"] {
            let s: String = ctx
                .call_activity("SayHello", format!("{city} from {name}"))
                .await?;
            out.push(s);
        }
        Ok::<_, Failure>(out)
    });
    r.add_activity("SayHello", |_ctx, s: String| async move {
        Ok::<_, Failure>(format!("Hello {s}!"))
    });
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sequence_of_activities_completes() {
    let t = TestHub::start("seq", registry()).await;
    let id = t
        .client
        .start(
            StartRequest::new("Sequence")
                .with_id("seq-1")
                .with_json_input("\"Ann\""),
        )
        .await
        .unwrap();
    let s = t
        .client
        .wait_for_completion(&id, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(s.runtime_status, OrchestrationStatus::Completed, "{s:?}");
    assert_eq!(
        s.output.as_deref(),
        Some("[\"Hello Tokyo from Ann!\",\"Hello Seattle from Ann!\",\"Hello London from Ann!\"]")
    );
    let h = t.client.history(&id).await.unwrap();
    // Four turns of four events: start + 3 activities, then the completion.
    assert_eq!(h.len(), 16, "{h:#?}");
}
