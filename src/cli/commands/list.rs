//! `taskhub list`: instances matching status, creation-time, id-prefix, name and tag filters, a
//! page at a time. When there are more, the token for the next page goes to stderr (and into
//! `--json`).

use super::status::status_json;
use crate::backend::{EntityFilter, InstanceQuery};
use crate::cli::input::{parse_opt_time, parse_statuses, parse_tags};
use crate::cli::output::{print_json, print_table, printable, shorten, status};
use crate::cli::Context;
use anyhow::{bail, Result};
use clap::{Args, ValueEnum};
use serde_json::json;

/// Whether entity instances (`@name@key`) are listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Entities {
    /// Orchestrations only.
    Exclude,
    /// Orchestrations and entities.
    Include,
    /// Entities only.
    Only,
}

/// Which instances: the filters `list` and `stats` share.
#[derive(Debug, Args)]
pub struct InstanceFilterArgs {
    /// Only instances with one of these statuses, comma-separated: Pending, Running,
    /// Suspended, Completed, Failed, Terminated, Canceled, ContinuedAsNew (any case).
    #[arg(long, value_name = "STATUS,...", value_delimiter = ',')]
    status: Vec<String>,

    /// Only instances created at or after this RFC 3339 time (e.g. 2024-05-01T00:00:00Z).
    #[arg(long, value_name = "TIME")]
    created_from: Option<String>,

    /// Only instances created at or before this RFC 3339 time.
    #[arg(long, value_name = "TIME")]
    created_to: Option<String>,

    /// Only instance ids starting with this text.
    #[arg(long, value_name = "TEXT")]
    prefix: Option<String>,

    /// Only instances of this orchestrator name (exactly).
    #[arg(long, value_name = "NAME")]
    name: Option<String>,

    /// Only instances carrying this tag (repeat for several: all must match).
    #[arg(long = "tag", value_name = "KEY=VALUE")]
    tags: Vec<String>,

    /// Entity instances (@name@key): exclude them, include them, or take only them.
    #[arg(long, value_enum, value_name = "WHICH", default_value_t = Entities::Exclude)]
    entities: Entities,
}

impl InstanceFilterArgs {
    /// The query these filters make; a one-line error for a bad one.
    pub fn query(&self) -> Result<InstanceQuery> {
        let statuses = parse_statuses("--status", &self.status)?;
        let created_from = parse_opt_time("--created-from", self.created_from.as_deref())?;
        let created_to = parse_opt_time("--created-to", self.created_to.as_deref())?;
        if let (Some(f), Some(t)) = (created_from, created_to) {
            if f > t {
                bail!("--created-from is after --created-to");
            }
        }
        if self.name.as_deref().is_some_and(|n| n.trim().is_empty()) {
            bail!("--name is empty");
        }
        Ok(InstanceQuery {
            statuses,
            created_from,
            created_to,
            last_updated_to: None,
            last_updated_from: None,
            instance_id_prefix: self.prefix.clone().filter(|p| !p.is_empty()),
            name: self.name.clone(),
            tags: parse_tags("--tag", &self.tags)?,
            entities: match self.entities {
                Entities::Exclude => EntityFilter::Exclude,
                Entities::Include => EntityFilter::Include,
                Entities::Only => EntityFilter::Only,
            },
            show_input: false,
        })
    }
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    filter: InstanceFilterArgs,

    /// At most this many instances (1-1000).
    #[arg(long, value_name = "N", default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    top: u32,

    /// Go on from where a previous `list` stopped: the token it printed. Give the same filters.
    #[arg(long, value_name = "TOKEN")]
    continuation: Option<String>,

    /// Print JSON: {"instances": [...], "continuation": TOKEN or null}.
    #[arg(long)]
    json: bool,
}

pub async fn run(args: ListArgs, ctx: &mut Context) -> Result<()> {
    let query = args.filter.query()?;
    if args.continuation.as_deref() == Some("") {
        bail!("--continuation is empty");
    }
    let client = ctx.client().await?;
    let top = args.top as usize;
    let mut instances = Vec::new();
    let mut token = args.continuation.clone();
    // A table query may return short (even empty) pages before the end: fill up to --top.
    loop {
        let want = top.saturating_sub(instances.len()).max(1) as u32;
        let page = ctx
            .check(client.list(&query, Some(want), token.as_deref()).await)
            .await?;
        instances.extend(page.instances);
        token = page.continuation.map(|c| c.to_token());
        if token.is_none() || instances.len() >= top {
            break;
        }
    }

    if args.json {
        let list: Vec<_> = instances.iter().map(status_json).collect();
        print_json(&json!({ "instances": list, "continuation": token }))?;
    } else if instances.is_empty() {
        status("no instances match");
    } else {
        let rows: Vec<Vec<String>> = instances
            .iter()
            .map(|s| {
                vec![
                    shorten(&s.instance_id, 64),
                    printable(&s.name),
                    s.runtime_status.to_string(),
                    s.created_time
                        .map_or("-".into(), crate::cli::output::time_s),
                    s.last_updated_time
                        .map_or("-".into(), crate::cli::output::time_s),
                ]
            })
            .collect();
        print_table(&["ID", "NAME", "STATUS", "CREATED", "LAST UPDATED"], &rows);
    }
    if let Some(t) = &token {
        status(format!(
            "there may be more: add --continuation {t} for the next page"
        ));
    }
    Ok(())
}
