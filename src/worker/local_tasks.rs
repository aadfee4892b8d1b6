//! Activities this worker runs without a queue message (`backend::local_tasks` says how they
//! are recorded): which are in flight here, per instance, and the wake-up messages this worker
//! holds for them.
//!
//! Owns [`LocalTasks`]. A task is in flight from the commit that schedules it (or the cold load
//! that finds it without a result and runs it again) until the commit that applies or drops its
//! result; what the sentinel lists and is not in flight here is an orphan of a worker that
//! died, run again. The wake-ups are registered with the lock keeper too, which renews them.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::backend::ReceivedMessage;
use crate::core::OrchestrationInstance;

use super::locked;

/// The local tasks of this worker. Cheap to clone.
#[derive(Clone)]
pub(crate) struct LocalTasks {
    map: Arc<Mutex<BTreeMap<String, Entry>>>,
    /// The tasks in flight, all instances together (the `taskhub_local_activities` gauge).
    count: Arc<AtomicUsize>,
    /// How many tasks may be run here without a message, waiting or running (0: none).
    capacity: Arc<Semaphore>,
    enabled: bool,
}

#[derive(Default)]
struct Entry {
    wake_ups: Vec<ReceivedMessage>,
    /// By execution id and task id: a continue-as-new numbers its tasks from 0 again while
    /// the old execution's may still run.
    in_flight: BTreeSet<(String, i32)>,
}

fn execution(instance: &OrchestrationInstance) -> String {
    instance.execution_id.clone().unwrap_or_default()
}

impl LocalTasks {
    /// Room for `backlog` tasks run here at once; 0 turns local activities off.
    pub fn new(backlog: usize) -> Self {
        LocalTasks {
            map: Default::default(),
            count: Default::default(),
            capacity: Arc::new(Semaphore::new(backlog.min(Semaphore::MAX_PERMITS))),
            enabled: backlog > 0,
        }
    }

    /// Whether activities may run here without a message at all.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Room for one more task run here, held until it finishes.
    pub fn try_reserve(&self) -> Option<OwnedSemaphorePermit> {
        self.capacity.clone().try_acquire_owned().ok()
    }

    /// Whether this worker holds a wake-up of `instance_id` that is still its own.
    pub fn has_wake_up(&self, instance_id: &str) -> bool {
        locked(&self.map)
            .get(instance_id)
            .is_some_and(|e| e.wake_ups.iter().any(|w| !w.lease.is_released()))
    }

    /// Keeps a wake-up (one seen again replaces the old copy).
    pub fn keep_wake_up(&self, m: ReceivedMessage) {
        let mut map = locked(&self.map);
        let entry = map.entry(m.instance_id().to_string()).or_default();
        entry.wake_ups.retain(|w| w.message_id() != m.message_id());
        entry.wake_ups.push(m);
    }

    /// The wake-ups of `instance_id`, no longer kept here (for the caller to delete).
    pub fn take_wake_ups(&self, instance_id: &str) -> Vec<ReceivedMessage> {
        let mut map = locked(&self.map);
        let Some(entry) = map.get_mut(instance_id) else {
            return Vec::new();
        };
        let taken = std::mem::take(&mut entry.wake_ups);
        if entry.in_flight.is_empty() {
            map.remove(instance_id);
        }
        taken
    }

    /// Task `task_id` of `instance` runs here now.
    pub fn started(&self, instance: &OrchestrationInstance, task_id: i32) {
        let mut map = locked(&self.map);
        let entry = map.entry(instance.instance_id.clone()).or_default();
        if entry.in_flight.insert((execution(instance), task_id)) {
            self.count_change(1);
        }
    }

    /// The results of these tasks of `instance` are committed (or the tasks are someone
    /// else's now).
    pub fn done(&self, instance: &OrchestrationInstance, task_ids: impl IntoIterator<Item = i32>) {
        let mut map = locked(&self.map);
        let Some(entry) = map.get_mut(&instance.instance_id) else {
            return;
        };
        let exec = execution(instance);
        let mut removed = 0;
        for id in task_ids {
            removed += usize::from(entry.in_flight.remove(&(exec.clone(), id)));
        }
        if entry.in_flight.is_empty() && entry.wake_ups.is_empty() {
            map.remove(&instance.instance_id);
        }
        if removed > 0 {
            self.count_change(-(removed as isize));
        }
    }

