//! Operations on an instance together with its sub-orchestrations, to the bottom of the tree:
//! recursive terminate, suspend, resume and purge.
//!
//! An instance's children are the sub-orchestrations its current execution started (the
//! `SubOrchestrationInstanceCreated` events of its history). Terminate, suspend and resume go
//! down one level at a time: the operation is sent to a level, the client waits (a bounded
//! while) until the level has applied it, so that none of them starts another child, and only
//! then reads their children. Purge checks the whole tree first and deletes nothing if any
//! instance in it is still live; it then deletes children before their parent, so an
//! interrupted purge can be run again.

use std::collections::HashSet;
use std::time::Duration;

use tokio::time::Instant;

use crate::backend::PurgeResult;
use crate::core::{EventKind, OrchestrationStatus};

use super::{Client, Error, Result};

/// How long each level may take to apply a terminate, suspend or resume before its children are
/// read anyway (without a worker running, it never applies).
const SETTLE: Duration = Duration::from_secs(10);

/// A lifecycle operation sent to a live instance (and, recursively, to its sub-orchestrations).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// [`Client::terminate`].
    Terminate,
    /// [`Client::suspend`].
    Suspend,
    /// [`Client::resume`].
    Resume,
}

impl Control {
    /// Whether an instance with this status has applied the operation (or is past caring).
    fn applied(self, status: OrchestrationStatus) -> bool {
        status.is_terminal()
            || match self {
                Control::Terminate => false,
                Control::Suspend => status == OrchestrationStatus::Suspended,
                Control::Resume => status == OrchestrationStatus::Running,
            }
    }
}

/// What a recursive terminate, suspend or resume did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TreeOutcome {
    /// The instances the operation was sent to: the root first, then level by level.
    pub sent: Vec<String>,
    /// Instances that had not applied it when their children were read (no worker running, or
    /// a slow one): sub-orchestrations they start afterwards are not reached.
    pub unsettled: Vec<String>,
}

impl Client {
    /// The sub-orchestrations the instance's current execution started, in start order.
    pub async fn children(&self, id: &str) -> Result<Vec<String>> {
        let history = self.history(id).await?;
        let mut seen = HashSet::new();
        Ok(history
            .into_iter()
            .filter_map(|e| match e.kind {
                EventKind::SubOrchestrationInstanceCreated { instance_id, .. } => Some(instance_id),
                _ => None,
            })
            .filter(|child| seen.insert(child.clone()))
            .collect())
    }

    /// Sends `op` to one instance: [`Client::terminate`], [`Client::suspend`] or
    /// [`Client::resume`].
    pub async fn control(&self, op: Control, id: &str, reason: Option<&str>) -> Result<()> {
        match op {
            Control::Terminate => self.terminate(id, reason).await,
            Control::Suspend => self.suspend(id, reason).await,
            Control::Resume => self.resume(id, reason).await,
        }
    }

    /// Sends `op` to an instance and every live sub-orchestration below it. The root must be in
    /// a state `op` accepts (as for [`Client::control`]); children that finished meanwhile are
    /// skipped.
    pub async fn control_recursive(
        &self,
        op: Control,
        id: &str,
        reason: Option<&str>,
    ) -> Result<TreeOutcome> {
        self.control(op, id, reason).await?;
        self.control_below(op, id, reason).await
    }

    /// Terminates an instance and every live sub-orchestration below it.
    pub async fn terminate_recursive(&self, id: &str, reason: Option<&str>) -> Result<TreeOutcome> {
        self.control_recursive(Control::Terminate, id, reason).await
    }

    /// Purges a finished instance and every sub-orchestration below it. Refused, with nothing
    /// deleted, while any instance of the tree is still live.
    pub async fn purge_recursive(&self, id: &str) -> Result<PurgeResult> {
        let root = self.get(id).await?;
        let mut tree = vec![(id.to_string(), root.runtime_status)];
        let mut seen: HashSet<String> = HashSet::from([id.to_string()]);
        let mut i = 0;
        while i < tree.len() {
            for child in self.children(&tree[i].0).await? {
                if !seen.insert(child.clone()) {
                    continue;
                }
                // A child already purged (or never created) has no row: nothing to do there.
                if let Some(s) = self.status(&child, false).await? {
                    tree.push((child, s.runtime_status));
                }
            }
            i += 1;
        }
        if let Some((live, status)) = tree.iter().find(|(_, s)| !s.is_terminal()) {
            return Err(Error::WrongState {
                id: live.clone(),
                status: *status,
                what: "purging (recursively)",
                needs: "finished",
            });
        }
        let mut total = PurgeResult::default();
        for (instance, _) in tree.iter().rev() {
            total.add(&self.hub.purge_instance(instance).await?);
        }
        Ok(total)
    }

    /// The part of [`Client::control_recursive`] after the root has been sent `op`: waits for
    /// each level to apply it and sends it to the next.
    pub(crate) async fn control_below(
        &self,
        op: Control,
        id: &str,
        reason: Option<&str>,
    ) -> Result<TreeOutcome> {
        let mut outcome = TreeOutcome {
            sent: vec![id.to_string()],
            ..Default::default()
        };
        let mut seen: HashSet<String> = HashSet::from([id.to_string()]);
        let mut level = vec![id.to_string()];
        while !level.is_empty() {
            outcome.unsettled.extend(self.settle(&level, op).await?);
            let mut next = Vec::new();
            for parent in &level {
                for child in self.children(parent).await? {
                    if !seen.insert(child.clone()) {
                        continue;
                    }
                    match self.control(op, &child, reason).await {
                        Ok(()) => next.push(child),
                        // Finished, or purged, before we got to it: nothing below it is live
                        // on its account.
                        Err(Error::WrongState { .. } | Error::NotFound(_)) => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            outcome.sent.extend(next.iter().cloned());
            level = next;
        }
        Ok(outcome)
    }

    /// Waits until every instance of `level` has applied `op`, up to [`SETTLE`]; returns those
    /// that had not.
    async fn settle(&self, level: &[String], op: Control) -> Result<Vec<String>> {
        let deadline = Instant::now() + SETTLE;
        let mut pending: Vec<String> = level.to_vec();
        loop {
            let mut still = Vec::new();
            for id in pending {
                let applied = match self.status(&id, false).await? {
                    Some(s) => op.applied(s.runtime_status),
                    None => true,
                };
                if !applied {
                    still.push(id);
                }
            }
            if still.is_empty() || Instant::now() >= deadline {
                return Ok(still);
            }
            pending = still;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
