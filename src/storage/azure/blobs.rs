//! Blob requests over `azure_storage_blobs`. The crate always sends a `Range` header on GET,
//! which a 0-byte blob answers with 416: we confirm the blob is empty with a properties call and
//! return no bytes. A large blob comes in ranged pages, each one more request.

use azure_core::request_options::{NextMarker, Prefix};
use futures::StreamExt;

use super::super::account::Service;
use super::super::blob::BlobItem;
use super::super::error::{Error, Result};
use super::super::OpKind;
use super::AzureStorage;

fn target(container: &str, blob: &str) -> String {
    format!("{container}/{blob}")
}

impl AzureStorage {
    fn blob_error(&self, kind: OpKind, target: &str, e: azure_core::Error) -> Error {
        self.error(kind, Service::Blob, target, e)
    }

    pub(super) async fn container_create(&self, container: &str) -> Result<()> {
        self.blobs
            .container_client(container)
            .create()
            .into_future()
            .await
            .map_err(|e| self.blob_error(OpKind::ContainerCreate, container, e))?;
        Ok(())
    }

    pub(super) async fn container_delete(&self, container: &str) -> Result<()> {
        self.blobs
            .container_client(container)
            .delete()
            .into_future()
            .await
            .map_err(|e| self.blob_error(OpKind::ContainerDelete, container, e))?;
        Ok(())
    }

    pub(super) async fn container_probe(&self, container: &str) -> Result<bool> {
        match self
            .blobs
            .container_client(container)
            .get_properties()
            .into_future()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) => {
                let e = self.blob_error(OpKind::ContainerExists, container, e);
                if e.is_not_found() {
                    Ok(false)
                } else {
                    Err(e)
                }
            }
        }
    }

    pub(super) async fn blob_put(
        &self,
        container: &str,
        blob: &str,
        bytes: &[u8],
        content_type: &str,
    ) -> Result<()> {
        self.blobs
            .container_client(container)
            .blob_client(blob)
            .put_block_blob(bytes.to_vec())
            .content_type(content_type.to_string())
            .into_future()
            .await
            .map_err(|e| self.blob_error(OpKind::BlobPut, &target(container, blob), e))?;
        Ok(())
    }

    pub(super) async fn blob_get(&self, container: &str, blob: &str) -> Result<Vec<u8>> {
        let client = self.blobs.container_client(container).blob_client(blob);
        let mut out = Vec::new();
        let mut pages = client.get().into_stream();
        let mut first = true;
        let err = |e| self.blob_error(OpKind::BlobGet, &target(container, blob), e);
        while let Some(page) = pages.next().await {
            if !first {
                self.counters.record(OpKind::BlobGet); // one more ranged request
            }
            first = false;
            let page = match page {
                Ok(p) => p,
                Err(e) => {
                    let e = err(e);
                    if e.status() == Some(416) && out.is_empty() {
                        self.counters.record(OpKind::BlobProperties);
                        if self.blob_properties(container, blob).await? == Some(0) {
                            return Ok(Vec::new());
                        }
                    }
                    return Err(e);
                }
            };
            out.extend_from_slice(&page.data.collect().await.map_err(err)?);
        }
        Ok(out)
    }

    pub(super) async fn blob_properties(&self, container: &str, blob: &str) -> Result<Option<u64>> {
        match self
            .blobs
            .container_client(container)
            .blob_client(blob)
            .get_properties()
            .into_future()
            .await
        {
            Ok(p) => Ok(Some(p.blob.properties.content_length)),
            Err(e) => {
                let e = self.blob_error(OpKind::BlobProperties, &target(container, blob), e);
                if e.is_not_found() {
                    Ok(None)
                } else {
                    Err(e)
                }
            }
        }
    }

    pub(super) async fn blob_delete(&self, container: &str, blob: &str) -> Result<()> {
        self.blobs
            .container_client(container)
            .blob_client(blob)
            .delete()
            .into_future()
            .await
            .map_err(|e| self.blob_error(OpKind::BlobDelete, &target(container, blob), e))?;
        Ok(())
    }

    pub(super) async fn blob_list(
        &self,
        container: &str,
        prefix: &str,
        marker: Option<String>,
    ) -> Result<(Vec<BlobItem>, Option<String>)> {
        let mut builder = self.blobs.container_client(container).list_blobs();
        if !prefix.is_empty() {
            builder = builder.prefix(Prefix::from(prefix.to_string()));
        }
        if let Some(m) = marker {
            builder = builder.marker(NextMarker::new(m));
        }
        let page = builder
            .into_stream()
            .next()
            .await
            .transpose()
            .map_err(|e| self.blob_error(OpKind::BlobList, container, e))?;
        let Some(page) = page else {
            return Ok((Vec::new(), None));
        };
        let items = page
            .blobs
            .blobs()
            .map(|b| BlobItem {
                name: b.name.clone(),
                size: b.properties.content_length,
            })
            .collect();
        Ok((items, page.next_marker.map(|m| m.as_str().to_string())))
    }
}
