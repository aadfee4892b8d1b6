//! `taskhub restart <id>`: starts the instance's orchestrator again with its original input.

use crate::cli::input::instance_id;
use crate::cli::Context;
use anyhow::Result;
use clap::Args;

#[derive(Debug, Args)]
pub struct RestartArgs {
    /// The instance id. Without --new-id it must have finished (Completed, Failed, Terminated).
    id: String,

    /// Start under a new random id (the old instance stays as it is) and print that id.
    #[arg(long)]
    new_id: bool,
}

pub async fn run(args: RestartArgs, ctx: &mut Context) -> Result<()> {
    let id = instance_id(&args.id)?;
    let client = ctx.client().await?;
    let started = ctx.check(client.restart(id, args.new_id).await).await?;
    println!("{started}");
    Ok(())
}
