//! `taskhub purge <id>` or `taskhub purge --created-from … --created-to … --status …`: deletes
//! finished instances (history rows, Instances row, blobs) and prints what went.

use crate::backend::PurgeResult;
use crate::cli::input::{instance_id, parse_opt_time, parse_statuses};
use crate::cli::output::print_json;
use crate::cli::Context;
use crate::client::Error;
use anyhow::{bail, Result};
use clap::Args;

#[derive(Debug, Args)]
#[command(
    after_help = "Give either an instance id or at least one filter. Live instances \
    (Pending, Running, Suspended) are never purged; terminate them first."
)]
pub struct PurgeArgs {
    /// Purge this one instance (it must have finished).
    #[arg(conflicts_with_all = ["created_from", "created_to", "status"])]
    id: Option<String>,

    /// Only instances created at or after this RFC 3339 time (e.g. 2024-05-01T00:00:00Z).
    #[arg(long, value_name = "TIME")]
    created_from: Option<String>,

    /// Only instances created at or before this RFC 3339 time.
    #[arg(long, value_name = "TIME")]
    created_to: Option<String>,

    /// Only instances with these final statuses, comma-separated: Completed, Failed,
    /// Terminated, Canceled. Default: all four.
    #[arg(long, value_name = "STATUS,...", value_delimiter = ',')]
    status: Vec<String>,

    /// With an instance id: also every sub-orchestration below it (refused, with nothing
    /// deleted, while any of them is still live).
    #[arg(long)]
    recursive: bool,

    /// Print what was deleted as JSON.
    #[arg(long)]
    json: bool,
}

pub async fn run(args: PurgeArgs, ctx: &mut Context) -> Result<()> {
    if args.recursive && args.id.is_none() {
        // (clap's `requires` is not enforced for a flag beside a positional with conflicts.)
        bail!("--recursive purges one instance's tree: give the instance id");
    }
    let result = match &args.id {
        Some(id) => {
            let id = instance_id(id)?;
            let client = ctx.client().await?;
            let r = if args.recursive {
                client.purge_recursive(id).await
            } else {
                client.purge(id).await
            };
            let r = ctx.check(r).await?;
            if r.instances_deleted == 0 {
                return ctx.check(Err(Error::NotFound(id.to_string()))).await;
            }
            r
        }
        None => {
            let from = parse_opt_time("--created-from", args.created_from.as_deref())?;
            let to = parse_opt_time("--created-to", args.created_to.as_deref())?;
            let statuses = parse_statuses("--status", &args.status)?;
            if from.is_none() && to.is_none() && statuses.is_empty() {
                bail!("give an instance id, or --created-from, --created-to or --status to purge by filter");
            }
            if let Some(live) = statuses.iter().find(|s| !s.is_terminal()) {
                bail!("--status: {live} instances are live and cannot be purged (finished statuses: Completed, Failed, Terminated, Canceled)");
            }
            if let (Some(f), Some(t)) = (from, to) {
                if f > t {
                    bail!("--created-from is after --created-to");
                }
            }
            let client = ctx.client().await?;
            ctx.check(client.purge_where(from, to, &statuses).await)
                .await?
        }
    };
    if args.json {
        print_json(&result)?;
    } else {
        println!("{}", summary(&result));
    }
    Ok(())
}

fn summary(r: &PurgeResult) -> String {
    let plural = |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    format!(
        "purged {}, {}, {}",
        plural(r.instances_deleted, "instance", "instances"),
        plural(r.history_rows_deleted, "history row", "history rows"),
        plural(r.blobs_deleted, "blob", "blobs")
    )
}
