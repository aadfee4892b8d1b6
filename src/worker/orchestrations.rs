//! The orchestration dispatcher: runs each ready session's turns, one turn at a time per
//! instance, at most `max_concurrent_orchestrations` instances at once.
//!
//! Owns [`Orchestrations`]. A turn: take the instance's state from the cache (or load its
//! history), decide per message (apply / drop / defer / wait, `backend::classify`), run the
//! executor, commit through the seam, hand held work on, keep the state in the cache, and leave
//! the checkpoint's finish to the finisher. Entities (`@name@key`) run their batches in
//! `entities.rs` instead.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, Semaphore};
use tracing::Instrument;

use crate::backend::local_tasks;
use crate::backend::{
    classify, Checkpoint, Disposition, HistoryCursor, InstanceState, OrchestrationService,
    ReceivedMessage,
};
use crate::core::instance::is_entity_instance;
use crate::core::{EventKind, OrchestrationExecutor, OrchestrationStatus, Registry, Timestamp};
use crate::telemetry::{self, TurnOutcome};

use super::cache::{Cache, Replay};
use super::entities::Entities;
use super::finishing::{Finisher, PendingFinish};
use super::inline_activities;
use super::local::Local;
use super::options::WorkerOptions;
use super::outcomes;
use super::poison;
use super::sessions::Sessions;
use super::spans::ExecutionTrace;
use super::tasks::Tasks;
use super::versions::{for_turn, terminates, Gate};

/// How long after its creation a Pending instance's messages keep waiting for its start.
const PENDING_PATIENCE: time::Duration = time::Duration::minutes(10);
/// How often they look again.
const PENDING_RECHECK: time::Duration = time::Duration::seconds(5);
/// How long the messages of an instance this worker must not run stay put back before it (or
/// the worker that now owns the partition) looks again.
const REJECTED_RECHECK: time::Duration = time::Duration::seconds(10);

/// An instance's state as a turn found it, and when the turn began.
struct TurnState {
    executor: OrchestrationExecutor,
    cursor: HistoryCursor,
    started: std::time::Instant,
    partition: String,
    epoch: Option<u64>,
}

/// What orchestration turns need. Cheap to share (`Arc`).
pub(crate) struct Orchestrations {
    pub service: Arc<dyn OrchestrationService>,
    pub registry: Arc<Registry>,
    pub options: Arc<WorkerOptions>,
    pub sessions: Sessions,
    pub cache: Cache,
    pub local: Local,
    pub finisher: Finisher,
    pub entities: Entities,
    pub tasks: Tasks,
    pub slots: Arc<Semaphore>,
}

impl Orchestrations {
    /// Runs every session that becomes ready, for as long as the worker lives.
    pub async fn dispatch(self: Arc<Self>, mut ready: mpsc::UnboundedReceiver<String>) {
        while let Some(id) = ready.recv().await {
            let this = self.clone();
            // A root span: sessions started from another task (a local hand-over) must not nest.
            let span = tracing::info_span!(parent: None, "session", instance_id = %id);
            self.tasks.spawn_work(
                "session",
                async move { this.run_session(id).await }.instrument(span),
            );
        }
    }

    async fn run_session(&self, instance_id: String) {
        let Ok(_slot) = self.slots.clone().acquire_owned().await else {
            return;
        };
        while let Some(batch) = self.sessions.next_batch(&instance_id) {
            let n = batch.len();
            self.run_turn(&instance_id, batch).await;
            self.sessions.done(n);
        }
    }

