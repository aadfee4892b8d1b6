//! The product's storage: [`StorageService`] over the `azure_*` 0.21 crates, the only code that
//! names their types.
//!
//! Owns [`AzureStorage`]: the three service clients sharing one pooled HTTP client. Each call is
//! one HTTP request (the crates' own retry is off; the handles above retry). Sharp edges of the
//! crates handled here: no client takes a connection string; keys in entity URLs are not
//! quote-escaped; a failed transaction is `Ok` with a failing sub-status (`batch_capture.rs`); a
//! ranged GET of an empty blob is 416; the default transport opens a new connection per request.
//! An identity-based connection's token credential is built in `token.rs` (`identity` feature).

mod batch_capture;
mod blobs;
mod queues;
mod tables;
#[cfg(feature = "identity")]
mod token;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use azure_data_tables::clients::{TableServiceClient, TableServiceClientBuilder};
use azure_storage::CloudLocation;
use azure_storage_blobs::prelude::{BlobServiceClient, ClientBuilder as BlobClientBuilder};
use azure_storage_queues::{QueueServiceClient, QueueServiceClientBuilder};
use time::OffsetDateTime;

use super::account::{Service, StorageAccount};
use super::blob::BlobItem;
use super::counters::OpCounters;
use super::entity::TableEntity;
use super::error::{self, Error, Result};
use super::queue::{PeekedMessage, PutReceipt, QueueMessage};
use super::service::{BatchOp, EntityPage, EntityQuery, StorageService, WriteMode};
use super::table::Etag;
use super::{describe, OpKind, StorageOptions};

/// One storage account reached over HTTP.
pub struct AzureStorage {
    queues: QueueServiceClient,
    tables: TableServiceClient,
    blobs: BlobServiceClient,
    /// `host:port` of each service, for errors (never a URL: a SAS would travel in it).
    endpoints: [String; 3],
    /// Extra HTTP requests inside one call (ranged blob pages) are counted here.
    counters: Arc<OpCounters>,
}

