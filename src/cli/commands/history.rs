//! `taskhub history <id>`: the history of the instance's current execution as a table — position,
//! event type, name, ids, timestamp, the time from a scheduled task, timer or sub-orchestration to
//! its completion, and the input or result shortened — or as JSON (the `HistoryEvent` form).

use crate::cli::input::instance_id;
use crate::cli::output::{duration, print_json, print_table, printable, shorten, time_ms};
use crate::cli::Context;
use crate::client::Error;
use crate::core::history_view;
use crate::core::HistoryEvent;
use anyhow::Result;
use clap::Args;

/// Longest detail (input, result, reason) in the table.
const MAX_DETAIL_CHARS: usize = 72;

#[derive(Debug, Args)]
#[command(
    after_help = "Columns: # (position), EVENT (EventType), NAME (for completions: the \
    name of what they complete), EVENTID (ids handed out to scheduled work), SCHEDULEDID \
    (TaskScheduledId or TimerId: the EventId a completion refers to), TIMESTAMP (UTC), DURATION \
    (on a completion: time since its scheduling event), DETAIL (input, result or reason, \
    shortened; --json shows everything)."
)]
pub struct HistoryArgs {
    /// The instance id.
    id: String,

    /// Print the events as a JSON array (DTFx field names, every value in full).
    #[arg(long)]
    json: bool,
}

pub async fn run(args: HistoryArgs, ctx: &mut Context) -> Result<()> {
    let id = instance_id(&args.id)?;
    let client = ctx.client().await?;
    let events = ctx.check(client.history(id).await).await?;
    if events.is_empty() {
        // No history yet: a Pending instance has none; a missing one is an error.
        let status = ctx.check(client.status(id, false).await).await?;
        if status.is_none() {
            return ctx.check(Err(Error::NotFound(id.to_string()))).await;
        }
    }
    if args.json {
        print_json(&events)?;
    } else if events.is_empty() {
        crate::cli::output::status(format!(
            "instance '{}' has no history yet (it has not started)",
            printable(id)
        ));
    } else {
        print_history(&events);
    }
    Ok(())
}

/// Prints a history as a table.
pub fn print_history(events: &[HistoryEvent]) {
    print_table(
        &[
            "#",
            "EVENT",
            "NAME",
            "EVENTID",
            "SCHEDULEDID",
            "TIMESTAMP",
            "DURATION",
            "DETAIL",
        ],
        &rows(events),
    );
}

fn rows(events: &[HistoryEvent]) -> Vec<Vec<String>> {
    history_view::rows(events)
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            vec![
                i.to_string(),
                r.event.event_type().to_string(),
                shorten(r.name.unwrap_or(""), 40),
                if r.event.event_id >= 0 {
                    r.event.event_id.to_string()
                } else {
                    String::new()
                },
                r.completes.map(|id| id.to_string()).unwrap_or_default(),
                time_ms(r.event.timestamp),
                r.duration.map(duration).unwrap_or_default(),
                shorten(&r.detail, MAX_DETAIL_CHARS),
            ]
        })
        .collect()
}