    /// Runs one turn of an instance over a batch of its messages, and commits it.
    async fn run_turn(&self, instance_id: &str, batch: Vec<ReceivedMessage>) {
        // Wake-ups are kept, not applied (`local_tasks.rs`): the turn below then finds any
        // local task left without a result, or deletes them if none is listed.
        let (wake_ups, batch): (Vec<_>, Vec<_>) = batch
            .into_iter()
            .partition(|m| local_tasks::is_wake_up(&m.message));
        let woken = !wake_ups.is_empty();
        // How often the listed tasks were handed out: their wake-ups' deliveries.
        let mut deliveries = 0;
        for w in wake_ups {
            deliveries = deliveries.max(w.dequeue_count());
            self.local.tasks.keep_wake_up(w);
        }
        // A start delivered too often may be a kept start (a wake-up, told after the load). A
        // local result was on no queue: its count is its task's (a poison task's failure).
        let limit = self.options.poison_dequeue_limit;
        let (poison, batch): (Vec<_>, Vec<_>) = batch.into_iter().partition(|m| {
            m.dequeue_count() > limit && !m.is_local() && start_on_queue(m).is_none()
        });
        if !poison.is_empty() {
            let order = self.finisher.order();
            poison::fail_and_remove(&self.service, &self.cache, order, instance_id, poison).await;
        }
        if batch.is_empty() && !woken {
            return;
        }
        let started = std::time::Instant::now();
        if is_entity_instance(instance_id) {
            self.entities.run(instance_id, batch).await;
            return;
        }
        // The instance's partition — not the batch's first queue: an activity's result carried
        // by its request's message comes from the work-item queue, and a turn filed under that
        // would never keep its state in the cache (every next turn reloaded the history).
        let partition = self.service.names().control_queue_for(instance_id);
        let epoch = self.local.ownership.epoch(&partition);
        let (executor, cursor) = match self.cache.take(instance_id) {
            Some((Replay::Orchestration(ex), cursor)) => (ex, cursor),
            _ if is_first_start(&batch) => (
                OrchestrationExecutor::new(self.registry.clone()),
                HistoryCursor::default(),
            ),
            _ => match self.service.load_orchestration_state(instance_id).await {
                Ok(loaded) => {
                    let cursor = HistoryCursor::of(&loaded);
                    let orphans = Orphans {
                        cursor: &cursor,
                        events: &loaded.events,
                        batch: &batch,
                        deliveries,
                    };
                    self.run_orphans(instance_id, orphans);
                    (
                        OrchestrationExecutor::from_history(self.registry.clone(), &loaded.events),
                        cursor,
                    )
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not load history; messages will be retried");
                    self.give_back(&batch, None).await;
                    return;
                }
            },
        };

        // The rest runs in the turn's span, in the execution's trace when it has one.
        let trace = ExecutionTrace::of(&executor, &batch);
        let span = trace
            .as_ref()
            .map_or_else(tracing::Span::none, ExecutionTrace::turn_span);
        let state = TurnState {
            executor,
            cursor,
            started,
            partition,
            epoch,
        };
        self.decide_and_run(instance_id, batch, state, trace.as_ref())
            .instrument(span)
            .await
    }

