//! `taskhub hub create | delete | info`.

use crate::backend::{HubInfo, TaskHub};
use crate::cli::output::{opt, print_json, print_table, status, yes_no};
use crate::cli::Context;
use anyhow::{Context as _, Result};
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum HubCommand {
    /// Create the hub's control queues, work-item and poison queues, History/Instances/Partitions
    /// tables, large-message and lease containers (with taskhub.json) and partition rows. Safe to
    /// repeat.
    Create,
    /// Delete every queue, table and container of the hub, with all instances and messages.
    /// Safe to repeat.
    Delete,
    /// Show the hub's queues with approximate lengths, its tables and containers, each
    /// partition's control-queue depth and lease owner, and the poison count. Creates nothing.
    Info {
        /// Print JSON instead of tables.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(cmd: HubCommand, ctx: &mut Context) -> Result<()> {
    let names = ctx.hub_names()?;
    let hub_name = names.hub().to_string();
    let hub = TaskHub::new(ctx.storage().await?, names);
    match cmd {
        HubCommand::Create => {
            hub.create()
                .await
                .with_context(|| format!("creating task hub {hub_name}"))?;
            status(format!(
                "task hub {hub_name} is ready ({} partitions)",
                hub.names().partition_count()
            ));
        }
        HubCommand::Delete => {
            hub.delete()
                .await
                .with_context(|| format!("deleting task hub {hub_name}"))?;
            status(format!("task hub {hub_name} deleted"));
        }
        HubCommand::Info { json } => {
            let info = hub
                .info()
                .await
                .with_context(|| format!("reading task hub {hub_name}"))?;
            if json {
                print_json(&info)?;
            } else {
                print_info(&info);
            }
        }
    }
    Ok(())
}

fn print_info(info: &HubInfo) {
    let state = if info.complete {
        "complete"
    } else if info.absent {
        "does not exist"
    } else {
        "incomplete"
    };
    println!(
        "Task hub {} on account {}: {} partitions, {state}",
        info.hub, info.account, info.partition_count
    );
    println!();
    let queues: Vec<Vec<String>> = info
        .queues
        .iter()
        .map(|q| {
            vec![
                q.name.clone(),
                q.role.to_string(),
                yes_no(q.exists),
                opt(q.approximate_length),
            ]
        })
        .collect();
    print_table(&["QUEUE", "ROLE", "EXISTS", "MESSAGES"], &queues);
    println!();
    let mut resources: Vec<Vec<String>> = info
        .tables
        .iter()
        .map(|t| {
            vec![
                t.name.clone(),
                format!("table ({})", t.role),
                yes_no(t.exists),
            ]
        })
        .collect();
    resources.extend(info.containers.iter().map(|c| {
        vec![
            c.name.clone(),
            format!("container ({})", c.role),
            yes_no(c.exists),
        ]
    }));
    print_table(&["TABLE / CONTAINER", "KIND", "EXISTS"], &resources);
    println!();
    let partitions: Vec<Vec<String>> = info
        .partitions
        .iter()
        .map(|p| {
            vec![
                p.index.to_string(),
                p.control_queue.clone(),
                opt(p.queue_length),
                yes_no(p.lease_row),
                p.owner.clone().unwrap_or_else(|| "-".into()),
                opt(p.expires_at),
            ]
        })
        .collect();
    print_table(
        &[
            "PARTITION",
            "CONTROL QUEUE",
            "MESSAGES",
            "ROW",
            "OWNER",
            "EXPIRES",
        ],
        &partitions,
    );
    println!();
    let poison_queue = info
        .queues
        .iter()
        .find(|q| q.role == "poison")
        .map_or("", |q| q.name.as_str());
    match info.poison_count {
        Some(n) => println!(
            "Poison messages: {n} in {poison_queue}{}",
            if n > 0 {
                " (`taskhub poison` lists them)"
            } else {
                ""
            }
        ),
        None => println!("Poison messages: - ({poison_queue} does not exist)"),
    }
}
