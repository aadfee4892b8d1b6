//! Starting the project's Azurite for the development connection string.
//!
//! Decision: only for `UseDevelopmentStorage=true`, and only when none of 127.0.0.1:10000–10002
//! accepts connections (all three busy: someone runs Azurite already; some busy: refuse, as
//! another program holds a port). The data lives in `$TASKHUB_AZURITE_DATA`, else
//! `$XDG_DATA_HOME/taskhub/azurite`, else `~/.local/share/taskhub/azurite`.

use crate::azurite::{dev_ports_in_use, Azurite, AzuriteData, AzuriteOptions, DEV_PORTS};
use anyhow::{bail, Context as _, Result};
use std::path::PathBuf;

/// An Azurite this taskhub started, and whether to leave it running at exit.
pub struct LocalAzurite {
    azurite: Azurite,
    keep: bool,
}

impl LocalAzurite {
    /// Stops it, or leaves it running with `--keep-azurite`.
    pub async fn finish(self) {
        if self.keep {
            let pid = self.azurite.detach();
            eprintln!("taskhub: Azurite keeps running (pid {pid}); stop it with `kill {pid}`");
        } else {
            self.azurite.stop().await;
        }
    }
}

/// Where the CLI's Azurite keeps its data.
pub fn data_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("TASKHUB_AZURITE_DATA").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("taskhub/azurite");
    }
    match std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        Some(home) => PathBuf::from(home).join(".local/share/taskhub/azurite"),
        None => PathBuf::from(".azurite"),
    }
}

/// Starts Azurite on the dev ports unless something already listens there.
pub async fn start_if_needed(keep: bool) -> Result<Option<LocalAzurite>> {
    let busy = dev_ports_in_use();
    if busy.len() == 3 {
        tracing::debug!(
            "something listens on 127.0.0.1:10000-10002; using it as the development storage"
        );
        return Ok(None);
    }
    if !busy.is_empty() {
        bail!(
            "port(s) {busy:?} on 127.0.0.1 are in use but not all of 10000-10002, so this is not a running Azurite; \
             free them or pass --connection"
        );
    }
    let dir = data_dir();
    let azurite = Azurite::start(AzuriteOptions {
        ports: Some(DEV_PORTS),
        data: AzuriteData::Dir(dir.clone()),
        watch_parent: !keep,
        tls: None,
    })
    .await
    .context("cannot start Azurite for UseDevelopmentStorage=true")?;
    eprintln!(
        "taskhub: started Azurite on 127.0.0.1:10000-10002 (pid {}, data in {}); {}",
        azurite.pid(),
        dir.display(),
        if keep {
            "it keeps running after taskhub exits"
        } else {
            "it stops when taskhub exits"
        }
    );
    Ok(Some(LocalAzurite { azurite, keep }))
}
