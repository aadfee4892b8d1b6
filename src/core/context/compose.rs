//! Composing durable tasks: all-of (fan-in) and any-of (races).
//!
//! Any-of is decided by history: of the tasks that are ready, the one whose completion event came
//! first in history wins, whatever their order in the argument list. So a race replays to the same
//! winner even when several completions are applied before the race is first polled.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::future::{join_all, JoinAll};

use super::tasks::DurableFuture;

/// Waits for every task; outputs in argument order. Fan-out/fan-in:
/// `ctx.all_of(files.iter().map(|f| ctx.call_activity("Copy", f)))`.
pub fn all_of<F: Future>(tasks: impl IntoIterator<Item = F>) -> JoinAll<F> {
    join_all(tasks)
}

/// The output of [`any_of`]: the winner's index and output, and the tasks still running.
pub struct AnyOf<F> {
    tasks: Vec<F>,
}

/// Waits for the first task to complete (first in history order).
/// Resolves to `(index, output, remaining_tasks)`.
///
/// # Panics
/// Never; with no tasks it stays pending forever, like an empty race.
pub fn any_of<F: DurableFuture>(tasks: impl IntoIterator<Item = F>) -> AnyOf<F> {
    AnyOf {
        tasks: tasks.into_iter().collect(),
    }
}

impl<F: DurableFuture> Future for AnyOf<F> {
    type Output = (usize, F::Output, Vec<F>);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let winner = this
            .tasks
            .iter_mut()
            .enumerate()
            .filter_map(|(i, t)| t.ready_position().map(|p| (p, i)))
            .min();
        if let Some((_, i)) = winner {
            let mut task = this.tasks.remove(i);
            if let Poll::Ready(out) = Pin::new(&mut task).poll(cx) {
                return Poll::Ready((i, out, std::mem::take(&mut this.tasks)));
            }
            this.tasks.insert(i, task);
        }
        // None ready: poll each so its waker is registered.
        for t in this.tasks.iter_mut() {
            if t.ready_position().is_none() {
                let _ = Pin::new(t).poll(cx);
            }
        }
        Poll::Pending
    }
}

/// One of two outcomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Either<A, B> {
    /// The left alternative: for [`select2`], the first task completed first.
    Left(A),
    /// The right alternative: for [`select2`], the second task completed first.
    Right(B),
}

/// Races two tasks of different types; the one completed first in history wins. The loser is
/// returned so it can still be awaited.
pub fn select2<A: DurableFuture, B: DurableFuture>(a: A, b: B) -> Select2<A, B> {
    Select2 { pair: Some((a, b)) }
}

/// The future returned by [`select2`]: resolves when the first of its two tasks completes in
/// history, with the winner's output and the other task.
pub struct Select2<A, B> {
    pair: Option<(A, B)>,
}

impl<A: DurableFuture, B: DurableFuture> Future for Select2<A, B> {
    type Output = Either<(A::Output, B), (B::Output, A)>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let Some((a, b)) = this.pair.as_mut() else {
            return Poll::Pending;
        };
        let left_first = match (a.ready_position(), b.ready_position()) {
            (Some(pa), Some(pb)) => Some(pa <= pb),
            (Some(_), None) => Some(true),
            (None, Some(_)) => Some(false),
            (None, None) => None,
        };
        match left_first {
            Some(true) => {
                if let Poll::Ready(out) = Pin::new(&mut *a).poll(cx) {
                    if let Some((_, b)) = this.pair.take() {
                        return Poll::Ready(Either::Left((out, b)));
                    }
                }
            }
            Some(false) => {
                if let Poll::Ready(out) = Pin::new(&mut *b).poll(cx) {
                    if let Some((a, _)) = this.pair.take() {
                        return Poll::Ready(Either::Right((out, a)));
                    }
                }
            }
            None => {
                let _ = Pin::new(&mut *a).poll(cx);
                let _ = Pin::new(&mut *b).poll(cx);
            }
        }
        Poll::Pending
    }
}