    /// The tasks of `instance` (its execution) in flight here.
    pub fn in_flight(&self, instance: &OrchestrationInstance) -> BTreeSet<i32> {
        let exec = execution(instance);
        locked(&self.map)
            .get(&instance.instance_id)
            .map(|e| {
                let of_execution = e.in_flight.iter().filter(|(x, _)| *x == exec);
                of_execution.map(|(_, id)| *id).collect()
            })
            .unwrap_or_default()
    }

    /// How many tasks are in flight here, all instances together.
    #[cfg(test)]
    pub fn count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    /// Changes the count by `delta`; called with the map locked, so it follows the map.
    fn count_change(&self, delta: isize) {
        let n = (self.count.load(Ordering::SeqCst) as isize + delta).max(0) as usize;
        self.count.store(n, Ordering::SeqCst);
        crate::telemetry::local_activities(n);
    }

    /// Whether an instance `matches` has tasks in flight here.
    pub fn any_in_flight(&self, mut matches: impl FnMut(&str) -> bool) -> bool {
        locked(&self.map)
            .iter()
            .any(|(id, e)| !e.in_flight.is_empty() && matches(id))
    }

    /// Forgets the instances `matches` (their partition is someone else's now) and returns
    /// their wake-ups, for the caller to make visible: the new owner runs what is left.
    pub fn forget(&self, mut matches: impl FnMut(&str) -> bool) -> Vec<ReceivedMessage> {
        let mut map = locked(&self.map);
        let ids: Vec<String> = map.keys().filter(|id| matches(id)).cloned().collect();
        let entries: Vec<Entry> = ids.into_iter().filter_map(|id| map.remove(&id)).collect();
        let removed: usize = entries.iter().map(|e| e.in_flight.len()).sum();
        self.count_change(-(removed as isize));
        entries.into_iter().flat_map(|e| e.wake_ups).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::local_tasks::wake_up;
    use crate::core::testing::T0;

    fn instance(id: &str) -> OrchestrationInstance {
        OrchestrationInstance::new(id, Some("e".into()))
    }

    fn wake(id: &str, message_id: &str) -> ReceivedMessage {
        ReceivedMessage::local(wake_up(&instance(id), T0), message_id.into(), T0)
    }

    #[test]
    fn an_entry_lives_while_it_has_tasks_or_wake_ups() {
        let t = LocalTasks::new(4);
        t.started(&instance("a"), 1);
        t.keep_wake_up(wake("a", "w1"));
        t.keep_wake_up(wake("a", "w1"));
        assert_eq!(t.take_wake_ups("a").len(), 1);
        assert!(t.any_in_flight(|id| id == "a"));
        assert_eq!(t.count(), 1);
        t.done(&instance("a"), [1]);
        assert!(!t.any_in_flight(|_| true));
        assert!(t.in_flight(&instance("a")).is_empty());
        assert_eq!(t.count(), 0);
    }

    #[test]
    fn a_new_execution_s_tasks_are_told_from_the_old_one_s() {
        let t = LocalTasks::new(4);
        let new = OrchestrationInstance::new("a", Some("f".into()));
        t.started(&instance("a"), 0);
        t.started(&new, 0);
        // The old execution's result is dropped: the new execution's task 0 still runs.
        t.done(&instance("a"), [0]);
        assert_eq!(t.in_flight(&new), [0].into_iter().collect());
        assert!(t.in_flight(&instance("a")).is_empty());
        assert_eq!(t.count(), 1);
    }

    #[test]
    fn capacity_bounds_the_tasks_run_here() {
        let t = LocalTasks::new(1);
        let first = t.try_reserve();
        assert!(first.is_some());
        assert!(t.try_reserve().is_none());
        drop(first);
        assert!(t.try_reserve().is_some());
        assert!(!LocalTasks::new(0).enabled());
    }

    #[test]
    fn forgetting_a_partition_hands_back_its_wake_ups() {
        let t = LocalTasks::new(4);
        t.keep_wake_up(wake("a", "w1"));
        t.keep_wake_up(wake("b", "w2"));
        t.started(&instance("b"), 3);
        let released = t.forget(|id| id == "b");
        assert_eq!(released.len(), 1);
        assert!(t.in_flight(&instance("b")).is_empty());
        assert_eq!(t.count(), 0);
        // A local message's lease is released from the start: it counts as not ours.
        assert!(!t.has_wake_up("a"));
    }
}
