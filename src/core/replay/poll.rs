//! Driving the orchestrator's future: a single-threaded poll with a waker that only raises a
//! flag, and panics of user code turned into failures.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use futures::future::BoxFuture;

use crate::core::failure::FailureDetails;
use crate::core::registry::panic_message;

/// More self-wakes than this in a row means the code spins without waiting on history.
const MAX_POLLS_PER_EVENT: usize = 1000;

struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

pub(crate) enum PollOutcome {
    Pending,
    Ready(Result<String, FailureDetails>),
}

type OrchestratorFuture = BoxFuture<'static, Result<String, FailureDetails>>;

/// The orchestrator's future and the flag its waker raises.
pub(crate) struct RootWaker {
    flag: Arc<Flag>,
    future: Option<OrchestratorFuture>,
}

impl RootWaker {
    pub fn new() -> Self {
        RootWaker {
            flag: Arc::new(Flag(AtomicBool::new(false))),
            future: None,
        }
    }

    /// Installs the future; it is polled at the next `poll_while_woken`.
    pub fn set_future(&mut self, future: OrchestratorFuture) {
        self.future = Some(future);
        self.flag.0.store(true, Ordering::SeqCst);
    }

    /// Polls the future as long as its waker has been called since the last poll.
    pub fn poll_while_woken(&mut self) -> PollOutcome {
        let waker = Waker::from(self.flag.clone());
        let mut cx = Context::from_waker(&waker);
        let mut polls = 0;
        while self.flag.0.swap(false, Ordering::SeqCst) {
            let Some(fut) = self.future.as_mut() else {
                return PollOutcome::Pending;
            };
            polls += 1;
            if polls > MAX_POLLS_PER_EVENT {
                self.drop_future();
                return PollOutcome::Ready(Err(FailureDetails::new(
                    "BusyOrchestrator",
                    "the orchestrator woke itself more than 1000 times without waiting for \
                     history; await only durable tasks in orchestrators",
                )));
            }
            let polled = catch_unwind(AssertUnwindSafe(|| Pin::new(&mut *fut).poll(&mut cx)));
            match polled {
                Ok(Poll::Pending) => {}
                Ok(Poll::Ready(result)) => {
                    self.drop_future();
                    return PollOutcome::Ready(result);
                }
                Err(panic) => {
                    self.drop_future();
                    return PollOutcome::Ready(Err(panic_failure(&*panic)));
                }
            }
        }
        PollOutcome::Pending
    }

    /// Drops the future; a panic in its destructor is contained.
    fn drop_future(&mut self) {
        if let Some(fut) = self.future.take() {
            let _ = catch_unwind(AssertUnwindSafe(move || drop(fut)));
        }
    }
}

/// Calls user code that builds the future, turning a panic into a failure.
pub(crate) fn call_guarded<T>(f: impl FnOnce() -> T) -> Result<T, FailureDetails> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|p| panic_failure(&*p))
}

fn panic_failure(payload: &(dyn std::any::Any + Send)) -> FailureDetails {
    FailureDetails::new(
        FailureDetails::PANIC,
        format!("the orchestrator panicked: {}", panic_message(payload)),
    )
}
