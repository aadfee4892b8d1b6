//! `taskhub poison`: the records in `{hub}-poison` — messages that failed too often — peeked,
//! not taken.

use crate::backend::PoisonRecord;
use crate::cli::output::{print_json, print_table, printable, shorten, status, time_s};
use crate::cli::Context;
use anyhow::{Context as _, Result};
use clap::Args;

#[derive(Debug, Args)]
pub struct PoisonArgs {
    /// At most this many records (1-32: a queue peek returns at most 32).
    #[arg(long, value_name = "N", default_value_t = 32,
          value_parser = clap::value_parser!(u8).range(1..=32))]
    top: u8,

    /// Print the records as JSON (with the original message text).
    #[arg(long)]
    json: bool,
}

pub async fn run(args: PoisonArgs, ctx: &mut Context) -> Result<()> {
    let hub = ctx.task_hub().await?;
    let records = hub
        .peek_poison(args.top)
        .await
        .with_context(|| format!("reading {}", hub.names().poison_queue()))?;
    if args.json {
        print_json(&records)?;
        return Ok(());
    }
    if records.is_empty() {
        status(format!("{} is empty", hub.names().poison_queue()));
        return Ok(());
    }
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|r| {
            let (instance, event) = about(r);
            vec![
                time_s(r.inserted_on),
                r.source_queue.clone(),
                r.dequeue_count.to_string(),
                shorten(&instance, 40),
                event,
                shorten(&r.reason, 80),
            ]
        })
        .collect();
    print_table(
        &[
            "INSERTED", "QUEUE", "DEQUEUES", "INSTANCE", "EVENT", "REASON",
        ],
        &rows,
    );
    Ok(())
}

/// The instance and event type a poison record's message was about, made printable.
fn about(r: &PoisonRecord) -> (String, String) {
    match r.about() {
        Some((instance, event)) => (printable(&instance), event),
        None => ("-".into(), "-".into()),
    }
}
