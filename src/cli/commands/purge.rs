//! `taskhub purge <id>` or `taskhub purge --older-than 7d --status …`: deletes finished
//! instances (history rows, Instances row, blobs) and prints what went. A purge by filter runs
//! in budgeted calls (`Client::purge_page`), showing progress on stderr between them; stopped by
//! `--max-time` or Ctrl-C, it prints the token that resumes it.

use std::io::IsTerminal as _;
use std::time::Duration;

use crate::backend::{PurgeFilter, PurgeResult};
use crate::cli::input::{instance_id, parse_duration, parse_opt_time, parse_statuses};
use crate::cli::output::{self, print_json};
use crate::cli::Context;
use crate::client::{Client, Error};
use anyhow::{bail, Context as _, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::time::Instant;

#[derive(Debug, Args)]
#[command(
    after_help = "Give either an instance id or at least one filter. Live instances \
    (Pending, Running, Suspended) are never purged; terminate them first. A purge by filter \
    works in calls of --budget each and can be stopped (--max-time, Ctrl-C) and resumed with \
    the same filter and --continuation."
)]
pub struct PurgeArgs {
    /// Purge this one instance (it must have finished).
    #[arg(conflicts_with_all = ["created_from", "created_to", "older_than", "status", "continuation"])]
    id: Option<String>,

    /// Only instances created at or after this RFC 3339 time (e.g. 2024-05-01T00:00:00Z).
    #[arg(long, value_name = "TIME")]
    created_from: Option<String>,

    /// Only instances created at or before this RFC 3339 time.
    #[arg(long, value_name = "TIME")]
    created_to: Option<String>,

    /// Only instances created more than this long ago: 30s, 15m, 12h, 7d (instead of
    /// --created-to).
    #[arg(long, value_name = "AGE", allow_hyphen_values = true)]
    older_than: Option<String>,

    /// Only instances with these final statuses, comma-separated: Completed, Failed,
    /// Terminated, Canceled. Default: all four.
    #[arg(long, value_name = "STATUS,...", value_delimiter = ',')]
    status: Vec<String>,

    /// With an instance id: also every sub-orchestration below it (refused, with nothing
    /// deleted, while any of them is still live).
    #[arg(long)]
    recursive: bool,

    /// A purge by filter: how long each call to the hub may work before it reports progress.
    #[arg(long, value_name = "DURATION", default_value = "5s")]
    budget: String,

    /// A purge by filter: stop after about this long and print the token that resumes it.
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    max_time: Option<String>,

    /// Resume a purge by filter where it stopped (the token it printed; give the same filter).
    #[arg(long, value_name = "TOKEN")]
    continuation: Option<String>,

    /// Print what was deleted as JSON (with `continuation` when stopped before the end).
    #[arg(long)]
    json: bool,
}

/// What `--json` prints.
#[derive(Serialize)]
struct Summary {
    #[serde(flatten)]
    result: PurgeResult,
    /// The token that resumes the purge, when it stopped before the end.
    continuation: Option<String>,
    /// Stopped by Ctrl-C (the command then fails after printing what it did).
    #[serde(skip)]
    interrupted: bool,
}

pub async fn run(args: PurgeArgs, ctx: &mut Context) -> Result<()> {
    if args.recursive && args.id.is_none() {
        // (clap's `requires` is not enforced for a flag beside a positional with conflicts.)
        bail!("--recursive purges one instance's tree: give the instance id");
    }
    let summary = match &args.id {
        Some(id) => {
            let id = instance_id(id)?;
            let client = ctx.client().await?;
            let r = if args.recursive {
                client.purge_recursive(id).await
            } else {
                client.purge(id).await
            };
            let r = ctx.check(r).await?;
            if r.instances_deleted == 0 {
                return ctx.check(Err(Error::NotFound(id.to_string()))).await;
            }
            Summary {
                result: r,
                continuation: None,
                interrupted: false,
            }
        }
        None => {
            let plan = Plan::from_args(&args)?;
            // Listening from here on, a Ctrl-C between two calls is not lost either.
            let mut interrupt =
                signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
            let client = ctx.client().await?;
            match plan.run(&client, &mut interrupt).await {
                Err(e) => return ctx.check(Err(e)).await,
                Ok(s) => s,
            }
        }
    };
    if args.json {
        print_json(&summary)?;
    } else {
        println!("{}", line(&summary.result));
    }
    if let Some(token) = &summary.continuation {
        output::status(format!(
            "stopped before the end; resume with the same filter and --continuation {token}"
        ));
    }
    if summary.interrupted {
        bail!("interrupted");
    }
    Ok(())
}

