//! `taskhub status <id>`: an instance's status, input, output and custom status, and optionally
//! its history. Also the status printing `taskhub wait` shares.

use crate::backend::InstanceStatus;
use crate::cli::input::instance_id;
use crate::cli::output::{json_value, opt_time, print_json, printable, shorten};
use crate::cli::Context;
use crate::client::{Client, Error};
use crate::core::tags::tags_from_json;
use anyhow::Result;
use clap::Args;
use serde_json::Value;

/// Longest input, output or custom status shown in the human form.
const MAX_VALUE_CHARS: usize = 200;

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The instance id.
    id: String,

    /// Also show the input (fetched from its blob when large).
    #[arg(long)]
    show_input: bool,

    /// Also show the history of the current execution (as `taskhub history` prints it).
    #[arg(long)]
    show_history: bool,

    /// Print JSON: every column, values in full, input/output/custom status as JSON values
    /// (text that is not JSON, such as a failure message, as a string).
    #[arg(long)]
    json: bool,
}

pub async fn run(args: StatusArgs, ctx: &mut Context) -> Result<()> {
    let id = instance_id(&args.id)?;
    let client = ctx.client().await?;
    let status = read(ctx, &client, id, args.show_input).await?;
    let history = if args.show_history {
        Some(ctx.check(client.history(id).await).await?)
    } else {
        None
    };
    if args.json {
        let mut v = status_json(&status);
        if let Some(h) = &history {
            v["history"] = serde_json::to_value(h)?;
        }
        print_json(&v)?;
    } else {
        print_status(&status, args.show_input);
        if let Some(h) = history {
            println!();
            super::history::print_history(&h);
        }
    }
    Ok(())
}

/// The instance's status with its output resolved (and its input when `show_input`), or
/// "no instance".
pub async fn read(
    ctx: &mut Context,
    client: &Client,
    id: &str,
    show_input: bool,
) -> Result<InstanceStatus> {
    let found = client
        .status(id, show_input)
        .await
        .and_then(|s| s.ok_or_else(|| Error::NotFound(id.to_string())));
    let mut status = ctx.check(found).await?;
    if !show_input {
        if let Some(out) = status.output.as_deref() {
            if let Some(full) = client.hub().instances().fetch_if_url(out).await? {
                status.output = Some(full);
            }
        }
    }
    Ok(status)
}

/// The status as JSON: the Instances columns, with input, output and custom status as values.
pub fn status_json(s: &InstanceStatus) -> Value {
    let mut v = serde_json::to_value(s).unwrap_or(Value::Null);
    v["input"] = json_value(s.input.as_deref());
    v["output"] = json_value(s.output.as_deref());
    v["custom_status"] = json_value(s.custom_status.as_deref());
    // Tags as an object (`{}` when none), not their stored text.
    v["tags"] = serde_json::to_value(tags_from_json(s.tags.as_deref())).unwrap_or(Value::Null);
    v
}

/// The status as aligned `Label  value` lines; long values shortened.
pub fn print_status(s: &InstanceStatus, show_input: bool) {
    let mut lines: Vec<(&str, String)> = vec![
        ("Instance", printable(&s.instance_id)),
        ("Name", printable(&s.name)),
        ("Status", s.runtime_status.to_string()),
        ("Created", opt_time(s.created_time)),
        ("Last updated", opt_time(s.last_updated_time)),
        ("Completed", opt_time(s.completed_time)),
    ];
    if s.scheduled_start_time.is_some() {
        lines.push(("Scheduled start", opt_time(s.scheduled_start_time)));
    }
    if let Some(e) = &s.execution_id {
        lines.push(("Execution", e.clone()));
    }
    if let Some(v) = s.version.as_deref().filter(|v| !v.is_empty()) {
        lines.push(("Version", printable(v)));
    }
    let tags = tags_from_json(s.tags.as_deref());
    if !tags.is_empty() {
        let pairs: Vec<String> = tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
        lines.push(("Tags", shorten(&pairs.join(", "), 200)));
    }
    if show_input {
        lines.push(("Input", value(s.input.as_deref())));
    }
    lines.push(("Output", value(s.output.as_deref())));
    lines.push(("Custom status", value(s.custom_status.as_deref())));
    let width = lines.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
    for (label, text) in lines {
        println!("{label:<width$}  {text}");
    }
}

/// A stored value for people: `-` when absent, shortened when long.
fn value(text: Option<&str>) -> String {
    match text {
        None | Some("") => "-".into(),
        Some(t) => {
            let n = t.chars().count();
            if n > MAX_VALUE_CHARS {
                format!(
                    "{} ({n} characters; --json shows all)",
                    shorten(t, MAX_VALUE_CHARS)
                )
            } else {
                printable(t)
            }
        }
    }
}
