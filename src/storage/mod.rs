//! Typed wrappers over the `azure_*` crates: the only module that names their types.
//!
//! Owns the connection to one storage account ([`Storage`]) and the handles it gives out:
//! [`Queue`], [`Table`] (with [`Batch`] for entity-group transactions) and [`Container`]. Every call
//! goes through [`retry::retry`] (transient failures only) and is counted in [`OpCounters`] once per
//! HTTP attempt. Errors are [`Error`]: one line, never a key or a SAS.
//!
//! Must not know about task hubs, history or messages: that is `backend`'s job.
//!
//! Files: `account.rs` (connection strings), `error.rs`, `retry.rs`, `counters.rs`, `escape.rs`
//! (partition-key escaping, OData literals), `table.rs` (+ `entity.rs` typed property helpers),
//! `batch.rs` (transactions, every sub-status checked), `queue.rs`, `blob.rs` (+ gzip helpers).
//!
//! Sharp edges of the crates handled here (see `shared/reference/rust-azure-sdk.md`): no client
//! takes a connection string; keys in entity URLs are not quote-escaped; a failed transaction is
//! `Ok` with a failing sub-status; a ranged GET of an empty blob is 416; the default transport opens
//! a new connection per request and the default retry takes ~80 s to give up.

pub mod account;
mod batch;
mod blob;
pub mod counters;
mod entity;
pub mod error;
pub mod escape;
mod queue;
pub mod retry;
mod table;

pub use account::{
    Service, StorageAccount, DEV_ACCOUNT_KEY, DEV_ACCOUNT_NAME, DEV_CONNECTION_STRING,
};
pub use batch::Batch;
pub use blob::{gunzip, gzip, BlobItem, Container};
pub use counters::{OpCounters, OpKind};
pub use entity::{EntityExt, TableEntity};
pub use error::{Error, Result};
pub use queue::{PeekedMessage, PutReceipt, Queue, QueueMessage};
pub use retry::RetryPolicy;
pub use table::{Continuation, Etag, Table};

use azure_data_tables::clients::{TableServiceClient, TableServiceClientBuilder};
use azure_storage::CloudLocation;
use azure_storage_blobs::prelude::{BlobServiceClient, ClientBuilder as BlobClientBuilder};
use azure_storage_queues::{QueueServiceClient, QueueServiceClientBuilder};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

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
}

impl Default for StorageOptions {
    /// Default retry (≈5 s budget), 30 s per request, 2 s to connect.
    fn default() -> Self {
        StorageOptions {
            retry: RetryPolicy::default(),
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(2),
            max_concurrent_requests: 32,
        }
    }
}

/// One storage account: the three service clients sharing one pooled HTTP client, the retry
/// policy and the counters. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Storage {
    inner: Arc<Inner>,
}

struct Inner {
    account: StorageAccount,
    retry: RetryPolicy,
    counters: OpCounters,
    queues: QueueServiceClient,
    tables: TableServiceClient,
    blobs: BlobServiceClient,
    endpoints: [String; 3],
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

    /// Builds the clients for `account`. Sends nothing.
    pub fn new(account: StorageAccount, options: StorageOptions) -> Result<Storage> {
        // One pooled client for all three services. The idle timeout stays below Azurite's 5 s
        // keep-alive so we never reuse a connection the server is about to close.
        let http = reqwest::Client::builder()
            .pool_idle_timeout(Duration::from_secs(3))
            .connect_timeout(options.connect_timeout)
            .timeout(options.request_timeout)
            .build()
            .map_err(|e| Error::Other {
                operation: "building the HTTP client".into(),
                message: error::sanitize(&e.to_string()),
            })?;
        let http: Arc<dyn azure_core::HttpClient> = Arc::new(http);
        let credentials = account.credentials()?;
        let location = |svc: Service| CloudLocation::Custom {
            account: account.account_name().to_string(),
            uri: account.url(svc).as_str().trim_end_matches('/').to_string(),
        };
        let options_for = |per_call: Vec<Arc<dyn azure_core::Policy>>| {
            azure_core::ClientOptions::new(azure_core::TransportOptions::new(http.clone()))
                .retry(azure_core::RetryOptions::none())
                .per_call_policies(per_call)
        };
        let queues =
            QueueServiceClientBuilder::with_location(location(Service::Queue), credentials.clone())
                .client_options(options_for(Vec::new()))
                .build();
        let tables =
            TableServiceClientBuilder::with_location(location(Service::Table), credentials.clone())
                .client_options(options_for(vec![Arc::new(batch::BatchBodyCapture)]))
                .build();
        let blobs = BlobClientBuilder::with_location(location(Service::Blob), credentials)
            .client_options(options_for(Vec::new()))
            .blob_service_client();
        let endpoints = [
            account.host_port(Service::Blob),
            account.host_port(Service::Queue),
            account.host_port(Service::Table),
        ];
        Ok(Storage {
            inner: Arc::new(Inner {
                account,
                retry: options.retry,
                counters: OpCounters::new(),
                queues,
                tables,
                blobs,
                endpoints,
                in_flight: tokio::sync::Semaphore::new(options.max_concurrent_requests.max(1)),
            }),
        })
    }

    /// The account this talks to.
    pub fn account(&self) -> &StorageAccount {
        &self.inner.account
    }

    /// The request counters shared by every handle of this storage.
    pub fn counters(&self) -> &OpCounters {
        &self.inner.counters
    }

    /// A queue handle (nothing is sent until you call it).
    pub fn queue(&self, name: &str) -> Queue {
        Queue::new(self.clone(), self.inner.queues.queue_client(name), name)
    }

    /// A table handle.
    pub fn table(&self, name: &str) -> Table {
        Table::new(self.clone(), self.inner.tables.table_client(name), name)
    }

    /// A blob container handle.
    pub fn container(&self, name: &str) -> Container {
        Container::new(self.clone(), self.inner.blobs.container_client(name), name)
    }

    pub(crate) fn retry_policy(&self) -> &RetryPolicy {
        &self.inner.retry
    }

    pub(crate) fn endpoint(&self, svc: Service) -> &str {
        match svc {
            Service::Blob => &self.inner.endpoints[0],
            Service::Queue => &self.inner.endpoints[1],
            Service::Table => &self.inner.endpoints[2],
        }
    }

    /// Runs one crate call with retry and counting; `target` names the queue/table/blob in errors.
    pub(crate) async fn run<T, F, Fut>(
        &self,
        kind: OpKind,
        svc: Service,
        target: &str,
        mut call: F,
    ) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = azure_core::Result<T>>,
    {
        let endpoint = self.endpoint(svc);
        retry::retry(self.retry_policy(), || {
            self.inner.counters.record(kind);
            let fut = call();
            async move {
                let _slot = self.request_slot().await;
                fut.await
                    .map_err(|e| Error::from_azure(describe(kind, target), endpoint, e))
            }
        })
        .await
    }

    /// Waits for a free request slot (see [`StorageOptions::max_concurrent_requests`]).
    pub(crate) async fn request_slot(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        self.inner.in_flight.acquire().await.ok()
    }
}

/// `"table insert into TestHubInstances"`: the operation part of an error message.
pub(crate) fn describe(kind: OpKind, target: &str) -> String {
    format!("{} {}", kind.verb(), target)
}
