//! `taskhub scale`: how many workers the hub wants now, from its queue depths and message ages
//! (`backend::scale`), and why. Reads only: one Partitions query and one or two requests per
//! queue.

use crate::backend::scale::{recommend, ScaleAction, ScaleRecommendation, ScaleSample};
use crate::backend::ScaleSettings;
use crate::cli::output::{duration, print_json, print_table};
use crate::cli::Context;
use crate::worker::WorkerOptions;
use anyhow::{Context as _, Result};
use clap::Args;
use serde::Serialize;
use std::time::Duration;

fn defaults() -> WorkerOptions {
    WorkerOptions::default()
}

#[derive(Debug, Args)]
pub struct ScaleArgs {
    /// Activities one worker runs at once (its `worker --max-activities`).
    #[arg(long, value_name = "N", default_value_t = defaults().max_concurrent_activities as u32,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    max_activities: u32,

    /// Orchestration turns one worker runs at once (its `worker --max-orchestrations`).
    #[arg(long, value_name = "N", default_value_t = defaults().max_concurrent_orchestrations as u32,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    max_orchestrations: u32,

    /// The workers' `--max-poll-interval-ms`: a message older than this while workers run
    /// counts as late. Default: 2000 for control queues, 10000 for the work-item queue.
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(10..=60_000))]
    max_poll_interval_ms: Option<u64>,

    /// Print JSON: the recommendation (target_workers, current_workers, action, reason, basis)
    /// with the sample and the settings it was computed from.
    #[arg(long)]
    json: bool,
}

impl ScaleArgs {
    fn settings(&self) -> ScaleSettings {
        let d = ScaleSettings::from(&defaults());
        let poll = self.max_poll_interval_ms.map(Duration::from_millis);
        ScaleSettings {
            max_orchestrations: self.max_orchestrations,
            max_activities: self.max_activities,
            control_poll_interval: poll.unwrap_or(d.control_poll_interval),
            work_item_poll_interval: poll.unwrap_or(d.work_item_poll_interval),
        }
    }
}

/// What `--json` prints.
#[derive(Serialize)]
struct ScaleView<'a> {
    hub: String,
    #[serde(flatten)]
    recommendation: &'a ScaleRecommendation,
    sample: &'a ScaleSample,
    settings: &'a ScaleSettings,
}

pub async fn run(args: ScaleArgs, ctx: &mut Context) -> Result<()> {
    let settings = args.settings();
    let hub = ctx.task_hub().await?;
    let sample = match hub.scale_sample().await {
        Ok(s) => s,
        Err(crate::backend::Error::Storage(e)) if e.is_not_found() => anyhow::bail!(
            "task hub {} does not exist; create it with `taskhub hub create`",
            hub.names().hub()
        ),
        Err(e) => return Err(e).context("sampling the hub's queues"),
    };
    let recommendation = recommend(&sample, &settings);
    if args.json {
        return print_json(&ScaleView {
            hub: hub.names().hub().to_string(),
            recommendation: &recommendation,
            sample: &sample,
            settings: &settings,
        });
    }
    let action = match recommendation.action {
        ScaleAction::ScaleOut => "scale out",
        ScaleAction::ScaleIn => "scale in",
        ScaleAction::None => "keep",
    };
    println!(
        "workers now: {} (partition owners)",
        recommendation.current_workers
    );
    println!("target:      {} ({action})", recommendation.target_workers);
    println!("why:         {}", recommendation.reason);
    println!();
    let rows: Vec<Vec<String>> = sample
        .control_queues
        .iter()
        .chain(std::iter::once(&sample.work_items))
        .map(|q| {
            vec![
                q.name.clone(),
                q.waiting().to_string(),
                q.length.to_string(),
                q.oldest_age
                    .and_then(|a| time::Duration::try_from(a).ok())
                    .map(duration)
                    .unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    print_table(&["QUEUE", "WAITING", "LENGTH", "OLDEST"], &rows);
    Ok(())
}
