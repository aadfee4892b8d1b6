//! Purge by filter, streamed and budgeted: what `taskhub purge --older-than`, the HTTP
//! `DELETE instances` and a worker's retention run.
//!
//! One call ([`TaskHub::purge_page`]) reads the matching Instances rows a page at a time (their
//! keys only), purges them a few at once, and stops starting new ones once its time budget is
//! spent (or its instance limit reached); the ones in flight finish. It returns what it deleted
//! and, unless every match is gone, a continuation token to resume from. Memory stays one page
//! of keys, whatever the number of matches.
//!
//! The token is a key position, never an offset, so deleting rows while paging cannot make a
//! resumed purge skip any: it is either the last PartitionKey this purge dealt with (resumed
//! with `PartitionKey gt …` added to the filter), or, when the call stopped between two pages,
//! the service's own continuation of the filter it ran (also a key position). Every row up to
//! that position was purged or, read afresh, no longer matched; so a resumed purge never counts
//! an instance twice. Rows that start to match behind the position (an instance finishing
//! meanwhile) are left for the next purge from the start.

use std::time::Duration;

use futures::StreamExt as _;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::core::{OrchestrationStatus, Timestamp};
use crate::storage::escape::{odata_string, unescape_partition_key};
use crate::storage::{Continuation, EntityExt};

use super::error::{Error, Result};
use super::hub::TaskHub;
use super::instances_table::{EntityFilter, InstanceQuery, InstanceStatus};
use super::purge::PurgeResult;

/// Which finished instances a purge by filter removes. Every bound is inclusive; a bound that is
/// not set does not filter. Entities are never purged by filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PurgeFilter {
    /// Only instances whose `CreatedTime` is at or after this.
    pub created_from: Option<Timestamp>,
    /// Only instances whose `CreatedTime` is at or before this (`--older-than` sets it).
    pub created_to: Option<Timestamp>,
    /// Only instances whose `LastUpdatedTime` — for a finished instance, when it finished — is at
    /// or before this (what retention uses).
    pub last_updated_to: Option<Timestamp>,
    /// Only these statuses; live ones (Pending, Running, Suspended, ContinuedAsNew) are never
    /// purged and are ignored here. Empty: every finished status.
    pub statuses: Vec<OrchestrationStatus>,
}

impl PurgeFilter {
    /// The finished statuses the filter covers: the terminal ones named, or all four when none
    /// was named. Empty when only live statuses were named (then nothing matches).
    pub fn finished_statuses(&self) -> Vec<OrchestrationStatus> {
        if self.statuses.is_empty() {
            return OrchestrationStatus::ALL
                .into_iter()
                .filter(|s| s.is_terminal())
                .collect();
        }
        self.statuses
            .iter()
            .copied()
            .filter(|s| s.is_terminal())
            .collect()
    }

    /// The Instances query of the filter; `None` when nothing can match.
    fn query(&self) -> Option<InstanceQuery> {
        let statuses = self.finished_statuses();
        if statuses.is_empty() {
            return None;
        }
        Some(InstanceQuery {
            statuses,
            created_from: self.created_from,
            created_to: self.created_to,
            last_updated_to: self.last_updated_to,
            entities: EntityFilter::Exclude,
            ..InstanceQuery::default()
        })
    }

    /// Whether an instance's row (read afresh) matches, as the query would decide.
    pub fn matches(&self, s: &InstanceStatus) -> bool {
        let at_or_after = |t: Option<Timestamp>, bound: Option<Timestamp>| {
            bound.is_none_or(|b| t.is_some_and(|t| t >= b))
        };
        let at_or_before = |t: Option<Timestamp>, bound: Option<Timestamp>| {
            bound.is_none_or(|b| t.is_some_and(|t| t <= b))
        };
        self.finished_statuses().contains(&s.runtime_status)
            && at_or_after(s.created_time, self.created_from)
            && at_or_before(s.created_time, self.created_to)
            && at_or_before(s.last_updated_time, self.last_updated_to)
    }
}

