//! Storage accounts: queues, tables and blobs behind one seam, and typed handles over it.
//!
//! Owns the connection to one storage account ([`Storage`]) and the handles it gives out:
//! [`Queue`], [`Table`] (with [`Batch`] for entity-group transactions) and [`Container`]. Below
//! them is [`StorageService`] (`service.rs`), one request per call, with three implementations:
//! `azure/` (the `azure_*` crates: the only code that names their types), `memory/` (an
//! in-memory account with the same semantics, for the deterministic simulation) and `faults.rs`
//! (a decorator that fails, delays or loses the answers of chosen requests by a seeded plan).
//! Every handle call goes through [`retry::retry`] (transient failures only) and is counted in
//! [`OpCounters`] once per attempt. Errors are [`Error`]: one line, never a key or a SAS.
//!
//! Must not know about task hubs, history or messages: that is `backend`'s job.
//!
//! Files: `account.rs` (connection strings), `identity.rs` (identity-based connections: which
//! Microsoft Entra ID credential, Durable Functions' `…__accountName` settings), `error.rs`, `retry.rs`, `counters.rs`, `escape.rs`
//! (partition-key escaping, OData literals), `table.rs` (+ `entity.rs` typed property helpers),
//! `batch.rs` (transactions, checked before sending), `queue.rs`, `blob.rs` (+ gzip helpers).

pub mod account;
mod azure;
mod batch;
mod blob;
pub mod counters;
mod entity;
pub mod error;
pub mod escape;
pub mod faults;
pub mod identity;
pub mod memory;
mod queue;
pub mod retry;
pub mod service;
mod table;

pub use account::{
    Service, StorageAccount, DEV_ACCOUNT_KEY, DEV_ACCOUNT_NAME, DEV_CONNECTION_STRING,
};
pub use azure::AzureStorage;
pub use batch::Batch;
pub use blob::{gunzip, gzip, BlobItem, Container};
pub use counters::{OpCounters, OpKind};
pub use entity::{EntityExt, TableEntity};
pub use error::{Error, Result};
pub use identity::{Credential, IdentityConnection, TokenAuth};
pub use queue::{PeekedMessage, PutReceipt, Queue, QueueMessage};
pub use retry::RetryPolicy;
pub use service::StorageService;
pub use table::{Continuation, Etag, Table};

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::telemetry;

/// How the storage clients behave.
#[derive(Debug, Clone)]
pub struct StorageOptions {
    /// Retry budget for transient failures.
    pub retry: RetryPolicy,
    /// Longest one HTTP request may take, connection included.
    pub request_timeout: Duration,
    /// Longest establishing a connection (DNS included) may take.
    pub connect_timeout: Duration,
    /// Requests in flight at once from this client; more wait their turn. Keeps a loaded
    /// endpoint (Azurite is one Node thread) from being flooded into timeouts, like DTFx's
    /// `MaxStorageOperationConcurrency`.
    pub max_concurrent_requests: usize,
    /// PEM certificates trusted, besides the built-in public roots, for the storage endpoints
    /// and token endpoints: a private CA, or the self-signed certificate of an HTTPS Azurite.
    pub root_certificates: Vec<Vec<u8>>,
}

impl Default for StorageOptions {
    /// Default retry (≈5 s budget), 30 s per request, 2 s to connect.
    fn default() -> Self {
        StorageOptions {
            retry: RetryPolicy::default(),
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(2),
            max_concurrent_requests: 32,
            root_certificates: Vec::new(),
        }
    }
}

/// One storage account: a [`StorageService`] (the Azure crates, or the in-memory store of the
/// simulation, possibly behind the fault layer) with the retry policy, the request counters and
/// the bound on requests in flight. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Storage {
    inner: Arc<Inner>,
}

struct Inner {
    account: StorageAccount,
    retry: RetryPolicy,
    counters: Arc<OpCounters>,
    service: Arc<dyn StorageService>,
    in_flight: tokio::sync::Semaphore,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage")
            .field("account", &self.inner.account)
            .finish_non_exhaustive()
    }
}

