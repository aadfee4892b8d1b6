//! `taskhub raise <id> <event-name> [JSON]`: raises an external event on a live instance.

use crate::cli::input::{check_json, instance_id};
use crate::cli::output::{printable, status};
use crate::cli::Context;
use anyhow::Result;
use clap::Args;

#[derive(Debug, Args)]
pub struct RaiseArgs {
    /// The instance id.
    id: String,

    /// The event's name (what the orchestration waits for; matched ignoring case).
    event_name: String,

    /// The event's data as JSON text, e.g. '"approved"' or '{"amount":3}'. Default: no data.
    data: Option<String>,
}

pub async fn run(args: RaiseArgs, ctx: &mut Context) -> Result<()> {
    let id = instance_id(&args.id)?;
    if let Some(d) = &args.data {
        check_json("the event data", d)?;
    }
    let client = ctx.client().await?;
    ctx.check(
        client
            .raise_event(id, &args.event_name, args.data.as_deref())
            .await,
    )
    .await?;
    status(format!(
        "event '{}' sent to instance '{}'",
        printable(&args.event_name),
        printable(id)
    ));
    Ok(())
}