/// How much one [`TaskHub::purge_page`] call may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgeLimits {
    /// No instance is started once this long has passed since the call began; the ones in
    /// flight finish, so a call takes about this long plus one instance's purge. At least one
    /// instance is started per call, so even a budget of zero makes progress. Default 10 s.
    pub budget: Duration,
    /// Rows read per query page (1–1000; only their keys are selected). Default 200.
    pub page_size: u32,
    /// Instances purged at once. Default 16.
    pub concurrency: usize,
    /// At most this many instances started per call (`None`: no limit). Default `None`.
    pub max_instances: Option<u64>,
}

impl Default for PurgeLimits {
    fn default() -> Self {
        PurgeLimits {
            budget: Duration::from_secs(10),
            page_size: 200,
            concurrency: 16,
            max_instances: None,
        }
    }
}

/// What one call of a purge by filter did, and where to go on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PurgeProgress {
    /// What this call deleted.
    pub result: PurgeResult,
    /// Instances this call looked at (deleted, or left because their row no longer matched).
    pub examined: u64,
    /// The token to pass to the next call; `None` when no match is left.
    pub continuation: Option<String>,
}

/// Where a purge by filter resumes (see the module docs). Opaque to callers as a token.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct PurgeCursor {
    /// The escaped PartitionKey of the last instance dealt with: resume after it.
    #[serde(rename = "a", default, skip_serializing_if = "Option::is_none")]
    after: Option<String>,
    /// The service's continuation of the query run with `after`: resume there.
    #[serde(rename = "n", default, skip_serializing_if = "Option::is_none")]
    next: Option<Continuation>,
}

impl PurgeCursor {
    fn to_token(&self) -> String {
        use base64::Engine as _;
        let json = serde_json::to_vec(self).unwrap_or_default();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    }

    fn from_token(token: &str) -> Result<PurgeCursor> {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.trim())
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or_else(|| {
                Error::InvalidInput("the continuation token is not one a purge issued".into())
            })
    }
}

impl TaskHub {
    /// One budgeted call of a purge by filter: purges matching finished instances from
    /// `continuation` (a token an earlier call returned; `None`: from the start) until no match
    /// is left or `limits` stop it, and returns what it did and where to resume. Each instance's
    /// row is read again before it is purged and left alone if it no longer matches (started
    /// again meanwhile). A token that is not one a purge issued is `InvalidInput`, with nothing
    /// deleted.
    #[tracing::instrument(level = "debug", skip_all, fields(hub = %self.names().hub()))]
    pub async fn purge_page(
        &self,
        filter: &PurgeFilter,
        limits: &PurgeLimits,
        continuation: Option<&str>,
    ) -> Result<PurgeProgress> {
        let started = Instant::now();
        let cursor = continuation
            .map(PurgeCursor::from_token)
            .transpose()?
            .unwrap_or_default();
        let mut progress = PurgeProgress::default();
        let Some(query) = filter.query() else {
            return Ok(progress);
        };
        let mut odata = query.to_filter();
        if let Some(after) = &cursor.after {
            odata = format!("{odata} and PartitionKey gt {}", odata_string(after));
        }
        let page_size = limits.page_size.clamp(1, 1000);
        let concurrency = limits.concurrency.max(1);
        let mut page_start = cursor.next.clone();
        let mut launched: u64 = 0;
        let within_limits = |launched: u64| {
            started.elapsed() < limits.budget && limits.max_instances.is_none_or(|m| launched < m)
        };
        // The first instance of a call always starts: every call makes progress.
        let may_launch = |launched: u64| launched == 0 || within_limits(launched);
        loop {
            let (rows, next) = self
                .instances()
                .table()
                .query_page(
                    Some(&odata),
                    Some(&["PartitionKey"]),
                    Some(page_size),
                    page_start.clone(),
                )
                .await?;
            let keys: Vec<String> = rows
                .iter()
                .filter_map(|(row, _)| row.partition_key().map(str::to_string))
                .collect();
            // Start instances in key order while the limits allow; the results come back in
            // that order, so what was dealt with is always a prefix of the page.
            let mut in_flight = futures::stream::FuturesOrdered::new();
            let mut dealt_with = 0;
            let mut started_here = 0;
            loop {
                while in_flight.len() < concurrency
                    && started_here < keys.len()
                    && may_launch(launched)
                {
                    let id = unescape_partition_key(&keys[started_here]);
                    in_flight.push_back(self.purge_if_matching(id, filter));
                    started_here += 1;
                    launched += 1;
                }
                match in_flight.next().await {
                    Some(r) => {
                        progress.result.add(&r?);
                        dealt_with += 1;
                    }
                    None => break,
                }
            }
            progress.examined += dealt_with as u64;
            let stop = if dealt_with < keys.len() {
                // Stopped inside the page: after the last key dealt with, or where the page
                // began if none was.
                Some(match dealt_with {
                    0 => PurgeCursor {
                        after: cursor.after.clone(),
                        next: page_start,
                    },
                    n => PurgeCursor {
                        after: Some(keys[n - 1].clone()),
                        next: None,
                    },
                })
            } else {
                match next {
                    None => None,
                    // An empty page (the service stops a long scan every few seconds) counts
                    // against the budget too.
                    Some(next) if !within_limits(launched) => Some(PurgeCursor {
                        after: cursor.after.clone(),
                        next: Some(next),
                    }),
                    Some(next) => {
                        page_start = Some(next);
                        continue;
                    }
                }
            };
            progress.continuation = stop.map(|c| c.to_token());
            tracing::debug!(
                instances = progress.result.instances_deleted,
                examined = progress.examined,
                done = progress.continuation.is_none(),
                ms = started.elapsed().as_millis() as u64,
                "purge by filter: one call"
            );
            return Ok(progress);
        }
    }

