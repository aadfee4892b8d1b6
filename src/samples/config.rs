//! Where the samples keep their data: the pipeline's data container and step folders, the backup
//! container, the monitor's and the eternal sample's blobs.
//!
//! Settings keep the seed's names (a Durable Functions `local.settings.json` works as is):
//!
//! | setting | default | meaning |
//! |---|---|---|
//! | `DataStorage` | the hub's storage | connection string of the account holding the data |
//! | `DataContainer` | `data` | container of the pipeline's files (and the monitor's and eternal's blobs) |
//! | `Step1DataSubpath` … `Step4DataSubpath` | `step1` … `step4` | folders of the steps' outputs |
//! | `BackupContainer` | `backups` | container the backup sample copies into |
//!
//! Containers are created on first use.

use std::sync::Arc;

use tokio::sync::OnceCell;

use crate::core::Failure;
use crate::storage::{self, Container, Storage};

/// The setting names [`SamplesConfig::from_values`] reads.
pub const SETTING_NAMES: [&str; 7] = [
    "DataStorage",
    "DataContainer",
    "Step1DataSubpath",
    "Step2DataSubpath",
    "Step3DataSubpath",
    "Step4DataSubpath",
    "BackupContainer",
];

/// Why a setting was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A setting has a value that cannot be used.
    #[error("setting {name}: {message}")]
    Invalid {
        /// The setting's name, e.g. `DataContainer`.
        name: &'static str,
        /// What is wrong with its value.
        message: String,
    },
    /// The `DataStorage` connection string cannot be used.
    #[error("setting DataStorage: {0}")]
    DataStorage(#[source] storage::Error),
}

/// The samples' configuration. Cheap to clone.
#[derive(Clone, Debug)]
pub struct SamplesConfig {
    /// The account holding the data (`DataStorage`).
    pub data_storage: Storage,
    /// `DataContainer` (default `data`).
    pub data_container: String,
    /// `Step1DataSubpath` … `Step4DataSubpath` (defaults `step1` … `step4`), without slashes at
    /// either end.
    pub step_subpaths: [String; 4],
    /// `BackupContainer` (default `backups`).
    pub backup_container: String,
}

impl SamplesConfig {
    /// The defaults, with the data on `data_storage` (usually the hub's own storage).
    pub fn new(data_storage: Storage) -> SamplesConfig {
        SamplesConfig {
            data_storage,
            data_container: "data".to_string(),
            step_subpaths: ["step1", "step2", "step3", "step4"].map(String::from),
            backup_container: "backups".to_string(),
        }
    }

    /// Reads the settings of [`SETTING_NAMES`] through `lookup` (absent or empty: the default).
    /// `DataStorage` is a connection string; without it the data lives on `hub_storage`.
    pub fn from_values(
        hub_storage: Storage,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<SamplesConfig, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let data_storage = match get("DataStorage") {
            Some(conn) => Storage::connect(conn.trim()).map_err(ConfigError::DataStorage)?,
            None => hub_storage,
        };
        let mut config = SamplesConfig::new(data_storage);
        if let Some(c) = get("DataContainer") {
            config.data_container = check_container("DataContainer", c.trim())?;
        }
        if let Some(c) = get("BackupContainer") {
            config.backup_container = check_container("BackupContainer", c.trim())?;
        }
        const STEPS: [&str; 4] = [
            "Step1DataSubpath",
            "Step2DataSubpath",
            "Step3DataSubpath",
            "Step4DataSubpath",
        ];
        for (i, name) in STEPS.into_iter().enumerate() {
            if let Some(p) = get(name) {
                config.step_subpaths[i] = check_subpath(name, &p)?;
            }
        }
        Ok(config)
    }

    /// The folder of step `n` (1–4).
    pub fn step_subpath(&self, n: usize) -> &str {
        &self.step_subpaths[n - 1]
    }
}

/// Container names: 3–63 lowercase letters, digits and single hyphens, starting and ending with a
/// letter or digit.
fn check_container(name: &'static str, value: &str) -> Result<String, ConfigError> {
    let ok = (3..=63).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !value.starts_with('-')
        && !value.ends_with('-')
        && !value.contains("--");
    if ok {
        Ok(value.to_string())
    } else {
        Err(ConfigError::Invalid {
            name,
            message: format!(
                "'{value}' is not a container name (3-63 lowercase letters, digits and single \
                 hyphens, starting and ending with a letter or digit)"
            ),
        })
    }
}

fn check_subpath(name: &'static str, value: &str) -> Result<String, ConfigError> {
    let p = value.trim().trim_matches('/');
    if p.is_empty() {
        return Err(ConfigError::Invalid {
            name,
            message: format!("'{value}' is not a folder name"),
        });
    }
    Ok(p.to_string())
}

