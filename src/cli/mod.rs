//! The `taskhub` binary: argument parsing, logging, the shared [`Context`] every command gets, and
//! the one place errors become `error: …` and exit code 1.
//!
//! Files: `args.rs` (global options), `commands/` (one file per command; the list is in
//! `commands/mod.rs`), `azurite.rs` (starting Azurite for the development default),
//! `input.rs` (times, statuses and JSON as the user types them), `output.rs` (tables and JSON on
//! stdout, messages on stderr). Uses `anyhow`; the library does not.
//!
//! Exit codes: 0 success, 1 any error (including a command line clap refuses: one line, not
//! clap's usual exit code 2, which `taskhub wait` uses for a failed instance). A command that
//! needs another code returns [`ExitWith`].

mod args;
mod azurite;
mod commands;
mod input;
mod output;

use crate::backend::{HubNames, TaskHub};
use crate::client::Client;
use crate::core::Registry;
use crate::storage::{Storage, StorageAccount, StorageOptions, DEV_CONNECTION_STRING};
use anyhow::{Context as _, Result};
use args::{Cli, GlobalArgs};
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;

/// Ends the command with this exit code, printing nothing more (the command has said what it
/// had to say).
#[derive(Debug)]
pub struct ExitWith(pub u8);

impl std::fmt::Display for ExitWith {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit code {}", self.0)
    }
}

impl std::error::Error for ExitWith {}

/// What a binary built on this command line runs: the seed samples (the stock `taskhub`), or
/// the orchestrations, activities and entities of a registry of your own.
#[derive(Clone)]
pub(crate) enum Hosted {
    Samples,
    Registry(Arc<Registry>),
}

/// The stock `taskhub` binary: every command, hosting the seed samples.
pub fn main() -> ExitCode {
    run_hosted(Hosted::Samples)
}

/// The `taskhub` command line for your own orchestrations, activities and entities: call it
/// from your binary's `main` to get `worker`, `serve`, `start`, `status`, `wait`, `history`,
/// `list`, `purge`, `entity`, `partitions`, `hub`, `bench` and the rest, with the same flags,
/// logs and exit codes as `taskhub`, its worker running `registry`. (The samples' own commands,
/// `pipeline` and `sample`, belong to the stock binary.)
///
/// ```no_run
/// use taskhub::prelude::*;
///
/// fn main() -> std::process::ExitCode {
///     let mut registry = Registry::new();
///     registry.add_orchestrator("Hello", |ctx: OrchestrationContext| async move {
///         let name: String = ctx.input()?;
///         let greeting: String = ctx.call_activity("Greet", name).await?;
///         Ok(greeting)
///     });
///     registry.add_activity("Greet", |_ctx, name: String| async move {
///         Ok(format!("Hello, {name}!"))
///     });
///     taskhub::cli::run(registry)
/// }
/// ```
pub fn run(registry: Registry) -> ExitCode {
    run_hosted(Hosted::Registry(Arc::new(registry)))
}

/// Parses arguments, runs the command, and turns any error into one line on stderr and exit 1.
fn run_hosted(hosted: Hosted) -> ExitCode {
    // Die quietly on a closed stdout (`taskhub hub info | head`) like other command-line tools,
    // instead of panicking in println!. An Azurite we started is stopped by its launcher.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = match parse(&hosted) {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    // Dropped last, after the runtime: flushes the spans still in the exporter's batch.
    let _tracing = match init_logging(cli.command.default_log_filter(), cli.global.log_format) {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("error: {}", output::one_line(&format!("{e:#}")));
            return ExitCode::FAILURE;
        }
    };
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
        let mut ctx = Context::new(cli.global, hosted)?;
        let result = commands::run(cli.command, &mut ctx).await;
        ctx.shutdown().await;
        result
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            if let Some(ExitWith(code)) = err.downcast_ref::<ExitWith>() {
                return ExitCode::from(*code);
            }
            eprintln!("error: {}", output::one_line(&format!("{err:#}")));
            ExitCode::FAILURE
        }
    }
}

/// The command line, as the stock binary or as a binary of its own (named after its file, the
/// samples' commands hidden).
fn parse(hosted: &Hosted) -> Result<Cli, clap::Error> {
    use clap::{CommandFactory, FromArgMatches};
    let mut command = Cli::command();
    if let Hosted::Registry(_) = hosted {
        let name = std::env::args_os()
            .next()
            .and_then(|a| {
                std::path::Path::new(&a)
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
            })
            .unwrap_or_else(|| "taskhub".into());
        // Once per process: clap keeps the name for the life of the command.
        let name: &'static str = Box::leak(name.into_boxed_str());
        command = command
            .name(name)
            .bin_name(name)
            .about("Run and manage durable orchestrations on an Azure Storage task hub")
            .long_about(
                "Run and manage durable orchestrations on an Azure Storage task hub (or Azurite), \
                 with this binary's orchestrations, activities and entities.\n\n\
                 With the development connection string (the default) and nothing listening on \
                 127.0.0.1:10000-10002, it starts Azurite in the background for the duration of \
                 the command, if the project's Azurite is installed.",
            )
            .mut_subcommand("pipeline", |c| c.hide(true))
            .mut_subcommand("sample", |c| c.hide(true));
    }
    let matches = command.try_get_matches()?;
    Cli::from_arg_matches(&matches)
}

