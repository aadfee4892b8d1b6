//! Durable tasks: the futures an orchestrator awaits.
//!
//! A task completes only when the executor applies its completion event from history, so it
//! resolves at the same point on every replay. Tasks register real wakers, so they also work
//! inside ordinary combinators (`futures::join!`, `join_all`, `FuturesUnordered`).
//!
//! [`Task<T>`] yields `Result<T, TaskError>` (activities, sub-orchestrations, external events,
//! entity calls); [`Timer`] yields `()`. Both implement [`DurableFuture`], which lets
//! `any_of`/`select2` break ties by history order.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use serde::de::DeserializeOwned;

use super::retry::RetryPolicy;
use super::state::{lock, ExecutionState, SharedState, WakeKey};
use crate::core::action::ActionKind;
use crate::core::entity::messages::decode_response;
use crate::core::failure::{FailureDetails, TaskError, TaskKind};
use crate::core::history::Timestamp;

/// A future whose completion has a position in history.
pub trait DurableFuture: Future + Unpin {
    /// Lets the task take internal steps (retry attempts, timer hops) and reports the history
    /// position of the event that made it ready, or `None` while it is not ready. Does not
    /// consume the result.
    fn ready_position(&mut self) -> Option<u64>;
}

/// Timers longer than this hop in segments, because queues refuse visibility delays over 7 days.
pub const MAX_TIMER_SEGMENT: time::Duration = time::Duration::days(6);
/// Length of each hop of a long timer (as Durable Functions does on Azure Storage).
pub const LONG_TIMER_HOP: time::Duration = time::Duration::days(3);

/// The fire time of the next segment of a timer due at `fire_at`, starting from `from`.
pub(crate) fn next_timer_segment(from: Timestamp, fire_at: Timestamp) -> Timestamp {
    if fire_at - from > MAX_TIMER_SEGMENT {
        from + LONG_TIMER_HOP
    } else {
        fire_at
    }
}

type RawResult = Result<Option<String>, FailureDetails>;

/// What a task is currently waiting for.
pub(crate) enum Inner {
    /// One scheduled action (activity, sub-orchestration).
    Action {
        id: i32,
    },
    /// A timer, possibly in several segments; `hop` is the current segment's id.
    Timer {
        fire_at: Timestamp,
        hop: i32,
        hop_at: Timestamp,
    },
    Retry(Box<RetryState>),
    /// An external event, or the response to an entity call.
    Event {
        waiter: u64,
        entity_response: bool,
    },
    /// Known at creation (e.g. an input that could not be serialized).
    Immediate(Option<RawResult>),
    Done,
}

pub(crate) struct RetryState {
    pub policy: RetryPolicy,
    /// Builds the action of the next attempt.
    pub make_action: Box<dyn Fn(&mut ExecutionState) -> i32 + Send>,
    pub attempt: u32,
    pub first_failure_at: Option<Timestamp>,
    pub phase: RetryPhase,
}

pub(crate) enum RetryPhase {
    Attempt(i32),
    Backoff(i32),
}

/// The untyped machinery shared by [`Task`] and [`Timer`].
pub(crate) struct RawTask {
    state: SharedState,
    inner: Inner,
    kind: TaskKind,
    what: String,
}

impl RawTask {
    pub(crate) fn new(state: SharedState, inner: Inner, kind: TaskKind, what: String) -> Self {
        RawTask {
            state,
            inner,
            kind,
            what,
        }
    }

    /// Advances internal steps; returns the position of the final completion when ready.
    fn advance(&mut self, st: &mut ExecutionState) -> Option<u64> {
        loop {
            match &mut self.inner {
                Inner::Action { id } => return st.peek_completion(*id).map(|c| c.position),
                Inner::Event { waiter, .. } => {
                    return st.peek_delivered(*waiter).map(|e| e.position)
                }
                Inner::Immediate(r) => return r.as_ref().map(|_| 0),
                Inner::Done => return None,
                Inner::Timer {
                    fire_at,
                    hop,
                    hop_at,
                } => {
                    let position = st.peek_completion(*hop)?.position;
                    if *hop_at >= *fire_at {
                        return Some(position);
                    }
                    st.take_completion(*hop);
                    let next = next_timer_segment(*hop_at, *fire_at);
                    *hop = st.schedule(ActionKind::CreateTimer { fire_at: next });
                    *hop_at = next;
                }
                Inner::Retry(r) => match r.phase {
                    RetryPhase::Attempt(id) => {
                        let c = st.peek_completion(id)?;
                        let failure = match &c.result {
                            Ok(_) => return Some(c.position),
                            Err(f) => f.clone(),
                        };
                        let position = c.position;
                        let now = st.current_time;
                        let first = *r.first_failure_at.get_or_insert(now);
                        if !r.policy.should_retry(r.attempt, &failure, first, now) {
                            return Some(position);
                        }
                        st.take_completion(id);
                        let delay = r.policy.delay_after(r.attempt);
                        let fire_at = now + delay;
                        let timer = st.schedule(ActionKind::CreateTimer { fire_at });
                        r.phase = RetryPhase::Backoff(timer);
                    }
                    RetryPhase::Backoff(timer) => {
                        st.take_completion(timer)?;
                        r.attempt += 1;
                        let id = (r.make_action)(st);
                        r.phase = RetryPhase::Attempt(id);
                    }
                },
            }
        }
    }

