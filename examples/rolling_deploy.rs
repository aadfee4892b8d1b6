//! Two versions of one orchestration side by side, as in a rolling deploy: instances keep the
//! version they were started with and run that version's code to the end, wherever they run.
//!
//! One binary stands in for both builds of the app: `GREETING_VERSIONS` says which versions of
//! `Greeting` this build registers (`1.0`, or `1.0,2.0` — the default — for the new build,
//! which still carries the old code for the instances the old build started).
//!
//! ```sh
//! # the old build, and an instance of its version waiting for an event
//! GREETING_VERSIONS=1.0 cargo run --example rolling_deploy -- worker --version 1.0 &
//! cargo run --example rolling_deploy -- start Greeting --version 1.0 --id old --input '"Ada"'
//! # the new build beside it: it runs 1.0 and 2.0 instances; the old one leaves 2.0 alone
//! cargo run --example rolling_deploy -- worker --version 2.0 &
//! cargo run --example rolling_deploy -- start Greeting --version 2.0 --id new --input '"Grace"'
//! cargo run --example rolling_deploy -- raise old Go
//! cargo run --example rolling_deploy -- raise new Go
//! cargo run --example rolling_deploy -- wait old   # "v1: Hello, Ada!"
//! cargo run --example rolling_deploy -- wait new   # "v2: Hello, Grace! (version 2.0)"
//! ```

use std::process::ExitCode;
use taskhub::prelude::*;

/// Version 1.0: waits for `Go`, then greets.
async fn greeting_v1(ctx: OrchestrationContext) -> Result<String, Failure> {
    let name: String = ctx.input()?;
    ctx.wait_for_external_event::<serde_json::Value>("Go")
        .await?;
    let greeting: String = ctx.call_activity("Greet", &name).await?;
    Ok(format!("v1: {greeting}"))
}

/// Version 2.0: the same steps, and it says which version ran it.
async fn greeting_v2(ctx: OrchestrationContext) -> Result<String, Failure> {
    let name: String = ctx.input()?;
    ctx.wait_for_external_event::<serde_json::Value>("Go")
        .await?;
    let greeting: String = ctx.call_activity("Greet", &name).await?;
    Ok(format!("v2: {greeting} (version {})", ctx.version()))
}

fn main() -> ExitCode {
    let versions = std::env::var("GREETING_VERSIONS").unwrap_or_else(|_| "1.0,2.0".into());
    let mut registry = Registry::new();
    for version in versions.split(',').map(str::trim) {
        match version {
            "1.0" => registry.add_orchestrator_version("Greeting", "1.0", greeting_v1),
            "2.0" => registry.add_orchestrator_version("Greeting", "2.0", greeting_v2),
            other => {
                eprintln!("error: GREETING_VERSIONS: no code for version {other:?} (1.0, 2.0)");
                return ExitCode::FAILURE;
            }
        };
    }
    // Activities are not versioned: every build registers the ones any version calls.
    registry.add_activity("Greet", |_ctx: ActivityContext, name: String| async move {
        Ok(format!("Hello, {name}!"))
    });
    taskhub::cli::run(registry)
}
