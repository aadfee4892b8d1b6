//! Randomness: ids, jitter and random blob suffixes.
//!
//! Owns [`uuid()`], [`below`], [`fraction`] and [`Seeded`]. In the product these come from the
//! operating system's generator. A deterministic simulation seeds the thread it runs on
//! ([`Seeded::install`]): it drives every worker, client and storage task on one thread (a
//! current-thread tokio runtime), so every random choice of the run then comes from the seed and
//! the same seed replays the same run.

use std::cell::RefCell;

use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use uuid::Uuid;

thread_local! {
    static SEEDED: RefCell<Option<StdRng>> = const { RefCell::new(None) };
}

/// Runs `f` with this thread's seeded generator, or the system's when none is installed.
fn with_rng<T>(f: impl FnOnce(&mut dyn RngCore) -> T) -> T {
    SEEDED.with(|s| match s.borrow_mut().as_mut() {
        Some(rng) => f(rng),
        None => f(&mut rand::thread_rng()),
    })
}

/// A random (version 4) UUID.
pub fn uuid() -> Uuid {
    let mut bytes = [0u8; 16];
    with_rng(|r| r.fill_bytes(&mut bytes));
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// A random integer in `0..n` (`0` when `n` is 0).
pub fn below(n: u64) -> u64 {
    if n == 0 {
        return 0;
    }
    with_rng(|r| r.gen_range(0..n))
}

/// A random number in `[lo, hi)`.
pub fn fraction(lo: f64, hi: f64) -> f64 {
    if hi <= lo {
        return lo;
    }
    with_rng(|r| r.gen_range(lo..hi))
}

/// This thread's generator seeded for a simulation run; dropping it restores the system's.
pub struct Seeded {
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Seeded {
    /// Seeds this thread's generator with `seed` until the returned guard is dropped.
    pub fn install(seed: u64) -> Seeded {
        SEEDED.with(|s| *s.borrow_mut() = Some(StdRng::seed_from_u64(seed)));
        Seeded {
            _not_send: std::marker::PhantomData,
        }
    }
}

impl Drop for Seeded {
    fn drop(&mut self) {
        SEEDED.with(|s| *s.borrow_mut() = None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_gives_the_same_sequence() {
        let take = || {
            let _g = Seeded::install(7);
            (uuid(), below(1000), fraction(0.0, 1.0))
        };
        assert_eq!(take(), take());
        assert_eq!(uuid().get_version_num(), 4);
        assert_ne!(uuid(), uuid());
        assert_eq!(below(0), 0);
    }
}
