//! The HTTP front end: the Durable Functions HTTP API over a [`Client`], with axum.
//!
//! Serves the routes of the Durable Functions extension (`docs/http-api.md`) so that the
//! curl commands and client libraries written for Durable Functions work against a `taskhub`
//! worker:
//! - the starter `POST /api/orchestrators/{functionName}[/{instanceId}]` (202 + check-status body);
//! - everything under `/runtime/webhooks/durabletask/`: start, status, list/query, raise event,
//!   terminate, suspend, resume, rewind, restart, purge, entity signal/state/list;
//! - the web dashboard at `/dashboard` and its JSON endpoints under `/dashboard/api/`
//!   (`dashboard/`, `docs/dashboard.md`);
//! - the same routes under `/durabletask/`, the prefix of the Functions host's local RPC listener
//!   (what the Python client's `rpcBaseUrl` names there). That prefix needs no key from a loopback
//!   peer, because the Python client never sends one.
//!
//! Files: `routes/` (one module per route group), `auth.rs` (the key), `urls.rs` (management URLs
//! from the request's scheme and host), `status.rs` (the status object and history shape),
//! `error.rs` (the one place where [`crate::client::Error`] becomes a status code and a JSON
//! body), `request.rs` (query parsing as the host does it, bodies with a size limit).
//!
//! # Invariants
//! Every response body is empty or JSON (the Python client parses every body). Every check that
//! can refuse a request runs before the client writes anything. Keys never reach a log line: only
//! method and path are logged, never the query string or headers. This module talks to storage
//! only through [`Client`].

mod auth;
pub mod dashboard;
mod error;
mod request;
mod routes;
mod status;
mod urls;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use axum::extract::Request;
use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::client::Client;
use crate::telemetry::{prometheus, Health};

pub use error::ApiError;

/// The webhook path of the Durable Functions HTTP API.
pub const WEBHOOK_PATH: &str = "/runtime/webhooks/durabletask";
/// The prefix of the host's local RPC listener; the same routes.
pub const RPC_PATH: &str = "/durabletask";
/// The starter route's prefix (the seed's `HttpStart` function).
pub const STARTER_PATH: &str = "/api/orchestrators";
/// Default listen address (the Functions host's default port).
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 7071);
/// Default largest request body.
pub const DEFAULT_MAX_BODY_BYTES: usize = 8 * 1024 * 1024;
/// The connection name the management URLs carry (`connection=`); the host ignores an unknown one.
pub const DEFAULT_CONNECTION_NAME: &str = "Storage";

/// How the HTTP API is served.
#[derive(Clone)]
pub struct HttpOptions {
    /// Where to listen. Without a key and without `allow_anonymous`, a non-loopback address is
    /// replaced by the loopback address of the same family (and a log line says so).
    pub listen: SocketAddr,
    /// The key requests must carry (`code=` or `x-functions-key`); it is added to the URLs the
    /// server hands out.
    pub key: Option<String>,
    /// Serve without a key on a non-loopback address anyway.
    pub allow_anonymous: bool,
    /// Largest request body accepted; larger ones get 413.
    pub max_body_bytes: usize,
    /// The `connection=` value of the management URLs.
    pub connection_name: String,
    /// The version of orchestrations started without `version=` (Durable Functions'
    /// `defaultVersion`: a worker serving the API gives its own). Empty: none.
    pub default_version: String,
    /// The components `/readyz` checks besides storage (a worker's; see
    /// `RunningWorker::health`). Default: none.
    pub health: Health,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            listen: DEFAULT_LISTEN,
            key: None,
            allow_anonymous: false,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            connection_name: DEFAULT_CONNECTION_NAME.to_string(),
            default_version: String::new(),
            health: Health::new(),
        }
    }
}

impl fmt::Debug for HttpOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpOptions")
            .field("listen", &self.listen)
            .field("key", &self.key.as_ref().map(|_| "<redacted>"))
            .field("allow_anonymous", &self.allow_anonymous)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("connection_name", &self.connection_name)
            .field("default_version", &self.default_version)
            .field("health", &self.health)
            .finish()
    }
}