/// A command line clap refuses: its message in one line on stderr, exit 1. `--help` and
/// `--version` print as usual and exit 0.
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            ExitCode::SUCCESS
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            ExitCode::FAILURE
        }
        _ => {
            eprintln!("{}", clap_one_line(&e.render().to_string()));
            ExitCode::FAILURE
        }
    }
}

/// Folds clap's several-line message into one: the first paragraph, then its tips, then where
/// to look.
fn clap_one_line(text: &str) -> String {
    let mut paragraphs = text.split("\n\n");
    let first: Vec<&str> = paragraphs
        .next()
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let mut line = first.join(" ");
    if line.is_empty() {
        line = "error: invalid command line".into();
    } else if !line.starts_with("error:") {
        line = format!("error: {line}");
    }
    for tip in text.lines().filter_map(|l| l.trim().strip_prefix("tip: ")) {
        line.push_str(&format!("; {tip}"));
    }
    let usage = command_path(std::env::args().skip(1));
    line.push_str(&format!(" (see `{usage} --help`)"));
    line
}

/// `taskhub` and the (sub)commands named on the command line, e.g. `taskhub hub info`.
fn command_path(args: impl Iterator<Item = String>) -> String {
    use clap::CommandFactory;
    let mut cmd = Cli::command();
    let mut path = vec!["taskhub".to_string()];
    for arg in args {
        let Some(sub) = cmd.find_subcommand(&arg).cloned() else {
            continue;
        };
        path.push(sub.get_name().to_string());
        cmd = sub;
    }
    path.join(" ")
}

/// Logs go to stderr; `RUST_LOG` wins over the command's default. With the `otel` feature and
/// an OTLP endpoint in the environment, spans also go to OpenTelemetry: the returned guard
/// flushes them when dropped, at the end of `main`.
fn init_logging(default: &str, format: args::LogFormat) -> Result<Option<Tracing>> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;
    // azure_core 0.21 logs each request at debug (its URL with any SAS; its headers with the
    // Authorization header, bearer token or signature, shown while all others are redacted):
    // those two targets stay at info whatever RUST_LOG says.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default))
        .add_directive(
            "azure_core::policies::transport=info"
                .parse()
                .expect("a valid directive"),
        )
        .add_directive(
            "azure_core::http_client=info"
                .parse()
                .expect("a valid directive"),
        );
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false);
    // The log filter is the fmt layer's alone: spans go to OpenTelemetry whatever is logged.
    let fmt = match format {
        args::LogFormat::Text => fmt
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_filter(filter)
            .boxed(),
        // Flattened, so `instance_id` and the message are top-level keys; the spans (turn,
        // activity) follow with their fields (`trace_id` among them when tracing is on).
        args::LogFormat::Json => fmt
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(true)
            .with_filter(filter)
            .boxed(),
    };
    let (otel, guard) = otel_layer()?;
    tracing_subscriber::registry().with(otel).with(fmt).init();
    Ok(guard)
}

#[cfg(feature = "otel")]
type Tracing = crate::telemetry::otel::Tracing;
/// Without the `otel` feature there is nothing to flush.
#[cfg(not(feature = "otel"))]
type Tracing = ();

type OtelLayer =
    Option<Box<dyn tracing_subscriber::Layer<tracing_subscriber::Registry> + Send + Sync>>;

/// The OpenTelemetry layer the `OTEL_*` variables ask for, if any.
#[cfg(feature = "otel")]
fn otel_layer() -> Result<(OtelLayer, Option<Tracing>)> {
    use tracing_subscriber::Layer;
    let Some(tracing) = crate::telemetry::otel::install_from_env()? else {
        return Ok((None, None));
    };
    // Only the spans of the trace (a client's start, a turn, an activity), not the session and
    // other bookkeeping spans, nor log events.
    let spans = tracing_subscriber::filter::filter_fn(|meta| {
        meta.is_span()
            && meta.target().starts_with("taskhub")
            && matches!(meta.name(), "start" | "turn" | "activity")
    });
    let layer = tracing_opentelemetry::layer()
        .with_tracer(tracing.tracer.clone())
        .with_tracked_inactivity(false)
        .with_filter(spans)
        .boxed();
    Ok((Some(layer), Some(tracing)))
}

