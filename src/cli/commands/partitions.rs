//! `taskhub partitions`: who owns each partition — owner, requested next owner, lease expiry,
//! draining state — and how deep its control queue is.

use crate::cli::output::{opt, opt_time, print_json, print_table, yes_no};
use crate::cli::Context;
use anyhow::{Context as _, Result};
use clap::Args;

#[derive(Debug, Args)]
pub struct PartitionsArgs {
    /// Print the partitions as JSON.
    #[arg(long)]
    json: bool,
}

pub async fn run(args: PartitionsArgs, ctx: &mut Context) -> Result<()> {
    let hub = ctx.task_hub().await?;
    let views = match hub.partition_views().await {
        Ok(v) => v,
        Err(crate::backend::Error::Storage(e)) if e.is_not_found() => anyhow::bail!(
            "task hub {} does not exist; create it with `taskhub hub create`",
            hub.names().hub()
        ),
        Err(e) => return Err(e).context("reading the partitions table"),
    };
    if args.json {
        return print_json(&views);
    }
    let rows: Vec<Vec<String>> = views
        .iter()
        .map(|v| {
            vec![
                v.partition.clone(),
                v.owner.clone().unwrap_or_else(|| "-".into()),
                v.next_owner.clone().unwrap_or_else(|| "-".into()),
                match (v.expires_at, v.expired) {
                    (Some(_), true) => "expired".into(),
                    (t, _) => opt_time(t),
                },
                yes_no(v.draining),
                opt(v.queue_length),
            ]
        })
        .collect();
    print_table(
        &[
            "PARTITION",
            "OWNER",
            "NEXT OWNER",
            "LEASE EXPIRES",
            "DRAINING",
            "QUEUE",
        ],
        &rows,
    );
    Ok(())
}
