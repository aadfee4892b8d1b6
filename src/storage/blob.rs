//! One blob container: put, get (empty blobs included), properties, delete, list by prefix, and
//! blob URLs; plus gzip helpers for large payloads.
//!
//! Owns [`Container`], [`BlobItem`], [`gzip`], [`gunzip`] and [`Storage::parse_blob_url`].

use super::error::{already_so, Error, Result};
use super::{describe, OpKind, Service, Storage};
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use percent_encoding::percent_decode_str;
use std::io::{Read, Write};

/// A blob in a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobItem {
    /// The blob's name within its container.
    pub name: String,
    /// The blob's size in bytes.
    pub size: u64,
}

/// A container handle. Cheap to clone.
#[derive(Clone)]
pub struct Container {
    storage: Storage,
    name: String,
}

impl Container {
    pub(crate) fn new(storage: Storage, name: &str) -> Container {
        Container {
            storage,
            name: name.to_string(),
        }
    }

    /// The container name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Creates the container; an existing one is fine.
    pub async fn create_if_missing(&self) -> Result<()> {
        let result = self
            .storage
            .run(OpKind::ContainerCreate, |s| s.create_container(&self.name))
            .await;
        already_so(result, Error::is_conflict)
    }

    /// Deletes the container and its blobs; a missing one is fine.
    pub async fn delete_container(&self) -> Result<()> {
        let result = self
            .storage
            .run(OpKind::ContainerDelete, |s| s.delete_container(&self.name))
            .await;
        already_so(result, Error::is_not_found)
    }

    /// Whether the container exists.
    pub async fn exists(&self) -> Result<bool> {
        self.storage
            .run(OpKind::ContainerExists, |s| s.container_exists(&self.name))
            .await
    }

    /// Writes a block blob (replacing any existing one).
    pub async fn put(&self, blob: &str, bytes: Vec<u8>, content_type: &str) -> Result<()> {
        self.storage
            .run(OpKind::BlobPut, |s| {
                s.put_blob(&self.name, blob, &bytes, content_type)
            })
            .await
    }

    /// Reads a whole blob. A missing blob is a not-found error; an empty blob gives no bytes.
    pub async fn get(&self, blob: &str) -> Result<Vec<u8>> {
        self.storage
            .run(OpKind::BlobGet, |s| s.get_blob(&self.name, blob))
            .await
    }

    /// The blob's size in bytes, or `None` if it does not exist.
    pub async fn properties(&self, blob: &str) -> Result<Option<u64>> {
        self.storage
            .run(OpKind::BlobProperties, |s| s.blob_size(&self.name, blob))
            .await
    }

    /// Whether the blob exists.
    pub async fn blob_exists(&self, blob: &str) -> Result<bool> {
        Ok(self.properties(blob).await?.is_some())
    }

    /// Deletes a blob. Returns `false` if it was not there.
    pub async fn delete(&self, blob: &str) -> Result<bool> {
        match self
            .storage
            .run(OpKind::BlobDelete, |s| s.delete_blob(&self.name, blob))
            .await
        {
            Ok(()) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Every blob whose name starts with `prefix` (all pages), in name order.
    pub async fn list(&self, prefix: &str) -> Result<Vec<BlobItem>> {
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let (items, next) = self
                .storage
                .run(OpKind::BlobList, |s| {
                    s.list_blobs(&self.name, prefix, marker.clone())
                })
                .await?;
            out.extend(items);
            match next {
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