    /// The turn once the instance's state is in hand: decide per message, run, commit.
    async fn decide_and_run(
        &self,
        instance_id: &str,
        batch: Vec<ReceivedMessage>,
        state: TurnState,
        trace: Option<&ExecutionTrace>,
    ) {
        let TurnState {
            mut executor,
            cursor,
            started,
            partition,
            epoch,
        } = state;
        // A start of this execution delivered again while local tasks are listed is the
        // instance's wake-up (the first turn kept its start as one): kept, not dropped.
        let (kept, batch): (Vec<_>, Vec<_>) = batch
            .into_iter()
            .partition(|m| is_kept_start(m, &cursor, &executor));
        for m in kept {
            self.local.tasks.keep_wake_up(m);
        }
        // A start delivered too often (held back until the state told) is poison unless the
        // execution it starts has run: a duplicate, dropped below.
        let limit = self.options.poison_dequeue_limit;
        let current = cursor
            .execution_id
            .as_deref()
            .filter(|_| executor.is_started());
        let (poison, batch): (Vec<_>, Vec<_>) = batch.into_iter().partition(|m| {
            m.dequeue_count() > limit && start_on_queue(m).is_some_and(|e| Some(e) != current)
        });
        if !poison.is_empty() {
            let order = self.finisher.order();
            poison::fail_and_remove(&self.service, &self.cache, order, instance_id, poison).await;
            // The state in hand predates the failure: the rest is decided again on a reload.
            self.give_back(&batch, Some(Duration::ZERO)).await;
            return;
        }
        // Decide per message.
        let now = self.service.clock().now();
        let Sorted {
            mut apply,
            mut drop,
            mut defer,
            mut wait,
            replaces_execution,
        } = sort_messages(&executor, &cursor, instance_id, batch, now);
        if replaces_execution {
            // A finished instance started again: a fresh execution overwrites the old history.
            executor = OrchestrationExecutor::new(self.registry.clone());
        }
        if !defer.is_empty() && !executor.is_started() && apply.is_empty() {
            let terminated = self
                .not_started_yet(instance_id, &mut defer, &mut wait, now)
                .await;
            drop.extend(
                terminated
                    .into_iter()
                    .map(|m| (m, "terminated before it started")),
            );
        }
        if self.terminated_before_start(instance_id, &apply).await {
            drop.extend(apply.drain(..).map(|m| (m, "terminated before it started")));
        }
        for (m, reason) in &drop {
            tracing::debug!(event = %m.message.event.event_type(), reason, "message dropped");
        }
        let drop: Vec<ReceivedMessage> = drop.into_iter().map(|(m, _)| m).collect();

        // Run no code this worker must not run (another version's, an unregistered name's).
        let refusal = match for_turn(&self.options.version, &self.registry, &executor, &apply) {
            Gate::Run => None,
            Gate::Fail(failure) => Some(failure),
            // A terminate needs no code: it is carried out whatever the version.
            Gate::Reject(failure) if terminates(&apply) => Some(failure),
            Gate::Reject(failure) => {
                let put_back = apply.into_iter().chain(drop);
                let put_back: Vec<_> = put_back.chain(defer.into_iter().map(|(m, _)| m)).collect();
                self.local
                    .give_back(&put_back, REJECTED_RECHECK.unsigned_abs());
                self.reject(&failure, put_back, wait, now).await;
                return;
            }
        };

        if apply.is_empty() {
            let finished = executor.status().is_terminal();
            let mut drop = drop;
            if cursor.local_tasks.is_empty() {
                // Nothing is listed: the wake-ups held for the instance are stale.
                drop.extend(self.local.tasks.take_wake_ups(instance_id));
            }
            let current = self.drop_only(instance_id, &cursor, finished, drop).await;
            self.defer(defer, wait).await;
            // A finished instance is not kept: a rewind edits its history without touching
            // the sentinel (as DurableTask's does), so a cached copy would outlive it and drop
            // the wake-up. Messages to finished instances are rare; reloading is cheap enough.
            if current && !replaces_execution && !finished {
                let replay = Replay::Orchestration(executor);
                self.cache
                    .put(instance_id, &partition, epoch, replay, cursor);
            }
            return;
        }

        apply.sort_by(|a, b| {
            let start = |m: &ReceivedMessage| {
                !matches!(m.message.event.kind, EventKind::ExecutionStarted { .. })
            };
            (start(a), a.raw.inserted_on, a.envelope.sequence_number).cmp(&(
                start(b),
                b.raw.inserted_on,
                b.envelope.sequence_number,
            ))
        });
        let starts_execution = apply
            .iter()
            .any(|m| matches!(m.message.event.kind, EventKind::ExecutionStarted { .. }));
        let events = apply.iter().map(|m| m.message.event.clone()).collect();
        let waits = refusal.is_none() && self.local.tasks.enabled();
        let mut turn = match refusal {
            Some(failure) => {
                tracing::warn!(reason = %failure, "instance ended without running its code");
                let mut turn = executor.run_turn_without_code(now, events, failure);
                ExecutionTrace::stamp(&executor, &mut turn, now);
                turn
            }
            None => self.run_code(&mut executor, now, events),
        };
        let mut inbound = apply;
        inbound.extend(drop);
        // Short local activities answered before the commit go into it (inline_activities.rs);
        // those still running at the deadline are recorded as local tasks, not started again.
        let patience = self.options.local_activity_wait;
        let mut running = std::collections::BTreeSet::new();
        if waits && !patience.is_zero() {
            let run_on = |ex: &mut OrchestrationExecutor, events| {
                self.run_code(ex, self.service.clock().now(), events)
            };
            let waited = inline_activities::wait_for_results(
                &self.local,
                &self.sessions,
                instance_id,
                &mut executor,
                turn,
                patience,
                run_on,
            )
            .await;
            inbound.extend(waited.results);
            turn = waited.turn;
            running = waited.running;
        }
        let is_running = |m: &crate::core::TaskMessage| {
            m.is_activity_request() && running.contains(&m.event.event_id)
        };
        let wanted = turn
            .messages
            .iter()
            .filter(|m| m.is_activity_request())
            .count();
        let plan = self.local.plan(wanted.saturating_sub(running.len()));
        let has_wake_up = self.local.tasks.has_wake_up(instance_id);
        let start_as_wake_up = (!has_wake_up && (plan.runs_any_here() || !running.is_empty()))
            .then(|| {
                inbound.iter().position(|m| {
                    !m.is_local()
                        && m.queue == partition
                        && matches!(m.message.event.kind, EventKind::ExecutionStarted { .. })
                })
            })
            .flatten();
        let hold = |m: &crate::core::TaskMessage| plan.holds(&self.local, m);
        let run_here = |m: &crate::core::TaskMessage| is_running(m) || plan.runs_here(m);
        let keep = |m: &ReceivedMessage| self.local.locks.hold(m);
        let checkpoint = Checkpoint {
            instance_id,
            turn: &turn,
            cursor: &cursor,
            replaces_execution,
            inbound: &inbound,
            hold: Some(&hold),
            hold_for: self.options.visibility_timeout,
            on_held: Some(&keep),
            run_here: Some(&run_here),
            has_wake_up: has_wake_up || start_as_wake_up.is_some(),
        };
        match self
            .service
            .commit_orchestration_work_item(&checkpoint)
            .await
        {
            Ok(mut committed) => {
                telemetry::turn(TurnOutcome::Committed, started.elapsed());
                if let Some(trace) = trace {
                    trace.emit(&turn, self.service.clock().now());
                }
                if starts_execution {
                    telemetry::orchestration_started();
                }
                if turn.is_terminal() || turn.status == OrchestrationStatus::ContinuedAsNew {
                    telemetry::orchestration_completed(turn.status.as_str());
                }
                // Durable now: held work starts at once, and the rest of the checkpoint runs
                // beside the instance's next turn (finishing.rs).
                let held = std::mem::take(&mut committed.held);
                let n_held = held.len();
                plan.dispatch(&self.local, held);
                let mut to_start = std::mem::take(&mut committed.run_here);
                to_start.retain(|m| !is_running(m));
                plan.run_here_all(&self.local, to_start);
                plan.wake_pollers(&self.local);
                if let Some(i) = start_as_wake_up {
                    if !committed.cursor.local_tasks.is_empty() {
                        self.local.tasks.keep_wake_up(inbound.remove(i));
                    }
                }
                self.settle_local_tasks(instance_id, &mut inbound, &mut committed);
                tracing::debug!(status = %turn.status, events = turn.new_events.len(), sent = turn.messages.len(), held = n_held, "turn committed");
                if !turn.is_terminal() {
                    let replay = Replay::Orchestration(executor);
                    let cur = committed.cursor.clone();
                    self.cache.put(instance_id, &partition, epoch, replay, cur);
                }
                let finish = PendingFinish {
                    instance_id: instance_id.to_string(),
                    turn,
                    cursor,
                    replaces_execution,
                    inbound,
                    committed,
                };
                self.finisher.spawn(finish).await;
            }
            Err(crate::backend::Error::LockLost { .. }) => {
                telemetry::turn(TurnOutcome::LockLost, started.elapsed());
                tracing::info!(
                    "another worker updated this instance; its messages will be retried"
                );
                let delay = Some(Duration::from_secs(1));
                self.give_back(&inbound, delay).await;
            }
            Err(e) => {
                telemetry::turn(TurnOutcome::Failed, started.elapsed());
                tracing::warn!(error = %e, "checkpoint failed; messages will be retried");
                self.give_back(&inbound, None).await;
            }
        }
        self.defer(defer, wait).await;
    }

