//! `taskhub start <orchestrator>`: starts an orchestration and prints its instance id.

use crate::cli::input::{json_input, parse_opt_time, parse_tags};
use crate::cli::output::{print_json, shell_quote};
use crate::cli::Context;
use crate::client::StartRequest;
use anyhow::Result;
use clap::Args;
use serde_json::json;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct StartArgs {
    /// The orchestrator's name; it must be one the worker knows (`taskhub worker` runs the
    /// samples: HelloCities, message_orchestrator, …).
    orchestrator: String,

    /// The instance id (any text up to 100 characters, not starting with '@'). Default: a new
    /// random id. Refused while an instance with this id is Pending, Running or Suspended; a
    /// finished one is started afresh.
    #[arg(long, value_name = "ID")]
    id: Option<String>,

    /// The input, as JSON text: '"Tokyo"', '[1,2]', '{"a":1}'.
    #[arg(long, value_name = "JSON", conflicts_with = "input_file")]
    input: Option<String>,

    /// Read the input (JSON) from a file; `-` reads stdin. Large inputs are fine: they travel in
    /// blobs.
    #[arg(long, value_name = "PATH")]
    input_file: Option<PathBuf>,

    /// Start no earlier than this RFC 3339 time (e.g. 2024-05-01T10:00:00Z); until then the
    /// instance is Pending.
    #[arg(long, value_name = "TIME")]
    start_at: Option<String>,

    /// The orchestration version to start: workers run it only if their version policy
    /// accepts it, with the orchestrator code registered for that version.
    #[arg(long, value_name = "VERSION")]
    version: Option<String>,

    /// A tag kept with the instance, shown by `status` and matched by `list --tag` (repeat for
    /// several).
    #[arg(long = "tag", value_name = "KEY=VALUE")]
    tags: Vec<String>,

    /// Print a JSON object with the id and the commands that query and manage the instance.
    #[arg(long)]
    json: bool,
}

pub async fn run(args: StartArgs, ctx: &mut Context) -> Result<()> {
    let input = json_input("--input", args.input, args.input_file.as_deref())?;
    let start_at = parse_opt_time("--start-at", args.start_at.as_deref())?;
    let tags = parse_tags("--tag", &args.tags)?;
    let registry = ctx.registry().await?;
    if !registry.has_orchestrator(&args.orchestrator) {
        let known = registry.orchestrator_names().join(", ");
        eprintln!(
            "warning: this binary's worker does not register orchestrator {:?} (it runs: {known}); starting it anyway for a worker that does",
            args.orchestrator
        );
    }
    let client = ctx.client().await?;
    let request = StartRequest {
        name: args.orchestrator,
        instance_id: args.id,
        input,
        start_at,
        version: args.version.filter(|v| !v.trim().is_empty()),
        tags,
        ..Default::default()
    };
    let started = client.start(request).await;
    let id = ctx.check(started).await?;
    if args.json {
        let prefix = command_prefix(ctx);
        let q = shell_quote(&id);
        print_json(&json!({
            "id": id,
            "hub": ctx.global.hub,
            "commands": {
                "status": format!("{prefix} status {q}"),
                "wait": format!("{prefix} wait {q}"),
                "history": format!("{prefix} history {q}"),
                "raise_event": format!("{prefix} raise {q} EVENT_NAME [JSON]"),
                "terminate": format!("{prefix} terminate {q} [--reason TEXT]"),
                "purge": format!("{prefix} purge {q}"),
            },
        }))?;
    } else {
        // The id exactly as given (a script reads it back with `$(taskhub start …)`).
        println!("{id}");
    }
    Ok(())
}

/// `taskhub` with the options that pick the same hub (never the connection string: it may hold a
/// key).
fn command_prefix(ctx: &Context) -> String {
    let mut p = "taskhub".to_string();
    if ctx.global.hub != crate::backend::DEFAULT_HUB_NAME {
        p.push_str(&format!(" --hub {}", shell_quote(&ctx.global.hub)));
    }
    if ctx.global.partitions != crate::backend::DEFAULT_PARTITION_COUNT {
        p.push_str(&format!(" --partitions {}", ctx.global.partitions));
    }
    p
}