impl Storage {
    /// Parses `connection_string` and connects with default options (nothing is sent yet).
    pub fn connect(connection_string: &str) -> Result<Storage> {
        Storage::new(
            StorageAccount::parse(connection_string)?,
            StorageOptions::default(),
        )
    }

    /// The account over HTTP with the Azure crates. Sends nothing.
    pub fn new(account: StorageAccount, options: StorageOptions) -> Result<Storage> {
        let counters = Arc::new(OpCounters::new());
        let service = AzureStorage::new(&account, &options, counters.clone())?;
        Ok(Self::assemble(
            account,
            Arc::new(service),
            options,
            counters,
        ))
    }

    /// Storage served by `service` (the in-memory store, a fault layer over another service),
    /// named `account` in blob URLs and errors.
    pub fn from_service(
        account: StorageAccount,
        service: Arc<dyn StorageService>,
        options: StorageOptions,
    ) -> Storage {
        Self::assemble(account, service, options, Arc::new(OpCounters::new()))
    }

    fn assemble(
        account: StorageAccount,
        service: Arc<dyn StorageService>,
        options: StorageOptions,
        counters: Arc<OpCounters>,
    ) -> Storage {
        Storage {
            inner: Arc::new(Inner {
                account,
                retry: options.retry,
                counters,
                service,
                in_flight: tokio::sync::Semaphore::new(options.max_concurrent_requests.max(1)),
            }),
        }
    }

    /// The same account and service with a new retry policy and counters of its own.
    pub fn with_options(&self, options: StorageOptions) -> Storage {
        Self::from_service(
            self.inner.account.clone(),
            self.inner.service.clone(),
            options,
        )
    }

    /// The account this talks to.
    pub fn account(&self) -> &StorageAccount {
        &self.inner.account
    }

    /// What serves the requests.
    pub fn service(&self) -> &Arc<dyn StorageService> {
        &self.inner.service
    }

    /// The request counters shared by every handle of this storage.
    pub fn counters(&self) -> &OpCounters {
        &self.inner.counters
    }

    /// A queue handle (nothing is sent until you call it).
    pub fn queue(&self, name: &str) -> Queue {
        Queue::new(self.clone(), name)
    }

    /// A table handle.
    pub fn table(&self, name: &str) -> Table {
        Table::new(self.clone(), name)
    }

    /// A blob container handle.
    pub fn container(&self, name: &str) -> Container {
        Container::new(self.clone(), name)
    }

    /// Runs one request of `kind` with retry (transient failures only), counting every attempt
    /// and waiting for a free request slot (see [`StorageOptions::max_concurrent_requests`]).
    pub(crate) async fn run<'a, T, F, Fut>(&'a self, kind: OpKind, mut call: F) -> Result<T>
    where
        F: FnMut(&'a dyn StorageService) -> Fut,
        Fut: Future<Output = Result<T>> + 'a,
    {
        let service = &*self.inner.service;
        retry::retry(&self.inner.retry, || {
            self.inner.counters.record(kind);
            let fut = call(service);
            async move {
                let _slot = self.inner.in_flight.acquire().await.ok();
                let started = std::time::Instant::now();
                let result = fut.await;
                // 404, 409 and 412 are answers the protocol expects (a missing row, a row
                // that exists, a changed ETag), not failures of storage.
                let error = result
                    .as_ref()
                    .err()
                    .map(Error::status)
                    .filter(|s| !matches!(s, Some(404 | 409 | 412)));
                telemetry::storage_request(kind.as_str(), started.elapsed(), error);
                result
            }
        })
        .await
    }
}

/// `"table insert into TestHubInstances"`: the operation part of an error message.
pub(crate) fn describe(kind: OpKind, target: &str) -> String {
    format!("{} {}", kind.verb(), target)
}
