//! Your registry behind the whole `taskhub` command line: this binary has every command —
//! `worker`, `serve`, `start`, `status`, `wait`, `history`, `list`, `purge`, `entity`, `hub`… —
//! with the same flags, logs and exit codes, and its worker runs your orchestrations.
//!
//! ```sh
//! cargo run --example own_cli -- worker &
//! cargo run --example own_cli -- start Countdown --input 3
//! cargo run --example own_cli -- wait <id>
//! ```

use std::time::Duration;
use taskhub::prelude::*;

fn main() -> std::process::ExitCode {
    let mut registry = Registry::new();
    // Counts down with a one-second durable timer between steps, reporting its progress.
    registry.add_orchestrator("Countdown", |ctx: OrchestrationContext| async move {
        let from: u32 = ctx.input()?;
        for left in (1..=from).rev() {
            ctx.set_custom_status(&left);
            ctx.sleep(Duration::from_secs(1)).await;
        }
        let done: String = ctx.call_activity("Announce", from).await?;
        Ok(done)
    });
    registry.add_activity("Announce", |_ctx: ActivityContext, from: u32| async move {
        Ok(format!("liftoff after {from}"))
    });
    taskhub::cli::run(registry)
}