    /// Purges the instance if its row, read now, still matches `filter`.
    async fn purge_if_matching(&self, id: String, filter: &PurgeFilter) -> Result<PurgeResult> {
        self.purge_instance_if(&id, |s| filter.matches(s)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn tokens_round_trip_and_strangers_are_refused() {
        let c = PurgeCursor {
            after: Some("abc^0".into()),
            next: Some(Continuation {
                next_partition_key: "x".into(),
                next_row_key: Some(String::new()),
            }),
        };
        assert_eq!(PurgeCursor::from_token(&c.to_token()).unwrap(), c);
        for bad in ["", "garbage!", "e30x"] {
            assert!(matches!(
                PurgeCursor::from_token(bad),
                Err(Error::InvalidInput(_))
            ));
        }
    }

    #[test]
    fn the_filter_covers_finished_statuses_only_and_checks_rows_like_the_query() {
        let live_only = PurgeFilter {
            statuses: vec![OrchestrationStatus::Running],
            ..Default::default()
        };
        assert!(live_only.query().is_none());
        assert_eq!(PurgeFilter::default().finished_statuses().len(), 4);

        let f = PurgeFilter {
            created_to: Some(datetime!(2024-05-01 10:00 UTC)),
            last_updated_to: Some(datetime!(2024-05-02 10:00 UTC)),
            statuses: vec![OrchestrationStatus::Completed, OrchestrationStatus::Running],
            ..Default::default()
        };
        let q = f.query().unwrap().to_filter();
        assert!(q.contains("LastUpdatedTime le datetime'2024-05-02"), "{q}");
        assert!(!q.contains("Running"), "{q}");
        let row = |status, created, updated| InstanceStatus {
            instance_id: "i".into(),
            name: "n".into(),
            version: None,
            runtime_status: status,
            created_time: Some(created),
            last_updated_time: Some(updated),
            completed_time: None,
            input: None,
            output: None,
            custom_status: None,
            execution_id: None,
            generation: None,
            scheduled_start_time: None,
            tags: None,
        };
        let old = datetime!(2024-04-01 00:00 UTC);
        let young = datetime!(2024-06-01 00:00 UTC);
        assert!(f.matches(&row(OrchestrationStatus::Completed, old, old)));
        assert!(!f.matches(&row(OrchestrationStatus::Running, old, old)));
        assert!(!f.matches(&row(OrchestrationStatus::Failed, old, old)));
        assert!(!f.matches(&row(OrchestrationStatus::Completed, young, old)));
        assert!(!f.matches(&row(OrchestrationStatus::Completed, old, young)));
    }
}