    /// Runs the orchestration's code over `events`: one round of a turn.
    fn run_code(
        &self,
        executor: &mut OrchestrationExecutor,
        now: Timestamp,
        events: Vec<crate::core::HistoryEvent>,
    ) -> crate::core::TurnResult {
        let mut turn = executor.run_turn(now, events, &mut || {
            crate::entropy::uuid().simple().to_string()
        });
        for w in &turn.warnings {
            tracing::warn!("{w}");
        }
        ExecutionTrace::stamp(executor, &mut turn, now);
        turn
    }

    /// After a commit: a wake-up sent for the instance is kept, the tasks whose results the
    /// turn consumed are no longer in flight, and once nothing is listed the instance's
    /// wake-ups are deleted with the turn's messages (taken now, so the next turn sends a
    /// new one if it runs tasks here again).
    fn settle_local_tasks(
        &self,
        instance_id: &str,
        inbound: &mut Vec<ReceivedMessage>,
        committed: &mut crate::backend::Committed,
    ) {
        let tasks = &self.local.tasks;
        if let Some(w) = committed.wake_up.take() {
            tasks.keep_wake_up(w);
        }
        for m in inbound.iter() {
            tasks.done(&m.message.instance, m.message.event.kind.completes_id());
        }
        if committed.cursor.local_tasks.is_empty() {
            inbound.extend(tasks.take_wake_ups(instance_id));
        }
    }

