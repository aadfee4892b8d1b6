//! Liveness and readiness. A process is alive while it answers; it is ready while its storage
//! answers and every component it depends on (a worker's partition manager, dispatchers, lock
//! keeper) is still running. Components say so by holding a [`RunningGuard`]: dropping it (the
//! task ended, panicked or was aborted) marks the component stopped.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;

/// The components of a process that readiness depends on. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Health {
    components: Arc<Mutex<BTreeMap<&'static str, bool>>>,
}

/// Held by a running component; dropped, it marks the component stopped.
#[derive(Debug)]
pub struct RunningGuard {
    health: Health,
    name: &'static str,
}

impl Drop for RunningGuard {
    fn drop(&mut self) {
        self.health.set(self.name, false);
    }
}

/// What `/readyz` answers.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct HealthReport {
    /// Storage answered and every component runs.
    pub ready: bool,
    /// `ok`, or why storage did not answer.
    pub storage: String,
    /// Each component and whether it runs.
    pub components: BTreeMap<&'static str, bool>,
    /// What is not ready, one line each (empty when ready).
    pub not_ready: Vec<String>,
}

impl Health {
    /// A process with no components yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Marks `name` running until the returned guard is dropped.
    pub fn running(&self, name: &'static str) -> RunningGuard {
        self.set(name, true);
        RunningGuard {
            health: self.clone(),
            name,
        }
    }

    fn set(&self, name: &'static str, running: bool) {
        let mut c = self.components.lock().unwrap_or_else(|e| e.into_inner());
        c.insert(name, running);
    }

    /// The report, given how the storage probe went.
    pub fn report(&self, storage: Result<(), String>) -> HealthReport {
        let components = self
            .components
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut not_ready: Vec<String> = components
            .iter()
            .filter(|(_, running)| !**running)
            .map(|(name, _)| format!("{name} is not running"))
            .collect();
        let storage = match storage {
            Ok(()) => "ok".to_string(),
            Err(why) => {
                not_ready.insert(0, format!("storage: {why}"));
                why
            }
        };
        HealthReport {
            ready: not_ready.is_empty(),
            storage,
            components,
            not_ready,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_guard_or_unreachable_storage_makes_it_unready() {
        let h = Health::new();
        let g = h.running("partition manager");
        assert!(h.report(Ok(())).ready);
        let r = h.report(Err("timed out after 2 s".into()));
        assert!(!r.ready);
        assert_eq!(
            r.not_ready,
            vec!["storage: timed out after 2 s".to_string()]
        );
        drop(g);
        let r = h.report(Ok(()));
        assert!(!r.ready);
        assert_eq!(
            r.not_ready,
            vec!["partition manager is not running".to_string()]
        );
        assert_eq!(r.components.get("partition manager"), Some(&false));
    }
}
