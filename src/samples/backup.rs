//! Backup, the fan-out/fan-in sample: copy a local directory tree to blobs in parallel and return
//! the total bytes copied.
//!
//! - `backup_site_content`, input the directory (`"/srv/site"`, or `{"path": "/srv/site"}`):
//!   lists the files with `get_file_list`, calls `copy_file_to_blob` for every file at once, and
//!   returns the sum of their sizes.
//! - `get_file_list`: the regular files under the directory, recursively, in name order
//!   (symbolic links are skipped, so a link cycle cannot trap it).
//! - `copy_file_to_blob`: copies one file to `{BackupContainer}/{directory name}/{path below the
//!   directory}` and returns its size. Copying again overwrites.
//!
//! The directory is read on the worker that runs the activities: with several workers on several
//! machines, each must see the same directory.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::config::{LazyContainer, SamplesConfig};
use crate::core::{Failure, FailureDetails, OrchestrationContext, Registry};

/// The orchestrator's name.
pub const ORCHESTRATOR: &str = "backup_site_content";

/// The input of `copy_file_to_blob`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CopyRequest {
    /// The directory being backed up.
    pub root: String,
    /// A file below it.
    pub path: String,
}

/// Registers `backup_site_content`, `get_file_list` and `copy_file_to_blob`, backing up to the
/// configured `BackupContainer`.
pub fn register(r: &mut Registry, config: &SamplesConfig) {
    let backups = LazyContainer::new(&config.data_storage, &config.backup_container);
    r.add_orchestrator(ORCHESTRATOR, backup);
    r.add_activity("get_file_list", |_ctx, root: String| async move {
        let dir = PathBuf::from(&root);
        tokio::task::spawn_blocking(move || list_files(&dir))
            .await
            .map_err(|e| Failure::new("Panic", e.to_string()))?
    });
    r.add_activity("copy_file_to_blob", move |_ctx, req: CopyRequest| {
        let backups = backups.clone();
        async move {
            let name = blob_name(Path::new(&req.root), Path::new(&req.path))?;
            let bytes = tokio::fs::read(&req.path)
                .await
                .map_err(|e| Failure::new("IoError", format!("cannot read '{}': {e}", req.path)))?;
            let size = bytes.len() as u64;
            backups
                .write(&name, bytes, "application/octet-stream")
                .await?;
            Ok::<_, Failure>(size)
        }
    });
}

fn root_of(input: &Value) -> Option<String> {
    match input {
        Value::String(s) => Some(s.clone()),
        Value::Object(m) => m.get("path").and_then(Value::as_str).map(str::to_string),
        _ => None,
    }
    .filter(|s| !s.trim().is_empty())
}

async fn backup(ctx: OrchestrationContext) -> Result<u64, Failure> {
    let input: Value = ctx.input()?;
    let root = root_of(&input).ok_or_else(|| {
        Failure::new(
            FailureDetails::INVALID_INPUT,
            format!("expected the directory to back up (\"/path\" or {{\"path\": \"/path\"}}), got {input}"),
        )
        .non_retriable()
    })?;
    let files: Vec<String> = ctx.call_activity("get_file_list", &root).await?;
    ctx.set_custom_status(&serde_json::json!({"files": files.len()}));
    let copies = files.iter().map(|path| {
        ctx.call_activity::<u64>(
            "copy_file_to_blob",
            CopyRequest {
                root: root.clone(),
                path: path.clone(),
            },
        )
    });
    let mut total = 0u64;
    for r in ctx.all_of(copies).await {
        total += r?;
    }
    Ok(total)
}

/// Regular files under `dir`, recursively, sorted.
fn list_files(dir: &Path) -> Result<Vec<String>, Failure> {
    let meta = std::fs::metadata(dir).map_err(|e| {
        Failure::new(
            "IoError",
            format!("cannot read directory '{}': {e}", dir.display()),
        )
        .non_retriable()
    })?;
    if !meta.is_dir() {
        return Err(Failure::new(
            FailureDetails::INVALID_INPUT,
            format!("'{}' is not a directory", dir.display()),
        )
        .non_retriable());
    }
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| {
            Failure::new(
                "IoError",
                format!("cannot read directory '{}': {e}", d.display()),
            )
        })?;
        for entry in entries {
            let entry = entry.map_err(|e| {
                Failure::new(
                    "IoError",
                    format!("cannot read directory '{}': {e}", d.display()),
                )
            })?;
            let kind = entry.file_type().map_err(|e| {
                Failure::new(
                    "IoError",
                    format!("cannot stat '{}': {e}", entry.path().display()),
                )
            })?;
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_file() {
                out.push(entry.path().to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    Ok(out)
}

/// `{directory name}/{path below it}`, with `/` separators.
pub fn blob_name(root: &Path, file: &Path) -> Result<String, Failure> {
    let rel = file.strip_prefix(root).map_err(|_| {
        Failure::new(
            FailureDetails::INVALID_INPUT,
            format!("'{}' is not below '{}'", file.display(), root.display()),
        )
        .non_retriable()
    })?;
    let top = root
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "root".to_string());
    let mut parts = vec![top];
    parts.extend(rel.iter().map(|p| p.to_string_lossy().into_owned()));
    Ok(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_names_keep_the_tree() {
        assert_eq!(
            blob_name(Path::new("/srv/site"), Path::new("/srv/site/a/b.txt")).unwrap(),
            "site/a/b.txt"
        );
        assert_eq!(
            blob_name(Path::new("/srv/site/"), Path::new("/srv/site/x")).unwrap(),
            "site/x"
        );
        assert!(blob_name(Path::new("/srv/site"), Path::new("/etc/passwd")).is_err());
    }
}
