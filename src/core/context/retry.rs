//! Retry policies for activities and sub-orchestrations.
//!
//! A retry waits on a durable timer between attempts, so a retried task survives worker restarts
//! and replays to the same decisions: delays are computed from history time only.

use std::time::Duration;

use crate::core::failure::FailureDetails;
use crate::core::history::Timestamp;

/// When and how often to retry a failed task.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in total, the first one included (at least 1).
    pub max_attempts: u32,
    /// Delay before the second attempt.
    pub first_retry_interval: Duration,
    /// Each further delay is the previous one times this (1.0 = constant).
    pub backoff_coefficient: f64,
    /// Upper bound of any single delay.
    pub max_retry_interval: Duration,
    /// Give up once this much time has passed since the first attempt failed, if set.
    pub retry_timeout: Option<Duration>,
}

impl RetryPolicy {
    /// `max_attempts` attempts, `first_retry_interval` apart, with a backoff coefficient of 1.
    pub fn new(max_attempts: u32, first_retry_interval: Duration) -> Self {
        RetryPolicy {
            max_attempts: max_attempts.max(1),
            first_retry_interval,
            backoff_coefficient: 1.0,
            max_retry_interval: Duration::from_secs(6 * 24 * 3600),
            retry_timeout: None,
        }
    }

    /// Multiplies each further delay by `c`; values below 1 (or not finite) become 1, a constant
    /// delay.
    pub fn with_backoff_coefficient(mut self, c: f64) -> Self {
        self.backoff_coefficient = if c.is_finite() && c >= 1.0 { c } else { 1.0 };
        self
    }

    /// Caps any single delay at `d` (default: 6 days).
    pub fn with_max_retry_interval(mut self, d: Duration) -> Self {
        self.max_retry_interval = d;
        self
    }

    /// Stops retrying once `d` has passed since the first failure (default: no limit).
    pub fn with_retry_timeout(mut self, d: Duration) -> Self {
        self.retry_timeout = Some(d);
        self
    }

    /// Delay after failed attempt number `attempt` (1-based).
    pub fn delay_after(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1).min(64) as i32;
        let secs = self.first_retry_interval.as_secs_f64() * self.backoff_coefficient.powi(exp);
        let max = self.max_retry_interval.as_secs_f64();
        Duration::from_secs_f64(if secs.is_finite() { secs.min(max) } else { max })
    }

    /// Whether to try again after attempt `attempt` failed with `failure` at `now`.
    pub(crate) fn should_retry(
        &self,
        attempt: u32,
        failure: &FailureDetails,
        first_failure_at: Timestamp,
        now: Timestamp,
    ) -> bool {
        if failure.is_non_retriable || attempt >= self.max_attempts {
            return false;
        }
        match self.retry_timeout {
            Some(limit) => (now - first_failure_at) < limit,
            None => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_by_the_coefficient_up_to_the_maximum() {
        let p = RetryPolicy::new(5, Duration::from_secs(2))
            .with_backoff_coefficient(2.0)
            .with_max_retry_interval(Duration::from_secs(10));
        let d: Vec<u64> = (1..=4).map(|a| p.delay_after(a).as_secs()).collect();
        assert_eq!(d, vec![2, 4, 8, 10]);
    }
}
