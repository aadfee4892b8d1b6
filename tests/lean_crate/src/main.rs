use std::time::Duration;
use taskhub::prelude::*;

#[tokio::main]
async fn main() -> Result<(), taskhub::Error> {
    let mut registry = Registry::new();
    registry.add_orchestrator("Double", |ctx: OrchestrationContext| async move {
        let n: u64 = ctx.input()?;
        let doubled: u64 = ctx.call_activity("Times2", n).await?;
        ctx.signal_entity(&EntityId::new("tally", "all")?, "add", doubled);
        Ok(doubled)
    });
    registry.add_activity("Times2", |_ctx: ActivityContext, n: u64| async move { Ok(n * 2) });
    registry.add_entity("tally", |ctx: &mut EntityContext| {
        let sum = ctx.state_or_default::<u64>()? + ctx.input::<u64>()?;
        ctx.set_state(&sum)
    });
    let conn = std::env::var("AzureWebJobsStorage").unwrap_or("UseDevelopmentStorage=true".into());
    let hub_name = std::env::var("TASKHUB_HUB").unwrap_or("Lean".into());
    let hub = TaskHub::new(Storage::connect(&conn)?, HubNames::new(&hub_name, 2)?);
    let stop = CancellationToken::new();
    let worker = Worker::new(hub.clone(), registry.into(), WorkerOptions::default());
    let running = tokio::spawn(worker.run(stop.clone()));
    let client = Client::new(hub);
    let id = client.start(StartRequest::new("Double").with_input(&21)).await?;
    let doubled: u64 = client.wait_for_output(&id, Duration::from_secs(60)).await?;
    let tally = EntityId::new("tally", "all")?;
    while client.entity_state::<u64>(&tally).await?.is_none() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("{doubled} {}", client.entity_state::<u64>(&tally).await?.unwrap_or(0));
    stop.cancel();
    running.await.ok();
    Ok(())
}
