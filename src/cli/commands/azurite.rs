//! `taskhub azurite`: the project's Azurite in the foreground until Ctrl-C.

use crate::azurite::{dev_ports_in_use, Azurite, AzuriteData, AzuriteOptions, DEV_PORTS};
use crate::cli::azurite::data_dir;
use crate::cli::output::status;
use crate::cli::Context;
use anyhow::{bail, Context as _, Result};
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct AzuriteArgs {
    /// Keep data in this directory (default: $TASKHUB_AZURITE_DATA, else ~/.local/share/taskhub/azurite).
    #[arg(long, value_name = "DIR", conflicts_with = "in_memory")]
    data: Option<PathBuf>,
    /// Keep nothing on disk.
    #[arg(long)]
    in_memory: bool,
}

pub async fn run(args: AzuriteArgs, _ctx: &mut Context) -> Result<()> {
    let busy = dev_ports_in_use();
    if !busy.is_empty() {
        bail!("port(s) {busy:?} on 127.0.0.1 are already in use (is Azurite already running?)");
    }
    let data = if args.in_memory {
        AzuriteData::InMemory
    } else {
        AzuriteData::Dir(args.data.unwrap_or_else(data_dir))
    };
    let where_ = match &data {
        AzuriteData::InMemory => "in memory".to_string(),
        AzuriteData::Dir(d) => format!("in {}", d.display()),
    };
    let mut azurite = Azurite::start(AzuriteOptions {
        ports: Some(DEV_PORTS),
        data,
        watch_parent: true,
        tls: None,
    })
    .await
    .context("cannot start Azurite")?;
    status(format!(
        "Azurite is running on 127.0.0.1:10000-10002 (pid {}), data {where_}; Ctrl-C stops it",
        azurite.pid()
    ));
    println!("{}", azurite.connection_string());
    tokio::select! {
        r = tokio::signal::ctrl_c() => {
            r.context("cannot listen for Ctrl-C")?;
            status("stopping Azurite");
            azurite.stop().await;
            Ok(())
        }
        exit = azurite.wait() => {
            bail!("Azurite stopped on its own ({})", exit.map_or_else(|| "unknown status".to_string(), |s| s.to_string()))
        }
    }
}
