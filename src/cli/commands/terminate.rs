//! `taskhub terminate <id>`: asks the worker to terminate a live instance.

use crate::cli::input::instance_id;
use crate::cli::output::{printable, status};
use crate::cli::Context;
use anyhow::Result;
use clap::Args;

#[derive(Debug, Args)]
pub struct TerminateArgs {
    /// The instance id (Pending, Running or Suspended).
    id: String,

    /// Why; it becomes the instance's output.
    #[arg(long, value_name = "TEXT")]
    reason: Option<String>,
}

pub async fn run(args: TerminateArgs, ctx: &mut Context) -> Result<()> {
    let id = instance_id(&args.id)?;
    let client = ctx.client().await?;
    ctx.check(client.terminate(id, args.reason.as_deref()).await)
        .await?;
    status(format!(
        "termination of '{}' requested; a worker applies it (`taskhub wait` shows when)",
        printable(id)
    ));
    Ok(())
}
