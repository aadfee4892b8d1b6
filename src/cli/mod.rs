//! The `taskhub` binary: argument parsing, logging, the shared [`Context`] every command gets, and
//! the one place errors become `error: …` and exit code 1.
//!
//! Files: `args.rs` (global options), `commands/` (one file per command; the list is in
//! `commands/mod.rs`), `azurite.rs` (starting Azurite for the development default),
//! `output.rs` (tables and JSON on stdout, messages on stderr). Uses `anyhow`; the library does not.

mod args;
mod azurite;
mod commands;
mod output;

use anyhow::{Context as _, Result};
use args::{Cli, GlobalArgs};
use clap::Parser;
use std::collections::BTreeMap;
use std::process::ExitCode;
use taskhub::backend::HubNames;
use taskhub::storage::{Storage, StorageAccount, StorageOptions, DEV_CONNECTION_STRING};

/// Parses arguments, runs the command, and turns any error into one line on stderr and exit 1.
pub fn main() -> ExitCode {
    // Die quietly on a closed stdout (`taskhub hub info | head`) like other command-line tools,
    // instead of panicking in println!. An Azurite we started is stopped by its launcher.
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let cli = Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        let mut ctx = Context::new(cli.global)?;
        let result = commands::run(cli.command, &mut ctx).await;
        ctx.shutdown().await;
        result
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}

/// What every command gets: the global options, the settings file's values, and (on first use)
/// the storage connection, starting Azurite when the development default needs it.
pub struct Context {
    pub global: GlobalArgs,
    /// The `Values` of `--settings local.settings.json` (empty without it).
    pub settings: BTreeMap<String, String>,
    storage: Option<Storage>,
    local_azurite: Option<azurite::LocalAzurite>,
}

impl Context {
    fn new(global: GlobalArgs) -> Result<Context> {
        let settings = match &global.settings {
            Some(path) => read_settings(path)?,
            None => BTreeMap::new(),
        };
        Ok(Context {
            global,
            settings,
            storage: None,
            local_azurite: None,
        })
    }

    /// A value from the settings file, e.g. `DataStorage`.
    #[allow(dead_code)] // for the commands that read DataStorage, DataContainer, …
    pub fn setting(&self, name: &str) -> Option<&str> {
        self.settings.get(name).map(String::as_str)
    }

    /// `--connection`, else `AzureWebJobsStorage` from the environment, else from the settings
    /// file, else the development default.
    pub fn connection_string(&self) -> String {
        self.global
            .connection
            .clone()
            .or_else(|| self.settings.get("AzureWebJobsStorage").cloned())
            .unwrap_or_else(|| DEV_CONNECTION_STRING.to_string())
    }

    /// The hub's names from `--hub` and `--partitions`.
    pub fn hub_names(&self) -> Result<HubNames> {
        Ok(HubNames::new(&self.global.hub, self.global.partitions)?)
    }

    /// The storage account, connected on first use. For the development default with nothing on
    /// 127.0.0.1:10000–10002, starts the project's Azurite first.
    pub async fn storage(&mut self) -> Result<Storage> {
        if let Some(s) = &self.storage {
            return Ok(s.clone());
        }
        let account = StorageAccount::parse(&self.connection_string())?;
        if account.is_development_default() && self.local_azurite.is_none() {
            self.local_azurite = azurite::start_if_needed(self.global.keep_azurite).await?;
        }
        let storage = Storage::new(account, StorageOptions::default())?;
        self.storage = Some(storage.clone());
        Ok(storage)
    }

    /// Stops the Azurite we started (unless `--keep-azurite`).
    async fn shutdown(&mut self) {
        if let Some(local) = self.local_azurite.take() {
            local.finish().await;
        }
    }
}

fn read_settings(path: &std::path::Path) -> Result<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read settings file {}", path.display()))?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("settings file {} is not valid JSON", path.display()))?;
    let values = match json.get("Values") {
        Some(serde_json::Value::Object(m)) => m,
        Some(_) => anyhow::bail!(
            "settings file {}: `Values` is not an object",
            path.display()
        ),
        None => anyhow::bail!("settings file {} has no `Values` object", path.display()),
    };
    Ok(values
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string()),
            )
        })
        .collect())
}
