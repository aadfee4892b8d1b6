//! `taskhub rewind <id>`: makes a Failed instance run again from its failure, re-running only
//! the activities and sub-orchestrations that failed.

use crate::cli::input::instance_id;
use crate::cli::output::{printable, status};
use crate::cli::Context;
use anyhow::Result;
use clap::Args;

#[derive(Debug, Args)]
pub struct RewindArgs {
    /// The instance id (it must be Failed).
    id: String,

    /// Why; recorded in the event that wakes the instance.
    #[arg(long, value_name = "TEXT")]
    reason: Option<String>,
}

pub async fn run(args: RewindArgs, ctx: &mut Context) -> Result<()> {
    let id = instance_id(&args.id)?;
    let client = ctx.client().await?;
    let woken = ctx
        .check(client.rewind(id, args.reason.as_deref()).await)
        .await?;
    let below = woken.iter().filter(|w| w.as_str() != id).count();
    let detail = if below == 0 {
        String::new()
    } else {
        format!(
            " (through {below} failed sub-orchestration{})",
            if below == 1 { "" } else { "s" }
        )
    };
    status(format!(
        "rewind of '{}' requested{detail}; a worker re-runs what failed",
        printable(id)
    ));
    Ok(())
}
