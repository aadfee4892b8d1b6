//! `taskhub resume <id>`: asks the worker to resume a suspended instance.

use crate::cli::input::instance_id;
use crate::cli::output::{printable, status};
use crate::cli::Context;
use anyhow::Result;
use clap::Args;

#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// The instance id (Suspended).
    id: String,

    /// Why (recorded in the history's ExecutionResumed event).
    #[arg(long, value_name = "TEXT")]
    reason: Option<String>,
}

pub async fn run(args: ResumeArgs, ctx: &mut Context) -> Result<()> {
    let id = instance_id(&args.id)?;
    let client = ctx.client().await?;
    ctx.check(client.resume(id, args.reason.as_deref()).await)
        .await?;
    status(format!(
        "resumption of '{}' requested; a worker applies it",
        printable(id)
    ));
    Ok(())
}
