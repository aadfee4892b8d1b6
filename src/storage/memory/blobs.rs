//! In-memory blob containers: put, get, size, delete and listing by prefix in pages.

use super::super::blob::BlobItem;
use super::super::error::Result;
use super::super::OpKind;
use super::{http, State};

fn target(container: &str, blob: &str) -> String {
    format!("{container}/{blob}")
}

impl State {
    pub(super) fn create_container(&mut self, container: &str) -> Result<()> {
        if self.containers.contains_key(container) {
            return Err(http(
                OpKind::ContainerCreate,
                container,
                409,
                "ContainerAlreadyExists",
            ));
        }
        self.containers
            .insert(container.to_string(), Default::default());
        Ok(())
    }

    fn blobs_mut(
        &mut self,
        kind: OpKind,
        container: &str,
        blob: &str,
    ) -> Result<&mut std::collections::BTreeMap<String, Vec<u8>>> {
        self.containers
            .get_mut(container)
            .ok_or_else(|| http(kind, &target(container, blob), 404, "ContainerNotFound"))
    }

    pub(super) fn put_blob(&mut self, container: &str, blob: &str, bytes: &[u8]) -> Result<()> {
        self.blobs_mut(OpKind::BlobPut, container, blob)?
            .insert(blob.to_string(), bytes.to_vec());
        Ok(())
    }

    pub(super) fn get_blob(&mut self, container: &str, blob: &str) -> Result<Vec<u8>> {
        let kind = OpKind::BlobGet;
        self.blobs_mut(kind, container, blob)?
            .get(blob)
            .cloned()
            .ok_or_else(|| http(kind, &target(container, blob), 404, "BlobNotFound"))
    }

    pub(super) fn blob_size(&mut self, container: &str, blob: &str) -> Result<Option<u64>> {
        let blobs = self.blobs_mut(OpKind::BlobProperties, container, blob)?;
        Ok(blobs.get(blob).map(|b| b.len() as u64))
    }

    pub(super) fn delete_blob(&mut self, container: &str, blob: &str) -> Result<()> {
        let kind = OpKind::BlobDelete;
        match self.blobs_mut(kind, container, blob)?.remove(blob) {
            Some(_) => Ok(()),
            None => Err(http(kind, &target(container, blob), 404, "BlobNotFound")),
        }
    }

    pub(super) fn list_blobs(
        &mut self,
        container: &str,
        prefix: &str,
        marker: Option<&str>,
        max_page: u32,
    ) -> Result<(Vec<BlobItem>, Option<String>)> {
        let blobs = self.blobs_mut(OpKind::BlobList, container, "")?;
        let start = marker.unwrap_or(prefix).to_string();
        let mut items = Vec::new();
        for (name, bytes) in blobs.range(start..) {
            if !name.starts_with(prefix) {
                break;
            }
            if items.len() == max_page.max(1) as usize {
                return Ok((items, Some(name.clone())));
            }
            items.push(BlobItem {
                name: name.clone(),
                size: bytes.len() as u64,
            });
        }
        Ok((items, None))
    }
}
