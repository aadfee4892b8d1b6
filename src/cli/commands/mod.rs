//! The commands, one file each. To add one: a variant here with its doc comment (that is its
//! `--help` line), a match arm in [`run`], and `commands/<name>.rs` with its `Args` and
//! `async fn run(args, &mut Context) -> anyhow::Result<()>`.

mod azurite;
mod hub;

use super::Context;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create, delete or inspect the task hub's queues, tables and container.
    #[command(subcommand)]
    Hub(hub::HubCommand),
    /// Run the project's Azurite in the foreground on 127.0.0.1:10000-10002 until Ctrl-C.
    Azurite(azurite::AzuriteArgs),
}

/// Runs one command.
pub async fn run(command: Command, ctx: &mut Context) -> anyhow::Result<()> {
    match command {
        Command::Hub(cmd) => hub::run(cmd, ctx).await,
        Command::Azurite(args) => azurite::run(args, ctx).await,
    }
}