    /// Runs again the listed local tasks a cold load finds without a result, not in flight
    /// here and not answered in this batch: their worker stopped (or lost the partition)
    /// before their results were committed. Each counts its wake-up's deliveries (a kept
    /// start's among them), so one that kills its worker every time ends as poison.
    fn run_orphans(&self, instance_id: &str, found: Orphans<'_>) {
        let Orphans {
            cursor,
            events,
            batch,
            deliveries,
        } = found;
        if cursor.local_tasks.is_empty() {
            return;
        }
        let instance =
            crate::core::OrchestrationInstance::new(instance_id, cursor.execution_id.clone());
        let running = self.local.tasks.in_flight(&instance);
        let answered: std::collections::BTreeSet<i32> = batch
            .iter()
            .filter_map(|m| m.message.event.kind.completes_id())
            .collect();
        let kept_start = batch
            .iter()
            .filter(|m| starts_again(m, cursor))
            .map(|m| m.dequeue_count());
        let deliveries = kept_start.fold(deliveries, u64::max);
        let mut n = 0;
        for e in events {
            let id = e.event_id;
            let orphan = matches!(e.kind, EventKind::TaskScheduled { .. })
                && cursor.local_tasks.contains(&id)
                && !running.contains(&id)
                && !answered.contains(&id);
            if orphan {
                let request = crate::core::TaskMessage {
                    instance: instance.clone(),
                    event: e.clone(),
                    visible_at: None,
                };
                self.local.run_here(request, None, deliveries);
                n += 1;
            }
        }
        if n > 0 {
            tracing::info!(
                tasks = n,
                deliveries,
                "running again local activities left without a result"
            );
        }
    }

    /// Gives a turn's messages back: queue messages to their queue (after `delay`, or their
    /// backoff), results that never were on a queue to the session again.
    async fn give_back(&self, messages: &[ReceivedMessage], delay: Option<Duration>) {
        let again = delay.unwrap_or(Duration::from_secs(1));
        self.local.give_back(messages, again);
        outcomes::abandon(&self.service, messages, delay).await;
    }

