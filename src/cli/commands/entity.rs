//! `taskhub entity signal | get | list`: durable entities from the command line.

use crate::cli::input::parse_opt_time;
use crate::cli::output::{json_value, opt_time, print_json, print_table, shorten, status};
use crate::cli::Context;
use crate::core::EntityId;
use anyhow::Result;
use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum EntityCommand {
    /// Send a one-way operation to an entity (created on its first operation).
    Signal(SignalArgs),
    /// Print an entity's state.
    Get(GetArgs),
    /// List the entities that have a state.
    List(ListArgs),
}

#[derive(Debug, Args)]
pub struct SignalArgs {
    /// The entity's name, e.g. session_handler (names are case-insensitive).
    name: String,
    /// The entity's key, e.g. a user id.
    key: String,
    /// The operation, e.g. add.
    operation: String,
    /// The operation's input as JSON, e.g. 2 or '"text"'.
    input: Option<String>,
    /// Deliver no earlier than this time (RFC 3339, e.g. 2026-11-22T10:00:00Z).
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
}

#[derive(Debug, Args)]
pub struct GetArgs {
    name: String,
    key: String,
    /// Print the entity as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only entities of this name.
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// Print the entities as JSON.
    #[arg(long)]
    json: bool,
}

fn entity_id(name: &str, key: &str) -> Result<EntityId> {
    EntityId::new(name, key).map_err(|e| anyhow::anyhow!("invalid entity id: {e}"))
}

pub async fn run(command: EntityCommand, ctx: &mut Context) -> Result<()> {
    match command {
        EntityCommand::Signal(a) => {
            let id = entity_id(&a.name, &a.key)?;
            let at = parse_opt_time("--at", a.at.as_deref())?;
            let registry = ctx.registry().await?;
            if !registry.has_entity(&a.name) {
                let known = registry.entity_names().join(", ");
                eprintln!(
                    "warning: this binary's worker does not register entity {:?} (it runs: {known}); signalling it anyway for a worker that does",
                    a.name
                );
            }
            let client = ctx.client().await?;
            let r = client
                .signal_entity(&id, &a.operation, a.input.as_deref(), at)
                .await;
            ctx.check(r).await?;
            status(format!("signalled {id}: {}", a.operation));
        }
        EntityCommand::Get(a) => {
            let id = entity_id(&a.name, &a.key)?;
            let client = ctx.client().await?;
            let view = ctx.check(client.entity(&id).await).await?;
            let Some(view) = view.filter(|v| v.state.is_some()) else {
                anyhow::bail!("no such entity: {id}");
            };
            if a.json {
                return print_json(&serde_json::json!({
                    "id": view.id,
                    "name": view.name,
                    "key": view.key,
                    "state": json_value(view.state.as_deref()),
                    "lastModified": view.last_modified.map(|t| opt_time(Some(t))),
                }));
            }
            println!("{}", view.state.unwrap_or_default());
        }
        EntityCommand::List(a) => {
            let client = ctx.client().await?;
            let list = ctx
                .check(client.list_entities(a.name.as_deref()).await)
                .await?;
            if a.json {
                return print_json(&list);
            }
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|e| {
                    vec![
                        e.name.clone(),
                        e.key.clone(),
                        opt_time(e.last_modified),
                        shorten(e.state.as_deref().unwrap_or(""), 60),
                    ]
                })
                .collect();
            print_table(&["NAME", "KEY", "LAST MODIFIED", "STATE"], &rows);
        }
    }
    Ok(())
}
