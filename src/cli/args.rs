//! Command-line arguments: the top-level parser and the options every command shares.

use crate::backend::{DEFAULT_HUB_NAME, DEFAULT_PARTITION_COUNT, MAX_PARTITION_COUNT};
use clap::{Args, Parser};
use std::path::PathBuf;

/// taskhub: run and inspect Durable Task Framework task hubs on Azure Storage (or Azurite).
///
/// With the development connection string (the default) and nothing listening on
/// 127.0.0.1:10000-10002, taskhub starts the project's Azurite in the background for the duration
/// of the command.
#[derive(Debug, Parser)]
#[command(name = "taskhub", version, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: super::commands::Command,
}

/// Options every command accepts (listed under their own heading in each command's help).
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Storage connection string. Falls back to the AzureWebJobsStorage environment variable, then
    /// to AzureWebJobsStorage in --settings, then to an identity-based connection from
    /// AzureWebJobsStorage__accountName (__blobServiceUri, __queueServiceUri, __tableServiceUri,
    /// __credential, __clientId) in the environment or --settings, then to
    /// UseDevelopmentStorage=true (local Azurite). Without AccountKey or SharedAccessSignature it
    /// authenticates with Microsoft Entra ID (Credential=managedidentity|workloadidentity|azurecli,
    /// ClientId=…; see docs/identity.md).
    #[arg(
        long,
        global = true,
        value_name = "STRING",
        env = "AzureWebJobsStorage",
        hide_env_values = true
    )]
    pub connection: Option<String>,

    /// A PEM certificate (or bundle) to trust for storage and token endpoints besides the public
    /// roots: a private CA, or an HTTPS Azurite's self-signed certificate.
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        env = "TASKHUB_STORAGE_CA_CERT"
    )]
    pub storage_ca_cert: Option<PathBuf>,

    /// A Durable Functions local.settings.json; its Values map supplies AzureWebJobsStorage and
    /// the pipeline's settings (DataStorage, DataContainer, Step1DataSubpath, …).
    #[arg(long, global = true, value_name = "FILE")]
    pub settings: Option<PathBuf>,

    /// Task hub name: 3-45 letters or digits, starting with a letter.
    #[arg(long, global = true, value_name = "NAME", default_value = DEFAULT_HUB_NAME)]
    pub hub: String,

    /// Number of partitions (control queues), 1-16. Every worker and client of a hub must agree.
    #[arg(
        long,
        global = true,
        value_name = "N",
        default_value_t = DEFAULT_PARTITION_COUNT,
        value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_PARTITION_COUNT)),
    )]
    pub partitions: u32,

    /// Leave an Azurite that taskhub starts running after taskhub exits.
    #[arg(long, global = true)]
    pub keep_azurite: bool,

    /// Log lines on stderr as text (default) or JSON objects, one per line, for log shippers.
    #[arg(long, global = true, value_name = "FORMAT", default_value = "text")]
    pub log_format: LogFormat,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line: time, level, message, fields and the spans (with the
    /// instance id of a turn or an activity).
    Json,
}

#[cfg(test)]
mod tests {
    /// clap checks a command's definition only when it parses in a debug build, and then panics
    /// (two `--version`s in one subcommand did, once): check every subcommand here instead.
    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
