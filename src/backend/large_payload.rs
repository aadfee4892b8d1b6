//! Large payloads: values too big for a queue message or a table property go, gzipped, to
//! `{hub}-largemessages`.
//!
//! Thresholds and blob names follow DurableTask.AzureStorage (reference §2.6, §4.3):
//! - a queue message whose JSON is over 45 KiB becomes `{instanceId}/message-{activityId:N}-{EventType}.json.gz`
//!   (unescaped instance id), and the queue carries a wrapper naming it;
//! - a History property over 60 KiB as UTF-16 becomes
//!   `{escapedInstanceId}/history-{RowKey}-{EventType}-{random:X8}-{Property}.json.gz`, the column is
//!   set to `""` and a `{Property}BlobName` column names the blob;
//! - the Instances table holds the blob's full URL instead of the value.

use crate::storage::{gunzip, gzip, Container, Storage};

use super::error::Error;

/// A queue message over this many bytes of UTF-8 JSON goes to a blob.
pub const MAX_QUEUE_MESSAGE_BYTES: usize = 45 * 1024;
/// A table property over this many bytes of UTF-16 goes to a blob.
pub const MAX_TABLE_PROPERTY_BYTES: usize = 60 * 1024;

/// Size of a string as the table service measures it (UTF-16 bytes).
pub fn utf16_bytes(s: &str) -> usize {
    s.encode_utf16().count() * 2
}

/// True when a string must be offloaded from a table property.
pub fn too_large_for_table(s: &str) -> bool {
    // UTF-16 is never shorter than half the UTF-8 length: skip counting small strings.
    s.len() > MAX_TABLE_PROPERTY_BYTES / 2 && utf16_bytes(s) > MAX_TABLE_PROPERTY_BYTES
}

/// Blob name of a large queue message.
pub fn message_blob_name(instance_id: &str, activity_id: &uuid::Uuid, event_type: &str) -> String {
    format!(
        "{instance_id}/message-{}-{event_type}.json.gz",
        activity_id.simple()
    )
}

/// Blob name of a large History property; the random part keeps racing writers apart.
pub fn history_blob_name(escaped_id: &str, row_key: &str, event_type: &str, prop: &str) -> String {
    let random = crate::entropy::below(i32::MAX as u64 + 1) as u32;
    format!("{escaped_id}/history-{row_key}-{event_type}-{random:08X}-{prop}.json.gz")
}

/// The large-message container of a hub.
#[derive(Clone, Debug)]
pub struct LargePayloads {
    storage: Storage,
    container: Container,
}

impl LargePayloads {
    /// The container `container_name` of `storage` (created on first upload).
    pub fn new(storage: Storage, container_name: &str) -> Self {
        LargePayloads {
            container: storage.container(container_name),
            storage,
        }
    }

    /// The container handle.
    pub fn container(&self) -> &Container {
        &self.container
    }

    /// Gzips `text` into the blob `name`, creating the container on first use.
    pub async fn upload(&self, name: &str, text: &str) -> Result<(), Error> {
        let bytes = gzip(text.as_bytes());
        match self
            .container
            .put(name, bytes.clone(), "application/gzip")
            .await
        {
            Err(e) if e.is_not_found() => {
                self.container.create_if_missing().await?;
                self.container.put(name, bytes, "application/gzip").await?;
                Ok(())
            }
            other => Ok(other?),
        }
    }

    /// Reads and gunzips the blob `name`.
    pub async fn download(&self, name: &str) -> Result<String, Error> {
        let bytes = self.container.get(name).await?;
        let text = gunzip(&bytes)?;
        String::from_utf8(text).map_err(|_| Error::Corrupt(format!("blob {name} is not UTF-8")))
    }

    /// The absolute URL of a blob of this container.
    pub fn url(&self, name: &str) -> String {
        self.container.url(name)
    }

    /// If `value` is the URL of a blob in this container, its blob name.
    pub fn blob_of_url(&self, value: &str) -> Option<String> {
        if !value.starts_with("http") {
            return None;
        }
        let (container, blob) = self.storage.parse_blob_url(value)?;
        (container == self.container.name()).then_some(blob)
    }

    /// Deletes a blob; a missing one is fine.
    pub async fn delete(&self, name: &str) -> Result<(), Error> {
        self.container.delete(name).await?;
        Ok(())
    }

    /// Deletes the blobs directly in the folder `folder` (`{folder}/name`, not
    /// `{folder}/sub/name`: instance `a`'s folder is not instance `a/b`'s); returns how many.
    pub async fn delete_folder(&self, folder: &str) -> Result<usize, Error> {
        let prefix = format!("{folder}/");
        let blobs = match self.container.list(&prefix).await {
            Ok(b) => b,
            Err(e) if e.is_not_found() => return Ok(0),
            Err(e) => return Err(e.into()),
        };
        let deletes = blobs
            .iter()
            .filter(|b| !b.name[prefix.len()..].contains('/'))
            .map(|b| self.container.delete(&b.name));
        let results = futures::future::join_all(deletes).await;
        let mut n = 0;
        for r in results {
            if r? {
                n += 1;
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_count_utf16() {
        assert!(!too_large_for_table(&"a".repeat(30 * 1024)));
        assert!(too_large_for_table(&"a".repeat(30 * 1024 + 1)));
        // 中 is 3 bytes in UTF-8 but 2 in UTF-16.
        assert!(!too_large_for_table(&"中".repeat(30 * 1024)));
        assert!(too_large_for_table(&"😀".repeat(15 * 1024 + 1)));
    }

    #[test]
    fn blob_names_follow_the_reference() {
        let id = uuid::Uuid::nil();
        assert_eq!(
            message_blob_name("abc", &id, "TaskCompleted"),
            "abc/message-00000000000000000000000000000000-TaskCompleted.json.gz"
        );
        let h = history_blob_name("abc", "0000000000000001", "ExecutionStarted", "Input");
        assert!(h.starts_with("abc/history-0000000000000001-ExecutionStarted-"));
        assert!(h.ends_with("-Input.json.gz"));
    }
}
