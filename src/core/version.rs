//! Orchestration versions, as Durable Functions compares and matches them.
//!
//! Owns [`compare_versions`], [`VersionMatch`], [`VersionFailure`] and [`VersionPolicy`]. An
//! instance carries the version it was started with (on its `ExecutionStarted` and the Instances
//! `Version` column); a worker with a policy runs only the instances its policy accepts and, for
//! the others, either leaves their messages for a worker that can (Reject) or fails them
//! (Fail).

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// Compares two versions: as dotted numbers when both are (`1.10` is newer than `1.9`),
/// otherwise as text ignoring case; the empty version is older than any other.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.trim(), b.trim());
    match (a.is_empty(), b.is_empty()) {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Less,
        (false, true) => return Ordering::Greater,
        _ => {}
    }
    match (numeric(a), numeric(b)) {
        (Some(x), Some(y)) => {
            let len = x.len().max(y.len());
            let at = |v: &[u64], i: usize| v.get(i).copied().unwrap_or(0);
            (0..len)
                .map(|i| at(&x, i).cmp(&at(&y, i)))
                .find(|o| *o != Ordering::Equal)
                .unwrap_or(Ordering::Equal)
        }
        _ => a.to_lowercase().cmp(&b.to_lowercase()),
    }
}

/// `1.2.3` as `[1, 2, 3]`; `None` if any part is not a number.
fn numeric(v: &str) -> Option<Vec<u64>> {
    v.split('.').map(|p| p.parse().ok()).collect()
}

/// Which instances a worker with a version runs (Durable Functions' `versionMatchStrategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VersionMatch {
    /// Every instance, whatever its version.
    None,
    /// Only instances of exactly the worker's version.
    Strict,
    /// Instances of the worker's version or older (the default, as in Durable Functions: a new
    /// build takes over its predecessor's instances, an old one never runs a newer one's).
    #[default]
    CurrentOrOlder,
}

/// What a worker does with an instance it does not run (`versionFailureStrategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VersionFailure {
    /// Leave its messages for a worker that can run it (not counted as a failed delivery).
    #[default]
    Reject,
    /// Fail the instance, saying why.
    Fail,
}

/// A worker's version and how it treats instances it must not run: of a version its policy
/// does not accept, or of an orchestrator name it does not register.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VersionPolicy {
    /// The worker's own version (Durable Functions' `defaultVersion`), compared with each
    /// instance's. Empty: no version, and every instance's version is accepted.
    pub version: String,
    /// Which instance versions the worker runs.
    pub matching: VersionMatch,
    /// What happens to an instance the worker does not run.
    pub on_mismatch: VersionFailure,
}

impl VersionPolicy {
    /// Whether this worker runs an instance of `instance_version`.
    pub fn accepts(&self, instance_version: &str) -> bool {
        if self.version.trim().is_empty() {
            return true;
        }
        match self.matching {
            VersionMatch::None => true,
            VersionMatch::Strict => {
                compare_versions(instance_version, &self.version) == Ordering::Equal
            }
            VersionMatch::CurrentOrOlder => {
                compare_versions(instance_version, &self.version) != Ordering::Greater
            }
        }
    }
}

impl FromStr for VersionMatch {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "none" => Ok(VersionMatch::None),
            "strict" => Ok(VersionMatch::Strict),
            "currentorolder" | "current-or-older" => Ok(VersionMatch::CurrentOrOlder),
            _ => Err(format!(
                "unknown version match {s:?}; one of None, Strict, CurrentOrOlder"
            )),
        }
    }
}

impl FromStr for VersionFailure {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "reject" => Ok(VersionFailure::Reject),
            "fail" => Ok(VersionFailure::Fail),
            _ => Err(format!(
                "unknown version failure {s:?}; one of Reject, Fail"
            )),
        }
    }
}

impl fmt::Display for VersionMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            VersionMatch::None => "None",
            VersionMatch::Strict => "Strict",
            VersionMatch::CurrentOrOlder => "CurrentOrOlder",
        })
    }
}

impl fmt::Display for VersionFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            VersionFailure::Reject => "Reject",
            VersionFailure::Fail => "Fail",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    #[test]
    fn versions_compare_as_numbers_then_as_text_and_empty_is_oldest() {
        let cases = [
            ("1.0", "1.0", Equal),
            ("1", "1.0.0", Equal),
            ("1.9", "1.10", Less),
            ("2", "10", Less),
            ("2.0.1", "2.0", Greater),
            ("", "0", Less),
            ("", "", Equal),
            ("beta", "", Greater),
            ("Alpha", "alpha", Equal),
            ("alpha", "beta", Less),
            ("1.0-beta", "1.0", Greater), // not numeric: compared as text
            (" 1.2 ", "1.2", Equal),
        ];
        for (a, b, want) in cases {
            assert_eq!(compare_versions(a, b), want, "{a:?} vs {b:?}");
            assert_eq!(compare_versions(b, a), want.reverse(), "{b:?} vs {a:?}");
        }
    }

    #[test]
    fn policies_accept_by_their_match() {
        let p = |matching| VersionPolicy {
            version: "2.0".into(),
            matching,
            on_mismatch: VersionFailure::Reject,
        };
        let table = [
            (VersionMatch::None, "3.0", true),
            (VersionMatch::None, "", true),
            (VersionMatch::Strict, "2", true),
            (VersionMatch::Strict, "1.0", false),
            (VersionMatch::Strict, "", false),
            (VersionMatch::CurrentOrOlder, "1.0", true),
            (VersionMatch::CurrentOrOlder, "", true),
            (VersionMatch::CurrentOrOlder, "2.0", true),
            (VersionMatch::CurrentOrOlder, "2.1", false),
        ];
        for (m, v, want) in table {
            assert_eq!(p(m).accepts(v), want, "{m} {v:?}");
        }
        // A worker without a version checks nothing, whatever its match.
        let unversioned = VersionPolicy {
            matching: VersionMatch::Strict,
            ..VersionPolicy::default()
        };
        assert!(unversioned.accepts("7.0") && unversioned.accepts(""));
        assert_eq!(
            VersionPolicy::default().matching,
            VersionMatch::CurrentOrOlder
        );
        assert_eq!(VersionPolicy::default().on_mismatch, VersionFailure::Reject);
    }

    #[test]
    fn strategies_parse_case_insensitively_and_refuse_others() {
        assert_eq!("currentorolder".parse(), Ok(VersionMatch::CurrentOrOlder));
        assert_eq!("FAIL".parse(), Ok(VersionFailure::Fail));
        assert!("sometimes"
            .parse::<VersionMatch>()
            .unwrap_err()
            .contains("Strict"));
        assert!("retry".parse::<VersionFailure>().is_err());
    }
}
