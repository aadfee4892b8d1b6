//! The orchestration dispatcher: one dequeue loop per owned partition, one session per instance.
//!
//! A dequeue loop takes up to 32 control messages, groups them by instance and hands each group to
//! the instance's session. A session runs one turn at a time; messages that arrive meanwhile wait
//! in the session and form its next turn (DTFx's "one active session per instance"). A turn:
//! load the replay state (cache, else history), decide per message (apply / drop / defer),
//! run the executor, checkpoint, keep the state in the cache.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

use crate::backend::{
    classify, Checkpoint, Disposition, HistoryCursor, InstanceState, ReceivedMessage,
};
use crate::core::instance::is_entity_instance;
use crate::core::{EventKind, FailureDetails, OrchestrationExecutor};

use super::cache::Replay;
use super::finishing::PendingFinish;
use super::local::LocalPlan;
use super::poller::{abandon_all, QueuePoller};
use super::Shared;

/// Messages of one instance waiting for, or in, its session.
#[derive(Default)]
pub(crate) struct Session {
    pending: Vec<ReceivedMessage>,
    running: bool,
}

/// Takes control messages from one partition until `stop` is cancelled or the partition is no
/// longer ours.
pub(crate) async fn dequeue_loop(shared: Arc<Shared>, queue: String, stop: CancellationToken) {
    let o = &shared.options;
    let mut poller = QueuePoller::new(&shared, &queue, o.max_poll_interval);
    tracing::debug!(%queue, "listening");
    while !stop.is_cancelled() {
        if shared.buffered.load(Ordering::Relaxed) >= o.control_buffer_limit {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(Duration::from_millis(20)) => continue,
            }
        }
        let keep = || shared.ownership().may_dequeue(&queue);
        let Some(messages) = poller
            .next(&shared, o.control_batch_size, &stop, keep)
            .await
        else {
            break;
        };
        let mut groups: Vec<(String, Vec<ReceivedMessage>)> = Vec::new();
        for m in messages {
            let id = m.instance_id().to_string();
            match groups.iter_mut().find(|(g, _)| *g == id) {
                Some((_, v)) => v.push(m),
                None => groups.push((id, vec![m])),
            }
        }
        for (id, group) in groups {
            submit(&shared, &id, group);
        }
    }
    tracing::debug!(%queue, "stopped listening");
}

/// Adds messages to an instance's session, starting the session if it is idle.
pub(crate) fn submit(shared: &Arc<Shared>, instance_id: &str, messages: Vec<ReceivedMessage>) {
    let mut sessions = shared.sessions.lock().unwrap_or_else(|p| p.into_inner());
    let session = sessions.entry(instance_id.to_string()).or_default();
    for m in messages {
        // A message seen again (its visibility ran out while it waited) replaces the old copy,
        // whose pop receipt no longer works.
        match session
            .pending
            .iter_mut()
            .find(|p| p.raw.message_id == m.raw.message_id)
        {
            Some(old) => *old = m,
            None => {
                shared.buffered.fetch_add(1, Ordering::Relaxed);
                session.pending.push(m);
            }
        }
    }
    if !session.running {
        session.running = true;
        let shared2 = shared.clone();
        let id = instance_id.to_string();
        // A root span: sessions started from another task (a local hand-over) must not nest in it.
        let span = tracing::info_span!(parent: None, "session", instance_id = %id);
        shared
            .tracker
            .spawn(async move { run_session(shared2, id).await }.instrument(span));
    }
}

async fn run_session(shared: Arc<Shared>, instance_id: String) {
    let Ok(_permit) = shared.orchestration_slots.clone().acquire_owned().await else {
        return;
    };
    loop {
        let batch = {
            let mut sessions = shared.sessions.lock().unwrap_or_else(|p| p.into_inner());
            let Some(session) = sessions.get_mut(&instance_id) else {
                return;
            };
            if session.pending.is_empty() {
                sessions.remove(&instance_id);
                return;
            }
            std::mem::take(&mut session.pending)
        };
        let n = batch.len();
        run_turn(&shared, &instance_id, batch).await;
        shared.buffered.fetch_sub(n, Ordering::Relaxed);
    }
}