    /// Defers and puts back messages (`outcomes::defer`); a result that never was on a queue
    /// goes to its session again instead, after its delay.
    async fn defer(
        &self,
        defer: Vec<(ReceivedMessage, Duration)>,
        wait: Vec<(ReceivedMessage, Timestamp)>,
    ) {
        for (m, delay) in defer.iter().filter(|(m, _)| m.is_local()) {
            self.local.give_back(std::slice::from_ref(m), *delay);
        }
        let now = self.service.clock().now();
        for (m, due) in wait.iter().filter(|(m, _)| m.is_local()) {
            let delay = (*due - now).max(time::Duration::ZERO).unsigned_abs();
            self.local.give_back(std::slice::from_ref(m), delay);
        }
        outcomes::defer(&self.service, defer, wait).await;
    }

    /// Puts an instance's messages back for a while, for whichever worker owns the partition
    /// then: not a failed delivery, so they never become poison however long the wait.
    async fn reject(
        &self,
        failure: &crate::core::FailureDetails,
        messages: Vec<ReceivedMessage>,
        wait: Vec<(ReceivedMessage, Timestamp)>,
        now: Timestamp,
    ) {
        let due = now + REJECTED_RECHECK;
        if failure.error_type == crate::core::FailureDetails::VERSION_MISMATCH {
            tracing::info!(reason = %failure.error_message, "not run here; its messages wait for a worker that runs this version");
        } else {
            tracing::warn!(reason = %failure.error_message, "not run here; its messages wait for a worker that registers it");
        }
        let wait = messages
            .into_iter()
            .map(|m| (m, due))
            .chain(wait.into_iter().map(|(m, at)| (m, at.max(due))))
            .collect();
        outcomes::defer(&self.service, Vec::new(), wait).await;
    }

