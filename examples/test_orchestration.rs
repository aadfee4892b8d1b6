//! Unit-testing an orchestration without storage: the in-memory host delivers messages, runs
//! the activities and fires timers on a virtual clock, so the test is fast and deterministic.
//!
//! `cargo test --example test_orchestration` runs the tests below; `cargo run --example
//! test_orchestration` runs the same scenario and prints its history.

use std::time::Duration;

use taskhub::core::testing::{HostOptions, InMemoryHost};
use taskhub::prelude::*;

/// The code under test: approve an order unless it waits more than an hour for its approval.
fn registry() -> Registry {
    let mut r = Registry::new();
    r.add_orchestrator("Approve", |ctx: OrchestrationContext| async move {
        let order: String = ctx.input()?;
        let approval = ctx.wait_for_external_event::<bool>("approved");
        let deadline = ctx.sleep(Duration::from_secs(3600));
        let verdict = match ctx.select2(approval, deadline).await {
            // The winner, and the other task (still pending; a timer left behind is harmless).
            taskhub::core::Either::Left((approved, _timer)) => approved?,
            taskhub::core::Either::Right(((), _approval)) => false,
        };
        let note: String = ctx.call_activity("Notify", (order, verdict)).await?;
        Ok(note)
    });
    r.add_activity(
        "Notify",
        |_ctx: ActivityContext, (order, ok): (String, bool)| async move {
            Ok(format!(
                "{order}: {}",
                if ok { "approved" } else { "rejected" }
            ))
        },
    );
    r
}

fn run(approve: Option<bool>) -> InMemoryHost {
    let mut host = InMemoryHost::new(registry(), HostOptions::default());
    host.start("Approve", "order-1", Some("\"order-1\""));
    host.run_ready();
    if let Some(ok) = approve {
        host.send(
            "order-1",
            taskhub::core::testing::event_raised("approved", &ok.to_string()),
        );
    }
    host.run(1000);
    host
}

fn main() {
    let host = run(Some(true));
    for event in host.history("order-1") {
        println!("{:?}", event.event_type());
    }
    println!("{:?}", host.summary("order-1").output);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_approved_order_is_approved() {
        let host = run(Some(true));
        assert_eq!(host.status("order-1"), Some(OrchestrationStatus::Completed));
        assert_eq!(
            host.summary("order-1").output.as_deref(),
            Some("\"order-1: approved\"")
        );
    }

    #[test]
    fn an_order_nobody_approves_is_rejected_after_an_hour() {
        let host = run(None);
        assert_eq!(
            host.summary("order-1").output.as_deref(),
            Some("\"order-1: rejected\"")
        );
    }
}
