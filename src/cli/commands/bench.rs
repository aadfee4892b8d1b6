//! `taskhub bench <scenario>`: runs one benchmark scenario against the hub's storage (the
//! auto-started Azurite by default, or `--connection`), prints the report, and writes it as JSON
//! to `--out` (default `target/bench/<scenario>.json`). `cargo bench --bench scenarios` runs the
//! same scenarios, each on a fresh Azurite.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use clap::Args;
use taskhub::bench::{BenchOptions, Scenario};
use taskhub::worker::WorkerOptions;

use crate::cli::Context;

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// sequence | fanout | hello | pipeline | idle | azurite | kill
    #[arg(value_parser = parse_scenario)]
    scenario: Scenario,
    /// Size: activities (sequence 100, fanout 1000), orchestrations (hello 1000, kill 300),
    /// seconds (idle 60); pipeline and azurite have a fixed size.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    size: Option<u64>,
    /// Where to write the JSON report [default: target/bench/<scenario>.json].
    #[arg(long, value_name = "PATH")]
    out: Option<PathBuf>,
}

fn parse_scenario(s: &str) -> Result<Scenario, String> {
    Scenario::parse(s).ok_or_else(|| {
        let names: Vec<&str> = Scenario::ALL.iter().map(|s| s.name()).collect();
        format!("unknown scenario {s:?}; one of {}", names.join(", "))
    })
}

pub async fn run(args: BenchArgs, ctx: &mut Context) -> Result<()> {
    // Starts the project's Azurite first when the connection is the development default.
    ctx.storage().await?;
    let options = BenchOptions {
        connection_string: ctx.connection_string(),
        partitions: ctx.global.partitions,
        worker: WorkerOptions::default(),
        size: args.size,
        taskhub_exe: std::env::current_exe().ok(),
    };
    let report = taskhub::bench::run(args.scenario, &options)
        .await
        .with_context(|| format!("benchmark {}", args.scenario.name()))?;
    print!("{}", report.to_text());
    let out = args.out.unwrap_or_else(|| {
        PathBuf::from("target/bench").join(format!("{}.json", args.scenario.name()))
    });
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(&out, serde_json::to_string_pretty(&report)?)
        .with_context(|| format!("writing {}", out.display()))?;
    eprintln!("report written to {}", out.display());
    Ok(())
}
