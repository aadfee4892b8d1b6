//! `taskhub suspend <id>`: asks the worker to suspend a running instance.

use super::control::{self, Control};
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

    /// Also every live sub-orchestration below it, level by level (each level once it has
    /// applied the operation, so that it starts no more).
    #[arg(long)]
    recursive: bool,
}

pub async fn run(args: SuspendArgs, ctx: &mut Context) -> Result<()> {
    let reason = args.reason.as_deref();
    control::run(Control::Suspend, &args.id, reason, args.recursive, ctx).await
}
