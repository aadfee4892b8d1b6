//! Sessions: the messages of each instance waiting for, or in, its turn.
//!
//! Owns [`Sessions`]. One session per instance runs one turn at a time (DTFx's "one active
//! session per instance"); messages that arrive meanwhile — from the dequeue loop or handed over
//! by this worker itself — wait in the session and form its next turn. When an idle session gets
//! messages, its instance id is sent to the orchestration dispatcher (`orchestrations.rs`), which
//! runs turns until the session is empty. Knows nothing of how a turn runs.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, Notify};

use crate::backend::ReceivedMessage;

use super::locked;

/// The sessions of this worker. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Sessions {
    inner: Arc<Inner>,
}

struct Inner {
    map: Mutex<BTreeMap<String, Session>>,
    /// Control messages held by sessions (bounded by `control_buffer_limit`).
    buffered: AtomicUsize,
    /// Instances whose idle session just got messages.
    ready: mpsc::UnboundedSender<String>,
}

#[derive(Default)]
struct Session {
    pending: Vec<ReceivedMessage>,
    running: bool,
    /// Told of every submit: a turn waiting for its local activities' results listens.
    arrived: Arc<Notify>,
}

impl Sessions {
    /// The sessions, and the receiver of instances that are ready to run.
    pub fn new() -> (Sessions, mpsc::UnboundedReceiver<String>) {
        let (ready, rx) = mpsc::unbounded_channel();
        let inner = Inner {
            map: Mutex::new(BTreeMap::new()),
            buffered: AtomicUsize::new(0),
            ready,
        };
        (
            Sessions {
                inner: Arc::new(inner),
            },
            rx,
        )
    }

    /// Adds messages to an instance's session; an idle session becomes ready.
    pub fn submit(&self, instance_id: &str, messages: Vec<ReceivedMessage>) {
        let mut map = locked(&self.inner.map);
        let session = map.entry(instance_id.to_string()).or_default();
        for m in messages {
            // A message seen again (its lock ran out while it waited) replaces the old copy.
            match session
                .pending
                .iter_mut()
                .find(|p| p.message_id() == m.message_id())
            {
                Some(old) => *old = m,
                None => {
                    self.inner.buffered.fetch_add(1, Ordering::Relaxed);
                    session.pending.push(m);
                }
            }
        }
        session.arrived.notify_one();
        if !session.running && !session.pending.is_empty() {
            session.running = true;
            let _ = self.inner.ready.send(instance_id.to_string());
        }
    }

    /// Takes the waiting messages of a running session that `wanted` picks (a turn taking the
    /// results it waits for into itself: done with here), and what tells of the next submit.
    pub fn take_waiting(
        &self,
        instance_id: &str,
        mut wanted: impl FnMut(&ReceivedMessage) -> bool,
    ) -> (Vec<ReceivedMessage>, Arc<Notify>) {
        let mut map = locked(&self.inner.map);
        // A running session has its entry until its loop finds it empty (`next_batch`).
        let Some(session) = map.get_mut(instance_id) else {
            return (Vec::new(), Arc::default());
        };
        let (taken, rest) = std::mem::take(&mut session.pending)
            .into_iter()
            .partition(|m| wanted(m));
        session.pending = rest;
        self.inner
            .buffered
            .fetch_sub(taken.len(), Ordering::Relaxed);
        (taken, session.arrived.clone())
    }

    /// The next batch of a running session; `None` (and the session is gone) when it is empty.
    pub fn next_batch(&self, instance_id: &str) -> Option<Vec<ReceivedMessage>> {
        let mut map = locked(&self.inner.map);
        let session = map.get_mut(instance_id)?;
        if session.pending.is_empty() {
            map.remove(instance_id);
            return None;
        }
        Some(std::mem::take(&mut session.pending))
    }

    /// `n` messages of a batch are done with.
    pub fn done(&self, n: usize) {
        self.inner.buffered.fetch_sub(n, Ordering::Relaxed);
    }

    /// Messages waiting in or running in sessions.
    pub fn buffered(&self) -> usize {
        self.inner.buffered.load(Ordering::Relaxed)
    }

    /// Whether an instance `matches` has a session.
    pub fn any(&self, mut matches: impl FnMut(&str) -> bool) -> bool {
        locked(&self.inner.map).keys().any(|id| matches(id))
    }
}