    /// A batch with nothing to apply: its dropped messages are deleted — but only once the
    /// state the decision was taken on is confirmed current (nobody appended since it was
    /// loaded or cached), since no write fences a delete. A finished instance's Instances row
    /// is brought up to date first (a worker may have died between the history and the row).
    /// Returns false when the state turned out stale (the caller must not keep it).
    async fn drop_only(
        &self,
        instance_id: &str,
        cursor: &HistoryCursor,
        finished: bool,
        drop: Vec<ReceivedMessage>,
    ) -> bool {
        if drop.is_empty() {
            return true;
        }
        match self
            .service
            .history_unchanged(instance_id, cursor.etag.as_ref())
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                tracing::info!(
                    "the instance changed since its state was read; its messages are decided again"
                );
                self.give_back(&drop, Some(Duration::ZERO)).await;
                return false;
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not confirm the instance's state; its messages will be retried");
                self.give_back(&drop, None).await;
                return false;
            }
        }
        if finished {
            // After the instance's pending finishes: the last one may be what the row lacks.
            let order = self.finisher.order();
            let slot = order.enter(instance_id).await;
            if let Err(e) = self.service.repair_finished_instance(instance_id).await {
                tracing::warn!(error = %e, "could not check the Instances row of a finished instance");
            }
            order.leave(slot);
        }
        self.service.drop_messages(&drop).await;
        for m in drop.iter().filter(|m| m.is_local()) {
            let answered = m.message.event.kind.completes_id();
            self.local.tasks.done(&m.message.instance, answered);
        }
        true
    }

    /// Messages for an instance that has not started yet, whose Instances row says Pending: a
    /// terminate marks the row Terminated (its start is dropped when it comes) and is returned
    /// to be deleted with the other messages; otherwise the messages wait — until a scheduled
    /// start, or a few seconds at a time while the start is on its way — rather than use up
    /// their deferrals and be dropped.
    async fn not_started_yet(
        &self,
        instance_id: &str,
        defer: &mut Vec<(ReceivedMessage, Duration)>,
        wait: &mut Vec<(ReceivedMessage, Timestamp)>,
        now: Timestamp,
    ) -> Vec<ReceivedMessage> {
        let Ok(Some(status)) = self.service.read_instance(instance_id).await else {
            return Vec::new();
        };
        if status.runtime_status != OrchestrationStatus::Pending {
            return Vec::new();
        }
        let reason = defer.iter().find_map(|(m, _)| match &m.message.event.kind {
            EventKind::ExecutionTerminated { input } => Some(input.clone()),
            _ => None,
        });
        if let Some(reason) = reason {
            match self
                .service
                .mark_terminated(instance_id, reason.as_deref())
                .await
            {
                Ok(()) => return std::mem::take(defer).into_iter().map(|(m, _)| m).collect(),
                Err(e) => {
                    tracing::warn!(error = %e, "could not mark a pending instance terminated")
                }
            }
        }
        let due = match status.scheduled_start_time.filter(|t| *t > now) {
            Some(at) => Some(at),
            // Started but not yet run (its worker may be down or busy): its messages wait
            // without using up their deferrals, for as long as a start can reasonably take.
            None if status
                .created_time
                .is_some_and(|t| now - t < PENDING_PATIENCE) =>
            {
                Some(now + PENDING_RECHECK)
            }
            None => None,
        };
        if let Some(at) = due {
            wait.extend(std::mem::take(defer).into_iter().map(|(m, _)| (m, at)));
        }
        Vec::new()
    }

    /// True when `apply` holds a scheduled start whose instance was terminated while it waited.
    async fn terminated_before_start(&self, instance_id: &str, apply: &[ReceivedMessage]) -> bool {
        let Some(execution_id) = apply.iter().find_map(|m| match &m.message.event.kind {
            EventKind::ExecutionStarted {
                scheduled_start_time: Some(_),
                orchestration_instance,
                ..
            } => orchestration_instance.execution_id.clone(),
            _ => None,
        }) else {
            return false;
        };
        matches!(
            self.service.read_instance(instance_id).await,
            Ok(Some(s)) if s.runtime_status == OrchestrationStatus::Terminated
                && s.execution_id.as_deref() == Some(execution_id.as_str())
        )
    }
}

/// True for the first delivery of a client's start of a brand-new instance (generation 0: the
/// client found no Instances row). Its history is then assumed empty without reading it; if it
/// is not, the first append's sentinel insert conflicts, the batch comes back (delivered twice
/// now) and the history is read.
fn is_first_start(batch: &[ReceivedMessage]) -> bool {
    batch.iter().any(|m| {
        m.dequeue_count() == 1
            && matches!(
                &m.message.event.kind,
                EventKind::ExecutionStarted {
                    generation: Some(0),
                    parent_instance: None,
                    ..
                }
            )
    }) && batch.iter().all(|m| m.dequeue_count() == 1)
}

/// What a cold load found for [`Orchestrations::run_orphans`].
struct Orphans<'a> {
    cursor: &'a HistoryCursor,
    events: &'a [crate::core::HistoryEvent],
    batch: &'a [ReceivedMessage],
    /// The most deliveries among the batch's wake-ups.
    deliveries: u64,
}

/// The execution `m` starts, when it could be that execution's kept start (a start of a known
/// execution that was on a queue); [`is_kept_start`] tells once the state is known.
fn start_on_queue(m: &ReceivedMessage) -> Option<&str> {
    match &m.message.event.kind {
        EventKind::ExecutionStarted {
            orchestration_instance,
            ..
        } if !m.is_local() => orchestration_instance.execution_id.as_deref(),
        _ => None,
    }
}

/// Whether `m` is a start of the current execution delivered again while local tasks are
/// listed: the wake-up kept by the execution's first turn (docs/checkpoint.md).
fn is_kept_start(
    m: &ReceivedMessage,
    cursor: &HistoryCursor,
    executor: &OrchestrationExecutor,
) -> bool {
    !cursor.local_tasks.is_empty() && executor.is_started() && starts_again(m, cursor)
}

