//! `taskhub resume <id>`: asks the worker to resume a suspended instance.

use super::control::{self, Control};
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

    /// Also every live sub-orchestration below it, level by level (each level once it has
    /// applied the operation, so that it starts no more).
    #[arg(long)]
    recursive: bool,
}

pub async fn run(args: ResumeArgs, ctx: &mut Context) -> Result<()> {
    let reason = args.reason.as_deref();
    control::run(Control::Resume, &args.id, reason, args.recursive, ctx).await
}
