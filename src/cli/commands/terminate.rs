//! `taskhub terminate <id>`: asks the worker to terminate a live instance.

use super::control::{self, Control};
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

    /// Also every live sub-orchestration below it, level by level (each level once it has
    /// applied the operation, so that it starts no more).
    #[arg(long)]
    recursive: bool,
}

pub async fn run(args: TerminateArgs, ctx: &mut Context) -> Result<()> {
    let reason = args.reason.as_deref();
    control::run(Control::Terminate, &args.id, reason, args.recursive, ctx).await
}
