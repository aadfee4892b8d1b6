//! What the user types, checked before anything is sent: times, durations, status lists, JSON
//! values and instance ids. Every refusal is one line naming the option.

use crate::core::tags::{check_tags, parse_tag, Tags};
use crate::core::{OrchestrationStatus, Timestamp};
use anyhow::{bail, Context as _, Result};
use std::path::Path;
use time::format_description::well_known::Rfc3339;

/// An RFC 3339 time such as `2024-05-01T10:00:00Z` or `2024-05-01T12:00:00+02:00`, in UTC.
pub fn parse_time(option: &str, text: &str) -> Result<Timestamp> {
    match Timestamp::parse(text.trim(), &Rfc3339) {
        Ok(t) => Ok(t.to_offset(time::UtcOffset::UTC)),
        Err(e) => {
            bail!("{option}: {text:?} is not an RFC 3339 time such as 2024-05-01T10:00:00Z ({e})")
        }
    }
}

/// A duration such as `30s`, `15m`, `12h` or `7d` ([`crate::durations::parse_duration`]).
pub fn parse_duration(option: &str, text: &str) -> Result<std::time::Duration> {
    crate::durations::parse_duration(text).map_err(|e| anyhow::anyhow!("{option}: {e}"))
}

/// An optional time option.
pub fn parse_opt_time(option: &str, text: Option<&str>) -> Result<Option<Timestamp>> {
    text.map(|t| parse_time(option, t)).transpose()
}

/// `KEY=VALUE` tags, as given to a repeated `--tag`.
pub fn parse_tags(option: &str, items: &[String]) -> Result<Tags> {
    let mut tags = Tags::new();
    for item in items {
        let (k, v) = parse_tag(item).map_err(|e| anyhow::anyhow!("{option}: {e}"))?;
        tags.insert(k, v);
    }
    check_tags(&tags).map_err(|e| anyhow::anyhow!("{option}: {e}"))?;
    Ok(tags)
}

/// Status names (any case), as given to `--status` (comma-separated or repeated).
pub fn parse_statuses(option: &str, items: &[String]) -> Result<Vec<OrchestrationStatus>> {
    let mut out = Vec::new();
    for item in items.iter().flat_map(|s| s.split(',')) {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        match OrchestrationStatus::parse(item) {
            Some(s) if !out.contains(&s) => out.push(s),
            Some(_) => {}
            None => bail!(
                "{option}: unknown status {item:?} (one of {})",
                OrchestrationStatus::ALL.map(|s| s.as_str()).join(", ")
            ),
        }
    }
    Ok(out)
}

/// JSON text from `--input` or `--input-file` (`-` reads stdin), checked to be JSON.
pub fn json_input(
    option: &str,
    text: Option<String>,
    file: Option<&Path>,
) -> Result<Option<String>> {
    let (text, what) = match (text, file) {
        (Some(t), _) => (t, option.to_string()),
        (None, Some(path)) if path == Path::new("-") => {
            let mut t = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut t)
                .context("cannot read the input from stdin")?;
            (t, "the input read from stdin".to_string())
        }
        (None, Some(path)) => (
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read input file {}", path.display()))?,
            format!("input file {}", path.display()),
        ),
        (None, None) => return Ok(None),
    };
    check_json(&what, &text)?;
    Ok(Some(text))
}

/// Refuses text that is not JSON, saying where it went wrong.
pub fn check_json(what: &str, text: &str) -> Result<()> {
    if let Err(e) = serde_json::from_str::<serde_json::Value>(text) {
        bail!("{what} is not valid JSON: {e} (a string needs quotes: '\"text\"')");
    }
    Ok(())
}

/// Refuses an empty instance id (before any storage call).
pub fn instance_id(id: &str) -> Result<&str> {
    if id.is_empty() {
        bail!("the instance id is empty");
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_in_utc() {
        let t = parse_time("--start-at", "2024-05-01T12:00:00+02:00").unwrap();
        assert_eq!(t.hour(), 10);
        assert_eq!(t.offset(), time::UtcOffset::UTC);
        let e = parse_time("--start-at", "tomorrow")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("--start-at: \"tomorrow\" is not an RFC 3339 time"),
            "{e}"
        );
    }

    #[test]
    fn statuses_split_on_commas_and_ignore_case() {
        let s = parse_statuses("--status", &["completed,Failed".into(), "FAILED".into()]).unwrap();
        assert_eq!(
            s,
            [OrchestrationStatus::Completed, OrchestrationStatus::Failed]
        );
        assert!(parse_statuses("--status", &["Done".into()]).is_err());
    }
}