impl HttpOptions {
    /// The address actually bound: `listen`, or its loopback counterpart when there is no key
    /// and anonymous remote access was not asked for.
    pub fn effective_listen(&self) -> SocketAddr {
        if self.key.is_some() || self.allow_anonymous || self.listen.ip().is_loopback() {
            return self.listen;
        }
        let ip = match self.listen.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        };
        SocketAddr::new(ip, self.listen.port())
    }
}

/// What every handler gets. Cheap to clone.
#[derive(Clone)]
pub(crate) struct ApiState {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    options: HttpOptions,
    /// The bound address, used for URLs when a request has no usable Host header.
    local_addr: Option<SocketAddr>,
}

impl ApiState {
    fn new(client: Client, options: HttpOptions, local_addr: Option<SocketAddr>) -> Self {
        ApiState {
            inner: Arc::new(Inner {
                client,
                options,
                local_addr,
            }),
        }
    }

    pub(crate) fn client(&self) -> &Client {
        &self.inner.client
    }

    pub(crate) fn options(&self) -> &HttpOptions {
        &self.inner.options
    }

    pub(crate) fn hub_name(&self) -> &str {
        self.inner.client.hub().names().hub().as_str()
    }

    pub(crate) fn local_addr(&self) -> Option<SocketAddr> {
        self.inner.local_addr
    }

    pub(crate) fn health(&self) -> &Health {
        &self.inner.options.health
    }
}

/// The router of the whole API for `client`, without a listener (requests are normalized by
/// [`HttpServer`]; use that to serve).
fn router(state: ApiState) -> Router {
    routes::router(state)
}

/// A bound HTTP API server.
pub struct HttpServer {
    listener: TcpListener,
    addr: SocketAddr,
    app: Router,
}

impl HttpServer {
    /// Binds the listener (see [`HttpOptions::effective_listen`]) and logs where it serves and
    /// whether a key is required. The key itself is never logged.
    pub async fn bind(client: Client, options: HttpOptions) -> std::io::Result<HttpServer> {
        let wanted = options.listen;
        let listen = options.effective_listen();
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        if options.key.is_some() {
            tracing::info!(
                "HTTP API on http://{addr} (requests need the key: code= or x-functions-key)"
            );
        } else if listen != wanted {
            tracing::warn!(
                "HTTP API on http://{addr} instead of {wanted}: no HTTP key is set, so it only listens on loopback (set a key, or allow anonymous access, to listen on {wanted})"
            );
        } else if addr.ip().is_loopback() {
            tracing::warn!("HTTP API on http://{addr} without a key (loopback only)");
        } else {
            tracing::warn!(
                "HTTP API on http://{addr} without a key: anyone who can reach this address can start, stop and purge instances"
            );
        }
        prometheus::install();
        let app = router(ApiState::new(client, options, Some(addr)));
        Ok(HttpServer {
            listener,
            addr,
            app,
        })
    }

    /// Binds a server of the operator routes only (`/healthz`, `/readyz`, `/metrics`) on
    /// `listen`, any address: those routes neither reveal nor change an instance, so they need
    /// no key. For `taskhub worker --metrics ADDR`.
    pub async fn bind_operations(
        client: Client,
        listen: SocketAddr,
        health: Health,
    ) -> std::io::Result<HttpServer> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        tracing::info!("metrics and health on http://{addr} (/metrics, /healthz, /readyz)");
        prometheus::install();
        let options = HttpOptions {
            listen,
            health,
            ..HttpOptions::default()
        };
        let app = routes::operations_router(ApiState::new(client, options, Some(addr)));
        Ok(HttpServer {
            listener,
            addr,
            app,
        })
    }

    /// The bound address (with the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `shutdown` is cancelled, then finishes the requests in flight.
    pub async fn run(self, shutdown: CancellationToken) -> std::io::Result<()> {
        use axum::ServiceExt as _;
        let app = tower::ServiceExt::<Request>::map_request(self.app, request::normalize_path);
        let service = app.into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(self.listener, service)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await
    }
}
