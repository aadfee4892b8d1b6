//! Your own orchestration, activity and entity, a worker and a client in one process.
//!
//! `cargo run --example hello_worker` (Azurite on the development ports, or set
//! `AzureWebJobsStorage`; `TASKHUB_HUB` names the hub, default `HelloWorker`).

use std::time::Duration;
use taskhub::prelude::*;

fn registry() -> Registry {
    let mut r = Registry::new();
    r.add_orchestrator("Greet", |ctx: OrchestrationContext| async move {
        let names: Vec<String> = ctx.input()?;
        let mut greetings = Vec::new();
        for name in names {
            greetings.push(ctx.call_activity::<String>("SayHello", &name).await?);
            ctx.signal_entity(&EntityId::new("visits", &name)?, "add", 1);
        }
        Ok(greetings)
    });
    r.add_activity(
        "SayHello",
        |_ctx: ActivityContext, name: String| async move { Ok(format!("Hello, {name}!")) },
    );
    r.add_entity("visits", |ctx: &mut EntityContext| {
        let count: u64 = ctx.state_or_default()?;
        ctx.set_state(&(count + ctx.input::<u64>()?))?;
        Ok(count + 1)
    });
    r
}

#[tokio::main]
async fn main() -> Result<(), taskhub::Error> {
    let env = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.into());
    let storage = Storage::connect(&env("AzureWebJobsStorage", "UseDevelopmentStorage=true"))?;
    let hub = TaskHub::new(
        storage,
        HubNames::new(&env("TASKHUB_HUB", "HelloWorker"), 4)?,
    );

    let stop = CancellationToken::new();
    let worker = Worker::new(hub.clone(), registry().into(), WorkerOptions::default());
    let running = tokio::spawn(worker.run(stop.clone()));

    let client = Client::new(hub);
    let input = ["Tokyo", "Seattle"];
    let id = client
        .start(StartRequest::new("Greet").with_input(&input))
        .await?;
    let greetings: Vec<String> = client.wait_for_output(&id, Duration::from_secs(60)).await?;
    println!("{}", greetings.join(" "));

    let tokyo = EntityId::new("visits", "Tokyo")?;
    while client.entity_state::<u64>(&tokyo).await?.is_none() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "Tokyo visited {} time(s)",
        client.entity_state::<u64>(&tokyo).await?.unwrap_or(0)
    );
    stop.cancel();
    running.await.ok();
    Ok(())
}