/// A purge by filter, checked: nothing is sent before every option is.
struct Plan {
    filter: PurgeFilter,
    budget: Duration,
    max_time: Option<Duration>,
    continuation: Option<String>,
}

impl Plan {
    fn from_args(args: &PurgeArgs) -> Result<Plan> {
        let from = parse_opt_time("--created-from", args.created_from.as_deref())?;
        let mut to = parse_opt_time("--created-to", args.created_to.as_deref())?;
        if let Some(age) = &args.older_than {
            if to.is_some() {
                bail!("--older-than and --created-to both set the newest creation time: give one");
            }
            let age = time::Duration::try_from(parse_duration("--older-than", age)?)?;
            to = Some(time::OffsetDateTime::now_utc() - age);
        }
        let statuses = parse_statuses("--status", &args.status)?;
        if from.is_none() && to.is_none() && statuses.is_empty() {
            bail!("give an instance id, or --created-from, --created-to, --older-than or --status to purge by filter");
        }
        if let Some(live) = statuses.iter().find(|s| !s.is_terminal()) {
            bail!("--status: {live} instances are live and cannot be purged (finished statuses: Completed, Failed, Terminated, Canceled)");
        }
        if let (Some(f), Some(t)) = (from, to) {
            if f > t {
                bail!("--created-from is after the newest creation time asked for");
            }
        }
        let positive = |option: &str, text: &str| -> Result<Duration> {
            let d = parse_duration(option, text)?;
            if d.is_zero() {
                bail!("{option}: must be above zero");
            }
            Ok(d)
        };
        let budget = positive("--budget", &args.budget)?;
        let max_time = args
            .max_time
            .as_deref()
            .map(|t| positive("--max-time", t))
            .transpose()?;
        let continuation = match args.continuation.as_deref().map(str::trim) {
            Some("") => bail!("--continuation is empty"),
            other => other.map(str::to_string),
        };
        Ok(Plan {
            filter: PurgeFilter {
                created_from: from,
                created_to: to,
                statuses,
                ..PurgeFilter::default()
            },
            budget,
            max_time,
            continuation,
        })
    }

    /// Calls the hub until nothing is left, `--max-time` is up or Ctrl-C; shows progress between
    /// calls. A call cut short by Ctrl-C is dropped: the token of the call before it is still a
    /// position behind which everything was dealt with.
    async fn run(self, client: &Client, interrupt: &mut Signal) -> crate::client::Result<Summary> {
        let started = Instant::now();
        let progress = Progress::new();
        let mut total = PurgeResult::default();
        let mut token = self.continuation;
        let mut interrupted = false;
        loop {
            let budget = match self.max_time {
                Some(max) => self.budget.min(max.saturating_sub(started.elapsed())),
                None => self.budget,
            };
            let call = client.purge_page(&self.filter, budget, token.as_deref());
            let p = tokio::select! {
                p = call => p?,
                _ = interrupt.recv() => {
                    interrupted = true;
                    break;
                }
            };
            total.add(&p.result);
            token = p.continuation;
            if token.is_none() {
                break;
            }
            progress.show(&total, started.elapsed());
            if self.max_time.is_some_and(|max| started.elapsed() >= max) {
                break;
            }
        }
        progress.finish();
        Ok(Summary {
            result: total,
            continuation: token,
            interrupted,
        })
    }
}

/// Progress on stderr: a spinner on a terminal, otherwise a line per call.
struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    fn new() -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {elapsed:>4} {wide_msg}")
                    .expect("valid template"),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Progress { bar }
    }

    fn show(&self, total: &PurgeResult, elapsed: Duration) {
        let rate = total.instances_deleted as f64 / elapsed.as_secs_f64().max(0.001);
        let text = format!("{} so far ({rate:.0} instances/s)", line(total));
        match &self.bar {
            Some(bar) => bar.set_message(text),
            None => output::status(format!("{text}, {:.1} s", elapsed.as_secs_f64())),
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

fn line(r: &PurgeResult) -> String {
    let plural = |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    format!(
        "purged {}, {}, {}",
        plural(r.instances_deleted, "instance", "instances"),
        plural(r.history_rows_deleted, "history row", "history rows"),
        plural(r.blobs_deleted, "blob", "blobs")
    )
}
