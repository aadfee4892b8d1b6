//! One blob container: put, get (empty blobs included), properties, delete, list by prefix, and
//! blob URLs; plus gzip helpers for large payloads.
//!
//! Owns [`Container`], [`BlobItem`], [`gzip`], [`gunzip`] and [`Storage::parse_blob_url`]. The crate
//! always sends a `Range` header on GET, which a 0-byte blob answers with 416; we confirm the blob
//! is empty with a properties call and return no bytes.

use super::error::{already_so, Error, Result};
use super::{describe, OpKind, Service, Storage};
use azure_core::request_options::{NextMarker, Prefix};
use azure_storage_blobs::prelude::ContainerClient;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use futures::StreamExt;
use percent_encoding::percent_decode_str;
use std::io::{Read, Write};

/// A blob in a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobItem {
    pub name: String,
    pub size: u64,
}

/// A container handle. Cheap to clone.
#[derive(Clone)]
pub struct Container {
    storage: Storage,
    client: ContainerClient,
    name: String,
}

impl Container {
    pub(crate) fn new(storage: Storage, client: ContainerClient, name: &str) -> Container {
        Container {
            storage,
            client,
            name: name.to_string(),
        }
    }

    /// The container name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn target(&self, blob: &str) -> String {
        format!("{}/{}", self.name, blob)
    }

    async fn run<T, F, Fut>(&self, kind: OpKind, target: &str, call: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = azure_core::Result<T>>,
    {
        self.storage.run(kind, Service::Blob, target, call).await
    }

    /// Creates the container; an existing one is fine.
    pub async fn create_if_missing(&self) -> Result<()> {
        let result = self
            .run(OpKind::ContainerCreate, &self.name, || {
                self.client.create().into_future()
            })
            .await;
        already_so(result, Error::is_conflict)
    }

    /// Deletes the container and its blobs; a missing one is fine.
    pub async fn delete_container(&self) -> Result<()> {
        let result = self
            .run(OpKind::ContainerDelete, &self.name, || {
                self.client.delete().into_future()
            })
            .await;
        already_so(result, Error::is_not_found)
    }

    /// Whether the container exists.
    pub async fn exists(&self) -> Result<bool> {
        match self
            .run(OpKind::ContainerExists, &self.name, || {
                self.client.get_properties().into_future()
            })
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Writes a block blob (replacing any existing one).
    pub async fn put(&self, blob: &str, bytes: Vec<u8>, content_type: &str) -> Result<()> {
        let client = self.client.blob_client(blob);
        let content_type = content_type.to_string();
        self.run(OpKind::BlobPut, &self.target(blob), || {
            client
                .put_block_blob(bytes.clone())
                .content_type(content_type.clone())
                .into_future()
        })
        .await?;
        Ok(())
    }

    /// Reads a whole blob. A missing blob is a not-found error; an empty blob gives no bytes.
    pub async fn get(&self, blob: &str) -> Result<Vec<u8>> {
        let client = self.client.blob_client(blob);
        let target = self.target(blob);
        let counters = self.storage.counters();
        let got = self
            .run(OpKind::BlobGet, &target, || async {
                let mut out = Vec::new();
                let mut pages = client.get().into_stream();
                let mut first = true;
                while let Some(page) = pages.next().await {
                    if !first {
                        counters.record(OpKind::BlobGet); // one more ranged request
                    }
                    first = false;
                    let page = page?;
                    out.extend_from_slice(&page.data.collect().await?);
                }
                Ok(out)
            })
            .await;
        match got {
            Ok(bytes) => Ok(bytes),
            Err(e) if e.status() == Some(416) => match self.properties(blob).await? {
                Some(0) => Ok(Vec::new()),
                _ => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    /// The blob's size in bytes, or `None` if it does not exist.
    pub async fn properties(&self, blob: &str) -> Result<Option<u64>> {
        let client = self.client.blob_client(blob);
        match self
            .run(OpKind::BlobProperties, &self.target(blob), || {
                client.get_properties().into_future()
            })
            .await
        {
            Ok(p) => Ok(Some(p.blob.properties.content_length)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Whether the blob exists.
    pub async fn blob_exists(&self, blob: &str) -> Result<bool> {
        Ok(self.properties(blob).await?.is_some())
    }

    /// Deletes a blob. Returns `false` if it was not there.
    pub async fn delete(&self, blob: &str) -> Result<bool> {
        let client = self.client.blob_client(blob);
        match self
            .run(OpKind::BlobDelete, &self.target(blob), || {
                client.delete().into_future()
            })
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Every blob whose name starts with `prefix` (all pages), in name order.
    pub async fn list(&self, prefix: &str) -> Result<Vec<BlobItem>> {
        let mut out = Vec::new();
        let mut marker: Option<NextMarker> = None;
        loop {
            let mut builder = self.client.list_blobs();
            if !prefix.is_empty() {
                builder = builder.prefix(Prefix::from(prefix.to_string()));
            }
            if let Some(m) = marker.take() {
                builder = builder.marker(m);
            }
            let page = self
                .run(OpKind::BlobList, &self.name, || {
                    let b = builder.clone();
                    async move { b.into_stream().next().await.transpose() }
                })
                .await?;
            let Some(page) = page else { break };
            out.extend(page.blobs.blobs().map(|b| BlobItem {
                name: b.name.clone(),
                size: b.properties.content_length,
            }));
            match page.next_marker {
                Some(m) => marker = Some(m),
                None => break,
            }
        }
        Ok(out)
    }

    /// The blob's absolute URL, path segments percent-escaped, e.g.
    /// `http://127.0.0.1:10000/devstoreaccount1/<container>/<blob>`. Never carries a SAS.
    pub fn url(&self, blob: &str) -> String {
        let mut url = self.storage.account().url(Service::Blob).clone();
        if let Ok(mut segs) = url.path_segments_mut() {
            segs.pop_if_empty().push(&self.name).extend(blob.split('/'));
        }
        url.to_string()
    }
}

impl Storage {
    /// `(container, blob)` of a blob URL on this account (as made by [`Container::url`]);
    /// `None` for URLs elsewhere.
    pub fn parse_blob_url(&self, url: &str) -> Option<(String, String)> {
        let base = self.account().blob_endpoint();
        let rest = url.strip_prefix(base)?.strip_prefix('/')?;
        let rest = rest.split(['?', '#']).next()?;
        let (container, blob) = rest.split_once('/')?;
        let decode = |s: &str| {
            percent_decode_str(s)
                .decode_utf8()
                .ok()
                .map(|c| c.into_owned())
        };
        let (container, blob) = (decode(container)?, decode(blob)?);
        (!container.is_empty() && !blob.is_empty()).then_some((container, blob))
    }
}

/// Gzip-compresses bytes (the format of DTFx large-message blobs).
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(
        Vec::with_capacity(data.len() / 4 + 64),
        flate2::Compression::default(),
    );
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(data);
    enc.finish().unwrap_or_default()
}

/// Decompresses gzip bytes.
pub fn gunzip(data: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    GzDecoder::new(data)
        .read_to_end(&mut out)
        .map_err(|e| Error::Decode {
            operation: describe(OpKind::BlobGet, "(gzip payload)"),
            message: format!("not valid gzip data: {e}"),
        })?;
    Ok(out)
}

impl std::fmt::Debug for Container {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Container")
            .field("name", &self.name)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_round_trips_and_rejects_garbage() {
        let data = "hello ".repeat(1000).into_bytes();
        let z = gzip(&data);
        assert!(z.len() < data.len());
        assert_eq!(gunzip(&z).unwrap(), data);
        assert_eq!(gunzip(&gzip(b"")).unwrap(), b"");
        assert!(gunzip(b"not gzip").is_err());
    }

    #[test]
    fn urls_escape_segments_and_parse_back() {
        let s = Storage::connect("UseDevelopmentStorage=true").unwrap();
        let c = s.container("hub-largemessages");
        let url = c.url("a b/ü#?.json.gz");
        assert_eq!(
            url,
            "http://127.0.0.1:10000/devstoreaccount1/hub-largemessages/a%20b/%C3%BC%23%3F.json.gz"
        );
        assert_eq!(
            s.parse_blob_url(&url),
            Some(("hub-largemessages".into(), "a b/ü#?.json.gz".into()))
        );
        assert_eq!(
            s.parse_blob_url("http://elsewhere:10000/devstoreaccount1/c/b"),
            None
        );
        assert_eq!(
            s.parse_blob_url("http://127.0.0.1:10000/devstoreaccount1/c"),
            None
        );
    }
}
