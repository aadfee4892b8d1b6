//! Wall-clock time as the backend and the worker see it.
//!
//! Owns [`Clock`]: the system clock in the product; in the simulation a clock that reads tokio's
//! (paused, auto-advancing) time from a fixed origin, optionally skewed, so one seed gives one run
//! and two workers can disagree about the time as two machines do. Everything that stamps an
//! event, a lease expiry or a due time reads a `Clock` handle instead of the system clock; only
//! `core` takes the time as an argument.

use std::sync::Arc;

use time::OffsetDateTime;

/// A source of UTC wall-clock time. Cheap to clone.
#[derive(Clone)]
pub struct Clock {
    kind: Arc<Kind>,
}

enum Kind {
    System,
    /// The machine's clock, off by this much (a simulation over real storage).
    SkewedSystem(time::Duration),
    /// `origin_wall` at `origin`, advancing with tokio's clock, plus `skew`.
    Simulated {
        origin_wall: OffsetDateTime,
        origin: tokio::time::Instant,
        skew: time::Duration,
    },
}

impl Default for Clock {
    fn default() -> Self {
        Clock::system()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &*self.kind {
            Kind::System => f.write_str("Clock::System"),
            Kind::SkewedSystem(skew) => write!(f, "Clock::System(skew {skew})"),
            Kind::Simulated { skew, .. } => write!(f, "Clock::Simulated(skew {skew})"),
        }
    }
}

impl Clock {
    /// The machine's clock.
    pub fn system() -> Self {
        Clock {
            kind: Arc::new(Kind::System),
        }
    }

    /// A clock that reads `origin_wall` now and advances with tokio's clock (which a paused
    /// runtime moves only when every task waits). Call it inside the runtime.
    pub fn simulated(origin_wall: OffsetDateTime) -> Self {
        Clock {
            kind: Arc::new(Kind::Simulated {
                origin_wall,
                origin: tokio::time::Instant::now(),
                skew: time::Duration::ZERO,
            }),
        }
    }

    /// The same clock running `skew` ahead (negative: behind).
    pub fn skewed(&self, skew: time::Duration) -> Self {
        match &*self.kind {
            Kind::System => Clock {
                kind: Arc::new(Kind::SkewedSystem(skew)),
            },
            Kind::SkewedSystem(s) => Clock {
                kind: Arc::new(Kind::SkewedSystem(*s + skew)),
            },
            Kind::Simulated {
                origin_wall,
                origin,
                skew: s,
            } => Clock {
                kind: Arc::new(Kind::Simulated {
                    origin_wall: *origin_wall,
                    origin: *origin,
                    skew: *s + skew,
                }),
            },
        }
    }

    /// The current UTC time.
    pub fn now(&self) -> OffsetDateTime {
        match &*self.kind {
            Kind::System => OffsetDateTime::now_utc(),
            Kind::SkewedSystem(skew) => OffsetDateTime::now_utc() + *skew,
            Kind::Simulated {
                origin_wall,
                origin,
                skew,
            } => {
                let elapsed = tokio::time::Instant::now().saturating_duration_since(*origin);
                *origin_wall + elapsed + *skew
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn simulated_time_follows_tokio_and_skews() {
        let origin = time::macros::datetime!(2026-01-01 00:00 UTC);
        let clock = Clock::simulated(origin);
        let ahead = clock.skewed(time::Duration::seconds(3));
        assert_eq!(clock.now(), origin);
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(clock.now(), origin + time::Duration::seconds(10));
        assert_eq!(ahead.now(), origin + time::Duration::seconds(13));
    }
}