/// Whether `m` is a start, from a queue, of the execution `cursor` holds.
fn starts_again(m: &ReceivedMessage, cursor: &HistoryCursor) -> bool {
    start_on_queue(m).is_some_and(|e| Some(e) == cursor.execution_id.as_deref())
}

/// A batch's messages, decided.
struct Sorted {
    apply: Vec<ReceivedMessage>,
    drop: Vec<(ReceivedMessage, &'static str)>,
    defer: Vec<(ReceivedMessage, Duration)>,
    wait: Vec<(ReceivedMessage, Timestamp)>,
    /// The batch starts a new execution over a finished one.
    replaces_execution: bool,
}

impl Sorted {
    fn push(&mut self, m: ReceivedMessage, d: Disposition) {
        match d {
            Disposition::Apply => self.apply.push(m),
            Disposition::StartNewExecution => self.drop.push((m, "unexpected start")),
            Disposition::Drop(reason) => self.drop.push((m, reason)),
            Disposition::Defer(delay) => self.defer.push((m, delay)),
            Disposition::WaitUntil(due) => self.wait.push((m, due)),
        }
    }
}

/// Decides apply / drop / defer / wait for each message. Starts are decided first: a start
/// applied in this batch makes the instance exist for the batch's other messages (an event or a
/// terminate sent right after the start lands in the same batch).
fn sort_messages(
    executor: &OrchestrationExecutor,
    cursor: &HistoryCursor,
    instance_id: &str,
    batch: Vec<ReceivedMessage>,
    now: Timestamp,
) -> Sorted {
    let has_scheduled = |id: i32| executor.has_scheduled(id);
    let has_completed = |id: i32| executor.has_completed(id);
    let before = InstanceState {
        execution_id: cursor
            .execution_id
            .as_deref()
            .filter(|_| executor.is_started()),
        status: executor.status(),
        has_scheduled: &has_scheduled,
        has_completed: &has_completed,
        is_entity: is_entity_instance(instance_id),
    };
    let mut sorted = Sorted {
        apply: Vec::new(),
        drop: Vec::new(),
        defer: Vec::new(),
        wait: Vec::new(),
        replaces_execution: false,
    };
    let (starts, others): (Vec<_>, Vec<_>) = batch
        .into_iter()
        .partition(|m| matches!(m.message.event.kind, EventKind::ExecutionStarted { .. }));
    let mut started: Option<String> = None;
    for m in starts {
        match classify(&m.message, m.dequeue_count(), &before, now) {
            Disposition::Apply | Disposition::StartNewExecution if started.is_some() => {
                sorted.drop.push((m, "second start in one batch"));
            }
            d @ (Disposition::Apply | Disposition::StartNewExecution) => {
                sorted.replaces_execution = d == Disposition::StartNewExecution;
                started = Some(m.message.instance.execution_id.clone().unwrap_or_default());
                sorted.apply.push(m);
            }
            d => sorted.push(m, d),
        }
    }
    let nothing = |_: i32| false;
    let fresh = started.as_deref().map(|exec| InstanceState {
        execution_id: Some(exec),
        status: OrchestrationStatus::Running,
        has_scheduled: &nothing,
        has_completed: &nothing,
        is_entity: before.is_entity,
    });
    let state = fresh.as_ref().unwrap_or(&before);
    let mut completing = std::collections::BTreeSet::new();
    for m in others {
        let completes = m.message.event.kind.completes_id();
        let disposition = match completes {
            // Two deliveries of one completion in the same batch: keep the first applied.
            Some(id) if completing.contains(&id) => Disposition::Drop("duplicate completion"),
            _ => classify(&m.message, m.dequeue_count(), state, now),
        };
        if let (Some(id), Disposition::Apply) = (completes, &disposition) {
            completing.insert(id);
        }
        sorted.push(m, disposition);
    }
    sorted
}