/// Runs one turn of an instance over a batch of its messages, and checkpoints it.
async fn run_turn(shared: &Arc<Shared>, instance_id: &str, batch: Vec<ReceivedMessage>) {
    let limit = shared.options.poison_dequeue_limit;
    let (poison, mut batch): (Vec<_>, Vec<_>) =
        batch.into_iter().partition(|m| m.dequeue_count() > limit);
    if !poison.is_empty() {
        handle_poison(shared, instance_id, poison).await;
    }
    if batch.is_empty() {
        return;
    }
    if is_entity_instance(instance_id) {
        super::entities::run_entity_turns(shared, instance_id, batch).await;
        return;
    }
    let partition = batch[0].queue.clone();
    let cached = shared.cache_take(instance_id);
    let (mut executor, cursor) = match cached {
        Some((Replay::Orchestration(ex), cursor)) => (ex, cursor),
        _ if is_first_start(&batch) => (
            OrchestrationExecutor::new(shared.registry.clone()),
            HistoryCursor::default(),
        ),
        _ => match shared.hub.history().load(instance_id).await {
            Ok(loaded) => (
                OrchestrationExecutor::from_history(shared.registry.clone(), &loaded.events),
                HistoryCursor::of(&loaded),
            ),
            Err(e) => {
                tracing::warn!(error = %e, "could not load history; messages will be retried");
                abandon_all(shared, &mut batch, None).await;
                return;
            }
        },
    };

    // Decide per message.
    let now = time::OffsetDateTime::now_utc();
    let Sorted {
        mut apply,
        mut drop,
        mut defer,
        replaces_execution,
    } = sort_messages(&executor, &cursor, instance_id, batch, now);
    if replaces_execution {
        // A finished instance started again: a fresh execution overwrites the old history.
        executor = OrchestrationExecutor::new(shared.registry.clone());
    }
    if !defer.is_empty() && !executor.is_started() && apply.is_empty() {
        let terminated = not_started_yet(shared, instance_id, &mut defer, now).await;
        drop.extend(
            terminated
                .into_iter()
                .map(|m| (m, "terminated before it started")),
        );
    }
    if terminated_before_start(shared, instance_id, &apply).await {
        drop.extend(apply.drain(..).map(|m| (m, "terminated before it started")));
    }
    for (m, reason) in &drop {
        tracing::debug!(event = %m.message.event.event_type(), reason, "message dropped");
    }
    let drop: Vec<ReceivedMessage> = drop.into_iter().map(|(m, _)| m).collect();

    if apply.is_empty() {
        if executor.status().is_terminal() && !drop.is_empty() {
            // Messages for a finished instance: a worker may have died between committing its
            // history and updating its Instances row, so make the row tell the same.
            // After the instance's pending finishes: the last one may be what the row lacks.
            let slot = shared.finishing.enter(instance_id).await;
            if let Err(e) = shared.hub.repair_finished_instance(instance_id).await {
                tracing::warn!(error = %e, "could not check the Instances row of a finished instance");
            }
            shared.finishing.leave(slot);
        }
        shared.hub.delete_messages(&drop).await;
        defer_all(shared, defer).await;
        if !replaces_execution {
            shared.cache_put(
                instance_id,
                &partition,
                Replay::Orchestration(executor),
                cursor,
            );
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
    let events = apply.iter().map(|m| m.message.event.clone()).collect();
    let turn = executor.run_turn(now, events, &mut || Uuid::new_v4().simple().to_string());
    for w in &turn.warnings {
        tracing::warn!("{w}");
    }
    let mut inbound = apply;
    inbound.extend(drop);
    let plan = LocalPlan::new(shared, &turn.messages);
    let hold = |m: &crate::core::TaskMessage| plan.holds(shared, m);
    let checkpoint = Checkpoint {
        instance_id,
        turn: &turn,
        cursor: &cursor,
        replaces_execution,
        inbound: &inbound,
        hold: Some(&hold),
        hold_for: shared.options.visibility_timeout,
    };
    match shared.hub.commit(&checkpoint).await {
        Ok(mut committed) => {
            // Durable now: held work starts at once, and the rest of the checkpoint runs beside
            // the instance's next turn (finishing.rs).
            let held = std::mem::take(&mut committed.held);
            let n_held = held.len();
            plan.dispatch(shared, held);
            plan.wake_pollers(shared);
            tracing::debug!(status = %turn.status, events = turn.new_events.len(), sent = turn.messages.len(), held = n_held, "turn committed");
            if !turn.is_terminal() {
                shared.cache_put(
                    instance_id,
                    &partition,
                    Replay::Orchestration(executor),
                    committed.cursor.clone(),
                );
            }
            let finish = PendingFinish {
                instance_id: instance_id.to_string(),
                turn,
                cursor,
                replaces_execution,
                inbound,
                committed,
            };
            super::finishing::spawn(shared, finish).await;
        }
        Err(crate::backend::Error::LockLost { .. }) => {
            tracing::info!("another worker updated this instance; its messages will be retried");
            abandon_all(shared, &mut inbound, Some(Duration::from_secs(1))).await;
        }
        Err(e) => {
            tracing::warn!(error = %e, "checkpoint failed; messages will be retried");
            abandon_all(shared, &mut inbound, None).await;
        }
    }
    defer_all(shared, defer).await;
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

/// A batch's messages, decided.
struct Sorted {
    apply: Vec<ReceivedMessage>,
    drop: Vec<(ReceivedMessage, &'static str)>,
    defer: Vec<(ReceivedMessage, Duration)>,
    /// The batch starts a new execution over a finished one.
    replaces_execution: bool,
}

/// Decides apply / drop / defer for each message. Starts are decided first: a start applied in
/// this batch makes the instance exist for the batch's other messages (an event or a terminate
/// sent right after the start lands in the same batch).
fn sort_messages(
    executor: &OrchestrationExecutor,
    cursor: &HistoryCursor,
    instance_id: &str,
    batch: Vec<ReceivedMessage>,
    now: time::OffsetDateTime,
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
            Disposition::Drop(reason) => sorted.drop.push((m, reason)),
            Disposition::Defer(delay) => sorted.defer.push((m, delay)),
        }
    }
    let nothing = |_: i32| false;
    let fresh = started.as_deref().map(|exec| InstanceState {
        execution_id: Some(exec),
        status: crate::core::OrchestrationStatus::Running,
        has_scheduled: &nothing,
        has_completed: &nothing,
        is_entity: before.is_entity,
    });
    let state = fresh.as_ref().unwrap_or(&before);
    let mut completing = std::collections::HashSet::new();
    for m in others {
        let disposition = match m.message.event.kind.completes_id() {
            // Two deliveries of one completion in the same batch: keep the first.
            Some(id) if !completing.insert(id) => Disposition::Drop("duplicate completion"),
            _ => classify(&m.message, m.dequeue_count(), state, now),
        };
        match disposition {
            Disposition::Apply => sorted.apply.push(m),
            Disposition::StartNewExecution => sorted.drop.push((m, "unexpected start")),
            Disposition::Drop(reason) => sorted.drop.push((m, reason)),
            Disposition::Defer(delay) => sorted.defer.push((m, delay)),
        }
    }
    sorted
}

/// Messages for an instance that has not started yet, whose Instances row says Pending: a
/// terminate marks the row Terminated (its start is dropped when it comes) and is returned to be
/// deleted with the other messages; otherwise, for a scheduled start, the messages wait until
/// then (rather than a few short deferrals and a drop).
async fn not_started_yet(
    shared: &Shared,
    instance_id: &str,
    defer: &mut Vec<(ReceivedMessage, Duration)>,
    now: time::OffsetDateTime,
) -> Vec<ReceivedMessage> {
    let Ok(Some((status, _))) = shared.hub.instances().read(instance_id, false).await else {
        return Vec::new();
    };
    if status.runtime_status != crate::core::OrchestrationStatus::Pending {
        return Vec::new();
    }
    let reason = defer.iter().find_map(|(m, _)| match &m.message.event.kind {
        EventKind::ExecutionTerminated { input } => Some(input.clone()),
        _ => None,
    });
    if let Some(reason) = reason {
        match shared
            .hub
            .instances()
            .mark_terminated(instance_id, reason.as_deref())
            .await
        {
            Ok(()) => return std::mem::take(defer).into_iter().map(|(m, _)| m).collect(),
            Err(e) => tracing::warn!(error = %e, "could not mark a pending instance terminated"),
        }
    }
    if let Some(at) = status.scheduled_start_time.filter(|t| *t > now) {
        let wait: Duration = (at - now).try_into().unwrap_or(Duration::ZERO);
        let wait = (wait + Duration::from_secs(1)).min(Duration::from_secs(6 * 24 * 3600));
        for (_, delay) in defer.iter_mut() {
            *delay = wait;
        }
    }
    Vec::new()
}

/// True when `apply` holds a scheduled start whose instance was terminated while it waited.
async fn terminated_before_start(
    shared: &Shared,
    instance_id: &str,
    apply: &[ReceivedMessage],
) -> bool {
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
        shared.hub.instances().read(instance_id, false).await,
        Ok(Some((s, _))) if s.runtime_status == crate::core::OrchestrationStatus::Terminated
            && s.execution_id.as_deref() == Some(execution_id.as_str())
    )
}

async fn defer_all(shared: &Shared, defer: Vec<(ReceivedMessage, Duration)>) {
    for (mut m, delay) in defer {
        tracing::debug!(event = %m.message.event.event_type(), ?delay, "message deferred");
        if let Err(e) = shared.hub.abandon_message(&mut m, delay).await {
            tracing::debug!(error = %e, "could not defer a message");
        }
    }
}

/// Messages taken too often: each goes to the poison queue, and the instance fails (a message
/// that can never be processed would otherwise leave it stuck).
pub(crate) async fn handle_poison(
    shared: &Arc<Shared>,
    instance_id: &str,
    poison: Vec<ReceivedMessage>,
) {
    let mut reasons = HashMap::new();
    for m in &poison {
        let reason = format!(
            "{} message for instance '{}' was dequeued {} times without being processed",
            m.message.event.event_type(),
            instance_id,
            m.dequeue_count()
        );
        if let Err(e) = shared.hub.move_to_poison(&m.queue, &m.raw, &reason).await {
            tracing::warn!(error = %e, "could not move a poison message");
            return;
        }
        reasons.insert(m.raw.message_id.clone(), reason);
    }
    let _ = shared.cache_take(instance_id);
    let message = reasons.into_values().next().unwrap_or_default();
    let failure = FailureDetails {
        is_non_retriable: true,
        ..FailureDetails::new(FailureDetails::POISON_MESSAGE, message)
    };
    // After the instance's pending finishes, or an older Instances update could land after this.
    let slot = shared.finishing.enter(instance_id).await;
    if let Err(e) = shared.hub.fail_instance(instance_id, failure).await {
        tracing::warn!(error = %e, "could not mark the instance failed after a poison message");
    }
    shared.finishing.leave(slot);
}
