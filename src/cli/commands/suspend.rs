//! `taskhub suspend <id>`: asks the worker to suspend a running instance.

use crate::cli::input::instance_id;
use crate::cli::output::{printable, status};
use crate::cli::Context;
use anyhow::Result;
use clap::Args;

#[derive(Debug, Args)]
pub struct SuspendArgs {
    /// The instance id (Running).
    id: String,

    /// Why (recorded in the history's ExecutionSuspended event).
    #[arg(long, value_name = "TEXT")]
    reason: Option<String>,
}

pub async fn run(args: SuspendArgs, ctx: &mut Context) -> Result<()> {
    let id = instance_id(&args.id)?;
    let client = ctx.client().await?;
    ctx.check(client.suspend(id, args.reason.as_deref()).await)
        .await?;
    status(format!(
        "suspension of '{}' requested; a worker applies it",
        printable(id)
    ));
    Ok(())
}
