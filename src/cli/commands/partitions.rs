//! `taskhub partitions`: who owns each partition — owner, requested next owner, lease expiry,
//! draining state — and how deep its control queue is.

use crate::backend::PartitionsTable;
use crate::cli::output::{opt, opt_time, print_json, print_table, yes_no};
use crate::cli::Context;
use anyhow::{Context as _, Result};
use clap::Args;
use serde::Serialize;

#[derive(Debug, Args)]
pub struct PartitionsArgs {
    /// Print the partitions as JSON.
    #[arg(long)]
    json: bool,
}

/// One partition as shown.
#[derive(Debug, Serialize)]
struct PartitionView {
    partition: String,
    owner: Option<String>,
    next_owner: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    owned_since: Option<time::OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    last_renewal: Option<time::OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    expires_at: Option<time::OffsetDateTime>,
    expired: bool,
    draining: bool,
    queue_length: Option<u64>,
}

pub async fn run(args: PartitionsArgs, ctx: &mut Context) -> Result<()> {
    let hub = ctx.task_hub().await?;
    let names = hub.names();
    let table = PartitionsTable::new(hub.storage(), &names.partitions_table());
    let leases = match table.read_all().await {
        Ok(l) => l,
        Err(crate::backend::Error::Storage(e)) if e.is_not_found() => anyhow::bail!(
            "task hub {} does not exist; create it with `taskhub hub create`",
            names.hub()
        ),
        Err(e) => return Err(e).context("reading the partitions table"),
    };
    let now = time::OffsetDateTime::now_utc();
    let mut views = Vec::new();
    for q in names.control_queues() {
        let lease = leases.iter().find(|l| l.partition == q);
        let queue_length = hub.storage().queue(&q).approximate_length().await.ok();
        views.push(PartitionView {
            partition: q.clone(),
            owner: lease.and_then(|l| l.current_owner.clone()),
            next_owner: lease.and_then(|l| l.next_owner.clone()),
            owned_since: lease.and_then(|l| l.owned_since),
            last_renewal: lease.and_then(|l| l.last_renewal),
            expires_at: lease.and_then(|l| l.expires_at),
            expired: lease.is_some_and(|l| {
                l.current_owner.is_some() && l.expires_at.is_none_or(|t| t <= now)
            }),
            draining: lease.is_some_and(|l| l.is_draining),
            queue_length,
        });
    }
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
