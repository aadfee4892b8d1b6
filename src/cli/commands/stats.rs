//! `taskhub stats`: how many instances there are, by status and by orchestrator name, with the
//! filters of `list`. It pages through the Instances table reading only the counted columns,
//! so it stays cheap on a large hub (one request per thousand instances).

use super::list::InstanceFilterArgs;
use crate::cli::output::{print_json, print_table, printable};
use crate::cli::Context;
use anyhow::Result;
use clap::Args;

#[derive(Debug, Args)]
pub struct StatsArgs {
    #[command(flatten)]
    filter: InstanceFilterArgs,

    /// Print JSON: {"total": N, "by_status": {...}, "by_name": {...}}.
    #[arg(long)]
    json: bool,
}

pub async fn run(args: StatsArgs, ctx: &mut Context) -> Result<()> {
    let query = args.filter.query()?;
    let client = ctx.client().await?;
    let counts = ctx.check(client.count(&query).await).await?;
    if args.json {
        return print_json(&serde_json::to_value(&counts)?);
    }
    let rows: Vec<Vec<String>> = counts
        .by_status
        .iter()
        .map(|(status, n)| vec![status.clone(), n.to_string()])
        .collect();
    print_table(&["STATUS", "INSTANCES"], &rows);
    println!();
    let mut names: Vec<(&String, &u64)> = counts.by_name.iter().collect();
    names.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let rows: Vec<Vec<String>> = names
        .into_iter()
        .map(|(name, n)| vec![printable(name), n.to_string()])
        .collect();
    print_table(&["NAME", "INSTANCES"], &rows);
    println!();
    println!("{} instances", counts.total);
    Ok(())
}