    /// Consumes the final result. Only call after `advance` returned `Some`.
    fn take(&mut self, st: &mut ExecutionState) -> RawResult {
        let inner = std::mem::replace(&mut self.inner, Inner::Done);
        let missing = || Err(FailureDetails::new("Internal", "task result missing"));
        match inner {
            Inner::Action { id } => st.take_completion(id).map_or_else(missing, |c| c.result),
            Inner::Timer { hop, .. } => st.take_completion(hop).map_or_else(missing, |c| c.result),
            Inner::Retry(r) => match r.phase {
                RetryPhase::Attempt(id) => {
                    st.take_completion(id).map_or_else(missing, |c| c.result)
                }
                RetryPhase::Backoff(_) => missing(),
            },
            Inner::Event {
                waiter,
                entity_response,
            } => match st.take_delivered(waiter) {
                Some(e) if entity_response => decode_response(e.input.as_deref()),
                Some(e) => Ok(e.input),
                None => missing(),
            },
            Inner::Immediate(r) => r.unwrap_or_else(missing),
            Inner::Done => missing(),
        }
    }

    fn wake_key(&self) -> Option<WakeKey> {
        match &self.inner {
            Inner::Action { id } => Some(WakeKey::Action(*id)),
            Inner::Timer { hop, .. } => Some(WakeKey::Action(*hop)),
            Inner::Retry(r) => match r.phase {
                RetryPhase::Attempt(id) | RetryPhase::Backoff(id) => Some(WakeKey::Action(id)),
            },
            Inner::Event { waiter, .. } => Some(WakeKey::Waiter(*waiter)),
            Inner::Immediate(_) | Inner::Done => None,
        }
    }

    pub(super) fn poll_raw(&mut self, cx: &mut Context<'_>) -> Poll<RawResult> {
        let state = self.state.clone();
        let mut st = lock(&state);
        if self.advance(&mut st).is_some() {
            return Poll::Ready(self.take(&mut st));
        }
        if let Some(key) = self.wake_key() {
            st.register_waker(key, cx.waker());
        }
        Poll::Pending
    }

    pub(super) fn ready_position(&mut self) -> Option<u64> {
        let state = self.state.clone();
        let mut st = lock(&state);
        self.advance(&mut st)
    }

    pub(super) fn error(&self, details: FailureDetails) -> TaskError {
        TaskError {
            kind: self.kind,
            what: self.what.clone(),
            details,
        }
    }
}

impl Drop for RawTask {
    fn drop(&mut self) {
        if let Inner::Event { waiter, .. } = self.inner {
            lock(&self.state).drop_waiter(waiter);
        }
    }
}

/// A durable task with a typed result. Await it, or combine several with
/// `OrchestrationContext::all_of` / `any_of` / `select2`.
#[must_use = "a task does nothing visible unless awaited"]
pub struct Task<T> {
    raw: RawTask,
    _out: PhantomData<fn() -> T>,
}

impl<T> Task<T> {
    pub(crate) fn from_raw(raw: RawTask) -> Self {
        Task {
            raw,
            _out: PhantomData,
        }
    }

    /// Reinterprets the result as another type (the JSON is decoded when the task completes).
    pub fn with_output<U>(self) -> Task<U> {
        Task::from_raw(self.into_raw())
    }

    fn into_raw(self) -> RawTask {
        self.raw
    }
}

impl<T: DeserializeOwned> Future for Task<T> {
    type Output = Result<T, TaskError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        match this.raw.poll_raw(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(details)) => Poll::Ready(Err(this.raw.error(details))),
            Poll::Ready(Ok(json)) => Poll::Ready(decode(json.as_deref()).map_err(|e| TaskError {
                kind: TaskKind::Decode,
                what: format!("decoding the result of {}", this.raw.what),
                details: FailureDetails::new("DecodeError", e.to_string()),
            })),
        }
    }
}

impl<T: DeserializeOwned> DurableFuture for Task<T> {
    fn ready_position(&mut self) -> Option<u64> {
        self.raw.ready_position()
    }
}

/// A durable timer; completes at its fire time.
#[must_use = "a timer does nothing visible unless awaited"]
pub struct Timer {
    raw: RawTask,
}

impl Timer {
    pub(crate) fn from_raw(raw: RawTask) -> Self {
        Timer { raw }
    }
}

impl Future for Timer {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.get_mut().raw.poll_raw(cx).map(|_| ())
    }
}

impl DurableFuture for Timer {
    fn ready_position(&mut self) -> Option<u64> {
        self.raw.ready_position()
    }
}

pub(crate) use crate::core::json::decode;
