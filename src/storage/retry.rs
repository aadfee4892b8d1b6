//! Retries of transient storage failures.
//!
//! Owns [`RetryPolicy`] and [`retry`]. The azure crates' own retry is switched off (it takes about
//! 80 s to give up on a dead endpoint); this one uses exponential backoff with full jitter, bounded
//! both by the number of attempts and by the total elapsed time, so an unreachable endpoint is
//! reported within seconds. Non-transient errors (404, 409, 412, …) return at once.
//!
//! A retried write may have been applied the first time (the answer was lost): a retried insert can
//! then report 409 and a retried queue put can leave two messages. Callers already live with
//! at-least-once delivery; they treat those outcomes accordingly.

use super::error::Result;
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

/// How hard to retry transient failures.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in total, the first included (1 = no retry).
    pub max_attempts: u32,
    /// No new attempt starts once this much time has passed since the first.
    pub max_elapsed: Duration,
    /// Upper bound of the first backoff; doubles per attempt.
    pub initial_backoff: Duration,
    /// Cap of one backoff.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    /// 8 attempts within 5 s, backoff 100 ms doubling up to 2 s, full jitter.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            max_elapsed: Duration::from_secs(5),
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// A single attempt, never retried.
    pub fn none() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// The upper bound of the backoff after `attempt` failed attempts (1-based).
    fn backoff_cap(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1).min(16);
        self.initial_backoff
            .saturating_mul(1u32 << exp)
            .min(self.max_backoff)
    }
}

/// Runs `attempt` until it succeeds, fails with a non-transient error, or the policy's attempts or
/// time run out (then the last error is returned).
pub async fn retry<T, F, Fut>(policy: &RetryPolicy, mut attempt: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let start = Instant::now();
    let mut n = 0u32;
    loop {
        n += 1;
        let err = match attempt().await {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        if !err.is_transient() || n >= policy.max_attempts {
            return Err(err);
        }
        let cap = policy.backoff_cap(n);
        let sleep = cap.mul_f64(crate::entropy::fraction(0.0, 1.0));
        if start.elapsed() + sleep >= policy.max_elapsed {
            return Err(err);
        }
        tracing::debug!(error = %err, attempt = n, backoff_ms = sleep.as_millis() as u64, "retrying transient storage failure");
        tokio::time::sleep(sleep).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::Error;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn transient() -> Error {
        Error::Http {
            operation: "op".into(),
            status: 503,
            code: None,
            source: None,
        }
    }

    #[tokio::test]
    async fn retries_transient_until_success() {
        let calls = AtomicU32::new(0);
        let policy = RetryPolicy {
            initial_backoff: Duration::from_millis(1),
            ..Default::default()
        };
        let v = retry(&policy, || async {
            if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                Err(transient())
            } else {
                Ok(7)
            }
        })
        .await
        .unwrap();
        assert_eq!(v, 7);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn non_transient_returns_at_once() {
        let calls = AtomicU32::new(0);
        let r: Result<()> = retry(&RetryPolicy::default(), || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(Error::Http {
                operation: "op".into(),
                status: 409,
                code: None,
                source: None,
            })
        })
        .await;
        assert!(r.unwrap_err().is_conflict());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn bounded_by_attempts_and_time() {
        let calls = AtomicU32::new(0);
        let policy = RetryPolicy {
            max_attempts: 4,
            max_elapsed: Duration::from_secs(5),
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(2),
        };
        let r: Result<()> = retry(&policy, || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(transient())
        })
        .await;
        assert!(r.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 4);

        let policy = RetryPolicy {
            max_attempts: 1000,
            max_elapsed: Duration::from_millis(200),
            ..policy
        };
        let start = Instant::now();
        let r: Result<()> = retry(&policy, || async { Err(transient()) }).await;
        assert!(r.is_err());
        assert!(start.elapsed() < Duration::from_secs(1));
    }
}