impl AzureStorage {
    /// Builds the clients for `account`. Sends nothing.
    pub fn new(
        account: &StorageAccount,
        options: &StorageOptions,
        counters: Arc<OpCounters>,
    ) -> Result<AzureStorage> {
        // One pooled client for all three services. The idle timeout stays below Azurite's 5 s
        // keep-alive so we never reuse a connection the server is about to close.
        let mut builder = reqwest::Client::builder()
            .pool_idle_timeout(Duration::from_secs(3))
            .connect_timeout(options.connect_timeout)
            .timeout(options.request_timeout);
        for pem in &options.root_certificates {
            let bundle = reqwest::Certificate::from_pem_bundle(pem)
                .ok()
                .filter(|certs| !certs.is_empty())
                .ok_or_else(|| Error::Other {
                    operation: "reading the trusted root certificates".into(),
                    message: "not a PEM certificate (expected -----BEGIN CERTIFICATE-----)".into(),
                })?;
            for cert in bundle {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder.build().map_err(|e| Error::Other {
            operation: "building the HTTP client".into(),
            message: error::sanitize(&e.to_string()),
        })?;
        let http: Arc<dyn azure_core::HttpClient> = Arc::new(http);
        let credentials = match account.token_auth() {
            None => account.credentials()?,
            #[cfg(feature = "identity")]
            Some(auth) => azure_storage::StorageCredentials::token_credential(token::credential(
                auth,
                http.clone(),
            )?),
            #[cfg(not(feature = "identity"))]
            Some(_) => {
                return Err(Error::Credential {
                    operation: "setting up the storage credential".into(),
                    message: "this connection has no key: identity-based connections need \
                              taskhub's `identity` feature"
                        .into(),
                })
            }
        };
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
                .client_options(options_for(vec![Arc::new(batch_capture::BatchBodyCapture)]))
                .build();
        let blobs = BlobClientBuilder::with_location(location(Service::Blob), credentials)
            .client_options(options_for(Vec::new()))
            .blob_service_client();
        Ok(AzureStorage {
            queues,
            tables,
            blobs,
            endpoints: [
                account.host_port(Service::Blob),
                account.host_port(Service::Queue),
                account.host_port(Service::Table),
            ],
            counters,
        })
    }

    fn endpoint(&self, svc: Service) -> &str {
        match svc {
            Service::Blob => &self.endpoints[0],
            Service::Queue => &self.endpoints[1],
            Service::Table => &self.endpoints[2],
        }
    }

    /// Maps a crate error of operation `kind` on `target` to ours.
    fn error(&self, kind: OpKind, svc: Service, target: &str, e: azure_core::Error) -> Error {
        Error::from_azure(describe(kind, target), self.endpoint(svc), e)
    }
}

#[async_trait]
impl StorageService for AzureStorage {
    async fn create_queue(&self, queue: &str) -> Result<()> {
        self.queue_create(queue).await
    }
    async fn delete_queue(&self, queue: &str) -> Result<()> {
        self.queue_delete(queue).await
    }
    async fn queue_length(&self, queue: &str) -> Result<u64> {
        self.queue_len(queue).await
    }
    async fn put_message(
        &self,
        queue: &str,
        text: &str,
        visibility: Duration,
        ttl: Duration,
    ) -> Result<PutReceipt> {
        self.message_put(queue, text, visibility, ttl).await
    }
    async fn get_messages(
        &self,
        queue: &str,
        count: u8,
        visibility: Duration,
    ) -> Result<Vec<QueueMessage>> {
        self.messages_get(queue, count, visibility).await
    }
    async fn peek_messages(&self, queue: &str, count: u8) -> Result<Vec<PeekedMessage>> {
        self.messages_peek(queue, count).await
    }
    async fn update_message(
        &self,
        queue: &str,
        message_id: &str,
        pop_receipt: &str,
        visibility: Duration,
        text: &str,
    ) -> Result<(String, OffsetDateTime)> {
        self.message_update(queue, message_id, pop_receipt, visibility, text)
            .await
    }
    async fn delete_message(&self, queue: &str, message_id: &str, pop_receipt: &str) -> Result<()> {
        self.message_delete(queue, message_id, pop_receipt).await
    }
    async fn clear_queue(&self, queue: &str) -> Result<()> {
        self.queue_clear(queue).await
    }

    async fn create_table(&self, table: &str) -> Result<()> {
        self.table_create(table).await
    }
    async fn delete_table(&self, table: &str) -> Result<()> {
        self.table_delete(table).await
    }
    async fn table_exists(&self, table: &str) -> Result<bool> {
        self.table_probe(table).await
    }
    async fn get_entity(
        &self,
        table: &str,
        partition_key: &str,
        row_key: &str,
    ) -> Result<Option<(TableEntity, Etag)>> {
        self.entity_get(table, partition_key, row_key).await
    }
    async fn query_entities(&self, table: &str, query: &EntityQuery) -> Result<EntityPage> {
        self.entities_query(table, query).await
    }
    async fn write_entity(
        &self,
        table: &str,
        partition_key: &str,
        row_key: &str,
        body: &TableEntity,
        mode: &WriteMode,
    ) -> Result<Etag> {
        self.entity_write(table, partition_key, row_key, body, mode)
            .await
    }
    async fn delete_entity(
        &self,
        table: &str,
        partition_key: &str,
        row_key: &str,
        etag: Option<&Etag>,
    ) -> Result<()> {
        self.entity_delete(table, partition_key, row_key, etag)
            .await
    }
    async fn transaction(
        &self,
        table: &str,
        partition_key: &str,
        ops: &[BatchOp],
    ) -> Result<Vec<Option<Etag>>> {
        self.batch(table, partition_key, ops).await
    }

    async fn create_container(&self, container: &str) -> Result<()> {
        self.container_create(container).await
    }
    async fn delete_container(&self, container: &str) -> Result<()> {
        self.container_delete(container).await
    }
    async fn container_exists(&self, container: &str) -> Result<bool> {
        self.container_probe(container).await
    }
    async fn put_blob(
        &self,
        container: &str,
        blob: &str,
        bytes: &[u8],
        content_type: &str,
    ) -> Result<()> {
        self.blob_put(container, blob, bytes, content_type).await
    }
    async fn get_blob(&self, container: &str, blob: &str) -> Result<Vec<u8>> {
        self.blob_get(container, blob).await
    }
    async fn blob_size(&self, container: &str, blob: &str) -> Result<Option<u64>> {
        self.blob_properties(container, blob).await
    }
    async fn delete_blob(&self, container: &str, blob: &str) -> Result<()> {
        self.blob_delete(container, blob).await
    }
    async fn list_blobs(
        &self,
        container: &str,
        prefix: &str,
        marker: Option<String>,
    ) -> Result<(Vec<BlobItem>, Option<String>)> {
        self.blob_list(container, prefix, marker).await
    }
}