/// A container that is created (once per process) before its first use.
#[derive(Clone, Debug)]
pub(crate) struct LazyContainer {
    container: Container,
    created: Arc<OnceCell<()>>,
}

impl LazyContainer {
    pub(crate) fn new(storage: &Storage, name: &str) -> LazyContainer {
        LazyContainer {
            container: storage.container(name),
            created: Arc::new(OnceCell::new()),
        }
    }

    /// The container, created if missing.
    pub(crate) async fn get(&self) -> Result<&Container, Failure> {
        self.created
            .get_or_try_init(|| async {
                self.container.create_if_missing().await.map_err(|e| {
                    Failure::new(
                        "StorageError",
                        format!("cannot create container '{}': {e}", self.container.name()),
                    )
                })
            })
            .await?;
        Ok(&self.container)
    }

    /// Reads a blob; a missing blob is a non-retriable failure naming it.
    pub(crate) async fn read(&self, blob: &str) -> Result<Vec<u8>, Failure> {
        let c = self.get().await?;
        c.get(blob).await.map_err(|e| {
            let f = Failure::new(
                "BlobReadError",
                if e.is_not_found() {
                    format!("blob '{blob}' does not exist in container '{}'", c.name())
                } else {
                    format!("cannot read blob '{blob}' in container '{}': {e}", c.name())
                },
            );
            if e.is_not_found() {
                f.non_retriable()
            } else {
                f
            }
        })
    }

    /// Writes (replaces) a blob.
    pub(crate) async fn write(
        &self,
        blob: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> Result<(), Failure> {
        let c = self.get().await?;
        c.put(blob, bytes, content_type).await.map_err(|e| {
            Failure::new(
                "BlobWriteError",
                format!(
                    "cannot write blob '{blob}' in container '{}': {e}",
                    c.name()
                ),
            )
        })
    }

    /// Names of the blobs under `prefix`.
    pub(crate) async fn list(&self, prefix: &str) -> Result<Vec<String>, Failure> {
        let c = self.get().await?;
        let items = c.list(prefix).await.map_err(|e| {
            Failure::new(
                "BlobListError",
                format!(
                    "cannot list blobs under '{prefix}' in container '{}': {e}",
                    c.name()
                ),
            )
        })?;
        Ok(items.into_iter().map(|b| b.name).collect())
    }

    /// Deletes a blob (a missing one is fine).
    pub(crate) async fn delete(&self, blob: &str) -> Result<(), Failure> {
        let c = self.get().await?;
        c.delete(blob).await.map(|_| ()).map_err(|e| {
            Failure::new(
                "BlobDeleteError",
                format!(
                    "cannot delete blob '{blob}' in container '{}': {e}",
                    c.name()
                ),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn storage() -> Storage {
        Storage::connect("UseDevelopmentStorage=true").unwrap()
    }

    #[test]
    fn defaults_and_overrides() {
        let c = SamplesConfig::from_values(storage(), |_| None).unwrap();
        assert_eq!(c.data_container, "data");
        assert_eq!(c.step_subpaths, ["step1", "step2", "step3", "step4"]);
        assert_eq!(c.backup_container, "backups");

        let values: HashMap<&str, &str> = [
            ("DataContainer", "pipeline-data"),
            ("Step2DataSubpath", "/out/two/"),
            ("Step3DataSubpath", ""),
        ]
        .into();
        let c = SamplesConfig::from_values(storage(), |n| values.get(n).map(|v| v.to_string()))
            .unwrap();
        assert_eq!(c.data_container, "pipeline-data");
        assert_eq!(c.step_subpath(2), "out/two");
        assert_eq!(c.step_subpath(3), "step3");
    }

    #[test]
    fn bad_values_name_the_setting() {
        let e = SamplesConfig::from_values(storage(), |n| {
            (n == "DataContainer").then(|| "Bad_Name".to_string())
        })
        .unwrap_err();
        assert!(e.to_string().starts_with("setting DataContainer:"), "{e}");
        let e = SamplesConfig::from_values(storage(), |n| {
            (n == "Step1DataSubpath").then(|| "///".to_string())
        })
        .unwrap_err();
        assert!(e.to_string().contains("Step1DataSubpath"), "{e}");
        let e = SamplesConfig::from_values(storage(), |n| {
            (n == "DataStorage").then(|| "nonsense".to_string())
        })
        .unwrap_err();
        assert!(e.to_string().starts_with("setting DataStorage:"), "{e}");
    }
}