#[cfg(not(feature = "otel"))]
fn otel_layer() -> Result<(OtelLayer, Option<Tracing>)> {
    Ok((None, None))
}

/// The storage connection's name, as in Durable Functions: the `AzureWebJobsStorage` setting
/// (a connection string) or its `AzureWebJobsStorage__…` settings (identity-based).
const CONNECTION_NAME: &str = "AzureWebJobsStorage";

/// What every command gets: the global options, the settings file's values, and (on first use)
/// the storage connection, starting Azurite when the development default needs it.
pub struct Context {
    /// The options every command accepts (`--connection`, `--settings`, `--hub`, ...).
    pub global: GlobalArgs,
    /// The `Values` of `--settings local.settings.json` (empty without it).
    pub settings: BTreeMap<String, String>,
    hosted: Hosted,
    storage: Option<Storage>,
    local_azurite: Option<azurite::LocalAzurite>,
}

impl Context {
    fn new(global: GlobalArgs, hosted: Hosted) -> Result<Context> {
        let settings = match &global.settings {
            Some(path) => read_settings(path)?,
            None => BTreeMap::new(),
        };
        Ok(Context {
            global,
            settings,
            hosted,
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
            .or_else(|| self.settings.get(CONNECTION_NAME).cloned())
            .unwrap_or_else(|| DEV_CONNECTION_STRING.to_string())
    }

    /// The storage account: [`Self::connection_string`] when one is given anywhere, else an
    /// identity-based `AzureWebJobsStorage__…` connection from the environment or the settings
    /// file (as Durable Functions reads it), else the development default.
    pub fn account(&self) -> Result<StorageAccount> {
        if self.global.connection.is_none() && !self.settings.contains_key(CONNECTION_NAME) {
            if let Some(account) = StorageAccount::from_settings(CONNECTION_NAME, std::env::vars())?
            {
                return Ok(account);
            }
            if let Some(account) = StorageAccount::from_settings(CONNECTION_NAME, &self.settings)? {
                return Ok(account);
            }
        }
        Ok(StorageAccount::parse(&self.connection_string())?)
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
        let account = self.account()?;
        if account.is_development_default() && self.local_azurite.is_none() {
            self.local_azurite = azurite::start_if_needed(self.global.keep_azurite).await?;
        }
        let mut options = StorageOptions::default();
        if let Some(path) = &self.global.storage_ca_cert {
            options
                .root_certificates
                .push(std::fs::read(path).with_context(|| {
                    format!("cannot read --storage-ca-cert {}", path.display())
                })?);
        }
        let storage = Storage::new(account, options)?;
        self.storage = Some(storage.clone());
        Ok(storage)
    }

    /// The task hub named by `--hub` and `--partitions`.
    pub async fn task_hub(&mut self) -> Result<TaskHub> {
        Ok(TaskHub::new(self.storage().await?, self.hub_names()?))
    }

    /// A client of the hub. It starts any orchestrator name and signals any entity, as Durable
    /// Functions clients do: the workers, not the client, know what runs.
    pub async fn client(&mut self) -> Result<Client> {
        Ok(Client::new(self.task_hub().await?))
    }

    /// What this binary's worker runs: the samples (built for the hub's storage and the
    /// settings' data location) or the registry it was given.
    pub async fn registry(&mut self) -> Result<Arc<Registry>> {
        match &self.hosted {
            Hosted::Registry(r) => Ok(r.clone()),
            Hosted::Samples => {
                let config = commands::samples_config(self).await?;
                Ok(Arc::new(crate::samples::registry(&config)))
            }
        }
    }

    /// Whether this is the stock binary, which hosts the samples.
    pub fn hosts_samples(&self) -> bool {
        matches!(self.hosted, Hosted::Samples)
    }

    /// A client call's result, its error explained: when the hub itself is missing, says so
    /// instead of "no instance" or a storage 404.
    pub async fn check<T>(&mut self, result: crate::client::Result<T>) -> Result<T> {
        use crate::client::Error;
        let err = match result {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        let maybe_missing_hub = match &err {
            Error::NotFound(_) => true,
            Error::Backend(crate::backend::Error::Storage(s)) => s.is_not_found(),
            _ => false,
        };
        if maybe_missing_hub {
            let hub = self.task_hub().await?;
            if let Ok(false) = hub.instances().table().exists().await {
                anyhow::bail!(
                    "task hub {} does not exist; create it with `taskhub hub create` (or start `taskhub worker`)",
                    hub.names().hub()
                );
            }
        }
        Err(err.into())
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
