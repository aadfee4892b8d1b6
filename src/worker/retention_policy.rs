//! What a worker's retention keeps: [`Retention`], parsed from `Completed=7d,Failed=30d`, and
//! how fast it may purge the rest. The purging itself is `retention.rs`.

use std::time::Duration;

use crate::core::OrchestrationStatus;
use crate::durations::{format_duration, parse_duration};

/// Why a retention setting was refused (the message names the part at fault).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RetentionError(String);

/// Finished instances a worker purges in the background: each rule keeps the instances of one
/// final status for an age counted from their `LastUpdatedTime` (for a finished instance, when it
/// finished). Statuses without a rule are kept for ever; live instances are never purged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retention {
    /// (final status, how long it is kept), one rule per status.
    pub rules: Vec<(OrchestrationStatus, Duration)>,
    /// Instances looked at (purged or found to be kept) per minute at most (default 600).
    pub max_per_minute: u32,
    /// How long the purge rests after a pass that left nothing to purge (default 60 s): what
    /// retention costs on a hub with nothing old is one query per rule per interval.
    pub interval: Duration,
}

/// The highest `max_per_minute`: 100 instances a second, in batches of 200.
pub const MAX_RETENTION_PER_MINUTE: u32 = 6_000;

impl Retention {
    /// Rules from `Completed=7d,Failed=30d,Terminated=7d` (statuses in any case, ages as
    /// [`parse_duration`] reads them), with the default rate and interval. Refuses a live or
    /// unknown status, a status named twice, an age that does not parse or is zero.
    pub fn parse(text: &str) -> Result<Retention, RetentionError> {
        let mut rules = Vec::new();
        for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let Some((name, age)) = item.split_once('=') else {
                return Err(RetentionError(format!(
                    "{item:?} is not STATUS=AGE, such as Completed=7d"
                )));
            };
            let name = name.trim();
            let status = OrchestrationStatus::parse(name)
                .ok_or_else(|| RetentionError(format!("unknown status {name:?} ({FINISHED})")))?;
            let age = parse_duration(age).map_err(|e| RetentionError(format!("{status}: {e}")))?;
            rules.push((status, age));
        }
        let retention = Retention {
            rules,
            max_per_minute: 600,
            interval: Duration::from_secs(60),
        };
        retention.validate()?;
        Ok(retention)
    }

    /// Checks the rules (at least one; finished statuses only, each once; ages above zero), the
    /// rate and the interval.
    pub fn validate(&self) -> Result<(), RetentionError> {
        let fail = |m: String| Err(RetentionError(m));
        if self.rules.is_empty() {
            return fail("no rule given: STATUS=AGE, such as Completed=7d".into());
        }
        for (i, (status, age)) in self.rules.iter().enumerate() {
            if !status.is_terminal() {
                return fail(format!(
                    "{status} instances are live and are never purged ({FINISHED})"
                ));
            }
            if age.is_zero() {
                return fail(format!("{status}: the age must be above zero"));
            }
            if self.rules[..i].iter().any(|(s, _)| s == status) {
                return fail(format!("{status} is given twice"));
            }
        }
        if !(1..=MAX_RETENTION_PER_MINUTE).contains(&self.max_per_minute) {
            return fail(format!(
                "the retention rate must be 1 to {MAX_RETENTION_PER_MINUTE} instances a minute, not {}",
                self.max_per_minute
            ));
        }
        if self.interval < Duration::from_secs(1) || self.interval > Duration::from_secs(86_400) {
            return fail("the retention interval must be between 1 s and a day".into());
        }
        Ok(())
    }

    /// Instances one batch looks at: about two seconds' worth of the rate, 1 to 200.
    pub(crate) fn batch(&self) -> u32 {
        self.max_per_minute.div_ceil(30).clamp(1, 200)
    }
}

impl std::fmt::Display for Retention {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rules: Vec<String> = self
            .rules
            .iter()
            .map(|(s, age)| format!("{s}={}", format_duration(*age)))
            .collect();
        write!(f, "{}", rules.join(","))
    }
}

/// The statuses a rule may name, for error messages.
const FINISHED: &str = "finished statuses: Completed, Failed, Terminated, Canceled";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_and_bad_ones_are_refused_with_one_line() {
        let r = Retention::parse("Completed=7d, failed=30d,Terminated=12h").unwrap();
        assert_eq!(
            r.rules,
            [
                (
                    OrchestrationStatus::Completed,
                    Duration::from_secs(7 * 86_400)
                ),
                (
                    OrchestrationStatus::Failed,
                    Duration::from_secs(30 * 86_400)
                ),
                (
                    OrchestrationStatus::Terminated,
                    Duration::from_secs(12 * 3600)
                ),
            ]
        );
        assert_eq!(r.to_string(), "Completed=7d,Failed=30d,Terminated=12h");
        assert_eq!(r.validate(), Ok(()));
        assert_eq!(r.batch(), 20);
        for (bad, says) in [
            ("Running=1d", "Running instances are live"),
            ("Pending=1d", "live"),
            ("Bogus=1d", "unknown status \"Bogus\""),
            ("Completed=7x", "Completed: \"7x\" is not a duration"),
            ("Completed=-1d", "no sign"),
            ("Completed=0s", "above zero"),
            ("Completed", "is not STATUS=AGE"),
            ("Completed=1d,completed=2d", "given twice"),
            ("", "no rule given"),
            (" , ", "no rule given"),
        ] {
            let e = Retention::parse(bad).unwrap_err().to_string();
            assert!(e.contains(says), "{bad:?}: {e}");
            assert!(!e.contains('\n'), "{bad:?}: {e}");
        }
    }

    #[test]
    fn validate_checks_what_was_built_by_hand() {
        let mut r = Retention::parse("Completed=2s").unwrap();
        r.rules
            .push((OrchestrationStatus::Running, Duration::from_secs(5)));
        assert!(r.validate().unwrap_err().to_string().contains("live"));
        let mut r = Retention::parse("Completed=2s").unwrap();
        r.rules[0].1 = Duration::from_millis(1500);
        assert_eq!(r.validate(), Ok(()));
        r.max_per_minute = 0;
        assert!(r.validate().unwrap_err().to_string().contains("rate"));
        r.max_per_minute = 60;
        r.interval = Duration::ZERO;
        assert!(r.validate().unwrap_err().to_string().contains("interval"));
    }
}
