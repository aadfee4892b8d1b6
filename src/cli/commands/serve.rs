//! `taskhub serve`: the Durable Functions HTTP API (`crate::http`) for the hub, without a
//! worker, until SIGINT or SIGTERM. Also the `--http` options of `taskhub worker`, which serves the
//! same API beside its worker.
//!
//! The key comes from `--http-key`, else the `TASKHUB_HTTP_KEY` environment variable, else
//! `TASKHUB_HTTP_KEY` in `--settings`. It is never printed.

use std::fmt;
use std::net::SocketAddr;

use crate::backend::TaskHub;
use crate::client::Client;
use crate::http::{HttpOptions, HttpServer, DEFAULT_LISTEN, DEFAULT_MAX_BODY_BYTES};
use crate::telemetry::Health;
use anyhow::{Context as _, Result};
use clap::Args;
use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;

use crate::cli::Context;

/// The setting (environment variable or `--settings` value) that holds the key.
const KEY_SETTING: &str = "TASKHUB_HTTP_KEY";

/// Options of the HTTP API.
#[derive(Args)]
pub struct HttpArgs {
    /// Serve the Durable Functions HTTP API on this address, e.g. 127.0.0.1:7071 (routes under
    /// /runtime/webhooks/durabletask and the /api/orchestrators starter; `serve` defaults to
    /// 127.0.0.1:7071).
    #[arg(long, value_name = "ADDR")]
    pub http: Option<SocketAddr>,

    /// The key HTTP requests must carry (code= or x-functions-key); the URLs the API hands
    /// out carry it. Also read from TASKHUB_HTTP_KEY in the environment or in --settings.
    /// Without a key the API listens on loopback only, unless --http-anonymous.
    #[arg(long, value_name = "KEY", env = KEY_SETTING, hide_env_values = true)]
    pub http_key: Option<String>,

    /// Without a key, listen on the --http address even when it is not loopback (anyone who
    /// can reach it can start, stop and purge instances).
    #[arg(long)]
    pub http_anonymous: bool,

    /// Largest HTTP request body in bytes; larger ones get 413.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_BODY_BYTES)]
    pub http_max_body: usize,

    /// Serve /metrics (Prometheus), /healthz and /readyz alone on this address, e.g.
    /// 0.0.0.0:9090 (no key: those routes neither show nor change instances). With --http
    /// they are served there as well.
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<SocketAddr>,
}

impl fmt::Debug for HttpArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpArgs")
            .field("http", &self.http)
            .field("http_key", &self.http_key.as_ref().map(|_| "<redacted>"))
            .field("http_anonymous", &self.http_anonymous)
            .field("http_max_body", &self.http_max_body)
            .field("metrics", &self.metrics)
            .finish()
    }
}

impl HttpArgs {
    fn options(&self, ctx: &Context, listen: SocketAddr) -> HttpOptions {
        let key = self
            .http_key
            .clone()
            .or_else(|| ctx.setting(KEY_SETTING).map(str::to_string))
            .filter(|k| !k.trim().is_empty());
        HttpOptions {
            listen,
            key,
            allow_anonymous: self.http_anonymous,
            max_body_bytes: self.http_max_body.max(1),
            ..HttpOptions::default()
        }
    }
}

/// Binds the API on `listen` and serves it in the background until `stop`.
async fn spawn(
    client: Client,
    options: HttpOptions,
    stop: CancellationToken,
) -> Result<tokio::task::JoinHandle<std::io::Result<()>>> {
    let listen = options.listen;
    let server = HttpServer::bind(client, options)
        .await
        .with_context(|| format!("cannot serve the HTTP API on {listen}"))?;
    Ok(tokio::spawn(server.run(stop)))
}

/// For `taskhub worker --http ADDR`: serves the API for the worker's hub until `stop`; nothing
/// without `--http`.
/// Orchestrations it starts without `version=` get the worker's `version`.
/// `/readyz` reports the worker's `health`. With `--metrics ADDR`, the operator routes alone
/// are served there too.
pub async fn start_beside_worker(
    args: &HttpArgs,
    ctx: &Context,
    hub: &TaskHub,
    version: &str,
    health: Health,
    stop: CancellationToken,
) -> Result<()> {
    if let Some(listen) = args.http {
        let client = Client::new(hub.clone());
        let options = HttpOptions {
            default_version: version.to_string(),
            health: health.clone(),
            ..args.options(ctx, listen)
        };
        spawn(client, options, stop.clone()).await?;
    }
    if let Some(listen) = args.metrics {
        spawn_operations(Client::new(hub.clone()), listen, health, stop).await?;
    }
    Ok(())
}

/// Binds the operator routes alone on `listen` and serves them in the background until `stop`.
async fn spawn_operations(
    client: Client,
    listen: SocketAddr,
    health: Health,
    stop: CancellationToken,
) -> Result<()> {
    let server = HttpServer::bind_operations(client, listen, health)
        .await
        .with_context(|| format!("cannot serve metrics and health on {listen}"))?;
    tokio::spawn(server.run(stop));
    Ok(())
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    http: HttpArgs,
}

/// `taskhub serve`: the API alone (default address 127.0.0.1:7071); workers run elsewhere.
pub async fn run(args: ServeArgs, ctx: &mut Context) -> Result<()> {
    let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    let client = ctx.client().await?;
    let hub_name = client.hub().names().hub().to_string();
    client
        .hub()
        .create()
        .await
        .with_context(|| format!("creating task hub {hub_name}"))?;
    let listen = args.http.http.unwrap_or(DEFAULT_LISTEN);
    let stop = CancellationToken::new();
    let options = args.http.options(ctx, listen);
    if let Some(metrics) = args.http.metrics {
        spawn_operations(client.clone(), metrics, Health::new(), stop.clone()).await?;
    }
    let mut serving = spawn(client, options, stop.clone()).await?;
    tokio::select! {
        done = &mut serving => {
            done.context("the HTTP server task panicked")?
                .context("the HTTP server stopped")?;
            anyhow::bail!("the HTTP server stopped on its own");
        }
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    tracing::info!("stopping the HTTP API");
    stop.cancel();
    Ok(())
}
